"""The sniper's alert rules (live/alerts/_sniper.py through ``alerts_for``): pure, on events
shaped as the sniper logs them."""

from __future__ import annotations

from typing import Any

from live.alerts import AlertContext, alerts_for
from live.events import Event
from live.secrets import Redactor

DAY = 86_400_000
T0 = 1_733_400_000_000


def _event(seq: int, ts_ms: int, kind: str, payload: dict[str, Any]) -> Event:
    return Event(seq, ts_ms, kind, "m", payload, "0" * 64, "0" * 64)


def test_repeated_rpc_failures_alert_once_per_burst() -> None:
    ctx = AlertContext(redactor=Redactor())
    err = {"mint": "m", "where": "curve", "error": "RPCException: node behind"}
    fired = [
        len(alerts_for(_event(i, T0 + i * 10_000, "sniper_rpc_error", err), ctx))
        for i in range(1, 6)
    ]
    assert fired == [0, 0, 1, 0, 0]  # the third within 60 s alerts; the same burst not again
    # a lone failure after a quiet minute starts a new count
    assert alerts_for(_event(6, T0 + 200_000, "sniper_rpc_error", err), ctx) == []
    spread = AlertContext(redactor=Redactor())
    out = [
        alerts_for(_event(i, T0 + i * 61_000, "sniper_rpc_error", err), spread) for i in range(1, 5)
    ]
    assert not any(out)  # one a minute is not "repeated"


def test_daily_budget_alerts_on_the_first_refusal_of_each_day() -> None:
    # The budget is the risk spec's order.max_notional_per_day: its refusal, as the sniper
    # records it (the rule, the engine's reason, the day's spend and the budget).
    ctx = AlertContext(redactor=Redactor())
    refusal = {"mint": "m", "action": "reject", "rule": "max_notional_per_day",
               "reason": "max_notional_per_day of m: 0.55 (limit 0.5)", "budget_sol": 0.5,
               "spent_today_sol": 0.5}  # fmt: skip
    first = alerts_for(_event(1, T0, "sniper_decision", refusal), ctx)
    assert [(a.key, a.severity) for a in first] == [("daily_budget", "warning")]
    assert "Daily SOL budget reached" in first[0].title
    assert "Spent today: 0.500000 of 0.5 SOL" in first[0].body
    # a log written before the rule (the buyer's own check) still alerts
    old = {**refusal, "rule": "daily_budget"}
    assert (
        len(alerts_for(_event(9, T0, "sniper_decision", old), AlertContext(redactor=Redactor())))
        == 1
    )
    assert alerts_for(_event(2, T0 + 1000, "sniper_decision", refusal), ctx) == []
    assert len(alerts_for(_event(3, T0 + DAY, "sniper_decision", refusal), ctx)) == 1
    other = {**refusal, "rule": "safety"}
    assert alerts_for(_event(4, T0 + DAY, "sniper_decision", other), ctx) == []
