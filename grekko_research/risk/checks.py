"""Pre-trade, portfolio, market and operational risk checks as pure functions.

The live risk engine (``live/risk``) calls these; each is an ``@njit`` function of plain numbers
and arrays (``*_nb``, usable inside kernels) wrapped by a ``check_*`` function that returns a
:class:`Verdict`: the rule's name, whether it passed, the measured value and the limit, so a
breach can be recorded exactly. Order checks that can be met by a smaller order also return
``allowed``: the largest signed order quantity that passes (NaN when not applicable).

**Fail closed.** A check fed a NaN or a non-positive reference (equity, price, peak) fails:
comparisons are written so that NaN never passes. The exception is a window that does not
hold enough data yet (VaR, volatility, price move): it passes with ``value`` NaN.

Every limit is *on* here; switching a rule off is the caller's business (a ``None`` limit in
``LiveRiskConfig`` means the engine does not call the check).

=====================  ======================================================  ===============
check                  value measured                                          passes when
=====================  ======================================================  ===============
``qty_precision``      order quantity (limit: lot size)                        qty on the lot grid
``price_precision``    order price (limit: tick size)                          price on the tick grid
``min_notional``       \\|qty\\| × price (quote)                                   ≥ limit
``max_notional``       \\|qty\\| × price (quote)                                   ≤ limit
``notional_per_day``   notional let through this UTC day, this order included  ≤ limit
``max_position``       \\|position after\\| × price / equity                       ≤ limit
``gross_exposure``     Σ \\|position values\\| after the order (quote)              ≤ limit
``net_exposure``       \\|Σ position values\\| after the order (quote)              ≤ limit, or not worse
``leverage``           Σ \\|position values\\| after the order / equity             ≤ limit
``order_rate``         orders in the last window, this one included            ≤ limit
``price_band``         \\|price / last trade − 1\\|                                ≤ limit
``drawdown``           1 − equity / peak equity                                ≤ limit
``daily_loss``         1 − equity / equity at the UTC day's start              ≤ limit
``var``                historical VaR of equity returns (a loss fraction)      ≤ limit
``volatility``         annualised realised volatility of log returns           ≤ limit
``price_move``         \\|close / close ``window`` bars earlier − 1\\|             ≤ limit
``stale_data``         seconds since the last bar or tick                      ≤ limit
``ws_down``            seconds the websocket has been down                     ≤ limit
``error_rate``         errors in the last window                               ≤ limit
``clock_skew``         \\|venue clock − local clock\\| (ms)                        ≤ limit
=====================  ======================================================  ===============
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numba import njit

from grekko_research.risk.var import (
    VarWindow,
    var_check_nb,
    var_init_nb,
    var_push_nb,
    var_state_len,
)

__all__ = [
    "Verdict",
    "cap_order_nb",
    "check_clock_skew",
    "check_daily_loss",
    "check_drawdown",
    "check_error_rate",
    "check_gross_exposure",
    "check_leverage",
    "check_max_notional",
    "check_max_position",
    "check_min_notional",
    "check_net_exposure",
    "check_notional_per_day",
    "check_order_rate",
    "check_price_band",
    "check_price_move",
    "check_price_precision",
    "check_qty_precision",
    "check_stale_data",
    "check_var",
    "check_var_window",
    "check_volatility",
    "check_ws_down",
    "clock_skew_nb",
    "daily_loss_nb",
    "drawdown_nb",
    "error_rate_nb",
    "gross_exposure_nb",
    "historical_var_nb",
    "leverage_nb",
    "max_notional_nb",
    "max_position_nb",
    "min_notional_nb",
    "net_exposure_nb",
    "notional_per_day_nb",
    "order_rate_nb",
    "price_band_nb",
    "price_move_nb",
    "price_precision_nb",
    "qty_precision_nb",
    "realized_vol_nb",
    "stale_data_nb",
    "var_nb",
    "volatility_nb",
    "ws_down_nb",
]

# How far off the grid (in steps) a quantity or price may be and still count as on it.
_GRID_TOL = 1e-9


class Verdict(NamedTuple):
    """The outcome of one check.

    ``value`` and ``limit`` are in the check's units (see the module table); ``allowed`` is
    the largest signed order quantity that passes, for checks an order can be shrunk to meet.
    """

    rule: str
    ok: bool
    value: float
    limit: float
    allowed: float = math.nan


# -- order quantity and price ---------------------------------------------------------------


@njit(cache=True, nogil=True)
def qty_precision_nb(qty: float, lot: float) -> tuple[bool, float, float, float]:
    """Return ``(ok, |qty|, lot, allowed)``: whether ``qty`` is a multiple of ``lot``.

    ``allowed`` is ``qty`` rounded towards zero onto the lot grid.
    """
    a = abs(qty)
    steps = a / lot
    ok = abs(steps - np.round(steps)) <= _GRID_TOL * max(1.0, steps)
    down = min(np.floor(steps + _GRID_TOL * max(1.0, steps)) * lot, a)
    sign = 1.0 if qty >= 0.0 else -1.0
    return ok, a, lot, sign * down


@njit(cache=True, nogil=True)
def price_precision_nb(price: float, tick: float) -> tuple[bool, float, float]:
    """Return ``(ok, price, tick)``: whether ``price`` is a multiple of ``tick``."""
    steps = price / tick
    ok = abs(steps - np.round(steps)) <= _GRID_TOL * max(1.0, abs(steps))
    return ok, price, tick


@njit(cache=True, nogil=True)
def min_notional_nb(qty: float, price: float, limit: float) -> tuple[bool, float, float]:
    """Return ``(ok, notional, limit)``: the order is worth at least ``limit``."""
    notional = abs(qty) * price
    return notional >= limit, notional, limit


@njit(cache=True, nogil=True)
def max_notional_nb(qty: float, price: float, limit: float) -> tuple[bool, float, float, float]:
    """Return ``(ok, notional, limit, allowed)``: the order is worth at most ``limit``."""
    notional = abs(qty) * price
    sign = 1.0 if qty >= 0.0 else -1.0
    allowed = sign * limit / price if price > 0.0 else 0.0
    ok = notional <= limit
    return ok, notional, limit, qty if ok else allowed


@njit(cache=True, nogil=True)
def notional_per_day_nb(
    spent: float, qty: float, price: float, limit: float
) -> tuple[bool, float, float, float]:
    """Return ``(ok, spent + |qty| × price, limit, allowed)``: the notional already let through
    in this UTC day (``spent``, quote) plus this order's is at most ``limit``.

    ``allowed`` is what is left of the day's limit, as a quantity (0 when nothing is left; a
    NaN ``spent`` or a non-positive price leaves nothing: fail closed).
    """
    notional = abs(qty) * price
    value = spent + notional
    ok = value <= limit
    room = limit - spent
    if not (room > 0.0 and price > 0.0):
        room = 0.0
    sign = 1.0 if qty >= 0.0 else -1.0
    allowed = sign * room / price if price > 0.0 else 0.0
    return ok, value, limit, qty if ok else allowed


@njit(cache=True, nogil=True)
def cap_order_nb(position: float, qty: float, cap_abs: float) -> float:
    """Return the largest part of ``qty`` whose resulting \\|position\\| is at most ``cap_abs``.

    The part that closes an opposite position always passes, and a cap never forces a sale:
    growing an already oversized position is cut to 0, not below.
    """
    new = position + qty
    if position * new >= 0.0 and abs(new) <= abs(position):
        return qty  # purely reducing
    cap = cap_abs if cap_abs > 0.0 else 0.0  # NaN: nothing may be added
    if abs(new) <= cap:
        return qty
    sign = 1.0 if new > 0.0 else -1.0
    if position * sign > 0.0:
        return sign * max(abs(position), cap) - position
    return sign * cap - position


@njit(cache=True, nogil=True)
def max_position_nb(
    position: float, qty: float, price: float, equity: float, limit: float
) -> tuple[bool, float, float, float]:
    """Return ``(ok, |position after| × price / equity, limit, allowed)``.

    ``limit`` is a fraction of equity; with equity ≤ 0 nothing may be added.
    """
    new_value = abs(position + qty) * price
    value = new_value / equity if equity > 0.0 else np.inf
    ok = new_value <= limit * equity
    allowed = qty if ok else cap_order_nb(position, qty, limit * max(equity, 0.0) / price)
    return ok, value, limit, allowed


@njit(cache=True, nogil=True)
def gross_exposure_nb(
    other_gross: float, position: float, qty: float, price: float, limit: float
) -> tuple[bool, float, float, float]:
    """Return ``(ok, gross after, limit, allowed)``; ``other_gross`` = Σ \\|values\\| of the other symbols."""
    value = other_gross + abs(position + qty) * price
    ok = value <= limit
    allowed = qty if ok else cap_order_nb(position, qty, (limit - other_gross) / price)
    return ok, value, limit, allowed


@njit(cache=True, nogil=True)
def net_exposure_nb(
    other_net: float, position: float, qty: float, price: float, limit: float
) -> tuple[bool, float, float, float]:
    """Return ``(ok, |net after|, limit, allowed)``; ``other_net`` = Σ values of the other symbols.

    An order that leaves the net exposure smaller in magnitude than before passes even above
    the limit (it hedges).
    """
    before = abs(other_net + position * price)
    value = abs(other_net + (position + qty) * price)
    ok = value <= limit or value <= before
    if ok:
        return ok, value, limit, qty
    if position + qty > 0.0:
        cap = (limit - other_net) / price
    else:
        cap = (limit + other_net) / price
    return ok, value, limit, cap_order_nb(position, qty, cap)


@njit(cache=True, nogil=True)
def leverage_nb(
    other_gross: float, position: float, qty: float, price: float, equity: float, limit: float
) -> tuple[bool, float, float, float]:
    """Return ``(ok, gross after / equity, limit, allowed)``; with equity ≤ 0 nothing may be added."""
    gross = other_gross + abs(position + qty) * price
    value = gross / equity if equity > 0.0 else np.inf
    ok = gross <= limit * equity
    room = limit * max(equity, 0.0) - other_gross
    allowed = qty if ok else cap_order_nb(position, qty, room / price)
    return ok, value, limit, allowed


@njit(cache=True, nogil=True)
def order_rate_nb(
    times_ms: np.ndarray, now_ms: float, window_ms: float, limit: float
) -> tuple[bool, float, float]:
    """Return ``(ok, orders in (now − window, now] counting this one, limit)``.

    ``times_ms`` are the times of the orders already let through. Approving an order only when
    this passes keeps every window of that length at ``limit`` orders or fewer.
    """
    count = 1.0
    for i in range(times_ms.shape[0]):
        t = times_ms[i]
        if now_ms - window_ms < t <= now_ms:
            count += 1.0
    return count <= limit, count, limit


@njit(cache=True, nogil=True)
def price_band_nb(price: float, reference: float, band: float) -> tuple[bool, float, float]:
    """Return ``(ok, |price / reference − 1|, band)``; no positive reference fails."""
    if not reference > 0.0:
        return False, np.nan, band
    value = abs(price / reference - 1.0)
    return value <= band, value, band


# -- portfolio ------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def drawdown_nb(equity: float, peak: float, limit: float) -> tuple[bool, float, float]:
    """Return ``(ok, 1 − equity / peak, limit)``; breached when equity < (1 − limit) × peak."""
    value = 1.0 - equity / peak if peak > 0.0 else np.nan
    return peak > 0.0 and equity >= (1.0 - limit) * peak, value, limit


@njit(cache=True, nogil=True)
def daily_loss_nb(equity: float, day_start: float, limit: float) -> tuple[bool, float, float]:
    """Return ``(ok, 1 − equity / day start, limit)``; breached below (1 − limit) × day start."""
    value = 1.0 - equity / day_start if day_start > 0.0 else np.nan
    return day_start > 0.0 and equity >= (1.0 - limit) * day_start, value, limit


@njit(cache=True, nogil=True)
def historical_var_nb(equity: np.ndarray, window: int, confidence: float) -> float:
    """Return the historical VaR of the last ``window`` returns of ``equity`` (a loss fraction).

    With the returns ``r = equity[i] / equity[i − 1] − 1`` sorted ascending, VaR is
    ``−r[k − 1]`` for ``k = ⌈window × (1 − confidence)⌉`` (at least 1): the loss exceeded on
    ``(1 − confidence)`` of the bars. NaN with fewer than ``window + 1`` points; NaN returns
    (a non-positive or NaN equity) give NaN too.

    This is the definition (it sorts the window); the checks compute it incrementally
    (:mod:`grekko_research.risk.var`, the same value to the bit).
    """
    n = equity.shape[0]
    if n < window + 1 or window < 1:
        return np.nan
    r = np.empty(window)
    for i in range(window):
        a = equity[n - window - 1 + i]
        b = equity[n - window + i]
        if not (a > 0.0 and b == b):
            return np.nan
        r[i] = b / a - 1.0
    r.sort()
    k = int(np.ceil(window * (1.0 - confidence) - 1e-9))
    k = min(max(k, 1), window)
    var: float = -r[k - 1]
    return var


@njit(cache=True, nogil=True)
def var_nb(
    equity: np.ndarray, window: int, confidence: float, limit: float
) -> tuple[bool, float, float]:
    """Return ``(ok, VaR, limit)``; passes while the window is not full, fails on bad data.

    The last ``window + 1`` equities through the incremental estimator
    (:func:`~grekko_research.risk.var.var_check_nb`, the breakers' own).
    """
    n = equity.shape[0]
    st = np.empty(var_state_len(window))
    var_init_nb(st, window)
    for i in range(max(n - window - 1, 0), n):
        var_push_nb(st, equity[i])
    return var_check_nb(st, confidence, limit)


@njit(cache=True, nogil=True)
def realized_vol_nb(closes: np.ndarray, window: int, periods_per_year: float) -> float:
    """Return the annualised sample standard deviation of the last ``window`` log returns.

    NaN with fewer than ``window + 1`` closes or a non-positive/NaN close in the window.
    """
    n = closes.shape[0]
    if n < window + 1 or window < 2:
        return np.nan
    r = np.empty(window)
    for i in range(window):
        a = closes[n - window - 1 + i]
        b = closes[n - window + i]
        if not (a > 0.0 and b > 0.0):
            return np.nan
        r[i] = np.log(b / a)
    mean = r.sum() / window
    ss = 0.0
    for i in range(window):
        ss += (r[i] - mean) ** 2
    vol: float = np.sqrt(ss / (window - 1) * periods_per_year)
    return vol


@njit(cache=True, nogil=True)
def volatility_nb(
    closes: np.ndarray, window: int, periods_per_year: float, limit: float
) -> tuple[bool, float, float]:
    """Return ``(ok, realised volatility, limit)``; passes while the window is not full."""
    value = realized_vol_nb(closes, window, periods_per_year)
    if closes.shape[0] < window + 1:
        return True, value, limit
    return value <= limit, value, limit


@njit(cache=True, nogil=True)
def price_move_nb(closes: np.ndarray, window: int, limit: float) -> tuple[bool, float, float]:
    """Return ``(ok, |last / close window bars earlier − 1|, limit)``; passes with too few closes."""
    n = closes.shape[0]
    if n < window + 1:
        return True, np.nan, limit
    a = closes[n - window - 1]
    if not a > 0.0:
        return False, np.nan, limit
    value = abs(closes[n - 1] / a - 1.0)
    return value <= limit, value, limit


# -- operational ----------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def stale_data_nb(now_ms: float, last_ms: float, limit_s: float) -> tuple[bool, float, float]:
    """Return ``(ok, seconds since the last bar or tick, limit)``; no data yet (NaN) fails."""
    age = (now_ms - last_ms) / 1000.0
    return age <= limit_s, age, limit_s


@njit(cache=True, nogil=True)
def ws_down_nb(now_ms: float, down_since_ms: float, limit_s: float) -> tuple[bool, float, float]:
    """Return ``(ok, seconds the websocket has been down, limit)``; ``down_since_ms`` < 0: up."""
    if down_since_ms < 0.0:
        return True, 0.0, limit_s
    down = (now_ms - down_since_ms) / 1000.0
    return down <= limit_s, down, limit_s


@njit(cache=True, nogil=True)
def error_rate_nb(
    times_ms: np.ndarray, now_ms: float, window_ms: float, limit: float
) -> tuple[bool, float, float]:
    """Return ``(ok, errors in (now − window, now], limit)``."""
    count = 0.0
    for i in range(times_ms.shape[0]):
        t = times_ms[i]
        if now_ms - window_ms < t <= now_ms:
            count += 1.0
    return count <= limit, count, limit


@njit(cache=True, nogil=True)
def clock_skew_nb(skew_ms: float, limit_ms: float) -> tuple[bool, float, float]:
    """Return ``(ok, |skew|, limit)`` for the venue's clock minus ours."""
    value = abs(skew_ms)
    return value <= limit_ms, value, limit_ms


# -- Python wrappers: a Verdict with the rule's name ------------------------------------------


def _f64(values: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.float64).reshape(-1))


