"""TradingView alerts: hold what the last alert says, from the bar it arrived in."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, TargetPositions
from grekko_research.errors import ConfigError
from grekko_research.strategy import Strategy, param


@dataclass(frozen=True)
class TradingViewAlertsParams:
    scale: float = param(1.0, low=0.0, high=1.0, doc="fraction of each alert's size to hold")


class TradingViewAlerts(Strategy):
    name = "tradingview_alerts"
    Params = TradingViewAlertsParams
    summary = "trade TradingView webhook alerts: target = the alert's side x size x scale"
    requires = ("alpha.tv_target",)

    def warmup(self, params: TradingViewAlertsParams) -> int:
        return 1

    def signals(self, bars: Bars, params: TradingViewAlertsParams) -> TargetPositions:
        if "alpha.tv_target" not in bars.extras:
            raise ConfigError(
                "tradingview_alerts needs Bars.extras['alpha.tv_target']: the alerts the "
                "grekko-live API's TradingView webhook stored (docs/alpha.md)"
            )
        # NaN where no alert landed in the bar: the engine keeps the position
        target = np.clip(bars.extras["alpha.tv_target"] * params.scale, -1.0, 1.0)
        return TargetPositions(np.ascontiguousarray(target), kind="percent")

    def configure(self, config: EngineConfig, params: TradingViewAlertsParams) -> EngineConfig:
        return replace(config, allow_short=True)  # a short alert is a short; risk limits apply
