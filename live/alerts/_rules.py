"""Which events of a run's log alert, how loudly, and what the message says (pure, no I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from live.alerts._sniper import SniperAlertState, sniper_alerts
from live.events import Event
from live.secrets import Redactor, default_redactor

__all__ = ["SEVERITIES", "Alert", "AlertContext", "Severity", "alerts_for"]

Severity = Literal["info", "warning", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "critical")
"""Severities, least to most urgent."""

_TEXT_MAX = 500  # characters of a reason or message quoted in a body
_CALM_STATES = frozenset({"ACTIVE", "NORMAL", "RUNNING", "OK"})


@dataclass(frozen=True, slots=True)
class Alert:
    """One notification.

    Parameters
    ----------
    key
        What the alert is about (``"halted"``, ``"risk_breach:max_drawdown"``,
        ``"fill:BTC/USDT"``); rate limits and de-duplication are per key.
    severity
        ``"info"``, ``"warning"`` or ``"critical"``.
    title, body
        The message, already redacted.
    seq, ts_ms
        The event it comes from, if any.
    """

    key: str
    severity: Severity
    title: str
    body: str
    seq: int | None = None
    ts_ms: int | None = None


@dataclass
class AlertContext:
    """What :func:`alerts_for` remembers between events of one run.

    Parameters
    ----------
    big_fill_notional
        Fills of at least this notional (quantity × price, in the quote currency) alert;
        ``None``: fills never alert.
    redactor
        Masks secrets in titles and bodies (the process-wide one by default).
    """

    big_fill_notional: Decimal | None = None
    redactor: Redactor = field(default_factory=default_redactor)
    run_id: str | None = None
    orders: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Client order id → (symbol, side), from ``order_created`` events."""
    state: str | None = None
    """The run's trading state as last alerted (``ACTIVE``, ``REDUCING``, ``HALTED``; ``None``
    before the first): one halt is logged by several events, alerted by the first only."""
    sniper: SniperAlertState = field(default_factory=SniperAlertState)
    """A Solana sniper run's (:mod:`live.alerts._sniper`)."""

    def observe(self, event: Event) -> None:
        """Learn the run id and orders' symbols and sides (fills do not carry them)."""
        p = event.payload
        if event.kind == "run_started":
            self.run_id = str(p.get("run_id") or self.run_id or "") or None
        elif event.kind == "order_created":
            self.orders[event.stream] = (str(p.get("symbol", "?")), str(p.get("side", "?")))


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= _TEXT_MAX else text[: _TEXT_MAX - 3] + "..."


