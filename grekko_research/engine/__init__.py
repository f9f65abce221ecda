"""The backtest engine: numba kernels beside a thin API (``backtest(bars, signals, config)``).

Semantics — when each order fills, at which price, with which costs — are
documented in ``docs/engine.md``.
"""

from grekko_research.engine.api import BacktestResult, Orders, Signals, TargetPositions, backtest
from grekko_research.engine.config import EngineConfig, Fees, MarketRules, Sizing, Slippage, Stops

__all__ = [
    "BacktestResult",
    "EngineConfig",
    "Fees",
    "MarketRules",
    "Orders",
    "Signals",
    "Sizing",
    "Slippage",
    "Stops",
    "TargetPositions",
    "backtest",
]
