"""Order mechanics inside the kernels: checks, fills, records, trades, stops.

Every function here is ``@njit`` and works on the named state of
:mod:`grekko_research.engine._state`: the :class:`Book` (per-asset state
``S``, account ``A``, record buffers ``orec``/``trec``/``erec``, prices
``px`` of the current execution point), the :class:`Rules` and the
:class:`Market`. An :class:`Order` carries one order through
:func:`_submit` (risk rules, buying power, market rules) into
:func:`_apply_fill` (cash, position, trade, stops, record). Fill prices come
from :func:`~grekko_research.engine._fills.fill_nb`, fees from
:func:`~grekko_research.engine._fills.fee_nb`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from grekko_research.engine._fills import (
    _pending_fill_price,
    _venue_level,
    coinbase_stop_hit_nb,
    fee_nb,
    fill_nb,
    usdm_stop_hit_nb,
    venue_stop_hit_nb,
)
from grekko_research.engine._risk import record_event_nb, risk_gate_nb
from grekko_research.engine._state import Book, Market, Order, Rules, njit_inline
from grekko_research.engine.layout import (
    A_CASH,
    A_HALTED,
    A_KELLY_LOSS_SUM,
    A_KELLY_N,
    A_N_ORD,
    A_N_TR,
    A_ORDERS_TODAY,
    CFG_ALLOW_SHORT,
    CFG_FEE_FIXED,
    CFG_FEE_MAKER,
    CFG_FEE_TAKER,
    CFG_KELLY_CAP,
    CFG_KELLY_MIN_TRADES,
    CFG_KELLY_PAYOFF,
    CFG_KELLY_WARMUP,
    CFG_KELLY_WIN_RATE,
    CFG_LEVERAGE,
    CFG_MAINT_MARGIN,
    CFG_SIZE_KIND,
    CFG_SIZE_VALUE,
    CFG_SL_KIND,
    CFG_SL_VALUE,
    CFG_STOP_LIMIT_OFFSET,
    CFG_STOP_TRIGGER,
    CFG_TP_KIND,
    CFG_TP_VALUE,
    CFG_TRAIL_KIND,
    CFG_TRAIL_VALUE,
    COINBASE_BRACKET_SLIP,
    DUST,
    EPS,
    KIND_LIQUIDATION,
    KIND_STOP_LOSS,
    KIND_TAKE_PROFIT,
    KIND_TRAILING_STOP,
    S_AVG,
    S_ENTRY_FILL_BAR,
    S_LAST,
    S_P_KIND,
    S_P_LIMIT,
    S_P_SIZE,
    S_POS,
    S_SL,
    S_SL_REST,
    S_STOP_BAR,
    S_TP,
    S_TR_DIR,
    S_TR_ENTRY_BAR,
    S_TR_ESIZE,
    S_TR_EVAL,
    S_TR_FEES,
    S_TR_FUND,
    S_TR_MAXHIGH,
    S_TR_MINLOW,
    S_TR_OPEN,
    S_TR_PEAK,
    S_TR_REAL,
    S_TR_XSIZE,
    S_TR_XVAL,
    S_TRAIL_D,
    S_TRAIL_PEAK,
    SIZE_ALL,
    SIZE_CASH_PERCENT,
    SIZE_KELLY,
    SIZE_NOTIONAL,
    SIZE_PERCENT,
    SIZE_UNITS,
    SIZE_VOL_TARGET,
    STATUS_CANCELLED,
    STATUS_FILLED,
    STATUS_REJECTED_FUNDS,
    STATUS_REJECTED_MIN_NOTIONAL,
    STATUS_REJECTED_RISK,
    STOP_ABS,
    STOP_ATR,
    STOP_PCT,
    TRIGGER_COINBASE,
    TRIGGER_USDM,
)
from grekko_research.risk.rules import (
    RULE_LIQUIDATION,
    RULE_MAX_ORDERS_PER_DAY,
    orders_exhausted_nb,
)
from grekko_research.risk.sizing import (
    fixed_fraction_size_nb,
    kelly_entry_fraction_nb,
    record_trade_nb,
    vol_target_size_nb,
)


@njit(cache=True, nogil=True)
def _grow(rec: np.ndarray, need: int) -> np.ndarray:
    """Return ``rec`` (a structured record buffer), or a copy with room for ``need`` rows."""
    if rec.shape[0] >= need:
        return rec
    out = np.empty(max(need, 2 * rec.shape[0] + 16), dtype=rec.dtype)
    out[: rec.shape[0]] = rec
    return out


# -- records ----------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _record(bk: Book, t: int, o: Order, fee: float, status: int, rule: int) -> None:
    """Append an order record for ``o`` (its size, price, kind and slippage) at bar ``t``."""
    A = bk.A
    i = int(A[A_N_ORD])
    r = bk.orec[i]
    r.bar = t
    r.asset = o.asset
    r.side = 1 if o.size > 0.0 else -1
    r.size = abs(o.size)
    r.price = o.price
    r.fee = fee
    r.kind = o.kind
    r.status = status
    r.rule = rule
    r.slippage = o.slip
    A[A_N_ORD] = i + 1


@njit(cache=True, nogil=True)
def _reject(
    bk: Book, t: int, j: int, size: float, price: float, kind: int, status: int, rule: int
) -> None:
    """Record an order that did not fill (rejected, cancelled, expired): no fee, no slippage."""
    _record(bk, t, Order(j, size, price, kind, False, 0.0, np.nan), 0.0, status, rule)


@njit(cache=True, nogil=True)
def _event(bk: Book, t: int, j: int, rule: int, value: float, limit: float) -> None:
    record_event_nb(bk, t, j, rule, value, limit, 0)


@njit(cache=True, nogil=True)
def _valuation(bk: Book) -> tuple[float, float]:
    """Return (equity, gross exposure) with positions valued at ``bk.px`` (NaN: last price)."""
    S = bk.S
    prices = bk.px
    equity = bk.A[A_CASH]
    gross = 0.0
    for j in range(S.shape[0]):
        pos = S[j, S_POS]
        if pos != 0.0:
            p = prices[j]
            if np.isnan(p):
                p = S[j, S_LAST]
            equity += pos * p
            gross += abs(pos * p)
    return equity, gross


@njit(cache=True, nogil=True)
def _counts(S: np.ndarray) -> tuple[int, int]:
    """Return (open positions, pending orders)."""
    n_open = 0
    n_pending = 0
    for j in range(S.shape[0]):
        if S[j, S_POS] != 0.0:
            n_open += 1
        if S[j, S_P_KIND] != 0.0:
            n_pending += 1
    return n_open, n_pending


# -- trades -----------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _write_trade(bk: Book, j: int, t: int, kind: int, mark: float) -> None:
    """Write the asset's current trade; ``mark`` values a still-open remainder."""
    S = bk.S
    A = bk.A
    i = int(A[A_N_TR])
    head = (j, int(S[j, S_TR_ENTRY_BAR]), t, kind)
    sizes = (S[j, S_TR_ESIZE], S[j, S_TR_XSIZE], S[j, S_TR_PEAK], abs(S[j, S_POS]), S[j, S_AVG])
    money = (S[j, S_TR_EVAL], S[j, S_TR_XVAL], S[j, S_TR_REAL], S[j, S_TR_FEES], S[j, S_TR_FUND],
             S[j, S_TR_MINLOW], S[j, S_TR_MAXHIGH])  # fmt: skip
    trade_record_nb(bk.trec[i], head, S[j, S_TR_DIR], sizes, money, mark)
    A[A_N_TR] = i + 1


