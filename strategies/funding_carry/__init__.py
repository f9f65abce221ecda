"""Funding carry: take the side of a perpetual that has been receiving funding."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numba import njit

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, TargetPositions
from grekko_research.errors import ConfigError
from grekko_research.strategy import Strategy, param


@dataclass(frozen=True)
class FundingCarryParams:
    window: int = param(72, low=8, high=720, doc="sum the funding paid over this many bars")
    threshold: float = param(
        0.0001, low=0.0, high=0.01, doc="act when the summed rate is beyond +/- this"
    )
    size: float = param(0.5, low=0.05, high=1.0, doc="position as a fraction of equity")


FUNDING_INTERVAL_MS = 8 * 3_600_000  # Binance USD-M pays funding at 00:00, 08:00 and 16:00 UTC


@njit(cache=True, nogil=True)
def carry_targets_nb(
    rates: np.ndarray, index: np.ndarray, window: int, threshold: float, size: float
) -> np.ndarray:
    """Return ``(n, k)`` targets where the regime changes or a funding time opens, NaN elsewhere.

    The regime at bar ``t`` is the sign of the funding summed over the last
    ``window`` bars: above ``threshold`` longs have been paying shorts, so
    the target is ``-size``; below ``-threshold`` it is ``+size``; between,
    flat. A target is emitted when the regime differs from the previous
    bar's, and at every bar opening at a funding time (00:00, 08:00, 16:00
    UTC), which re-sizes the position to ``size`` of the equity; between
    those the position is kept, so the engine does not trade every bar.
    The schedule follows the clock, not the first bar, so a run started
    later emits the same targets once its window is full.
    """
    n, k = rates.shape
    out = np.full((n, k), np.nan)
    for j in range(k):
        previous = np.nan
        for t in range(window - 1, n):
            total = 0.0
            for u in range(t - window + 1, t + 1):
                total += rates[u, j]
            regime = 0.0
            if total > threshold:
                regime = -size
            elif total < -threshold:
                regime = size
            if t >= window and (regime != previous or index[t] % FUNDING_INTERVAL_MS == 0):
                out[t, j] = regime
            previous = regime
    return out


class FundingCarry(Strategy):
    name = "funding_carry"
    Params = FundingCarryParams
    summary = "short a perpetual while longs keep paying funding, long while shorts pay"
    requires = ("funding_rate",)

    def warmup(self, params: FundingCarryParams) -> int:
        return params.window + 1

    def signals(self, bars: Bars, params: FundingCarryParams) -> TargetPositions:
        if "funding_rate" not in bars.extras:
            raise ConfigError(
                "funding_carry needs funding rates: load perpetual bars with data.funding=true "
                "(Bars.extras['funding_rate'])"
            )
        rates = np.ascontiguousarray(bars.extras["funding_rate"])
        weights = carry_targets_nb(rates, bars.index, params.window, params.threshold, params.size)
        return TargetPositions(weights, kind="percent")

    def configure(self, config: EngineConfig, params: FundingCarryParams) -> EngineConfig:
        return replace(config, allow_short=True)
