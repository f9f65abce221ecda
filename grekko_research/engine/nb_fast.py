"""A lean kernel for the most common configuration, equal to the general one where it applies.

The general kernel (:mod:`grekko_research.engine.nb`) pays for its generality
on every bar and order: state lives in shared arrays that many helpers touch.
This kernel covers the configuration most research runs use — entry/exit
signals, long only, no leverage, taker and fixed fees, sizing by cash, units,
notional or percent of equity, percentage or absolute stop-loss and
take-profit, no slippage, market rules, risk limits, funding or bars without
a market — with its state in local scalars and small per-asset arrays.
:func:`grekko_research.engine.api.backtest` picks it automatically; a
property test proves it produces the same records as the general kernel. The one-asset loop
and the record writers both loops share are in :mod:`grekko_research.engine._lean_one`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from grekko_research.engine._fills import fee_nb, stop_touch_nb
from grekko_research.engine._lean_one import (
    _Lean,
    _One,
    _opts,
    _order,
    _simulate_one_nb,
    _trade_row,
    _wanted_size,
    signal_rows_nb,
)
from grekko_research.engine._orders import (
    _buying_power,
    covers_fees_nb,
    stop_levels_nb,
)
from grekko_research.engine._state import (
    Decisions,
    Market,
    Rules,
    borrowed,
    njit_inline,
    njit_no_runtime,
)
from grekko_research.engine.layout import (
    CFG_BOTH_TOUCH,
    CFG_EXEC_CLOSE,
    CFG_FEE_FIXED,
    CFG_FEE_TAKER,
    CFG_INIT_CASH,
    CFG_SIZE_KIND,
    CFG_SIZE_VALUE,
    CFG_SKIP_SIGNALS_ON_STOP,
    CFG_SL_KIND,
    CFG_STOPS_ON_ENTRY_BAR,
    CFG_TP_KIND,
    DUST,
    KIND_MARKET,
    KIND_STOP_LOSS,
    KIND_TAKE_PROFIT,
    ORDER_DTYPE,
    STATUS_REJECTED_FUNDS,
    TRADE_DTYPE,
)

__all__ = ["no_stop_scan", "simulate_simple_nb"]


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
    market: Market,
    dec: Decisions,
    rules: Rules,
    equity_out: np.ndarray,
    excursions: bool,
    counts: tuple[int, int],
    scan: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, float]:
    """Run a long-only signal backtest; return order and trade records like ``simulate_nb``.

    Reads the ``(n, k)`` open/high/low/close of ``market``, the entries and
    exits of ``dec`` and the configuration vector of ``rules``; every bar
    must have a market. ``counts`` = (entry signals, exit signals) size the
    record buffers of several assets (at most one order per signal and one stop
    exit per entry; numpy's ``count_nonzero`` is the fastest way to get them);
    one asset ignores it and sizes them from its signal rows (pass ``(0, 0)``).
    ``scan`` = (``Bars.block_range``: the ``(n_blocks, 1)`` lowest and
    highest prices per block of bars; the asset's ``Bars.ohlc_rows``, ``(n,
    4)``) for one asset with position stops, or :func:`no_stop_scan`: the
    stop scan then reads every held bar, and the prices come from ``market``.
    Several assets ignore it.

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
    # Borrowed views (see _state.borrowed): the caller holds the inputs for the whole run.
    market, dec, rules = borrowed(market), borrowed(dec), borrowed(rules)
    k = market.close.shape[1]
    st = np.zeros((k, _N_STATE))
    st[:, _SL] = np.nan
    st[:, _TP] = np.nan
    st[:, _FILL_BAR] = -1.0
    st[:, _STOP_BAR] = -1.0
    n = market.close.shape[0]
    if k == 1:
        signals = (dec.entries.reshape(n), dec.exits.reshape(n))
        # The signal rows, once: the loop walks them instead of scanning every bar, and
        # prefetches the fill price of the signal a few ahead (see _prefetch). The buffer
        # has room for every bar; only the pages its rows reach are ever touched.
        rows = np.empty(n + 8, dtype=np.int64)
        n_rows = signal_rows_nb(signals[0], signals[1], rows)
        # Each signal row is one entry (itself and its stop exit: two orders) or exit, or both.
        n_entries, n_exits = n_rows, n_rows
    else:
        rows = np.empty(0, dtype=np.int64)
        n_rows = 0
        n_entries, n_exits = counts
    orders = np.empty(2 * n_entries + n_exits + k + 1, dtype=ORDER_DTYPE)
    trades = np.empty(n_entries + k + 1, dtype=TRADE_DTYPE)
    lb = _Lean(st, orders, trades)
    if k == 1:
        ohlc = scan[2]
        if ohlc.shape[0] > 0:  # a bar's four prices in one cache line (see Bars.ohlc_rows)
            prices = (ohlc[:, 0], ohlc[:, 1], ohlc[:, 2], ohlc[:, 3])
        else:
            prices = (market.open[:, 0], market.high[:, 0], market.low[:, 0], market.close[:, 0])
        ranges = (scan[0][:, 0], scan[1][:, 0])
        run = _One(prices, signals, rows[:n_rows], ranges, rules.cfg, _opts(rules.cfg), lb,
                   excursions)  # fmt: skip
        n_ord, n_tr, final = _simulate_one_nb(run, equity_out)
    else:
        n_ord, n_tr, final = _simulate_many_nb(market, dec, rules.cfg, equity_out, excursions, lb)
    # Views, not copies: the untouched tail of each buffer is never paged in.
    return orders[:n_ord], trades[:n_tr], final