def _v(rule: str, out: tuple[bool, float, float]) -> Verdict:
    return Verdict(rule, bool(out[0]), float(out[1]), float(out[2]))


def _va(rule: str, out: tuple[bool, float, float, float]) -> Verdict:
    return Verdict(rule, bool(out[0]), float(out[1]), float(out[2]), float(out[3]))


def check_qty_precision(qty: float, lot: float) -> Verdict:
    """Quantity on the lot grid; ``allowed`` rounds it towards zero."""
    return _va("qty_precision", qty_precision_nb(float(qty), float(lot)))


def check_price_precision(price: float, tick: float) -> Verdict:
    """Price on the tick grid."""
    return _v("price_precision", price_precision_nb(float(price), float(tick)))


def check_min_notional(qty: float, price: float, limit: float) -> Verdict:
    """Order notional at least ``limit`` (quote currency)."""
    return _v("min_notional", min_notional_nb(float(qty), float(price), float(limit)))


def check_max_notional(qty: float, price: float, limit: float) -> Verdict:
    """Order notional at most ``limit`` (quote currency)."""
    return _va("max_notional", max_notional_nb(float(qty), float(price), float(limit)))


def check_notional_per_day(spent: float, qty: float, price: float, limit: float) -> Verdict:
    """The notional let through in this UTC day (``spent``) plus this order's at most ``limit``
    (quote currency)."""
    out = notional_per_day_nb(float(spent), float(qty), float(price), float(limit))
    return _va("max_notional_per_day", out)


