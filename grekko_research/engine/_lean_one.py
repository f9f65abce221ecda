"""The lean kernel's one-asset loop, and the record writers both of its loops share.

One asset is the most common run; its loop keeps the open trade in scalars (a tuple the
per-bar helpers pass along, which LLVM keeps in registers once they are inlined) instead of
a row of the several-asset state table. :func:`~grekko_research.engine.nb_fast.simulate_simple_nb`
chooses the loop; the rules, order and arithmetic are the general kernel's (see
:mod:`grekko_research.engine.nb_fast`).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from grekko_research.data.bars import RANGE_BLOCK
from grekko_research.engine._fills import fee_nb, stop_touch_nb
from grekko_research.engine._orders import (
    _buying_power,
    covers_fees_nb,
    entry_size_basic_nb,
    stop_levels_nb,
    trade_record_nb,
)
from grekko_research.engine._prefetch import prefetch_nb
from grekko_research.engine._state import njit_inline, njit_no_runtime
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
    STATUS_FILLED,
    STATUS_REJECTED_FUNDS,
)

__all__: list[str] = []

_AHEAD = 8
"""Signals ahead whose fill price is prefetched: enough reads in flight to hide main memory."""


class _Lean(NamedTuple):
    """The multi-asset lean kernel's state table and record buffers."""

    st: np.ndarray
    orders: np.ndarray
    trades: np.ndarray


@njit_inline
def _wanted_size(
    size_kind: int, size_value: float, price: float, equity: float, cash: float, fee: float
) -> float:
    """Units a long entry asks for before the buying-power cap (the general kernel's rule)."""
    size = entry_size_basic_nb(size_kind, size_value, 1.0, price, equity, cash, fee)
    return 1e300 if np.isinf(size) else size


@njit_inline
def _order(
    orders: np.ndarray,
    i: int,
    t: int,
    j: int,
    size: float,
    price: float,
    fee: float,
    kind: int,
) -> None:
    """Write a filled order as row ``i`` (a refusal overwrites the status afterwards)."""
    r = orders[i]
    r.bar = t
    r.asset = j
    r.side = 1 if size > 0.0 else -1
    r.size = abs(size)
    r.price = price
    r.fee = fee
    r.kind = kind
    r.status = STATUS_FILLED
    r.rule = 0  # no risk rule involved
    r.slippage = 0.0  # no slippage


@njit_inline
def _trade_row(
    trades: np.ndarray,
    i: int,
    j: int,
    t: int,
    kind: int,
    end: tuple[float, float, float],
    trade: tuple[float, float, float, float, float, float, float, float],
) -> int:
    """Write a long trade of asset ``j`` as row ``i`` of ``trades``; return ``i + 1``.

    ``end`` = (size still open, its mark, P&L realised by this exit); ``trade`` =
    (average entry, peak size, entry value, exit value, fees, entry bar, lowest
    low, highest high).
    """
    open_size, mark, realized = end
    avg, peak, entry_value, exit_value, fees, entry_bar, min_low, max_high = trade
    trade_record_nb(
        trades[i],
        (j, int(entry_bar), t, kind),
        1.0,
        (peak, peak - open_size, peak, open_size, avg),
        (entry_value, exit_value, realized, fees, 0.0, min_low, max_high),
        mark,
    )
    return i + 1


class _Opts(NamedTuple):
    """The configuration the one-asset loop reads on every bar, read once from ``cfg``."""

    fee: float
    fixed: float
    size_kind: int
    size_value: float
    exec_close: bool
    has_stops: bool
    tp_first: bool
    on_entry_bar: bool
    skip_after_stop: bool


class _One(NamedTuple):
    """One asset's run: ``(n,)`` open, high, low, close; entries, exits; the rows with a
    signal (ascending); the price range per block of bars (``Bars.block_range``, or two
    empty arrays); options; buffers."""

    prices: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    signals: tuple[np.ndarray, np.ndarray]
    rows: np.ndarray
    blocks: tuple[np.ndarray, np.ndarray]
    cfg: np.ndarray
    opts: _Opts
    lb: _Lean
    excursions: bool


