"""ATR stop trend: an SMA-cross trend follower whose risk lives in its position stops.

Long when SMA(fast) crosses above SMA(slow), out when it crosses back; a stop-loss, an optional
take-profit and an optional trailing stop protect every position, each measured in ATRs (the
default), as a fraction of the entry price or in price units. The reference strategy for
position stops: it runs unchanged in a backtest, a ``grekko-live replay`` and a live run, whose
runner holds the same stops with the engine's rule (``docs/live.md``, "Position stops").
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Signals
from grekko_research.errors import ConfigError
from grekko_research.indicators import sma
from grekko_research.strategy import Strategy, param
from grekko_research.strategy.crossings import crossed_above, crossed_below

_KINDS = ("atr", "pct", "abs")


@dataclass(frozen=True)
class AtrStopTrendParams:
    fast: int = param(10, low=2, high=100, doc="fast SMA window, bars")
    slow: int = param(40, low=5, high=400, doc="slow SMA window, bars")
    atr_window: int = param(14, low=2, high=100, doc="ATR window of ATR stops, bars")
    stop: float = param(2.0, low=0.0, high=1e5, doc="stop-loss distance (0: off)")
    stop_kind: str = param("atr", choices=_KINDS, doc="stop-loss unit: atr, pct or abs")
    take_profit: float = param(0.0, low=0.0, high=1e5, doc="take-profit distance (0: off)")
    take_profit_kind: str = param("atr", choices=_KINDS, doc="take-profit unit")
    trailing: float = param(0.0, low=0.0, high=1e5, doc="trailing-stop distance (0: off)")
    trailing_kind: str = param("atr", choices=_KINDS, doc="trailing-stop unit")

    def __post_init__(self) -> None:
        if self.fast >= self.slow:
            raise ConfigError(
                f"atr_stop_trend: fast ({self.fast}) must be below slow ({self.slow})"
            )
        for name in ("stop_kind", "take_profit_kind", "trailing_kind"):
            if getattr(self, name) not in _KINDS:
                raise ConfigError(
                    f"atr_stop_trend: {name} must be one of {_KINDS}, got {getattr(self, name)!r}"
                )


class AtrStopTrend(Strategy):
    name = "atr_stop_trend"
    Params = AtrStopTrendParams
    summary = "long on an SMA cross; stop-loss, take-profit and trailing stops in ATRs"

    def warmup(self, params: AtrStopTrendParams) -> int:
        return max(params.slow + 1, params.atr_window + 1)

    def signals(self, bars: Bars, params: AtrStopTrendParams) -> Signals:
        fast = sma(bars.close, params.fast)
        slow = sma(bars.close, params.slow)
        return Signals(crossed_above(fast, slow), crossed_below(fast, slow))

    def configure(self, config: EngineConfig, params: AtrStopTrendParams) -> EngineConfig:
        # A distance of 0 turns that stop off (None for the engine).
        stops = replace(
            config.stops,
            stop_loss=params.stop or None,
            stop_loss_kind=params.stop_kind,  # type: ignore[arg-type]
            take_profit=params.take_profit or None,
            take_profit_kind=params.take_profit_kind,  # type: ignore[arg-type]
            trailing=params.trailing or None,
            trailing_kind=params.trailing_kind,  # type: ignore[arg-type]
            atr_window=params.atr_window,
        )
        return replace(config, stops=stops)
