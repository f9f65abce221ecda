"""Statistics of closed trades: count, win rate, profit factor, expectancy, extremes, duration.

Numba kernels (``@njit(cache=True, nogil=True)``) over per-trade arrays of
equal length ``m`` (which may be 0: the statistics are then NaN, the count 0).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from grekko_research.metrics._core import _add

__all__ = [
    "average_loss",
    "average_trade_duration",
    "average_trade_return",
    "average_win",
    "best_trade",
    "expectancy",
    "profit_factor",
    "trade_count",
    "win_rate",
    "worst_trade",
]

# Kernels use error_model="numpy" (x / 0 gives inf or nan instead of raising): every
# zero denominator is guarded explicitly, and arithmetic must not raise in a prange.


# -- trade kernels ---------------------------------------------------------------------
# Closed trades: ``pnl: float64[m]`` (profit net of costs), ``ret: float64[m]``
# (return of each trade), ``duration: int64[m]`` (bars held); ``m`` may be 0.


@njit(cache=True, nogil=True, error_model="numpy")
def trade_count(pnl: np.ndarray) -> int:
    """Return the number of closed trades, ``len(pnl)``, as an int."""
    return pnl.shape[0]


@njit(cache=True, nogil=True, error_model="numpy")
def win_rate(pnl: np.ndarray) -> float:
    """Return the fraction of trades with ``pnl > 0`` (break-even is no win); NaN if none."""
    m = pnl.shape[0]
    if m == 0:
        return np.nan
    wins = 0
    for i in range(m):
        if pnl[i] > 0.0:
            wins += 1
    return wins / m


@njit(cache=True, nogil=True, error_model="numpy")
def _gross(pnl: np.ndarray) -> tuple[float, int, float, int]:
    """Return ``(gross_profit, n_wins, gross_loss, n_losses)``; the loss is ``<= 0``."""
    ps, pc, ls, lc = 0.0, 0.0, 0.0, 0.0
    wins, losses = 0, 0
    for i in range(pnl.shape[0]):
        p = pnl[i]
        if p > 0.0:
            ps, pc = _add(ps, pc, p)
            wins += 1
        elif p < 0.0:
            ls, lc = _add(ls, lc, p)
            losses += 1
    return ps + pc, wins, ls + lc, losses


@njit(cache=True, nogil=True, error_model="numpy")
def profit_factor(pnl: np.ndarray) -> float:
    """Return gross profit / gross loss, ``sum(pnl[pnl > 0]) / |sum(pnl[pnl < 0])|``.

    +inf with profits and no losses; NaN without trades or when all broke even.
    """
    profit, wins, loss, losses = _gross(pnl)
    if losses == 0:
        return np.inf if wins > 0 else np.nan
    return profit / -loss


@njit(cache=True, nogil=True, error_model="numpy")
def expectancy(pnl: np.ndarray) -> float:
    """Return the mean profit per trade, ``mean(pnl)``; NaN without trades."""
    m = pnl.shape[0]
    if m == 0:
        return np.nan
    s, c = 0.0, 0.0
    for i in range(m):
        s, c = _add(s, c, pnl[i])
    return (s + c) / m


@njit(cache=True, nogil=True, error_model="numpy")
def average_win(pnl: np.ndarray) -> float:
    """Return the mean pnl of winning trades (``pnl > 0``); NaN without wins."""
    profit, wins, _, _ = _gross(pnl)
    return profit / wins if wins > 0 else np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def average_loss(pnl: np.ndarray) -> float:
    """Return the mean pnl of losing trades (``pnl < 0``, so negative); NaN without losses."""
    _, _, loss, losses = _gross(pnl)
    return loss / losses if losses > 0 else np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def best_trade(ret: np.ndarray) -> float:
    """Return the highest per-trade return, ``max(ret)``; NaN without trades."""
    if ret.shape[0] == 0:
        return np.nan
    best = ret[0]
    for i in range(1, ret.shape[0]):
        best = max(best, ret[i])
    return best


@njit(cache=True, nogil=True, error_model="numpy")
def worst_trade(ret: np.ndarray) -> float:
    """Return the lowest per-trade return, ``min(ret)``; NaN without trades."""
    if ret.shape[0] == 0:
        return np.nan
    worst = ret[0]
    for i in range(1, ret.shape[0]):
        worst = min(worst, ret[i])
    return worst


@njit(cache=True, nogil=True, error_model="numpy")
def average_trade_return(ret: np.ndarray) -> float:
    """Return the mean per-trade return, ``mean(ret)``; NaN without trades."""
    return expectancy(ret)


@njit(cache=True, nogil=True, error_model="numpy")
def average_trade_duration(duration: np.ndarray) -> float:
    """Return the mean holding time in bars, ``mean(duration)``; NaN without trades."""
    m = duration.shape[0]
    if m == 0:
        return np.nan
    total = 0.0
    for i in range(m):
        total += duration[i]
    return total / m
