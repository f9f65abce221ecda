"""Hedge / regime-conditioned ensembles: the weights by hand, the strategy, replay parity."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from grekko_research.config import compose_config
from grekko_research.data.bars import Bars
from grekko_research.data.store import ParquetStore
from grekko_research.engine import Signals, TargetPositions
from grekko_research.errors import ConfigError
from grekko_research.ml.ensemble import bar_gains, hedge_weights, member_exposure, regime_labels
from grekko_research.ml.ensemble_strategy import EnsembleStrategy
from grekko_research.strategy import Strategy, check_strategy, param, register_strategy
from strategies.ensemble_hedge import EnsembleHedge
from tests.peers.frames import real_bars
from tests.peers.replay_fills import assert_replay_matches_backtest


def test_hedge_weights_by_hand() -> None:
    gains = np.array([[0.0, 0.0], [0.01, -0.01], [0.02, 0.0], [-0.01, 0.01]])
    w = hedge_weights(gains, eta=10.0, window=2)
    # bar 2: sums over bars 1..2 are 0.03 and -0.01; bar 3: over bars 2..3, 0.01 and 0.01
    e = math.exp(10 * 0.04)
    assert w[2] == pytest.approx([e / (e + 1), 1 / (e + 1)])
    assert w[3] == pytest.approx([0.5, 0.5])
    assert np.allclose(w.sum(axis=1), 1.0)
    assert np.allclose(hedge_weights(gains, eta=0.0, window=3), 0.5)  # eta 0: equal weights
    sel = hedge_weights(gains, eta=1.0, window=2, select=True)
    assert sel[2].tolist() == [1.0, 0.0]


def test_regime_conditioning_counts_only_the_current_regime() -> None:
    gains = np.array([[0, 0], [0.05, -0.05], [-0.01, 0.01], [0.0, 0.0]], dtype=float)
    regimes = np.array([0, 1, 0, 1])
    w = hedge_weights(gains, eta=10.0, window=10, regimes=regimes, select=True)
    # bar 3 is in regime 1: the only gain decided in regime 1 is bar 2's (decided at bar 1)
    assert w[3].tolist() == [0.0, 1.0]
    # bar 2 is in regime 0: bars 1 and 3 were decided in regime 0 (bar 3 is not known yet)
    assert w[2].tolist() == [1.0, 0.0]
    with pytest.raises(ConfigError, match="eta"):
        hedge_weights(gains, eta=-1.0, window=3)


def test_member_exposure_replays_signals_within_the_hold_window() -> None:
    n = 8
    entries = np.zeros((n, 1), bool)
    exits = np.zeros((n, 1), bool)
    shorts = np.zeros((n, 1), bool)
    entries[1] = True
    shorts[4] = True  # reverses the long
    entries[6] = exits[6] = True  # a conflict: nothing
    e = member_exposure(Signals(entries, exits, shorts, None), n, 1, hold=3)
    assert e[:, 0].tolist() == [0, 1, 1, 1, -1, -1, -1, 0]  # the entry leaves the window at 4
    t = np.full((n, 1), np.nan)
    t[2] = 0.5
    t[5] = 2.0
    e2 = member_exposure(TargetPositions(t, kind="percent"), n, 1, hold=2)
    assert e2[:, 0].tolist() == [0, 0, 0.5, 0.5, 0, 1.0, 1.0, 0]  # clipped to 1
    with pytest.raises(ConfigError, match="percent"):
        member_exposure(TargetPositions(t, kind="units"), n, 1, hold=2)


def test_bar_gains_by_hand() -> None:
    close = np.array([[100.0], [110.0], [99.0], [99.0]])
    exposure = np.array([[1.0], [1.0], [0.0], [0.0]])
    g = bar_gains(exposure, close, cost=0.01)
    # bar 1: held 1 (decided at 0): +10 %; bar 2: held 1: -10 %; bar 3: held 0, pays the exit
    assert g.tolist() == pytest.approx([0.0, 0.10, -0.10, -0.01])


def test_regime_labels_are_causal(shared_data: Path) -> None:
    bars = real_bars(shared_data, ["BTC-USDT"], 800)
    full = regime_labels(bars.close, 96, 24)
    assert (full[:96] == -1).all() and set(full[200:]) <= {0, 1, 2, 3} and len(set(full)) > 2
    cut = regime_labels(bars.close[:500], 96, 24)
    assert np.array_equal(cut, full[:500])


@dataclass(frozen=True)
class _NoParams:
    scale: float = param(1.0, low=0.5, high=1.0)


class _AlwaysLong(Strategy):
    name = "test_always_long"
    Params = _NoParams

    def warmup(self, params: _NoParams) -> int:
        return 1

    def signals(self, bars: Bars, params: _NoParams) -> TargetPositions:
        return TargetPositions(np.ones((bars.n_bars, bars.n_assets)), kind="percent")


class _AlwaysFlat(_AlwaysLong):
    name = "test_always_flat"

    def signals(self, bars: Bars, params: _NoParams) -> TargetPositions:
        return TargetPositions(np.zeros((bars.n_bars, bars.n_assets)), kind="percent")


class _Pair(EnsembleStrategy):
    name = "test_pair_ensemble"
    members = (("test_always_long", {}), ("test_always_flat", {}))


def test_hedge_follows_the_better_member(shared_data: Path) -> None:
    register_strategy(_AlwaysLong)
    register_strategy(_AlwaysFlat)
    bars = real_bars(shared_data, ["BTC-USDT"], 1500)
    s = _Pair()
    p = s.params(eta=100.0, window=168, hold=10, grid=0.0)
    w = s.weights(bars, p)
    warm = s.warmup(p)
    assert w.iloc[:warm].isna().all().all() and np.allclose(w.iloc[warm:].sum(axis=1), 1.0)
    # the flat member gains 0; the long one the market's returns over the last 168 bars
    ret = np.zeros(bars.n_bars)
    ret[1:] = bars.close[1:, 0] / bars.close[:-1, 0] - 1
    window_sum = np.array([ret[t - 167 : t + 1].sum() for t in range(warm, bars.n_bars)])
    long_w = w["test_always_long"].to_numpy()[warm:]
    assert long_w == pytest.approx(1 / (1 + np.exp(-100.0 * window_sum)), rel=1e-9)
    assert long_w.min() < 0.1 and long_w.max() > 0.9  # it moves with the market
    target = s.signals(bars, p).target[:, 0]
    assert np.allclose(target[warm:], long_w)  # the target is the weighted exposure


def test_ensemble_conforms_in_every_mode(shared_data: Path) -> None:
    bars = real_bars(shared_data, ["BTC-USDT"], 1500)
    s = EnsembleHedge()
    for mode in ("hedge", "regime", "select"):
        report = check_strategy(s, bars, params=s.params(mode=mode), cuts=4)
        assert report.ok, str(report)


def test_ensemble_replay_matches_backtest(research_store: Path, tmp_path: Path) -> None:
    """``grekko backtest strategy=ensemble_hedge`` and its ``grekko-live`` replay fill alike."""
    register_strategy(EnsembleHedge)  # installed metadata may predate its entry point
    cfg = compose_config(
        [
            "strategy=ensemble_hedge",
            "strategy.params.mode=regime",
            "strategy.params.hold=60",  # short windows: a short replay (warm-up 160 bars)
            "strategy.params.window=48",
            "strategy.params.trend_window=48",
            "strategy.params.vol_window=12",
            "data.start=2021-01-01",
            "data.end=2021-01-21",
            "engine.taker_fee=0.001",
            f"live.state_dir={tmp_path}",
        ]
    )
    assert_replay_matches_backtest(cfg, ParquetStore(research_store), 10)
