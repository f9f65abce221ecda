"""The phases of one bar, each one function, shared by every driver.

``simulate_nb`` (:mod:`grekko_research.engine.nb`) calls them in order for
every bar; the live :class:`~grekko_research.engine.book.EngineBook` calls the
decision step, the day roll and the close/mark phases for the one bar it sees.
Semantics: ``docs/engine.md``. In order:

=====================  =========================================================
:func:`roll_day_nb`    a new UTC day resets the order count and the daily-loss base
:func:`funding_phase`  funding on positions carried into the bar, at the open
:func:`open_phase`     stops and pending orders the open gaps through; a due risk
                       flatten; (``next_open``) the previous bar's decisions
:func:`intrabar_phase` position stops, then pending orders, against low–high;
                       excursions; liquidation
:func:`close_phase`    close prices; (``close`` timing) this bar's decisions
:func:`mark_phase`     mark to market, peak, the drawdown flatten rule
:func:`expire_phase`   pending orders past their validity expire
=====================  =========================================================

:func:`execute_decisions` executes one decision row at one execution point
(reductions first, then additions); the live book plans with it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from grekko_research.engine._fills import _round_tick_nearest, _stop_hit
from grekko_research.engine._orders import (
    _cancel_pending,
    _check_liquidation,
    _counts,
    _entry_size,
    _event,
    _flatten,
    _market,
    _reject,
    _stop_exit,
    _try_pending,
    _valuation,
    _venue_stops,
)
from grekko_research.engine._state import Book, Decisions, Market, Rules, njit_inline
from grekko_research.engine.layout import (
    A_CASH,
    A_DAY,
    A_DAY_START_EQ,
    A_EQUITY,
    A_FLATTEN_DUE,
    A_HALTED,
    A_N_FUND,
    A_ORDERS_TODAY,
    A_PEAK,
    CFG_ALLOW_SHORT,
    CFG_BOTH_TOUCH,
    CFG_EXEC_CLOSE,
    CFG_LEVERAGE,
    CFG_SIGNAL_MODE,
    CFG_SKIP_SIGNALS_ON_STOP,
    CFG_SL_KIND,
    CFG_STOP_TRIGGER,
    CFG_STOPS_ON_ENTRY_BAR,
    CFG_TARGET_KIND,
    CFG_TP_KIND,
    CFG_TRAIL_KIND,
    KIND_CANCEL,
    KIND_MARKET,
    KIND_RISK_FLATTEN,
    MODE_SIGNALS,
    MODE_TARGET,
    S_ENTRY_FILL_BAR,
    S_LAST,
    S_P_EXPIRY,
    S_P_KIND,
    S_P_LIMIT,
    S_P_SIZE,
    S_P_STOP,
    S_P_TRIG,
    S_POS,
    S_STOP_BAR,
    S_TR_FUND,
    S_TR_MAXHIGH,
    S_TR_MINLOW,
    S_TRAIL_PEAK,
    STATUS_EXPIRED,
    STOP_OFF,
)
from grekko_research.risk.rules import LIM_MAX_DRAWDOWN, RULE_MAX_DRAWDOWN, drawdown_breached_nb

DAY_MS = 86_400_000


# -- decisions --------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _signal_action(
    S: np.ndarray, cfg: np.ndarray, dec: Decisions, j: int, r: int
) -> tuple[float, float]:
    """Return (size that closes, direction to open afterwards) for the signals of row ``r``.

    Conflicting signals on one row (entry and exit, or long and short entry)
    cancel each other. An entry against an open position reverses it (a short
    entry only when shorting is allowed); an entry in the direction already
    held does nothing.
    """
    pos = S[j, S_POS]
    e = dec.entries[r, j]
    x = dec.exits[r, j]
    se = dec.short_entries[r, j] and cfg[CFG_ALLOW_SHORT] > 0.0
    sx = dec.short_exits[r, j]
    if e and x:
        e = False
        x = False
    if se and sx:
        se = False
        sx = False
    if e and se:
        e = False
        se = False
    if pos > 0.0:
        if se:
            return -pos, -1.0
        if x:
            return -pos, 0.0
    elif pos < 0.0:
        if e:
            return -pos, 1.0
        if sx:
            return -pos, 0.0
    elif e:
        return 0.0, 1.0
    elif se:
        return 0.0, -1.0
    return 0.0, 0.0


@njit(cache=True, nogil=True)
def _defer_signal(S: np.ndarray, dec: Decisions, j: int, r: int, valid_to: int) -> None:
    """Keep a signal whose bar has no market as a pending market order (size fixed now)."""
    pos = S[j, S_POS]
    size = 0.0
    if (pos > 0.0 and (dec.exits[r, j] or dec.short_entries[r, j])) or (
        pos < 0.0 and (dec.short_exits[r, j] or dec.entries[r, j])
    ):
        size = -pos
    elif pos == 0.0 and dec.entries[r, j] and not dec.exits[r, j]:
        size = np.inf
    if size != 0.0:
        _set_pending(S, j, KIND_MARKET, size, np.nan, np.nan, valid_to)


@njit(cache=True, nogil=True)
def _set_pending(
    S: np.ndarray, j: int, kind: int, size: float, limit: float, stop: float, expiry: int
) -> None:
    S[j, S_P_KIND] = kind
    S[j, S_P_SIZE] = size
    S[j, S_P_LIMIT] = limit
    S[j, S_P_STOP] = stop
    S[j, S_P_EXPIRY] = expiry
    S[j, S_P_TRIG] = 0.0


@njit(cache=True, nogil=True)
def _place_order(
    bk: Book, rules: Rules, dec: Decisions, r: int, t: int, j: int, filled: bool, valid_to: int
) -> float:
    """Handle row ``r``'s explicit order for asset ``j``; return a market order's size to fill now.

    A cancel or a limit/stop order replaces the pending order (its prices on
    the tick grid); a market order on a bar without a market waits as the
    pending order. Return 0 unless a market order executes now.
    """
    kind = int(dec.ord_kind[r, j])
    if kind == 0:
        return 0.0
    if kind == KIND_CANCEL or kind != KIND_MARKET:
        _cancel_pending(bk, j, t)
    if kind == KIND_CANCEL:
        return 0.0
    size = dec.ord_size[r, j]
    if kind != KIND_MARKET or filled:
        tick = rules.tick[j]
        _set_pending(bk.S, j, kind, size, _round_tick_nearest(dec.ord_price[r, j], tick),
                     _round_tick_nearest(dec.ord_stop[r, j], tick), valid_to)  # fmt: skip
        return 0.0
    return float(size)


@njit(cache=True, nogil=True)
def _split_reduce(pos: float, size: float) -> tuple[float, float]:
    """Split a signed ``size`` against position ``pos`` into (the part that reduces, the rest)."""
    reduce = 0.0
    if pos * size < 0.0:
        reduce = max(size, -pos) if size < 0.0 else min(size, -pos)
    return reduce, size - reduce


@njit(cache=True, nogil=True)
def _decide_asset(
    bk: Book, rules: Rules, market: Market, dec: Decisions, r: int, t: int, j: int, valid_to: int
) -> float:
    """Return the part of asset ``j``'s decision that adds exposure (±inf: size at the fill).

    The part that reduces the position executes now; a limit/stop order (or an
    order on a bar without a market) becomes the asset's pending order.
    """
    S = bk.S
    cfg = rules.cfg
    mode = int(cfg[CFG_SIGNAL_MODE])
    filled = market.filled[t, j]
    px = bk.px
    a = dec.atr[r, j] if dec.atr.shape[0] > 0 else np.nan
    pos = S[j, S_POS]
    reduce = 0.0
    add = 0.0
    if mode == MODE_SIGNALS:
        if cfg[CFG_SKIP_SIGNALS_ON_STOP] > 0.0 and S[j, S_STOP_BAR] == r:
            return 0.0  # stopped out on the deciding bar: one order per asset and bar
        reduce, direction = _signal_action(S, cfg, dec, j, r)
        if direction != 0.0:
            add = direction * np.inf
    elif mode == MODE_TARGET:
        goal = dec.target[r, j]
        if np.isnan(goal) or filled:
            return 0.0  # a target on a bar without a market waits for the next target
        equity, _ = _valuation(bk)
        tk = int(cfg[CFG_TARGET_KIND])
        q = goal * equity / px[j] if tk == 0 else goal if tk == 1 else goal / px[j]
        delta = q - pos
        if abs(delta) * px[j] <= 1e-9 * max(abs(equity), 1.0):
            return 0.0
        reduce, add = _split_reduce(pos, delta)
    else:
        size = _place_order(bk, rules, dec, r, t, j, filled, valid_to)
        if size == 0.0:
            return 0.0  # none, a cancel, or placed as the pending order
        reduce, add = _split_reduce(pos, size)
    if filled:
        if reduce != 0.0 or mode == MODE_SIGNALS:
            _defer_signal(S, dec, j, r, valid_to)
        return 0.0
    if reduce != 0.0:
        _market(bk, rules, market, t, j, reduce, a, KIND_MARKET)
    return add


@njit(cache=True, nogil=True)
def execute_decisions(
    bk: Book, rules: Rules, market: Market, dec: Decisions, r: int, t: int, valid_to: int
) -> None:
    """Execute the decisions of row ``r`` at bar ``t``'s prices ``bk.px``.

    First every order that reduces a position (in asset order), then every
    order that adds exposure (in asset order), so sales free cash before
    purchases spend it.
    """
    k = bk.S.shape[0]
    adds = bk.adds  # signed units to add after the reductions; ±inf: size by the sizing rule
    mode = int(rules.cfg[CFG_SIGNAL_MODE])
    e, x, se, sx, tg, ok = (dec.entries, dec.exits, dec.short_entries, dec.short_exits,
                            dec.target, dec.ord_kind)  # fmt: skip
    for j in range(k):
        # An asset without a decision in row r is skipped here, not in _decide_asset:
        # a call with the named state costs reference counting per array (_state.borrowed).
        if mode == MODE_SIGNALS:
            idle = not (e[r, j] or x[r, j] or se[r, j] or sx[r, j])
        elif mode == MODE_TARGET:
            idle = tg[r, j] != tg[r, j]
        else:
            idle = ok[r, j] == 0
        adds[j] = 0.0 if idle else _decide_asset(bk, rules, market, dec, r, t, j, valid_to)
    signals = mode == MODE_SIGNALS
    vol, atr, px = dec.vol, dec.atr, bk.px
    for j in range(k):
        size = adds[j]
        if size == 0.0:
            continue
        if signals:
            equity, _ = _valuation(bk)
            v = vol[r, j] if vol.shape[0] > 0 else np.nan
            size = _entry_size(rules.cfg, 1.0 if size > 0.0 else -1.0, px[j], equity, v, bk.A)
            if size == 0.0:
                continue
        a = atr[r, j] if atr.shape[0] > 0 else np.nan
        _market(bk, rules, market, t, j, size, a, KIND_MARKET)


@njit(cache=True, nogil=True)
def next_active_row_nb(dec: Decisions, r: int, mode: int) -> int:
    """Return the first row at or after ``r`` (``r >= 0``) that holds a decision, else the row count.

    Bar loops call it once per decision row and keep the answer, rather than
    testing every row: a helper that receives arrays
    costs reference counting per call (see ``_state.borrowed``), which per bar
    exceeds the test itself.
    """
    if mode == MODE_SIGNALS:
        e, x, se, sx = dec.entries, dec.exits, dec.short_entries, dec.short_exits
        while r < e.shape[0]:
            for j in range(e.shape[1]):
                if e[r, j] or x[r, j] or se[r, j] or sx[r, j]:
                    return r
            r += 1
    elif mode == MODE_TARGET:
        tg = dec.target
        while r < tg.shape[0]:
            for j in range(tg.shape[1]):
                if tg[r, j] == tg[r, j]:
                    return r
            r += 1
    else:
        ok = dec.ord_kind
        while r < ok.shape[0]:
            for j in range(ok.shape[1]):
                if ok[r, j] != 0:
                    return r
            r += 1
    return r


# -- the bar ----------------------------------------------------------------------


@njit(cache=True, nogil=True)
def roll_day_nb(A: np.ndarray, day: int) -> None:
    """Start UTC day ``day`` if it is a new one: reset the order count and the daily-loss base."""
    if day != A[A_DAY]:
        A[A_DAY] = day
        A[A_ORDERS_TODAY] = 0.0
        A[A_DAY_START_EQ] = A[A_EQUITY]


@njit_inline
def funding_phase(bk: Book, market: Market, t: int) -> None:
    """Pay (or receive) each funding rate landing on bar ``t``, priced at the open."""
    S = bk.S
    funding, filled, open_ = market.funding, market.filled, market.open
    for j in range(S.shape[0]):
        rate = funding[t, j]
        pos = S[j, S_POS]
        if rate != 0.0 and pos != 0.0 and rate == rate:
            p = S[j, S_LAST] if filled[t, j] else open_[t, j]
            pay_funding(bk, t, j, rate, pos * p * rate)


@njit_inline
def pay_funding(bk: Book, t: int, j: int, rate: float, pay: float) -> None:
    """Book ``pay`` (quote; negative: received) of asset ``j``'s funding on bar ``t``: out of
    the cash, into the open trade's funding, one funding record. The live book books a venue's
    settlement with it (:meth:`~grekko_research.engine.book.EngineBook.fund`)."""
    bk.A[A_CASH] -= pay
    bk.S[j, S_TR_FUND] += pay
    i = int(bk.A[A_N_FUND])
    r = bk.frec[i]
    r.bar = t
    r.asset = j
    r.rate = rate
    r.amount = -pay
    bk.A[A_N_FUND] = i + 1


@njit_inline
def _has_stops(cfg: np.ndarray) -> bool:
    return bool(
        cfg[CFG_SL_KIND] != STOP_OFF
        or cfg[CFG_TP_KIND] != STOP_OFF
        or cfg[CFG_TRAIL_KIND] != STOP_OFF
    )


@njit_inline
def _atr_before(atr: np.ndarray, t: int, j: int) -> float:
    return atr[t - 1, j] if atr.shape[0] > 0 and t > 0 else np.nan


@njit_inline
def _open_prices(bk: Book, market: Market, t: int) -> None:
    px, filled, open_ = bk.px, market.filled, market.open
    for j in range(px.shape[0]):
        px[j] = np.nan if filled[t, j] else open_[t, j]


@njit_inline
def _open_stops(bk: Book, rules: Rules, market: Market, atr: np.ndarray, t: int, both: int) -> None:
    """Exit every position whose stop the bar's open (or its range, from the open) reaches."""
    S = bk.S
    filled, open_, high, low = market.filled, market.open, market.high, market.low
    for j in range(S.shape[0]):
        if not filled[t, j] and S[j, S_POS] != 0.0:
            kind, price = _stop_hit(S, j, open_[t, j], high[t, j], low[t, j], True, both)
            if kind != 0:
                _stop_exit(bk, rules, market, t, j, kind, price, _atr_before(atr, t, j))


