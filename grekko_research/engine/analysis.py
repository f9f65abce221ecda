"""Metrics of one backtest computed from its records (native code, usable in grids)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, types
from numba.extending import overload

from grekko_research.engine import layout as L
from grekko_research.metrics._core import _add
from grekko_research.metrics.performance import (
    TradeArrays,
    equity_statistics,
    summary_parts_into,
)

__all__ = ["result_metrics_into"]


def _order_fill(orders: np.ndarray, i: int) -> tuple[int, int, float, float, bool]:
    """Return order ``i``'s bar, asset, signed size, notional and whether it filled.

    Native code only (typed by the overload below) for either form of the order
    records: the kernels' structured ``ORDER_DTYPE`` array (a grid measures it
    without building the float table) or the float table users see.
    """
    raise NotImplementedError("native code only")


def _closed_trade(trades: np.ndarray, r: int) -> tuple[bool, float, float, int]:
    """Return trade ``r``'s closed flag, P&L, return and bars held (native code, either form)."""
    raise NotImplementedError("native code only")


def _is_record_array(arr: Any) -> bool:
    return isinstance(arr, types.Array) and isinstance(arr.dtype, types.Record)


# The typing functions and their implementations must have identical parameters
# (annotations included: numba compares the signatures).
@overload(_order_fill)
def _order_fill_ov(orders: Any, i: Any) -> Any:
    if _is_record_array(orders):

        def fields(orders: Any, i: Any) -> Any:
            o = orders[i]
            filled = o.status == L.STATUS_FILLED
            return int(o.bar), int(o.asset), o.side * o.size, o.size * o.price, filled

        return fields

    def columns(orders: Any, i: Any) -> Any:
        filled = orders[i, L.O_STATUS] == L.STATUS_FILLED
        size = orders[i, L.O_SIZE]
        return (int(orders[i, L.O_BAR]), int(orders[i, L.O_ASSET]), orders[i, L.O_SIDE] * size,
                size * orders[i, L.O_PRICE], filled)  # fmt: skip

    return columns


@overload(_closed_trade)
def _closed_trade_ov(trades: Any, r: Any) -> Any:
    if _is_record_array(trades):

        def fields(trades: Any, r: Any) -> Any:
            t = trades[r]
            return not t.is_open, t.pnl, t.ret, int(t.exit_bar - t.entry_bar)

        return fields

    def columns(trades: Any, r: Any) -> Any:
        duration = int(trades[r, L.T_EXIT_BAR] - trades[r, L.T_ENTRY_BAR])
        return trades[r, L.T_IS_OPEN] == 0.0, trades[r, L.T_PNL], trades[r, L.T_RETURN], duration

    return columns


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

    ``orders`` and ``trades`` are the float tables (``ORDER_FIELDS``,
    ``TRADE_FIELDS`` columns) or the kernels' structured records
    (``ORDER_DTYPE``, ``TRADE_DTYPE``): the same numbers either way.

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
    in_market, ts, tc = _exposure_turnover(orders, n, k, int(stats[10]))
    pnl, ret, duration = _closed_trades(trades)
    summary_parts_into(
        out, stats, in_market, n, ts + tc, TradeArrays(pnl, ret, duration), periods_per_year
    )


@njit(cache=True, nogil=True)
def _exposure_turnover(orders: np.ndarray, n: int, k: int, n_used: int) -> tuple[int, float, float]:
    """Return the bars holding any position and the filled notional (compensated sum, tail).

    One walk over the order records, which are in bar order; turnover counts
    fills up to the last usable bar ``n_used``.
    """
    pos = np.zeros(k)
    in_market = 0
    holding = False
    since = 0
    ts, tc = 0.0, 0.0
    i = 0
    n_orders = orders.shape[0]
    while i < n_orders:
        t = _order_fill(orders, i)[0]
        while i < n_orders:
            bar, j, signed, notional, is_fill = _order_fill(orders, i)
            if bar != t:
                break
            if is_fill:
                pos[j] += signed
                if t < n_used:
                    ts, tc = _add(ts, tc, notional)
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
    return in_market, ts, tc


@njit(cache=True, nogil=True)
def _closed_trades(trades: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the closed trades' P&L, return and bars held, in record order."""
    m = 0
    for r in range(trades.shape[0]):
        if _closed_trade(trades, r)[0]:
            m += 1
    pnl = np.empty(m)
    ret = np.empty(m)
    duration = np.empty(m, dtype=np.int64)
    m = 0
    for r in range(trades.shape[0]):
        closed, pnl_r, ret_r, duration_r = _closed_trade(trades, r)
        if closed:
            pnl[m] = pnl_r
            ret[m] = ret_r
            duration[m] = duration_r
            m += 1
    return pnl, ret, duration
