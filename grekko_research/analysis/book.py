"""The L2 order book rebuilt from a snapshot plus depth diffs, checked against the recorded top of book.

    cap = read_capture(shared, "binance-spot_BTC-USDT_20240808T2354Z-20240809T0005Z__hftbacktest")
    book = rebuild_book(cap)               # one row per depth event, features included
    check = compare_top_of_book(book, cap.bbo)
    spoofs = spoofing_candidates(book, cap.trades)

Kernels are in :mod:`grekko_research.analysis.book_nb`; this module validates, builds the
price grid and turns the records into pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from grekko_research.analysis.book_nb import (
    PAGE_BITS,
    STATUS_APPLIED,
    STATUS_GAP,
    STATUS_STALE,
    STATUS_UNSYNCED,
    BookParams,
    DiffColumns,
    SnapshotColumns,
    replay_nb,
)
from grekko_research.analysis.captures import (
    ASK,
    BID,
    BestBidAsk,
    DepthDiffs,
    DepthSnapshots,
    OrderBookCapture,
    Trades,
    tick_size_of,
)
from grekko_research.errors import ConfigError, DataError

__all__ = [
    "BookReplay",
    "TopOfBookCheck",
    "compare_top_of_book",
    "rebuild_book",
    "spoofing_candidates",
]

_STATUS = {
    STATUS_APPLIED: "applied",
    STATUS_STALE: "stale",
    STATUS_GAP: "gap",
    STATUS_UNSYNCED: "unsynced",
}


@dataclass(frozen=True, eq=False)
class BookReplay:
    """The result of :func:`rebuild_book`.

    ``events`` has one row per depth event (its local arrival time, ids, status, the book's
    top and features after it); ``gaps`` the events that broke the sequence;
    ``candidates`` the raw placed-and-pulled large orders (see :func:`spoofing_candidates`).
    """

    events: pd.DataFrame
    candidates: pd.DataFrame
    tick_size: float
    depth_k: int
    spoof_min_qty: float

    @property
    def gaps(self) -> pd.DataFrame:
        """Events whose update ids broke the sequence (each is followed by a resync, if possible)."""
        return self.events[self.events["status"] == "gap"]

    @property
    def valid(self) -> pd.DataFrame:
        """Events after which the book is valid (synced and applied)."""
        return self.events[self.events["status"] == "applied"]


def _levels(
    snaps: DepthSnapshots, diffs: DepthDiffs, tick_size: float | None
) -> tuple[float, int, np.ndarray, np.ndarray]:
    """The tick, the lowest level and the snapshot and diff rows' levels relative to it."""
    tick = tick_size or tick_size_of(snaps.price, diffs.price)
    snap_lv = np.round(snaps.price / tick).astype(np.int64)
    diff_lv = np.round(diffs.price / tick).astype(np.int64)
    off = np.abs(diffs.price / tick - diff_lv) > 1e-6
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise DataError(f"depth diff row {row}: price {diffs.price[row]} is off the {tick} grid")
    lo = int(min(snap_lv.min(), diff_lv.min()))
    return tick, lo, snap_lv - lo, diff_lv - lo


def _pages(
    snaps: DepthSnapshots, diffs: DepthDiffs, snap_lv: np.ndarray, diff_lv: np.ndarray
) -> int:
    """The pages one side ever touches (an exact bound for the kernel's page pool)."""
    most = 1
    for sd in (BID, ASK):
        levels = np.concatenate([snap_lv[snaps.side == sd], diff_lv[diffs.side == sd]])
        most = max(most, len(np.unique(levels >> PAGE_BITS)))
    return most


