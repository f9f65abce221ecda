"""The simulation kernel: bars, decisions and rules in; records and the equity curve out.

Pure numba (``@njit(cache=True)``): no I/O, no clock, no Python objects. The
semantics are documented in ``docs/engine.md``. :func:`simulate_nb` loops over
the bars and calls the phases of :mod:`grekko_research.engine._phases` in
order (day roll, funding, open, intrabar with liquidation, close, mark to
market with the drawdown and daily-loss rules, expiry); the live
:class:`~grekko_research.engine.book.EngineBook` calls the same phases one bar
at a time.

Inputs are the named tuples of :mod:`grekko_research.engine._state`:
:class:`Market` (``(n, k)`` prices, ``(n,)`` open times), :class:`Decisions`
(``(n, k)`` decision rows of the configured mode, ``(0, 0)`` when unused) and
:class:`Rules` (configuration vector, limits, ``(k,)`` market rules and fill
models).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from grekko_research.engine._orders import _counts, _grow, _write_trade
from grekko_research.engine._phases import (
    DAY_MS,
    close_phase,
    excursion_nb,
    expire_phase,
    funding_phase,
    intrabar_phase,
    mark_phase,
    next_active_row_nb,
    open_phase,
    roll_day_nb,
)
from grekko_research.engine._risk import new_risk_state_nb, risk_bar_close_nb
from grekko_research.engine._state import (
    Book,
    Decisions,
    Market,
    Rules,
    borrowed,
    njit_inline,
    njit_no_runtime,
)
from grekko_research.engine.layout import (
    A_BLOCK_DAY,
    A_CASH,
    A_DAY,
    A_DAY_START_EQ,
    A_EQUITY,
    A_FLATTEN_DUE,
    A_N_EV,
    A_N_FUND,
    A_N_ORD,
    A_N_TR,
    A_PEAK,
    CFG_ALLOW_SHORT,
    CFG_EXEC_CLOSE,
    CFG_INIT_CASH,
    CFG_LEVERAGE,
    CFG_SIGNAL_MODE,
    CFG_STOP_TRIGGER,
    CFG_TRAIL_KIND,
    CFG_VALID_BARS,
    EVENT_DTYPE,
    FUNDING_DTYPE,
    N_ACCOUNT,
    N_STATE,
    ORDER_DTYPE,
    S_LAST,
    S_POS,
    S_SL,
    S_SL_REST,
    S_STOP_BAR,
    S_TP,
    S_TRAIL_D,
    STOP_OFF,
    TRADE_DTYPE,
)
from grekko_research.risk.rules import LIM_DAILY_LOSS, LIM_MAX_DRAWDOWN, LIM_MAX_ORDERS_PER_DAY

__all__ = ["init_state_nb", "simulate_nb"]


@njit(cache=True, nogil=True)
def init_state_nb(k: int, cfg: np.ndarray, day: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the per-asset state ``S`` and the account ``A`` of a run before its first bar."""
    S = np.zeros((k, N_STATE))
    for j in range(k):
        S[j, S_SL] = np.nan
        S[j, S_TP] = np.nan
        S[j, S_TRAIL_D] = np.nan
        S[j, S_LAST] = np.nan
        S[j, S_STOP_BAR] = -1.0
        S[j, S_SL_REST] = np.nan
    A = np.zeros(N_ACCOUNT)
    A[A_CASH] = cfg[CFG_INIT_CASH]
    A[A_PEAK] = cfg[CFG_INIT_CASH]
    A[A_DAY_START_EQ] = cfg[CFG_INIT_CASH]
    A[A_EQUITY] = cfg[CFG_INIT_CASH]
    A[A_DAY] = day
    A[A_BLOCK_DAY] = -1.0
    return S, A