def check_max_position(
    position: float, qty: float, price: float, equity: float, limit: float
) -> Verdict:
    """\\|Position after the order\\| × price at most ``limit`` × equity."""
    out = max_position_nb(float(position), float(qty), float(price), float(equity), float(limit))
    return _va("max_position", out)


def check_gross_exposure(
    other_gross: float, position: float, qty: float, price: float, limit: float
) -> Verdict:
    """Gross exposure after the order at most ``limit`` (quote currency)."""
    out = gross_exposure_nb(
        float(other_gross), float(position), float(qty), float(price), float(limit)
    )
    return _va("gross_exposure", out)


def check_net_exposure(
    other_net: float, position: float, qty: float, price: float, limit: float
) -> Verdict:
    """\\|Net exposure\\| after the order at most ``limit`` (quote currency), or not worse."""
    out = net_exposure_nb(float(other_net), float(position), float(qty), float(price), float(limit))
    return _va("net_exposure", out)


def check_leverage(
    other_gross: float, position: float, qty: float, price: float, equity: float, limit: float
) -> Verdict:
    """Gross exposure after the order at most ``limit`` × equity."""
    out = leverage_nb(
        float(other_gross), float(position), float(qty), float(price), float(equity), float(limit)
    )
    return _va("leverage", out)


