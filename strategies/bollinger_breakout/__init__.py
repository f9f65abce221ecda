"""Bollinger breakout: ride a close above the upper band until it falls back below the middle."""

from __future__ import annotations

from dataclasses import dataclass

from grekko_research.data.bars import Bars
from grekko_research.engine import Signals
from grekko_research.indicators import bollinger
from grekko_research.strategy import Strategy, param
from grekko_research.strategy.crossings import crossed_above, crossed_below


@dataclass(frozen=True)
class BollingerBreakoutParams:
    window: int = param(20, low=5, high=200, doc="moving-average window, bars")
    k: float = param(2.0, low=0.5, high=4.0, doc="band width in standard deviations")


class BollingerBreakout(Strategy):
    name = "bollinger_breakout"
    Params = BollingerBreakoutParams
    summary = "long when the close crosses above the upper band, flat below the middle band"

    def warmup(self, params: BollingerBreakoutParams) -> int:
        return params.window

    def signals(self, bars: Bars, params: BollingerBreakoutParams) -> Signals:
        mid, upper, _ = bollinger(bars.close, params.window, params.k)
        return Signals(crossed_above(bars.close, upper), crossed_below(bars.close, mid))