@njit_inline
def no_stop_scan(close: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``scan`` argument of :func:`simulate_simple_nb` that reads nothing: three empty
    tables of ``close``'s type (``(n, k)`` read-only prices: one compiled signature)."""
    empty = close[:0]
    return empty, empty, empty


# The bar loops below own no memory: no reference counting (_state.njit_no_runtime).
@njit_no_runtime
def _simulate_many_nb(
    market: Market,
    dec: Decisions,
    cfg: np.ndarray,
    equity_out: np.ndarray,
    excursions: bool,
    lb: _Lean,
) -> tuple[int, int, float]:
    """Several assets: run the bars into ``lb``'s buffers; return (orders, trades, final equity).

    A refused sale (see :func:`_sell_all`) returns ``(0, 0, nan)``.
    """
    close = market.close
    entries, exits = dec.entries, dec.exits
    n, k = close.shape
    st = lb.st
    n_ord = 0
    n_tr = 0
    cash = cfg[CFG_INIT_CASH]
    exec_close = cfg[CFG_EXEC_CLOSE] > 0.0
    has_stops = cfg[CFG_SL_KIND] != 0 or cfg[CFG_TP_KIND] != 0
    n_open = 0
    track_equity = equity_out.shape[0] > 0
    next_signal = -1
    t = 0
    while t < n:
        n_ord, n_tr, cash, n_open = _lean_bar(
            market, dec, lb, cfg, t, excursions, (n_ord, n_tr, cash, n_open)
        )
        if cash != cash:  # a sale the cash could not pay: out of scope (see _sell_all)
            return 0, 0, np.nan
        if track_equity:
            equity_out[t] = _equity_at(st, close, t, cash, n_open)
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
                _hold(market, st, (t + 1, quiet_end), cash, n_open, equity_out, excursions)
            t = quiet_end
        else:
            t += 1
    final = cash
    for j in range(k):
        if st[j, _POS] != 0.0:
            final += st[j, _POS] * close[n - 1, j]
            n_tr = _write_trade(lb, n_tr, j, n - 1, 0, (st[j, _POS], close[n - 1, j], 0.0))
    return n_ord, n_tr, final


@njit_inline
def _equity_at(st: np.ndarray, close: np.ndarray, t: int, cash: float, n_open: int) -> float:
    """Several assets: the cash plus the open positions at bar ``t``'s close."""
    equity = cash
    if n_open > 0:
        for j in range(st.shape[0]):
            if st[j, _POS] != 0.0:
                equity += st[j, _POS] * close[t, j]
    return equity


@njit_inline
def _any_signal(dec: Decisions, r: int) -> bool:
    # A loop, not any() over a generator: numba compiles this one to a plain scan.
    for j in range(dec.entries.shape[1]):  # noqa: SIM110
        if dec.entries[r, j] or dec.exits[r, j]:
            return True
    return False


@njit_inline
def _lean_bar(
    market: Market,
    dec: Decisions,
    lb: _Lean,
    cfg: np.ndarray,
    t: int,
    excursions: bool,
    acc: tuple[int, int, float, int],
) -> tuple[int, int, float, int]:
    """Several assets: bar ``t``'s stops at the open, decisions at the open, stops inside the
    bar, excursions, decisions at the close; ``acc`` as in :func:`_stops`."""
    exec_close = cfg[CFG_EXEC_CLOSE] > 0.0
    has_stops = cfg[CFG_SL_KIND] != 0 or cfg[CFG_TP_KIND] != 0
    st = lb.st
    if has_stops and acc[3] > 0:  # stops the open gaps through
        acc = _stops(market, lb, cfg, t, True, acc)
    r = t - 1
    # decisions of the previous close, at this open
    if not exec_close and r >= 0 and _any_signal(dec, r):
        acc = _decide(dec, lb, cfg, market.open, r, t, acc)
    if has_stops and acc[3] > 0:  # stops inside the bar
        acc = _stops(market, lb, cfg, t, False, acc)
    if excursions and acc[3] > 0:
        high, low = market.high, market.low  # read once: see _stops
        for j in range(st.shape[0]):
            if st[j, _POS] != 0.0:
                h = high[t, j]
                lo = low[t, j]
                if h > st[j, _MAX_HIGH]:
                    st[j, _MAX_HIGH] = h
                if lo < st[j, _MIN_LOW]:
                    st[j, _MIN_LOW] = lo
    if exec_close and _any_signal(dec, t):
        acc = _decide(dec, lb, cfg, market.close, t, t, acc)
    return acc


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


@njit_inline
def _hold(
    market: Market,
    st: np.ndarray,
    span: tuple[int, int],
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
    a, b = span
    high, low, close = market.high, market.low, market.close
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


@njit_inline
def _stops(
    market: Market,
    lb: _Lean,
    cfg: np.ndarray,
    t: int,
    at_open: bool,
    acc: tuple[int, int, float, int],
) -> tuple[int, int, float, int]:
    """Close positions whose stop-loss or take-profit the open (or the bar's range) reaches.

    ``acc`` and the result: (orders written, trades written, cash, open positions).
    """
    n_ord, n_tr, cash, n_open = acc
    st = lb.st
    tp_first = cfg[CFG_BOTH_TOUCH] > 0.0
    on_entry_bar = cfg[CFG_STOPS_ON_ENTRY_BAR] > 0.0
    exec_close = cfg[CFG_EXEC_CLOSE] > 0.0
    # A named tuple's arrays are read once, not in the loop (each read is reference counted).
    open_, high, low = market.open, market.high, market.low
    for j in range(st.shape[0]):
        if st[j, _POS] == 0.0:
            continue
        if st[j, _FILL_BAR] == t and (at_open or not on_entry_bar or exec_close):
            continue
        which, price = stop_touch_nb(True, st[j, _SL], st[j, _TP], open_[t, j], high[t, j],
                                     low[t, j], at_open, tp_first)  # fmt: skip
        if which != 0:
            kind = KIND_STOP_LOSS if which == 1 else KIND_TAKE_PROFIT
            st[j, _STOP_BAR] = t
            n_ord, n_tr, cash = _sell_all(lb, cfg, j, t, price, kind, (n_ord, n_tr, cash))
            n_open -= 1
    return n_ord, n_tr, cash, n_open


@njit_inline
def _decide(
    dec: Decisions,
    lb: _Lean,
    cfg: np.ndarray,
    px: np.ndarray,
    r: int,
    t: int,
    acc: tuple[int, int, float, int],
) -> tuple[int, int, float, int]:
    """Execute row ``r``'s signals at ``px[t]``: exits first, then entries, in asset order."""
    n_ord, n_tr, cash, n_open = acc
    st = lb.st
    orders = lb.orders
    entries, exits = dec.entries, dec.exits
    fee = cfg[CFG_FEE_TAKER]
    fixed = cfg[CFG_FEE_FIXED]
    size_kind = int(cfg[CFG_SIZE_KIND])
    size_value = cfg[CFG_SIZE_VALUE]
    skip_after_stop = cfg[CFG_SKIP_SIGNALS_ON_STOP] > 0.0
    k = st.shape[0]
    for j in range(k):
        if skip_after_stop and st[j, _STOP_BAR] == r:
            continue
        if st[j, _POS] > 0.0 and exits[r, j] and not entries[r, j]:
            n_ord, n_tr, cash = _sell_all(lb, cfg, j, t, px[t, j], KIND_MARKET, (n_ord, n_tr, cash))
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
        cap = _buying_power(equity, gross, 0.0, price, 1.0, cfg, 0.0, fee)
        if size > cap:
            size = cap
            if size * price <= DUST * max(abs(equity), 1.0):
                _order(orders, n_ord, t, j, 1.0, price, 0.0, KIND_MARKET)
                orders[n_ord].status = STATUS_REJECTED_FUNDS
                n_ord += 1
                continue
        paid = fee_nb(size, price, fee, fixed)
        cash -= size * price + paid
        _order(orders, n_ord, t, j, size, price, paid, KIND_MARKET)
        n_ord += 1
        _open_long(st[j], cfg, t, (size, price, paid))
        n_open += 1
    return n_ord, n_tr, cash, n_open


@njit_inline
def _open_long(row: np.ndarray, cfg: np.ndarray, t: int, fill: tuple[float, float, float]) -> None:
    """Several assets: start the trade in an asset's state row; ``fill`` = (size, price, fee)."""
    size, price, paid = fill
    row[_POS] = size
    row[_AVG] = (0.0 * 0.0 + price * size) / (0.0 + size)  # the general kernel's running mean
    row[_ENTRY_BAR] = t
    row[_ENTRY_VALUE] = size * price
    row[_EXIT_VALUE] = 0.0
    row[_PEAK] = size
    row[_FEES] = paid
    row[_MIN_LOW] = price
    row[_MAX_HIGH] = price
    row[_FILL_BAR] = t
    row[_SL], row[_TP] = stop_levels_nb(cfg, 1.0, price, np.nan)


@njit_inline
def _sell_all(
    lb: _Lean,
    cfg: np.ndarray,
    j: int,
    t: int,
    price: float,
    kind: int,
    acc: tuple[int, int, float],
) -> tuple[int, int, float]:
    """Close asset ``j``'s long at ``price``; book the order and the trade.

    A sale whose fees the cash cannot cover is out of this kernel's scope: the
    cash returned is NaN and the run is handed to the general kernel.
    """
    n_ord, n_tr, cash = acc
    st = lb.st
    fee = cfg[CFG_FEE_TAKER]
    fixed = cfg[CFG_FEE_FIXED]
    size = st[j, _POS]
    if not covers_fees_nb(cash, -size, price, fee, fixed):
        return n_ord, n_tr, np.nan
    paid = fee_nb(size, price, fee, fixed)
    cash -= -size * price + paid
    _order(lb.orders, n_ord, t, j, -size, price, paid, kind)
    st[j, _FEES] += paid
    st[j, _EXIT_VALUE] += size * price
    st[j, _POS] = 0.0
    n_tr = _write_trade(lb, n_tr, j, t, kind, (0.0, price, size * (price - st[j, _AVG])))
    st[j, _SL] = np.nan
    st[j, _TP] = np.nan
    return n_ord + 1, n_tr, cash


@njit_inline
def _write_trade(
    lb: _Lean, i: int, j: int, t: int, kind: int, end: tuple[float, float, float]
) -> int:
    """Write asset ``j``'s trade as row ``i``; ``end`` as in :func:`_trade_row`."""
    st = lb.st
    trade = (
        st[j, _AVG], st[j, _PEAK], st[j, _ENTRY_VALUE], st[j, _EXIT_VALUE], st[j, _FEES],
        st[j, _ENTRY_BAR], st[j, _MIN_LOW], st[j, _MAX_HIGH],
    )  # fmt: skip
    return _trade_row(lb.trades, i, j, t, kind, end, trade)
