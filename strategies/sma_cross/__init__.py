"""SMA cross: long while the fast simple moving average is above the slow one."""

from __future__ import annotations

from dataclasses import dataclass

from grekko_research.data.bars import Bars
from grekko_research.engine import Signals
from grekko_research.errors import ConfigError
from grekko_research.indicators import sma
from grekko_research.strategy import Strategy, param
from grekko_research.strategy.crossings import crossed_above, crossed_below


@dataclass(frozen=True)
class SmaCrossParams:
    fast: int = param(10, low=2, high=100, doc="fast SMA window, bars")
    slow: int = param(50, low=5, high=400, doc="slow SMA window, bars")

    def __post_init__(self) -> None:
        if self.fast >= self.slow:
            raise ConfigError(f"sma_cross: fast ({self.fast}) must be below slow ({self.slow})")


class SmaCross(Strategy):
    name = "sma_cross"
    Params = SmaCrossParams
    summary = "long when SMA(fast) crosses above SMA(slow), flat when it crosses below"

    def warmup(self, params: SmaCrossParams) -> int:
        return params.slow  # SMA(slow) exists from row slow - 1; a cross needs one more

    def signals(self, bars: Bars, params: SmaCrossParams) -> Signals:
        fast = sma(bars.close, params.fast)
        slow = sma(bars.close, params.slow)
        return Signals(crossed_above(fast, slow), crossed_below(fast, slow))
