"""RSI mean reversion: buy when RSI falls through an oversold level, sell when it recovers."""

from __future__ import annotations

from dataclasses import dataclass

from grekko_research.data.bars import Bars
from grekko_research.engine import Signals
from grekko_research.errors import ConfigError
from grekko_research.indicators import rsi
from grekko_research.strategy import Strategy, param
from grekko_research.strategy.crossings import crossed_above, crossed_below


@dataclass(frozen=True)
class RsiMeanReversionParams:
    period: int = param(14, low=2, high=50, doc="Wilder RSI period, bars")
    lower: float = param(30.0, low=5.0, high=45.0, doc="oversold level: entry when RSI falls below")
    upper: float = param(55.0, low=50.0, high=95.0, doc="exit when RSI rises above")

    def __post_init__(self) -> None:
        if self.lower >= self.upper:
            raise ConfigError(
                f"rsi_mean_reversion: lower ({self.lower}) must be below upper ({self.upper})"
            )


class RsiMeanReversion(Strategy):
    name = "rsi_mean_reversion"
    Params = RsiMeanReversionParams
    summary = "long after RSI crosses below `lower`, flat after it crosses above `upper`"

    def warmup(self, params: RsiMeanReversionParams) -> int:
        # Wilder smoothing never forgets: after 20 periods an earlier start moves the RSI
        # by a factor (1 - 1/period)**(20 period) < 1e-9 of the difference.
        return 20 * params.period

    def signals(self, bars: Bars, params: RsiMeanReversionParams) -> Signals:
        value = rsi(bars.close, params.period)
        return Signals(crossed_below(value, params.lower), crossed_above(value, params.upper))
