"""One bar at a time: the live book's entry points into the kernel's phases.

:class:`~grekko_research.engine.book.EngineBook` holds the kernel's state arrays (``S``,
``A``) between bars and moves them only through these functions, which are compositions of
the phases the backtest runs (:mod:`grekko_research.engine._phases`) and the order mechanics
(:mod:`grekko_research.engine._orders`), never copies of them:

* :func:`plan_nb` — a due risk flatten and one decision row (``execute_decisions``), on copies;
* :func:`book_fill_nb` — one fill the venue reported (``_apply_fill``);
* :func:`fund_nb` — one funding settlement the venue reported (``pay_funding``, the funding
  phase's booking);
* :func:`stops_nb` — the position stops a bar's open or range reaches (the stop steps of
  ``open_phase`` and ``intrabar_phase``: ``_stop_hit`` then ``_stop_exit``), on copies;
* :func:`close_bar_nb` — excursions, the trailing peak, close prices, mark to market and the
  drawdown and daily-loss rules (``excursion_nb``, ``_trail_peak``, ``close_prices``,
  ``mark_phase``);
* :func:`open_trades_nb` — the open positions as trade records.

The day roll is :func:`~grekko_research.engine._phases.roll_day_nb` itself. Records come back
as the kernel's structured arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from grekko_research.engine._fills import _stop_hit
from grekko_research.engine._orders import _apply_fill, _flatten, _stop_exit, _write_trade
from grekko_research.engine._phases import (
    _trail_peak,
    close_prices,
    excursion_nb,
    execute_decisions,
    mark_phase,
    pay_funding,
)
from grekko_research.engine._state import Decisions, Market, Order, Rules, new_book
from grekko_research.engine.layout import (
    A_FLATTEN_DUE,
    A_N_EV,
    A_N_FUND,
    A_N_ORD,
    A_N_TR,
    CFG_BOTH_TOUCH,
    CFG_EXEC_CLOSE,
    CFG_STOPS_ON_ENTRY_BAR,
    KIND_RISK_FLATTEN,
    S_ENTRY_FILL_BAR,
    S_LAST,
    S_POS,
)

__all__ = ["book_fill_nb", "close_bar_nb", "fund_nb", "open_trades_nb", "plan_nb", "stops_nb"]


@njit(cache=True, nogil=True)
def plan_nb(
    S: np.ndarray, A: np.ndarray, rules: Rules, market: Market, dec: Decisions, decide: bool
) -> np.ndarray:
    """Run a pending risk flatten and row 0's decisions on copies; return the order records.

    ``market`` is one bar: the execution prices are ``market.open[0]`` (NaN: no market).
    """
    k = S.shape[0]
    A2 = A.copy()
    A2[A_N_ORD] = 0.0
    A2[A_N_TR] = 0.0
    A2[A_N_EV] = 0.0
    bk = new_book(S.copy(), A2, 16 + 8 * k)
    for j in range(k):
        bk.px[j] = market.open[0, j]
    if A2[A_FLATTEN_DUE] > 0.0:
        _flatten(bk, rules, market, 0, KIND_RISK_FLATTEN)
        A2[A_FLATTEN_DUE] = 0.0
    if decide:
        execute_decisions(bk, rules, market, dec, 0, 0, 1 << 62)
    return bk.orec[: int(A2[A_N_ORD])].copy()


@njit(cache=True, nogil=True)
def stops_nb(
    S: np.ndarray, A: np.ndarray, rules: Rules, market: Market, t: int, at_open: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Return the exit order records of the position stops one bar reaches (on copies), and
    per asset the level (or gapped open) each exit was triggered at (NaN: none).

    ``market`` is the bar (index 0); ``t`` the book's bar counter. ``at_open``: the open only,
    as ``open_phase`` checks before the decisions executing there; else the bar's range, as
    ``intrabar_phase`` does (a position filled at ``t`` only with ``stops.on_entry_bar``).
    Each record's price is the engine's fill price (slippage for stop and trailing exits).
    """
    k = S.shape[0]
    A2 = A.copy()
    A2[A_N_ORD] = 0.0
    A2[A_N_TR] = 0.0
    A2[A_N_EV] = 0.0
    bk = new_book(S.copy(), A2, 4 + 2 * k)
    levels = np.full(k, np.nan)
    cfg = rules.cfg
    both = int(cfg[CFG_BOTH_TOUCH])
    fresh_ok = cfg[CFG_STOPS_ON_ENTRY_BAR] > 0.0 and not cfg[CFG_EXEC_CLOSE] > 0.0
    S2 = bk.S
    for j in range(k):
        if market.filled[0, j] or S2[j, S_POS] == 0.0:
            continue
        if at_open or S2[j, S_ENTRY_FILL_BAR] != t or fresh_ok:
            kind, price = _stop_hit(S2, j, market.open[0, j], market.high[0, j],
                                    market.low[0, j], at_open, both)  # fmt: skip
            if kind != 0:
                levels[j] = price
                _stop_exit(bk, rules, market, 0, j, kind, price, np.nan)
    return bk.orec[: int(A2[A_N_ORD])].copy(), levels


