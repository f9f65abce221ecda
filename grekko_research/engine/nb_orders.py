"""Order mechanics inside the kernel: fills, fees, slippage, buying power, stops, records.

Every function here is ``@njit`` and works on the kernel's state arrays:
``S`` (per-asset state, columns ``S_*``), ``A`` (account, ``A_*``) and the
record arrays ``orec``/``trec``/``erec`` (columns ``O_*``/``T_*``/``E_*``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from grekko_research.engine.layout import (
    A_BLOCK_DAY,
    A_CASH,
    A_DAY,
    A_HALTED,
    A_KELLY_LOSS_SUM,
    A_KELLY_N,
    A_KELLY_WIN_SUM,
    A_KELLY_WINS,
    A_N_EV,
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
    CFG_SLIP_KIND,
    CFG_SLIP_VALUE,
    CFG_TP_KIND,
    CFG_TP_VALUE,
    CFG_TRAIL_KIND,
    CFG_TRAIL_VALUE,
    DUST,
    E_ASSET,
    E_BAR,
    E_LIMIT,
    E_RULE,
    E_VALUE,
    EPS,
    KIND_LIMIT,
    KIND_LIQUIDATION,
    KIND_MARKET,
    KIND_STOP,
    KIND_STOP_LIMIT,
    KIND_STOP_LOSS,
    KIND_TAKE_PROFIT,
    KIND_TRAILING_STOP,
    O_ASSET,
    O_BAR,
    O_FEE,
    O_KIND,
    O_PRICE,
    O_RULE,
    O_SIDE,
    O_SIZE,
    O_SLIPPAGE,
    O_STATUS,
    S_AVG,
    S_ENTRY_FILL_BAR,
    S_LAST,
    S_P_KIND,
    S_P_LIMIT,
    S_P_SIZE,
    S_P_STOP,
    S_P_TRIG,
    S_POS,
    S_SL,
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
    SLIP_BPS,
    SLIP_RANGE,
    SLIP_VOLUME,
    STATUS_CANCELLED,
    STATUS_FILLED,
    STATUS_REJECTED_FUNDS,
    STATUS_REJECTED_MIN_NOTIONAL,
    STATUS_REJECTED_RISK,
    STOP_ABS,
    STOP_ATR,
    STOP_PCT,
    T_ASSET,
    T_DIRECTION,
    T_ENTRY_BAR,
    T_ENTRY_PRICE,
    T_EXIT_BAR,
    T_EXIT_KIND,
    T_EXIT_PRICE,
    T_FEES,
    T_FUNDING,
    T_IS_OPEN,
    T_MAE,
    T_MFE,
    T_PNL,
    T_RETURN,
    T_SIZE,
)
from grekko_research.risk.rules import (
    RULE_LIQUIDATION,
    RULE_MAX_ORDERS_PER_DAY,
    allowed_size_nb,
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
    if rec.shape[0] >= need:
        return rec
    out = np.empty((max(need, 2 * rec.shape[0] + 16), rec.shape[1]))
    out[: rec.shape[0]] = rec
    return out


@njit(cache=True, nogil=True)
def _order(
    orec: np.ndarray,
    A: np.ndarray,
    t: int,
    j: int,
    size: float,
    price: float,
    fee: float,
    kind: int,
    status: int,
    rule: int,
    slip: float,
) -> None:
    i = int(A[A_N_ORD])
    orec[i, O_BAR] = t
    orec[i, O_ASSET] = j
    orec[i, O_SIDE] = 1.0 if size > 0.0 else -1.0
    orec[i, O_SIZE] = abs(size)
    orec[i, O_PRICE] = price
    orec[i, O_FEE] = fee
    orec[i, O_KIND] = kind
    orec[i, O_STATUS] = status
    orec[i, O_RULE] = rule
    orec[i, O_SLIPPAGE] = slip
    A[A_N_ORD] = i + 1


@njit(cache=True, nogil=True)
def _event(
    erec: np.ndarray, A: np.ndarray, t: int, j: int, rule: int, value: float, limit: float
) -> None:
    i = int(A[A_N_EV])
    erec[i, E_BAR] = t
    erec[i, E_ASSET] = j
    erec[i, E_RULE] = rule
    erec[i, E_VALUE] = value
    erec[i, E_LIMIT] = limit
    A[A_N_EV] = i + 1


# -- prices -----------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _round_tick(price: float, tick: float, side: float) -> float:
    """Round a fill price to the tick grid against the trader (buys up, sells down)."""
    if tick <= 0.0:
        return price
    steps = price / tick
    if side > 0.0:
        return np.ceil(steps - 1e-9) * tick
    return np.floor(steps + 1e-9) * tick


@njit(cache=True, nogil=True)
def _slipped(
    price: float,
    side: float,
    size: float,
    high: float,
    low: float,
    volume: float,
    tick: float,
    cfg: np.ndarray,
) -> float:
    """Return a taker fill price after slippage, on the tick grid, inside [low, high]."""
    kind = int(cfg[CFG_SLIP_KIND])
    value = cfg[CFG_SLIP_VALUE]
    out = price
    if kind == SLIP_BPS:
        out = price * (1.0 + side * value * 1e-4)
    elif kind == SLIP_RANGE:
        out = price + side * value * (high - low)
    elif kind == SLIP_VOLUME:
        share = abs(size) / volume if volume > 0.0 else 1.0
        out = price * (1.0 + side * value * share)
    if kind != 0:
        out = _round_tick(out, tick, side)
    return min(max(out, low), high)


@njit(cache=True, nogil=True)
def _valuation(S: np.ndarray, A: np.ndarray, prices: np.ndarray) -> tuple[float, float]:
    """Return (equity, gross exposure) with positions valued at ``prices`` (NaN: last price)."""
    equity = A[A_CASH]
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


# -- trades -----------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _write_trade(
    trec: np.ndarray, A: np.ndarray, S: np.ndarray, j: int, t: int, kind: int, mark: float
) -> None:
    """Write the asset's current trade; ``mark`` values a still-open remainder."""
    i = int(A[A_N_TR])
    direction = S[j, S_TR_DIR]
    esize = S[j, S_TR_ESIZE]
    entry = S[j, S_TR_EVAL] / esize if esize > 0.0 else np.nan
    xsize = S[j, S_TR_XSIZE]
    xval = S[j, S_TR_XVAL]
    open_rest = abs(S[j, S_POS])
    is_open = open_rest > EPS
    gross = S[j, S_TR_REAL]
    if is_open:
        gross += direction * open_rest * (mark - S[j, S_AVG])
        xval += open_rest * mark
        xsize += open_rest
    pnl = gross - S[j, S_TR_FEES] - S[j, S_TR_FUND]
    trec[i, T_ASSET] = j
    trec[i, T_DIRECTION] = direction
    trec[i, T_ENTRY_BAR] = S[j, S_TR_ENTRY_BAR]
    trec[i, T_EXIT_BAR] = -1.0 if is_open else t
    trec[i, T_ENTRY_PRICE] = entry
    trec[i, T_EXIT_PRICE] = xval / xsize if xsize > 0.0 else np.nan
    trec[i, T_SIZE] = S[j, S_TR_PEAK]
    trec[i, T_PNL] = pnl
    trec[i, T_RETURN] = pnl / S[j, S_TR_EVAL] if S[j, S_TR_EVAL] > 0.0 else np.nan
    trec[i, T_FEES] = S[j, S_TR_FEES]
    trec[i, T_FUNDING] = S[j, S_TR_FUND]
    if direction > 0.0:
        trec[i, T_MAE] = S[j, S_TR_MINLOW] / entry - 1.0
        trec[i, T_MFE] = S[j, S_TR_MAXHIGH] / entry - 1.0
    else:
        trec[i, T_MAE] = 1.0 - S[j, S_TR_MAXHIGH] / entry
        trec[i, T_MFE] = 1.0 - S[j, S_TR_MINLOW] / entry
    trec[i, T_EXIT_KIND] = -1.0 if is_open else kind
    trec[i, T_IS_OPEN] = 1.0 if is_open else 0.0
    A[A_N_TR] = i + 1


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
def _stop_level(kind: int, value: float, base: float, atr: float) -> float:
    """Return a stop's distance from the base price; NaN when off."""
    if kind == STOP_PCT:
        return base * value
    if kind == STOP_ABS:
        return value
    if kind == STOP_ATR:
        return value * atr
    return np.nan