@njit(cache=True, nogil=True)
def trade_record_nb(
    r: Any,
    head: tuple[int, int, int, int],
    direction: float,
    sizes: tuple[float, float, float, float, float],
    money: tuple[float, float, float, float, float, float, float],
    mark: float,
) -> None:
    """Fill the trade record ``r``: the one P&L, return, exit price and MAE/MFE rule (both kernels).

    ``head`` = (asset, entry bar, bar, exit kind); ``direction`` 1 or -1; ``sizes`` = (entered,
    exited, peak, still open, average price of the open rest); ``money`` = (entry value, exit
    value, realised P&L, fees, funding, lowest low, highest high); ``mark`` values the open rest.
    """
    j, entry_bar, t, kind = head
    esize, xsize, peak, open_rest, avg = sizes
    evalue, xval, gross, fees, funding, min_low, max_high = money
    entry = evalue / esize if esize > 0.0 else np.nan
    is_open = open_rest > EPS
    if is_open:
        gross += direction * open_rest * (mark - avg)
        xval += open_rest * mark
        xsize += open_rest
    pnl = gross - fees - funding
    r.asset = j
    r.direction = int(direction)
    r.entry_bar = entry_bar
    r.exit_bar = -1 if is_open else t
    r.entry_price = entry
    r.exit_price = xval / xsize if xsize > 0.0 else np.nan
    r.size = peak
    r.pnl = pnl
    r.ret = pnl / evalue if evalue > 0.0 else np.nan
    r.fees = fees
    r.funding = funding
    if direction > 0.0:
        r.mae = min_low / entry - 1.0
        r.mfe = max_high / entry - 1.0
    else:
        r.mae = 1.0 - max_high / entry
        r.mfe = 1.0 - min_low / entry
    r.exit_kind = -1 if is_open else kind
    r.is_open = is_open


