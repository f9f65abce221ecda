"""The breakers of the risk spec, evaluated: ``(spec, state, view) -> breaches``.

- :func:`evaluate_portfolio` — drawdown, daily loss and (at a bar) VaR of the account's equity;
- :func:`evaluate_market` — volatility (at a bar) and price move of one symbol's closes;
- :func:`evaluate_ops` — the operational checks (live only).

Each returns the breaches found — for each, the hold it sets (state code, ``until_ms``,
level; :func:`breach_hold_nb` says how each kind lifts) — and ``seen``: the level rules
evaluated and whether they were clear (a level hold lifts only when seen clear at or after its
``until_ms``; see :mod:`grekko_research.risk.state` for the state machine).

The portfolio and market evaluations are written once (:func:`_make_portfolio`,
:func:`_make_market`) and built twice, like the order decision: over the checks' Python
wrappers through a guard (the live engine's: a raising check halts, naming it), and ``@njit``
over the ``*_nb`` checks (:func:`evaluate_portfolio_nb`, :func:`evaluate_market_nb`) for a
backtest kernel, which keeps its holds in arrays and drives them with bar times.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from grekko_research.risk import checks as C
from grekko_research.risk.spec import RiskSpec
from grekko_research.risk.state import FOREVER, HALTED, REDUCING, next_day_ms
from grekko_research.risk.var import VarWindow, var_check_nb

__all__ = [
    "BREAKER_DAILY_LOSS",
    "BREAKER_DRAWDOWN",
    "BREAKER_MARKET",
    "BREAKER_OPS",
    "BREAKER_VAR",
    "Breach",
    "Guard",
    "Hit",
    "MarketLimits",
    "PortfolioLimits",
    "breach_hold_nb",
    "evaluate_market",
    "evaluate_market_nb",
    "evaluate_ops",
    "evaluate_portfolio",
    "evaluate_portfolio_nb",
    "market_limits",
    "portfolio_limits",
]

BREAKER_DRAWDOWN, BREAKER_DAILY_LOSS, BREAKER_VAR, BREAKER_MARKET, BREAKER_OPS = range(5)

Guard = Callable[..., Any]
"""``guard(rule, check, *args) -> Verdict``: runs one check. The live engine's records a check
that raises (and halts): for an order check it raises, for a breaker it returns ``None`` and
the breaker is skipped."""


def _same(fn: Callable[..., Any]) -> Callable[..., Any]:
    return fn


def _direct(rule: str, fn: Callable[..., C.Verdict], *args: Any) -> C.Verdict:
    return fn(*args)


@njit(cache=True, nogil=True)
def breach_hold_nb(kind: int, cooldown_s: float, now_ms: int) -> tuple[int, bool]:
    """Return ``(until_ms, level)`` of the hold a breach of a ``kind`` breaker sets at ``now_ms``.

    Drawdown: until ``resume`` (``cooldown_s`` NaN), else a level hold for the cool-down;
    daily loss: until the next UTC day; VaR: a level hold for the cool-down (NaN: until
    ``resume``); market breakers: a level hold for the cool-down; operational checks: a level
    hold that lifts as soon as the check passes.
    """
    if kind == BREAKER_DAILY_LOSS:
        return next_day_ms(now_ms), False
    if kind == BREAKER_OPS:
        return now_ms, True
    if cooldown_s != cooldown_s:  # NaN: no timed lift
        return FOREVER, kind != BREAKER_DRAWDOWN
    return now_ms + int(cooldown_s * 1000.0), True


class PortfolioLimits(NamedTuple):
    """The portfolio breakers as numbers (limit NaN = off; state codes of the actions;
    cool-downs in seconds, NaN = none)."""

    drawdown: float
    drawdown_state: int
    drawdown_cooldown_s: float
    daily_loss: float
    daily_loss_state: int
    var: float
    var_window: int
    var_confidence: float
    var_state: int
    var_cooldown_s: float


class MarketLimits(NamedTuple):
    """The market breakers as numbers (limit NaN = off)."""

    volatility: float
    volatility_window: int
    volatility_state: int
    volatility_cooldown_s: float
    price_move: float
    price_move_window: int
    price_move_state: int
    price_move_cooldown_s: float


class Hit(NamedTuple):
    """One breaker's evaluation: whether it ran, passed, what it measured against its limit,
    and the hold a breach sets (state code, ``until_ms``, level)."""

    evaluated: bool
    ok: bool
    value: float
    limit: float
    state: int
    until_ms: int
    level: bool


def _nan(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _code(action: str) -> int:
    return HALTED if action == "halt" else REDUCING


def portfolio_limits(spec: RiskSpec) -> PortfolioLimits:
    """The spec's portfolio breakers as :class:`PortfolioLimits`."""
    p = spec.portfolio
    return PortfolioLimits(
        _nan(p.drawdown.limit),
        _code(p.drawdown.action),
        _nan(p.drawdown.cooldown_s),
        _nan(p.daily_loss.limit),
        _code(p.daily_loss.action),
        _nan(p.var.limit),
        int(p.var.window),
        float(p.var.confidence),
        _code(p.var.action),
        _nan(p.var.cooldown_s),
    )


