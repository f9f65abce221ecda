"""Online model: an SGD logistic model refitted every ``cadence`` bars and updated with
``partial_fit`` on every closed bar; long (at full or reduced exposure) while P(up) is above
``threshold``, flat when the model is stale or its loss has drifted.

What it learns on the data is each retrain's initial model (``fitted_models``: ``grekko
promote`` logs them); the per-bar updates are the update rule its parameters configure,
replayed over the bars (``signals_from_models``: no fit, the same signals)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.engine import TargetPositions
from grekko_research.errors import ConfigError
from grekko_research.ml.features import FeatureParams, build_features, feature_warmup
from grekko_research.ml.models import ModelSpec
from grekko_research.ml.online import OnlineResult, OnlineSpec, online_scores
from grekko_research.ml.strategy import label_arrays
from grekko_research.strategy import FittedModel, Strategy, param

__all__ = ["MlOnline", "OnlineParams"]


@dataclass(frozen=True)
class OnlineParams(FeatureParams):
    label: str = param("sign", choices=("sign", "triple_barrier"), doc="what the model predicts")
    horizon: int = param(1, low=1, high=24, doc="label horizon, bars")
    barrier_width: float = param(1.5, low=0.25, high=5.0, doc="triple barrier, in sigma·√horizon")
    regularization: float = param(1.0, low=0.001, high=1000.0, log=True, doc="1/C of the retrain")
    train: int = param(500, low=100, high=1500, doc="rows of each retrain")
    cadence: int = param(168, low=24, high=336, doc="bars between retrains")
    expiry: int = param(3, low=0, high=200, doc="bars without an update before the model is stale")
    drift_warn: float = param(10.0, low=0.1, high=100.0, doc="Page-Hinkley level: reduce")
    drift_halt: float = param(30.0, low=0.1, high=500.0, doc="Page-Hinkley level: halt")
    reduce_to: float = param(0.5, low=0.0, high=1.0, doc="exposure while drifting")
    learning_rate: float = param(0.01, low=0.0001, high=0.5, log=True, doc="SGD step per bar")
    threshold: float = param(0.52, low=0.3, high=0.8, doc="long while P(up) is above this")
    exposure: float = param(0.95, low=0.05, high=1.0, doc="fraction of equity when long")
    seed: int = param(0, low=0, high=1_000_000, doc="model seed")


class MlOnline(Strategy):
    name = "ml_online"
    Params = OnlineParams
    summary = "online SGD model updated each closed bar; long while P(up) > threshold"
    fits_models = True

    def warmup(self, params: Any) -> int:
        # features, a retrain window whose labels end before it, up to a cadence until the
        # first epoch-aligned retrain, and the previous bar the targets compare with
        return feature_warmup(params) + params.train + params.horizon + params.cadence + 1

    def online(
        self,
        bars: Bars,
        params: Any,
        *,
        keep_models: bool = False,
        models: Mapping[str, Mapping[int, Any]] | None = None,
    ) -> list[OnlineResult]:
        """The online model's run per symbol (scores, exposure levels, ages, drift);
        ``models`` (``{symbol: {retrain time ms: initial model}}``) replaces the retrains."""
        feats = build_features(bars, params)
        bar_ms = parse_timeframe(bars.timeframe).ms
        spec = OnlineSpec(
            train=params.train, cadence=params.cadence, horizon=params.horizon,
            expiry=params.expiry, drift_warn=params.drift_warn,
            drift_halt=max(params.drift_halt, params.drift_warn), reduce_to=params.reduce_to, eta=params.learning_rate,
        )  # fmt: skip
        model = ModelSpec(
            kind="online_logistic", regularization=params.regularization, seed=params.seed
        )
        out = []
        for j in range(bars.n_assets):
            y, end = label_arrays(bars, params, j)
            x = np.where(bars.filled[:, j, None], np.nan, feats.values[:, j, :])
            given = None
            if models is not None:
                if bars.symbols[j] not in models:
                    raise ConfigError(
                        f"no online models given for {bars.symbols[j]} (given: {sorted(models)})"
                    )
                given = models[bars.symbols[j]]
            out.append(
                online_scores(x, y, end, bars.index, bar_ms, spec, model,
                              start=feature_warmup(params), keep_models=keep_models, models=given)
            )  # fmt: skip
        return out

    def fitted_models(self, bars: Bars, params: Any) -> list[FittedModel]:
        """Every retrain's initial model on ``bars`` (scaler moments, batch fit, its loss)."""
        return [
            FittedModel(symbol, int(bars.index[row]), model)
            for symbol, run in zip(bars.symbols, self.online(bars, params, keep_models=True),
                                   strict=True)
            for row, model in run.models
        ]  # fmt: skip

    def signals_from_models(
        self, bars: Bars, params: Any, models: Mapping[str, Mapping[int, Any]]
    ) -> TargetPositions:
        """The signals with the given initial models instead of the retrain fits (e.g. a
        promoted model's, :func:`~grekko_research.tracking.load_window_models`), the updates
        replayed over ``bars``: equal to :meth:`signals` when they are the same models."""
        return self._trade(self.online(bars, params, models=models), bars, params)

    def signals(self, bars: Bars, params: Any) -> TargetPositions:
        return self._trade(self.online(bars, params), bars, params)

    @staticmethod
    def _trade(runs: list[OnlineResult], bars: Bars, params: Any) -> TargetPositions:
        score = np.stack([r.score for r in runs], axis=1)
        level = np.stack([r.level for r in runs], axis=1)
        wanted = np.where(np.isfinite(score) & (score > params.threshold), level, 0.0)
        wanted *= params.exposure
        # a target only where it changes: the engine keeps the position otherwise (no
        # rebalancing churn), and the decision needs the previous bar only
        prev = np.vstack([np.full((1, bars.n_assets), np.nan), wanted[:-1]])
        target = np.where(wanted != prev, wanted, np.nan)
        return TargetPositions(target, kind="percent")
