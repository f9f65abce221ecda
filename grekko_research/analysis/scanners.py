"""Volatility-breakout scanner over the bar store.

A volatility breakout at bar ``t``: the close leaves the channel of the previous ``window`` bars
(above their highest high or below their lowest low) on a bar whose true range is at least ``k``
times the average true range of those bars, i.e. price *and* volatility break out together.
The evidence per event: direction, the channel edge, the true-range ratio and the percentile of
the pre-break volatility (``squeeze_pct``: low means the move came out of a compression).
Everything at bar ``t`` uses bars ``<= t`` only, so the events are causal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numba import njit

from grekko_research.data.store import ParquetStore
from grekko_research.errors import ConfigError, DataError
from grekko_research.indicators._api import check_int

__all__ = ["vol_breakout_scan", "vol_breakouts", "vol_breakouts_nb"]


@njit(cache=True, nogil=True)
def vol_breakouts_nb(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int, k: float, lookback: int
) -> np.ndarray:
    """Return ``(n, 4)``: direction (+1/-1/0), channel edge, TR / ATR, squeeze percentile.

    Rows before ``window + 1`` bars are 0/NaN. The squeeze percentile is the rank of the ATR of
    the ``window`` bars before ``t`` among the ATRs of the ``lookback`` bars before that (NaN
    until that history exists).
    """
    n = len(close)
    out = np.full((n, 4), np.nan)
    out[:, 0] = 0.0
    tr = np.full(n, np.nan)
    for t in range(1, n):
        tr[t] = max(high[t] - low[t], abs(high[t] - close[t - 1]), abs(low[t] - close[t - 1]))
    atr = np.full(n, np.nan)  # atr[t]: mean true range of bars t-window+1 .. t
    for t in range(window, n):
        atr[t] = np.mean(tr[t - window + 1 : t + 1])
    for t in range(window + 1, n):
        prior = atr[t - 1]
        if not np.isfinite(prior) or prior <= 0.0:
            continue
        hi = np.max(high[t - window : t])
        lo = np.min(low[t - window : t])
        ratio = tr[t] / prior
        out[t, 2] = ratio
        if t - 1 - lookback >= window:
            hist = atr[t - 1 - lookback : t - 1]
            out[t, 3] = np.mean(hist < prior)
        if ratio >= k and close[t] > hi:
            out[t, 0], out[t, 1] = 1.0, hi
        elif ratio >= k and close[t] < lo:
            out[t, 0], out[t, 1] = -1.0, lo
    return out


def vol_breakouts(
    high: object,
    low: object,
    close: object,
    index: object = None,
    window: int = 20,
    k: float = 2.0,
    lookback: int = 250,
) -> pd.DataFrame:
    """List the volatility breakouts of one series (see the module doc) with their evidence."""
    h, lo, c = (np.ascontiguousarray(x, dtype=np.float64) for x in (high, low, close))
    if not len(h) == len(lo) == len(c):
        raise ConfigError("vol_breakouts: high, low and close must have the same length")
    window = check_int("vol_breakouts", "window", window, 2)
    lookback = check_int("vol_breakouts", "lookback", lookback, 1)
    if not k > 0:
        raise ConfigError(f"vol_breakouts: k must be > 0, got {k}")
    res = vol_breakouts_nb(h, lo, c, window, float(k), lookback)
    bars = np.flatnonzero(res[:, 0] != 0)
    times = np.asarray(index)[bars] if index is not None else bars
    return pd.DataFrame(
        {
            "bar": bars,
            "time": times,
            "direction": np.where(res[bars, 0] > 0, "up", "down"),
            "close": c[bars],
            "channel_edge": res[bars, 1],
            "tr_atr": res[bars, 2],
            "squeeze_pct": res[bars, 3],
        }
    )


def vol_breakout_scan(
    store: ParquetStore,
    timeframe: str | None = None,
    window: int = 20,
    k: float = 2.0,
    recent: int = 5,
) -> pd.DataFrame:
    """Scan every candle series of ``store`` (optionally one ``timeframe``) for breakouts.

    One row per series with a breakout in its last ``recent`` bars, strongest first: the series,
    its latest breakout's time, direction, bars since, TR/ATR, squeeze percentile, and the
    number of breakouts in the whole series.
    """
    keys = [s for s in store.series() if s.kind == "ohlcv"]
    if timeframe is not None:
        keys = [s for s in keys if s.timeframe == timeframe]
    if not keys:
        raise DataError(
            f"no candle series{f' of {timeframe}' if timeframe else ''} in {store.root}"
        )
    rows = []
    for key in keys:
        f = store.read(key)
        if len(f) < window + 2:
            continue
        ts = pd.to_datetime(f["timestamp"].to_numpy(), unit="ms", utc=True)
        ev = vol_breakouts(f["high"], f["low"], f["close"], ts, window, k)
        if ev.empty:
            continue
        last = ev.iloc[-1]
        since = len(f) - 1 - int(ev["bar"].to_numpy(np.int64)[-1])
        if since >= recent:
            continue
        rows.append(
            {
                "series": key.label(),
                "time": last["time"],
                "direction": last["direction"],
                "bars_since": since,
                "tr_atr": float(last["tr_atr"]),
                "squeeze_pct": float(last["squeeze_pct"]),
                "breakouts": len(ev),
            }
        )
    cols = ["series", "time", "direction", "bars_since", "tr_atr", "squeeze_pct", "breakouts"]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("tr_atr", ascending=False, ignore_index=True)