# The one-asset loop's state: ((orders written, trades written, cash), the open trade,
# (bar of the last entry fill, bar of the last stop exit)). The open trade in scalars:
# (position, average entry, entry bar, entry value, exit value, peak size, fees, lowest low,
# highest high, stop-loss level, take-profit level); flat = position 0 and no levels.
_FLAT: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, np.nan, np.nan)
_State = tuple[tuple[int, int, float], tuple[float, ...], tuple[int, int]]


@njit_inline
def _opts(cfg: np.ndarray) -> _Opts:
    return _Opts(
        cfg[CFG_FEE_TAKER],
        cfg[CFG_FEE_FIXED],
        int(cfg[CFG_SIZE_KIND]),
        cfg[CFG_SIZE_VALUE],
        cfg[CFG_EXEC_CLOSE] > 0.0,
        cfg[CFG_SL_KIND] != 0 or cfg[CFG_TP_KIND] != 0,
        cfg[CFG_BOTH_TOUCH] > 0.0,
        cfg[CFG_STOPS_ON_ENTRY_BAR] > 0.0,
        cfg[CFG_SKIP_SIGNALS_ON_STOP] > 0.0,
    )


@njit_no_runtime
def _simulate_one_nb(run: _One, equity_out: np.ndarray) -> tuple[int, int, float]:
    """:func:`simulate_simple_nb` for one asset, its state in scalars.

    The same rules in the same order with the same arithmetic, so the same
    records to the bit (a property test checks it against the general
    kernel); it exists because one asset is the most common case and
    scalars in registers make each fill about twice as cheap as rows of a
    state table. Bars without a signal or a live stop are skipped. Writes into
    the run's record buffers; returns (orders, trades, final equity), ``(0, 0,
    nan)`` for a refused sale.
    """
    close = run.prices[3]
    n = close.shape[0]
    state: _State = ((0, 0, float(run.cfg[CFG_INIT_CASH])), _FLAT, (-1, -1))
    signal = (-1, 0)  # (next signal row, its index in run.rows)
    t = 0
    while t < n:
        state = _one_bar(run, t, state)
        acc, tr, marks = state
        cash, pos = acc[2], tr[0]
        if cash != cash:  # a sale the cash could not pay: out of scope (see _one_sell)
            return 0, 0, np.nan
        if equity_out.shape[0] > 0:
            equity_out[t] = cash + pos * close[t] if pos != 0.0 else cash
        # Fast-forward through the bars that decide and fill nothing.
        end, signal = _quiet_end(run, t, signal, (pos, tr[9], tr[10]))
        if end > t + 1:
            max_high, min_low = _hold_one(run.prices, (t + 1, end), (cash, pos), equity_out,
                                          run.excursions, (tr[8], tr[7]))  # fmt: skip
            state = (acc, _with_range(tr, max_high, min_low), marks)
            t = end
        else:
            t += 1
    (n_ord, n_tr, final), tr, _ = state
    if tr[0] != 0.0:
        final += tr[0] * close[n - 1]
        n_tr = _one_trade(run, n_tr, n - 1, 0, (tr[0], close[n - 1], 0.0), tr)
    return n_ord, n_tr, final


@njit_inline
def _one_bar(run: _One, t: int, state: _State) -> _State:
    """One asset, bar ``t``: stops at the open, the previous close's decisions at the open,
    stops inside the bar, the trade's range, decisions at the close."""
    state = _one_stop(run, t, True, state)
    if not run.opts.exec_close and t > 0:
        state = _one_decide(run, t - 1, t, run.prices[0][t], state)
    state = _one_stop(run, t, False, state)
    tr = state[1]
    if run.excursions and tr[0] != 0.0:  # the bar's range, before the close's decisions
        tr = _with_range(tr, max(tr[8], run.prices[1][t]), min(tr[7], run.prices[2][t]))
        state = (state[0], tr, state[2])
    if run.opts.exec_close:
        state = _one_decide(run, t, t, run.prices[3][t], state)
    return state