@njit_inline
def open_phase(
    bk: Book,
    rules: Rules,
    market: Market,
    dec: Decisions,
    t: int,
    valid_to: int,
    active: bool,
    counts: tuple[int, int],
) -> tuple[int, int]:
    """Run bar ``t``'s open; return the (open positions, pending orders) counts after it."""
    S = bk.S
    A = bk.A
    cfg = rules.cfg
    n_open, n_pending = counts
    exec_close = cfg[CFG_EXEC_CLOSE] > 0.0
    has_stops = _has_stops(cfg)
    both = int(cfg[CFG_BOTH_TOUCH])
    flatten_due = A[A_FLATTEN_DUE] > 0.0
    need_open = (n_open > 0 and has_stops) or n_pending > 0 or flatten_due
    px_open = need_open or (active and not exec_close)
    if px_open:
        _open_prices(bk, market, t)
    if flatten_due and not exec_close:
        _flatten(bk, rules, market, t, KIND_RISK_FLATTEN)
        A[A_FLATTEN_DUE] = 0.0
    filled, atr = market.filled, dec.atr
    # Stops held by the venue are checked inside the bar only, after the open's decisions
    # (the runner cancels them before its own exit at the open).
    if n_open > 0 and has_stops and cfg[CFG_STOP_TRIGGER] == 0.0:
        _open_stops(bk, rules, market, atr, t, both)
    if active and not exec_close:
        execute_decisions(bk, rules, market, dec, t - 1, t, valid_to)
    if need_open or active:
        n_open, n_pending = _counts(S)
    # Pending orders (including ones just placed) that the open crosses fill at the open.
    if n_pending > 0:
        if not px_open:
            _open_prices(bk, market, t)
        for j in range(S.shape[0]):
            if not filled[t, j] and S[j, S_P_KIND] != 0.0:
                _try_pending(bk, rules, market, t, j, True, _atr_before(atr, t, j))
        n_open, n_pending = _counts(S)
    return n_open, n_pending


