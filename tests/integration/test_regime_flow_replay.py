"""Parity: ``regime_flow`` (regime + order-flow features computed from bars) replayed through
the live runner and the paper venue gives exactly the orders of ``grekko backtest``."""

from __future__ import annotations

from pathlib import Path

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.runs import run_backtest
from grekko_research.strategy import register_strategy
from live.app import plan_run, run_plan
from live.events import EventStore
from strategies.regime_flow import RegimeFlow
from tests.peers.replay_fills import backtest_fills, live_fills


def test_regime_flow_replay_matches_backtest(research_store: Path, tmp_path: Path) -> None:
    register_strategy(RegimeFlow)  # installed metadata may predate its entry point
    cfg = compose_config(
        [
            "strategy=regime_flow",
            "data.start=2021-01-04",
            "data.end=2021-01-18",  # two weeks of hourly bars, a shorter regime history
            "strategy.params.lookback=100",
            "strategy.params.vol_window=12",
            "strategy.params.sigma_window=30",
            "strategy.params.entry=0.2",
            "engine.taker_fee=0.001",
            "engine.slippage=bps",
            "engine.slippage_value=5",
            f"live.state_dir={tmp_path}",
        ]
    )
    store = ParquetStore(research_store)
    backtest = run_backtest(cfg, store=store)
    expected = backtest_fills(backtest)
    assert len(expected) >= 4, "the case must trade to prove anything"
    plan = plan_run(cfg, replay=True)
    summary = run_plan(plan, store=store)
    assert summary.halted is None
    with EventStore.open(plan.events) as log:
        log.verify().raise_if_broken()
        assert live_fills(list(log.read())) == expected
