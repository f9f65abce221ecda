"""Donchian trend: turtle-style channel breakouts with an ATR stop-loss."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Signals
from grekko_research.errors import ConfigError
from grekko_research.indicators import donchian
from grekko_research.strategy import Strategy, param
from grekko_research.strategy.crossings import crossed_above, crossed_below


@dataclass(frozen=True)
class DonchianTrendParams:
    entry_window: int = param(20, low=5, high=200, doc="breakout channel, bars")
    exit_window: int = param(10, low=2, high=100, doc="exit channel, bars")
    atr_window: int = param(20, low=5, high=100, doc="ATR window of the stop, bars")
    atr_stop: float = param(2.0, low=0.5, high=6.0, doc="stop-loss distance in ATRs")
    short: bool = param(False, doc="also trade downside breakouts")

    def __post_init__(self) -> None:
        if self.exit_window >= self.entry_window:
            raise ConfigError(
                f"donchian_trend: exit_window ({self.exit_window}) must be below "
                f"entry_window ({self.entry_window})"
            )


def _previous(x: np.ndarray) -> np.ndarray:
    """The channel of the bars before this one: a breakout compares the close with it."""
    out = np.full_like(x, np.nan)
    out[1:] = x[:-1]
    return out


class DonchianTrend(Strategy):
    name = "donchian_trend"
    Params = DonchianTrendParams
    summary = "long on a close above the prior entry-window high, out below the exit-window low"

    def warmup(self, params: DonchianTrendParams) -> int:
        return params.entry_window + 2

    def signals(self, bars: Bars, params: DonchianTrendParams) -> Signals:
        high, low, close = bars.high, bars.low, bars.close
        entry_hi, entry_lo, _ = donchian(high, low, params.entry_window)
        exit_hi, exit_lo, _ = donchian(high, low, params.exit_window)
        entry_hi, entry_lo = _previous(entry_hi), _previous(entry_lo)
        exit_hi, exit_lo = _previous(exit_hi), _previous(exit_lo)
        entries = crossed_above(close, entry_hi)
        exits = crossed_below(close, exit_lo)
        if not params.short:
            return Signals(entries, exits)
        return Signals(
            entries, exits, crossed_below(close, entry_lo), crossed_above(close, exit_hi)
        )

    def configure(self, config: EngineConfig, params: DonchianTrendParams) -> EngineConfig:
        stops = replace(
            config.stops,
            stop_loss=params.atr_stop,
            stop_loss_kind="atr",
            atr_window=params.atr_window,
        )
        return replace(config, stops=stops, allow_short=config.allow_short or params.short)
