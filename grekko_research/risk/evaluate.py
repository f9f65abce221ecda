"""The risk spec evaluated: pure functions ``(spec, state, order_or_view) -> verdict``.

Two evaluations, each written once and used by every driver:

- :func:`decide_order` — one order: refuse it, shrink it (the verdict carries the reduced
  quantity) or let it through, given the trading state, the account and the market;
- :func:`evaluate_breakers` — the portfolio and market breakers at a bar (or a live tick)
  and the operational checks (live only): which rules are in breach, and for each the hold
  it sets (state, ``until_ms``, level); the hold state machine itself is
  :mod:`grekko_research.risk.state`.

**Numba.** The order decision is written once, as a function of the checks it calls
(:func:`_make_decide`), and built twice: :func:`decide_order_nb` is ``@njit`` over the ``*_nb``
checks of :mod:`grekko_research.risk.checks` (for kernels: the state and order are NamedTuples
of numbers and one array), :func:`decide_order` calls the checks' Python wrappers through the
module (so the live engine can guard every check: an exception in one halts trading, naming
it). A differential test keeps the two equal. The breaker evaluation's arithmetic is the
``*_nb`` checks plus :func:`breach_hold_nb` and the state machine, all ``@njit``.

Order decision, in this order (the same as ``grekko-live``'s, see ``docs/risk.md``):

1. ``HALTED``: refuse. Quantity not positive: refuse (``invalid_order``).
2. ``REDUCING``: an order adding to the position is refused; one reversing it is shrunk to
   the closing part.
3. Limit orders: price band, then tick precision: refuse.
4. Order rate (every order): refuse.

A *protective* order (``OrderView.protective``: the engine's own drawdown flatten, a kill
switch's flatten — the risk system's own exits) that only reduces the position skips steps 1,
2 and 4: it passes in every trading state and is never rate-limited (it still counts towards
the rate), since refusing it would keep the exposure the state was meant to cut. A strategy's
orders get no such pass: ``HALTED`` refuses its exits too (``action: halt`` freezes the
strategy; ``action: reduce`` lets its reducing orders through).
5. Orders adding exposure (no price: refuse), each cap shrinking what the ones before left:
   max notional, notional per UTC day, max position, gross exposure, net exposure, leverage.
6. Lot precision: round down. Adding exposure below the min notional: refuse.

**Notional per day** (``order.max_notional_per_day``): the drivers keep the notional of the
orders adding exposure they let through in the current UTC day (``OrderState.notional_today``,
rolled by :func:`roll_day_notional_nb`, grown by :func:`added_notional_nb` — the approved
quantity × the order's price when it is not purely reducing), so a backtest and a live run
refuse the same orders with the same rule, ``max_notional_per_day``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from grekko_research.risk import checks as C
from grekko_research.risk.breakers import (
    BREAKER_DAILY_LOSS,
    BREAKER_DRAWDOWN,
    BREAKER_MARKET,
    BREAKER_OPS,
    BREAKER_VAR,
    Breach,
    Guard,
    _direct,
    _same,
    breach_hold_nb,
    evaluate_market,
    evaluate_market_nb,
    evaluate_ops,
    evaluate_portfolio,
    evaluate_portfolio_nb,
)
from grekko_research.risk.spec import OrderLimits, RiskSpec
from grekko_research.risk.state import HALTED, REDUCING

__all__ = [
    "APPROVE",
    "BREAKER_DAILY_LOSS",
    "BREAKER_DRAWDOWN",
    "BREAKER_MARKET",
    "BREAKER_OPS",
    "BREAKER_VAR",
    "ORDER_RULES",
    "REJECT",
    "SHRINK",
    "Breach",
    "Guard",
    "OrderState",
    "OrderVerdict",
    "OrderView",
    "added_notional_nb",
    "breach_hold_nb",
    "decide_order",
    "decide_order_nb",
    "evaluate_market",
    "evaluate_market_nb",
    "evaluate_ops",
    "evaluate_portfolio",
    "evaluate_portfolio_nb",
    "is_reducing_nb",
    "roll_day_notional_nb",
]

APPROVE, SHRINK, REJECT = 0, 1, 2
ACTION_NAMES = ("approve", "shrink", "reject")

# Rule codes of an order verdict (0: none). Index = code.
ORDER_RULES = (
    "",
    "halted",
    "reducing",
    "invalid_order",
    "price_band",
    "price_precision",
    "order_rate",
    "no_price",
    "max_notional",
    "max_position",
    "gross_exposure",
    "net_exposure",
    "leverage",
    "qty_precision",
    "min_notional",
    "zero_qty",
    "max_notional_per_day",  # appended: the codes before keep their numbers (event records)
)
(
    R_NONE,
    R_HALTED,
    R_REDUCING,
    R_INVALID,
    R_PRICE_BAND,
    R_PRICE_PRECISION,
    R_ORDER_RATE,
    R_NO_PRICE,
    R_MAX_NOTIONAL,
    R_MAX_POSITION,
    R_GROSS,
    R_NET,
    R_LEVERAGE,
    R_QTY_PRECISION,
    R_MIN_NOTIONAL,
    R_ZERO_QTY,
    R_NOTIONAL_PER_DAY,
) = range(len(ORDER_RULES))

_REL_TOL = 1e-12  # a quantity within this relative distance of the order's is the order's


class OrderState(NamedTuple):
    """What the decision reads of the run: trading state code (``risk.state``), the symbol's
    signed position (units), equity, Σ \\|values\\| and Σ values of the *other* symbols (quote;
    NaN when one has no price: the exposure checks then fail closed), the times (ms,
    float64) of the orders let through recently (order rate) and the notional (quote) of the
    orders adding exposure let through in the UTC day of the order (notional per day; NaN
    fails closed)."""

    trading_state: int
    position: float
    equity: float
    other_gross: float
    other_net: float
    order_times_ms: np.ndarray
    notional_today: float = 0.0


class OrderView(NamedTuple):
    """One order: ``qty`` as given (must be positive), ``sign`` +1 buy / −1 sell, ``price`` the
    limit or expected fill price (NaN: ``last``), ``last`` the last trade, whether it is a
    limit order, the venue's lot, tick and minimum notional (0: unknown), ``now_ms``, and
    whether it is a protective order of the risk system (an engine or kill-switch flatten:
    passes in every trading state while it only reduces the position)."""

    qty: float
    sign: float
    price: float
    last: float
    is_limit: bool
    lot: float
    tick: float
    venue_min_notional: float
    now_ms: float
    protective: bool = False


class OrderVerdict(NamedTuple):
    """The decision: ``action`` (:data:`APPROVE`, :data:`SHRINK`, :data:`REJECT`), the signed
    quantity to send (0 on reject), the rule that shrank or refused it (index into
    :data:`ORDER_RULES`, 0 for none) and what that rule measured against its limit."""

    action: int
    qty: float
    rule: int
    value: float
    limit: float


def _is_reducing(position: float, qty: float) -> bool:
    """Whether ``qty`` only shrinks ``position`` (never past zero)."""
    new = position + qty
    return position * new >= 0.0 and abs(new) <= abs(position)


is_reducing_nb = njit(cache=True, nogil=True)(_is_reducing)


@njit(cache=True, nogil=True)
def roll_day_notional_nb(day: int, spent: float, now_ms: float) -> tuple[int, float]:
    """Return ``(day, spent)`` at ``now_ms``: a new UTC day (``now_ms // DAY_MS``) starts from
    0 (``day`` −1: none yet)."""
    today = int(now_ms // 86_400_000.0)
    if today != day:
        return today, 0.0
    return day, spent


@njit(cache=True, nogil=True)
def added_notional_nb(position: float, qty: float, price: float, last: float) -> float:
    """The notional an order let through adds to the day's (:func:`roll_day_notional_nb`):
    ``|qty| × price`` (``price`` NaN: ``last``) unless ``qty`` (signed, the verdict's) only
    reduces ``position``; 0 for a refused order (``qty`` 0)."""
    if qty == 0.0 or is_reducing_nb(position, qty):
        return 0.0
    p = price if price == price else last
    return abs(qty) * p


class OrderChecks(NamedTuple):
    """The checks the order decision calls, each returning the ``*_nb`` tuple shape."""

    price_band: Callable[..., Any]
    price_precision: Callable[..., Any]
    order_rate: Callable[..., Any]
    max_notional: Callable[..., Any]
    notional_per_day: Callable[..., Any]
    max_position: Callable[..., Any]
    gross_exposure: Callable[..., Any]
    net_exposure: Callable[..., Any]
    leverage: Callable[..., Any]
    qty_precision: Callable[..., Any]
    min_notional: Callable[..., Any]


class Shrunk(NamedTuple):
    """The last rule that shrank the order, with what it measured (``rule`` 0: none)."""

    rule: int
    value: float
    limit: float


_GO_ON = -1  # a phase's verdict action meaning "not decided yet"


def _verdict(action: int, rule: int, value: float, limit: float) -> OrderVerdict:
    return OrderVerdict(action, 0.0, rule, value, limit)


def _make_pre(
    k: OrderChecks, jit: Callable[..., Any]
) -> Callable[..., tuple[OrderVerdict, float, Shrunk]]:
    """Phase 1: trading state, quantity, price band and tick, order rate."""
    price_band, price_precision, order_rate = k.price_band, k.price_precision, k.order_rate
    verdict: Callable[..., OrderVerdict] = jit(_verdict)
    reducing: Callable[[float, float], bool] = jit(_is_reducing)

    def pre(lim: OrderLimits, st: OrderState, od: OrderView) -> tuple[OrderVerdict, float, Shrunk]:
        nan = np.nan
        none = Shrunk(R_NONE, nan, nan)
        valid = od.qty > 0.0 and od.qty < np.inf
        q = od.sign * od.qty
        # The risk system's own exit passes every state (never a NaN position: not reducing).
        forced = od.protective and valid and reducing(st.position, q)
        if st.trading_state == HALTED and not forced:
            return verdict(REJECT, R_HALTED, nan, nan), 0.0, none
        if not valid:
            return verdict(REJECT, R_INVALID, od.qty, nan), 0.0, none
        shrunk = none
        if st.trading_state == REDUCING and not reducing(st.position, q):
            if st.position * q >= 0.0:
                return verdict(REJECT, R_REDUCING, nan, nan), 0.0, none
            q = -st.position  # a reversal: only its closing part passes
            shrunk = Shrunk(R_REDUCING, nan, nan)
        price = od.price if od.price == od.price else od.last
        if od.is_limit and lim.price_band == lim.price_band:
            ok, v, lm = price_band(price, od.last, lim.price_band)
            if not ok:
                return verdict(REJECT, R_PRICE_BAND, v, lm), 0.0, none
        if od.is_limit and lim.precision and od.tick > 0.0:
            ok, v, lm = price_precision(price, od.tick)
            if not ok:
                return verdict(REJECT, R_PRICE_PRECISION, v, lm), 0.0, none
        if lim.max_orders == lim.max_orders and not forced:
            ok, v, lm = order_rate(st.order_times_ms, od.now_ms, lim.order_window_s, lim.max_orders)
            if not ok:
                return verdict(REJECT, R_ORDER_RATE, v, lm), 0.0, none
        return verdict(_GO_ON, R_NONE, nan, nan), q, shrunk

    return jit(pre)  # type: ignore[no-any-return]


def _make_caps(k: OrderChecks, jit: Callable[..., Any]) -> Callable[..., tuple[float, Shrunk]]:
    """Phase 2, orders adding exposure: max notional, notional per day, max position, gross
    and net exposure, leverage; each shrinks what the ones before left, and one that leaves 0
    ends them."""
    max_notional, max_position, gross_exposure = k.max_notional, k.max_position, k.gross_exposure
    notional_per_day = k.notional_per_day
    net_exposure, leverage = k.net_exposure, k.leverage
    cap: Callable[..., tuple[float, Shrunk]] = jit(_cap)

    def caps(
        lim: OrderLimits, st: OrderState, q: float, want: float, price: float, shrunk: Shrunk
    ) -> tuple[float, Shrunk]:
        pos, eq = st.position, st.equity
        if lim.max_notional == lim.max_notional:
            res = max_notional(q, price, lim.max_notional)
            q, shrunk = cap(q, want, res, R_MAX_NOTIONAL, shrunk)
        if q != 0.0 and lim.max_notional_per_day == lim.max_notional_per_day:
            res = notional_per_day(st.notional_today, q, price, lim.max_notional_per_day)
            q, shrunk = cap(q, want, res, R_NOTIONAL_PER_DAY, shrunk)
        if q != 0.0 and lim.max_position == lim.max_position:
            res = max_position(pos, q, price, eq, lim.max_position)
            q, shrunk = cap(q, want, res, R_MAX_POSITION, shrunk)
        if q != 0.0 and lim.max_gross_exposure == lim.max_gross_exposure:
            res = gross_exposure(st.other_gross, pos, q, price, lim.max_gross_exposure)
            q, shrunk = cap(q, want, res, R_GROSS, shrunk)
        if q != 0.0 and lim.max_net_exposure == lim.max_net_exposure:
            res = net_exposure(st.other_net, pos, q, price, lim.max_net_exposure)
            q, shrunk = cap(q, want, res, R_NET, shrunk)
        if q != 0.0 and lim.max_leverage == lim.max_leverage:
            res = leverage(st.other_gross, pos, q, price, eq, lim.max_leverage)
            q, shrunk = cap(q, want, res, R_LEVERAGE, shrunk)
        return q, shrunk

    return jit(caps)  # type: ignore[no-any-return]


def _make_finish(k: OrderChecks, jit: Callable[..., Any]) -> Callable[..., OrderVerdict]:
    """Phase 3: lot precision (rounds down), min notional (refuses), and the verdict."""
    qty_precision, min_notional = k.qty_precision, k.min_notional
    verdict: Callable[..., OrderVerdict] = jit(_verdict)
    reducing: Callable[[float, float], bool] = jit(_is_reducing)

    def finish(
        lim: OrderLimits, st: OrderState, od: OrderView, q: float, price: float, shrunk: Shrunk
    ) -> OrderVerdict:
        want = od.sign * od.qty
        if lim.precision and od.lot > 0.0 and q != 0.0:
            ok, v, lm, a = qty_precision(q, od.lot)
            if not ok:
                q = a if abs(a) < np.inf else 0.0
                shrunk = Shrunk(R_QTY_PRECISION, v, lm)
        if q != 0.0 and not reducing(st.position, q):
            floor = od.venue_min_notional if od.venue_min_notional > 0.0 else 0.0
            if lim.min_notional == lim.min_notional and lim.min_notional > floor:
                floor = lim.min_notional
            if floor > 0.0:
                ok, v, lm = min_notional(q, price, floor)
                if not ok:
                    return verdict(REJECT, R_MIN_NOTIONAL, v, lm)
        if q == 0.0 or q * want <= 0.0:
            if shrunk.rule == R_NONE:
                return verdict(REJECT, R_ZERO_QTY, np.nan, np.nan)
            return verdict(REJECT, shrunk.rule, shrunk.value, shrunk.limit)
        if abs(q) < abs(want) * (1.0 - _REL_TOL):
            return OrderVerdict(SHRINK, q, shrunk.rule, shrunk.value, shrunk.limit)
        return OrderVerdict(APPROVE, want, R_NONE, np.nan, np.nan)

    return jit(finish)  # type: ignore[no-any-return]


def _make_decide(k: OrderChecks, jit: Callable[..., Any]) -> Callable[..., OrderVerdict]:
    """The order decision over the checks ``k``, each phase wrapped by ``jit``.

    Written once, in the subset numba compiles (``jit=njit``) and plain Python runs (``jit``
    the identity).
    """
    pre, caps, finish = _make_pre(k, jit), _make_caps(k, jit), _make_finish(k, jit)
    verdict: Callable[..., OrderVerdict] = jit(_verdict)
    reducing: Callable[[float, float], bool] = jit(_is_reducing)

    def decide(lim: OrderLimits, st: OrderState, od: OrderView) -> OrderVerdict:
        early, q, shrunk = pre(lim, st, od)
        if early.action != _GO_ON:
            return early
        price = od.price if od.price == od.price else od.last
        if not reducing(st.position, q):
            if not price > 0.0:
                return verdict(REJECT, R_NO_PRICE, price, np.nan)
            q, shrunk = caps(lim, st, q, od.sign * od.qty, price, shrunk)
        return finish(lim, st, od, q, price, shrunk)

    return jit(decide)  # type: ignore[no-any-return]


def _cap(
    q: float, want: float, res: tuple[bool, float, float, float], rule: int, shrunk: Shrunk
) -> tuple[float, Shrunk]:
    """Apply one cap's result ``(ok, value, limit, allowed)``: when it failed, the quantity
    it allows if smaller (never the other side; NaN or infinite: nothing)."""
    ok, value, limit, allowed = res
    if ok:
        return q, shrunk
    a = allowed if abs(allowed) < np.inf else 0.0
    if abs(a) < abs(q) or a * q <= 0.0:
        return (a if a * want > 0.0 else 0.0), Shrunk(rule, value, limit)
    return q, shrunk


# -- the two builds ---------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def _order_rate_k(
    times: np.ndarray, now_ms: float, window_s: float, limit: float
) -> tuple[bool, float, float]:
    return C.order_rate_nb(times, now_ms, window_s * 1000.0, limit)


decide_order_nb = _make_decide(
    OrderChecks(
        C.price_band_nb,
        C.price_precision_nb,
        _order_rate_k,
        C.max_notional_nb,
        C.notional_per_day_nb,
        C.max_position_nb,
        C.gross_exposure_nb,
        C.net_exposure_nb,
        C.leverage_nb,
        C.qty_precision_nb,
        C.min_notional_nb,
    ),
    njit(cache=True, nogil=True),
)
"""``decide_order_nb(limits, state, order) -> OrderVerdict``: :func:`decide_order` for kernels
(``limits`` from :meth:`RiskSpec.order_limits`; compiled on first call)."""


def _python_checks(guard: Guard) -> OrderChecks:
    """The checks' Python wrappers, looked up in :mod:`checks` at call time, through ``guard``,
    in the ``*_nb`` result shape."""

    def three(rule: str, name: str) -> Callable[..., tuple[bool, float, float]]:
        def run(*args: Any) -> tuple[bool, float, float]:
            v = guard(rule, getattr(C, name), *args)
            return v.ok, v.value, v.limit

        return run

    def four(rule: str, name: str) -> Callable[..., tuple[bool, float, float, float]]:
        def run(*args: Any) -> tuple[bool, float, float, float]:
            v = guard(rule, getattr(C, name), *args)
            return v.ok, v.value, v.limit, v.allowed

        return run

    def rate(
        times: np.ndarray, now_ms: float, window_s: float, limit: float
    ) -> tuple[bool, float, float]:
        v = guard("order_rate", C.check_order_rate, times, now_ms, window_s, int(limit))
        return v.ok, v.value, v.limit

    return OrderChecks(
        three("price_band", "check_price_band"),
        three("price_precision", "check_price_precision"),
        rate,
        four("max_notional", "check_max_notional"),
        four("max_notional_per_day", "check_notional_per_day"),
        four("max_position", "check_max_position"),
        four("gross_exposure", "check_gross_exposure"),
        four("net_exposure", "check_net_exposure"),
        four("leverage", "check_leverage"),
        four("qty_precision", "check_qty_precision"),
        three("min_notional", "check_min_notional"),
    )


def decide_order(
    spec: RiskSpec | OrderLimits,
    state: OrderState,
    order: OrderView,
    *,
    guard: Guard = _direct,
) -> OrderVerdict:
    """Decide one order: approve, shrink (``qty`` is the reduced signed quantity) or reject.

    Parameters
    ----------
    spec
        The run's :class:`~grekko_research.risk.spec.RiskSpec` (or its
        :meth:`~grekko_research.risk.spec.RiskSpec.order_limits`).
    state
        Trading state, position, equity, other symbols' exposure, recent order times.
    order
        The order and its market (last price, lot, tick, venue minimum), at ``order.now_ms``.
    guard
        Runs each check (default: directly); the live engine passes one that turns an
        exception into a halt naming the check.
    """
    lim = spec.order_limits() if isinstance(spec, RiskSpec) else spec
    decide = _make_decide(_python_checks(guard), _same)
    out = decide(lim, state, order)
    return OrderVerdict(
        int(out.action), float(out.qty), int(out.rule), float(out.value), float(out.limit)
    )