@njit_inline
def _with_range(tr: tuple[float, ...], max_high: float, min_low: float) -> tuple[float, ...]:
    return (tr[0], tr[1], tr[2], tr[3], tr[4], tr[5], tr[6], min_low, max_high, tr[9], tr[10])


@njit_inline
def _one_stop(run: _One, t: int, at_open: bool, state: _State) -> _State:
    """Close the long when the open (``at_open``) or the bar's range reaches a level."""
    acc, tr, marks = state
    o = run.opts
    if not o.has_stops or tr[0] == 0.0:
        return state
    if marks[0] == t and (at_open or not o.on_entry_bar or o.exec_close):
        return state  # not on the entry's own bar (see docs/engine.md, "Position stops")
    open_, high, low, _ = run.prices
    which, price = stop_touch_nb(True, tr[9], tr[10], open_[t], high[t], low[t], at_open,
                                 o.tp_first)  # fmt: skip
    if which == 0:
        return state
    kind = KIND_STOP_LOSS if which == 1 else KIND_TAKE_PROFIT
    acc, tr = _one_sell(run, t, price, kind, (acc, tr))
    return acc, tr, (marks[0], t)


@njit_inline
def _one_decide(run: _One, r: int, t: int, price: float, state: _State) -> _State:
    """Execute row ``r``'s signal at ``price`` on bar ``t``: an exit when long, an entry when flat."""
    entries, exits = run.signals
    acc, tr, marks = state
    if not (entries[r] or exits[r]) or (run.opts.skip_after_stop and marks[1] == r):
        return state
    if tr[0] > 0.0 and exits[r] and not entries[r]:
        acc, tr = _one_sell(run, t, price, KIND_MARKET, (acc, tr))
        return acc, tr, marks
    if tr[0] == 0.0 and entries[r] and not exits[r]:
        return _one_buy(run, t, price, state)
    return state


@njit_inline
def _one_buy(run: _One, t: int, price: float, state: _State) -> _State:
    """Open the long at ``price`` with the general kernel's sizing and buying-power rules."""
    (n_ord, n_tr, cash), tr, marks = state
    o = run.opts
    orders = run.lb.orders
    equity = cash
    size = _wanted_size(o.size_kind, o.size_value, price, equity, cash, o.fee)
    if size == 0.0:
        return state
    cap = _buying_power(equity, 0.0, 0.0, price, 1.0, run.cfg, 0.0, o.fee)
    if size > cap:
        size = cap
        if size * price <= DUST * max(abs(equity), 1.0):
            _order(orders, n_ord, t, 0, 1.0, price, 0.0, KIND_MARKET)
            orders[n_ord].status = STATUS_REJECTED_FUNDS
            return (n_ord + 1, n_tr, cash), tr, marks
    paid = fee_nb(size, price, o.fee, o.fixed)
    cash -= size * price + paid
    _order(orders, n_ord, t, 0, size, price, paid, KIND_MARKET)
    avg = (0.0 * 0.0 + price * size) / (0.0 + size)  # the general kernel's running mean
    sl, tp = stop_levels_nb(run.cfg, 1.0, price, np.nan)
    tr = (size, avg, float(t), size * price, 0.0, size, paid, price, price, sl, tp)
    return (n_ord + 1, n_tr, cash), tr, (t, marks[1])