@njit(cache=True, nogil=True)
def _start_trade(S: np.ndarray, j: int, t: int, direction: float, price: float) -> None:
    S[j, S_TR_OPEN] = 1.0
    S[j, S_TR_DIR] = direction
    S[j, S_TR_ENTRY_BAR] = t
    S[j, S_TR_EVAL] = 0.0
    S[j, S_TR_ESIZE] = 0.0
    S[j, S_TR_XVAL] = 0.0
    S[j, S_TR_XSIZE] = 0.0
    S[j, S_TR_PEAK] = 0.0
    S[j, S_TR_FEES] = 0.0
    S[j, S_TR_FUND] = 0.0
    S[j, S_TR_REAL] = 0.0
    S[j, S_TR_MINLOW] = price
    S[j, S_TR_MAXHIGH] = price
    S[j, S_AVG] = 0.0


@njit(cache=True, nogil=True)
def stop_distance_nb(kind: int, value: float, base: float, atr: float) -> float:
    """Return a stop's distance from the base price; NaN when off (both kernels)."""
    if kind == STOP_PCT:
        return base * value
    if kind == STOP_ABS:
        return value
    if kind == STOP_ATR:
        return value * atr
    return np.nan


@njit(cache=True, nogil=True)
def stop_levels_nb(
    cfg: np.ndarray, direction: float, price: float, atr: float
) -> tuple[float, float]:
    """Stop-loss and take-profit levels of a position entered at ``price`` (NaN: off); both kernels."""
    d = stop_distance_nb(int(cfg[CFG_SL_KIND]), cfg[CFG_SL_VALUE], price, atr)
    sl = price - direction * d if d == d else np.nan
    d = stop_distance_nb(int(cfg[CFG_TP_KIND]), cfg[CFG_TP_VALUE], price, atr)
    tp = price + direction * d if d == d else np.nan
    return sl, tp


@njit(cache=True, nogil=True)
def _arm_stops(S: np.ndarray, cfg: np.ndarray, j: int, price: float, atr: float) -> None:
    direction = 1.0 if S[j, S_POS] > 0.0 else -1.0
    S[j, S_SL], S[j, S_TP] = stop_levels_nb(cfg, direction, price, atr)
    kind = int(cfg[CFG_TRAIL_KIND])
    if kind == STOP_PCT:
        S[j, S_TRAIL_D] = -cfg[CFG_TRAIL_VALUE]  # negative: a fraction of the running peak
    else:
        S[j, S_TRAIL_D] = stop_distance_nb(kind, cfg[CFG_TRAIL_VALUE], price, atr)
    S[j, S_TRAIL_PEAK] = price


