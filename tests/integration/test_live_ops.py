"""The runner feeds the risk engine's operational checks from the venue's health, through the
real ccxt client against the local simulator: a silenced user-data stream halts new orders
(``ws_down``) and trading resumes by itself once the adapter has reconnected (a ``ws_reconnect``
event, the API's reconnect counter); a venue clock far from ours halts on ``clock_skew``.
Neither engages the kill switch: those holds lift when their condition clears."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from grekko_research.engine import EngineConfig
from grekko_research.risk.spec import (
    DrawdownBreaker,
    OpsRisk,
    PortfolioRisk,
    RiskSpec,
)
from grekko_research.strategy import get_strategy
from live.events import Event, EventStore
from live.risk import TradingState
from live.runner import Runner, RunnerSpec
from live.sim import Simulator
from live.venues import CcxtVenue
from tests.integration.test_venue_health import FAST_WS, run

pytestmark = pytest.mark.timeout(120)


def _runner(venue: CcxtVenue, path: Path, risk: RiskSpec) -> tuple[Runner, EventStore]:
    strategy = get_strategy("sma_cross")
    params = strategy.params({"fast": 3, "slow": 8})
    spec = RunnerSpec(
        "ops", strategy, params, strategy.configure(EngineConfig(), params), ("BTC/USDT",), "1h",
        risk=risk, ops_every_s=0.05, tick_every_s=0.2, kill_file=None,
    )  # fmt: skip
    store = EventStore.open(path)
    return Runner(spec, venue, store), store


async def _until(store: EventStore, found: Callable[[list[Event]], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not found(list(store.read())):
        assert time.monotonic() < deadline, [(e.kind, e.payload) for e in store.read()][-12:]
        await asyncio.sleep(0.05)


def _states(events: list[Event]) -> list[tuple[str, Any]]:
    return [
        (e.payload.get("state"), e.payload.get("reason"))
        for e in events
        if e.kind == "risk_state" and e.stream == "risk"
    ]


def test_a_lost_stream_halts_and_its_return_resumes(
    btc: pd.DataFrame, eth: pd.DataFrame, tmp_path: Path
) -> None:
    risk = RiskSpec(ops=OpsRisk(max_ws_down_s=0.3, action="halt"))

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        runner, store = _runner(venue, tmp_path / "events.db", risk)
        task = asyncio.create_task(runner.run())
        try:
            await sim.wait_subscribed()
            await asyncio.sleep(0.3)
            assert runner.risk.state is TradingState.ACTIVE
            sim.set_fault("ws_silent_drop", seconds=2.0, path="/ws-api")
            await _until(store, lambda ev: any(s == "HALTED" for s, _ in _states(ev)), 10)
            assert "ws_down" in str(runner.risk.reason) or "websocket" in str(runner.risk.reason)
            await _until(store, lambda ev: any(e.kind == "ws_reconnect" for e in ev), 20)
            await _until(store, lambda ev: _states(ev)[-1][0] == "ACTIVE", 10)
            events = list(store.read())
            assert not [e for e in events if e.kind == "kill_switch"]
            reconnects = [e.payload for e in events if e.kind == "ws_reconnect"]
            assert sum(r["count"] for r in reconnects) == reconnects[-1]["total"] >= 1
            breach = [e.payload for e in events if e.kind == "risk_breach"]
            assert any(b.get("rule") == "ws_down" for b in breach), breach
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            store.close()

    run(btc, eth, scenario, venue_kwargs=FAST_WS)


def test_a_skewed_venue_clock_halts_without_the_kill_switch(
    btc: pd.DataFrame, eth: pd.DataFrame, tmp_path: Path
) -> None:
    risk = RiskSpec(ops=OpsRisk(max_clock_skew_ms=1000.0, action="halt"))

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        runner, store = _runner(venue, tmp_path / "events.db", risk)
        await runner.start()
        try:
            assert await runner.check_ops() is True
            assert runner.risk.state is TradingState.HALTED
            assert "clock_skew" in runner.risk.reason
            events = list(store.read())
            assert _states(events)[-1][0] == "HALTED"
            assert not runner.killed  # a level hold: it lifts when the clocks agree again
        finally:
            store.close()

    run(btc, eth, scenario, market_time=True)


def test_a_replay_is_not_watched(research_store: Path, tmp_path: Path) -> None:
    """On replayed bars the clock is the data's: no operational checks, no ticks."""
    from dataclasses import replace

    from grekko_research.config import compose_config
    from grekko_research.data.store import ParquetStore
    from live.app import plan_run, run_plan

    cfg = compose_config(
        ["data.start=2021-01-04", "data.end=2021-01-06", f"live.state_dir={tmp_path}",
         "risk.ops.max_data_age_s=1", "risk.ops.max_clock_skew_ms=1"]
    )  # fmt: skip
    plan = plan_run(cfg, replay=True)
    plan = replace(plan, spec=replace(plan.spec, ops_every_s=0.0))
    summary = run_plan(plan, store=ParquetStore(research_store))
    assert summary.halted is None and summary.bars == 48
    with EventStore.open(plan.events) as log:
        assert not [e for e in log.read() if e.kind.startswith("risk_") and e.stream == "risk"
                    and e.kind != "risk_decision"]  # fmt: skip


def test_a_drop_between_bars_trips_the_drawdown_breaker(
    btc: pd.DataFrame, eth: pd.DataFrame, tmp_path: Path
) -> None:
    """A position bought at bar 10's close; the venue's price then falls (the simulator's clock
    moves on, no bar is closed): the tick marks the account at the live price, the drawdown
    breaker halts, and being a hold only ``resume`` lifts, it engages the kill switch."""
    import numpy as np

    close10 = float(btc.close[10])
    drops = [(j, 1 - float(btc.open[j]) / close10) for j in range(12, len(btc))]
    j, drop = max(drops, key=lambda x: x[1])
    assert drop > 0.01, "the data must fall somewhere after bar 10"
    risk = RiskSpec(
        portfolio=PortfolioRisk(drawdown=DrawdownBreaker(limit=drop / 2, action="halt"))
    )

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        runner, store = _runner(venue, tmp_path / "events.db", risk)
        await runner.start()
        try:
            ts10 = int(bars.timestamp[10])
            ohlcv = np.array([[bars[c][10]] for c in ("open", "high", "low", "close", "volume")])
            runner.window.push(ts10, ohlcv.astype(float), np.zeros(1, dtype=bool))
            runner.book = runner._new_book(ts10)
            runner.book.fill(0, 0.9 * 10_000 / close10, close10)
            runner.book.close_bar(ohlcv[1], ohlcv[2], ohlcv[3], np.zeros(1, dtype=bool))
            runner.risk.on_bar(runner._portfolio_view(), runner._market_view(), now_ms=ts10)
            assert await runner.check_ops() and not runner.killed  # no move yet
            sim.advance_to(int(bars.timestamp[j]))
            runner._last_tick = 0.0
            assert await runner.check_ops()
            assert runner.killed
            events = list(store.read())
            breach = [e.payload for e in events if e.kind == "risk_breach"]
            assert [b["rule"] for b in breach] == ["drawdown"]
            assert breach[0]["value"] == pytest.approx(0.9 * drop, rel=0.05)
            kill = [e.payload for e in events if e.kind == "kill_switch"]
            assert kill and kill[0]["source"] == "breaker"
        finally:
            store.close()

    run(btc, eth, scenario)
