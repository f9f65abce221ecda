"""Parity: ``regime_flow`` (regime + order-flow features computed from bars) replayed through
the live runner and the paper venue gives exactly the orders of ``grekko backtest``."""

from __future__ import annotations

from pathlib import Path

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.strategy import register_strategy
from strategies.regime_flow import RegimeFlow
from tests.peers.replay_fills import assert_replay_matches_backtest


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
    assert_replay_matches_backtest(cfg, ParquetStore(research_store), 4)
