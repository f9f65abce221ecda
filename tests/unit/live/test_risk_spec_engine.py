"""The live risk engine driven by a RiskSpec: what the old flat config could not say."""

from __future__ import annotations

from grekko_research.config import compose_config
from grekko_research.risk.spec import (
    DrawdownBreaker,
    MarketRisk,
    PortfolioRisk,
    RiskSpec,
    VolatilityBreaker,
)
from live.risk import (
    DAY_MS,
    LiveRiskConfig,
    MarketView,
    PortfolioView,
    ProposedOrder,
    RiskEngine,
    TradingState,
    risk_spec,
)

T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS
BTC = "BTC/USDT"
MARKET = MarketView(prices={BTC: 100.0})


def test_the_engine_takes_the_runs_spec_and_the_old_flat_config_alike() -> None:
    spec = risk_spec(compose_config(["risk=conservative"]))
    assert RiskEngine(spec).spec is spec
    old = LiveRiskConfig(max_drawdown=0.2, max_orders=3)
    assert RiskEngine(old).spec == old.to_spec()
    assert RiskEngine().spec == RiskSpec()


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
