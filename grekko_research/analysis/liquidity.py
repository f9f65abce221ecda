"""Volatility and liquidity: vol-of-vol, volatility regime, Amihud illiquidity, Roll's spread, a scanner.

Realised and range-based volatility are the indicators' (``indicators.volatility``,
``parkinson``, ``garman_klass``): one implementation. Kernels here take ``(n, k)`` float64
arrays and decide row ``t`` from rows ``<= t``; warm-up rows are NaN; a NaN bar is skipped.
Spread and depth from the L2 book are the book features (:mod:`.book`); a DEX pool's depth
comes from its Swap events' active liquidity (:func:`pool_liquidity_scan`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from grekko_research.calendar import bars_per_year
from grekko_research.errors import ConfigError, DataError
from grekko_research.indicators._api import as_matrices, check_int, restore
from grekko_research.indicators._rolling import rolling_moments_1d
from grekko_research.indicators.volatility import volatility_nb

__all__ = [
    "amihud",
    "amihud_nb",
    "liquidity_scan",
    "pool_depth",
    "pool_liquidity_scan",
    "roll_spread",
    "roll_spread_nb",
    "vol_of_vol",
    "vol_regime",
    "vol_regime_nb",
]


@njit(cache=True, nogil=True)
def amihud_nb(close: np.ndarray, volume: np.ndarray, window: int) -> np.ndarray:
    """Return Amihud's illiquidity, ``(n, k)``: the mean of ``|log return| / (close · volume)``
    over the last ``window`` valid bars, times 1e6 (price impact per million of quote volume).

    Bars with zero volume are skipped (no trade, no impact measured).
    """
    n, k = close.shape
    out = np.empty((n, k))
    u = np.empty(n)
    mean = np.empty(n)
    var = np.empty(n)
    for j in range(k):
        prev = np.nan
        for t in range(n):
            c, v = close[t, j], volume[t, j]
            u[t] = np.nan
            if not (c > 0.0 and v == v):
                continue
            if prev == prev and v > 0.0:
                u[t] = abs(np.log(c / prev)) / (c * v) * 1e6
            prev = c
        rolling_moments_1d(u, window, 0, mean, var)
        out[:, j] = mean
    return out


@njit(cache=True, nogil=True)
def roll_spread_nb(close: np.ndarray, window: int) -> np.ndarray:
    """Return Roll's (1984) effective spread as a fraction of price, ``(n, k)``.

    ``2·sqrt(−cov(Δp_t, Δp_{t−1}))`` of log price changes over the last ``window`` pairs;
    0 where the autocovariance is positive (no bid-ask bounce to measure).
    """
    n, k = close.shape
    out = np.full((n, k), np.nan)
    d = np.empty(n)
    for j in range(k):
        prev = np.nan
        for t in range(n):
            c = close[t, j]
            d[t] = np.nan
            if c > 0.0:
                if prev == prev:
                    d[t] = np.log(c / prev)
                prev = c
        # the last `window` pairs of consecutive valid changes
        pairs_x = np.empty(window)
        pairs_y = np.empty(window)
        m = 0
        last = np.nan
        for t in range(n):
            if d[t] != d[t]:
                continue
            if last == last:
                pairs_x[m % window] = last
                pairs_y[m % window] = d[t]
                m += 1
            last = d[t]
            if m >= window:
                mx = pairs_x.mean()
                my = pairs_y.mean()
                cov = ((pairs_x - mx) * (pairs_y - my)).sum() / (window - 1)
                out[t, j] = 2.0 * np.sqrt(-cov) if cov < 0.0 else 0.0
    return out


@njit(cache=True, nogil=True)
def vol_regime_nb(vol: np.ndarray, lookback: int) -> np.ndarray:
    """Return the percentile rank (0..1) of each bar's volatility among the previous
    ``lookback`` valid values, ``(n, k)``; NaN until ``lookback`` values exist."""
    n, k = vol.shape
    out = np.full((n, k), np.nan)
    hist = np.empty(lookback)
    for j in range(k):
        m = 0
        for t in range(n):
            v = vol[t, j]
            if v != v:
                continue
            if m >= lookback:
                below = 0.0
                for i in range(lookback):
                    below += 1.0 if hist[i] < v else (0.5 if hist[i] == v else 0.0)
                out[t, j] = below / lookback
            hist[m % lookback] = v
            m += 1
    return out


def amihud(close: object, volume: object, window: int = 30) -> np.ndarray:
    """Amihud illiquidity (see :func:`amihud_nb`); 1-D in, 1-D out."""
    (c, v), one_d = as_matrices("amihud", close=close, volume=volume)
    return restore(amihud_nb(c, v, check_int("amihud", "window", window, 1)), one_d)


def roll_spread(close: object, window: int = 100) -> np.ndarray:
    """Roll's spread estimate (see :func:`roll_spread_nb`); 1-D in, 1-D out."""
    (c,), one_d = as_matrices("roll_spread", close=close)
    return restore(roll_spread_nb(c, check_int("roll_spread", "window", window, 2)), one_d)