@njit_inline
def _one_sell(
    run: _One,
    t: int,
    price: float,
    kind: int,
    book: tuple[tuple[int, int, float], tuple[float, ...]],
) -> tuple[tuple[int, int, float], tuple[float, ...]]:
    """Close the long at ``price``; book the order and the trade. ``book`` = (acc, trade).

    A sale whose fees the cash cannot cover is out of this kernel's scope: the
    cash returned is NaN and the run is handed to the general kernel.
    """
    (n_ord, n_tr, cash), tr = book
    o = run.opts
    size = tr[0]
    if not covers_fees_nb(cash, -size, price, o.fee, o.fixed):
        return (n_ord, n_tr, np.nan), tr
    paid = fee_nb(size, price, o.fee, o.fixed)
    cash -= -size * price + paid
    _order(run.lb.orders, n_ord, t, 0, -size, price, paid, kind)
    # the trade with this exit booked: fees and exit value grow, the position is gone
    tr = (0.0, tr[1], tr[2], tr[3], tr[4] + size * price, tr[5], tr[6] + paid, tr[7], tr[8],
          np.nan, np.nan)  # fmt: skip
    n_tr = _one_trade(run, n_tr, t, kind, (0.0, price, size * (price - tr[1])), tr)
    return (n_ord + 1, n_tr, cash), tr


@njit_inline
def _one_trade(
    run: _One, i: int, t: int, kind: int, end: tuple[float, float, float], tr: tuple[float, ...]
) -> int:
    """Write the one asset's trade as row ``i``; ``end`` as in :func:`_trade_row`."""
    trade = (tr[1], tr[5], tr[3], tr[4], tr[6], tr[2], tr[7], tr[8])
    return _trade_row(run.lb.trades, i, 0, t, kind, end, trade)