def _dec(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def _alert(
    event: Event, ctx: AlertContext, key: str, severity: Severity, what: str, lines: list[str]
) -> Alert:
    when = datetime.fromtimestamp(event.ts_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    run = ctx.run_id or "run"
    head = f"{run} · event {event.seq} ({event.kind}) · {when}"
    r = ctx.redactor
    return Alert(
        key=r.redact(key),
        severity=severity,
        title=r.redact(f"[{severity.upper()}] {what} — {run}"),
        body=r.redact("\n".join([*lines, "", head])),
        seq=event.seq,
        ts_ms=event.ts_ms,
    )


def alerts_for(event: Event, context: AlertContext) -> list[Alert]:
    """The alerts ``event`` raises (often none), after letting ``context`` learn from it.

    ==================  =========================================  ==========================
    event               alerts when                                severity
    ==================  =========================================  ==========================
    ``risk_breach``     always                                     warning
    ``risk_state``      the run's state changes (a strategy's:     critical if halted, info
                        always)                                    when back to active, else
                                                                   warning
    ``kill_switch``     engaged (the run not yet halted) /         critical / warning
                        released
    ``halted``          the run not yet halted                     critical
    ``resumed``         always                                     info
    ``order_fill``      notional ≥ ``big_fill_notional``           info
    ``order_rejected``  always                                     warning
    ``error``           always                                     warning
    ``compliance_       always (a send refused before signing:     critical
    refused``           sanctioned address, list stale/missing)
    ``reconciled``      ``ok`` is false                            critical
    ``log_verified``    always (each start: the checkpoint of the  info; critical when the
                        log it checked, ``seq`` and head hash)     log failed and was accepted
    ``log_accepted``    always (a run goes on with a failed log)   critical
    ``sniper_*``        repeated RPC failures, daily budget        see :mod:`live.alerts._sniper`
    ==================  =========================================  ==========================

    One halt of the run, one critical alert: a halt is logged by several events (the runner's
    ``halted`` and the risk engine's ``risk_state``; the kill switch's ``kill_switch`` first;
    a breaker's ``risk_state`` then the kill switch it engages), and the first of them, which
    names the cause, alerts; the others find the run already HALTED (``context.state``). A
    resume likewise alerts once: ``resumed`` (the operator's), or the risk engine's state
    leaving HALTED by itself (a breaker that lifts when clear).

    Every title and body goes through ``context.redactor``; payloads are redacted with
    :meth:`~live.secrets.Redactor.redact_obj` before they are quoted.
    """
    context.observe(event)
    p = context.redactor.redact_obj(event.payload)
    kind = event.kind
    if _run_state_event(event):
        return _run_state_alert(event, context, p)
    if kind in ("risk_breach", "risk_state", "kill_switch"):
        return [_risk_alert(event, context, p)]
    if kind == "order_fill":
        return _fill(event, context, p)
    if kind == "order_rejected":
        symbol, side = context.orders.get(event.stream, ("?", "?"))
        lines = [
            f"Order {event.stream} ({side} {symbol}) rejected.",
            f"Reason: {_text(p.get('reason', '-'))}",
        ]
        return [_alert(event, context, f"order_rejected:{symbol}", "warning",
                       f"Order rejected: {symbol}", lines)]  # fmt: skip
    if kind == "compliance_refused":  # sanctions screening refused to sign (live/compliance)
        lines = [_text(p.get("message", "-")), f"Addresses: {_text(p.get('addresses', []))}"]
        return [_alert(event, context, f"compliance:{p.get('reason', '?')}", "critical",
                       "On-chain send refused by compliance screening", lines)]  # fmt: skip
    if kind == "error":
        where = str(p.get("where", event.stream))
        lines = [f"Error in {where}:", _text(p.get("message", "-"))]
        return [_alert(event, context, f"error:{where}", "warning", f"Error in {where}", lines)]
    if kind in ("log_verified", "log_accepted"):
        return [_log_integrity(event, context, p)]
    if kind.startswith("sniper_"):
        return sniper_alerts(event, context.sniper, p,
                             lambda e, *a: _alert(e, context, *a))  # fmt: skip
    if kind == "reconciled" and p.get("ok") is False:
        details = {k: v for k, v in p.items() if k != "ok"}
        lines = ["Reconciliation with the venue FAILED.", f"Details: {_text(details)}"]
        return [_alert(event, context, "reconcile_failed", "critical",
                       "Reconciliation failed", lines)]  # fmt: skip
    return []


def _run_state_event(event: Event) -> bool:
    """Whether ``event`` tells the run's one trading state (not a strategy's own, on stream
    ``risk:<id>``)."""
    kind = event.kind
    if kind == "risk_state":
        return not event.stream.startswith("risk:")
    return kind in ("halted", "resumed") or (
        kind == "kill_switch" and bool(event.payload.get("engaged"))
    )


def _run_state_alert(event: Event, context: AlertContext, p: dict[str, Any]) -> list[Alert]:
    """The alert of a change of the run's trading state, or none when ``context`` already
    alerted that state (a second event of the same halt)."""
    kind = event.kind
    if kind == "resumed":  # the operator's: always confirmed, the state ACTIVE again
        context.state = "ACTIVE"
        lines = [f"Trading resumed. Reason: {_text(p.get('reason', '-'))}"]
        if p.get("halt"):
            lines.append(f"It was halted for: {_text(p['halt'])}")
        return [_alert(event, context, "resumed", "info", "Trading resumed", lines)]
    state = str(p.get("state", "?")).upper() if kind == "risk_state" else "HALTED"
    if state == context.state:
        return []  # the same halt (or state) told by another of its events
    context.state = state
    if kind == "halted":
        lines = ["Trading HALTED: no new orders.", f"Reason: {_text(p.get('reason', '-'))}"]
        return [_alert(event, context, "halted", "critical", "Trading halted", lines)]
    return [_risk_alert(event, context, p)]


def _log_integrity(event: Event, context: AlertContext, p: dict[str, Any]) -> Alert:
    """A start's verdict on its log, with the head it vouches for: a copy of the checkpoint
    outside the machine, so a later cut or rewrite of both log and checkpoint file shows."""
    if event.kind == "log_accepted":
        lines = [
            f"A run goes on with an event log that FAILED verification at seq "
            f"{p.get('failed_seq')} ({p.get('failure')}).",
            f"Detail: {_text(p.get('detail', '-'))}",
            f"Accepted by {p.get('by', '?')}: {_text(p.get('reason', '-'))}",
        ]
        return _alert(event, context, "log_accepted", "critical",
                      "Event log accepted despite failed verification", lines)  # fmt: skip
    lines = [
        f"Event log checked ({p.get('mode')}, {'keyed' if p.get('keyed') else 'unkeyed'}): "
        f"{'OK' if p.get('ok') else 'FAILED'}.",
        f"Head: seq {p.get('head_seq')}, hash {p.get('head_hash')}.",
    ]
    if p.get("accepted"):
        lines.append(f"Failed at seq {p.get('failed_seq')} ({p.get('failure')}); accepted: "
                     f"{_text(p['accepted'])}")  # fmt: skip
        return _alert(event, context, "log_verified", "critical", "Event log accepted", lines)
    return _alert(event, context, "log_verified", "info", "Event log verified", lines)


def _fill(event: Event, context: AlertContext, p: dict[str, Any]) -> list[Alert]:
    threshold = context.big_fill_notional
    qty, price = _dec(p.get("qty")), _dec(p.get("price"))
    if threshold is None or qty is None or price is None:
        return []
    notional = abs(qty * price)
    if notional < threshold:
        return []
    symbol, side = context.orders.get(event.stream, ("?", "?"))
    quote = symbol.split("/")[-1].split(":")[0] if "/" in symbol else ""
    lines = [
        f"{side.upper()} {qty} {symbol} at {price}: notional {notional:f} {quote}".rstrip(),
        f"Order {event.stream}, trade {p.get('trade_id', '?')}.",
    ]
    if p.get("fee") is not None:
        lines.append(f"Fee {p['fee']} {p.get('fee_asset') or ''}".rstrip())
    return [_alert(event, context, f"fill:{symbol}", "info", f"Large fill: {side} {symbol}", lines)]


def _risk_alert(event: Event, context: AlertContext, p: dict[str, Any]) -> Alert:
    """The alert of a ``risk_breach``, ``risk_state`` or ``kill_switch`` event (payload ``p``,
    redacted)."""
    kind = event.kind
    # A portfolio run's strategy has its own risk engine (stream ``risk:<id>``): its alerts
    # name it, and its halt is a warning (the account and the other strategies trade on).
    sleeve = event.stream.split(":", 1)[1] if event.stream.startswith("risk:") else None
    who, tag = (f"Strategy {sleeve}: ", f":{sleeve}") if sleeve else ("", "")
    if kind == "risk_breach":
        rule = str(p.get("rule", "?"))
        lines = [f"Rule {rule}: value {p.get('value')} against limit {p.get('limit')}."]
        if p.get("symbol"):
            lines.append(f"Symbol: {p['symbol']}.")
        if p.get("action"):
            lines.append(f"Action: {_text(p['action'])}.")
        return _alert(event, context, f"risk_breach{tag}:{rule}", "warning",
                      f"{who}Risk limit breached: {rule}", lines)  # fmt: skip
    if kind == "risk_state":
        state = str(p.get("state", "?")).upper()
        severity: Severity = (
            ("warning" if sleeve else "critical")
            if state == "HALTED"
            else "info"
            if state in _CALM_STATES
            else "warning"
        )
        lines = [f"Risk state is now {state}.", f"Reason: {_text(p.get('reason', '-'))}"]
        return _alert(event, context, f"risk_state{tag}:{state}", severity,
                      f"{who}Risk state {state}", lines)  # fmt: skip
    # kill_switch
    engaged = bool(p.get("engaged"))
    lines = [
        f"Kill switch {'ENGAGED' if engaged else 'released'}.",
        f"Reason: {_text(p.get('reason', '-'))}",
    ]
    if engaged:
        lines.append(f"Flatten positions: {'yes' if p.get('flatten') else 'no'}.")
    state = "engaged" if engaged else "released"
    return _alert(event, context, f"kill_switch:{state}",
                  "critical" if engaged else "warning", f"Kill switch {state}", lines)  # fmt: skip
