"""The live risk engine inside the runner: its verdicts decide what is sent, they are in the
log, and a check that raises halts trading (fail closed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from live.app import plan_run, run_plan
from live.events import EventStore

BASE = ["data.start=2021-01-04", "data.end=2021-01-25", "strategy=sma_cross",
        "strategy.params.fast=5", "strategy.params.slow=20"]  # fmt: skip


def _run(research_store: Path, tmp_path: Path, *extra: str) -> list:
    plan = plan_run(compose_config([*BASE, f"live.state_dir={tmp_path}", *extra]), replay=True)
    run_plan(plan, store=ParquetStore(research_store))
    with EventStore.open(plan.events) as log:
        return list(log.read())


def test_order_rate_limit_refuses_and_records(research_store: Path, tmp_path: Path) -> None:
    free = _run(research_store, tmp_path / "free")
    capped = _run(research_store, tmp_path / "capped", "risk.order.max_orders=3",
                  "risk.order.order_window_s=100000000")  # fmt: skip
    n_free = sum(e.kind == "order_created" for e in free)
    n_capped = sum(e.kind == "order_created" for e in capped)
    assert n_free > 6 and n_capped == 3
    rejects = [e for e in capped if e.kind == "risk_decision" and e.payload["action"] == "reject"]
    assert rejects and all(e.payload["rule"] == "order_rate" for e in rejects)
    refused = [r for e in capped if e.kind == "decision" for r in e.payload["refused"]]
    assert {r["rule"] for r in refused} == {"order_rate"}


def test_a_check_that_raises_halts_trading(
    research_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import grekko_research.risk.checks as checks

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    for name in dir(checks):
        if name.startswith("check_max_notional"):
            monkeypatch.setattr(checks, name, broken)
    events = _run(research_store, tmp_path, "risk.order.max_notional=1000000")
    states = [e.payload for e in events if e.kind == "risk_state"]
    assert states and states[0]["state"] == "HALTED" and "boom" in states[0]["reason"]
    assert sum(e.kind == "order_created" for e in events) == 0
    kills = [e.payload for e in events if e.kind == "kill_switch"]
    assert kills and kills[0]["source"] == "breaker" and "boom" in kills[0]["reason"]