@njit(cache=True, nogil=True)
def _arm_stops(S: np.ndarray, cfg: np.ndarray, j: int, price: float, atr: float) -> None:
    direction = 1.0 if S[j, S_POS] > 0.0 else -1.0
    d = _stop_level(int(cfg[CFG_SL_KIND]), cfg[CFG_SL_VALUE], price, atr)
    S[j, S_SL] = price - direction * d if d == d else np.nan
    d = _stop_level(int(cfg[CFG_TP_KIND]), cfg[CFG_TP_VALUE], price, atr)
    S[j, S_TP] = price + direction * d if d == d else np.nan
    kind = int(cfg[CFG_TRAIL_KIND])
    if kind == STOP_PCT:
        S[j, S_TRAIL_D] = -cfg[CFG_TRAIL_VALUE]  # negative: a fraction of the running peak
    else:
        S[j, S_TRAIL_D] = _stop_level(kind, cfg[CFG_TRAIL_VALUE], price, atr)
    S[j, S_TRAIL_PEAK] = price


@njit(cache=True, nogil=True)
def _apply_fill(
    S: np.ndarray,
    A: np.ndarray,
    orec: np.ndarray,
    trec: np.ndarray,
    cfg: np.ndarray,
    j: int,
    t: int,
    size: float,
    price: float,
    fee_rate: float,
    kind: int,
    rule: int,
    slip: float,
    atr: float,
) -> None:
    """Book a fill of ``size`` (signed units) at ``price``: cash, position, trade, stops, record."""
    fee = abs(size) * price * fee_rate + cfg[CFG_FEE_FIXED]
    A[A_CASH] -= size * price + fee
    pos = S[j, S_POS]
    _order(orec, A, t, j, size, price, fee, kind, STATUS_FILLED, rule, slip)
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
            _write_trade(trec, A, S, j, t, kind, price)
            record_trade_nb(A[A_KELLY_N : A_KELLY_LOSS_SUM + 1], trec[int(A[A_N_TR]) - 1, T_RETURN])
            S[j, S_TR_OPEN] = 0.0
            S[j, S_SL] = np.nan
            S[j, S_TP] = np.nan
            S[j, S_TRAIL_D] = np.nan
    if opening > 0.0:
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
        _arm_stops(S, cfg, j, S[j, S_AVG], atr)


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
    return room / (price * (1.0 + lev * fee))


