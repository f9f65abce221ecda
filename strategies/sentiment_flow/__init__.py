"""Sentiment + flow: long while the crowd is positive and coins leave the exchanges."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from grekko_research.data.bars import Bars
from grekko_research.engine import Signals
from grekko_research.errors import ConfigError
from grekko_research.strategy import Strategy, param

REQUIRES = ("alpha.sentiment", "alpha.sentiment_weight", "alpha.mentions", "alpha.exchange_netflow")


@dataclass(frozen=True)
class SentimentFlowParams:
    window: int = param(24, low=2, high=720, doc="bars of sentiment summed (weighted mean)")
    min_mentions: int = param(5, low=1, high=10_000, doc="mentions in the window to trust it")
    enter: float = param(0.15, low=0.0, high=1.0, doc="enter above this weighted mean score")
    exit: float = param(-0.05, low=-1.0, high=1.0, doc="exit below this weighted mean score")
    flow_window: int = param(24, low=2, high=720, doc="bars of exchange net flow summed")
    max_inflow: float = param(
        0.25, low=-1.0, high=1.0, doc="exit when the net deposit share exceeds this"
    )

    def __post_init__(self) -> None:
        if self.exit >= self.enter:
            raise ConfigError(
                f"sentiment_flow: exit ({self.exit}) must be below enter ({self.enter})"
            )


@njit(cache=True, nogil=True)
def sentiment_flow_nb(
    sent: np.ndarray,
    weight: np.ndarray,
    mentions: np.ndarray,
    netflow: np.ndarray,
    window: int,
    flow_window: int,
    thresholds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(entries, exits)``, ``(n, k)`` bools, from ``(n, k)`` per-bar alpha features.

    ``thresholds`` is ``[min_mentions, enter, exit, max_inflow]``. At bar ``t`` the weighted
    mean score is ``sum(sent) / sum(weight)`` over the last ``window`` bars, the net deposit
    share ``sum(netflow) / sum(|netflow|)`` over the last ``flow_window`` bars (0 when no
    flow). Entry: enough mentions, mean above ``enter`` and the share not above 0 (coins
    leave exchanges or nothing moves). Exit: mean below ``exit`` or share above
    ``max_inflow`` (deposits usually come before selling).
    """
    n, k = sent.shape
    min_mentions, enter, leave, max_inflow = (
        thresholds[0],
        thresholds[1],
        thresholds[2],
        thresholds[3],
    )
    entries = np.zeros((n, k), dtype=np.bool_)
    exits = np.zeros((n, k), dtype=np.bool_)
    start = max(window, flow_window) - 1
    for j in range(k):
        for t in range(start, n):
            s = 0.0
            w = 0.0
            m = 0.0
            for u in range(t - window + 1, t + 1):
                s += sent[u, j]
                w += weight[u, j]
                m += mentions[u, j]
            f = 0.0
            a = 0.0
            for u in range(t - flow_window + 1, t + 1):
                f += netflow[u, j]
                a += abs(netflow[u, j])
            share = f / a if a > 0.0 else 0.0
            mean = s / w if w > 0.0 else 0.0
            if m >= min_mentions and mean > enter and share <= 0.0:
                entries[t, j] = True
            elif (w > 0.0 and mean < leave) or share > max_inflow:
                exits[t, j] = True
    return entries, exits


class SentimentFlow(Strategy):
    name = "sentiment_flow"
    Params = SentimentFlowParams
    summary = "long on positive weighted crowd sentiment while exchange net flow is outward"
    requires = REQUIRES

    def warmup(self, params: SentimentFlowParams) -> int:
        return max(params.window, params.flow_window)

    def signals(self, bars: Bars, params: SentimentFlowParams) -> Signals:
        missing = [name for name in REQUIRES if name not in bars.extras]
        if missing:
            raise ConfigError(
                f"sentiment_flow needs the alpha features {missing} in Bars.extras: load bars "
                "through grekko backtest / grekko-live with an alternative-data store "
                "(see docs/alpha.md)"
            )
        x = bars.extras
        thresholds = np.array(
            [params.min_mentions, params.enter, params.exit, params.max_inflow], dtype=np.float64
        )
        entries, exits = sentiment_flow_nb(
            np.ascontiguousarray(x["alpha.sentiment"]),
            np.ascontiguousarray(x["alpha.sentiment_weight"]),
            np.ascontiguousarray(x["alpha.mentions"]),
            np.ascontiguousarray(x["alpha.exchange_netflow"]),
            params.window,
            params.flow_window,
            thresholds,
        )
        return Signals(entries, exits)