# -- fills ------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _apply_fill(bk: Book, cfg: np.ndarray, t: int, o: Order, fee_rate: float, rule: int) -> None:
    """Book a fill of ``o.size`` (signed units) at ``o.price``: cash, position, trade, stops, record."""
    S = bk.S
    A = bk.A
    j = o.asset
    size = o.size
    price = o.price
    kind = o.kind
    fee = fee_nb(size, price, fee_rate, cfg[CFG_FEE_FIXED])
    A[A_CASH] -= size * price + fee
    pos = S[j, S_POS]
    _record(bk, t, o, fee, STATUS_FILLED, rule)
    if kind != KIND_STOP_LOSS and kind != KIND_TAKE_PROFIT and kind != KIND_TRAILING_STOP:
        A[A_ORDERS_TODAY] += 1.0
    # Split the fill into a reducing part (against pos) and an opening part.
    reduce = 0.0
    if pos != 0.0 and pos * size < 0.0:
        reduce = min(abs(size), abs(pos))
    opening = abs(size) - reduce
    if reduce > 0.0:
        share = reduce / abs(size)
        S[j, S_TR_FEES] += fee * share
        S[j, S_TR_REAL] += (1.0 if pos > 0.0 else -1.0) * reduce * (price - S[j, S_AVG])
        S[j, S_TR_XVAL] += reduce * price
        S[j, S_TR_XSIZE] += reduce
        S[j, S_POS] = pos + (reduce if pos < 0.0 else -reduce)
        if abs(S[j, S_POS]) <= EPS * max(1.0, abs(pos)):
            S[j, S_POS] = 0.0
            _write_trade(bk, j, t, kind, price)
            record_trade_nb(A[A_KELLY_N : A_KELLY_LOSS_SUM + 1], bk.trec[int(A[A_N_TR]) - 1].ret)
            S[j, S_TR_OPEN] = 0.0
            S[j, S_SL] = np.nan
            S[j, S_TP] = np.nan
            S[j, S_TRAIL_D] = np.nan
            S[j, S_SL_REST] = np.nan
    if opening > 0.0:
        S[j, S_SL_REST] = np.nan  # the runner places a new stop list for the new position
        direction = 1.0 if size > 0.0 else -1.0
        if S[j, S_TR_OPEN] == 0.0:
            _start_trade(S, j, t, direction, price)
        held = abs(S[j, S_POS])
        S[j, S_AVG] = (S[j, S_AVG] * held + price * opening) / (held + opening)
        S[j, S_TR_EVAL] += opening * price
        S[j, S_TR_ESIZE] += opening
        S[j, S_TR_FEES] += fee * (opening / abs(size))
        S[j, S_POS] = direction * (held + opening)
        S[j, S_TR_PEAK] = max(S[j, S_TR_PEAK], held + opening)
        S[j, S_ENTRY_FILL_BAR] = t
        _arm_stops(S, cfg, j, S[j, S_AVG], o.atr)


@njit(cache=True, nogil=True)
def _buying_power(
    equity: float,
    gross: float,
    pos: float,
    price: float,
    side: float,
    cfg: np.ndarray,
    value: float,
    fee_rate: float,
) -> float:
    """Return the most units a new exposure of ``side`` may add (``value`` = this asset's |value|).

    Fees are reserved at the taker rate, or at the fill's own rate when that is
    higher (a maker fee above the taker fee), so an unlevered account never pays
    more than its cash.
    """
    lev = cfg[CFG_LEVERAGE]
    fee = max(cfg[CFG_FEE_TAKER], fee_rate)
    fixed = cfg[CFG_FEE_FIXED]
    if pos * side < 0.0:
        # The closing part passes first; what remains may open the other side.
        equity -= abs(pos) * price * fee
        gross -= value
        value = 0.0
    room = lev * (equity - fixed) - (gross - value) - value
    if room <= 0.0:
        return 0.0
    return float(room / (price * (1.0 + lev * fee)))


@njit(cache=True, nogil=True)
def covers_fees_nb(cash: float, size: float, price: float, fee_rate: float, fixed: float) -> bool:
    """Return False for a fill of ``size`` whose fees exceed its proceeds by more than the cash.

    Such a sale would take the cash below zero (vectorbt's ``CantCoverFees``);
    it is refused and the position kept. Shared by both kernels.
    """
    flow = -size * price - fee_nb(size, price, fee_rate, fixed)
    return flow >= 0.0 or cash + flow >= 0.0


