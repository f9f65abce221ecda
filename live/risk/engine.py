"""The live risk engine: pre-trade checks, circuit breakers and the trading state.

:class:`RiskEngine` stands between a strategy's orders and the venue. It holds the trading
state — ``ACTIVE``, ``REDUCING`` (only orders that reduce exposure pass) or ``HALTED``
(nothing passes), always with a reason — and changes it from what it is shown:

- :meth:`~RiskEngine.check_order` approves, shrinks or rejects one order (the rule, the value
  it measured and the limit say why);
- :meth:`~RiskEngine.on_bar` / :meth:`~RiskEngine.on_tick` evaluate the portfolio's circuit
  breakers (drawdown, daily loss, VaR: ``HALTED`` or ``REDUCING`` as configured) and the
  market breakers (realised volatility, price move: ``REDUCING`` for a cool-down);
- :meth:`~RiskEngine.on_ops` evaluates the operational checks (stale data, websocket down,
  error rate, clock skew);
- :meth:`~RiskEngine.halt`, :meth:`~RiskEngine.reduce` and :meth:`~RiskEngine.resume` are the
  operator's commands.

Each breach becomes a *hold* (rule, state, reason, how it lifts); the engine's state is the
most severe hold's. How holds lift: drawdown, manual commands and errors at ``resume`` only;
daily loss at the next UTC day; VaR, the market breakers and the operational checks once their
cool-down has passed *and* an evaluation finds them clear.

The engine fails closed: an exception inside any check (or bad input, such as a NaN equity)
adds a ``HALTED`` hold naming the check and the error, which only :meth:`~RiskEngine.resume`
lifts; the order being checked is rejected. The checks themselves are the pure functions of
:mod:`grekko_research.risk.checks`.

Every method returns event drafts ``(kind, stream, payload)`` for the caller to append to the
event store: ``risk_decision`` (stream: the order's client id, or ``"risk"``), ``risk_breach``,
``risk_error`` and ``risk_state`` (stream ``"risk"``). The engine does no I/O and reads no
clock: every method takes ``now_ms``. :meth:`~RiskEngine.snapshot` / :meth:`~RiskEngine.restore`
carry its state across a restart.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from grekko_research.risk import checks as C
from grekko_research.risk.checks import Verdict
from live.risk._holds import (
    SEVERITY,
    CheckFailed,
    Hold,
    failed_calls_text,
    fmt,
    level_of,
    num,
)
from live.risk.config import LiveRiskConfig
from live.risk.views import (
    EventDraft,
    MarketView,
    OpsView,
    PortfolioView,
    ProposedOrder,
    RiskDecision,
    TradingState,
)

__all__ = ["DAY_MS", "RiskEngine"]

DAY_MS = 86_400_000
_REL_TOL = 1e-12  # a quantity within this relative distance of the order's is the order's


class RiskEngine:
    """Pre-trade checks, circuit breakers and the trading state of one live run.

    Parameters
    ----------
    config
        The limits (default: every check off; the engine still fails closed and obeys
        :meth:`halt` / :meth:`reduce` / :meth:`resume`).
    stream
        Event stream of state changes, breaches and errors.
    """

    def __init__(self, config: LiveRiskConfig | None = None, *, stream: str = "risk") -> None:
        self.config = config or LiveRiskConfig()
        self.stream = stream
        self._holds: dict[str, Hold] = {}
        self._peak: float | None = None
        self._day: int | None = None
        self._day_start: float | None = None
        self._last_equity: float | None = None
        self._equity: deque[float] = deque(maxlen=self._history_len())
        self._order_times: deque[int] = deque()
        self._shown: tuple[TradingState, str] = (TradingState.ACTIVE, "started")
        self._active_reason = "started"

    # -- reading --------------------------------------------------------------------------

    @property
    def state(self) -> TradingState:
        """The most severe hold's state (``ACTIVE`` without holds)."""
        return self._current()[0]

    @property
    def reason(self) -> str:
        """Why the engine is in its state."""
        return self._current()[1]

    @property
    def holds(self) -> list[dict[str, Any]]:
        """The current holds as JSON data (rule, state, reason, until_ms ...)."""
        return [h.to_json() for h in self._holds.values()]

    @property
    def peak_equity(self) -> float | None:
        return self._peak

    @property
    def day_start_equity(self) -> float | None:
        return self._day_start

    def _current(self) -> tuple[TradingState, str]:
        worst: Hold | None = None
        for hold in self._holds.values():
            if worst is None or SEVERITY[hold.state] > SEVERITY[worst.state]:
                worst = hold
        if worst is None:
            return TradingState.ACTIVE, self._active_reason
        return worst.state, worst.reason

    # -- orders ---------------------------------------------------------------------------

    def check_order(
        self,
        order: ProposedOrder,
        portfolio: PortfolioView,
        market: MarketView,
        *,
        now_ms: int,
    ) -> RiskDecision:
        """Approve, shrink or reject ``order`` given the account and the market at ``now_ms``.

        In ``HALTED`` nothing passes; in ``REDUCING`` only an order that reduces the symbol's
        position passes (an order that would reverse it is shrunk to the closing part). Then:
        price band and tick (limit orders), order rate (every order), and for orders adding
        exposure: max order notional, max position, gross and net exposure, leverage (each
        shrinks the order to fit), lot size (rounds down) and min notional (rejects).
        An approved or shrunk order counts towards the order rate.
        """
        events: list[EventDraft] = []
        try:
            self._expire(now_ms, {})
            action, qty, rule, value, limit, reason = self._decide(
                order, portfolio, market, now_ms, events
            )
        except CheckFailed as failed:
            action, qty, rule, value, limit, reason = (
                "reject",
                0.0,
                failed.rule,
                None,
                None,
                failed.reason,
            )
        except Exception as exc:  # fail closed: whatever broke, nothing passes
            reason = self._fail("check_order", exc, now_ms, events)
            action, qty, rule, value, limit = "reject", 0.0, "check_order", None, None
        if action != "reject" and self.config.max_orders is not None:
            self._order_times.append(now_ms)
            self._prune_orders(now_ms)
        self._sync(events, now_ms)
        state = self.state
        payload = {
            "action": action,
            "symbol": order.symbol,
            "side": order.side,
            "qty": num(order.qty),
            "approved_qty": num(qty),
            "price": num(order.price),
            "order_type": order.order_type,
            "rule": rule,
            "value": num(value),
            "limit": num(limit),
            "reason": reason,
            "state": state.value,
            "at_ms": now_ms,
        }
        events.append(("risk_decision", order.client_id or self.stream, payload))
        return RiskDecision(
            action=action,  # type: ignore[arg-type]
            order=order,
            qty=qty,
            state=state,
            rule=rule,
            value=value,
            limit=limit,
            reason=reason,
            events=tuple(events),
        )

    def _decide(
        self,
        order: ProposedOrder,
        portfolio: PortfolioView,
        market: MarketView,
        now_ms: int,
        events: list[EventDraft],
    ) -> tuple[str, float, str | None, float | None, float | None, str]:
        cfg = self.config
        state, why = self._current()
        if state is TradingState.HALTED:
            return "reject", 0.0, "halted", None, None, why
        if not (math.isfinite(order.qty) and order.qty > 0):
            return "reject", 0.0, "invalid_order", order.qty, None, "quantity must be positive"
        symbol = order.symbol
        want = order.signed_qty
        q = want
        pos = portfolio.position(symbol)
        if not math.isfinite(pos):
            raise ValueError(f"position of {symbol} is not a finite number: {pos!r}")
        shrunk: tuple[str, float | None, float | None, str] | None = None

        def reducing(qty: float) -> bool:
            new = pos + qty
            return pos * new >= 0.0 and abs(new) <= abs(pos)

        if state is TradingState.REDUCING and not reducing(q):
            if pos * q < 0.0:  # a reversal: only its closing part passes
                q = -pos
                shrunk = ("reducing", None, None, why)
            else:
                return "reject", 0.0, "reducing", None, None, why
        last = market.price(symbol)
        price = float(order.price) if order.price is not None else last
        if order.order_type == "limit":
            if cfg.price_band is not None:
                v = self._check(
                    "price_band",
                    C.check_price_band,
                    price,
                    last,
                    cfg.price_band,
                    events=events,
                    now_ms=now_ms,
                )
                if not v.ok:
                    return self._reject(v, symbol)
            tick = market.tick.get(symbol, 0.0)
            if cfg.check_precision and tick > 0:
                v = self._check(
                    "price_precision",
                    C.check_price_precision,
                    price,
                    tick,
                    events=events,
                    now_ms=now_ms,
                )
                if not v.ok:
                    return self._reject(v, symbol)
        if cfg.max_orders is not None:
            self._prune_orders(now_ms)
            v = self._check(
                "order_rate",
                C.check_order_rate,
                list(self._order_times),
                now_ms,
                cfg.order_window_s,
                cfg.max_orders,
                events=events,
                now_ms=now_ms,
            )
            if not v.ok:
                return self._reject(v, symbol)
        adding = not reducing(q)
        if adding:
            if not price > 0:
                return "reject", 0.0, "no_price", num(price), None, f"no price for {symbol}"
            equity = float(portfolio.equity)
            other_gross = 0.0
            other_net = 0.0
            for s, p in portfolio.positions.items():
                if s != symbol and p != 0:
                    val = float(p) * market.price(s)  # NaN without a price: the checks fail
                    other_gross += abs(val)
                    other_net += val
            # Each cap sees the quantity left by the ones before: fn(*before, q, *after).
            caps: list[tuple[str, Callable[..., Verdict], tuple[float, ...], tuple[float, ...]]]
            caps = []
            if cfg.max_order_notional is not None:
                caps.append(
                    ("max_notional", C.check_max_notional, (), (price, cfg.max_order_notional))
                )
            if cfg.max_position is not None:
                caps.append(
                    (
                        "max_position",
                        C.check_max_position,
                        (pos,),
                        (price, equity, cfg.max_position),
                    )
                )
            if cfg.max_gross_exposure is not None:
                caps.append(
                    (
                        "gross_exposure",
                        C.check_gross_exposure,
                        (other_gross, pos),
                        (price, cfg.max_gross_exposure),
                    )
                )
            if cfg.max_net_exposure is not None:
                caps.append(
                    (
                        "net_exposure",
                        C.check_net_exposure,
                        (other_net, pos),
                        (price, cfg.max_net_exposure),
                    )
                )
            if cfg.max_leverage is not None:
                caps.append(
                    (
                        "leverage",
                        C.check_leverage,
                        (other_gross, pos),
                        (price, equity, cfg.max_leverage),
                    )
                )
            for name, fn, before, after in caps:
                v = self._check(name, fn, *before, q, *after, events=events, now_ms=now_ms)
                if not v.ok:
                    allowed = v.allowed if math.isfinite(v.allowed) else 0.0
                    if abs(allowed) < abs(q) or allowed * q <= 0:
                        q = allowed if allowed * want > 0 else 0.0
                        shrunk = (v.rule, v.value, v.limit, self._breach_text(v, symbol))
                    if q == 0.0:
                        break
        lot = market.lot.get(symbol, 0.0)
        if cfg.check_precision and lot > 0 and q != 0.0:
            v = self._check(
                "qty_precision", C.check_qty_precision, q, lot, events=events, now_ms=now_ms
            )
            if not v.ok:
                q = v.allowed if math.isfinite(v.allowed) else 0.0
                shrunk = (v.rule, v.value, v.limit, f"quantity rounded down to the lot {lot:g}")
        if q != 0.0 and not reducing(q):
            floor = max(cfg.min_order_notional or 0.0, market.min_notional.get(symbol, 0.0))
            if floor > 0:
                v = self._check(
                    "min_notional",
                    C.check_min_notional,
                    q,
                    price,
                    floor,
                    events=events,
                    now_ms=now_ms,
                )
                if not v.ok:
                    return self._reject(v, symbol)
        if q == 0.0 or q * want <= 0:
            if shrunk is None:
                return "reject", 0.0, "zero_qty", None, None, "nothing left to send"
            rule, value, limit, text = shrunk
            return "reject", 0.0, rule, value, limit, text
        if abs(q) < abs(want) * (1.0 - _REL_TOL):
            assert shrunk is not None
            rule, value, limit, text = shrunk
            return "shrink", abs(q), rule, value, limit, text
        return "approve", float(order.qty), None, None, None, "passed"

    def _reject(
        self, v: Verdict, symbol: str
    ) -> tuple[str, float, str | None, float | None, float | None, str]:
        return "reject", 0.0, v.rule, v.value, v.limit, self._breach_text(v, symbol)

    @staticmethod
    def _breach_text(v: Verdict, symbol: str | None = None) -> str:
        where = f" of {symbol}" if symbol else ""
        return f"{v.rule}{where}: {fmt(v.value)} (limit {fmt(v.limit)})"

    def _prune_orders(self, now_ms: int) -> None:
        horizon = now_ms - self.config.order_window_s * 1000.0
        while self._order_times and self._order_times[0] <= horizon:
            self._order_times.popleft()

    # -- bars, ticks, operations ----------------------------------------------------------

    def on_bar(
        self, portfolio: PortfolioView, market: MarketView, *, now_ms: int
    ) -> list[EventDraft]:
        """Evaluate the portfolio and market breakers at a bar's close (``now_ms``)."""
        return self._evaluate(portfolio, market, now_ms, bar=True)

    def on_tick(
        self, portfolio: PortfolioView, market: MarketView, *, now_ms: int
    ) -> list[EventDraft]:
        """Evaluate drawdown, daily loss and the price-move breaker between bars.

        The move breaker measures ``market.prices`` against the closes (the last price
        appended); VaR and volatility wait for the bar.
        """
        return self._evaluate(portfolio, market, now_ms, bar=False)

    def _evaluate(
        self, portfolio: PortfolioView, market: MarketView, now_ms: int, *, bar: bool
    ) -> list[EventDraft]:
        events: list[EventDraft] = []
        seen: dict[str, bool] = {}
        cfg = self.config
        try:
            equity = self._mark(portfolio, now_ms, bar=bar, events=events)
            if equity is not None:
                self._portfolio_checks(equity, now_ms, bar, events, seen)
            for symbol, closes in market.closes.items():
                series = np.asarray(closes, dtype=np.float64).reshape(-1)
                if bar and cfg.vol_limit is not None:
                    self._breaker(
                        "volatility",
                        symbol,
                        C.check_volatility,
                        (series, cfg.vol_window, market.periods_per_year, cfg.vol_limit),
                        now_ms,
                        events,
                        seen,
                    )
                if cfg.move_limit is not None:
                    if not bar and symbol in market.prices:
                        series = np.append(series, market.price(symbol))
                    self._breaker(
                        "price_move",
                        symbol,
                        C.check_price_move,
                        (series, cfg.move_window, cfg.move_limit),
                        now_ms,
                        events,
                        seen,
                    )
            self._expire(now_ms, seen)
        except Exception as exc:
            self._fail("on_bar" if bar else "on_tick", exc, now_ms, events)
        self._sync(events, now_ms)
        return events

    def _mark(
        self, portfolio: PortfolioView, now_ms: int, *, bar: bool, events: list[EventDraft]
    ) -> float | None:
        """Track peak, day start and the equity history; a non-finite equity halts."""
        equity = float(portfolio.equity)
        if not math.isfinite(equity):
            self._fail("portfolio", ValueError(f"equity is not finite: {equity!r}"), now_ms, events)
            return None
        day = now_ms // DAY_MS
        if self._day != day:
            self._day = day
            self._day_start = equity
        self._peak = equity if self._peak is None else max(self._peak, equity)
        self._last_equity = equity
        if bar:
            self._equity.append(equity)
        return equity

    def _portfolio_checks(
        self, equity: float, now_ms: int, bar: bool, events: list[EventDraft], seen: dict[str, bool]
    ) -> None:
        cfg = self.config
        if cfg.max_drawdown is not None:
            v = self._guarded(
                "drawdown",
                C.check_drawdown,
                equity,
                equity if self._peak is None else self._peak,
                cfg.max_drawdown,
                events=events,
                now_ms=now_ms,
            )
            if v is not None and not v.ok:
                self._hold(
                    "drawdown", v, level_of(cfg.drawdown_action), None, False, now_ms, events
                )
        if cfg.daily_loss is not None:
            v = self._guarded(
                "daily_loss",
                C.check_daily_loss,
                equity,
                equity if self._day_start is None else self._day_start,
                cfg.daily_loss,
                events=events,
                now_ms=now_ms,
            )
            if v is not None and not v.ok:
                until = (now_ms // DAY_MS + 1) * DAY_MS
                self._hold(
                    "daily_loss", v, level_of(cfg.daily_loss_action), until, False, now_ms, events
                )
        if bar and cfg.var_limit is not None:
            v = self._guarded(
                "var",
                C.check_var,
                list(self._equity),
                cfg.var_window,
                cfg.var_confidence,
                cfg.var_limit,
                events=events,
                now_ms=now_ms,
            )
            if v is not None:
                seen["var"] = v.ok
                if not v.ok:
                    cool = cfg.var_cooldown_s
                    var_until = None if cool is None else now_ms + int(cool * 1000)
                    self._hold("var", v, level_of(cfg.var_action), var_until, True, now_ms, events)

    def _breaker(
        self,
        rule: str,
        symbol: str,
        fn: Callable[..., Verdict],
        args: tuple[Any, ...],
        now_ms: int,
        events: list[EventDraft],
        seen: dict[str, bool],
    ) -> None:
        key = f"{rule}:{symbol}"
        v = self._guarded(rule, fn, *args, events=events, now_ms=now_ms)
        if v is None:
            return
        seen[key] = v.ok
        if not v.ok:
            until = now_ms + int(self.config.breaker_cooldown_s * 1000)
            self._hold(key, v, TradingState.REDUCING, until, True, now_ms, events, symbol=symbol)

    def on_ops(self, ops: OpsView, *, now_ms: int) -> list[EventDraft]:
        """Evaluate the operational checks; each holds (``ops_action``) while it fails."""
        events: list[EventDraft] = []
        seen: dict[str, bool] = {}
        cfg = self.config
        level = level_of(cfg.ops_action)
        try:
            todo: list[tuple[str, Callable[..., Verdict], tuple[Any, ...]]] = []
            if cfg.max_data_age_s is not None:
                todo.append(
                    (
                        "stale_data",
                        C.check_stale_data,
                        (now_ms, ops.last_data_ms, cfg.max_data_age_s),
                    )
                )
            if cfg.max_ws_down_s is not None:
                todo.append(
                    ("ws_down", C.check_ws_down, (now_ms, ops.ws_down_since_ms, cfg.max_ws_down_s))
                )
            if cfg.max_errors is not None:
                times = list(ops.error_times_ms) or [int(c[0]) for c in ops.failed_calls]
                todo.append(
                    (
                        "error_rate",
                        C.check_error_rate,
                        (times, now_ms, cfg.error_window_s, cfg.max_errors),
                    )
                )
            if cfg.max_clock_skew_ms is not None:
                todo.append(
                    ("clock_skew", C.check_clock_skew, (ops.clock_skew_ms, cfg.max_clock_skew_ms))
                )
            for rule, fn, args in todo:
                v = self._guarded(rule, fn, *args, events=events, now_ms=now_ms)
                if v is None:
                    continue
                seen[rule] = v.ok
                if not v.ok:
                    detail = None
                    if rule == "error_rate":
                        detail = failed_calls_text(ops.failed_calls, now_ms, cfg.error_window_s)
                    self._hold(rule, v, level, now_ms, True, now_ms, events, detail=detail)
            self._expire(now_ms, seen)
        except Exception as exc:
            self._fail("on_ops", exc, now_ms, events)
        self._sync(events, now_ms)
        return events

    # -- operator commands ----------------------------------------------------------------

    def halt(self, reason: str, *, now_ms: int | None = None) -> list[EventDraft]:
        """Stop every order until :meth:`resume`."""
        return self._manual(TradingState.HALTED, reason, now_ms)

    def reduce(self, reason: str, *, now_ms: int | None = None) -> list[EventDraft]:
        """Let only reducing orders through until :meth:`resume` (replaces a manual halt)."""
        return self._manual(TradingState.REDUCING, reason, now_ms)

    def _manual(self, state: TradingState, reason: str, now_ms: int | None) -> list[EventDraft]:
        events: list[EventDraft] = []
        self._holds["manual"] = Hold("manual", "manual", state, f"manual: {reason}", None, False)
        self._sync(events, now_ms)
        return events

    def resume(self, reason: str, *, now_ms: int | None = None) -> list[EventDraft]:
        """Lift every hold and return to ``ACTIVE``.

        Resuming accepts the losses so far: the drawdown peak and the day's starting equity
        restart from the last equity seen. A breach that still holds (VaR, a breaker, an
        operational check, a check that still raises) comes back at its next evaluation.
        """
        events: list[EventDraft] = []
        self._holds.clear()
        if self._last_equity is not None:
            self._peak = self._last_equity
            self._day_start = self._last_equity
        self._active_reason = f"resumed: {reason}"
        self._sync(events, now_ms)
        return events

    # -- holds, failures, state events ----------------------------------------------------

    def _check(
        self,
        rule: str,
        fn: Callable[..., Verdict],
        *args: Any,
        events: list[EventDraft],
        now_ms: int,
    ) -> Verdict:
        """Run one order check; on an exception halt and raise :class:`CheckFailed`."""
        v = self._guarded(rule, fn, *args, events=events, now_ms=now_ms)
        if v is None:
            raise CheckFailed(rule, self._holds[f"error:{rule}"].reason)
        return v

    def _guarded(
        self,
        rule: str,
        fn: Callable[..., Verdict],
        *args: Any,
        events: list[EventDraft],
        now_ms: int | None,
    ) -> Verdict | None:
        try:
            v = fn(*args)
            if not isinstance(v, Verdict):
                raise TypeError(f"returned {type(v).__name__}, not a Verdict")
            return v
        except Exception as exc:
            self._fail(rule, exc, now_ms, events)
            return None

    def _fail(
        self, check: str, exc: BaseException, now_ms: int | None, events: list[EventDraft]
    ) -> str:
        reason = f"risk check {check} failed: {type(exc).__name__}: {exc}"
        key = f"error:{check}"
        self._holds[key] = Hold(key, check, TradingState.HALTED, reason, None, False)
        events.append(
            (
                "risk_error",
                self.stream,
                {
                    "check": check,
                    "error": f"{type(exc).__name__}: {exc}",
                    "reason": reason,
                    "at_ms": now_ms,
                },
            )
        )
        return reason

    def _hold(
        self,
        key: str,
        v: Verdict,
        state: TradingState,
        until_ms: int | None,
        level: bool,
        now_ms: int,
        events: list[EventDraft],
        *,
        symbol: str | None = None,
        detail: str | None = None,
    ) -> None:
        """Hold ``key`` (or raise an existing hold's severity); ``detail`` ends the reason
        (the failed calls behind an error rate)."""
        old = self._holds.get(key)
        if old is not None:
            old.value, old.limit = v.value, v.limit
            if old.until_ms is not None:
                old.until_ms = None if until_ms is None else max(old.until_ms, until_ms)
            if SEVERITY[state] > SEVERITY[old.state]:
                old.state = state
            return
        reason = self._breach_text(v, symbol) + (f" — {detail}" if detail else "")
        self._holds[key] = Hold(
            key, v.rule, state, reason, until_ms, level, v.value, v.limit, symbol
        )
        payload = {
            "rule": v.rule,
            "symbol": symbol,
            "value": num(v.value),
            "limit": num(v.limit),
            "state": state.value,
            "until_ms": until_ms,
            "reason": reason,
            "at_ms": now_ms,
        }
        events.append(("risk_breach", self.stream, payload))

    def _expire(self, now_ms: int, seen: dict[str, bool]) -> None:
        for key, hold in list(self._holds.items()):
            if hold.until_ms is None or now_ms < hold.until_ms:
                continue
            if hold.level and not seen.get(key, False):
                continue  # not evaluated clear in this call
            del self._holds[key]
            self._active_reason = f"{hold.rule} lifted ({hold.reason})"

    def _sync(self, events: list[EventDraft], now_ms: int | None) -> None:
        """Emit ``risk_state`` when the state or its reason changed."""
        current = self._current()
        if current == self._shown:
            return
        previous = self._shown
        self._shown = current
        payload = {
            "state": current[0].value,
            "previous": previous[0].value,
            "reason": current[1],
            "holds": self.holds,
            "at_ms": now_ms,
        }
        events.append(("risk_state", self.stream, payload))

    # -- persistence ----------------------------------------------------------------------

    def _history_len(self) -> int:
        """Bar equities kept: the VaR window's, or none when VaR is off (the snapshot, written
        with every bar, then stays small)."""
        return self.config.var_window + 1 if self.config.var_limit is not None else 0

    def snapshot(self) -> dict[str, Any]:
        """The engine's state as JSON data."""
        return {
            "holds": self.holds,
            "peak": self._peak,
            "day": self._day,
            "day_start": self._day_start,
            "last_equity": self._last_equity,
            "equity": list(self._equity),
            "order_times": list(self._order_times),
            "shown": [self._shown[0].value, self._shown[1]],
            "active_reason": self._active_reason,
        }

    def restore(self, snap: dict[str, Any]) -> None:
        """Load a :meth:`snapshot`."""
        self._holds = {}
        for h in snap["holds"]:
            self._holds[h["key"]] = Hold(
                h["key"],
                h["rule"],
                TradingState(h["state"]),
                h["reason"],
                h["until_ms"],
                h["level"],
                h["value"],
                h["limit"],
                h["symbol"],
            )
        self._peak = snap["peak"]
        self._day = snap["day"]
        self._day_start = snap["day_start"]
        self._last_equity = snap["last_equity"]
        self._equity = deque(snap["equity"], maxlen=self._history_len())
        self._order_times = deque(snap["order_times"])
        self._shown = (TradingState(snap["shown"][0]), snap["shown"][1])
        self._active_reason = snap["active_reason"]