@njit(cache=True, nogil=True)
def covers_fees_nb(cash: float, size: float, price: float, fee_rate: float, fixed: float) -> bool:
    """Return False for a fill of ``size`` whose fees exceed its proceeds by more than the cash.

    Such a sale would take the cash below zero (vectorbt's ``CantCoverFees``);
    it is refused and the position kept. Shared by both kernels.
    """
    flow = -size * price - (abs(size) * price * fee_rate + fixed)
    return flow >= 0.0 or cash + flow >= 0.0


@njit(cache=True, nogil=True)
def _submit(
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
    prices: np.ndarray,
    j: int,
    t: int,
    size: float,
    price: float,
    kind: int,
    maker: bool,
    slip: float,
    atr: float,
) -> float:
    """Check and execute one order; return the signed size filled (0 when rejected)."""
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
    elif A[A_HALTED] > 0.0 or A[A_BLOCK_DAY] == A[A_DAY]:
        _order(orec, A, t, j, size, price, 0.0, kind, STATUS_REJECTED_RISK, 0, 0.0)
        return 0.0
    elif orders_exhausted_nb(int(A[A_ORDERS_TODAY]), limits):
        _order(orec, A, t, j, size, price, 0.0, kind, STATUS_REJECTED_RISK, RULE_MAX_ORDERS_PER_DAY,
               0.0)  # fmt: skip
        return 0.0
    rule = 0
    fee_rate = cfg[CFG_FEE_MAKER] if maker else cfg[CFG_FEE_TAKER]
    if not reducing and size != 0.0:
        equity, gross = _valuation(S, A, prices)
        value = abs(pos * price)
        side = 1.0 if size > 0.0 else -1.0
        allowed, rule = allowed_size_nb(size, price, pos, pos * price, gross, equity, limits)
        size = allowed
        # The part beyond closing the current position must fit the buying power.
        closing = min(abs(size), abs(pos)) if pos * size < 0.0 else 0.0
        extra = abs(size) - closing
        cap = _buying_power(equity, gross, pos, price, side, cfg, value, fee_rate)
        if extra > cap:
            extra = cap
            size = side * (closing + extra)
            # Nothing (or numerical dust) left to spend: the order is rejected for funds.
            if rule == 0 and closing == 0.0 and extra * price <= DUST * max(abs(equity), 1.0):
                _order(orec, A, t, j, side, price, 0.0, kind, STATUS_REJECTED_FUNDS, 0, 0.0)
                return 0.0
        step = lot[j]
        if step > 0.0 and extra > 0.0:
            extra = np.floor(extra / step + 1e-9) * step
            size = side * (closing + extra)
        if extra > 0.0 and extra * price < min_notional[j]:
            if closing == 0.0:
                _order(
                    orec,
                    A,
                    t,
                    j,
                    side * extra,
                    price,
                    0.0,
                    kind,
                    STATUS_REJECTED_MIN_NOTIONAL,
                    0,
                    0.0,
                )
                return 0.0
            size = side * closing
        if size == 0.0:
            if rule != 0:
                _order(orec, A, t, j, side, price, 0.0, kind, STATUS_REJECTED_RISK, rule, 0.0)
            return 0.0
    if (
        pos > 0.0
        and size < 0.0
        and not covers_fees_nb(A[A_CASH], size, price, fee_rate, cfg[CFG_FEE_FIXED])
    ):
        _order(orec, A, t, j, size, price, 0.0, kind, STATUS_REJECTED_FUNDS, 0, 0.0)
        return 0.0
    _apply_fill(S, A, orec, trec, cfg, j, t, size, price, fee_rate, kind, rule, slip, atr)
    return size


