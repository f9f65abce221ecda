"""The run's risk spec inside the backtest kernel: the live risk engine's decisions, bar by bar.

A backtest evaluates the same :class:`~grekko_research.risk.spec.RiskSpec` as ``grekko-live``
with the same pure ``@njit`` functions (:mod:`grekko_research.risk.evaluate`,
:mod:`grekko_research.risk.breakers`, :mod:`grekko_research.risk.state`); this module only
keeps their state in the kernel's :class:`~grekko_research.engine._state.Book` and writes
what they decide into the event records:

* :func:`risk_order_nb` — one order at submission (``_orders._submit``, after the engine's own
  sizing, buying power, lot and minimum notional, as live checks the engine's planned order):
  :func:`~grekko_research.risk.evaluate.decide_order_nb` refuses it, shrinks it (then onto the
  lot grid, as the live runner does) or lets it through. Position stops and liquidations are
  the venue's and are not checked (live has none); the engine's own ``flatten_at`` flatten is
  checked as a *protective* order, which passes every trading state while it only reduces
  (a halt must not keep the exposure it was meant to cut).
* :func:`risk_bar_close_nb` — at each bar's close, after the engine's mark to market: the
  portfolio breakers (drawdown, daily loss, VaR of the bar equities) and the market breakers
  (volatility, price move of each symbol's closes), their holds, and the trading state
  (``ACTIVE`` / ``REDUCING`` / ``HALTED``: the most severe hold's). The engine's own
  ``portfolio.drawdown.flatten_at`` halt holds the state at ``REDUCING`` (the live runner's
  ``book_drawdown``).

Times are bar times in ms, as a live replay's clock: a bar's close is the next bar's open
(the last bar's: its open plus one bar); an order executing at a bar's open is checked at
that open, one at a close (``execution="close"``) at that close. The operational checks
(data age, websocket, error rate, clock skew) are live only.

State (``Book.R``, float64): the trading state, the breakers' peak / UTC day / day-start
equity (:func:`~grekko_research.risk.state.mark_nb`, at bar closes, like the live engine's),
the UTC day of the last order and the notional adding exposure let through in it
(``order.max_notional_per_day``, at each order, like the live engine's),
one hold slot per breaker (and per symbol for the
market breakers), the times of the last ``max_orders`` orders let through, and the rolling
VaR window of the bar equities (:mod:`grekko_research.risk.var`, pushed once per close).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from grekko_research.engine.layout import (
    A_EQUITY,
    A_HALTED,
    A_N_EV,
    CFG_EXEC_CLOSE,
    KIND_LIMIT,
    KIND_RISK_FLATTEN,
    KIND_STOP_LIMIT,
    KIND_STOP_LOSS,
    S_LAST,
    S_POS,
)
from grekko_research.risk.breakers import (
    Hit,
    MarketLimits,
    PortfolioLimits,
    evaluate_market_nb,
    evaluate_portfolio_nb,
    market_limits,
    portfolio_limits,
)
from grekko_research.risk.evaluate import (
    ORDER_RULES,
    REJECT,
    SHRINK,
    OrderState,
    OrderView,
    added_notional_nb,
    decide_order_nb,
    roll_day_notional_nb,
)
from grekko_research.risk.rules import RULE_NAMES
from grekko_research.risk.spec import OrderLimits, RiskSpec
from grekko_research.risk.state import ACTIVE, FOREVER, HALTED, REDUCING, hold_lifts_nb, mark_nb
from grekko_research.risk.var import var_init_nb, var_push_nb, var_state_len

__all__ = [
    "EVENT_ACTION_NAMES",
    "EVENT_RULE_NAMES",
    "EV_STATE",
    "RiskRules",
    "new_risk_state_nb",
    "record_event_nb",
    "risk_bar_close_nb",
    "risk_gate_nb",
    "risk_order_nb",
    "risk_rules",
]


class RiskRules(NamedTuple):
    """The spec as numbers for the kernel (NaN = off); ``on``: anything to evaluate (the
    engine's own two rules, the drawdown flatten and the orders per day, do not count: they
    run without a trading state, as they always have)."""

    on: bool
    bars_on: bool  # breakers to evaluate at each close (the bar loop returns after each bar)
    order_on: bool
    market_on: bool
    order: OrderLimits
    portfolio: PortfolioLimits
    market: MarketLimits
    periods_per_year: float
    ring: int  # floats of state after the hold slots: orders + var_len
    orders: int  # order times kept for the order rate (max_orders, 0: off)
    var_len: int  # the rolling VaR window's state (risk/var.py; 0: VaR off)
    ts: np.ndarray  # (n,) the bars' open times in ms (order and breaker times)


def risk_rules(
    spec: RiskSpec | None = None,
    periods_per_year: float = math.nan,
    ts: np.ndarray | None = None,
) -> RiskRules:
    """Return the :class:`RiskRules` of ``spec`` (``None``: everything off) for bars opening
    at ``ts`` (ms)."""
    spec = spec or RiskSpec()
    order = spec.order_limits()
    pl, ml = portfolio_limits(spec), market_limits(spec)
    caps = (order.min_notional, order.max_notional, order.max_position, order.max_gross_exposure,
            order.max_net_exposure, order.max_leverage, order.price_band, order.max_orders,
            order.max_notional_per_day)  # fmt: skip
    order_on = bool(order.precision) or any(v == v for v in caps)
    market_on = ml.volatility == ml.volatility or ml.price_move == ml.price_move
    portfolio_on = any(v == v for v in (pl.drawdown, pl.daily_loss, pl.var))
    orders = int(spec.order.max_orders) if spec.order.max_orders is not None else 0
    var_len = int(var_state_len(pl.var_window)) if pl.var == pl.var else 0
    on = bool(order_on or market_on or portfolio_on)
    flatten = spec.portfolio.drawdown.flatten_at is not None
    return RiskRules(
        on,
        bool(market_on or portfolio_on or (on and flatten)),
        bool(order_on),
        bool(market_on),
        order,
        pl,
        ml,
        float(periods_per_year),
        orders + var_len,
        orders,
        var_len,
        np.zeros(0, dtype=np.int64) if ts is None else np.ascontiguousarray(ts, dtype=np.int64),
    )


# -- event records --------------------------------------------------------------------------

EV_ORDER = 100  # + the rule's index in evaluate.ORDER_RULES: an order refused or shrunk
EV_DRAWDOWN, EV_DAILY_LOSS, EV_VAR, EV_VOLATILITY, EV_PRICE_MOVE = 200, 201, 202, 203, 204
EV_STATE = 300  # the trading state changed: value = new state code, limit = previous one
ACT_NONE, ACT_REJECT, ACT_SHRINK, ACT_REDUCE, ACT_HALT, ACT_RESUME = range(6)
EVENT_ACTION_NAMES = ("", "reject", "shrink", "reduce", "halt", "resume")
EVENT_RULE_NAMES: dict[int, str] = {
    **RULE_NAMES,
    **{EV_ORDER + i: name for i, name in enumerate(ORDER_RULES) if name},
    EV_DRAWDOWN: "drawdown",
    EV_DAILY_LOSS: "daily_loss",
    EV_VAR: "var",
    EV_VOLATILITY: "volatility",
    EV_PRICE_MOVE: "price_move",
    EV_STATE: "state",
}
"""Names of the ``rule`` codes of the event records (and of a refused order's ``rule``)."""


@njit(cache=True, nogil=True)
def record_event_nb(
    bk: Any, t: int, j: int, rule: int, value: float, limit: float, action: int
) -> None:
    """Append an event record (``j`` −1: the portfolio)."""
    A = bk.A
    i = int(A[A_N_EV])
    r = bk.erec[i]
    r.bar = t
    r.asset = j
    r.rule = rule
    r.value = value
    r.limit = limit
    r.action = action
    A[A_N_EV] = i + 1


# -- state layout ---------------------------------------------------------------------------

# R_NDAY / R_NSPENT: the UTC day of the last order decided and the notional adding exposure
# let through in it (order.max_notional_per_day; evaluate.roll_day_notional_nb)
R_STATE, R_PEAK, R_DAY, R_DAY_START, R_RING_POS, R_NDAY, R_NSPENT = range(7)
_HEAD = 7
H_ACTIVE, H_STATE, H_UNTIL, H_LEVEL, H_SEEN = range(5)  # H_SEEN: −1 not evaluated, 0, 1 clear
_HW = 5
SLOT_DRAWDOWN, SLOT_DAILY_LOSS, SLOT_VAR, SLOT_FLATTEN = range(4)
_FIXED = 4  # then volatility, price move of asset j at _FIXED + 2j, _FIXED + 2j + 1


@njit(cache=True, nogil=True, inline="always")
def _n_slots(k: int) -> int:
    return _FIXED + 2 * k


@njit(cache=True, nogil=True, inline="always")
def _slot(s: int) -> int:
    return _HEAD + _HW * s


@njit(cache=True, nogil=True)
def new_risk_state_nb(k: int, ring: int) -> np.ndarray:
    """Return the risk state of a run of ``k`` assets before its first bar (``ACTIVE``);
    ``ring`` (:attr:`RiskRules.ring`) floats follow the hold slots, NaN: the order times and
    the VaR window (initialised at its first close)."""
    R = np.zeros(_HEAD + _HW * _n_slots(k) + ring)
    R[R_STATE] = ACTIVE
    R[R_PEAK] = np.nan
    R[R_DAY] = -1.0
    R[R_DAY_START] = np.nan
    R[R_NDAY] = -1.0
    R[R_NSPENT] = 0.0
    R[_HEAD + _HW * _n_slots(k) :] = np.nan
    return R


@njit(cache=True, nogil=True, inline="always")
def _close_ms(ts: np.ndarray, t: int) -> int:
    """A bar's close: the next bar's open (the last bar's: its open plus one bar), as a replay."""
    n = ts.shape[0]
    if t + 1 < n:
        return int(ts[t + 1])
    return int(ts[t]) + (int(ts[1] - ts[0]) if n > 1 else 0)


# -- holds and the trading state ------------------------------------------------------------


@njit(cache=True, nogil=True)
def _expire(R: np.ndarray, k: int, now_ms: int) -> None:
    """Lift the holds due at ``now_ms`` (a level hold only when evaluated clear now)."""
    for s in range(_n_slots(k)):
        h = _slot(s)
        if R[h + H_ACTIVE] > 0.0 and hold_lifts_nb(
            int(R[h + H_UNTIL]), R[h + H_LEVEL] > 0.0, R[h + H_SEEN] == 1.0, now_ms
        ):
            R[h + H_ACTIVE] = 0.0


@njit(cache=True, nogil=True)
def _sync(bk: Any, t: int) -> None:
    """Set the trading state to the most severe hold's; record a change."""
    R = bk.R
    state = ACTIVE
    for s in range(_n_slots(bk.S.shape[0])):
        h = _slot(s)
        if R[h + H_ACTIVE] > 0.0 and R[h + H_STATE] > state:
            state = int(R[h + H_STATE])
    old = int(R[R_STATE])
    if state != old:
        R[R_STATE] = state
        act = ACT_HALT if state == HALTED else ACT_REDUCE if state == REDUCING else ACT_RESUME
        record_event_nb(bk, t, -1, EV_STATE, float(state), float(old), act)


@njit(cache=True, nogil=True)
def _hold(bk: Any, t: int, j: int, s: int, rule: int, hit: Hit) -> None:
    """Apply one breaker's evaluation to its slot: a breach holds (or extends its hold)."""
    R = bk.R
    h = _slot(s)
    if not hit.evaluated:
        return
    if hit.level:
        R[h + H_SEEN] = 1.0 if hit.ok else 0.0
    if hit.ok:
        return
    if R[h + H_ACTIVE] > 0.0:  # held already: severity only rises, the time only extends
        old_until = int(R[h + H_UNTIL])
        R[h + H_STATE] = max(R[h + H_STATE], hit.state)
        if old_until == FOREVER or hit.until_ms == FOREVER:
            R[h + H_UNTIL] = FOREVER
        else:
            R[h + H_UNTIL] = max(old_until, hit.until_ms)
        return
    R[h + H_ACTIVE] = 1.0
    R[h + H_STATE] = hit.state
    R[h + H_UNTIL] = hit.until_ms
    R[h + H_LEVEL] = 1.0 if hit.level else 0.0
    act = ACT_HALT if hit.state == HALTED else ACT_REDUCE
    record_event_nb(bk, t, j, rule, hit.value, hit.limit, act)


@njit(cache=True, nogil=True)
def risk_bar_close_nb(bk: Any, rules: Any, market: Any, t: int, equity: np.ndarray) -> None:
    """Evaluate the breakers at bar ``t``'s close and update the holds and the trading state.

    ``equity`` ``(n,)``: the equity at each close so far (``equity[t]`` this bar's, the
    account's ``A_EQUITY``).
    """
    rr = rules.risk
    R, A, k = bk.R, bk.A, bk.S.shape[0]
    now = _close_ms(market.ts, t)
    for s in range(_n_slots(k)):
        R[_slot(s) + H_SEEN] = -1.0
    h = _slot(SLOT_FLATTEN)
    if A[A_HALTED] > 0.0 and R[h + H_ACTIVE] == 0.0:
        # The engine's flatten_at halt: no new exposure until resume (live: book_drawdown).
        R[h + H_ACTIVE] = 1.0
        R[h + H_STATE] = REDUCING
        R[h + H_UNTIL] = FOREVER
        R[h + H_LEVEL] = 0.0
    eq = A[A_EQUITY]
    peak, day, start = mark_nb(R[R_PEAK], int(R[R_DAY]), R[R_DAY_START], eq, now)
    R[R_PEAK] = peak
    R[R_DAY] = day
    R[R_DAY_START] = start
    pl = rr.portfolio
    var0 = _HEAD + _HW * _n_slots(k) + rr.orders
    st = R[var0 : var0 + rr.var_len]
    if rr.var_len > 0:
        if st[0] != st[0]:  # NaN: a new run's state
            var_init_nb(st, pl.var_window)
        for s in range(int(st[1]), t + 1):  # the closes not pushed yet (this one)
            var_push_nb(st, equity[s])
    dd, dl, vr = evaluate_portfolio_nb(pl, eq, peak, start, st, True, now)
    _hold(bk, t, -1, SLOT_DRAWDOWN, EV_DRAWDOWN, dd)
    _hold(bk, t, -1, SLOT_DAILY_LOSS, EV_DAILY_LOSS, dl)
    _hold(bk, t, -1, SLOT_VAR, EV_VAR, vr)
    if rr.market_on:
        for j in range(k):
            closes = market.close[: t + 1, j]
            vol, move = evaluate_market_nb(rr.market, closes, rr.periods_per_year, True, now)
            _hold(bk, t, j, _FIXED + 2 * j, EV_VOLATILITY, vol)
            _hold(bk, t, j, _FIXED + 2 * j + 1, EV_PRICE_MOVE, move)
    _expire(R, k, now)
    _sync(bk, t)


# -- orders ---------------------------------------------------------------------------------


@njit(cache=True, nogil=True, inline="always")
def risk_gate_nb(
    bk: Any, rules: Any, t: int, j: int, size: float, price: float, kind: int
) -> tuple[float, int]:
    """:func:`risk_order_nb` for an order the spec checks (not a venue stop; any order when
    the run has rules), else ``(size, 0)``: the hook of ``_orders._submit``."""
    if rules.risk.on and (kind < KIND_STOP_LOSS or kind == KIND_RISK_FLATTEN):
        return risk_order_nb(bk, rules, t, j, size, price, kind)
    return size, 0


@njit(cache=True, nogil=True)
def risk_order_nb(
    bk: Any, rules: Any, t: int, j: int, size: float, price: float, kind: int
) -> tuple[float, int]:
    """Decide one order the engine would fill: return ``(signed size, rule)``.

    The size is 0 when refused; a shrunk order's size is put back on the lot grid; ``rule`` is
    the event code of the rule that refused or shrank it (0: passed as it was). Records the
    refusal or the shrink.
    """
    rr = rules.risk
    R, S, A = bk.R, bk.S, bk.A
    k = S.shape[0]
    exec_close = rules.cfg[CFG_EXEC_CLOSE] > 0.0
    now = _close_ms(rr.ts, t) if exec_close else int(rr.ts[t])
    for s in range(_n_slots(k)):
        R[_slot(s) + H_SEEN] = -1.0
    _expire(R, k, now)  # holds due by time alone (a daily loss at the next UTC day)
    _sync(bk, t)
    other_gross = 0.0
    other_net = 0.0
    for i in range(k):
        p = S[i, S_POS]
        if i != j and p != 0.0:
            v = p * S[i, S_LAST]  # the last close; NaN without one: the exposure checks fail
            other_gross += abs(v)
            other_net += v
    ring0 = _HEAD + _HW * _n_slots(k)
    times = R[ring0 : ring0 + rr.orders]
    day, spent = roll_day_notional_nb(int(R[R_NDAY]), R[R_NSPENT], float(now))
    R[R_NDAY] = day
    R[R_NSPENT] = spent
    st = OrderState(int(R[R_STATE]), S[j, S_POS], A[A_EQUITY], other_gross, other_net, times, spent)
    is_limit = kind in (KIND_LIMIT, KIND_STOP_LIMIT)
    # The engine's own flatten is protective: it passes every trading state (evaluate.py).
    view = OrderView(abs(size), 1.0 if size > 0.0 else -1.0, price, S[j, S_LAST], is_limit,
                     rules.lot[j], rules.tick[j], rules.min_notional[j], float(now),
                     kind == KIND_RISK_FLATTEN)  # fmt: skip
    v = decide_order_nb(rr.order, st, view)
    if v.action == REJECT:
        record_event_nb(bk, t, j, EV_ORDER + v.rule, v.value, v.limit, ACT_REJECT)
        return 0.0, EV_ORDER + v.rule
    R[R_NSPENT] = spent + added_notional_nb(S[j, S_POS], v.qty, price, S[j, S_LAST])
    if rr.orders > 0:
        pos = int(R[R_RING_POS])
        times[pos % rr.orders] = now
        R[R_RING_POS] = pos + 1
    if v.action != SHRINK:
        return size, 0
    record_event_nb(bk, t, j, EV_ORDER + v.rule, v.value, v.limit, ACT_SHRINK)
    q = v.qty
    lot = rules.lot[j]
    if lot > 0.0:  # the live runner sends a shrunk order on the lot grid
        q = np.sign(q) * np.floor(abs(q) / lot + 1e-9) * lot
    return q, EV_ORDER + v.rule