@njit_inline
def _quiet_end(
    run: _One, t: int, signal: tuple[int, int], held: tuple[float, float, float]
) -> tuple[int, tuple[int, int]]:
    """One asset: return (end of the quiet bars after ``t``, exclusive; next signal).

    Quiet bars decide nothing and, with ``held`` = (position, stop-loss,
    take-profit), no stop can fire in them. ``signal`` = (the first signal row
    at or after the next row to decide when already known, its index in
    ``run.rows``), returned updated. Moving to a new signal prefetches the price
    the signal :data:`_AHEAD` rows later will fill at (see ``_prefetch``) and,
    with position stops, that bar's high and low and its block's range, which
    the stop checks there read (W4: 3.9 -> 2.5 ms a run after a cache flush).
    """
    open_, _, _, close = run.prices
    rows, cfg = run.rows, run.cfg
    n = open_.shape[0]
    exec_close = cfg[CFG_EXEC_CLOSE] > 0.0
    pos, sl, tp = held
    first = t + 1 if exec_close else t
    next_signal, i = signal
    if next_signal < first:
        m = rows.shape[0]
        while i < m and rows[i] < first:
            i += 1
        next_signal = rows[i] if i < m else n
        if i + _AHEAD < m:
            ahead = rows[i + _AHEAD] + (0 if exec_close else 1)
            if ahead < n:
                prefetch_nb(close if exec_close else open_, ahead)
                if run.opts.has_stops:  # the stop checks of that fill's bar and its block
                    prefetch_nb(run.prices[1], ahead)
                    prefetch_nb(run.prices[2], ahead)
                    lo, hi = run.blocks
                    if lo.shape[0] > 0:
                        prefetch_nb(lo, ahead // RANGE_BLOCK)
                        prefetch_nb(hi, ahead // RANGE_BLOCK)
    end = min(next_signal if exec_close else next_signal + 1, n)
    if (cfg[CFG_SL_KIND] != 0 or cfg[CFG_TP_KIND] != 0) and pos != 0.0:
        end = _stop_bar(run, t + 1, end, sl, tp)  # up to the first bar a stop may fire in
    return end, (next_signal, i)


@njit_inline
def _stop_bar(run: _One, b: int, end: int, sl: float, tp: float) -> int:
    """The first bar of ``[b, end)`` whose open or range reaches ``sl`` or ``tp``, else ``end``.

    With the per-block ranges a block whose lowest and highest prices reach
    neither level is passed over in one check (a held position reads an
    eighth of the prices); only a block that may hold the bar is read bar by bar.
    """
    lo, hi = run.blocks
    if lo.shape[0] == 0:
        return _stop_bar_scan(run.prices, b, end, sl, tp)
    while b < end:
        k = b // RANGE_BLOCK
        stop = min((k + 1) * RANGE_BLOCK, end)
        if lo[k] <= sl or hi[k] >= tp:  # False for a NaN level
            hit = _stop_bar_scan(run.prices, b, stop, sl, tp)
            if hit < stop:
                return hit
        b = stop
    return end


@njit_inline
def _stop_bar_scan(
    prices: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    b: int,
    end: int,
    sl: float,
    tp: float,
) -> int:
    """:func:`_stop_bar` bar by bar."""
    open_, high, low, _ = prices
    while b < end:
        o = open_[b]
        if (sl == sl and (o <= sl or low[b] <= sl)) or (tp == tp and (o >= tp or high[b] >= tp)):
            return b
        b += 1
    return end


_SIGNAL_OFFSETS = np.zeros((256, 8), dtype=np.int64)
"""Row ``m`` lists the set bits of the byte ``m`` in ascending order (zeros after them)."""
_SIGNAL_COUNTS = np.zeros(256, dtype=np.int64)
"""How many bits the byte ``m`` sets."""
for _m in range(256):
    _bits = [_b for _b in range(8) if _m >> _b & 1]
    _SIGNAL_COUNTS[_m] = len(_bits)
    _SIGNAL_OFFSETS[_m, : len(_bits)] = _bits
_GATHER = np.uint64(0x0102040810204080)
"""Multiplying a word of eight 0/1 bytes by this moves byte ``i`` to bit ``56 + i``."""


@njit_inline
def signal_rows_nb(entries: np.ndarray, exits: np.ndarray, rows: np.ndarray) -> int:
    """Write the rows of ``(n,)`` C-contiguous ``entries``/``exits`` holding a signal into
    ``rows``, ascending; return how many (``rows`` needs room for them plus eight).

    Eight rows at a time: the two bool arrays are read as 64-bit words, a word pair without
    a signal is skipped, and the others' eight rows are written at once from a table indexed
    by their signal bits, the free place moving on by how many signal. Row by row, even
    without a branch, took 0.44 ms on W1's 1M rows (27.5k signal rows); words, 0.27 ms.
    """
    n = entries.shape[0]
    nw = n // 8
    ew = entries[: nw * 8].view(np.uint64)
    xw = exits[: nw * 8].view(np.uint64)
    c = 0
    for w in range(nw):
        m = ew[w] | xw[w]
        if m:
            bits = (m * _GATHER) >> np.uint64(56)
            b = w * 8
            for i in range(8):
                rows[c + i] = b + _SIGNAL_OFFSETS[bits, i]
            c += _SIGNAL_COUNTS[bits]
    for r in range(nw * 8, n):
        rows[c] = r
        c += int(entries[r] | exits[r])
    return c


@njit_inline
def _hold_one(
    prices: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    span: tuple[int, int],
    account: tuple[float, float],
    equity_out: np.ndarray,
    excursions: bool,
    hilo: tuple[float, float],
) -> tuple[float, float]:
    """One asset: mark the quiet bars of ``span``; return the trade's (highest high, lowest low).

    ``account`` = (cash, position); the equity is written when ``equity_out``
    is not empty, the excursions extended with ``excursions``.
    """
    _, high, low, close = prices
    a, end = span
    cash, pos = account
    max_high, min_low = hilo
    if pos == 0.0:
        if equity_out.shape[0] > 0:
            for u in range(a, end):
                equity_out[u] = cash
    else:
        if equity_out.shape[0] > 0:
            for u in range(a, end):
                equity_out[u] = cash + pos * close[u]
        if excursions:
            for u in range(a, end):
                max_high = max(max_high, high[u])
                min_low = min(min_low, low[u])
    return max_high, min_low