# -- sizing -----------------------------------------------------------------------


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
    if kind == SIZE_ALL:
        return side * np.inf
    if kind == SIZE_UNITS:
        return side * value
    if kind == SIZE_NOTIONAL:
        return side * value / price
    if kind == SIZE_PERCENT:
        return side * fixed_fraction_size_nb(value, equity, price)
    if kind == SIZE_CASH_PERCENT:  # spend that share of the cash, fees included
        return side * value * max(A[A_CASH], 0.0) / (price * (1.0 + cfg[CFG_FEE_TAKER]))
    if kind == SIZE_VOL_TARGET:
        return side * vol_target_size_nb(value, vol, equity, price)
    if kind == SIZE_KELLY:
        f = kelly_entry_fraction_nb(
            value, cfg[CFG_KELLY_WIN_RATE], cfg[CFG_KELLY_PAYOFF], cfg[CFG_KELLY_CAP],
            cfg[CFG_KELLY_MIN_TRADES], cfg[CFG_KELLY_WARMUP], A[A_KELLY_N], A[A_KELLY_WINS],
            A[A_KELLY_WIN_SUM], A[A_KELLY_LOSS_SUM],
        )  # fmt: skip
        return side * fixed_fraction_size_nb(f, equity, price)
    return 0.0


# -- the loop ---------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _round_tick_nearest(price: float, tick: float) -> float:
    if tick <= 0.0 or np.isnan(price):
        return price
    return np.round(price / tick) * tick