def rebuild_book(
    capture: OrderBookCapture,
    *,
    depth_k: int = 10,
    tick_size: float | None = None,
    spoof_min_qty: float | None = None,
    spoof_max_life_s: float = 60.0,
    spoof_pulled_frac: float = 0.9,
) -> BookReplay:
    """Replay the capture's diffs on its snapshots with Binance's update-id sequencing.

    Parameters
    ----------
    depth_k
        Levels per side for depth, imbalance and slope.
    tick_size
        The price grid step; default: inferred from the prices' decimals.
    spoof_min_qty
        A single update that adds at least this much to one level starts a spoofing
        candidate. Default: the 99.5th percentile of the first snapshot's level sizes
        (known at the start, so the rule stays causal).
    spoof_max_life_s, spoof_pulled_frac
        The block must lose ``spoof_pulled_frac`` of its size within ``spoof_max_life_s``.
    """
    if depth_k < 1:
        raise ConfigError(f"rebuild_book: depth_k must be >= 1, got {depth_k}")
    if not 0.0 < spoof_pulled_frac <= 1.0:
        raise ConfigError(
            f"rebuild_book: spoof_pulled_frac must be in (0, 1], got {spoof_pulled_frac}"
        )
    snaps, diffs = capture.snapshots, capture.diffs
    if snaps.count == 0 or len(diffs) == 0:
        raise DataError(f"{capture.name}: a rebuild needs a snapshot and diffs")
    tick, level_lo, snap_lv, diff_lv = _levels(snaps, diffs, tick_size)
    if spoof_min_qty is None:
        first = snaps.qty[snaps.start[0] : snaps.start[1]]
        spoof_min_qty = float(np.quantile(first[first > 0], 0.995))
    params = BookParams(
        level_lo=level_lo,
        n_levels=int(max(snap_lv.max(), diff_lv.max())) + 1,
        page_capacity=_pages(snaps, diffs, snap_lv, diff_lv),
        # a block starts with an update to at least spoof_min_qty: an exact bound
        block_capacity=int((diffs.qty >= spoof_min_qty).sum() + (snaps.qty >= spoof_min_qty).sum()),
        tick_size=tick,
        depth_k=depth_k,
        spoof_min_qty=float(spoof_min_qty),
        spoof_max_life_ns=int(spoof_max_life_s * 1e9),
        spoof_pulled_frac=float(spoof_pulled_frac),
    )
    dcols, scols = diff_columns(diffs, diff_lv), snapshot_columns(snaps, snap_lv)
    events, cands, found = replay_nb(dcols, scols, params, 4096)
    if found > len(cands):  # rare: run again with room for all of them
        events, cands, found = replay_nb(dcols, scols, params, found)
    frame = pd.DataFrame(events)
    frame["status"] = pd.Categorical.from_codes(
        frame["status"].to_numpy(np.int64), categories=pd.Index([_STATUS[i] for i in range(4)])
    )
    frame["mid"] = 0.5 * (frame["bid_px"] + frame["ask_px"])
    frame["spread"] = frame["ask_px"] - frame["bid_px"]
    total = frame["bid_qty"] + frame["ask_qty"]
    frame["microprice"] = (
        frame["bid_px"] * frame["ask_qty"] + frame["ask_px"] * frame["bid_qty"]
    ) / total
    depth = frame["bid_depth"] + frame["ask_depth"]
    frame["imbalance"] = (frame["bid_depth"] - frame["ask_depth"]) / depth
    return BookReplay(
        events=frame,
        candidates=pd.DataFrame(cands[:found]),
        tick_size=tick,
        depth_k=depth_k,
        spoof_min_qty=float(spoof_min_qty),
    )


def diff_columns(diffs: DepthDiffs, levels: np.ndarray) -> DiffColumns:
    """The kernel's view of ``diffs`` with grid ``levels``."""
    return DiffColumns(
        diffs.local_ts,
        diffs.first_update_id,
        diffs.last_update_id,
        diffs.prev_last_update_id,
        diffs.side,
        np.ascontiguousarray(levels, dtype=np.int64),
        diffs.qty,
    )


def snapshot_columns(snaps: DepthSnapshots, levels: np.ndarray) -> SnapshotColumns:
    """The kernel's view of ``snaps`` with grid ``levels``."""
    return SnapshotColumns(
        snaps.local_ts,
        snaps.last_update_id,
        snaps.start,
        snaps.side,
        np.ascontiguousarray(levels, dtype=np.int64),
        snaps.qty,
    )


@dataclass(frozen=True)
class TopOfBookCheck:
    """How the rebuilt best bid/ask compares with the recorded bookTicker.

    Each valid event is compared with the last bookTicker row whose update id is at most
    the event's last update id (the top of book at that id, if the ticker stream is
    complete). ``mismatches`` lists the events that differ.
    """

    compared: int
    price_matches: int
    qty_matches: int
    before_first_ticker: int
    mismatches: pd.DataFrame

    @property
    def price_mismatches(self) -> int:
        """Events whose best bid or ask price differs from the ticker's."""
        return self.compared - self.price_matches


