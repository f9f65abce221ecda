"""Regime + order flow: buy persistent buying pressure, but only in a calm volatility regime."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grekko_research.analysis.features import FEATURES, BvcParams, Sources, VolRegimeParams
from grekko_research.data.bars import Bars
from grekko_research.engine import Signals
from grekko_research.errors import ConfigError
from grekko_research.strategy import Strategy, param


@dataclass(frozen=True)
class RegimeFlowParams:
    sigma_window: int = param(50, low=10, high=500, doc="bars scaling a price change (BVC)")
    flow_window: int = param(12, low=2, high=200, doc="bars the order-flow imbalance sums")
    entry: float = param(0.3, low=0.05, high=0.9, doc="buy when the imbalance is above this")
    exit: float = param(0.0, low=-0.9, high=0.5, doc="sell when the imbalance falls below -exit")
    vol_window: int = param(24, low=5, high=200, doc="volatility window of the regime, bars")
    lookback: int = param(250, low=20, high=2000, doc="volatility history it is ranked in")
    max_vol_pct: float = param(
        0.8, low=0.1, high=1.0, doc="trade only while volatility's percentile is at most this"
    )

    def __post_init__(self) -> None:
        if self.exit >= self.entry:
            raise ConfigError(
                f"regime_flow: exit ({self.exit}) must be below entry ({self.entry}), "
                "or a position would be bought and sold on the same imbalance"
            )


class RegimeFlow(Strategy):
    name = "regime_flow"
    Params = RegimeFlowParams
    summary = "long on bar order-flow buying while volatility is calm, flat otherwise"

    def warmup(self, params: RegimeFlowParams) -> int:
        # the regime: vol_window returns, then lookback earlier volatilities; the flow:
        # sigma_window changes before the flow_window bars
        return (
            max(params.vol_window + params.lookback, params.sigma_window + params.flow_window) + 1
        )

    def signals(self, bars: Bars, params: RegimeFlowParams) -> Signals:
        none = Sources()
        flow = FEATURES["bvc_flow"].compute(
            bars, BvcParams(params.sigma_window, params.flow_window), none
        )
        regime = FEATURES["vol_regime"].compute(
            bars, VolRegimeParams(params.vol_window, params.lookback), none
        )
        calm = regime <= params.max_vol_pct  # NaN (warming up) is neither calm nor turbulent
        entries = calm & (flow > params.entry)
        exits = (flow < -params.exit) | (regime > params.max_vol_pct)
        return Signals(np.asarray(entries), np.asarray(exits))
