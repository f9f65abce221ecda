"""Cross-sectional momentum: hold the basket's strongest assets, rebalanced on a fixed calendar."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from grekko_research.data.bars import Bars
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.engine import TargetPositions
from grekko_research.errors import ConfigError
from grekko_research.strategy import Strategy, param


@dataclass(frozen=True)
class XsMomentumParams:
    lookback: int = param(168, low=2, high=2000, doc="momentum = return over this many bars")
    rebalance: int = param(24, low=1, high=720, doc="rebalance every this many bars")
    top: int = param(2, low=1, high=20, doc="how many of the strongest assets to hold")


@njit(cache=True, nogil=True)
def momentum_targets_nb(
    close: np.ndarray,
    filled: np.ndarray,
    index: np.ndarray,
    bar_ms: int,
    lookback: int,
    rebalance: int,
    top: int,
) -> np.ndarray:
    """Return ``(n, k)`` target weights at rebalance bars (NaN elsewhere: keep the position).

    A rebalance bar is the first bar of each block of ``rebalance`` bar
    lengths counted from the epoch, so the schedule does not depend on where
    the data starts. There, each asset with a traded bar now and
    ``lookback`` bars ago gets its return; the ``top`` highest get ``1/top``
    of the equity each (ties: the earlier column), all others 0.
    """
    n, k = close.shape
    out = np.full((n, k), np.nan)
    block = bar_ms * rebalance
    score = np.empty(k)
    for t in range(lookback, n):
        if t > 0 and index[t] // block == index[t - 1] // block:
            continue
        m = 0
        for j in range(k):
            a = close[t - lookback, j]
            b = close[t, j]
            if filled[t, j] or filled[t - lookback, j] or not (a > 0.0 and b == b):
                score[j] = np.nan
            else:
                score[j] = b / a - 1.0
                m += 1
        if m == 0:
            continue
        for j in range(k):
            out[t, j] = 0.0
        for _ in range(min(top, m)):
            best = -1
            for j in range(k):
                if score[j] == score[j] and (best < 0 or score[j] > score[best]):
                    best = j
            out[t, best] = 1.0 / top
            score[best] = np.nan
    return out


class XsMomentum(Strategy):
    name = "xs_momentum"
    Params = XsMomentumParams
    summary = (
        "equal weight in the `top` assets by `lookback` return, rebalanced every `rebalance` bars"
    )
    min_assets = 2

    def warmup(self, params: XsMomentumParams) -> int:
        return params.lookback + 1

    def signals(self, bars: Bars, params: XsMomentumParams) -> TargetPositions:
        if params.top >= bars.n_assets:
            raise ConfigError(
                f"xs_momentum: top ({params.top}) must be below the number of symbols "
                f"({bars.n_assets}: {', '.join(bars.symbols)})"
            )
        bar_ms = parse_timeframe(bars.timeframe).ms
        weights = momentum_targets_nb(
            bars.close,
            bars.filled,
            bars.index,
            bar_ms,
            params.lookback,
            params.rebalance,
            params.top,
        )
        return TargetPositions(weights, kind="percent")