@njit(cache=True, nogil=True)
def _blocked(bk: Book, limits: np.ndarray, t: int, o: Order) -> bool:
    """Record and return True when the account's state refuses new exposure now.

    A drawdown flatten halt, or the day's order budget spent (the daily loss is a breaker of
    the risk spec: engine/_risk.py).
    """
    A = bk.A
    if A[A_HALTED] > 0.0:
        _reject(bk, t, o.asset, o.size, o.price, o.kind, STATUS_REJECTED_RISK, 0)
        return True
    if orders_exhausted_nb(int(A[A_ORDERS_TODAY]), limits):
        _reject(bk, t, o.asset, o.size, o.price, o.kind, STATUS_REJECTED_RISK,
                RULE_MAX_ORDERS_PER_DAY)  # fmt: skip
        return True
    return False


@njit(cache=True, nogil=True)
def _fit_exposure(bk: Book, rules: Rules, t: int, o: Order, fee_rate: float) -> float:
    """Return the size of a non-reducing order cut to the buying power, lot and minimum notional.

    0 when nothing is left; a rejection for funds or minimum notional is recorded here.
    """
    j = o.asset
    size = o.size
    price = o.price
    pos = bk.S[j, S_POS]
    equity, gross = _valuation(bk)
    value = abs(pos * price)
    side = 1.0 if size > 0.0 else -1.0
    # The part beyond closing the current position must fit the buying power.
    closing = min(abs(size), abs(pos)) if pos * size < 0.0 else 0.0
    extra = abs(size) - closing
    cap = _buying_power(equity, gross, pos, price, side, rules.cfg, value, fee_rate)
    if extra > cap:
        extra = cap
        size = side * (closing + extra)
        # Nothing (or numerical dust) left to spend: the order is rejected for funds.
        if closing == 0.0 and extra * price <= DUST * max(abs(equity), 1.0):
            _reject(bk, t, j, side, price, o.kind, STATUS_REJECTED_FUNDS, 0)
            return 0.0
    step = rules.lot[j]
    if step > 0.0 and extra > 0.0:
        extra = np.floor(extra / step + 1e-9) * step
        size = side * (closing + extra)
    if extra > 0.0 and extra * price < rules.min_notional[j]:
        if closing == 0.0:
            _reject(bk, t, j, side * extra, price, o.kind, STATUS_REJECTED_MIN_NOTIONAL, 0)
            return 0.0
        size = side * closing
    return size


@njit(cache=True, nogil=True)
def _submit(bk: Book, rules: Rules, t: int, o: Order) -> float:
    """Check and execute one order; return the signed size filled (0 when rejected)."""
    S = bk.S
    A = bk.A
    cfg = rules.cfg
    limits = rules.limits
    j = o.asset
    size = o.size
    price = o.price
    kind = o.kind
    if np.isnan(size) or size == 0.0 or np.isnan(price) or price <= 0.0:
        return 0.0
    pos = S[j, S_POS]
    if cfg[CFG_ALLOW_SHORT] == 0.0 and pos + size < 0.0:
        size = -pos  # without shorting a sale only closes the long
        if size == 0.0:
            return 0.0
    reducing = pos * size < 0.0 and abs(size) <= abs(pos) * (1.0 + 1e-12)
    if reducing:
        size = -pos if abs(size) >= abs(pos) else size
    elif _blocked(bk, limits, t, Order(j, size, price, kind, False, 0.0, np.nan)):
        return 0.0
    fee_rate = cfg[CFG_FEE_MAKER] if o.maker else cfg[CFG_FEE_TAKER]
    if not reducing and size != 0.0:
        size = _fit_exposure(bk, rules, t, Order(j, size, price, kind, o.maker, o.slip, o.atr),
                             fee_rate)  # fmt: skip
        if size == 0.0:
            return 0.0
    if (
        pos > 0.0
        and size < 0.0
        and not covers_fees_nb(A[A_CASH], size, price, fee_rate, cfg[CFG_FEE_FIXED])
    ):
        _reject(bk, t, j, size, price, kind, STATUS_REJECTED_FUNDS, 0)
        return 0.0
    want = size  # the run's risk spec decides, as live checks the engine's order
    size, rule = risk_gate_nb(bk, rules, t, j, size, price, kind)
    if size == 0.0:
        _reject(bk, t, j, want, price, kind, STATUS_REJECTED_RISK, rule)
        return 0.0
    _apply_fill(bk, cfg, t, Order(j, size, price, kind, o.maker, o.slip, o.atr), fee_rate, rule)
    return size


