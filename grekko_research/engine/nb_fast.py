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

    The per-bar work is optional, so that a run that only needs its records
    touches the prices only on bars that trade: ``equity_out`` ``(n,)``
    receives the equity at each close, or is skipped when it has length 0;
    ``excursions`` False skips tracking each trade's lowest low and highest
    high, and the trade records' MAE/MFE columns are then meaningless. The
    third value returned is the final equity (cash plus the open positions
    at the last close).
    """
    n, k = close.shape
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
        if track_equity:
            equity = cash
            if n_open > 0:
                for j in range(k):
                    if st[j, _POS] != 0.0:
                        equity += st[j, _POS] * close[t, j]
            equity_out[t] = equity
        # Fast-forward through the following bars that decide and fill nothing.
        first = t + 1 if exec_close else t  # first decision row still to be seen
        quiet_end = _next_signal_row(entries, exits, first)  # exclusive
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
    return orders[:n_ord].copy(), trades[:n_tr].copy(), final


@njit(cache=True, nogil=True)
def _next_signal_row(entries: np.ndarray, exits: np.ndarray, r: int) -> int:
    """Return the first row ``>= r`` with an entry or exit signal, or ``n``."""
    n, k = entries.shape
    if k == 1:
        while r < n and not (entries[r, 0] or exits[r, 0]):
            r += 1
        return r
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
    """Mark bars ``a .. b-1`` where nothing trades and no stop is live.

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
    if k == 1 and not track_equity:
        hi = st[0, _MAX_HIGH]
        lo = st[0, _MIN_LOW]
        for t in range(a, b):
            hi = max(hi, high[t, 0])
            lo = min(lo, low[t, 0])
        st[0, _MAX_HIGH] = hi
        st[0, _MIN_LOW] = lo
        return
    if k == 1 and not excursions:
        pos = st[0, _POS]
        for t in range(a, b):
            equity_out[t] = cash + pos * close[t, 0]
        return
    if k == 1:
        pos = st[0, _POS]
        hi = st[0, _MAX_HIGH]
        lo = st[0, _MIN_LOW]
        for t in range(a, b):
            equity_out[t] = cash + pos * close[t, 0]
            hi = max(hi, high[t, 0])
            lo = min(lo, low[t, 0])
        st[0, _MAX_HIGH] = hi
        st[0, _MIN_LOW] = lo
        return
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
        if size_kind == SIZE_ALL:
            size = 1e300
        elif size_kind == SIZE_UNITS:
            size = size_value
        elif size_kind == SIZE_NOTIONAL:
            size = size_value / price
        elif size_kind == SIZE_PERCENT:
            size = size_value * equity / price
        elif size_kind == SIZE_CASH_PERCENT:
            size = size_value * max(cash, 0.0) / (price * (1.0 + fee))
        else:
            continue
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
    """Close asset ``j``'s long at ``price``; book the order and the trade."""
    size = st[j, _POS]
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
    is_open = open_size > EPS
    avg = st[j, _AVG]
    peak = st[j, _PEAK]
    entry_value = st[j, _ENTRY_VALUE]
    gross = realized
    xval = st[j, _EXIT_VALUE]
    xsize = peak - open_size
    if is_open:
        gross += open_size * (mark - avg)
        xval += open_size * mark
        xsize += open_size
    pnl = gross - st[j, _FEES]
    entry = entry_value / peak
    trades[i, 0] = j
    trades[i, 1] = 1.0
    trades[i, 2] = st[j, _ENTRY_BAR]
    trades[i, 3] = -1.0 if is_open else t
    trades[i, 4] = entry
    trades[i, 5] = xval / xsize if xsize > 0.0 else np.nan
    trades[i, 6] = peak
    trades[i, 7] = pnl
    trades[i, 8] = pnl / entry_value if entry_value > 0.0 else np.nan
    trades[i, 9] = st[j, _FEES]
    trades[i, 10] = 0.0
    trades[i, 11] = st[j, _MIN_LOW] / entry - 1.0
    trades[i, 12] = st[j, _MAX_HIGH] / entry - 1.0
    trades[i, 13] = -1.0 if is_open else kind
    trades[i, 14] = 1.0 if is_open else 0.0
    return i + 1
