"""Metrics of one backtest computed from its records (native code, usable in grids)."""

from __future__ import annotations

import numpy as np
from numba import njit

from grekko_research.engine import layout as L
from grekko_research.metrics._core import _add
from grekko_research.metrics.performance import equity_statistics, summary_parts_into

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
    curve: bool = True,
) -> None:
    """Write :data:`METRIC_NAMES` of one backtest into ``out`` from its records.

    ``curve`` False skips the metrics of the equity curve (the first ten,
    and turnover, which needs the mean equity): they are NaN, and
    ``equity`` may be empty.

    The equity metrics come from :func:`equity_statistics`; exposure (bars
    holding any position) and turnover (notional filled up to the last
    usable bar) from one walk over the order records, which are in bar
    order; the closed trades' P&L, return and duration from the trade
    records. No bars-sized array is built besides the returns buffer.
    ``close`` and ``filled`` give the shape only: a position always has a
    price, because it was filled on a bar with a market.
    """
    n, k = close.shape
    if curve:
        stats = equity_statistics(equity, periods_per_year, 0.05)
    else:
        stats = np.full(12, np.nan)
        stats[10] = n
    n_used = int(stats[10])
    pos = np.zeros(k)
    in_market = 0
    holding = False
    since = 0
    ts, tc = 0.0, 0.0
    i = 0
    n_orders = orders.shape[0]
    while i < n_orders:
        t = int(orders[i, L.O_BAR])
        while i < n_orders and orders[i, L.O_BAR] == t:
            if orders[i, L.O_STATUS] == L.STATUS_FILLED:
                j = int(orders[i, L.O_ASSET])
                pos[j] += orders[i, L.O_SIDE] * orders[i, L.O_SIZE]
                if t < n_used:
                    ts, tc = _add(ts, tc, orders[i, L.O_SIZE] * orders[i, L.O_PRICE])
            i += 1
        if holding:
            in_market += t - since
        holding = False
        for j in range(k):
            if pos[j] != 0.0:
                holding = True
                break
        since = t
    if holding:
        in_market += n - since
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
    summary_parts_into(out, stats, in_market, n, ts + tc, pnl, ret, duration, periods_per_year)
