"""PPO trained through the environment, exported, judged out of sample, traded as a strategy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from grekko_research.config import compose_config
from grekko_research.data.bars import Bars
from grekko_research.data.store import ParquetStore
from grekko_research.engine import EngineConfig, Fees
from grekko_research.errors import ConfigError, DataError
from grekko_research.ml.rl.policy import load_policy
from grekko_research.ml.rl.strategy import policy_strategy
from grekko_research.ml.rl.train import TrainSpec, evaluate_oos, train_ppo
from grekko_research.strategy import check_strategy, register_strategy
from strategies.rl_ppo import RlPpo
from tests.peers.frames import real_bars
from tests.peers.replay_fills import assert_replay_matches_backtest

CONFIG = EngineConfig(fees=Fees(taker=0.001))


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> Bars:
    return real_bars(shared_data, ["BTC-USDT"], 1200)


@pytest.fixture(scope="module")
def trained(btc: Bars, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PPO agent trained for 1024 steps on the first 900 bars, exported to a folder."""
    spec = TrainSpec(timesteps=1024, episode_bars=256, n_steps=256, n_epochs=2, seed=7)
    policy = train_ppo(btc[:900], CONFIG, spec)  # from_sb3 checks numpy == SB3's predict
    return policy.save(tmp_path_factory.mktemp("policy") / "btc_small")


def test_exported_policy_round_trips_and_refuses_tampering(
    trained: Path, btc: Bars, tmp_path: Path
) -> None:
    policy = load_policy(trained)
    card = json.loads((trained / "policy.json").read_text())
    assert card["meta"]["timesteps"] == 1024 and card["meta"]["train_last_ms"] == btc.index[899]
    targets = policy.targets(btc.close[:, 0])
    assert np.isnan(targets[: policy.warmup()]).all()
    assert set(np.unique(targets[policy.warmup() :])) <= {0.0, 1.0}
    assert np.array_equal(load_policy(policy.save(tmp_path / "copy")).targets(btc.close[:, 0]),
                          targets, equal_nan=True)  # fmt: skip
    blob = bytearray((trained / "policy.npz").read_bytes())
    blob[-20] ^= 0xFF
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "policy.npz").write_bytes(bytes(blob))
    (bad / "policy.json").write_text((trained / "policy.json").read_text())
    with pytest.raises(DataError, match="checksum"):
        load_policy(bad)
    with pytest.raises(DataError, match="missing"):
        load_policy(tmp_path / "nowhere")


def test_out_of_sample_evaluation_against_baselines(trained: Path, btc: Bars) -> None:
    policy = load_policy(trained)
    test = btc[900 - policy.warmup() - 1 :]
    start = policy.warmup() + 1
    stats = evaluate_oos(test, CONFIG, start, policy=policy)
    assert set(stats) == {"ppo", "buy_and_hold", "sma_cross"}
    hold = stats["buy_and_hold"]
    # one entry at the first OOS open, marked at the last close, taker fee paid once
    close = test.close[:, 0]
    expected = close[-1] / test.open[start + 1, 0] / (1 + 0.001) - 1
    assert hold["return"] == pytest.approx(expected, rel=1e-3)
    assert hold["trades"] == 1
    for s in stats.values():
        assert all(np.isfinite(v) for v in s.values())
    with pytest.raises(ConfigError):
        evaluate_oos(test, CONFIG, 0, policy=policy)


def test_a_trained_policy_is_a_conforming_strategy(trained: Path, btc: Bars) -> None:
    cls = register_strategy(policy_strategy("rl_test_small", trained))
    report = check_strategy(cls(), btc[900:])
    assert report.ok, str(report)


def test_shipped_policy_conforms(btc: Bars) -> None:
    report = check_strategy(RlPpo(), btc)
    assert report.ok, str(report)


def test_rl_ppo_replay_matches_backtest(research_store: Path, tmp_path: Path) -> None:
    """``grekko backtest strategy=rl_ppo`` and its ``grekko-live`` replay fill alike."""
    register_strategy(RlPpo)  # installed metadata may predate its entry point
    cfg = compose_config(
        [
            "strategy=rl_ppo",
            "data.start=2021-05-20",  # after the shipped policy's training window
            "data.end=2021-06-10",  # its warm-up (337 bars, the position's memory) and a week
            "engine.taker_fee=0.001",
            "engine.slippage=bps",
            "engine.slippage_value=5",
            f"live.state_dir={tmp_path}",
        ]
    )
    assert_replay_matches_backtest(cfg, ParquetStore(research_store), 10)
