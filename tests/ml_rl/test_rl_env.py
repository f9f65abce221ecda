"""The RL environment steps the engine's own book: same fills, fees, stops and rules."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from grekko_research.data.bars import Bars
from grekko_research.engine import (
    EngineConfig,
    Fees,
    MarketRules,
    Slippage,
    Stops,
    TargetPositions,
    backtest,
)
from grekko_research.engine.layout import ORDER_FIELDS
from grekko_research.errors import ConfigError
from grekko_research.ml.rl.env import TradingEnv
from grekko_research.ml.rl.features import ObservationSpec, observations
from grekko_research.ml.rl.rewards import DiffSharpe, DrawdownPenalised, LogReturn, make_reward
from grekko_research.risk import RiskLimits
from tests.peers.frames import real_bars

_O = {name: i for i, name in enumerate(ORDER_FIELDS)}


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> Bars:
    return real_bars(shared_data, ["BTC-USDT"], 900)


def _episode(env: TradingEnv, seed: int) -> tuple[int, list[int]]:
    """Play one whole episode with sticky random actions; return its first bar and actions."""
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    actions: list[int] = []
    done = False
    while not done:
        sticky = actions and rng.random() > 0.08
        a = actions[-1] if sticky else int(rng.integers(0, env.action_space.n))
        actions.append(a)
        _, _, term, trunc, _ = env.step(a)
        done = term or trunc
    return int(info["bar"]), actions


CONFIGS = {
    "fees, slippage, lot, min notional": EngineConfig(
        fees=Fees(taker=0.001, fixed=0.5),
        slippage=Slippage(kind="bps", value=5),
        market=MarketRules(lot_size=0.0001, min_notional=10),
    ),
    "stop-loss, take-profit, trailing": EngineConfig(
        fees=Fees(taker=0.001),
        slippage=Slippage(kind="range", value=0.1),
        stops=Stops(stop_loss=0.015, take_profit=0.03, trailing=0.02),
    ),
    "shorts, ATR stops, drawdown halt": EngineConfig(
        fees=Fees(taker=0.00075),
        allow_short=True,
        stops=Stops(stop_loss=2.0, stop_loss_kind="atr"),
        risk=RiskLimits(max_drawdown=0.08),
    ),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_an_episode_books_the_backtests_fills(btc: Bars, name: str) -> None:
    config = CONFIGS[name]
    env = TradingEnv(btc, config)
    start, actions = _episode(env, seed=3)
    target = np.full((btc.n_bars - start, 1), np.nan)
    target[: len(actions), 0] = [env.levels[a] for a in actions]
    result = backtest(btc[start:], TargetPositions(target, kind="percent"), config)
    o = result.order_records
    o = o[o[:, _O["status"]] == 0]
    expected = [
        (int(r[_O["bar"]]) + start, float(r[_O["side"]] * r[_O["size"]]), float(r[_O["price"]]))
        for r in o
        if int(r[_O["bar"]]) <= len(actions)  # a halt ends the episode: bars after it unplayed
    ]
    got = [(u, size, price) for u, size, price, _ in env.fills]
    assert len(expected) >= 20, "the case must trade to prove anything"
    assert got == expected
    assert env.book is not None and env.book.equity == result.equity[len(actions)]
    if config.risk.portfolio.drawdown.flatten_at is not None:
        assert env.book.halted and len(actions) < btc.n_bars - start - 1  # the halt ended it
    if config.stops.stop_loss is not None:
        assert any(kind in ("stop_loss", "trailing_stop", "take_profit") for *_, kind in env.fills)


def test_the_comparison_is_sharp(btc: Bars) -> None:
    """Charging a different fee in the backtest is seen: the env's costs are the engine's."""
    env = TradingEnv(btc, EngineConfig(fees=Fees(taker=0.001)))
    start, actions = _episode(env, seed=5)
    target = np.full((btc.n_bars - start, 1), np.nan)
    target[: len(actions), 0] = [env.levels[a] for a in actions]
    other = backtest(btc[start:], TargetPositions(target, kind="percent"),
                     EngineConfig(fees=Fees(taker=0.0011)))  # fmt: skip
    assert env.book is not None and env.book.equity != other.equity[len(actions)]


def test_gymnasium_env_checker_passes(btc: Bars) -> None:
    env = TradingEnv(btc, EngineConfig(fees=Fees(taker=0.001)), episode_bars=100)
    check_env(env, skip_render_check=True)
    short = TradingEnv(btc, EngineConfig(allow_short=True), episode_bars=50, reward="diff_sharpe")
    check_env(short, skip_render_check=True)
    assert short.action_space.n == 3


def test_seeded_episodes_are_reproducible(btc: Bars) -> None:
    env = TradingEnv(btc, EngineConfig(), episode_bars=64)
    a, _ = env.reset(seed=11)
    b, _ = env.reset(seed=11)
    assert np.array_equal(a, b)
    starts = {env.reset(seed=s)[1]["bar"] for s in range(8)}
    assert len(starts) > 1  # episodes start at random bars


def test_episode_reward_is_the_log_growth_net_of_costs(btc: Bars) -> None:
    env = TradingEnv(btc, EngineConfig(fees=Fees(taker=0.002)), episode_bars=300)
    _, info = env.reset(seed=1)
    total, done, t = 0.0, False, 0
    while not done:
        _, r, term, trunc, info = env.step(t // 40 % 2)  # in and out every 40 bars
        total += r
        done, t = term or trunc, t + 1
    assert len(env.fills) >= 6
    assert math.isclose(total, math.log(info["equity"] / 10_000.0), rel_tol=1e-9)


def test_bad_setups_are_refused(btc: Bars, shared_data: Path) -> None:
    with pytest.raises(ConfigError, match="one symbol"):
        TradingEnv(real_bars(shared_data, ["BTC-USDT", "ETH-USDT"], 400))
    with pytest.raises(ConfigError, match="allow_short"):
        TradingEnv(btc, EngineConfig(), levels=(-1.0, 0.0, 1.0))
    with pytest.raises(ConfigError, match="breakers"):
        TradingEnv(btc, EngineConfig(risk=RiskLimits(daily_loss=0.05)))
    with pytest.raises(ConfigError, match="next_open"):
        TradingEnv(btc, EngineConfig(execution="close"))
    with pytest.raises(ConfigError, match="reward must be"):
        TradingEnv(btc, reward="sortino")


def test_observations_depend_on_their_window_only(btc: Bars) -> None:
    spec = ObservationSpec()
    full = observations(btc.close[:, 0], spec)
    w = spec.warmup()
    assert np.isnan(full[:w]).all() and np.isfinite(full[w:]).all()
    for t in (w, 400, btc.n_bars - 1):
        window = observations(btc.close[t - w : t + 1, 0], spec)
        assert np.array_equal(window[-1], full[t])  # bit-identical: live windows decide alike
    poked = btc.close[:, 0].copy()
    poked[500] *= 1.05
    assert np.array_equal(observations(poked, spec)[:500], full[:500], equal_nan=True)


def test_rewards_by_hand() -> None:
    lr = LogReturn()
    lr.reset(100.0)
    assert lr.step(110.0) == pytest.approx(math.log(1.1))
    dd = DrawdownPenalised(penalty=2.0)
    dd.reset(100.0)
    assert dd.step(120.0) == pytest.approx(math.log(1.2))
    assert dd.step(108.0) == pytest.approx(math.log(0.9) - 2.0 * 0.1)  # 10 % below the peak
    assert dd.step(114.0) == pytest.approx(math.log(114 / 108))  # recovering costs nothing
    ds = DiffSharpe(eta=0.1)
    ds.reset(100.0)
    first = [ds.step(e) for e in (101.0, 102.0, 101.5, 103.0)]
    assert first[0] == 0.0  # no variance known yet
    assert first[3] > 0 > first[2]  # a gain raises the running Sharpe, a loss lowers it
    with pytest.raises(ConfigError):
        make_reward("diff_sharpe", eta=1.5)
    with pytest.raises(ConfigError, match="bad options"):
        make_reward("log_return", eta=0.1)