def compare_top_of_book(replay: BookReplay, bbo: BestBidAsk) -> TopOfBookCheck:
    """Compare every valid event's best bid/ask with the recorded bookTicker at the same update id."""
    if len(bbo) == 0:
        raise DataError("compare_top_of_book: the bookTicker stream is empty")
    ids = bbo.update_id
    if np.any(np.diff(ids) < 0):
        order = np.argsort(ids, kind="stable")
    else:
        order = np.arange(len(ids))
    sorted_ids = ids[order]
    ev = replay.valid
    at = np.searchsorted(sorted_ids, ev["last_id"].to_numpy(), side="right") - 1
    known = at >= 0
    ev = ev[known]
    row = order[at[known]]
    half = replay.tick_size / 2
    price_ok = (np.abs(ev["bid_px"].to_numpy() - bbo.bid_price[row]) < half) & (
        np.abs(ev["ask_px"].to_numpy() - bbo.ask_price[row]) < half
    )
    qty_ok = (np.abs(ev["bid_qty"].to_numpy() - bbo.bid_qty[row]) < 1e-9) & (
        np.abs(ev["ask_qty"].to_numpy() - bbo.ask_qty[row]) < 1e-9
    )
    bad = ~(price_ok & qty_ok)
    mism = ev[bad][
        ["local_ts", "first_id", "last_id", "bid_px", "bid_qty", "ask_px", "ask_qty"]
    ].copy()
    mism["ticker_id"] = bbo.update_id[row[bad]]
    mism["ticker_local_ts"] = bbo.local_ts[row[bad]]
    for c in ("bid_price", "bid_qty", "ask_price", "ask_qty"):
        mism[f"ticker_{c}"] = getattr(bbo, c)[row[bad]]
    return TopOfBookCheck(
        compared=int(known.sum()),
        price_matches=int(price_ok.sum()),
        qty_matches=int((price_ok & qty_ok).sum()),
        before_first_ticker=int((~known).sum()),
        mismatches=mism.reset_index(drop=True),
    )


def spoofing_candidates(
    replay: BookReplay,
    trades: Trades | None,
    *,
    max_traded_frac: float = 0.05,
    max_distance_bps: float | None = None,
) -> pd.DataFrame:
    """Large orders placed and pulled without trading: the candidates with their evidence.

    A raw candidate (from the replay) is a single update adding at least
    ``replay.spoof_min_qty`` to a level, most of which left the level within the lifetime
    limit. Here each gets the quantity traded at its price while it rested (from
    ``trades``; a decrease explained by fills is not a pull) and is kept when that is at
    most ``max_traded_frac`` of its size, and, with ``max_distance_bps``, when it was placed
    at most that far from the mid (``place_bps``). Without trades every raw candidate is returned
    with ``traded_qty`` NaN. These are *candidates*: a large order cancelled without
    trading is also what honest liquidity providers do when the price moves away.
    """
    c = replay.candidates.copy()
    if c.empty:
        c["traded_qty"] = pd.Series(dtype=float)
        return c
    c["side"] = np.where(c["side"] == 0, "bid", "ask")
    c["life_s"] = (c["pull_ts"] - c["place_ts"]) / 1e9
    c["notional"] = c["qty"] * c["price"]
    c["mid_move_bps"] = (c["pull_mid"] / c["place_mid"] - 1.0) * 1e4
    c["place_bps"] = (c["price"] / c["place_mid"] - 1.0).abs() * 1e4
    if max_distance_bps is not None:
        c = c[c["place_bps"] <= max_distance_bps].reset_index(drop=True)
    if trades is None or len(trades) == 0:
        c["traded_qty"] = np.nan
        return c
    order = np.argsort(trades.local_ts, kind="stable")
    t_ts = trades.local_ts[order]
    t_px = trades.price[order]
    t_q = trades.qty[order]
    half = replay.tick_size / 2
    traded = np.empty(len(c))
    lo = np.searchsorted(t_ts, c["place_ts"].to_numpy(), side="left")
    hi = np.searchsorted(t_ts, c["pull_ts"].to_numpy(), side="right")
    for i, (a, b, px) in enumerate(zip(lo, hi, c["price"].to_numpy(), strict=True)):
        at = np.abs(t_px[a:b] - px) < half
        traded[i] = t_q[a:b][at].sum()
    c["traded_qty"] = traded
    keep = traded <= max_traded_frac * c["qty"].to_numpy()
    return c[keep].reset_index(drop=True)