@njit(cache=True, nogil=True)
def _cancel_pending(S: np.ndarray, A: np.ndarray, orec: np.ndarray, j: int, t: int) -> None:
    kind = int(S[j, S_P_KIND])
    if kind != 0:
        _order(orec, A, t, j, S[j, S_P_SIZE], S[j, S_P_LIMIT], 0.0, kind, STATUS_CANCELLED, 0, 0.0)
        S[j, S_P_KIND] = 0.0


@njit(cache=True, nogil=True)
def _pending_fill_price(
    S: np.ndarray, j: int, o: float, h: float, lo: float, at_open: bool
) -> tuple[float, bool, bool]:
    """Return (price, is_maker, filled) for the asset's pending order at the open or intrabar."""
    kind = int(S[j, S_P_KIND])
    size = S[j, S_P_SIZE]
    buy = size > 0.0
    lim = S[j, S_P_LIMIT]
    stp = S[j, S_P_STOP]
    if kind == KIND_MARKET:
        return o, False, at_open
    if kind == KIND_STOP_LIMIT and S[j, S_P_TRIG] == 0.0:
        if at_open:
            if (buy and o >= stp) or (not buy and o <= stp):
                S[j, S_P_TRIG] = 1.0
                if (buy and o <= lim) or (not buy and o >= lim):
                    return o, False, True
            return np.nan, False, False
        if (buy and h >= stp) or (not buy and lo <= stp):
            S[j, S_P_TRIG] = 1.0
            if (buy and lim >= stp) or (not buy and lim <= stp):
                return stp, False, True
        return np.nan, False, False
    if kind in (KIND_LIMIT, KIND_STOP_LIMIT):
        if at_open:
            if (buy and o <= lim) or (not buy and o >= lim):
                return o, False, True
            return np.nan, False, False
        if (buy and lo <= lim) or (not buy and h >= lim):
            return lim, True, True
        return np.nan, False, False
    if kind == KIND_STOP:
        if at_open:
            if (buy and o >= stp) or (not buy and o <= stp):
                return o, False, True
            return np.nan, False, False
        if (buy and h >= stp) or (not buy and lo <= stp):
            return stp, False, True
    return np.nan, False, False


@njit(cache=True, nogil=True)
def _stop_hit(
    S: np.ndarray, j: int, o: float, h: float, lo: float, at_open: bool, both: int
) -> tuple[int, float]:
    """Return (kind, exit price) of a position stop hit at the open or intrabar, else (0, nan)."""
    pos = S[j, S_POS]
    if pos == 0.0:
        return 0, np.nan
    long = pos > 0.0
    sl = S[j, S_SL]
    tp = S[j, S_TP]
    trail = np.nan
    d = S[j, S_TRAIL_D]
    if d == d:
        peak = S[j, S_TRAIL_PEAK]
        if d < 0.0:  # a fraction of the peak (pct trailing), stored negated
            d = -d * peak
        trail = peak - d if long else peak + d
    # The tighter of stop-loss and trailing stop protects the position.
    stop = sl
    stop_kind = KIND_STOP_LOSS
    if trail == trail and (
        np.isnan(stop) or (long and trail > stop) or (not long and trail < stop)
    ):
        stop = trail
        stop_kind = KIND_TRAILING_STOP
    if at_open:
        if stop == stop and ((long and o <= stop) or (not long and o >= stop)):
            return stop_kind, o
        if tp == tp and ((long and o >= tp) or (not long and o <= tp)):
            return KIND_TAKE_PROFIT, o
        return 0, np.nan
    stop_hit = stop == stop and ((long and lo <= stop) or (not long and h >= stop))
    tp_hit = tp == tp and ((long and h >= tp) or (not long and lo <= tp))
    if stop_hit and tp_hit:
        if both == 0:
            return stop_kind, stop
        return KIND_TAKE_PROFIT, tp
    if stop_hit:
        return stop_kind, stop
    if tp_hit:
        return KIND_TAKE_PROFIT, tp
    return 0, np.nan


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


