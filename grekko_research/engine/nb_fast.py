"""A lean kernel for the most common configuration, equal to the general one where it applies.

The general kernel (:mod:`grekko_research.engine.nb`) pays for its generality
on every bar and order: state lives in shared arrays that many helpers touch.
This kernel covers the configuration most research runs use — entry/exit
signals, long only, no leverage, taker and fixed fees, sizing by cash, units,
notional or percent of equity, percentage or absolute stop-loss and
take-profit, no slippage, market rules, risk limits, funding or bars without
a market — with its state in local scalars and small per-asset arrays.
:func:`grekko_research.engine.api.backtest` picks it automatically; a
property test proves it produces the same records as the general kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from grekko_research.engine.layout import (
    CFG_BOTH_TOUCH,
    CFG_EXEC_CLOSE,
    CFG_FEE_FIXED,
    CFG_FEE_TAKER,
    CFG_INIT_CASH,
    CFG_LEVERAGE,
    CFG_SIZE_KIND,
    CFG_SIZE_VALUE,
    CFG_SKIP_SIGNALS_ON_STOP,
    CFG_SL_KIND,
    CFG_SL_VALUE,
    CFG_STOPS_ON_ENTRY_BAR,
    CFG_TP_KIND,
    CFG_TP_VALUE,
    DUST,
    EPS,
    KIND_MARKET,
    KIND_STOP_LOSS,
    KIND_TAKE_PROFIT,
    SIZE_ALL,
    SIZE_CASH_PERCENT,
    SIZE_NOTIONAL,
    SIZE_PERCENT,
    SIZE_UNITS,
    STOP_ABS,
    STOP_PCT,
)
from grekko_research.engine.nb_orders import covers_fees_nb

__all__ = ["simulate_simple_nb"]

# per-asset state columns
_POS = 0
_AVG = 1
_ENTRY_BAR = 2
_ENTRY_VALUE = 3
_EXIT_VALUE = 4
_PEAK = 5
_FEES = 6
_MIN_LOW = 7
_MAX_HIGH = 8
_SL = 9
_TP = 10
_FILL_BAR = 11
_STOP_BAR = 12
_N_STATE = 13


@njit(cache=True, nogil=True)
def simulate_simple_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    cfg: np.ndarray,
    equity_out: np.ndarray,
    excursions: bool,
    order_cap: int,
    trade_cap: int,
) -> tuple[np.ndarray, np.ndarray, float]:
    """Run a long-only signal backtest; return order and trade records like ``simulate_nb``.

    ``open_``/``high``/``low``/``close``/``entries``/``exits`` are ``(n, k)``;
    every bar must have a market. ``order_cap``/``trade_cap`` bound the
    records (at most one order per signal and one stop exit per entry).

    A sale whose fees exceed its proceeds by more than the cash (a large fixed
    fee on a small position) is refused by the general kernel; this kernel
    then returns empty records and a NaN final equity, and the caller runs the
    general kernel instead.

    The per-bar work is optional, so that a run that only needs its records
    touches the prices only on bars that trade: ``equity_out`` ``(n,)``
    receives the equity at each close, or is skipped when it has length 0;
    ``excursions`` False skips tracking each trade's lowest low and highest
    high, and the trade records' MAE/MFE columns are then meaningless. The
    third value returned is the final equity (cash plus the open positions
    at the last close).
    """
    n, k = close.shape
    if k == 1:
        return _simulate_one_nb(
            open_[:, 0], high[:, 0], low[:, 0], close[:, 0], entries[:, 0], exits[:, 0], cfg,
            equity_out, excursions, order_cap, trade_cap,
        )  # fmt: skip
    orders = np.empty((order_cap, 10))
    trades = np.empty((trade_cap, 15))
    n_ord = 0
    n_tr = 0
    cash = cfg[CFG_INIT_CASH]
    fee = cfg[CFG_FEE_TAKER]
    fixed = cfg[CFG_FEE_FIXED]
    lev = cfg[CFG_LEVERAGE]
    size_kind = int(cfg[CFG_SIZE_KIND])
    size_value = cfg[CFG_SIZE_VALUE]
    exec_close = cfg[CFG_EXEC_CLOSE] > 0.0
    sl_kind = int(cfg[CFG_SL_KIND])
    tp_kind = int(cfg[CFG_TP_KIND])
    sl_value = cfg[CFG_SL_VALUE]
    tp_value = cfg[CFG_TP_VALUE]
    has_stops = sl_kind != 0 or tp_kind != 0
    tp_first = cfg[CFG_BOTH_TOUCH] > 0.0
    on_entry_bar = cfg[CFG_STOPS_ON_ENTRY_BAR] > 0.0
    skip_after_stop = cfg[CFG_SKIP_SIGNALS_ON_STOP] > 0.0
    st = np.zeros((k, _N_STATE))
    st[:, _SL] = np.nan
    st[:, _TP] = np.nan
    st[:, _FILL_BAR] = -1.0
    st[:, _STOP_BAR] = -1.0
    n_open = 0
    track_equity = equity_out.shape[0] > 0
    next_signal = -1
    t = 0
    while t < n:
        if has_stops and n_open > 0:  # stops the open gaps through
            n_ord, n_tr, cash, n_open = _stops(
                t, True, open_, high, low, st, orders, trades, n_ord, n_tr, cash, n_open, fee,
                fixed, tp_first, on_entry_bar, exec_close,
            )  # fmt: skip
        r = t - 1
        if not exec_close and r >= 0:  # decisions of the previous close, at this open
            signal = False
            for j in range(k):
                if entries[r, j] or exits[r, j]:
                    signal = True
                    break
            if signal:
                n_ord, n_tr, cash, n_open = _decide(
                    r, t, open_, entries, exits, st, orders, trades, n_ord, n_tr, cash, n_open,
                    fee, fixed, lev, size_kind, size_value, sl_kind, sl_value, tp_kind, tp_value,
                    skip_after_stop,
                )  # fmt: skip
        if has_stops and n_open > 0:  # stops inside the bar
            n_ord, n_tr, cash, n_open = _stops(
                t, False, open_, high, low, st, orders, trades, n_ord, n_tr, cash, n_open, fee,
                fixed, tp_first, on_entry_bar, exec_close,
            )  # fmt: skip
        if excursions and n_open > 0:
            for j in range(k):
                if st[j, _POS] != 0.0:
                    h = high[t, j]
                    lo = low[t, j]
                    if h > st[j, _MAX_HIGH]:
                        st[j, _MAX_HIGH] = h
                    if lo < st[j, _MIN_LOW]:
                        st[j, _MIN_LOW] = lo
        if exec_close:
            signal = False
            for j in range(k):
                if entries[t, j] or exits[t, j]:
                    signal = True
                    break
            if signal:
                n_ord, n_tr, cash, n_open = _decide(
                    t, t, close, entries, exits, st, orders, trades,
                    n_ord, n_tr, cash, n_open, fee, fixed, lev, size_kind, size_value, sl_kind,
                    sl_value, tp_kind, tp_value, skip_after_stop,
                )  # fmt: skip
        if cash != cash:  # a sale the cash could not pay: out of scope (see _sell_all)
            return orders[:0], trades[:0], np.nan
        if track_equity:
            equity = cash
            if n_open > 0:
                for j in range(k):
                    if st[j, _POS] != 0.0:
                        equity += st[j, _POS] * close[t, j]
            equity_out[t] = equity
        # Fast-forward through the following bars that decide and fill nothing.
        first = t + 1 if exec_close else t  # first decision row still to be seen
        if next_signal < first:  # else it is still the first signal row >= first
            next_signal = _next_signal_row(entries, exits, first)
        quiet_end = next_signal  # exclusive
        if not exec_close:
            quiet_end += 1  # row r's decisions fill at bar r + 1: bars up to r are quiet
        quiet_end = min(quiet_end, n)
        if quiet_end > t + 1 and not (has_stops and n_open > 0):
            if track_equity or (excursions and n_open > 0):
                _hold(t + 1, quiet_end, high, low, close, st, cash, n_open, equity_out, excursions)
            t = quiet_end
        else:
            t += 1
    final = cash
    for j in range(k):
        if st[j, _POS] != 0.0:
            final += st[j, _POS] * close[n - 1, j]
            n_tr = _write_trade(trades, n_tr, st, j, n - 1, 0, st[j, _POS], close[n - 1, j], 0.0)
    # Views, not copies: the untouched tail of each buffer is never paged in.
    return orders[:n_ord], trades[:n_tr], final


@njit(cache=True, nogil=True, inline="always")
def _wanted_size(
    size_kind: int, size_value: float, price: float, equity: float, cash: float, fee: float
) -> float:
    """Units an entry asks for before the buying-power cap; 0 means none (or an unknown kind)."""
    if size_kind == SIZE_ALL:
        return 1e300
    if size_kind == SIZE_UNITS:
        return size_value
    if size_kind == SIZE_NOTIONAL:
        return size_value / price
    if size_kind == SIZE_PERCENT:
        return size_value * equity / price
    if size_kind == SIZE_CASH_PERCENT:
        return size_value * max(cash, 0.0) / (price * (1.0 + fee))
    return 0.0


@njit(cache=True, nogil=True)
def _simulate_one_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    cfg: np.ndarray,
    equity_out: np.ndarray,
    excursions: bool,
    order_cap: int,
    trade_cap: int,
) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`simulate_simple_nb` for one asset, its state in scalars (``(n,)`` inputs).

    The same rules in the same order with the same arithmetic, so the same
    records to the bit (a property test checks it against the general
    kernel); it exists because one asset is the most common case and
    scalars in registers make each fill about twice as cheap as rows of a
    state table. Bars without a signal or a live stop are skipped.
    """
    n = close.shape[0]
    orders = np.empty((order_cap, 10))
    trades = np.empty((trade_cap, 15))
    n_ord = 0
    n_tr = 0
    cash = cfg[CFG_INIT_CASH]
    fee = cfg[CFG_FEE_TAKER]
    fixed = cfg[CFG_FEE_FIXED]
    lev = cfg[CFG_LEVERAGE]
    size_kind = int(cfg[CFG_SIZE_KIND])
    size_value = cfg[CFG_SIZE_VALUE]
    exec_close = cfg[CFG_EXEC_CLOSE] > 0.0
    sl_kind = int(cfg[CFG_SL_KIND])
    tp_kind = int(cfg[CFG_TP_KIND])
    sl_value = cfg[CFG_SL_VALUE]
    tp_value = cfg[CFG_TP_VALUE]
    has_stops = sl_kind != 0 or tp_kind != 0
    tp_first = cfg[CFG_BOTH_TOUCH] > 0.0
    on_entry_bar = cfg[CFG_STOPS_ON_ENTRY_BAR] > 0.0
    skip_after_stop = cfg[CFG_SKIP_SIGNALS_ON_STOP] > 0.0
    track_equity = equity_out.shape[0] > 0
    # the open trade
    pos = 0.0
    avg = 0.0
    entry_bar = 0.0
    entry_value = 0.0
    exit_value = 0.0
    peak = 0.0
    fees = 0.0
    min_low = 0.0
    max_high = 0.0
    sl = np.nan
    tp = np.nan
    fill_bar = -1
    stop_bar = -1
    next_signal = -1
    t = 0
    while t < n:
        for phase in range(
            4
        ):  # 0 stops at the open, 1 decisions at the open, 2 stops in the bar, 3 at the close
            kind = 0
            price = 0.0
            if phase == 0 or phase == 2:
                if not has_stops or pos == 0.0:
                    continue
                if fill_bar == t and (phase == 0 or not on_entry_bar or exec_close):
                    continue
                if phase == 0:
                    o = open_[t]
                    if sl == sl and o <= sl:
                        kind, price = KIND_STOP_LOSS, o
                    elif tp == tp and o >= tp:
                        kind, price = KIND_TAKE_PROFIT, o
                else:
                    hit_s = sl == sl and low[t] <= sl
                    hit_p = tp == tp and high[t] >= tp
                    if hit_s and hit_p:
                        kind, price = (KIND_TAKE_PROFIT, tp) if tp_first else (KIND_STOP_LOSS, sl)
                    elif hit_s:
                        kind, price = KIND_STOP_LOSS, sl
                    elif hit_p:
                        kind, price = KIND_TAKE_PROFIT, tp
                if kind == 0:
                    continue
                stop_bar = t
            else:
                if phase == 1:
                    if exec_close or t == 0:
                        continue
                    r = t - 1
                    price = open_[t]
                else:
                    if excursions and pos != 0.0:  # the bar's range, before the close's decisions
                        max_high = max(max_high, high[t])
                        min_low = min(min_low, low[t])
                    if not exec_close:
                        continue
                    r = t
                    price = close[t]
                if not (entries[r] or exits[r]) or (skip_after_stop and stop_bar == r):
                    continue
                if pos > 0.0 and exits[r] and not entries[r]:
                    kind = KIND_MARKET
                elif pos == 0.0 and entries[r] and not exits[r]:
                    equity = cash
                    size = _wanted_size(size_kind, size_value, price, equity, cash, fee)
                    if size == 0.0:
                        continue
                    room = lev * (equity - fixed) - 0.0
                    cap = room / (price * (1.0 + lev * fee)) if room > 0.0 else 0.0
                    if size > cap:
                        size = cap
                        if size * price <= DUST * max(abs(equity), 1.0):
                            _order(orders, n_ord, t, 0, 1.0, price, 0.0, KIND_MARKET, 3)
                            n_ord += 1
                            continue
                    paid = size * price * fee + fixed
                    cash -= size * price + paid
                    _order(orders, n_ord, t, 0, size, price, paid, KIND_MARKET, 0)
                    n_ord += 1
                    pos = size
                    avg = (0.0 * 0.0 + price * size) / (0.0 + size)
                    entry_bar = t
                    entry_value = size * price
                    exit_value = 0.0
                    peak = size
                    fees = paid
                    min_low = price
                    max_high = price
                    fill_bar = t
                    sl = np.nan
                    tp = np.nan
                    if sl_kind == STOP_PCT:
                        sl = price - price * sl_value
                    elif sl_kind == STOP_ABS:
                        sl = price - sl_value
                    if tp_kind == STOP_PCT:
                        tp = price + price * tp_value
                    elif tp_kind == STOP_ABS:
                        tp = price + tp_value
                    continue
                else:
                    continue
            # close the long at `price` (a stop or an exit signal)
            size = pos
            if not covers_fees_nb(cash, -size, price, fee, fixed):
                return orders[:0], trades[:0], np.nan  # a refused sale: the general kernel's case
            paid = size * price * fee + fixed
            cash -= -size * price + paid
            _order(orders, n_ord, t, 0, -size, price, paid, kind, 0)
            n_ord += 1
            fees += paid
            exit_value += size * price
            pos = 0.0
            n_tr = _trade_row(
                trades, n_tr, 0, t, kind, 0.0, price, size * (price - avg), avg, peak,
                entry_value, exit_value, fees, entry_bar, min_low, max_high,
            )  # fmt: skip
            sl = np.nan
            tp = np.nan
        if track_equity:
            equity_out[t] = cash + pos * close[t] if pos != 0.0 else cash
        # Fast-forward through the bars that decide and fill nothing.
        first = t + 1 if exec_close else t
        if next_signal < first:
            next_signal = first
            while next_signal < n and not (entries[next_signal] or exits[next_signal]):
                next_signal += 1
        end = min(next_signal if exec_close else next_signal + 1, n)
        a = t + 1
        if has_stops and pos != 0.0:  # up to the first bar a stop may fire in
            b = a
            while b < end:
                o = open_[b]
                if (sl == sl and (o <= sl or low[b] <= sl)) or (
                    tp == tp and (o >= tp or high[b] >= tp)
                ):
                    break
                b += 1
            end = b
        if end > a:
            if pos == 0.0:
                if track_equity:
                    for u in range(a, end):
                        equity_out[u] = cash
            else:
                if track_equity:
                    for u in range(a, end):
                        equity_out[u] = cash + pos * close[u]
                if excursions:
                    for u in range(a, end):
                        max_high = max(max_high, high[u])
                        min_low = min(min_low, low[u])
            t = end
        else:
            t += 1
    final = cash
    if pos != 0.0:
        final += pos * close[n - 1]
        n_tr = _trade_row(
            trades, n_tr, 0, n - 1, 0, pos, close[n - 1], 0.0, avg, peak, entry_value,
            exit_value, fees, entry_bar, min_low, max_high,
        )  # fmt: skip
    return orders[:n_ord], trades[:n_tr], final