@njit(cache=True, nogil=True)
def simulate_nb(
    market: Market, dec: Decisions, rules: Rules, equity_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run one backtest and fill ``equity_out`` ``(n,)`` with the equity at each close.

    Return the order, trade, risk-event and funding records (structured arrays of
    ``ORDER_DTYPE``, ``TRADE_DTYPE``, ``EVENT_DTYPE`` and ``FUNDING_DTYPE``).
    """
    n, k = market.close.shape
    S, A = init_state_nb(k, rules.cfg, market.ts[0] // DAY_MS if n > 0 else 0)
    # The phases get borrowed views (see _state.borrowed): the caller holds the
    # inputs, and ``own`` the record buffers, for the whole run.
    market_b, dec_b, rules_b = borrowed(market), borrowed(dec), borrowed(rules)
    eq_b = borrowed(equity_out)
    R = new_risk_state_nb(k, rules.risk.ring)
    own = Book(
        S,
        A,
        np.empty(64 + 8 * k, dtype=ORDER_DTYPE),
        np.empty(32 + 4 * k, dtype=TRADE_DTYPE),
        np.empty(16 + 2 * k, dtype=EVENT_DTYPE),
        np.empty(16 + 2 * k, dtype=FUNDING_DTYPE),
        np.full(k, np.nan),
        np.zeros(k),
        R,
    )
    t = 0
    # Records grow between chunks of bars, never inside the bar loop: a record
    # array reassigned in the hot loop costs reference counting on every bar.
    while t < n:
        own = Book(
            S,
            A,
            _grow(own.orec, int(A[A_N_ORD]) + 64 * k + 64),
            _grow(own.trec, int(A[A_N_TR]) + 32 * k + 32),
            _grow(own.erec, int(A[A_N_EV]) + 16 * k + 16),
            _grow(own.frec, int(A[A_N_FUND]) + 16 * k + 16),
            own.px,
            own.adds,
            R,
        )
        t0 = t
        t = _run_bars(borrowed(own), rules_b, market_b, dec_b, t, eq_b)
        if rules.risk.bars_on and t > t0:  # with breakers _run_bars returns after each bar
            risk_bar_close_nb(own, rules_b, market_b, t - 1, eq_b)
    # Positions still open at the end are reported as open trades, marked at the last price.
    own = Book(S, A, own.orec, _grow(own.trec, int(A[A_N_TR]) + k + 1), own.erec, own.frec,
               own.px, own.adds, R)  # fmt: skip
    for j in range(k):
        if S[j, S_POS] != 0.0:
            _write_trade(own, j, n - 1, 0, S[j, S_LAST])
    return (
        own.orec[: int(A[A_N_ORD])].copy(),
        own.trec[: int(A[A_N_TR])].copy(),
        own.erec[: int(A[A_N_EV])].copy(),
        own.frec[: int(A[A_N_FUND])].copy(),
    )


@njit_no_runtime  # the bar loop owns no memory: no reference counting
def _run_bars(
    bk: Book, rules: Rules, market: Market, dec: Decisions, t0: int, equity_out: np.ndarray
) -> int:
    """Simulate bars from ``t0`` until the end or until a record array nears capacity.

    Return the next bar to simulate. Runs without the memory runtime (see
    ``_state.njit_no_runtime``): nothing in it may allocate an array or return one.
    """
    S = bk.S
    A = bk.A
    cfg = rules.cfg
    limits = rules.limits
    n, k = market.close.shape
    exec_close = cfg[CFG_EXEC_CLOSE] > 0.0
    valid = int(cfg[CFG_VALID_BARS])
    has_funding = market.funding.shape[0] > 0
    mode = int(cfg[CFG_SIGNAL_MODE])
    days_matter = limits[LIM_DAILY_LOSS] > 0.0 or limits[LIM_MAX_ORDERS_PER_DAY] > 0.0
    ord_room = bk.orec.shape[0] - 16 * k - 16
    tr_room = bk.trec.shape[0] - 8 * k - 8
    ev_room = bk.erec.shape[0] - 4 * k - 4
    fund_room = bk.frec.shape[0] - 2 * k - 2
    counts = _counts(S)
    # Bars on which nothing can happen are skipped (see _quiet_span) when no
    # per-bar rule needs them.
    quiet_ok = (
        not has_funding
        and not limits[LIM_MAX_DRAWDOWN] > 0.0
        and not days_matter
        and not (cfg[CFG_ALLOW_SHORT] > 0.0 or cfg[CFG_LEVERAGE] > 1.0)
        and cfg[CFG_TRAIL_KIND] == STOP_OFF
        and cfg[CFG_STOP_TRIGGER] == 0.0  # venue levels sit on the tick grid (_quiet_span: raw)
        and not rules.risk.bars_on
    )
    lag = 0 if exec_close else 1
    nxt = -1  # the first decision row at or after the last one looked at
    t = t0 - 1
    while t < n - 1:
        t += 1
        if quiet_ok and counts[1] == 0 and A[A_FLATTEN_DUE] == 0.0:
            u = _quiet_span(bk, market, dec, t, lag, mode, equity_out)
            if u >= n:
                return int(n)
            t = u
        if A[A_N_ORD] > ord_room or A[A_N_TR] > tr_room or A[A_N_EV] > ev_room:
            return t
        if A[A_N_FUND] > fund_room:
            return t
        if days_matter:
            roll_day_nb(A, market.ts[t] // DAY_MS)
        valid_to = t + valid if valid > 0 else n + 1
        if has_funding and counts[0] > 0:
            funding_phase(bk, market, t)
        r = t - lag
        if r >= 0 and nxt < r:
            nxt = next_active_row_nb(dec, r, mode)
        active = r >= 0 and nxt == r
        counts = open_phase(bk, rules, market, dec, t, valid_to, active, counts)
        counts = intrabar_phase(bk, rules, market, dec, t, counts)
        counts = close_phase(bk, rules, market, dec, t, valid_to, active, counts)
        equity, flattened = mark_phase(bk, rules, market, t, counts[0])
        if flattened:
            counts = _counts(S)
        if counts[1] > 0:
            expire_phase(bk, t)
            counts = _counts(S)
        equity_out[t] = equity
        if rules.risk.bars_on:
            return t + 1  # the breakers allocate: simulate_nb evaluates them (engine/_risk.py)
    return int(n)


@njit_inline
def _quiet_span(
    bk: Book,
    market: Market,
    dec: Decisions,
    t0: int,
    lag: int,
    mode: int,
    equity_out: np.ndarray,
) -> int:
    """Process bars from ``t0`` on while nothing can happen in them; return the first other bar.

    A bar is quiet when no decision executes in it (row ``t − lag`` is empty)
    and no position stop can trigger in it; it only marks positions to market
    and tracks their excursions. Callers ensure there are no pending orders,
    trailing stops, funding, liquidation or per-bar risk rules.
    """
    S = bk.S
    A = bk.A
    n, k = market.close.shape
    filled, open_, high, low, close = (market.filled, market.open, market.high, market.low,
                                       market.close)  # fmt: skip
    # Bars before the one executing the next decision row are quiet.
    end = min(next_active_row_nb(dec, max(t0 - lag, 0), mode) + lag, n)
    cash = A[A_CASH]
    peak = A[A_PEAK]
    t = t0
    while t < end:
        equity = cash
        stop_here = False
        for j in range(k):
            pos = S[j, S_POS]
            if filled[t, j]:
                if pos != 0.0:
                    equity += pos * S[j, S_LAST]
                continue
            if pos != 0.0:
                o = open_[t, j]
                h = high[t, j]
                lo = low[t, j]
                sl = S[j, S_SL]
                tp = S[j, S_TP]
                if pos > 0.0:
                    if (sl == sl and (o <= sl or lo <= sl)) or (tp == tp and (o >= tp or h >= tp)):
                        stop_here = True
                        break
                elif (sl == sl and (o >= sl or h >= sl)) or (tp == tp and (o <= tp or lo <= tp)):
                    stop_here = True
                    break
                excursion_nb(S, j, h, lo)
                equity += pos * close[t, j]
            S[j, S_LAST] = close[t, j]
        if stop_here:
            # The full path redoes this bar; the excursions tracked so far are idempotent.
            break
        if equity > peak:
            peak = equity
        equity_out[t] = equity
        t += 1
    A[A_PEAK] = peak
    if t > t0:
        A[A_EQUITY] = equity_out[t - 1]
    return t
