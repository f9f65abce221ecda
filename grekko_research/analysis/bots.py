"""Trading-bot fingerprints and wash-trading heuristics from an exchange's public trades.

Public trade streams carry no account ids, so a single trader cannot be followed; what the data
allows is the footprint an algorithm leaves: one odd clip size repeated on one side at regular
intervals (a TWAP/iceberg slicer), the share of round sizes, the regularity of arrivals, and the
order-to-trade ratio (depth updates per trade, where a depth capture covers the same window).
Self-matching is invisible without account ids; the heuristic here counts *mirror prints* (a buy
and a sell of the identical size at the identical price within a short window) and compares the
count with the same statistic on the sizes shuffled, so an excess over chance is the signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
import pandas as pd

from grekko_research.analysis.captures import DepthDiffs, Trades
from grekko_research.errors import ConfigError

__all__ = [
    "TradeFootprint",
    "interval_cv_nb",
    "mirror_prints",
    "order_to_trade",
    "recurring_clips",
    "trade_footprint",
]


@nb.njit(cache=True)
def interval_cv_nb(ts: np.ndarray) -> tuple[float, float]:
    """Return (median interval, coefficient of variation) of sorted timestamps' gaps."""
    n = len(ts)
    if n < 3:
        return np.nan, np.nan
    gaps = np.empty(n - 1)
    for i in range(1, n):
        gaps[i - 1] = float(ts[i] - ts[i - 1])
    mean = gaps.mean()
    if mean <= 0.0:
        return 0.0, np.nan
    return float(np.median(gaps)), float(gaps.std() / mean)


def _round_decimals(qty: np.ndarray) -> np.ndarray:
    """Decimals needed to print each quantity (0 for 3, 1 for 0.5, 3 for 0.012)."""
    d = np.full(len(qty), 8, dtype=np.int64)
    for k in range(8, -1, -1):
        on_grid = np.abs(qty * 10.0**k - np.round(qty * 10.0**k)) < 1e-6
        d[on_grid] = k
    return d


@dataclass(frozen=True)
class TradeFootprint:
    """Market-level footprint of a trade stream."""

    trades: int
    seconds: float
    interval_cv: float  # arrivals: 1 for Poisson, < 1 regular, > 1 bursty
    same_ms_share: float  # share of trades printed in the same ms as the previous one
    round_share: float  # share of sizes with at most ``lot_decimals - 2`` decimals
    top_size_share: float  # share of the most common size
    top_size: float


def trade_footprint(trades: Trades, lot_decimals: int | None = None) -> TradeFootprint:
    """Summarise arrivals and sizes; ``lot_decimals`` defaults to the finest size printed."""
    if len(trades) < 3:
        raise ConfigError(f"trade_footprint: need at least 3 trades, got {len(trades)}")
    ts = np.asarray(trades.trade_ts, dtype=np.int64)
    dec = _round_decimals(np.asarray(trades.qty, dtype=np.float64))
    lot = int(dec.max()) if lot_decimals is None else lot_decimals
    sizes, counts = np.unique(trades.qty, return_counts=True)
    top = int(np.argmax(counts))
    return TradeFootprint(
        trades=len(trades),
        seconds=float(ts[-1] - ts[0]) / 1e3,
        interval_cv=interval_cv_nb(ts)[1],
        same_ms_share=float(np.mean(np.diff(ts) == 0)),
        round_share=float(np.mean(dec <= max(lot - 2, 0))),
        top_size_share=float(counts[top] / len(trades)),
        top_size=float(sizes[top]),
    )


def _runs(g: pd.DataFrame, gap_factor: float) -> list[pd.DataFrame]:
    """Split one size's clips where a gap exceeds ``gap_factor`` times the median gap."""
    gaps = np.diff(g["ts"].to_numpy(np.int64))
    cut = np.flatnonzero(gaps > gap_factor * max(float(np.median(gaps)), 1.0)) + 1
    return [g.iloc[a:b] for a, b in zip(np.r_[0, cut], np.r_[cut, len(g)], strict=True)]