def vol_of_vol(close: object, window: int = 20, vol_window: int = 20) -> np.ndarray:
    """The standard deviation of log volatility over ``window`` bars (volatility of
    ``vol_window`` log returns); scale-free, so comparable across assets."""
    (c,), one_d = as_matrices("vol_of_vol", close=close)
    w = check_int("vol_of_vol", "window", window, 2)
    vol = volatility_nb(c, check_int("vol_of_vol", "vol_window", vol_window, 2), 1.0)
    with np.errstate(divide="ignore"):
        logv = np.where(vol > 0, np.log(vol), np.nan)
    out = np.empty_like(logv)
    mean = np.empty(logv.shape[0])
    var = np.empty(logv.shape[0])
    for j in range(logv.shape[1]):
        rolling_moments_1d(np.ascontiguousarray(logv[:, j]), w, 1, mean, var)
        out[:, j] = np.sqrt(var)
    return restore(out, one_d)


def vol_regime(close: object, vol_window: int = 20, lookback: int = 500) -> np.ndarray:
    """The percentile (0..1) of the current ``vol_window`` volatility in its last ``lookback``
    values: above 0.8 a high-volatility regime, below 0.2 a calm one."""
    (c,), one_d = as_matrices("vol_regime", close=close)
    vol = volatility_nb(c, check_int("vol_regime", "vol_window", vol_window, 2), 1.0)
    return restore(vol_regime_nb(vol, check_int("vol_regime", "lookback", lookback, 2)), one_d)


def liquidity_scan(
    files: Sequence[str | Path], *, window: int = 30, periods_per_year: float | None = None
) -> pd.DataFrame:
    """Rank candle files (the shared layout) by liquidity, most liquid first.

    One row per file, at its last bar: median quote volume per bar, Amihud illiquidity and
    Roll's spread (bp) over the last ``window`` bars, annualised close-to-close and
    Parkinson volatility, the volatility regime percentile, vol-of-vol. Files without
    volume (mark-price candles) are listed with NaN liquidity.
    """
    from grekko_research.indicators import parkinson

    rows = []
    for f in files:
        path = Path(f)
        try:
            frame = pd.read_csv(path)
        except (OSError, ValueError) as e:
            raise DataError(f"{path}: cannot read: {e}") from e
        if not {"timestamp", "high", "low", "close", "volume"} <= set(frame.columns):
            raise DataError(f"{path}: not a candle file (timestamp,open,high,low,close,volume)")
        c = frame["close"].to_numpy(float)
        v = frame["volume"].to_numpy(float)
        if len(c) < 2 * window + 2:
            raise ConfigError(f"{path}: {len(c)} bars, the scan needs at least {2 * window + 2}")
        step_ms = float(np.median(np.diff(frame["timestamp"].to_numpy())))
        ppy = periods_per_year or bars_per_year(round(step_ms))
        traded = v.sum() > 0
        quote = (c * v)[-window:]
        rows.append(
            {
                "file": path.name,
                "bars": len(c),
                "median_quote_volume": float(np.median(quote)) if traded else np.nan,
                "amihud": float(amihud(c, v, window)[-1]) if traded else np.nan,
                "roll_spread_bp": float(roll_spread(c, window)[-1]) * 1e4,
                "vol": float(np.std(np.diff(np.log(c[-window - 1 :])), ddof=1) * np.sqrt(ppy)),
                "parkinson_vol": float(
                    parkinson(
                        frame["high"].to_numpy(float), frame["low"].to_numpy(float), window, ppy
                    )[-1]
                ),
                "vol_regime": float(vol_regime(c, window, min(500, len(c) - window - 1))[-1]),
                "vol_of_vol": float(vol_of_vol(c, window, window)[-1]),
            }
        )
    return pd.DataFrame(rows).sort_values("amihud", na_position="last").reset_index(drop=True)


