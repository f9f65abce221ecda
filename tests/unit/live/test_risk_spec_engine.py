"""The live risk engine driven by a RiskSpec: what the old flat config could not say."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from grekko_research.config import compose_config
from grekko_research.engine.config import EngineConfig
from grekko_research.risk.spec import (
    DrawdownBreaker,
    MarketRisk,
    OrderRisk,
    PortfolioRisk,
    RiskConfigDeprecationWarning,
    RiskSpec,
    VolatilityBreaker,
)
from grekko_research.strategy import get_strategy
from live.risk import (
    DAY_MS,
    LiveRiskConfig,
    MarketView,
    PortfolioView,
    ProposedOrder,
    RiskEngine,
    TradingState,
    live_risk_config,
    risk_spec,
)
from live.runner import RunnerSpec
from live.runner.sleeves import SleeveSpec

T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS
BTC = "BTC/USDT"
MARKET = MarketView(prices={BTC: 100.0})


def test_the_engine_takes_the_runs_spec_and_the_old_flat_config_alike() -> None:
    spec = risk_spec(compose_config(["risk=conservative"]))
    assert RiskEngine(spec).spec is spec
    with pytest.warns(RiskConfigDeprecationWarning, match="LiveRiskConfig is deprecated"):
        old = LiveRiskConfig(max_drawdown=0.2, max_orders=3)
    assert RiskEngine(old).spec == old.to_spec()
    assert RiskEngine().spec == RiskSpec()


def test_the_old_flat_config_warns_naming_its_replacement() -> None:
    """``LiveRiskConfig`` was documented as deprecated but said nothing when used."""
    with pytest.warns(RiskConfigDeprecationWarning) as caught:
        LiveRiskConfig(max_orders=3)
    (warning,) = caught
    assert "RiskSpec" in str(warning.message) and "docs/risk.md" in str(warning.message)
    assert warning.filename == __file__  # it points at the caller's line
    with pytest.warns(RiskConfigDeprecationWarning, match="live_risk_config is deprecated"):
        live_risk_config(compose_config(["risk=conservative"]))


def _runner_and_sleeve(risk: Any) -> tuple[RunnerSpec, SleeveSpec]:
    strategy = get_strategy("sma_cross")
    params = strategy.params({"fast": 2, "slow": 5})
    sleeve = SleeveSpec("a", strategy, params, EngineConfig(), risk=risk)
    runner = RunnerSpec("r", strategy, params, EngineConfig(), (BTC,), "1h", risk=risk)
    return runner, sleeve


def test_runner_and_sleeve_specs_hold_a_risk_spec() -> None:
    """A runner or sleeve spec holds a RiskSpec: an old flat config given to it is converted,
    with a warning (it was kept as given, silently); anything else is refused."""
    spec = RiskSpec(order=OrderRisk(max_orders=3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RiskConfigDeprecationWarning)
        for held in _runner_and_sleeve(spec):
            assert held.risk is spec
        assert all(held.risk is None for held in _runner_and_sleeve(None))
    with pytest.warns(RiskConfigDeprecationWarning):
        old = LiveRiskConfig(max_orders=3)
    with pytest.warns(RiskConfigDeprecationWarning, match="given a LiveRiskConfig") as caught:
        runner, sleeve = _runner_and_sleeve(old)
    assert [w.filename for w in caught] == [__file__, __file__]
    assert "RunnerSpec.risk" in str(caught[1].message) and "SleeveSpec.risk" in str(
        caught[0].message
    )
    assert type(runner.risk) is RiskSpec and runner.risk == sleeve.risk == spec
    with pytest.raises(TypeError, match=r"SleeveSpec\.risk must be a RiskSpec or None, got dict"):
        _runner_and_sleeve({"order": {"max_orders": 3}})


def test_a_drawdown_with_a_cooldown_lifts_once_clear_after_it() -> None:
    spec = RiskSpec(portfolio=PortfolioRisk(drawdown=DrawdownBreaker(limit=0.1, cooldown_s=60)))
    engine = RiskEngine(spec)
    engine.on_bar(PortfolioView(1000.0), MARKET, now_ms=T0)
    engine.on_bar(PortfolioView(850.0), MARKET, now_ms=T0 + 1000)
    assert engine.state is TradingState.HALTED and "drawdown" in engine.reason
    engine.on_bar(PortfolioView(990.0), MARKET, now_ms=T0 + 30_000)  # clear, cooling down
    assert engine.state is TradingState.HALTED
    engine.on_bar(PortfolioView(850.0), MARKET, now_ms=T0 + 61_000)  # due, but in breach again
    assert engine.state is TradingState.HALTED
    engine.on_bar(PortfolioView(995.0), MARKET, now_ms=T0 + 122_000)  # due and clear
    assert engine.state is TradingState.ACTIVE
    d = engine.check_order(
        ProposedOrder(BTC, "buy", 1.0), PortfolioView(995.0), MARKET, now_ms=T0 + 122_001
    )
    assert d.approved


def test_a_market_breaker_can_halt() -> None:
    vol = VolatilityBreaker(limit=0.1, window=3, action="halt", cooldown_s=10.0)
    engine = RiskEngine(RiskSpec(market=MarketRisk(volatility=vol)))
    market = MarketView(prices={BTC: 120.0}, closes={BTC: [100.0, 110.0, 95.0, 120.0]})
    engine.on_bar(PortfolioView(1000.0), market, now_ms=T0)
    assert engine.state is TradingState.HALTED and "volatility of BTC/USDT" in engine.reason
    calm = MarketView(prices={BTC: 100.0}, closes={BTC: [100.0] * 4})
    engine.on_bar(PortfolioView(1000.0), calm, now_ms=T0 + 10_000)
    assert engine.state is TradingState.ACTIVE
