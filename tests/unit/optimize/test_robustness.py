"""Monte Carlo robustness: reproducible from the seed; one lucky trade fails the random-entry
gate while a real edge passes it; input perturbations re-run the engine."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from grekko_research.config import PromoteConfig
from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig
from grekko_research.errors import ConfigError
from grekko_research.optimize.robustness import (
    RobustnessSettings,
    Segment,
    random_entry_pvalue,
    robustness,
    trade_monte_carlo,
)
from grekko_research.promote import evaluate_gates
from grekko_research.strategy import get_strategy

HOLD = 15


def _placed(starts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    entry = np.sort(starts).astype(np.int64)
    return entry, entry + HOLD, np.ones(entry.size)


def _lucky() -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Noise with one +20% bar; 40 long trades of 15 bars, one of which holds that bar. The
    other 39 earn nothing (the noise on their bars sums to 0): the edge is that one trade."""
    rng = np.random.default_rng(7)
    r = rng.normal(0, 0.002, 2000)
    others = np.arange(40, 1960, 48)
    others = others[np.abs(others - 990) > 30][:39]  # evenly spread, none near bar 1000
    held = np.concatenate([np.arange(s + 1, s + HOLD + 1) for s in others])
    free = np.setdiff1d(np.arange(1, 2000), held)
    r[held] -= r[held].mean()  # no drift anywhere: the rule's other trades and the rest
    r[free] -= r[free].mean()
    r[0] = 0.0
    r[1000] = 0.2
    return r, _placed(np.append(others, 990))


def _timed() -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A cycle the rule rides: long on every rising half-period (the same exposure shape)."""
    rng = np.random.default_rng(8)
    t = np.arange(2000)
    r = np.diff(0.02 * np.sin(2 * np.pi * t / 60), prepend=0.0) + rng.normal(0, 0.002, 2000)
    r[0] = 0.0
    rising = np.arange(45, 1950, 60)  # sin rises from 3/4 of a period to 1/4 of the next
    return r, _placed(rising)


def test_one_lucky_trade_fails_the_random_entry_gate_and_a_real_edge_passes() -> None:
    gates = replace(PromoteConfig(), min_oos_sharpe=None, min_deflated_sharpe=None, max_pbo=None,
                    max_drawdown=None, min_trades=None, max_mc_drawdown=None,
                    require_parity=False)  # fmt: skip
    r, trades = _lucky()
    p, score, _, exposure = random_entry_pvalue([r], [trades], 2000, np.random.default_rng(0))
    assert score > 0.15 and 0.2 < exposure < 0.4
    assert p > 0.1  # random entries with its exposure catch the jump about as often
    (gate,) = evaluate_gates({"robustness": {"pvalue_random_entries": p}}, gates)
    assert gate.name == "random-entry p-value" and not gate.ok
    # the trade bootstrap says the same: the mean trade rests on one trade
    rets = np.full(40, 0.0)
    rets[:39] = np.random.default_rng(1).normal(0, 0.002, 39)
    rets[39] = 0.2
    mc = trade_monte_carlo(rets, 2000, np.random.default_rng(0))
    assert mc.summary["pvalue_mean_trade"] > 0.05

    r, trades = _timed()
    p, score, _, _ = random_entry_pvalue([r], [trades], 2000, np.random.default_rng(0))
    assert p < 0.01 and score > 0.5
    (gate,) = evaluate_gates({"robustness": {"pvalue_random_entries": p}}, gates)
    assert gate.ok


def test_random_placements_keep_the_exposure() -> None:
    """The null places the same trades without overlap: each draw holds exactly as many bars,
    so on a constant return every placement scores what the rule scores."""
    r = np.full(500, 0.001)
    r[0] = 0.0
    entry = np.array([10, 100, 300], dtype=np.int64)
    exit_ = entry + np.array([20, 50, 7])
    p, score, null, exposure = random_entry_pvalue(
        [r], [(entry, exit_, np.ones(3))], 200, np.random.default_rng(3)
    )
    np.testing.assert_allclose(null, score)
    assert exposure == pytest.approx(77 / 500) and p == 1.0


def _bars(seed: int = 0, n: int = 1500) -> Bars:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    close = 100 * np.exp(0.03 * np.sin(2 * np.pi * t / 120) + np.cumsum(rng.normal(0, 0.003, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.002, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.002, n)))
    col = lambda x: x.reshape(-1, 1)  # noqa: E731
    return Bars(index=1_609_459_200_000 + 3_600_000 * t, symbols=("WAVE/USDT",), timeframe="1h",
                open=col(open_), high=col(high), low=col(low), close=col(close),
                volume=col(rng.lognormal(3, 1, n)))  # fmt: skip


def test_robustness_is_reproducible_from_the_seed_and_reruns_the_engine() -> None:
    strategy = get_strategy("sma_cross")
    params = strategy.Params(fast=8, slow=40)
    bars = _bars()
    segments = [Segment(params, 700, 1100), Segment(params, 1100, 1500)]
    settings = RobustnessSettings(draws=200, input_draws=4, seed=11)
    a = robustness(strategy, bars, EngineConfig(), segments, settings)
    b = robustness(strategy, bars, EngineConfig(), segments, settings)
    assert a.summary == b.summary and a.distributions == b.distributions
    c = robustness(strategy, bars, EngineConfig(), segments, replace(settings, seed=12))
    assert c.summary["bootstrap.final_equity.p50"] != a.summary["bootstrap.final_equity.p50"]
    s = a.summary
    assert s["trades"] >= 10
    for name in ("shuffle.max_drawdown", "bootstrap.final_equity", "bootstrap.trade_sharpe",
                 "price.final_equity", "skip.sharpe_ratio", "random_entries.log_return"):  # fmt: skip
        assert s[f"{name}.p5"] <= s[f"{name}.p50"] <= s[f"{name}.p95"], name
    assert len(a.distributions["price.final_equity"]) == 4
    assert len(a.distributions["bootstrap.final_equity"]) == 200
    # perturbed inputs move the result, but not by much; doubled costs cost money
    assert len(set(a.distributions["price.final_equity"])) > 1
    unperturbed = robustness(strategy, bars, EngineConfig(), segments,
                             replace(settings, price_noise=0.0, skip_fraction=0.0))  # fmt: skip
    assert len(set(unperturbed.distributions["price.final_equity"])) == 1
    assert s["stress.final_equity"] < unperturbed.summary["price.final_equity.p50"]
    # shuffles keep the product of the trades' growth: every path ends at the same equity
    assert 0 < s["pvalue_random_entries"] <= 1 and 0 < s["exposure"] < 1


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ConfigError, match="mc_price_noise"):
        RobustnessSettings(price_noise=2.0)
    with pytest.raises(ConfigError, match="mc_cost_stress"):
        RobustnessSettings(cost_stress=0.5)
    with pytest.raises(ConfigError, match="out-of-sample window"):
        robustness(get_strategy("sma_cross"), _bars(), EngineConfig(), [], RobustnessSettings())
