"""Record conversion: the kernels' structured records to the float64 tables users see.

Kernels write structured arrays (``ORDER_DTYPE``, ``TRADE_DTYPE``, ``EVENT_DTYPE``,
``FUNDING_DTYPE`` in :mod:`grekko_research.engine.layout`: bars, assets, kinds and statuses
as integers). :class:`~grekko_research.engine.api.BacktestResult` keeps exposing
``order_records`` and friends as ``(n, len(*_FIELDS))`` float64 tables (their columns in the
``*_FIELDS`` order), which the metrics, reports and users index by column; these functions
convert, exactly (every integer field is far below 2**53). They are ``@njit`` so the grid's
native loop converts without leaving native code.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from grekko_research.engine.layout import (
    E_ACTION,
    E_ASSET,
    E_BAR,
    E_LIMIT,
    E_RULE,
    E_VALUE,
    EVENT_FIELDS,
    F_AMOUNT,
    F_ASSET,
    F_BAR,
    F_RATE,
    FUNDING_FIELDS,
    O_ASSET,
    O_BAR,
    O_FEE,
    O_KIND,
    O_PRICE,
    O_RULE,
    O_SIDE,
    O_SIZE,
    O_SLIPPAGE,
    O_STATUS,
    ORDER_FIELDS,
    T_ASSET,
    T_DIRECTION,
    T_ENTRY_BAR,
    T_ENTRY_PRICE,
    T_EXIT_BAR,
    T_EXIT_KIND,
    T_EXIT_PRICE,
    T_FEES,
    T_FUNDING,
    T_IS_OPEN,
    T_MAE,
    T_MFE,
    T_PNL,
    T_RETURN,
    T_SIZE,
    TRADE_FIELDS,
)

__all__ = ["event_table_nb", "funding_table_nb", "order_table_nb", "trade_table_nb"]


@njit(cache=True, nogil=True)
def order_table_nb(rec: np.ndarray) -> np.ndarray:
    """Return order records as a float64 ``(n, len(ORDER_FIELDS))`` table."""
    out = np.empty((rec.shape[0], len(ORDER_FIELDS)))
    for i in range(rec.shape[0]):
        r = rec[i]
        out[i, O_BAR] = r.bar
        out[i, O_ASSET] = r.asset
        out[i, O_SIDE] = r.side
        out[i, O_SIZE] = r.size
        out[i, O_PRICE] = r.price
        out[i, O_FEE] = r.fee
        out[i, O_KIND] = r.kind
        out[i, O_STATUS] = r.status
        out[i, O_RULE] = r.rule
        out[i, O_SLIPPAGE] = r.slippage
    return out


@njit(cache=True, nogil=True)
def trade_table_nb(rec: np.ndarray) -> np.ndarray:
    """Return trade records as a float64 ``(n, len(TRADE_FIELDS))`` table."""
    out = np.empty((rec.shape[0], len(TRADE_FIELDS)))
    for i in range(rec.shape[0]):
        r = rec[i]
        out[i, T_ASSET] = r.asset
        out[i, T_DIRECTION] = r.direction
        out[i, T_ENTRY_BAR] = r.entry_bar
        out[i, T_EXIT_BAR] = r.exit_bar
        out[i, T_ENTRY_PRICE] = r.entry_price
        out[i, T_EXIT_PRICE] = r.exit_price
        out[i, T_SIZE] = r.size
        out[i, T_PNL] = r.pnl
        out[i, T_RETURN] = r.ret
        out[i, T_FEES] = r.fees
        out[i, T_FUNDING] = r.funding
        out[i, T_MAE] = r.mae
        out[i, T_MFE] = r.mfe
        out[i, T_EXIT_KIND] = r.exit_kind
        out[i, T_IS_OPEN] = 1.0 if r.is_open else 0.0
    return out


@njit(cache=True, nogil=True)
def event_table_nb(rec: np.ndarray) -> np.ndarray:
    """Return risk-event records as a float64 ``(n, len(EVENT_FIELDS))`` table."""
    out = np.empty((rec.shape[0], len(EVENT_FIELDS)))
    for i in range(rec.shape[0]):
        r = rec[i]
        out[i, E_BAR] = r.bar
        out[i, E_ASSET] = r.asset
        out[i, E_RULE] = r.rule
        out[i, E_VALUE] = r.value
        out[i, E_LIMIT] = r.limit
        out[i, E_ACTION] = r.action
    return out


@njit(cache=True, nogil=True)
def funding_table_nb(rec: np.ndarray) -> np.ndarray:
    """Return funding records as a float64 ``(n, len(FUNDING_FIELDS))`` table."""
    out = np.empty((rec.shape[0], len(FUNDING_FIELDS)))
    for i in range(rec.shape[0]):
        r = rec[i]
        out[i, F_BAR] = r.bar
        out[i, F_ASSET] = r.asset
        out[i, F_RATE] = r.rate
        out[i, F_AMOUNT] = r.amount
    return out
