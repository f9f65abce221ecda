"""The alerts of a Solana sniper run's own events (pure, no I/O; see :func:`alerts_for`).

A sniper's halts and kills are the risk engine's and the kill switch's events, alerted by the
common rules; what only a sniper logs:

======================  ===============================================  ==========
event                   alerts when                                      severity
======================  ===============================================  ==========
``sniper_rpc_error``    ``RPC_FAILURES`` of them within ``RPC_WINDOW_S``  critical
                        (once per burst: again only after a quiet window)
``sniper_decision``     rule ``max_notional_per_day`` (the risk spec's   warning
                        daily SOL budget; ``daily_budget`` in logs
                        before it): the first refusal of a UTC day
``sniper_reconciled``   a pending transaction's status unreadable        warning
======================  ===============================================  ==========
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from live.events import Event

__all__ = ["RPC_FAILURES", "RPC_WINDOW_S", "SniperAlertState", "sniper_alerts"]

RPC_FAILURES = 3
RPC_WINDOW_S = 60.0
_DAY_MS = 86_400_000
_BUDGET_RULES = ("max_notional_per_day", "daily_budget")  # the latter: logs before the rule


@dataclass
class SniperAlertState:
    """What the sniper rules remember between events of one run."""

    rpc_failures: deque[int] = field(default_factory=deque)  # ts_ms within the window
    rpc_alerted: bool = False
    budget_day: int | None = None  # UTC day of the last daily-budget alert


# (event, key, severity, title, lines) -> Alert: the common rules' builder, passed in so this
# module does not import them back.
Build = Callable[[Event, str, str, str, list[str]], Any]


def sniper_alerts(
    event: Event, state: SniperAlertState, p: dict[str, Any], build: Build
) -> list[Any]:
    """The alerts of one ``sniper_*`` event (``p``: its payload, redacted)."""
    kind = event.kind
    if kind == "sniper_rpc_error":
        return _rpc(event, state, p, build)
    if kind == "sniper_decision" and p.get("rule") in _BUDGET_RULES:
        day = event.ts_ms // _DAY_MS
        if state.budget_day == day:
            return []
        state.budget_day = day
        lines = ["Daily SOL budget reached: no more buys today (UTC).", f"{p.get('reason', '-')}"]
        spent, budget = p.get("spent_today_sol"), p.get("budget_sol")
        if isinstance(spent, int | float) and isinstance(budget, int | float):
            lines.append(
                f"Spent today: {spent:.6f} of {budget:g} SOL (risk.order.max_notional_per_day)"
            )
        return [build(event, "daily_budget", "warning", "Daily SOL budget reached", lines)]
    if kind == "sniper_reconciled" and p.get("pending"):
        lines = [f"Transaction {p['pending']} still unresolved: {p.get('error', '-')}"]
        return [build(event, "reconcile_pending", "warning", "Sniper reconcile pending", lines)]
    return []


def _rpc(event: Event, state: SniperAlertState, p: dict[str, Any], build: Build) -> list[Any]:
    window = state.rpc_failures
    while window and event.ts_ms - window[0] > RPC_WINDOW_S * 1000:
        window.popleft()
    if not window:
        state.rpc_alerted = False  # a quiet window ends the burst
    window.append(event.ts_ms)
    if state.rpc_alerted or len(window) < RPC_FAILURES:
        return []
    state.rpc_alerted = True
    lines = [
        f"{len(window)} RPC failures within {RPC_WINDOW_S:.0f} s: launches are rejected "
        "(fail closed) and exits may be held.",
        f"Last: {p.get('where', '?')}: {p.get('error', '-')}",
    ]
    return [build(event, "rpc_failures", "critical", "Repeated RPC failures", lines)]