@njit(cache=True, nogil=True)
def _next_signal_row(entries: np.ndarray, exits: np.ndarray, r: int) -> int:
    """Return the first row ``>= r`` with an entry or exit signal, or ``n``."""
    n, k = entries.shape
    while r < n:
        for j in range(k):
            if entries[r, j] or exits[r, j]:
                return r
        r += 1
    return r


@njit(cache=True, nogil=True)
def _hold(
    a: int,
    b: int,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    st: np.ndarray,
    cash: float,
    n_open: int,
    equity_out: np.ndarray,
    excursions: bool,
) -> None:
    """Mark bars ``a .. b-1`` where nothing trades and no stop is live (several assets).

    The equity (when ``equity_out`` is not empty) is the cash plus each open
    position at the close; with ``excursions`` the open positions' highest
    high and lowest low extend over the span (MAE/MFE).
    """
    track_equity = equity_out.shape[0] > 0
    if n_open == 0:
        if track_equity:
            for t in range(a, b):
                equity_out[t] = cash
        return
    k = st.shape[0]
    for t in range(a, b):
        equity = cash
        for j in range(k):
            pos = st[j, _POS]
            if pos != 0.0:
                equity += pos * close[t, j]
                if excursions:
                    st[j, _MAX_HIGH] = max(st[j, _MAX_HIGH], high[t, j])
                    st[j, _MIN_LOW] = min(st[j, _MIN_LOW], low[t, j])
        if track_equity:
            equity_out[t] = equity