def check_order_rate(
    times_ms: Sequence[float] | np.ndarray, now_ms: float, window_s: float, limit: int
) -> Verdict:
    """At most ``limit`` orders in any ``window_s`` seconds, this one included."""
    out = order_rate_nb(_f64(times_ms), float(now_ms), float(window_s) * 1000.0, float(limit))
    return _v("order_rate", out)


def check_price_band(price: float, reference: float, band: float) -> Verdict:
    """Order price within ±``band`` (a fraction) of the last trade."""
    return _v("price_band", price_band_nb(float(price), float(reference), float(band)))


def check_drawdown(equity: float, peak: float, limit: float) -> Verdict:
    """Equity at least (1 − ``limit``) × its peak."""
    return _v("drawdown", drawdown_nb(float(equity), float(peak), float(limit)))


def check_daily_loss(equity: float, day_start: float, limit: float) -> Verdict:
    """Equity at least (1 − ``limit``) × the equity at the UTC day's start."""
    return _v("daily_loss", daily_loss_nb(float(equity), float(day_start), float(limit)))


def check_var(
    equity: Sequence[float] | np.ndarray, window: int, confidence: float, limit: float
) -> Verdict:
    """Historical VaR of the last ``window`` equity returns at ``confidence`` at most ``limit``."""
    out = var_nb(_f64(equity), int(window), float(confidence), float(limit))
    return _v("var", out)


