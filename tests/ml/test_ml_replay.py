"""Parity: the walk-forward LightGBM and the online model replayed through the live runner and
the paper venue give exactly the orders of ``grekko backtest`` (the live runner refits on its
rolling window with the same code; the online model replays the same per-bar updates)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.strategy import register_strategy
from strategies.ml_lgbm import MlLgbm
from strategies.ml_online import MlOnline
from tests.peers.replay_fills import assert_replay_matches_backtest

CASES = {
    "ml_lgbm": ["strategy.params.train=300", "strategy.params.step=48",
                "strategy.params.horizon=6", "strategy.params.n_estimators=20"],
    "ml_online": ["strategy.params.train=300", "strategy.params.cadence=100"],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(CASES))
def test_model_replay_matches_backtest(research_store: Path, tmp_path: Path, name: str) -> None:
    for cls in (MlLgbm, MlOnline):
        register_strategy(cls)  # installed metadata may predate their entry points
    cfg = compose_config(
        [
            f"strategy={name}",
            "data.start=2021-01-01",
            "data.end=2021-02-05",
            *CASES[name],
            "engine.taker_fee=0.001",
            f"live.state_dir={tmp_path}",
        ]
    )
    assert_replay_matches_backtest(cfg, ParquetStore(research_store), 4)