@njit(cache=True, nogil=True, inline="always")
def _stops(
    t: int,
    at_open: bool,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    st: np.ndarray,
    orders: np.ndarray,
    trades: np.ndarray,
    n_ord: int,
    n_tr: int,
    cash: float,
    n_open: int,
    fee: float,
    fixed: float,
    tp_first: bool,
    on_entry_bar: bool,
    exec_close: bool,
) -> tuple[int, int, float, int]:
    """Close positions whose stop-loss or take-profit the open (or the bar's range) reaches."""
    for j in range(st.shape[0]):
        if st[j, _POS] == 0.0:
            continue
        if st[j, _FILL_BAR] == t and (at_open or not on_entry_bar or exec_close):
            continue
        s = st[j, _SL]
        p = st[j, _TP]
        kind = 0
        price = 0.0
        if at_open:
            o = open_[t, j]
            if s == s and o <= s:
                kind, price = KIND_STOP_LOSS, o
            elif p == p and o >= p:
                kind, price = KIND_TAKE_PROFIT, o
        else:
            hit_s = s == s and low[t, j] <= s
            hit_p = p == p and high[t, j] >= p
            if hit_s and hit_p:
                kind, price = (KIND_TAKE_PROFIT, p) if tp_first else (KIND_STOP_LOSS, s)
            elif hit_s:
                kind, price = KIND_STOP_LOSS, s
            elif hit_p:
                kind, price = KIND_TAKE_PROFIT, p
        if kind != 0:
            st[j, _STOP_BAR] = t
            n_ord, n_tr, cash = _sell_all(j, t, price, kind, st, orders, trades, n_ord, n_tr,
                                          cash, fee, fixed)  # fmt: skip
            n_open -= 1
    return n_ord, n_tr, cash, n_open