# -- sizing -----------------------------------------------------------------------


@njit(cache=True, nogil=True)
def entry_size_basic_nb(
    kind: int, value: float, side: float, price: float, equity: float, cash: float, fee: float
) -> float:
    """Return the signed size of an entry sized by cash, units, notional or percent of equity.

    ``inf`` means all the buying power; ``fee`` is the taker rate (``cash_percent``
    spends that share of the cash, fees included). Both kernels size with it.
    """
    if kind == SIZE_ALL:
        return side * np.inf
    if kind == SIZE_UNITS:
        return side * value
    if kind == SIZE_NOTIONAL:
        return side * value / price
    if kind == SIZE_PERCENT:
        return side * fixed_fraction_size_nb(value, equity, price)
    if kind == SIZE_CASH_PERCENT:
        return side * value * max(cash, 0.0) / (price * (1.0 + fee))
    return 0.0


@njit(cache=True, nogil=True)
def _entry_size(
    cfg: np.ndarray, side: float, price: float, equity: float, vol: float, A: np.ndarray
) -> float:
    """Return the signed size of a signal entry (``inf`` means all the buying power).

    Fixed fraction, volatility target and Kelly go through :mod:`grekko_research.risk.sizing`,
    the functions live runs call; ``A`` holds the cash and the closed trades' Kelly sums.
    """
    kind = int(cfg[CFG_SIZE_KIND])
    value = cfg[CFG_SIZE_VALUE]
    if kind <= SIZE_PERCENT or kind == SIZE_CASH_PERCENT:
        return entry_size_basic_nb(kind, value, side, price, equity, A[A_CASH], cfg[CFG_FEE_TAKER])
    if kind == SIZE_VOL_TARGET:
        return side * vol_target_size_nb(value, vol, equity, price)
    if kind == SIZE_KELLY:
        f = kelly_entry_fraction_nb(
            value, cfg[CFG_KELLY_WIN_RATE], cfg[CFG_KELLY_PAYOFF], cfg[CFG_KELLY_CAP],
            cfg[CFG_KELLY_MIN_TRADES], cfg[CFG_KELLY_WARMUP], A[A_KELLY_N : A_KELLY_LOSS_SUM + 1],
        )  # fmt: skip
        return side * fixed_fraction_size_nb(f, equity, price)
    return 0.0


# -- orders of the bar phases -----------------------------------------------------


@njit(cache=True, nogil=True)
def _market(
    bk: Book, rules: Rules, market: Market, t: int, j: int, size: float, atr: float, kind: int
) -> float:
    """Fill a market order of ``size`` units (±inf: all the buying power) at ``bk.px[j]``."""
    price = bk.px[j]
    side = 1.0 if size > 0.0 else -1.0
    fill, size = fill_nb(rules, market, t, j, size, price, True)
    if np.isinf(size):
        size = side * 1e300  # capped by the buying power in _submit
    return _submit(bk, rules, t, Order(j, size, fill, kind, False, fill - price, atr))


@njit(cache=True, nogil=True)
def _cancel_pending(bk: Book, j: int, t: int) -> None:
    S = bk.S
    kind = int(S[j, S_P_KIND])
    if kind != 0:
        _reject(bk, t, j, S[j, S_P_SIZE], S[j, S_P_LIMIT], kind, STATUS_CANCELLED, 0)
        S[j, S_P_KIND] = 0.0


@njit(cache=True, nogil=True)
def _stop_exit(
    bk: Book, rules: Rules, market: Market, t: int, j: int, kind: int, price: float, atr: float
) -> None:
    """Close the asset's position at a stop level (stop and trailing exits pay slippage, except
    under the venue's rules: its stop-market fills at the trigger price)."""
    pos = bk.S[j, S_POS]
    slips = kind != KIND_TAKE_PROFIT and rules.cfg[CFG_STOP_TRIGGER] == 0.0
    fill, size = fill_nb(rules, market, t, j, -pos, price, slips)
    bk.S[j, S_STOP_BAR] = t
    _submit(bk, rules, t, Order(j, size, fill, kind, False, fill - price, atr))