@njit_inline
def excursion_nb(S: np.ndarray, j: int, h: float, lo: float) -> None:
    """Extend the open trade's highest high and lowest low (MAE/MFE) by one bar's range."""
    if h > S[j, S_TR_MAXHIGH]:
        S[j, S_TR_MAXHIGH] = h
    if lo < S[j, S_TR_MINLOW]:
        S[j, S_TR_MINLOW] = lo


@njit_inline
def _trail_peak(S: np.ndarray, j: int, pos: float, h: float, lo: float) -> None:
    """Move the trailing stop's peak to the bar's best price (after the stop checks)."""
    if pos > 0.0:
        if h > S[j, S_TRAIL_PEAK]:
            S[j, S_TRAIL_PEAK] = h
    elif lo < S[j, S_TRAIL_PEAK]:
        S[j, S_TRAIL_PEAK] = lo


@njit_inline
def intrabar_phase(
    bk: Book, rules: Rules, market: Market, dec: Decisions, t: int, counts: tuple[int, int]
) -> tuple[int, int]:
    """Position stops, then pending orders, against bar ``t``'s range; excursions; liquidation."""
    n_open, n_pending = counts
    if n_open == 0 and n_pending == 0:
        return counts
    S = bk.S
    cfg = rules.cfg
    has_stops = _has_stops(cfg)
    both = int(cfg[CFG_BOTH_TOUCH])
    fresh_ok = cfg[CFG_STOPS_ON_ENTRY_BAR] > 0.0 and not cfg[CFG_EXEC_CLOSE] > 0.0
    venue = has_stops and cfg[CFG_STOP_TRIGGER] > 0.0
    filled, open_, high, low, atr = market.filled, market.open, market.high, market.low, dec.atr
    for j in range(S.shape[0]):
        if filled[t, j]:
            continue
        h = high[t, j]
        lo = low[t, j]
        pos = S[j, S_POS]
        if (has_stops and pos != 0.0) or S[j, S_P_KIND] != 0.0:
            a = _atr_before(atr, t, j)
            # A position opened at this bar's open is checked here only with on_entry_bar.
            fresh = S[j, S_ENTRY_FILL_BAR] == t
            if venue and pos != 0.0:  # on the venue from the entry's fill: its bar too
                _venue_stops(bk, rules, market, t, j, not fresh, a)
            elif has_stops and pos != 0.0 and (not fresh or fresh_ok):
                kind, price = _stop_hit(S, j, open_[t, j], h, lo, False, both)
                if kind != 0:
                    _stop_exit(bk, rules, market, t, j, kind, price, a)
            if S[j, S_P_KIND] != 0.0:
                _try_pending(bk, rules, market, t, j, False, a)
            pos = S[j, S_POS]
        if pos != 0.0:
            excursion_nb(S, j, h, lo)
            _trail_peak(S, j, pos, h, lo)  # after the stop checks
    if cfg[CFG_ALLOW_SHORT] > 0.0 or cfg[CFG_LEVERAGE] > 1.0:
        _check_liquidation(bk, rules, market, t)
    return _counts(S)