@njit(cache=True, nogil=True, inline="always")
def _decide(
    r: int,
    t: int,
    px: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    st: np.ndarray,
    orders: np.ndarray,
    trades: np.ndarray,
    n_ord: int,
    n_tr: int,
    cash: float,
    n_open: int,
    fee: float,
    fixed: float,
    lev: float,
    size_kind: int,
    size_value: float,
    sl_kind: int,
    sl_value: float,
    tp_kind: int,
    tp_value: float,
    skip_after_stop: bool,
) -> tuple[int, int, float, int]:
    """Execute row ``r``'s signals at ``px[t]``: exits first, then entries, in asset order."""
    k = st.shape[0]
    for j in range(k):
        if skip_after_stop and st[j, _STOP_BAR] == r:
            continue
        if st[j, _POS] > 0.0 and exits[r, j] and not entries[r, j]:
            n_ord, n_tr, cash = _sell_all(j, t, px[t, j], KIND_MARKET, st, orders, trades, n_ord, n_tr, cash, fee,
                                          fixed)  # fmt: skip
            n_open -= 1
    for j in range(k):
        if skip_after_stop and st[j, _STOP_BAR] == r:
            continue
        if st[j, _POS] != 0.0 or not entries[r, j] or exits[r, j]:
            continue
        price = px[t, j]
        equity = cash
        gross = 0.0
        for i in range(k):
            if st[i, _POS] != 0.0:
                equity += st[i, _POS] * px[t, i]
                gross += abs(st[i, _POS] * px[t, i])
        size = _wanted_size(size_kind, size_value, price, equity, cash, fee)
        if size == 0.0:
            continue
        room = lev * (equity - fixed) - gross
        cap = room / (price * (1.0 + lev * fee)) if room > 0.0 else 0.0
        if size > cap:
            size = cap
            if size * price <= DUST * max(abs(equity), 1.0):
                _order(orders, n_ord, t, j, 1.0, price, 0.0, KIND_MARKET, 3)
                n_ord += 1
                continue
        paid = size * price * fee + fixed
        cash -= size * price + paid
        _order(orders, n_ord, t, j, size, price, paid, KIND_MARKET, 0)
        n_ord += 1
        st[j, _POS] = size
        st[j, _AVG] = (0.0 * 0.0 + price * size) / (0.0 + size)  # the general kernel's running mean
        st[j, _ENTRY_BAR] = t
        st[j, _ENTRY_VALUE] = size * price
        st[j, _EXIT_VALUE] = 0.0
        st[j, _PEAK] = size
        st[j, _FEES] = paid
        st[j, _MIN_LOW] = price
        st[j, _MAX_HIGH] = price
        st[j, _FILL_BAR] = t
        st[j, _SL] = np.nan
        st[j, _TP] = np.nan
        if sl_kind == STOP_PCT:
            st[j, _SL] = price - price * sl_value
        elif sl_kind == STOP_ABS:
            st[j, _SL] = price - sl_value
        if tp_kind == STOP_PCT:
            st[j, _TP] = price + price * tp_value
        elif tp_kind == STOP_ABS:
            st[j, _TP] = price + tp_value
        n_open += 1
    return n_ord, n_tr, cash, n_open