def market_limits(spec: RiskSpec) -> MarketLimits:
    """The spec's market breakers as :class:`MarketLimits`."""
    m = spec.market
    return MarketLimits(
        _nan(m.volatility.limit),
        int(m.volatility.window),
        _code(m.volatility.action),
        float(m.volatility.cooldown_s),
        _nan(m.price_move.limit),
        int(m.price_move.window),
        _code(m.price_move.action),
        float(m.price_move.cooldown_s),
    )


def _hit(
    res: tuple[bool, bool, float, float], kind: int, state: int, cooldown_s: float, now_ms: int
) -> Hit:
    """A check's ``(evaluated, ok, value, limit)`` with the hold a breach of it sets."""
    until, level = breach_hold_nb(kind, cooldown_s, now_ms)
    return Hit(res[0], res[1], res[2], res[3], state, until, level)


_SKIPPED = (False, True, np.nan, np.nan)


def _make_portfolio(
    k: tuple[Callable[..., Any], ...], jit: Callable[..., Any]
) -> Callable[..., tuple[Hit, Hit, Hit]]:
    """Drawdown, daily loss, VaR over the checks ``k`` (each returning ``(evaluated, ok,
    value, limit)``), each step wrapped by ``jit``."""
    drawdown, daily_loss, var = k
    hit: Callable[..., Hit] = jit(_hit)

    def portfolio(
        lim: PortfolioLimits,
        equity: float,
        peak: float,
        day_start: float,
        var_window: Any,
        at_bar: bool,
        now_ms: int,
    ) -> tuple[Hit, Hit, Hit]:
        dd, dl, vr = _SKIPPED, _SKIPPED, _SKIPPED
        if lim.drawdown == lim.drawdown:
            dd = drawdown(equity, peak, lim.drawdown)
        if lim.daily_loss == lim.daily_loss:
            dl = daily_loss(equity, day_start, lim.daily_loss)
        if at_bar and lim.var == lim.var:
            vr = var(var_window, lim.var_confidence, lim.var)
        return (
            hit(dd, BREAKER_DRAWDOWN, lim.drawdown_state, lim.drawdown_cooldown_s, now_ms),
            hit(dl, BREAKER_DAILY_LOSS, lim.daily_loss_state, np.nan, now_ms),
            hit(vr, BREAKER_VAR, lim.var_state, lim.var_cooldown_s, now_ms),
        )

    return jit(portfolio)  # type: ignore[no-any-return]


def _make_market(
    k: tuple[Callable[..., Any], ...], jit: Callable[..., Any]
) -> Callable[..., tuple[Hit, Hit]]:
    """Volatility (at a bar) and price move of one symbol over the checks ``k``."""
    volatility, price_move = k
    hit: Callable[..., Hit] = jit(_hit)

    def market(
        lim: MarketLimits, closes: np.ndarray, periods_per_year: float, at_bar: bool, now_ms: int
    ) -> tuple[Hit, Hit]:
        vol, move = _SKIPPED, _SKIPPED
        if at_bar and lim.volatility == lim.volatility:
            vol = volatility(closes, lim.volatility_window, periods_per_year, lim.volatility)
        if lim.price_move == lim.price_move:
            move = price_move(closes, lim.price_move_window, lim.price_move)
        return (
            hit(vol, BREAKER_MARKET, lim.volatility_state, lim.volatility_cooldown_s, now_ms),
            hit(move, BREAKER_MARKET, lim.price_move_state, lim.price_move_cooldown_s, now_ms),
        )

    return jit(market)  # type: ignore[no-any-return]


