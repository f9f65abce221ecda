"""The simulation kernel: bars, decisions and configuration in; records and series out.

Pure numba (``@njit(cache=True)``): no I/O, no clock, no Python objects. The
semantics are documented in ``docs/engine.md``; the phases of one bar are:

1. funding on positions carried into the bar (priced at the open);
2. open: stops and pending orders the open gaps through fill at the open;
   then (``next_open`` timing) the decisions of the previous bar execute,
   reducing orders first, then orders that add exposure;
3. intrabar: position stops, then pending limit/stop orders, against the
   bar's low–high range;
4. liquidation check (only with shorts or leverage);
5. close: (``close`` timing) the decisions of this bar execute at the close;
6. mark to market; drawdown and daily-loss rules; orders that expire.

Array shapes: prices, volume, masks and decision arrays are ``(n, k)`` (bars ×
assets); ``day`` is ``(n,)``; per-asset market rules are ``(k,)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from grekko_research.engine.layout import (
    A_BLOCK_DAY,
    A_CASH,
    A_DAY,
    A_DAY_START_EQ,
    A_EQUITY,
    A_FLATTEN_DUE,
    A_HALTED,
    A_N_EV,
    A_N_FUND,
    A_N_ORD,
    A_N_TR,
    A_ORDERS_TODAY,
    A_PEAK,
    CFG_ALLOW_SHORT,
    CFG_BOTH_TOUCH,
    CFG_EXEC_CLOSE,
    CFG_INIT_CASH,
    CFG_LEVERAGE,
    CFG_SIGNAL_MODE,
    CFG_SKIP_SIGNALS_ON_STOP,
    CFG_SL_KIND,
    CFG_STOPS_ON_ENTRY_BAR,
    CFG_TARGET_KIND,
    CFG_TP_KIND,
    CFG_TRAIL_KIND,
    CFG_VALID_BARS,
    EVENT_FIELDS,
    F_AMOUNT,
    F_ASSET,
    F_BAR,
    F_RATE,
    FUNDING_FIELDS,
    KIND_CANCEL,
    KIND_MARKET,
    KIND_RISK_FLATTEN,
    MODE_SIGNALS,
    MODE_TARGET,
    N_ACCOUNT,
    N_STATE,
    ORDER_FIELDS,
    S_ENTRY_FILL_BAR,
    S_LAST,
    S_P_EXPIRY,
    S_P_KIND,
    S_P_LIMIT,
    S_P_SIZE,
    S_P_STOP,
    S_P_TRIG,
    S_POS,
    S_SL,
    S_STOP_BAR,
    S_TP,
    S_TR_FUND,
    S_TR_MAXHIGH,
    S_TR_MINLOW,
    S_TRAIL_D,
    S_TRAIL_PEAK,
    STATUS_EXPIRED,
    STOP_OFF,
    TRADE_FIELDS,
)
from grekko_research.engine.nb_orders import (
    _cancel_pending,
    _check_liquidation,
    _counts,
    _entry_size,
    _event,
    _flatten,
    _grow,
    _order,
    _round_tick_nearest,
    _slipped,
    _stop_exit,
    _stop_hit,
    _submit,
    _try_pending,
    _valuation,
    _write_trade,
)
from grekko_research.risk.rules import (
    LIM_DAILY_LOSS,
    LIM_MAX_DRAWDOWN,
    LIM_MAX_ORDERS_PER_DAY,
    RULE_DAILY_LOSS,
    RULE_MAX_DRAWDOWN,
    daily_loss_breached_nb,
    drawdown_breached_nb,
)

__all__ = ["init_state_nb", "simulate_nb"]


@njit(cache=True, nogil=True)
def _signal_action(
    S: np.ndarray,
    cfg: np.ndarray,
    j: int,
    r: int,
    entries: np.ndarray,
    exits: np.ndarray,
    short_entries: np.ndarray,
    short_exits: np.ndarray,
) -> tuple[float, float]:
    """Return (size that closes, direction to open afterwards) for the signals of row ``r``.

    Conflicting signals on one row (entry and exit, or long and short entry)
    cancel each other. An entry against an open position reverses it (a short
    entry only when shorting is allowed); an entry in the direction already
    held does nothing.
    """
    pos = S[j, S_POS]
    e = entries[r, j]
    x = exits[r, j]
    se = short_entries[r, j] and cfg[CFG_ALLOW_SHORT] > 0.0
    sx = short_exits[r, j]
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
def _market(
    S: np.ndarray,
    A: np.ndarray,
    orec: np.ndarray,
    trec: np.ndarray,
    erec: np.ndarray,
    cfg: np.ndarray,
    limits: np.ndarray,
    lot: np.ndarray,
    tick: np.ndarray,
    min_notional: np.ndarray,
    px: np.ndarray,
    j: int,
    t: int,
    size: float,
    high: np.ndarray,
    low: np.ndarray,
    volume: np.ndarray,
    atr: float,
    kind: int,
) -> float:
    """Fill a market order of ``size`` units (±inf: all the buying power) at ``px[j]`` plus slippage."""
    price = px[j]
    side = 1.0 if size > 0.0 else -1.0
    fill = _slipped(price, side, 0.0 if np.isinf(size) else size, high[t, j], low[t, j],
                    volume[t, j], tick[j], cfg)  # fmt: skip
    if np.isinf(size):
        size = side * 1e300  # capped by the buying power in _submit
    return _submit(S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, px, j, t, size, fill,
                   kind, False, fill - price, atr)  # fmt: skip


@njit(cache=True, nogil=True)
def _execute_decisions(
    r: int,
    t: int,
    px: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    orec: np.ndarray,
    trec: np.ndarray,
    erec: np.ndarray,
    cfg: np.ndarray,
    limits: np.ndarray,
    lot: np.ndarray,
    tick: np.ndarray,
    min_notional: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    volume: np.ndarray,
    filled: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    short_entries: np.ndarray,
    short_exits: np.ndarray,
    target: np.ndarray,
    ord_kind: np.ndarray,
    ord_size: np.ndarray,
    ord_price: np.ndarray,
    ord_stop: np.ndarray,
    atr: np.ndarray,
    vol: np.ndarray,
    valid_to: int,
    adds: np.ndarray,
) -> None:
    """Execute the decisions of row ``r`` at bar ``t``'s prices ``px``.

    First every order that reduces a position (in asset order), then every
    order that adds exposure (in asset order), so sales free cash before
    purchases spend it.
    """
    k = S.shape[0]
    mode = int(cfg[CFG_SIGNAL_MODE])
    has_atr = atr.shape[0] > 0
    has_vol = vol.shape[0] > 0
    skip_after_stop = cfg[CFG_SKIP_SIGNALS_ON_STOP] > 0.0
    # adds[j]: signed units to add after the reductions; ±inf: size by the sizing rule
    for j in range(k):
        adds[j] = 0.0
        a = atr[r, j] if has_atr else np.nan
        pos = S[j, S_POS]
        reduce = 0.0
        if mode == MODE_SIGNALS:
            if skip_after_stop and S[j, S_STOP_BAR] == r:
                continue  # stopped out on the deciding bar: one order per asset and bar
            reduce, direction = _signal_action(S, cfg, j, r, entries, exits, short_entries,
                                               short_exits)  # fmt: skip
            if direction != 0.0:
                adds[j] = direction * np.inf
        elif mode == MODE_TARGET:
            goal = target[r, j]
            if np.isnan(goal) or filled[t, j]:
                continue  # a target on a bar without a market waits for the next target
            equity, _ = _valuation(S, A, px)
            tk = int(cfg[CFG_TARGET_KIND])
            q = goal * equity / px[j] if tk == 0 else goal if tk == 1 else goal / px[j]
            delta = q - pos
            if abs(delta) * px[j] <= 1e-9 * max(abs(equity), 1.0):
                continue
            if pos * delta < 0.0:
                reduce = max(delta, -pos) if delta < 0.0 else min(delta, -pos)
            adds[j] = delta - reduce
        else:
            kind = int(ord_kind[r, j])
            if kind == 0:
                continue
            if kind == KIND_CANCEL or kind != KIND_MARKET:
                _cancel_pending(S, A, orec, j, t)
            if kind == KIND_CANCEL:
                continue
            size = ord_size[r, j]
            if kind != KIND_MARKET or filled[t, j]:
                S[j, S_P_KIND] = kind
                S[j, S_P_SIZE] = size
                S[j, S_P_LIMIT] = _round_tick_nearest(ord_price[r, j], tick[j])
                S[j, S_P_STOP] = _round_tick_nearest(ord_stop[r, j], tick[j])
                S[j, S_P_EXPIRY] = valid_to
                S[j, S_P_TRIG] = 0.0
                continue
            if pos * size < 0.0:
                reduce = max(size, -pos) if size < 0.0 else min(size, -pos)
            adds[j] = size - reduce
        if filled[t, j]:
            adds[j] = 0.0
            if reduce != 0.0 or mode == MODE_SIGNALS:
                _defer_signal(S, j, r, t, entries, exits, short_entries, short_exits, valid_to)
            continue
        if reduce != 0.0:
            _market(S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, px, j, t, reduce,
                    high, low, volume, a, KIND_MARKET)  # fmt: skip
    for j in range(k):
        size = adds[j]
        if size == 0.0:
            continue
        if mode == MODE_SIGNALS:
            equity, _ = _valuation(S, A, px)
            v = vol[r, j] if has_vol else np.nan
            size = _entry_size(cfg, 1.0 if size > 0.0 else -1.0, px[j], equity, v, A)
            if size == 0.0:
                continue
        a = atr[r, j] if has_atr else np.nan
        _market(S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, px, j, t, size, high, low,
                volume, a, KIND_MARKET)  # fmt: skip


@njit(cache=True, nogil=True)
def _defer_signal(
    S: np.ndarray,
    j: int,
    r: int,
    t: int,
    entries: np.ndarray,
    exits: np.ndarray,
    short_entries: np.ndarray,
    short_exits: np.ndarray,
    valid_to: int,
) -> None:
    """Keep a signal whose bar has no market as a pending market order (size fixed now)."""
    pos = S[j, S_POS]
    size = 0.0
    if (pos > 0.0 and (exits[r, j] or short_entries[r, j])) or (
        pos < 0.0 and (short_exits[r, j] or entries[r, j])
    ):
        size = -pos
    elif pos == 0.0 and entries[r, j] and not exits[r, j]:
        size = np.inf
    if size != 0.0:
        S[j, S_P_KIND] = KIND_MARKET
        S[j, S_P_SIZE] = size
        S[j, S_P_LIMIT] = np.nan
        S[j, S_P_STOP] = np.nan
        S[j, S_P_EXPIRY] = valid_to
        S[j, S_P_TRIG] = 0.0


@njit(cache=True, nogil=True, inline="always")
def _row_active(
    r: int,
    mode: int,
    entries: np.ndarray,
    exits: np.ndarray,
    short_entries: np.ndarray,
    short_exits: np.ndarray,
    target: np.ndarray,
    ord_kind: np.ndarray,
) -> bool:
    """Return True when row ``r`` holds a decision for any asset."""
    if r < 0:
        return False
    k = (
        entries.shape[1]
        if mode == MODE_SIGNALS
        else (target.shape[1] if mode == MODE_TARGET else ord_kind.shape[1])
    )
    for j in range(k):
        if mode == MODE_SIGNALS:
            if entries[r, j] or exits[r, j] or short_entries[r, j] or short_exits[r, j]:
                return True
        elif mode == MODE_TARGET:
            if target[r, j] == target[r, j]:
                return True
        elif ord_kind[r, j] != 0:
            return True
    return False


@njit(cache=True, nogil=True)
def _quiet_span(
    t0: int,
    lag: int,
    mode: int,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    filled: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    short_entries: np.ndarray,
    short_exits: np.ndarray,
    target: np.ndarray,
    ord_kind: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    equity_out: np.ndarray,
) -> int:
    """Process bars from ``t0`` on while nothing can happen in them; return the first other bar.

    A bar is quiet when no decision executes in it (row ``t − lag`` is empty)
    and no position stop can trigger in it; it only marks positions to market
    and tracks their excursions. Callers ensure there are no pending orders,
    trailing stops, funding, liquidation or per-bar risk rules.
    """
    n, k = close.shape
    cash = A[A_CASH]
    peak = A[A_PEAK]
    t = t0
    while t < n:
        if _row_active(t - lag, mode, entries, exits, short_entries, short_exits, target, ord_kind):
            break
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
                if h > S[j, S_TR_MAXHIGH]:
                    S[j, S_TR_MAXHIGH] = h
                if lo < S[j, S_TR_MINLOW]:
                    S[j, S_TR_MINLOW] = lo
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
    index: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    filled: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    short_entries: np.ndarray,
    short_exits: np.ndarray,
    target: np.ndarray,
    ord_kind: np.ndarray,
    ord_size: np.ndarray,
    ord_price: np.ndarray,
    ord_stop: np.ndarray,
    funding: np.ndarray,
    atr: np.ndarray,
    vol: np.ndarray,
    lot: np.ndarray,
    tick: np.ndarray,
    min_notional: np.ndarray,
    cfg: np.ndarray,
    limits: np.ndarray,
    equity_out: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Run one backtest and fill ``equity_out`` ``(n,)`` with the equity at each close.

    ``index`` is ``(n,)`` bar open times in ms; ``filled`` ``(n, k)`` marks bars
    without a market (nothing fills there; their prices may be NaN). Decision
    arrays not used by the configured signal mode may be ``(0, 0)``, as may
    ``funding``, ``atr`` and ``vol`` when unused. Return the order, trade,
    risk-event and funding records (columns ``ORDER_FIELDS``,
    ``TRADE_FIELDS``, ``EVENT_FIELDS`` and ``FUNDING_FIELDS``).
    """
    n, k = close.shape
    S, A = init_state_nb(k, cfg, index[0] // 86_400_000 if n > 0 else 0)
    orec = np.empty((64 + 8 * k, len(ORDER_FIELDS)))
    trec = np.empty((32 + 4 * k, len(TRADE_FIELDS)))
    erec = np.empty((16 + 2 * k, len(EVENT_FIELDS)))
    frec = np.empty((16 + 2 * k, len(FUNDING_FIELDS)))
    px = np.full(k, np.nan)
    adds = np.zeros(k)
    t = 0
    # Records grow between chunks of bars, never inside the bar loop: a record
    # array reassigned in the hot loop costs reference counting on every bar.
    while t < n:
        orec = _grow(orec, int(A[A_N_ORD]) + 64 * k + 64)
        trec = _grow(trec, int(A[A_N_TR]) + 32 * k + 32)
        erec = _grow(erec, int(A[A_N_EV]) + 16 * k + 16)
        frec = _grow(frec, int(A[A_N_FUND]) + 16 * k + 16)
        t = _run_bars(
            t, index, open_, high, low, close, volume, filled, entries, exits, short_entries,
            short_exits, target, ord_kind, ord_size, ord_price, ord_stop, funding, atr, vol, lot,
            tick, min_notional, cfg, limits, equity_out, S, A, orec, trec, erec, frec, px, adds,
        )  # fmt: skip
    # Positions still open at the end are reported as open trades, marked at the last price.
    trec = _grow(trec, int(A[A_N_TR]) + k + 1)
    for j in range(k):
        if S[j, S_POS] != 0.0:
            _write_trade(trec, A, S, j, n - 1, 0, S[j, S_LAST])
    return (
        orec[: int(A[A_N_ORD])].copy(),
        trec[: int(A[A_N_TR])].copy(),
        erec[: int(A[A_N_EV])].copy(),
        frec[: int(A[A_N_FUND])].copy(),
    )


@njit(cache=True, nogil=True)
def _run_bars(
    t0: int,
    index: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    filled: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    short_entries: np.ndarray,
    short_exits: np.ndarray,
    target: np.ndarray,
    ord_kind: np.ndarray,
    ord_size: np.ndarray,
    ord_price: np.ndarray,
    ord_stop: np.ndarray,
    funding: np.ndarray,
    atr: np.ndarray,
    vol: np.ndarray,
    lot: np.ndarray,
    tick: np.ndarray,
    min_notional: np.ndarray,
    cfg: np.ndarray,
    limits: np.ndarray,
    equity_out: np.ndarray,
    S: np.ndarray,
    A: np.ndarray,
    orec: np.ndarray,
    trec: np.ndarray,
    erec: np.ndarray,
    frec: np.ndarray,
    px: np.ndarray,
    adds: np.ndarray,
) -> int:
    """Simulate bars from ``t0`` until the end or until a record array nears capacity.

    Return the next bar to simulate.
    """
    n, k = close.shape
    exec_close = cfg[CFG_EXEC_CLOSE] > 0.0
    both = int(cfg[CFG_BOTH_TOUCH])
    on_entry_bar = cfg[CFG_STOPS_ON_ENTRY_BAR] > 0.0
    valid = int(cfg[CFG_VALID_BARS])
    has_funding = funding.shape[0] > 0
    has_atr = atr.shape[0] > 0
    may_liquidate = cfg[CFG_ALLOW_SHORT] > 0.0 or cfg[CFG_LEVERAGE] > 1.0
    mode = int(cfg[CFG_SIGNAL_MODE])
    has_stops = (
        cfg[CFG_SL_KIND] != STOP_OFF
        or cfg[CFG_TP_KIND] != STOP_OFF
        or cfg[CFG_TRAIL_KIND] != STOP_OFF
    )
    dd_on = limits[LIM_MAX_DRAWDOWN] > 0.0
    daily_on = limits[LIM_DAILY_LOSS] > 0.0
    days_matter = daily_on or limits[LIM_MAX_ORDERS_PER_DAY] > 0.0
    ord_room = orec.shape[0] - 16 * k - 16
    tr_room = trec.shape[0] - 8 * k - 8
    ev_room = erec.shape[0] - 4 * k - 4
    fund_room = frec.shape[0] - 2 * k - 2
    equity = A[A_EQUITY]
    n_open, n_pending = _counts(S)
    quiet_ok = (
        not has_funding
        and not dd_on
        and not days_matter
        and not may_liquidate
        and cfg[CFG_TRAIL_KIND] == STOP_OFF
    )
    lag = 0 if exec_close else 1
    t = t0 - 1
    while t < n - 1:
        t += 1
        if quiet_ok and n_pending == 0 and A[A_FLATTEN_DUE] == 0.0:
            u = _quiet_span(t, lag, mode, open_, high, low, close, filled, entries, exits,
                            short_entries, short_exits, target, ord_kind, S, A,
                            equity_out)  # fmt: skip
            if u >= n:
                return n
            if u > t:
                t = u
                equity = A[A_EQUITY]
        if A[A_N_ORD] > ord_room or A[A_N_TR] > tr_room or A[A_N_EV] > ev_room:
            return t
        if A[A_N_FUND] > fund_room:
            return t
        if days_matter:
            today = index[t] // 86_400_000
            if today != A[A_DAY]:
                A[A_DAY] = today
                A[A_ORDERS_TODAY] = 0.0
                A[A_DAY_START_EQ] = equity
        valid_to = t + valid if valid > 0 else n + 1
        # 1. funding on positions carried into the bar, at the open
        if has_funding and n_open > 0:
            for j in range(k):
                rate = funding[t, j]
                pos = S[j, S_POS]
                if rate != 0.0 and pos != 0.0 and rate == rate:
                    p = S[j, S_LAST] if filled[t, j] else open_[t, j]
                    pay = pos * p * rate
                    A[A_CASH] -= pay
                    S[j, S_TR_FUND] += pay
                    i = int(A[A_N_FUND])
                    frec[i, F_BAR] = t
                    frec[i, F_ASSET] = j
                    frec[i, F_RATE] = rate
                    frec[i, F_AMOUNT] = -pay
                    A[A_N_FUND] = i + 1
        # 2. open phase
        r = t if exec_close else t - 1
        active = _row_active(r, mode, entries, exits, short_entries, short_exits, target, ord_kind)
        flatten_due = A[A_FLATTEN_DUE] > 0.0
        need_open = (n_open > 0 and has_stops) or n_pending > 0 or flatten_due
        px_open = need_open or (active and not exec_close)
        if px_open:
            for j in range(k):
                px[j] = np.nan if filled[t, j] else open_[t, j]
        if flatten_due and not exec_close:
            _flatten(S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, px, t, high, low,
                     volume, filled, KIND_RISK_FLATTEN)  # fmt: skip
            A[A_FLATTEN_DUE] = 0.0
        if n_open > 0 and has_stops:
            for j in range(k):
                if not filled[t, j] and S[j, S_POS] != 0.0:
                    kind, price = _stop_hit(S, j, open_[t, j], high[t, j], low[t, j], True, both)
                    if kind != 0:
                        a = atr[t - 1, j] if has_atr and t > 0 else np.nan
                        _stop_exit(S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, px,
                                   j, t, kind, price, high, low, volume, a)  # fmt: skip
        if active and not exec_close:
            _execute_decisions(
                r, t, px, S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, high, low,
                volume, filled, entries, exits, short_entries, short_exits, target, ord_kind,
                ord_size, ord_price, ord_stop, atr, vol, valid_to, adds,
            )  # fmt: skip
        if need_open or active:
            n_open, n_pending = _counts(S)
        # Pending orders (including ones just placed) that the open crosses fill at the open.
        if n_pending > 0:
            if not px_open:
                for j in range(k):
                    px[j] = np.nan if filled[t, j] else open_[t, j]
            for j in range(k):
                if not filled[t, j] and S[j, S_P_KIND] != 0.0:
                    a = atr[t - 1, j] if has_atr and t > 0 else np.nan
                    _try_pending(S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, px,
                                 j, t, open_, high, low, volume, True, a)  # fmt: skip
            n_open, n_pending = _counts(S)
        # 3. intrabar phase: position stops, then pending orders; then excursions
        if n_open > 0 or n_pending > 0:
            for j in range(k):
                if filled[t, j]:
                    continue
                h = high[t, j]
                lo = low[t, j]
                pos = S[j, S_POS]
                if (has_stops and pos != 0.0) or S[j, S_P_KIND] != 0.0:
                    a = atr[t - 1, j] if has_atr and t > 0 else np.nan
                    if has_stops and pos != 0.0:
                        fresh = S[j, S_ENTRY_FILL_BAR] == t
                        if not fresh or (on_entry_bar and not exec_close):
                            kind, price = _stop_hit(S, j, open_[t, j], h, lo, False, both)
                            if kind != 0:
                                _stop_exit(S, A, orec, trec, erec, cfg, limits, lot, tick,
                                           min_notional, px, j, t, kind, price, high, low, volume,
                                           a)  # fmt: skip
                    if S[j, S_P_KIND] != 0.0:
                        _try_pending(S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional,
                                     px, j, t, open_, high, low, volume, False, a)  # fmt: skip
                    pos = S[j, S_POS]
                if pos != 0.0:
                    if h > S[j, S_TR_MAXHIGH]:
                        S[j, S_TR_MAXHIGH] = h
                    if lo < S[j, S_TR_MINLOW]:
                        S[j, S_TR_MINLOW] = lo
                    if pos > 0.0:
                        if h > S[j, S_TRAIL_PEAK]:
                            S[j, S_TRAIL_PEAK] = h
                    elif lo < S[j, S_TRAIL_PEAK]:
                        S[j, S_TRAIL_PEAK] = lo
            # 4. liquidation at the bar's worst prices
            if may_liquidate:
                _check_liquidation(S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, t,
                                   high, low, volume, filled)  # fmt: skip
            n_open, n_pending = _counts(S)
        # 5. close phase
        for j in range(k):
            if not filled[t, j]:
                px[j] = close[t, j]
                S[j, S_LAST] = close[t, j]
            else:
                px[j] = np.nan
        if exec_close:
            if A[A_FLATTEN_DUE] > 0.0:
                _flatten(S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, px, t, high,
                         low, volume, filled, KIND_RISK_FLATTEN)  # fmt: skip
                A[A_FLATTEN_DUE] = 0.0
            if active:
                _execute_decisions(
                    r, t, px, S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, high,
                    low, volume, filled, entries, exits, short_entries, short_exits, target,
                    ord_kind, ord_size, ord_price, ord_stop, atr, vol, valid_to, adds,
                )  # fmt: skip
                n_open, n_pending = _counts(S)
        # 6. mark to market, risk rules, expiry
        equity = A[A_CASH]
        if n_open > 0:
            for j in range(k):
                pos = S[j, S_POS]
                if pos != 0.0:
                    equity += pos * S[j, S_LAST]
        if equity > A[A_PEAK]:
            A[A_PEAK] = equity
        if dd_on and A[A_HALTED] == 0.0 and drawdown_breached_nb(equity, A[A_PEAK], limits):
            A[A_HALTED] = 1.0
            A[A_FLATTEN_DUE] = 1.0
            _event(erec, A, t, -1, RULE_MAX_DRAWDOWN, 1.0 - equity / A[A_PEAK],
                   limits[LIM_MAX_DRAWDOWN])  # fmt: skip
            if exec_close:  # decisions fill at closes: flatten at this one
                _flatten(S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, px, t, high,
                         low, volume, filled, KIND_RISK_FLATTEN)  # fmt: skip
                A[A_FLATTEN_DUE] = 0.0
                equity, _ = _valuation(S, A, px)
                n_open, n_pending = _counts(S)
        if (
            daily_on
            and A[A_BLOCK_DAY] != A[A_DAY]
            and daily_loss_breached_nb(equity, A[A_DAY_START_EQ], limits)
        ):
            A[A_BLOCK_DAY] = A[A_DAY]
            _event(erec, A, t, -1, RULE_DAILY_LOSS, 1.0 - equity / A[A_DAY_START_EQ],
                   limits[LIM_DAILY_LOSS])  # fmt: skip
        if n_pending > 0:
            for j in range(k):
                if S[j, S_P_KIND] != 0.0 and t >= S[j, S_P_EXPIRY]:
                    _order(orec, A, t, j, S[j, S_P_SIZE], S[j, S_P_LIMIT], 0.0,
                           int(S[j, S_P_KIND]), STATUS_EXPIRED, 0, 0.0)  # fmt: skip
                    S[j, S_P_KIND] = 0.0
            n_open, n_pending = _counts(S)
        equity_out[t] = equity
        A[A_EQUITY] = equity
    return n