@njit(cache=True, nogil=True)
def _venue_stops(
    bk: Book, rules: Rules, market: Market, t: int, j: int, gap: bool, atr: float
) -> None:
    """The asset's position stops as the venue holds them on bar ``t`` (``Stops(trigger=
    "venue")``; the Binance spot simulator's rules, ``live/sim/_spot_types.py``).

    A stop-limit that triggered earlier and rests at its limit (``S_SL_REST``; the list's other
    leg expired at the trigger) fills there, as a maker, on a bar that trades *through* it (a
    sell's high above it, a buy's low below). Otherwise the OCO list
    (:func:`~grekko_research.engine._fills.venue_stop_hit_nb`) is checked; a stop-loss sent as a
    stop-limit (``CFG_STOP_LIMIT_OFFSET``, its limit that fraction beyond the stop on the tick
    grid, as the runner sends it) fills at its trigger price when the limit allows, else rests
    from the next bar on: the stop-limit a gap triggers and does not fill. Under USD-M's rules
    (``Stops(trigger="usdm")``, :func:`~grekko_research.engine._fills.usdm_stop_hit_nb`) the
    orders are separate: a resting stop-limit leaves the take-profit and the trailing stop
    working, in the bar it triggered in too.
    """
    S = bk.S
    pos = S[j, S_POS]
    long = pos > 0.0
    h = market.high[t, j]
    lo = market.low[t, j]
    rest = S[j, S_SL_REST]
    if rest == rest:
        if (long and h > rest) or (not long and lo < rest):
            fill, size = fill_nb(rules, market, t, j, -pos, rest, False)
            S[j, S_STOP_BAR] = t
            _submit(bk, rules, t, Order(j, size, fill, KIND_STOP_LOSS, True, fill - rest, atr))
            return
        if rules.cfg[CFG_STOP_TRIGGER] != TRIGGER_USDM:
            return
    tick = rules.tick[j]
    o = market.open[t, j]
    if rules.cfg[CFG_STOP_TRIGGER] == TRIGGER_COINBASE:
        _coinbase_bracket(bk, rules, market, t, j, gap, atr)
        return
    usdm = rules.cfg[CFG_STOP_TRIGGER] == TRIGGER_USDM
    if usdm:
        kind, price = usdm_stop_hit_nb(S, j, o, h, lo, gap, tick, rest == rest)
    else:
        kind, price = venue_stop_hit_nb(S, j, o, h, lo, gap, tick)
    if kind == 0:
        return
    off = rules.cfg[CFG_STOP_LIMIT_OFFSET]
    if kind == KIND_STOP_LOSS and off == off:
        stop = _venue_level(S[j, S_SL], tick, long)
        limit = _venue_level(stop * (1.0 - off) if long else stop * (1.0 + off), tick, not long)
        if (long and price < limit) or (not long and price > limit):
            S[j, S_SL_REST] = limit
            if not usdm:
                return  # the OCO's other leg expired with the trigger
            # USD-M's take-profit and trailing stop are orders of their own: still working.
            kind, price = usdm_stop_hit_nb(S, j, o, h, lo, gap, tick, True)
            if kind == 0:
                return
    _stop_exit(bk, rules, market, t, j, kind, price, atr)


@njit(cache=True, nogil=True)
def _coinbase_bracket(
    bk: Book, rules: Rules, market: Market, t: int, j: int, gap: bool, atr: float
) -> None:
    """The asset's Coinbase bracket on bar ``t`` (no stop resting): its stop leg triggered
    becomes a limit ``COINBASE_BRACKET_SLIP`` beyond the trigger (on the tick grid, away from
    the market), filled at the trigger price (taker) when that limit allows, else resting from
    the next bar on (``S_SL_REST``); its limit leg fills at its price as a maker."""
    S = bk.S
    pos = S[j, S_POS]
    long = pos > 0.0
    tick = rules.tick[j]
    h, lo = market.high[t, j], market.low[t, j]
    kind, price = coinbase_stop_hit_nb(S, j, market.open[t, j], h, lo, gap, tick)
    if kind == KIND_STOP_LOSS:
        stop = _venue_level(S[j, S_SL], tick, long)
        slip = COINBASE_BRACKET_SLIP
        limit = _venue_level(stop * (1.0 - slip) if long else stop * (1.0 + slip), tick, not long)
        if (long and price < limit) or (not long and price > limit):
            S[j, S_SL_REST] = limit
            return
        _stop_exit(bk, rules, market, t, j, kind, price, atr)
    elif kind == KIND_TAKE_PROFIT:
        fill, size = fill_nb(rules, market, t, j, -pos, price, False)
        S[j, S_STOP_BAR] = t
        _submit(bk, rules, t, Order(j, size, fill, KIND_TAKE_PROFIT, True, fill - price, atr))