@njit(cache=True, nogil=True, inline="always")
def _order(
    orders: np.ndarray,
    i: int,
    t: int,
    j: int,
    size: float,
    price: float,
    fee: float,
    kind: int,
    status: int,
) -> None:
    orders[i, 0] = t
    orders[i, 1] = j
    orders[i, 2] = 1.0 if size > 0.0 else -1.0
    orders[i, 3] = abs(size)
    orders[i, 4] = price
    orders[i, 5] = fee
    orders[i, 6] = kind
    orders[i, 7] = status
    orders[i, 8] = 0.0  # no risk rule involved
    orders[i, 9] = 0.0  # no slippage


@njit(cache=True, nogil=True, inline="always")
def _sell_all(
    j: int,
    t: int,
    price: float,
    kind: int,
    st: np.ndarray,
    orders: np.ndarray,
    trades: np.ndarray,
    n_ord: int,
    n_tr: int,
    cash: float,
    fee: float,
    fixed: float,
) -> tuple[int, int, float]:
    """Close asset ``j``'s long at ``price``; book the order and the trade.

    A sale whose fees the cash cannot cover is out of this kernel's scope: the
    cash returned is NaN and the run is handed to the general kernel.
    """
    size = st[j, _POS]
    if not covers_fees_nb(cash, -size, price, fee, fixed):
        return n_ord, n_tr, np.nan
    paid = size * price * fee + fixed
    cash -= -size * price + paid
    _order(orders, n_ord, t, j, -size, price, paid, kind, 0)
    st[j, _FEES] += paid
    st[j, _EXIT_VALUE] += size * price
    st[j, _POS] = 0.0
    n_tr = _write_trade(trades, n_tr, st, j, t, kind, 0.0, price, size * (price - st[j, _AVG]))
    st[j, _SL] = np.nan
    st[j, _TP] = np.nan
    return n_ord + 1, n_tr, cash


