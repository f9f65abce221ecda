"""An ensemble of strategies as one strategy: members decide, Hedge weights them by performance.

A subclass of :class:`EnsembleStrategy` names its members (registered strategies and their
parameters) and, optionally, *advisers*: ``Bars.extras`` series holding votes in ``[-1, 1]``
(NaN: no vote), such as the LLM adviser's ``alpha.llm_vote``
(:mod:`grekko_research.ml.llm`). At each bar every member's exposure
(:func:`~grekko_research.ml.ensemble.member_exposure`) is scored by its recent net gains and
the weights (:func:`~grekko_research.ml.ensemble.hedge_weights`) mix the exposures into one
target per symbol, a fraction of equity. Its ``mode``:

``hedge``
    exponential weights over the last ``window`` bars (learning rate ``eta``);
``regime``
    the same, counting only the bars decided in the current market regime;
``select``
    all the weight on the member with the best gains in the current regime.

The ensemble is the portfolio's coordinator: it emits one target, which the engine sizes and
its risk rules check as any strategy's — in a backtest and in ``grekko-live`` alike (the
decision at *t* depends on a bounded window, :meth:`EnsembleStrategy.warmup`, so a live
runner's rolling window decides as the backtest). An adviser's vote is one member among the
others: it is weighted by its own track record and can neither place nor size an order.
The members' own engine options (stops) are not applied: the ensemble holds their exposures.

:meth:`EnsembleStrategy.weights` returns the weights per bar (a frame: the record of why the
ensemble held what it held); they are a pure function of the bars, so a live run's weights
are recomputed exactly from its recorded bars.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, TargetPositions
from grekko_research.errors import ConfigError
from grekko_research.ml.ensemble import bar_gains, hedge_weights, member_exposure, regime_labels
from grekko_research.strategy import Strategy, get_strategy, param

__all__ = ["EnsembleParams", "EnsembleStrategy"]

MODES = ("hedge", "regime", "select")


@dataclass(frozen=True)
class EnsembleParams:
    mode: str = param("hedge", choices=MODES, doc="hedge, regime-conditioned hedge, or select")
    eta: float = param(40.0, low=0.0, high=500.0, doc="Hedge learning rate (0: equal weights)")
    window: int = param(168, low=12, high=1000, doc="bars of gains the weights look back on")
    hold: int = param(240, low=10, high=1000, doc="bars of member decisions replayed")
    cost: float = param(0.001, low=0.0, high=0.01, doc="cost per unit of exposure changed")
    trend_window: int = param(96, low=10, high=500, doc="regime: trend mean window")
    vol_window: int = param(24, low=5, high=200, doc="regime: short volatility window")
    scale: float = param(1.0, low=0.05, high=1.0, doc="fraction of the mixed target held")
    grid: float = param(0.25, low=0.0, high=1.0, doc="round the target to this step (0: off)")


@functools.lru_cache(maxsize=256)
def _member(name: str, values: tuple[tuple[str, Any], ...]) -> tuple[Strategy, Any]:
    """A member strategy and its parameters, resolved once (an entry-point lookup scans the
    installed packages: tens of ms, at every bar of a live run otherwise)."""
    strategy = get_strategy(name)
    return strategy, strategy.params(dict(values))


class EnsembleStrategy(Strategy):
    """Base class; a subclass sets ``name``, ``members`` and optionally ``advisers``."""

    Params = EnsembleParams
    members: ClassVar[tuple[tuple[str, dict[str, Any]], ...]] = ()
    advisers: ClassVar[tuple[str, ...]] = ()  # Bars.extras names holding votes in [-1, 1]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.requires = tuple(dict.fromkeys((*cls.requires, *cls.advisers)))

    def _members(self) -> list[tuple[Strategy, Any]]:
        if not self.members and not self.advisers:
            raise ConfigError(f"ensemble {self.name!r} has no members")
        return [_member(name, tuple(sorted(values.items()))) for name, values in self.members]

    def member_names(self) -> list[str]:
        return [name for name, _ in self.members] + list(self.advisers)

    def warmup(self, params: EnsembleParams) -> int:
        members = max((s.warmup(p) for s, p in self._members()), default=0)
        regime = max(params.trend_window, 4 * params.vol_window) if params.mode != "hedge" else 0
        return max(members + params.hold, regime) + params.window + 2

    def _exposures(self, bars: Bars, params: EnsembleParams) -> list[np.ndarray]:
        n, k = bars.n_bars, bars.n_assets
        out = [member_exposure(s.signals(bars, p), n, k, params.hold) for s, p in self._members()]
        for name in self.advisers:
            if name not in bars.extras:
                raise ConfigError(f"ensemble {self.name!r} needs Bars.extras[{name!r}] (votes)")
            votes = np.asarray(bars.extras[name], dtype=np.float64).reshape(n, k)
            # a vote counts in the bar it landed in only: an abstention is no exposure
            out.append(np.clip(np.nan_to_num(votes, nan=0.0), -1.0, 1.0))
        return out

    def _weights(self, bars: Bars, params: EnsembleParams) -> tuple[np.ndarray, list[np.ndarray]]:
        exposures = self._exposures(bars, params)
        gains = np.column_stack([bar_gains(e, bars.close, params.cost) for e in exposures])
        regimes = None
        if params.mode != "hedge":
            regimes = regime_labels(bars.close, params.trend_window, params.vol_window)
        w = hedge_weights(gains, params.eta, params.window, regimes=regimes,
                          select=params.mode == "select")  # fmt: skip
        return w, exposures

    def signals(self, bars: Bars, params: EnsembleParams) -> TargetPositions:
        w, exposures = self._weights(bars, params)
        mixed = sum(w[:, [i]] * e for i, e in enumerate(exposures))
        # a convex mix of exposures in [-1, 1]: clip the float rounding of the weights' sum
        target = np.clip(np.asarray(mixed, dtype=np.float64), -1.0, 1.0)
        if params.grid > 0:  # a small change of weights is not worth a rebalancing fee
            target = np.round(target / params.grid) * params.grid
        target = target * (params.scale / bars.n_assets)
        target[: min(self.warmup(params), bars.n_bars)] = np.nan  # no decision in warm-up
        return TargetPositions(np.ascontiguousarray(target), kind="percent")

    def weights(self, bars: Bars, params: EnsembleParams | None = None) -> pd.DataFrame:
        """Return each member's weight at each bar (rows: bar times; NaN in warm-up)."""
        params = params or self.params()
        w, _ = self._weights(bars, params)
        w[: min(self.warmup(params), bars.n_bars)] = np.nan
        return pd.DataFrame(w, index=bars.datetime_index, columns=self.member_names())

    def configure(self, config: EngineConfig, params: EnsembleParams) -> EngineConfig:
        # an adviser's short vote shorts only where a member may (else the engine stays flat)
        shorts = any(s.configure(config, p).allow_short for s, p in self._members())
        return replace(config, allow_short=True) if shorts else config