@njit(cache=True, nogil=True)
def book_fill_nb(
    S: np.ndarray, A: np.ndarray, cfg: np.ndarray, t: int, o: Order, fee_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """Book one fill on the real state; return its order record and any trade it closed."""
    bk = new_book(S, A, 4)
    A[A_N_ORD] = 0.0
    A[A_N_TR] = 0.0
    _apply_fill(bk, cfg, t, o, fee_rate, 0)
    n_ord = int(A[A_N_ORD])
    n_tr = int(A[A_N_TR])
    A[A_N_ORD] = 0.0
    A[A_N_TR] = 0.0
    return bk.orec[:n_ord].copy(), bk.trec[:n_tr].copy()


@njit(cache=True, nogil=True)
def fund_nb(S: np.ndarray, A: np.ndarray, t: int, j: int, rate: float, pay: float) -> np.ndarray:
    """Book one funding payment of ``pay`` (negative: received) on the real state; return its
    funding record."""
    bk = new_book(S, A, 1)
    A[A_N_FUND] = 0.0
    pay_funding(bk, t, j, rate, pay)
    A[A_N_FUND] = 0.0
    return bk.frec[:1].copy()


@njit(cache=True, nogil=True)
def close_bar_nb(S: np.ndarray, A: np.ndarray, rules: Rules, market: Market) -> np.ndarray:
    """The kernel's excursion, trailing-peak, close and mark-to-market phases for one bar
    (after its stops were booked); return risk events."""
    bk = new_book(S, A, 4)
    A[A_N_EV] = 0.0
    for j in range(S.shape[0]):
        pos = S[j, S_POS]
        if not market.filled[0, j] and pos != 0.0:
            excursion_nb(S, j, market.high[0, j], market.low[0, j])
            _trail_peak(S, j, pos, market.high[0, j], market.low[0, j])  # after the stop checks
    close_prices(bk, market, 0)
    mark_phase(bk, rules, market, 0, S.shape[0])
    n = int(A[A_N_EV])
    A[A_N_EV] = 0.0
    return bk.erec[:n].copy()


@njit(cache=True, nogil=True)
def open_trades_nb(S: np.ndarray, A: np.ndarray, t: int) -> np.ndarray:
    """Return the trade records of the positions still open, marked at their last prices."""
    k = S.shape[0]
    A2 = A.copy()
    A2[A_N_TR] = 0.0
    bk = new_book(S, A2, k + 1)
    for j in range(k):
        if S[j, S_POS] != 0.0:
            _write_trade(bk, j, t, 0, S[j, S_LAST])
    return bk.trec[: int(A2[A_N_TR])].copy()