@njit(cache=True, nogil=True, inline="always")
def _write_trade(
    trades: np.ndarray,
    i: int,
    st: np.ndarray,
    j: int,
    t: int,
    kind: int,
    open_size: float,
    mark: float,
    realized: float,
) -> int:
    """Write asset ``j``'s trade as row ``i``; an open remainder is marked at ``mark``."""
    return _trade_row(
        trades, i, j, t, kind, open_size, mark, realized, st[j, _AVG], st[j, _PEAK],
        st[j, _ENTRY_VALUE], st[j, _EXIT_VALUE], st[j, _FEES], st[j, _ENTRY_BAR],
        st[j, _MIN_LOW], st[j, _MAX_HIGH],
    )  # fmt: skip


@njit(cache=True, nogil=True, inline="always")
def _trade_row(
    trades: np.ndarray,
    i: int,
    j: int,
    t: int,
    kind: int,
    open_size: float,
    mark: float,
    realized: float,
    avg: float,
    peak: float,
    entry_value: float,
    exit_value: float,
    fees: float,
    entry_bar: float,
    min_low: float,
    max_high: float,
) -> int:
    """Write a long trade of asset ``j`` as row ``i`` of ``trades``; return ``i + 1``."""
    is_open = open_size > EPS
    gross = realized
    xval = exit_value
    xsize = peak - open_size
    if is_open:
        gross += open_size * (mark - avg)
        xval += open_size * mark
        xsize += open_size
    pnl = gross - fees
    entry = entry_value / peak
    trades[i, 0] = j
    trades[i, 1] = 1.0
    trades[i, 2] = entry_bar
    trades[i, 3] = -1.0 if is_open else t
    trades[i, 4] = entry
    trades[i, 5] = xval / xsize if xsize > 0.0 else np.nan
    trades[i, 6] = peak
    trades[i, 7] = pnl
    trades[i, 8] = pnl / entry_value if entry_value > 0.0 else np.nan
    trades[i, 9] = fees
    trades[i, 10] = 0.0
    trades[i, 11] = min_low / entry - 1.0
    trades[i, 12] = max_high / entry - 1.0
    trades[i, 13] = -1.0 if is_open else kind
    trades[i, 14] = 1.0 if is_open else 0.0
    return i + 1
