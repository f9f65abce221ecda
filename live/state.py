"""A run's state, folded from its event log: what ``grekko-live status|orders|positions`` and
the status API show.

:class:`RunFold` takes one event at a time (the API feeds it as it tails the log); orders, fills
and positions come from the same :meth:`OrderManager.apply_event` the runner replays on restart.
:func:`fold_run` folds a whole log. Folding needs no running process: SQLite in WAL mode lets
readers see a live run's log while it writes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from live.events import Event
from live.orders import TERMINAL, Order, OrderManager, UnknownOrderError
from live.parents import ParentBook

__all__ = [
    "RISK_LEVELS",
    "Rejection",
    "RiskState",
    "RunFold",
    "SleeveState",
    "dec_text",
    "fold_run",
    "model_provenance",
    "reason_class",
]

RiskState = Literal["ACTIVE", "REDUCING", "HALTED"]
RISK_LEVELS: dict[str, int] = {"ACTIVE": 0, "REDUCING": 1, "HALTED": 2}

# The events _apply hands to _apply_control (the others: orders, or the run's own record).
_CONTROL_KINDS = frozenset(
    {"halted", "resumed", "kill_switch", "risk_state", "risk_breach", "risk_error", "risk_decision"}
)
_BREACHES_KEPT = 50
_REFUSALS_KEPT = 20

# Ordered: the first keyword found names the class ("rate limit" before "limit").
_REASON_CLASSES = (
    ("halted", ("halt", "kill")),
    ("lost", ("not found",)),
    ("insufficient_funds", ("insufficient", "balance", "margin", "funds")),
    ("rate_limit", ("rate limit", "too many", "429")),
    ("min_size", ("lot", "min notional", "minimum", "too small", "min_qty")),
    ("price_filter", ("price", "tick", "percent")),
    ("risk_limit", ("risk", "limit", "exposure", "drawdown", "loss", "leverage")),
)


def reason_class(reason: object) -> str:
    """Map a free-text refusal reason to a small, fixed set of classes (a metric label)."""
    text = str(reason or "").lower()
    for name, words in _REASON_CLASSES:
        if any(w in text for w in words):
            return name
    return "other"


@dataclass
class Rejection:
    """One refused order or intent, with who refused it."""

    source: Literal["venue", "runner", "risk"]
    reason: str
    rule: str | None = None
    """The risk rule that refused (risk engine refusals only)."""


@dataclass
class SleeveState:
    """One strategy of a portfolio run, as its own records tell it."""

    id: str
    strategy: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    weight: float | None = None
    capital: float | None = None
    equity: float | None = None
    target: dict[str, float] = field(default_factory=dict)
    state: RiskState = "ACTIVE"
    reason: str | None = None
    realised_pnl: float = 0.0
    closed_trades: int = 0
    error: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "strategy": self.strategy,
            "params": self.params,
            "weight": self.weight,
            "capital": self.capital,
            "equity": self.equity,
            "target": self.target,
            "state": self.state,
            "reason": self.reason,
            "realised_pnl": self.realised_pnl,
            "closed_trades": self.closed_trades,
            "error": self.error,
        }


@dataclass
class RunFold:
    """Everything the API shows about one run, up to ``last_seq``."""

    run: dict[str, Any] = field(default_factory=dict)
    started_ts_ms: int | None = None
    last_seq: int = 0
    last_ts_ms: int | None = None
    restarts: int = 0
    bars: int = 0
    decisions: int = 0
    last_bar_ts: int | None = None
    equity: float | None = None
    first_equity: float | None = None
    last_close: dict[str, float] = field(default_factory=dict)
    realised_pnl: float = 0.0
    closed_trades: int = 0
    winning_trades: int = 0
    fees: dict[str, Decimal] = field(default_factory=dict)
    halted: str | None = None
    kill: dict[str, Any] | None = None
    engine_state: RiskState = "ACTIVE"
    engine_reason: str | None = None
    breaches: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=_BREACHES_KEPT))
    refusals: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=_REFUSALS_KEPT))
    """The latest refused orders (risk rule, venue or runner), newest last."""
    last_reconcile: dict[str, Any] | None = None
    last_risk_decision: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    events: int = 0
    om: OrderManager = field(default_factory=OrderManager)
    sleeves: dict[str, SleeveState] = field(default_factory=dict)
    """A portfolio run's strategies, by id (empty for a single strategy)."""
    parents: ParentBook = field(default_factory=ParentBook)
    """The run's execution algorithms' parents (:mod:`live.parents`)."""

    # -- reading ---------------------------------------------------------------------------

    @property
    def symbols(self) -> list[str]:
        """The run's symbols (empty before ``run_started``)."""
        return [str(s) for s in self.run.get("symbols") or []]

    def risk(self) -> tuple[RiskState, str | None]:
        """The run's risk state and why: a kill switch or a halt wins over the risk engine."""
        if self.kill is not None:
            return "HALTED", f"kill switch: {self.kill.get('reason')}"
        if self.halted is not None:
            return "HALTED", self.halted
        return self.engine_state, self.engine_reason

    @property
    def orders(self) -> list[Order]:
        return self.om.orders()

    @property
    def positions(self) -> dict[str, Decimal]:
        return self.om.positions()

    @property
    def fills(self) -> int:
        return len(self.om.fills())

    @property
    def anomalies(self) -> list[str]:
        return [f"{a.client_id}: {a.kind}: {a.detail}" for a in self.om.anomalies]

    def summary(self) -> dict[str, Any]:
        """JSON-ready status (``grekko-live status``); times are ms since the epoch (UTC)."""
        state, reason = self.risk()
        return {
            "run_id": self.run.get("run_id"),
            "strategy": self.run.get("strategy"),
            "params": self.run.get("params"),
            "venue": self.run.get("venue"),
            "mode": self.run.get("mode"),
            "symbols": self.run.get("symbols"),
            "timeframe": self.run.get("timeframe"),
            "events": self.events,
            "restarts": self.restarts,
            "bars": self.bars,
            "last_bar_ts": self.last_bar_ts,
            "equity": self.equity,
            "decisions": self.decisions,
            "orders": len(self.orders),
            "open_orders": len([o for o in self.orders if o.state not in TERMINAL]),
            "fills": self.fills,
            "closed_trades": self.closed_trades,
            "positions": {k: dec_text(v) for k, v in self.positions.items()},
            "halted": self.halted,
            "risk_state": state,
            "risk_reason": reason,
            "last_refusals": list(self.refusals)[-10:],
            "started_ts": self.started_ts_ms,
            "last_event_ts": self.last_ts_ms,
            "last_reconcile": self.last_reconcile,
            "anomalies": self.anomalies,
            **(
                {"strategies": [s.summary() for s in self.sleeves.values()]} if self.sleeves else {}
            ),
            **({"model": model_provenance(self.run)} if self.run.get("model") else {}),
        }

    def parent_rows(self) -> list[dict[str, Any]]:
        """Each parent order with its progress and state (:meth:`ParentBook.rows`)."""
        from grekko_research.data.timeframes import parse_timeframe

        if not self.parents.started:
            return []
        return self.parents.rows(self.om, parse_timeframe(str(self.run["timeframe"])).ms)

    def exposure(self) -> dict[str, float]:
        """Position × last close per symbol with a known close."""
        positions = self.om.positions()
        return {
            s: float(positions.get(s, Decimal(0))) * self.last_close[s]
            for s in self.symbols
            if s in self.last_close
        }

    # -- folding ---------------------------------------------------------------------------

    def apply(self, e: Event) -> list[Rejection]:
        """Fold one event in; return the refusals it records (for the rejection counter).

        Raises whatever :meth:`OrderManager.apply_event` raises on an inconsistent order
        event; the event then changed nothing but ``last_seq``.
        """
        refused = self._apply(e)
        at = {"seq": e.seq, "ts_ms": e.ts_ms}
        if e.kind == "decision":
            for r in e.payload.get("refused") or []:
                if isinstance(r, dict) and not r.get("rule"):  # a rule's: its risk_decision's
                    size = r.get("size")
                    self.refusals.append(
                        {**at, "source": "runner", "rule": None, "reason": str(r.get("reason")),
                         "symbol": r.get("symbol"), "qty": size}
                    )  # fmt: skip
        else:
            for r in refused:
                self.refusals.append(
                    {**at, "source": r.source, "rule": r.rule, "reason": r.reason,
                     **self._order_of(e)}
                )  # fmt: skip
        return refused

    def _apply(self, e: Event) -> list[Rejection]:
        self.last_seq, self.last_ts_ms = e.seq, e.ts_ms
        self.events += 1
        if e.kind in ("algo_started", "algo_cancelled", "decision"):
            self.parents.apply(e)
        sleeve = self._sleeve_of(e.stream)
        if sleeve is not None:
            return self._apply_sleeve(sleeve, e)
        if e.kind.startswith("order_"):
            return self._apply_order(e)
        if e.kind in _CONTROL_KINDS:
            return self._apply_control(e)
        return self._apply_run(e)

    def _apply_order(self, e: Event) -> list[Rejection]:
        """An ``order_*`` event: the order book, fees paid, a venue's rejection."""
        p = e.payload
        self.om.apply_event(e)
        if e.kind == "order_fill" and p.get("fee") is not None and p.get("fee_asset"):
            asset = str(p["fee_asset"])
            self.fees[asset] = self.fees.get(asset, Decimal(0)) + Decimal(str(p["fee"]))
        if e.kind == "order_rejected":
            return [Rejection("venue", str(p.get("reason") or ""))]
        return []

    def _apply_run(self, e: Event) -> list[Rejection]:
        """The run's own events: start, restarts, bars, decisions, closed trades, reconciles."""
        p = e.payload
        kind = e.kind
        if kind == "run_started":
            self.run, self.started_ts_ms = dict(p), e.ts_ms
            for s in p.get("strategies") or []:
                sid = str(s.get("id"))
                self.sleeves[sid] = SleeveState(
                    sid, s.get("strategy"), dict(s.get("params") or {}), s.get("weight"),
                    s.get("capital"),
                )  # fmt: skip
        elif kind == "run_resumed":
            self.restarts += 1
        elif kind == "bar_closed":
            self._on_bar(e)
        elif kind == "decision":
            self.decisions += 1
            for sid, part in (p.get("strategies") or {}).items():
                self._on_sleeve_decision(sid, part)
            return [Rejection("runner", str(r.get("reason") or "")) for r in p.get("refused") or []]
        elif kind == "trade_closed":
            pnl = p.get("pnl")
            self.closed_trades += 1
            if isinstance(pnl, int | float):
                self.realised_pnl += float(pnl)
                self.winning_trades += pnl > 0
        elif kind == "reconciled":
            self.last_reconcile = {"seq": e.seq, "ts_ms": e.ts_ms, **p}
        return []

    def _apply_control(self, e: Event) -> list[Rejection]:
        """Halts, resumes, the kill switch and the risk engine's events (``_CONTROL_KINDS``)."""
        p = e.payload
        kind = e.kind
        if kind == "halted":
            self.halted = str(p.get("reason"))
        elif kind == "resumed":
            # The risk engine logs its own risk_state when a resume lifts its holds.
            self.halted = self.kill = None
        elif kind == "kill_switch":
            if p.get("engaged", True):
                self.kill = {"seq": e.seq, "ts_ms": e.ts_ms, **p}
            else:
                self.kill = None
        elif kind == "risk_state":
            state = str(p.get("state") or p.get("to") or "").upper()
            if state in RISK_LEVELS:
                self.engine_state = state  # type: ignore[assignment]
                self.engine_reason = None if p.get("reason") is None else str(p["reason"])
        elif kind in ("risk_breach", "risk_error"):
            source = "risk" if kind == "risk_breach" else "risk_error"
            self.breaches.append({"seq": e.seq, "ts_ms": e.ts_ms, "source": source, **p})
        elif kind == "risk_decision":
            self.last_risk_decision = {"seq": e.seq, "ts_ms": e.ts_ms, "stream": e.stream, **p}
            if _refused(p):
                rule = None if p.get("rule") is None else str(p["rule"])
                return [Rejection("risk", str(p.get("reason") or ""), rule)]
        return []

    def _order_of(self, e: Event) -> dict[str, Any]:
        """The order a refusal event is about: symbol, side, quantity (and the venue's
        rejections, its client id)."""
        p = e.payload
        if e.kind == "order_rejected":
            try:
                o = self.om.order(e.stream)
            except UnknownOrderError:  # an order the log never created: say what is known
                return {"client_id": e.stream}
            return {"client_id": e.stream, "symbol": o.symbol, "side": o.side, "qty": str(o.qty)}
        return {k: p[k] for k in ("symbol", "side", "qty") if p.get(k) is not None}

    def _sleeve_of(self, stream: str) -> SleeveState | None:
        """The sleeve whose own record an event on ``stream`` is (its trades, its risk engine's
        events and decisions), or ``None`` for the account's events."""
        for prefix in ("strategy:", "risk:"):
            if stream.startswith(prefix):
                sid = stream[len(prefix) :].split(":", 1)[0]
                return self.sleeves.get(sid)
        return None

    def _apply_sleeve(self, sleeve: SleeveState, e: Event) -> list[Rejection]:
        p = e.payload
        if e.kind == "trade_closed":
            sleeve.closed_trades += 1
            pnl = p.get("pnl")
            if isinstance(pnl, int | float):
                sleeve.realised_pnl += float(pnl)
        elif e.kind == "risk_state":
            state = str(p.get("state") or p.get("to") or "").upper()
            if state in RISK_LEVELS:
                sleeve.state = state  # type: ignore[assignment]
                sleeve.reason = None if p.get("reason") is None else str(p["reason"])
        elif e.kind in ("risk_breach", "risk_error"):
            source = "risk" if e.kind == "risk_breach" else "risk_error"
            self.breaches.append(
                {"seq": e.seq, "ts_ms": e.ts_ms, "source": source, "strategy": sleeve.id, **p}
            )
        elif e.kind == "risk_decision" and _refused(p):
            rule = None if p.get("rule") is None else str(p["rule"])
            return [Rejection("risk", str(p.get("reason") or ""), rule)]
        return []

    def _on_sleeve_decision(self, sid: str, part: dict[str, Any]) -> None:
        sleeve = self.sleeves.get(str(sid))
        if sleeve is None or not isinstance(part, dict):
            return
        target = part.get("target")
        if isinstance(target, list):
            sleeve.target = {  # float noise (-4e-20 of a unit) is no position
                s: _clean(float(t))
                for s, t in zip(self.symbols, target, strict=False)
                if t is not None
            }
        if isinstance(part.get("equity"), int | float):
            sleeve.equity = float(part["equity"])
        if part.get("error"):
            sleeve.error = str(part["error"])

    def _on_bar(self, e: Event) -> None:
        p = e.payload
        ts = int(p["ts"])  # first: a bar without one changes nothing
        self.bars += 1
        self.last_bar_ts = ts
        equity = p.get("equity")
        if isinstance(equity, int | float):
            self.equity = float(equity)
            if self.first_equity is None:
                self.first_equity = self.equity
        bar = p.get("bar")
        if isinstance(bar, list) and len(bar) >= 4:  # rows o, h, l, c, v; one column per symbol
            for j, symbol in enumerate(self.symbols):
                try:
                    close = bar[3][j]
                except (IndexError, TypeError):
                    break
                if isinstance(close, int | float):
                    self.last_close[symbol] = float(close)
        for sid, part in (p.get("sleeves") or {}).items():
            sleeve = self.sleeves.get(str(sid))
            if sleeve is not None and isinstance(part, dict) and _is_num(part.get("equity")):
                sleeve.equity = float(part["equity"])
        for r in p.get("risk") or []:
            if isinstance(r, dict):
                self.breaches.append(
                    {"seq": e.seq, "ts_ms": e.ts_ms, "source": "engine", "bar_ts": ts, **r}
                )


def _clean(x: float) -> float:
    return 0.0 if abs(x) < 1e-12 else x


def _is_num(value: object) -> bool:
    return isinstance(value, int | float)


def _refused(p: dict[str, Any]) -> bool:
    """Whether a ``risk_decision`` refused its order (``action: "reject"``)."""
    return str(p.get("action") or "").lower() in ("reject", "rejected")


def dec_text(value: Decimal) -> str:
    """A decimal without exponent noise (``0E-17`` → ``0``)."""
    return "0" if value == 0 else format(value.normalize(), "f")


def model_provenance(started: Mapping[str, Any]) -> dict[str, Any]:
    """What a ``run_started`` payload records of the promoted model a run trades: its URI,
    version, source run, and its window models (how many, the last window's end)."""
    windows = started.get("window_models") or []
    ends = [str(w.get("window_end")) for w in windows if w.get("window_end")]
    return {
        "uri": started.get("model"),
        "version": started.get("model_version"),
        "source_run": started.get("model_source_run"),
        "window_models": len(windows),
        "last_window": max(ends) if ends else None,
    }


def fold_run(events: Iterable[Event]) -> RunFold:
    """Fold a whole log into its run's state."""
    fold = RunFold()
    for e in events:
        fold.apply(e)
    return fold