@njit(cache=True, nogil=True)
def _try_pending(
    bk: Book, rules: Rules, market: Market, t: int, j: int, at_open: bool, atr: float
) -> None:
    """Fill the asset's pending order if the open (or the bar's range) reaches it."""
    S = bk.S
    o = market.open[t, j]
    h = market.high[t, j]
    lo = market.low[t, j]
    price, maker, filled = _pending_fill_price(S, j, o, h, lo, at_open)
    if not filled:
        return
    kind = int(S[j, S_P_KIND])
    size = S[j, S_P_SIZE]
    side = 1.0 if size > 0.0 else -1.0
    fill, size = fill_nb(rules, market, t, j, size, price, not maker)
    if np.isinf(size):
        equity, _ = _valuation(bk)
        size = _entry_size(rules.cfg, side, fill, equity, np.nan, bk.A)
        if np.isinf(size):
            size = side * 1e300
    S[j, S_P_KIND] = 0.0
    _submit(bk, rules, t, Order(j, size, fill, kind, maker, fill - price, atr))


@njit(cache=True, nogil=True)
def _flatten(bk: Book, rules: Rules, market: Market, t: int, kind: int) -> None:
    """Close every position at ``bk.px`` (assets without a market now keep theirs)."""
    S, px, filled = bk.S, bk.px, market.filled
    for j in range(S.shape[0]):
        pos = S[j, S_POS]
        if pos == 0.0 or filled[t, j]:
            continue
        ref = px[j]
        fill, size = fill_nb(rules, market, t, j, -pos, ref, True)
        _submit(bk, rules, t, Order(j, size, fill, kind, False, fill - ref, np.nan))
        if S[j, S_P_KIND] != 0.0:
            _cancel_pending(bk, j, t)


@njit_inline
def _worst_price(S: np.ndarray, market: Market, t: int, j: int) -> float:
    """Return the price of bar ``t`` worst for asset ``j``'s position (no market: the last)."""
    if market.filled[t, j]:
        return float(S[j, S_LAST])
    return float(market.low[t, j] if S[j, S_POS] > 0.0 else market.high[t, j])


@njit(cache=True, nogil=True)
def _check_liquidation(bk: Book, rules: Rules, market: Market, t: int) -> None:
    """Liquidate everything when equity at the bar's worst prices is below maintenance margin.

    Allocates nothing (the bar loop runs without the memory runtime, see ``nb._run_bars``).
    """
    S = bk.S
    A = bk.A
    cfg = rules.cfg
    k = S.shape[0]
    equity = A[A_CASH]
    gross = 0.0
    for j in range(k):
        pos = S[j, S_POS]
        if pos != 0.0:
            worst = _worst_price(S, market, t, j)
            equity += pos * worst
            gross += abs(pos * worst)
    if gross <= 0.0 or equity > cfg[CFG_MAINT_MARGIN] * gross:
        return
    _event(bk, t, -1, RULE_LIQUIDATION, equity / gross, cfg[CFG_MAINT_MARGIN])
    for j in range(k):
        pos = S[j, S_POS]
        if pos == 0.0:
            continue
        # The exchange closes at the bar's worst price: no fill model, no slippage.
        o = Order(j, -pos, _worst_price(S, market, t, j), KIND_LIQUIDATION, False, 0.0, np.nan)
        _apply_fill(bk, cfg, t, o, cfg[CFG_FEE_TAKER], RULE_LIQUIDATION)
        S[j, S_P_KIND] = 0.0