def pool_depth(
    liquidity: np.ndarray, sqrt_price: np.ndarray, pct: float, decimals: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Concentrated-liquidity depth: (token0 that moves the price down ``pct``, token1 that
    moves it up ``pct``) with the active liquidity ``L`` and ``sqrt_price`` (raw units) of a
    Uniswap V3 pool — Δx = L (1/√P' − 1/√P), Δy = L (√P' − √P). Exact while the move stays in
    the current initialised range (L changes at range edges; beyond them this understates
    or overstates the book)."""
    if not 0.0 < pct < 1.0:
        raise ConfigError(f"pool_depth: pct must be in (0, 1), got {pct}")
    L, s = np.asarray(liquidity, float), np.asarray(sqrt_price, float)
    d0 = L * (1.0 / (s * np.sqrt(1.0 - pct)) - 1.0 / s) / 10.0 ** decimals[0]
    d1 = L * s * (np.sqrt(1.0 + pct) - 1.0) / 10.0 ** decimals[1]
    return d0, d1


def pool_liquidity_scan(
    pools: Sequence[Any],
    *,
    pct: float = 0.02,
    decimals: tuple[int, int] = (6, 18),
    tvl: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Rank DEX pools (:class:`~grekko_research.analysis.mev.Swaps`) by their depth within
    ±``pct`` at their last swap, deepest first.

    Per pool: swaps, volume in token0, token1's price in token0, the active liquidity, the
    depth each way (token0 to push the price down, token1 to push it up, and their sum valued
    in token0), the median depth over the swaps, and Amihud's illiquidity per million token0
    (mean |log price change| / token0 volume of a swap).

    ``tvl``: pool → :class:`~grekko_research.analysis.pool_tvl.PoolTvl` (from the decoder's
    Swap/Mint/Burn events, :func:`~grekko_research.analysis.pool_tvl.pool_tvl`) adds the value
    locked across the ranges (``tvl0``, ``tvl1``, ``tvl_value0`` at the last price;
    ``tvl_complete``: the whole pool, else the traded span only) and the window's LP flows
    (``lp_net0``, ``lp_net1``: minted less burned).
    """
    rows = []
    for sw in pools:
        f = sw.frame
        if f.empty or f["liquidity"].isna().all():
            raise DataError(f"pool {sw.pool}: no swaps with the pool's liquidity")
        d0, d1 = pool_depth(f["liquidity"].to_numpy(), f["sqrt_price"].to_numpy(), pct, decimals)
        price = f["price"].to_numpy(float)
        both = d0 + d1 * price
        vol0 = f["amount0"].abs().to_numpy(float)
        moves = np.abs(np.diff(np.log(price)))
        rows.append(
            {
                "pool": sw.pool,
                "swaps": len(f),
                "volume0": float(vol0.sum()),
                "price": float(price[-1]),
                "liquidity": float(f["liquidity"].iloc[-1]),
                "depth0": float(d0[-1]),
                "depth1": float(d1[-1]),
                "depth_value0": float(both[-1]),
                "median_depth_value0": float(np.nanmedian(both)),
                "amihud": float(np.mean(moves / np.maximum(vol0[1:], 1e-12)) * 1e6),
                **_tvl_columns((tvl or {}).get(sw.pool), float(price[-1]), decimals),
            }
        )
    return pd.DataFrame(rows).sort_values("depth_value0", ascending=False).reset_index(drop=True)


def _tvl_columns(t: Any, price: float, decimals: tuple[int, int]) -> dict[str, Any]:
    """The scanner's TVL columns of one pool (none without its events' PoolTvl)."""
    if t is None:
        return {}
    d0, d1 = 10.0 ** decimals[0], 10.0 ** decimals[1]
    return {
        "tvl0": t.amount0 / d0,
        "tvl1": t.amount1 / d1,
        "tvl_value0": t.value0(price, decimals),
        "tvl_complete": t.complete,
        "lp_net0": (t.minted[0] - t.burned[0]) / d0,
        "lp_net1": (t.minted[1] - t.burned[1]) / d1,
    }
