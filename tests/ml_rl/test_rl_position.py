"""A policy that observes its own position (its previous decision's level): the memory restarts
from flat at epoch-aligned anchor rows, so it stays an ordinary strategy — conforming (causal,
start-independent after its warm-up) and replayed by ``grekko-live`` fill for fill — and the
environment shows the agent exactly what the strategy will."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from grekko_research.config import compose_config
from grekko_research.data.bars import Bars
from grekko_research.data.store import ParquetStore
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.engine import EngineConfig, Fees
from grekko_research.ml.rl.env import TradingEnv
from grekko_research.ml.rl.features import ObservationSpec, anchor_rows
from grekko_research.ml.rl.policy import Policy
from grekko_research.ml.rl.strategy import policy_strategy
from grekko_research.strategy import check_strategy, register_strategy
from tests.peers.frames import real_bars
from tests.peers.replay_fills import assert_replay_matches_backtest

SPEC = ObservationSpec(lags=4, vol_window=12, trend_windows=(12, 48), vol_ratio_window=48,
                       position=True, anchor=12)  # fmt: skip


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> Bars:
    return real_bars(shared_data, ["BTC-USDT"], 1200)


def _policy(spec: ObservationSpec = SPEC, pull: float = 3.0) -> Policy:
    """Random market weights; with ``position``, a unit reading the held level (-1 flat, +1
    long) that votes ``pull`` for keeping it: switching takes a strong market push."""
    rng = np.random.default_rng(3)
    w0 = rng.normal(0, 1, (8, spec.size)).astype(np.float32)
    b0 = np.zeros(8, np.float32)
    w1 = rng.normal(0, 1, (2, 8)).astype(np.float32)
    w1[:, 0] = 0.0
    if spec.position:
        w0[:, -1] = 0.0
        w0[0, :], w0[0, -1], b0[0] = 0.0, 6.0, -3.0
        w1[:, 0] = (-pull, pull)
    return Policy(spec, (0.0, 1.0), ((w0, b0), (w1, np.zeros(2, np.float32))))


def test_position_policy_conforms_churns_less_and_replays(
    btc: Bars, research_store: Path, tmp_path: Path
) -> None:
    policy = _policy()
    assert policy.warmup() == SPEC.warmup() + SPEC.anchor
    ms = parse_timeframe(btc.timeframe).ms
    held = policy.targets(btc.close[:, 0], btc.index, ms)
    market = _policy(replace(SPEC, position=False)).targets(btc.close[:, 0])
    changes = [int(np.sum(np.diff(t[np.isfinite(t)]) != 0)) for t in (held, market)]
    assert changes[0] < changes[1] / 2, changes  # the position input holds it
    # A memory strong enough that two runs started apart stay apart until an anchor: without
    # the restarts (tried: the recursion run from the data's first row) the warm-up check
    # fails; with them the decisions are start-independent after warmup().
    for name, p in (("rl_position_test", policy), ("rl_position_sticky", _policy(pull=3.4))):
        cls = register_strategy(policy_strategy(name, p.save(tmp_path / name)))
        report = check_strategy(cls(), btc)  # causal, and start-independent after warmup()
        assert report.ok, str(report)
    cfg = compose_config(["strategy=rl_position_test", "data.start=2021-01-01",
                          "data.end=2021-01-15", "engine.taker_fee=0.001",
                          f"live.state_dir={tmp_path / 'live'}"])  # fmt: skip
    assert_replay_matches_backtest(cfg, ParquetStore(research_store), 4)


def test_the_env_observes_the_held_level_flat_at_anchors(btc: Bars) -> None:
    env = TradingEnv(btc, EngineConfig(fees=Fees(taker=0.001)), obs=SPEC, episode_bars=120)
    check_env(env, skip_render_check=True)
    assert env.observation_space.shape == (SPEC.size,)
    obs, info = env.reset(options={"start": 200})
    assert obs[-1] == 0.0
    anchors = anchor_rows(btc.index, parse_timeframe(btc.timeframe).ms, SPEC.anchor)
    rng = np.random.default_rng(0)
    for _ in range(100):
        a = int(rng.integers(0, 2))
        obs, _, _, _, info = env.step(a)
        assert obs[-1] == (0.0 if anchors[info["bar"]] else env.levels[a])
