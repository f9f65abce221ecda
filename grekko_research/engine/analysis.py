"""Metrics of one backtest computed from its records (native code, usable in grids)."""

from __future__ import annotations

import numpy as np
from numba import njit

from grekko_research.engine import layout as L
from grekko_research.metrics.performance import summary_into

__all__ = ["result_metrics_into"]


@njit(cache=True, nogil=True)
def result_metrics_into(
    out: np.ndarray,
    equity: np.ndarray,
    orders: np.ndarray,
    trades: np.ndarray,
    close: np.ndarray,
    filled: np.ndarray,
    periods_per_year: float,
) -> None:
    """Write :data:`METRIC_NAMES` of one backtest into ``out`` from its records.

    Rebuilds, in one pass over the bars, the gross position value per bar
    (for exposure) and the traded notional per bar (for turnover), and takes
    the closed trades' P&L, return and duration from the trade records.
    """
    n, k = close.shape
    position_value = np.zeros(n)
    traded = np.zeros(n)
    pos = np.zeros(k)
    last = np.full(k, np.nan)
    i = 0
    n_orders = orders.shape[0]
    for t in range(n):
        while i < n_orders and orders[i, L.O_BAR] == t:
            if orders[i, L.O_STATUS] == L.STATUS_FILLED:
                j = int(orders[i, L.O_ASSET])
                pos[j] += orders[i, L.O_SIDE] * orders[i, L.O_SIZE]
                traded[t] += orders[i, L.O_SIZE] * orders[i, L.O_PRICE]
            i += 1
        value = 0.0
        for j in range(k):
            if not filled[t, j]:
                last[j] = close[t, j]
            if pos[j] != 0.0 and last[j] == last[j]:
                value += abs(pos[j] * last[j])
        position_value[t] = value
    m = 0
    for r in range(trades.shape[0]):
        if trades[r, L.T_IS_OPEN] == 0.0:
            m += 1
    pnl = np.empty(m)
    ret = np.empty(m)
    duration = np.empty(m, dtype=np.int64)
    m = 0
    for r in range(trades.shape[0]):
        if trades[r, L.T_IS_OPEN] == 0.0:
            pnl[m] = trades[r, L.T_PNL]
            ret[m] = trades[r, L.T_RETURN]
            duration[m] = int(trades[r, L.T_EXIT_BAR] - trades[r, L.T_ENTRY_BAR])
            m += 1
    summary_into(out, equity, position_value, traded, pnl, ret, duration, periods_per_year)