# -- the numba build ------------------------------------------------------------------------


def _ran(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A ``*_nb`` check returning ``(ok, value, limit)`` as ``(True, ok, value, limit)``."""

    def run(a: Any, b: Any, c: Any) -> tuple[bool, bool, float, float]:
        ok, value, limit = fn(a, b, c)
        return True, ok, value, limit

    return njit(cache=True, nogil=True)(run)


@njit(cache=True, nogil=True)
def _var_k(st: np.ndarray, confidence: float, limit: float) -> tuple[bool, bool, float, float]:
    ok, value, lim = var_check_nb(st, confidence, limit)
    return True, ok, value, lim


@njit(cache=True, nogil=True)
def _vol_k(
    closes: np.ndarray, window: int, periods_per_year: float, limit: float
) -> tuple[bool, bool, float, float]:
    ok, value, lim = C.volatility_nb(closes, window, periods_per_year, limit)
    return True, ok, value, lim


_JIT = njit(cache=True, nogil=True)
evaluate_portfolio_nb = _make_portfolio((_ran(C.drawdown_nb), _ran(C.daily_loss_nb), _var_k), _JIT)
"""``evaluate_portfolio_nb(limits, equity, peak, day_start, var_state, at_bar, now_ms) ->
(drawdown, daily_loss, var)`` :class:`Hit`\\ s, for kernels (``limits`` from
:func:`portfolio_limits`; ``var_state``: the rolling VaR window of the bar equities so far,
:mod:`grekko_research.risk.var`'s state array)."""
evaluate_market_nb = _make_market((_vol_k, _ran(C.price_move_nb)), _JIT)
"""``evaluate_market_nb(limits, closes, periods_per_year, at_bar, now_ms) -> (volatility,
price_move)`` :class:`Hit`\\ s of one symbol, for kernels (``limits`` from
:func:`market_limits`)."""


# -- the Python build, through a guard ---------------------------------------------------------


def _guarded(guard: Guard, rule: str, name: str) -> Callable[..., tuple[bool, bool, float, float]]:
    """The check ``checks.<name>`` (looked up at call time) through ``guard``; a check the
    guard refuses (``None``) is not evaluated."""

    def run(*args: Any) -> tuple[bool, bool, float, float]:
        v = guard(rule, getattr(C, name), *args)
        if v is None:
            return _SKIPPED
        return True, bool(v.ok), float(v.value), float(v.limit)

    return run


class Breach(NamedTuple):
    """One breaker found in breach: the hold key (``rule`` or ``rule:symbol``), the verdict,
    the hold's state code, ``until_ms`` (:data:`~grekko_research.risk.state.FOREVER`: until
    resume) and whether it is a level hold."""

    key: str
    verdict: C.Verdict
    state: int
    until_ms: int
    level: bool
    symbol: str | None = None


def _collect(
    hits: Sequence[tuple[str, str, Hit]], symbol: str | None
) -> tuple[list[Breach], dict[str, bool]]:
    found: list[Breach] = []
    seen: dict[str, bool] = {}
    for key, rule, h in hits:
        if not h.evaluated:
            continue
        if h.level:
            seen[key] = bool(h.ok)
        if not h.ok:
            v = C.Verdict(rule, False, float(h.value), float(h.limit))
            found.append(Breach(key, v, int(h.state), int(h.until_ms), bool(h.level), symbol))
    return found, seen


def evaluate_portfolio(
    spec: RiskSpec,
    equity: float,
    peak: float,
    day_start: float,
    equities: VarWindow | Sequence[float] | np.ndarray | None,
    now_ms: int,
    *,
    guard: Guard = _direct,
) -> tuple[list[Breach], dict[str, bool]]:
    """Evaluate drawdown, daily loss and (with ``equities``: at a bar) VaR.

    ``equities``: the rolling :class:`~grekko_research.risk.var.VarWindow` of the bar equities
    (a live run keeps one), or the bar equities themselves, oldest first. Returns the breaches
    (in that order) and ``seen``.
    """
    checks = (
        _guarded(guard, "drawdown", "check_drawdown"),
        _guarded(guard, "daily_loss", "check_daily_loss"),
        _guarded(guard, "var", "check_var_window"),
    )
    run = _make_portfolio(checks, _same)
    at_bar = equities is not None
    window = _var_window(spec, equities)
    dd, dl, vr = run(portfolio_limits(spec), equity, peak, day_start, window, at_bar, now_ms)
    hits = (("drawdown", "drawdown", dd), ("daily_loss", "daily_loss", dl), ("var", "var", vr))
    return _collect(hits, None)


def _var_window(
    spec: RiskSpec, equities: VarWindow | Sequence[float] | np.ndarray | None
) -> VarWindow:
    """The VaR window of ``equities`` for ``spec`` (empty when VaR is off or not at a bar)."""
    var = spec.portfolio.var
    if var.limit is None or equities is None:
        return VarWindow(0)
    if isinstance(equities, VarWindow):
        if equities.window != var.window:
            raise ValueError(
                f"the VaR window holds {equities.window} returns, "
                f"risk.portfolio.var.window is {var.window}"
            )
        return equities
    series = np.asarray(equities, dtype=np.float64).reshape(-1)
    return VarWindow(var.window, series[-(var.window + 1) :])


def evaluate_market(
    spec: RiskSpec,
    symbol: str,
    closes: np.ndarray,
    periods_per_year: float,
    now_ms: int,
    *,
    bar: bool = True,
    guard: Guard = _direct,
) -> tuple[list[Breach], dict[str, bool]]:
    """Evaluate the volatility (at a bar only) and price-move breakers of one symbol.

    ``closes`` oldest first; between bars the caller appends the last price to them.
    """
    checks = (
        _guarded(guard, "volatility", "check_volatility"),
        _guarded(guard, "price_move", "check_price_move"),
    )
    run = _make_market(checks, _same)
    vol, move = run(market_limits(spec), closes, periods_per_year, bar, now_ms)
    hits = (
        (f"volatility:{symbol}", "volatility", vol),
        (f"price_move:{symbol}", "price_move", move),
    )
    return _collect(hits, symbol)


def evaluate_ops(
    spec: RiskSpec,
    now_ms: int,
    last_data_ms: int | None,
    ws_down_since_ms: int | None,
    error_times_ms: list[int],
    clock_skew_ms: float | None,
    *,
    guard: Guard = _direct,
) -> tuple[list[Breach], dict[str, bool]]:
    """Evaluate the operational checks (live only); each breach holds at ``ops.action`` and
    lifts when the check passes again."""
    o = spec.ops
    todo: list[tuple[str, Any, tuple[Any, ...]]] = []
    if o.max_data_age_s is not None:
        todo.append(("stale_data", "check_stale_data", (now_ms, last_data_ms, o.max_data_age_s)))
    if o.max_ws_down_s is not None:
        todo.append(("ws_down", "check_ws_down", (now_ms, ws_down_since_ms, o.max_ws_down_s)))
    if o.max_errors is not None:
        args = (error_times_ms, now_ms, o.error_window_s, o.max_errors)
        todo.append(("error_rate", "check_error_rate", args))
    if o.max_clock_skew_ms is not None:
        todo.append(("clock_skew", "check_clock_skew", (clock_skew_ms, o.max_clock_skew_ms)))
    out: list[Breach] = []
    seen: dict[str, bool] = {}
    for rule, name, args in todo:
        v = guard(rule, getattr(C, name), *args)
        if v is None:
            continue
        seen[rule] = v.ok
        if not v.ok:
            until, level = breach_hold_nb(BREAKER_OPS, math.nan, now_ms)
            out.append(Breach(rule, v, _code(o.action), int(until), bool(level)))
    return out, seen