@njit(cache=True, nogil=True)
def _stop_exit(
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
    kind: int,
    price: float,
    high: np.ndarray,
    low: np.ndarray,
    volume: np.ndarray,
    atr: float,
) -> None:
    """Close the asset's position at a stop level (stop and trailing exits pay slippage)."""
    pos = S[j, S_POS]
    fill = price
    if kind != KIND_TAKE_PROFIT:
        side = -1.0 if pos > 0.0 else 1.0
        fill = _slipped(price, side, pos, high[t, j], low[t, j], volume[t, j], tick[j], cfg)
    S[j, S_STOP_BAR] = t
    _submit(S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, px, j, t, -pos, fill,
            kind, False, fill - price, atr)  # fmt: skip


@njit(cache=True, nogil=True)
def _try_pending(
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
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    volume: np.ndarray,
    at_open: bool,
    a: float,
) -> None:
    o = open_[t, j]
    h = high[t, j]
    lo = low[t, j]
    price, maker, filled = _pending_fill_price(S, j, o, h, lo, at_open)
    if not filled:
        return
    kind = int(S[j, S_P_KIND])
    size = S[j, S_P_SIZE]
    side = 1.0 if size > 0.0 else -1.0
    fill = price
    if not maker:
        fill = _slipped(price, side, 0.0 if np.isinf(size) else size, h, lo, volume[t, j], tick[j],
                        cfg)  # fmt: skip
    if np.isinf(size):
        equity, _ = _valuation(S, A, px)
        size = _entry_size(cfg, side, fill, equity, np.nan, A)
        if np.isinf(size):
            size = side * 1e300
    S[j, S_P_KIND] = 0.0
    _submit(S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, px, j, t, size, fill, kind,
            maker, fill - price, a)  # fmt: skip


@njit(cache=True, nogil=True)
def _flatten(
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
    t: int,
    high: np.ndarray,
    low: np.ndarray,
    volume: np.ndarray,
    filled: np.ndarray,
    kind: int,
) -> None:
    """Close every position at ``px`` (assets without a market now keep theirs)."""
    for j in range(S.shape[0]):
        pos = S[j, S_POS]
        if pos == 0.0 or filled[t, j]:
            continue
        side = -1.0 if pos > 0.0 else 1.0
        fill = _slipped(px[j], side, pos, high[t, j], low[t, j], volume[t, j], tick[j], cfg)
        _submit(S, A, orec, trec, erec, cfg, limits, lot, tick, min_notional, px, j, t, -pos, fill, kind,
                False, fill - px[j], np.nan)  # fmt: skip
        if S[j, S_P_KIND] != 0.0:
            _cancel_pending(S, A, orec, j, t)


@njit(cache=True, nogil=True)
def _check_liquidation(
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
    t: int,
    high: np.ndarray,
    low: np.ndarray,
    volume: np.ndarray,
    filled: np.ndarray,
) -> None:
    """Liquidate everything when equity at the bar's worst prices is below maintenance margin."""
    k = S.shape[0]
    worst = np.empty(k)
    equity = A[A_CASH]
    gross = 0.0
    for j in range(k):
        pos = S[j, S_POS]
        if filled[t, j]:
            worst[j] = S[j, S_LAST]
        else:
            worst[j] = low[t, j] if pos > 0.0 else high[t, j]
        if pos != 0.0:
            equity += pos * worst[j]
            gross += abs(pos * worst[j])
    if gross <= 0.0 or equity > cfg[CFG_MAINT_MARGIN] * gross:
        return
    _event(erec, A, t, -1, RULE_LIQUIDATION, equity / gross, cfg[CFG_MAINT_MARGIN])
    for j in range(k):
        pos = S[j, S_POS]
        if pos == 0.0:
            continue
        _apply_fill(S, A, orec, trec, cfg, j, t, -pos, worst[j], cfg[CFG_FEE_TAKER], KIND_LIQUIDATION,
                    RULE_LIQUIDATION, 0.0, np.nan)  # fmt: skip
        S[j, S_P_KIND] = 0.0
