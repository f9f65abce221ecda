"""Named state of the kernels: what every phase function takes instead of thirty arrays.

Four NamedTuples (numba passes them as one typed argument each, vectorbt's
``execute_order_nb(state, order)`` pattern):

* :class:`Market` — the bars: ``ts`` ``(n,)`` open times in ms; ``open``,
  ``high``, ``low``, ``close``, ``volume`` ``(n, k)``; ``filled`` ``(n, k)``
  (no market on that bar); ``funding`` ``(n, k)`` rates or ``(0, 0)``.
* :class:`Decisions` — the decision rows (``(n, k)``, or ``(0, 0)`` when the
  signal mode does not use them) and the indicators sizing and stops read as of
  a decision bar (``atr``, ``vol``; ``(0, 0)`` when unused).
* :class:`Rules` — everything fixed for a run: the configuration vector
  (``CFG_*``), the risk limits (``LIM_*``), the market rules per asset and the
  fill model per asset (``fill_model`` ``(k,)`` ids, ``fill_state`` ``(k, m)``
  its data; see :mod:`grekko_research.engine._fills`).
* :class:`Book` — everything a run changes: per-asset state ``S`` ``(k,
  N_STATE)``, the account ``A`` ``(N_ACCOUNT,)``, the record buffers
  (structured arrays of ``ORDER_DTYPE``, ``TRADE_DTYPE``, ``EVENT_DTYPE``,
  ``FUNDING_DTYPE``) and two
  ``(k,)`` scratch vectors. A later member (say a risk state with holds and an
  order-rate window) is added here once and reaches every phase without a new
  argument anywhere.

And :class:`Order`, the one order on its way through sizing, checks and the
fill (asset, signed size, fill price, kind, maker or taker, slippage, ATR at
the decision).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from grekko_research.engine.layout import (
    EVENT_DTYPE,
    FILL_OHLC,
    FUNDING_DTYPE,
    ORDER_DTYPE,
    TRADE_DTYPE,
)

__all__ = ["Book", "Decisions", "Market", "Order", "Rules", "make_rules", "new_book"]


class Market(NamedTuple):
    """The bars of a run (see the module docstring for shapes)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    filled: np.ndarray
    funding: np.ndarray


class Decisions(NamedTuple):
    """Decision rows of one signal mode plus the indicators read at a decision bar."""

    entries: np.ndarray
    exits: np.ndarray
    short_entries: np.ndarray
    short_exits: np.ndarray
    target: np.ndarray
    ord_kind: np.ndarray
    ord_size: np.ndarray
    ord_price: np.ndarray
    ord_stop: np.ndarray
    atr: np.ndarray
    vol: np.ndarray


class Rules(NamedTuple):
    """Configuration, risk limits, market rules and fill models of a run."""

    cfg: np.ndarray
    limits: np.ndarray
    lot: np.ndarray
    tick: np.ndarray
    min_notional: np.ndarray
    fill_model: np.ndarray
    fill_state: np.ndarray


class Book(NamedTuple):
    """The mutable state of a run: positions, account, records, scratch."""

    S: np.ndarray
    A: np.ndarray
    orec: np.ndarray
    trec: np.ndarray
    erec: np.ndarray
    frec: np.ndarray
    px: np.ndarray
    adds: np.ndarray


class Order(NamedTuple):
    """One order being checked and filled; ``price`` is the fill price after slippage."""

    asset: int
    size: float
    price: float
    kind: int
    maker: bool
    slip: float
    atr: float


@njit(cache=True, nogil=True)
def new_book(S: np.ndarray, A: np.ndarray, capacity: int) -> Book:
    """Return a :class:`Book` around ``S``/``A`` with record buffers of ``capacity`` rows."""
    k = S.shape[0]
    return Book(
        S,
        A,
        np.empty(capacity, dtype=ORDER_DTYPE),
        np.empty(capacity, dtype=TRADE_DTYPE),
        np.empty(capacity, dtype=EVENT_DTYPE),
        np.empty(capacity, dtype=FUNDING_DTYPE),
        np.full(k, np.nan),
        np.zeros(k),
    )


def make_rules(
    cfg: np.ndarray,
    limits: np.ndarray,
    lot: np.ndarray,
    tick: np.ndarray,
    min_notional: np.ndarray,
) -> Rules:
    """Return the :class:`Rules` of a run whose assets all fill by the OHLC bar model."""
    k = len(lot)

    def vec(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float64)

    return Rules(
        vec(cfg),
        vec(limits),
        vec(lot),
        vec(tick),
        vec(min_notional),
        np.full(k, FILL_OHLC, dtype=np.int64),
        np.zeros((k, 0)),
    )