@njit_inline
def close_prices(bk: Book, market: Market, t: int) -> None:
    """Make bar ``t``'s closes the execution prices and the last known prices."""
    S, px, filled, close = bk.S, bk.px, market.filled, market.close
    for j in range(S.shape[0]):
        if not filled[t, j]:
            px[j] = close[t, j]
            S[j, S_LAST] = close[t, j]
        else:
            px[j] = np.nan


@njit_inline
def close_phase(
    bk: Book,
    rules: Rules,
    market: Market,
    dec: Decisions,
    t: int,
    valid_to: int,
    active: bool,
    counts: tuple[int, int],
) -> tuple[int, int]:
    """Close prices; with ``close`` timing a due risk flatten and this bar's decisions."""
    close_prices(bk, market, t)
    if rules.cfg[CFG_EXEC_CLOSE] > 0.0:
        if bk.A[A_FLATTEN_DUE] > 0.0:
            _flatten(bk, rules, market, t, KIND_RISK_FLATTEN)
            bk.A[A_FLATTEN_DUE] = 0.0
        if active:
            execute_decisions(bk, rules, market, dec, t, t, valid_to)
            return _counts(bk.S)
    return counts


@njit_inline
def mark_phase(bk: Book, rules: Rules, market: Market, t: int, n_open: int) -> tuple[float, bool]:
    """Mark to market at the last prices; apply the engine's flatten rule.

    Return (equity, whether a drawdown breach flattened at this close). A
    breach of ``portfolio.drawdown.flatten_at`` halts new exposure and
    flattens at the next execution point (this close with ``close`` timing).
    Sets the account's equity. The risk spec's breakers follow the mark
    (``engine/_risk.py``).
    """
    S = bk.S
    A = bk.A
    limits = rules.limits
    equity = A[A_CASH]
    if n_open > 0:
        for j in range(S.shape[0]):
            pos = S[j, S_POS]
            if pos != 0.0:
                equity += pos * S[j, S_LAST]
    if equity > A[A_PEAK]:
        A[A_PEAK] = equity
    flattened = False
    if (
        limits[LIM_MAX_DRAWDOWN] > 0.0
        and A[A_HALTED] == 0.0
        and drawdown_breached_nb(equity, A[A_PEAK], limits)
    ):
        A[A_HALTED] = 1.0
        A[A_FLATTEN_DUE] = 1.0
        _event(bk, t, -1, RULE_MAX_DRAWDOWN, 1.0 - equity / A[A_PEAK], limits[LIM_MAX_DRAWDOWN])
        if rules.cfg[CFG_EXEC_CLOSE] > 0.0:  # decisions fill at closes: flatten at this one
            _flatten(bk, rules, market, t, KIND_RISK_FLATTEN)
            A[A_FLATTEN_DUE] = 0.0
            equity, _ = _valuation(bk)
            flattened = True
    A[A_EQUITY] = equity
    return equity, flattened


@njit_inline
def expire_phase(bk: Book, t: int) -> None:
    """Expire the pending orders whose validity ends at bar ``t``."""
    S = bk.S
    for j in range(S.shape[0]):
        if S[j, S_P_KIND] != 0.0 and t >= S[j, S_P_EXPIRY]:
            _reject(bk, t, j, S[j, S_P_SIZE], S[j, S_P_LIMIT], int(S[j, S_P_KIND]),
                    STATUS_EXPIRED, 0)  # fmt: skip
            S[j, S_P_KIND] = 0.0