def check_var_window(window: VarWindow, confidence: float, limit: float) -> Verdict:
    """Historical VaR of a rolling :class:`~grekko_research.risk.var.VarWindow` at
    ``confidence`` at most ``limit`` (what the breakers evaluate at each bar)."""
    return _v("var", var_check_nb(window.state, float(confidence), float(limit)))


def check_volatility(
    closes: Sequence[float] | np.ndarray, window: int, periods_per_year: float, limit: float
) -> Verdict:
    """Annualised realised volatility of the last ``window`` log returns at most ``limit``."""
    out = volatility_nb(_f64(closes), int(window), float(periods_per_year), float(limit))
    return _v("volatility", out)


def check_price_move(closes: Sequence[float] | np.ndarray, window: int, limit: float) -> Verdict:
    """Price move over the last ``window`` bars at most ``limit`` (a fraction)."""
    return _v("price_move", price_move_nb(_f64(closes), int(window), float(limit)))


def check_stale_data(now_ms: int, last_ms: int | None, limit_s: float) -> Verdict:
    """The last bar or tick at most ``limit_s`` seconds old (no data at all fails)."""
    last = math.nan if last_ms is None else float(last_ms)
    return _v("stale_data", stale_data_nb(float(now_ms), last, float(limit_s)))


def check_ws_down(now_ms: int, down_since_ms: int | None, limit_s: float) -> Verdict:
    """The websocket down for at most ``limit_s`` seconds (``down_since_ms`` None: it is up)."""
    since = -1.0 if down_since_ms is None else float(down_since_ms)
    return _v("ws_down", ws_down_nb(float(now_ms), since, float(limit_s)))


def check_error_rate(
    times_ms: Sequence[float] | np.ndarray, now_ms: int, window_s: float, limit: int
) -> Verdict:
    """At most ``limit`` errors in the last ``window_s`` seconds."""
    out = error_rate_nb(_f64(times_ms), float(now_ms), float(window_s) * 1000.0, float(limit))
    return _v("error_rate", out)


def check_clock_skew(skew_ms: float | None, limit_ms: float) -> Verdict:
    """The venue's clock within ``limit_ms`` of ours (an unknown skew fails)."""
    skew = math.nan if skew_ms is None else float(skew_ms)
    return _v("clock_skew", clock_skew_nb(skew, float(limit_ms)))
