"""The live risk engine: pre-trade checks, circuit breakers, and the trading state.

Typical use (the runner appends every returned draft to the event store)::

    engine = RiskEngine(risk_spec(cfg))  # the run's RiskSpec (conf/risk, docs/risk.md)
    drafts = engine.on_bar(PortfolioView(equity, positions), MarketView(prices, closes), now_ms=t)
    decision = engine.check_order(ProposedOrder("BTC/USDT", "buy", 0.5), portfolio, market,
                                  now_ms=t)
    drafts += decision.events
    if decision.approved:
        send(decision.qty)

See :mod:`live.risk.engine` for the states and how breaches lift,
:mod:`grekko_research.risk.evaluate` for the decisions (the same functions a backtest calls)
and :mod:`grekko_research.risk.checks` for what each check measures.
"""

from grekko_research.risk.spec import RiskSpec
from live.risk.config import Action, LiveRiskConfig, live_risk_config, risk_spec
from live.risk.engine import DAY_MS, RiskEngine
from live.risk.views import (
    EventDraft,
    MarketView,
    OpsView,
    PortfolioView,
    ProposedOrder,
    RiskDecision,
    TradingState,
)

__all__ = [
    "DAY_MS",
    "Action",
    "EventDraft",
    "LiveRiskConfig",
    "MarketView",
    "OpsView",
    "PortfolioView",
    "ProposedOrder",
    "RiskDecision",
    "RiskEngine",
    "RiskSpec",
    "TradingState",
    "live_risk_config",
    "risk_spec",
]
