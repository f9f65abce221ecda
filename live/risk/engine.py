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

from grekko_research.risk import evaluate as E
from grekko_research.risk.checks import Verdict
from grekko_research.risk.spec import RiskSpec
from grekko_research.risk.state import (
    DAY_MS,
    FOREVER,
    hold_lifts_nb,
    mark_nb,
    merge_hold_nb,
)
from grekko_research.risk.var import VarWindow
from live.risk._holds import (
    SEVERITY,
    CheckFailed,
    Hold,
    failed_calls_text,
    fmt,
    num,
)
from live.risk.config import LiveRiskConfig, risk_spec
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

_Outcome = tuple[str, float, str | None, float | None, float | None, str]
# Rules of an order verdict that measure nothing (their value and limit are None).
_UNMEASURED = frozenset({"halted", "reducing", "zero_qty"})


class RiskEngine:
    """Pre-trade checks, circuit breakers and the trading state of one live run.

    The decisions are the pure functions of :mod:`grekko_research.risk.evaluate` (the same a
    backtest calls); the engine builds their inputs from the views it is shown, owns the
    holds and the trading state, and records every verdict as an event draft.

    Parameters
    ----------
    config
        The run's :class:`~grekko_research.risk.spec.RiskSpec` (or the deprecated flat
        :class:`~live.risk.LiveRiskConfig`; default: every check off — the engine still fails
        closed and obeys :meth:`halt` / :meth:`reduce` / :meth:`resume`).
    stream
        Event stream of state changes, breaches and errors.
    """

    def __init__(
        self, config: RiskSpec | LiveRiskConfig | None = None, *, stream: str = "risk"
    ) -> None:
        self.config: RiskSpec | LiveRiskConfig = config if config is not None else RiskSpec()
        self.spec = risk_spec(config)
        self.stream = stream
        self._holds: dict[str, Hold] = {}
        self._peak: float | None = None
        self._day: int | None = None
        self._day_start: float | None = None
        self._last_equity: float | None = None
        self._equity: deque[float] = deque(maxlen=self.spec.history_len)
        self._var = self._var_window(())
        self._order_times: deque[int] = deque()
        # order.max_notional_per_day: the UTC day of the last order and the notional adding
        # exposure let through in it (evaluate.roll_day_notional_nb / added_notional_nb)
        self._notional_day = -1
        self._notional_today = 0.0
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

    def notional_today(self, now_ms: int) -> float:
        """The notional (quote) of the orders adding exposure let through in the UTC day of
        ``now_ms`` (what ``order.max_notional_per_day`` bounds; 0 on a new day)."""
        return float(E.roll_day_notional_nb(self._notional_day, self._notional_today, now_ms)[1])

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
        position passes (an order that would reverse it is shrunk to the closing part) — but a
        ``protective`` order (the risk system's own flatten) that only reduces passes in every
        state and is not rate-limited. Then:
        price band and tick (limit orders), order rate (every order), and for orders adding
        exposure: max order notional, max position, gross and net exposure, leverage (each
        shrinks the order to fit), lot size (rounds down) and min notional (rejects).
        An approved or shrunk order counts towards the order rate. (The decision is
        :func:`grekko_research.risk.evaluate.decide_order`.)
        """
        events: list[EventDraft] = []
        try:
            self._expire(now_ms, {})
            action, qty, rule, value, limit, reason = self._decide(
                order, portfolio, market, now_ms, events
            )
        except CheckFailed as failed:
            action, qty, rule, value, limit = "reject", 0.0, failed.rule, None, None
            reason = failed.reason
        except Exception as exc:  # fail closed: whatever broke, nothing passes
            reason = self._fail("check_order", exc, now_ms, events)
            action, qty, rule, value, limit = "reject", 0.0, "check_order", None, None
        if action != "reject" and self.spec.order.max_orders is not None:
            self._order_times.append(now_ms)
            self._prune_orders(now_ms)
        added = self._count_notional(
            order, portfolio, market, qty if action != "reject" else 0.0, now_ms
        )
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
        if order.protective:
            payload["protective"] = True
        if self.spec.order.max_notional_per_day is not None:
            payload["notional_added"] = added
            payload["notional_today"] = self._notional_today
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

    def _count_notional(
        self,
        order: ProposedOrder,
        portfolio: PortfolioView,
        market: MarketView,
        qty: float,
        now_ms: int,
    ) -> float:
        """Add what an order let through (``qty`` units, 0: refused) adds to the day's
        notional; return it."""
        day, spent = E.roll_day_notional_nb(self._notional_day, self._notional_today, now_ms)
        signed = qty if order.side == "buy" else -qty
        price = math.nan if order.price is None else float(order.price)
        try:
            pos = portfolio.position(order.symbol)
            added = float(E.added_notional_nb(pos, signed, price, market.price(order.symbol)))
        except Exception:  # an unreadable view refused the order already; count nothing
            added = 0.0
        if not math.isfinite(added):
            added = 0.0
        self._notional_day, self._notional_today = int(day), float(spent) + added
        return added

    def _decide(
        self,
        order: ProposedOrder,
        portfolio: PortfolioView,
        market: MarketView,
        now_ms: int,
        events: list[EventDraft],
    ) -> _Outcome:
        """Build the decision's inputs from the views, decide, and explain the verdict."""
        state, why = self._current()
        symbol = order.symbol
        pos = portfolio.position(symbol)
        qty_ok = math.isfinite(order.qty) and order.qty > 0
        if state is not TradingState.HALTED and qty_ok and not math.isfinite(pos):
            raise ValueError(f"position of {symbol} is not a finite number: {pos!r}")
        other_gross = other_net = 0.0
        for s, p in portfolio.positions.items():
            if s != symbol and p != 0:
                val = float(p) * market.price(s)  # NaN without a price: the checks fail
                other_gross += abs(val)
                other_net += val
        if self.spec.order.max_orders is not None:
            self._prune_orders(now_ms)
        times = np.asarray(self._order_times, dtype=np.float64)
        _, today = E.roll_day_notional_nb(self._notional_day, self._notional_today, now_ms)
        st = E.OrderState(
            state.code, pos, float(portfolio.equity), other_gross, other_net, times, float(today)
        )
        last = market.price(symbol)
        price = math.nan if order.price is None else float(order.price)
        view = E.OrderView(
            float(order.qty),
            1.0 if order.side == "buy" else -1.0,
            price,
            last,
            order.order_type == "limit",
            float(market.lot.get(symbol, 0.0)),
            float(market.tick.get(symbol, 0.0)),
            float(market.min_notional.get(symbol, 0.0)),
            float(now_ms),
            bool(order.protective),
        )
        verdict = E.decide_order(self.spec, st, view, guard=self._order_guard(events, now_ms))
        return self._explain(verdict, order, view, why)

    def _explain(
        self, v: E.OrderVerdict, order: ProposedOrder, view: E.OrderView, why: str
    ) -> _Outcome:
        """The verdict as (action, qty, rule, value, limit, reason)."""
        action = E.ACTION_NAMES[v.action]
        if action == "approve":
            return "approve", float(order.qty), None, None, None, "passed"
        qty = abs(v.qty) if action == "shrink" else 0.0
        rule = E.ORDER_RULES[v.rule]
        price = view.price if view.price == view.price else view.last
        if rule in ("halted", "reducing"):
            return action, qty, rule, None, None, why
        if rule == "zero_qty":
            return action, qty, rule, None, None, "nothing left to send"
        if rule == "invalid_order":
            return action, qty, rule, order.qty, None, "quantity must be positive"
        if rule == "no_price":
            return action, qty, rule, num(price), None, f"no price for {order.symbol}"
        if rule == "qty_precision":
            text = f"quantity rounded down to the lot {view.lot:g}"
        else:
            text = self._breach_text(Verdict(rule, False, v.value, v.limit), order.symbol)
        return action, qty, rule, v.value, v.limit, text

    def _order_guard(self, events: list[EventDraft], now_ms: int) -> E.Guard:
        """Run an order check; on an exception halt and raise :class:`CheckFailed`."""

        def guard(rule: str, fn: Callable[..., Verdict], *args: Any) -> Verdict:
            v = self._guarded(rule, fn, *args, events=events, now_ms=now_ms)
            if v is None:
                raise CheckFailed(rule, self._holds[f"error:{rule}"].reason)
            return v

        return guard

    def _breaker_guard(self, events: list[EventDraft], now_ms: int) -> E.Guard:
        """Run a breaker check; on an exception halt and skip it (``None``)."""

        def guard(rule: str, fn: Callable[..., Verdict], *args: Any) -> Verdict | None:
            return self._guarded(rule, fn, *args, events=events, now_ms=now_ms)

        return guard

    @staticmethod
    def _breach_text(v: Verdict, symbol: str | None = None) -> str:
        where = f" of {symbol}" if symbol else ""
        return f"{v.rule}{where}: {fmt(v.value)} (limit {fmt(v.limit)})"

    def _prune_orders(self, now_ms: int) -> None:
        horizon = now_ms - self.spec.order.order_window_s * 1000.0
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
        guard = self._breaker_guard(events, now_ms)
        try:
            equity = self._mark(portfolio, now_ms, bar=bar, events=events)
            if equity is not None:
                history = self._var if bar else None
                found, clear = E.evaluate_portfolio(
                    self.spec,
                    equity,
                    equity if self._peak is None else self._peak,
                    equity if self._day_start is None else self._day_start,
                    history,
                    now_ms,
                    guard=guard,
                )
                self._apply(found, now_ms, events)
                seen.update(clear)
            for symbol, closes in market.closes.items():
                series = np.asarray(closes, dtype=np.float64).reshape(-1)
                if not bar and symbol in market.prices:
                    series = np.append(series, market.price(symbol))
                found, clear = E.evaluate_market(
                    self.spec, symbol, series, market.periods_per_year, now_ms, bar=bar, guard=guard
                )
                self._apply(found, now_ms, events)
                seen.update(clear)
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
        peak, day, start = mark_nb(
            math.nan if self._peak is None else self._peak,
            -1 if self._day is None else self._day,
            math.nan if self._day_start is None else self._day_start,
            equity,
            now_ms,
        )
        self._peak, self._day, self._day_start = float(peak), int(day), float(start)
        self._last_equity = equity
        if bar:
            self._equity.append(equity)
            self._var.push(equity)
        return equity

    def _var_window(self, equities: Any) -> VarWindow:
        """The rolling VaR window over ``equities`` (empty when VaR is off)."""
        var = self.spec.portfolio.var
        return VarWindow(var.window, equities) if var.limit is not None else VarWindow(0)

    def on_ops(self, ops: OpsView, *, now_ms: int) -> list[EventDraft]:
        """Evaluate the operational checks; each holds (``ops.action``) while it fails."""
        events: list[EventDraft] = []
        try:
            times = list(ops.error_times_ms) or [int(c[0]) for c in ops.failed_calls]
            found, seen = E.evaluate_ops(
                self.spec,
                now_ms,
                ops.last_data_ms,
                ops.ws_down_since_ms,
                times,
                ops.clock_skew_ms,
                guard=self._breaker_guard(events, now_ms),
            )
            window = self.spec.ops.error_window_s
            detail = {"error_rate": failed_calls_text(ops.failed_calls, now_ms, window)}
            self._apply(found, now_ms, events, detail)
            self._expire(now_ms, seen)
        except Exception as exc:
            self._fail("on_ops", exc, now_ms, events)
        self._sync(events, now_ms)
        return events

    def _apply(
        self,
        found: list[E.Breach],
        now_ms: int,
        events: list[EventDraft],
        detail: dict[str, str | None] | None = None,
    ) -> None:
        """Hold each breach (in the order found)."""
        for b in found:
            until = None if b.until_ms == FOREVER else int(b.until_ms)
            more = (detail or {}).get(b.key)
            self._hold(
                b.key,
                b.verdict,
                TradingState.of(b.state),
                until,
                b.level,
                now_ms,
                events,
                symbol=b.symbol,
                detail=more,
            )

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
            code, until = merge_hold_nb(
                old.state.code,
                FOREVER if old.until_ms is None else old.until_ms,
                state.code,
                FOREVER if until_ms is None else until_ms,
            )
            old.state = TradingState.of(code)
            old.until_ms = None if until == FOREVER else int(until)
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
            until = FOREVER if hold.until_ms is None else hold.until_ms
            if not hold_lifts_nb(until, hold.level, seen.get(key, False), now_ms):
                continue  # not due, or a level hold not evaluated clear in this call
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
            "notional_day": self._notional_day,
            "notional_today": self._notional_today,
            "shown": [self._shown[0].value, self._shown[1]],
            "active_reason": self._active_reason,
        }

    def refold(self, decision: dict[str, Any]) -> None:
        """Count a recorded ``risk_decision`` payload again, for a run rebuilt from its event
        log rather than a :meth:`snapshot` (the Solana sniper): an order let through counts
        towards the order rate and, with its ``notional_added``, the day's notional."""
        if decision.get("action") not in ("approve", "shrink"):
            return
        at = int(decision["at_ms"])
        if self.spec.order.max_orders is not None:
            self._order_times.append(at)
            self._prune_orders(at)
        added = decision.get("notional_added")
        if added:
            day, spent = E.roll_day_notional_nb(self._notional_day, self._notional_today, at)
            self._notional_day, self._notional_today = int(day), float(spent) + float(added)

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
        self._equity = deque(snap["equity"], maxlen=self.spec.history_len)
        self._var = self._var_window(self._equity)  # the last window + 1 equities: the same
        self._order_times = deque(snap["order_times"])
        # absent from a snapshot taken before order.max_notional_per_day: nothing counted
        self._notional_day = int(snap.get("notional_day", -1))
        self._notional_today = float(snap.get("notional_today", 0.0))
        self._shown = (TradingState(snap["shown"][0]), snap["shown"][1])
        self._active_reason = snap["active_reason"]