def recurring_clips(
    trades: Trades,
    min_count: int = 8,
    max_cv: float = 0.5,
    min_decimals: int = 3,
    gap_factor: float = 5.0,
) -> pd.DataFrame:
    """Bot candidates: one non-round size traded on one aggressor side at regular intervals.

    Trades of one order that sweep several levels print at one ms and are merged first (one
    clip per ms). A size with at least ``min_decimals`` decimals (so not a size people type)
    seen ``min_count`` times on one side whose arrival intervals have a coefficient of variation
    at most ``max_cv`` (Poisson arrivals give about 1) is listed with its evidence. A size's
    clips are split into runs at gaps over ``gap_factor`` times its median gap, so a stray
    trade of the same size by someone else does not hide a slicer; each run is one row.
    """
    if min_count < 3 or max_cv <= 0:
        raise ConfigError(
            f"recurring_clips: need min_count >= 3 and max_cv > 0, got {min_count}, {max_cv}"
        )
    frame = pd.DataFrame(
        {
            "ts": np.asarray(trades.trade_ts, dtype=np.int64),
            "qty": np.asarray(trades.qty, dtype=np.float64),
            "price": np.asarray(trades.price, dtype=np.float64),
            "side": np.where(np.asarray(trades.buyer_maker), "sell", "buy"),
        }
    )
    frame = frame[_round_decimals(frame["qty"].to_numpy()) >= min_decimals]
    clips = frame.drop_duplicates(["ts", "qty", "side"])
    out = []
    for (qty, side), g in clips.groupby(["qty", "side"]):
        if len(g) < min_count:
            continue
        for run in _runs(g, gap_factor):
            if len(run) < min_count:
                continue
            ts = run["ts"].to_numpy(np.int64)
            median, cv = interval_cv_nb(ts)
            if cv <= max_cv:
                out.append(
                    {
                        "qty": float(qty),  # type: ignore[arg-type]
                        "side": side,
                        "clips": len(run),
                        "median_interval_s": median / 1e3,
                        "interval_cv": cv,
                        "first": pd.Timestamp(int(ts[0]), unit="ms", tz="UTC"),
                        "last": pd.Timestamp(int(ts[-1]), unit="ms", tz="UTC"),
                        "notional": float((run["qty"] * run["price"]).sum()),
                    }
                )
    cols = ["qty", "side", "clips", "median_interval_s", "interval_cv", "first", "last", "notional"]
    return pd.DataFrame(out, columns=cols).sort_values("clips", ascending=False, ignore_index=True)


@nb.njit(cache=True)
def _mirror_count_nb(
    ts: np.ndarray, price: np.ndarray, qty: np.ndarray, sell: np.ndarray, window: int
) -> int:
    """Count trades matched by a later opposite-side trade of equal price and size within ``window`` ms."""
    n = len(ts)
    used = np.zeros(n, dtype=np.bool_)
    m = 0
    for i in range(n):
        if used[i]:
            continue
        for k in range(i + 1, n):
            if ts[k] - ts[i] > window:
                break
            if not used[k] and sell[k] != sell[i] and price[k] == price[i] and qty[k] == qty[i]:
                used[i] = True
                used[k] = True
                m += 1
                break
    return m


def mirror_prints(
    trades: Trades, window_ms: int = 1000, shuffles: int = 20, seed: int = 0
) -> dict[str, float]:
    """Wash-trading heuristic: mirror-print pairs vs. their count with sizes shuffled.

    Returns ``pairs`` (observed), ``expected`` (mean over ``shuffles`` permutations of the sizes,
    which keeps arrivals, prices and sides) and ``excess`` = pairs / expected. An excess well
    above 1 says identical sizes cross back and forth more often than chance.
    """
    if window_ms <= 0 or shuffles < 1:
        raise ConfigError(
            f"mirror_prints: need window_ms > 0 and shuffles >= 1, got {window_ms}, {shuffles}"
        )
    ts = np.asarray(trades.trade_ts, dtype=np.int64)
    px = np.asarray(trades.price, dtype=np.float64)
    qty = np.asarray(trades.qty, dtype=np.float64)
    sell = np.asarray(trades.buyer_maker, dtype=np.bool_)
    pairs = _mirror_count_nb(ts, px, qty, sell, window_ms)
    rng = np.random.default_rng(seed)
    expected = float(
        np.mean(
            [
                _mirror_count_nb(ts, px, rng.permutation(qty), sell, window_ms)
                for _ in range(shuffles)
            ]
        )
    )
    return {"pairs": float(pairs), "expected": expected, "excess": pairs / max(expected, 1.0)}


def order_to_trade(diffs: DepthDiffs, trades: Trades) -> dict[str, float]:
    """Depth level updates per trade over the window both streams cover (a proxy for the
    order-to-trade ratio: each update is a placement, amendment or cancel at a level)."""
    lo = max(int(diffs.local_ts[0]), int(trades.local_ts[0]))
    hi = min(int(diffs.local_ts[-1]), int(trades.local_ts[-1]))
    if hi <= lo:
        raise ConfigError("order_to_trade: the depth and trade captures do not overlap")
    updates = int(np.count_nonzero((diffs.local_ts >= lo) & (diffs.local_ts <= hi)))
    n_trades = int(np.count_nonzero((trades.local_ts >= lo) & (trades.local_ts <= hi)))
    return {
        "seconds": (hi - lo) / 1e9,
        "level_updates": float(updates),
        "trades": float(n_trades),
        "ratio": updates / max(n_trades, 1),
    }
