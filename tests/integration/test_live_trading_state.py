"""One trading state in a live run: the engine book's drawdown halt puts the run in REDUCING
(with its reason, logged and alerted), ``resume`` lifts it — the risk engine's holds and the
book's halt together — and new entries are accepted and filled again, in the running process
and across a restart. Before, the book's halt was never cleared: after a drawdown the run
refused new exposure for ever, whatever the operator did."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from live.app import make_plan_venue, plan_run, run_plan
from live.cli import app
from live.events import Event, EventStore
from live.orders import Ack, Intent, Rejected
from live.runner import Runner
from live.runner.spec import FLATTEN_SEQ

# A fast crossover trades every few hours; a 1 % drawdown limit is met within days.
BASE = ["strategy=sma_cross", "strategy.params.fast=2", "strategy.params.slow=5",
        "risk.portfolio.drawdown.flatten_at=0.01", "engine.taker_fee=0.001"]  # fmt: skip
FIRST = ["data.start=2021-01-04", "data.end=2021-01-12"]
LATER = ["data.start=2021-01-12", "data.end=2021-01-20"]


def _entries(events: list[Event], after_seq: int) -> tuple[list[str], list[str]]:
    """Client ids of the strategy's own orders created after ``after_seq`` (not a risk
    flatten), and those of them that filled."""
    created = [
        e.stream
        for e in events
        if e.seq > after_seq and e.kind == "order_created" and int(e.payload["seq"]) < FLATTEN_SEQ
    ]
    filled = {e.stream for e in events if e.kind == "order_fill"}
    return created, [c for c in created if c in filled]


def test_a_drawdown_halt_lifts_on_resume_in_the_running_process(
    research_store: Path, tmp_path: Path
) -> None:
    plan = plan_run(compose_config([*BASE, *FIRST, f"live.state_dir={tmp_path}"]), replay=True)
    resumed_at: list[int] = []
    halted_seen: list[int] = []

    class Operator(Runner):
        """Resumes the run twelve bars after the book's drawdown halt, as ``grekko-live
        resume`` (or the API's ``/resume``) does in a live process."""

        async def _on_bar(self, ts: int, ohlcv: np.ndarray, filled: np.ndarray) -> None:
            await super()._on_bar(ts, ohlcv, filled)
            if resumed_at or self.book is None or not self.book.halted:
                return
            halted_seen.append(ts)
            if len(halted_seen) == 12:
                resumed_at.append(ts)
                self.resume("drawdown reviewed by the operator")

    async def main() -> None:
        venue = make_plan_venue(plan, store=ParquetStore(research_store))
        with EventStore.open(plan.events) as log:
            try:
                await Operator(plan.spec, venue, log).run()
            finally:
                await venue.close()

    asyncio.run(main())
    assert resumed_at, "the drawdown limit was never met: pick a tighter one"
    with EventStore.open(plan.events) as log:
        events = list(log.read())
    at = next(e.seq for e in events if e.kind == "bar_closed" and e.payload["ts"] == resumed_at[0])
    # Entries are accepted and filled after the resume, not only planned.
    created, filled = _entries(events, at)
    assert created and filled == created, (created, filled)
    # The halt was one trading state: REDUCING with the book's reason (entries refused by
    # the book, the flatten let through), then ACTIVE again on resume.
    states = [e.payload for e in events if e.kind == "risk_state" and e.stream == "risk"]
    reducing = [s for s in states if s["state"] == "REDUCING"]
    assert reducing and "max_drawdown" in reducing[0]["reason"]
    after = [s for s in states if s["state"] == "ACTIVE" and "operator" in s["reason"]]
    assert after  # the resume's (a later drawdown may halt the run again: it is a new one)
    first = next(
        e.seq for e in events if e.kind == "risk_state" and e.payload["state"] == "REDUCING"
    )
    # While it held, the strategy's entries were not taken.
    wanted = [e for e in events if e.kind == "decision" and first < e.seq < at
              and any(x == 1.0 for x in (e.payload["signal"].get("entries") or [0.0]))]  # fmt: skip
    while_held = [c for c in _entries(events, first)[0] if c not in created]
    assert wanted and not while_held, (len(wanted), while_held)
    (resumed,) = [e.payload for e in events if e.kind == "resumed"]
    assert resumed["halt"] is not None and "max_drawdown" in resumed["halt"]


def test_a_drawdown_halt_lifts_on_grekko_live_resume_across_a_restart(
    research_store: Path, tmp_path: Path
) -> None:
    state = [f"live.state_dir={tmp_path}", "live.run_id=drawdown"]
    plan = plan_run(compose_config([*BASE, *FIRST, *state]), replay=True)
    run_plan(plan, store=ParquetStore(research_store))
    with EventStore.open(plan.events) as log:
        events = list(log.read())
    assert [e for e in events if e.kind == "risk_state" and e.payload["state"] == "REDUCING"]
    out = CliRunner().invoke(app, ["resume", "--events", str(plan.events), "--reason", "ok"])
    assert out.exit_code == 0 and "resumed (was reducing" in out.stdout, out.stdout
    with EventStore.open(plan.events) as log:
        head = log.head()
        assert head is not None
        at = head.seq
    later = plan_run(compose_config([*BASE, *LATER, *state]), replay=True)
    run_plan(later, store=ParquetStore(research_store))
    with EventStore.open(plan.events) as log:
        events = list(log.read())
    created, filled = _entries(events, at)
    assert created and filled == created, (created, filled)


def test_an_order_manager_anomaly_halts_the_run_until_resumed(
    research_store: Path, tmp_path: Path
) -> None:
    """An anomaly (here: the venue acknowledges an order it had rejected) halts the run in its
    one trading state — ``halted`` (alerted) and the risk engine's HALTED, with the reason —
    until a resume, which acknowledges it: entries are taken again."""
    plan = plan_run(
        compose_config(
            [*BASE, "risk.portfolio.drawdown.flatten_at=0.5", *FIRST, f"live.state_dir={tmp_path}"]
        ),
        replay=True,
    )
    marks: dict[str, int] = {}

    class Venue(Runner):
        """The venue contradicts itself at the 30th bar; the operator resumes at the 42nd."""

        async def _on_bar(self, ts: int, ohlcv: np.ndarray, filled: np.ndarray) -> None:
            await super()._on_bar(ts, ohlcv, filled)
            if self.summary.bars == 30:
                intent = Intent(self.spec.run_id, "BTC/USDT", "buy", "0.001", ts, seq=5_000)
                self._persist_om(self.om.create(intent, self.clock()))
                self._persist_om(self.om.mark_submitted(intent.client_id, self.clock()))
                self._apply_reports([Rejected(intent.client_id, "insufficient balance")])
                self._apply_reports([Ack(intent.client_id, "v-1")])  # the contradiction
                marks["anomaly"] = ts
                assert self.halted is not None and self.halted.startswith("order manager")
            elif self.summary.bars == 42:
                marks["resumed"] = ts
                self.resume("venue's answer investigated")

    async def main() -> None:
        venue = make_plan_venue(plan, store=ParquetStore(research_store))
        with EventStore.open(plan.events) as log:
            try:
                await Venue(plan.spec, venue, log).run()
            finally:
                await venue.close()

    asyncio.run(main())
    with EventStore.open(plan.events) as log:
        events = list(log.read())
    seq = {k: next(e.seq for e in events if e.kind == "bar_closed" and e.payload["ts"] == ts)
           for k, ts in marks.items()}  # fmt: skip
    (halted,) = [e for e in events if e.kind == "halted"]
    assert "ack_on_rejected" in halted.payload["reason"]
    assert seq["anomaly"] < halted.seq < seq["resumed"]
    states = [e.payload for e in events if e.kind == "risk_state" and e.stream == "risk"]
    assert [s["state"] for s in states][:2] == ["HALTED", "ACTIVE"]
    # Nothing created while halted (the strategy's decisions refused with the reason) ...
    created = [e.seq for e in events if e.kind == "order_created" and e.payload["seq"] < 5_000]
    assert not [s for s in created if halted.seq < s < seq["resumed"]]
    refused = [r["reason"] for e in events if e.kind == "decision"
               and halted.seq < e.seq < seq["resumed"] for r in e.payload["refused"]]  # fmt: skip
    assert refused and all(r.startswith("halted: order manager anomaly") for r in refused)
    # ... and entries again after the resume.
    after, filled = _entries(events, seq["resumed"])
    assert after and filled == after
