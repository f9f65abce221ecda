"""Models as strategies: a walk-forward model whose every signal comes from a model fitted before it.

:class:`WalkForwardModelStrategy` is a :class:`~grekko_research.strategy.Strategy` like any
other: ``grekko backtest``, ``grekko sweep`` (which searches the features, the label, the
model's hyperparameters and the schedule: they are all declared parameters), ``grekko
promote`` and ``grekko-live`` run it unchanged, and the conformance suite's lookahead and
warm-up checks apply to it. Its ``signals`` computes the features, labels each row
(``labels`` look forward; the trainer purges them), fits walk-forward
(:func:`~grekko_research.ml.walkforward.walk_forward_scores`) and trades the out-of-sample
probability: long above ``entry``, flat below ``exit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.engine import Signals
from grekko_research.errors import ConfigError
from grekko_research.ml.features import FeatureParams, build_features, feature_warmup
from grekko_research.ml.labels import LABELS, make_label
from grekko_research.ml.models import MODELS, ModelSpec
from grekko_research.ml.walkforward import WalkForward, WalkForwardResult, walk_forward_scores
from grekko_research.strategy import FittedModel, Strategy, param

__all__ = ["ModelParams", "WalkForwardModelStrategy", "label_arrays", "model_spec", "schedule"]


@dataclass(frozen=True)
class ModelParams(FeatureParams):
    """Features, label, model, schedule and trading thresholds of a walk-forward model."""

    label: str = param("sign", choices=("sign", "triple_barrier"), doc="what the model predicts")
    horizon: int = param(12, low=1, high=48, doc="label horizon, bars")
    barrier_width: float = param(1.5, low=0.25, high=5.0, doc="triple barrier, in sigma·√horizon")
    model: str = param("lgbm", choices=("lgbm", "logistic", "forest"), doc="estimator")
    n_estimators: int = param(60, low=10, high=300, doc="trees (lgbm, forest)")
    num_leaves: int = param(8, low=2, high=64, doc="leaves per tree (lgbm)")
    learning_rate: float = param(0.05, low=0.005, high=0.3, log=True, doc="boosting step (lgbm)")
    min_child_samples: int = param(40, low=5, high=500, doc="rows per leaf at least")
    regularization: float = param(5.0, low=0.01, high=100.0, log=True, doc="L2 / 1/C")
    train: int = param(1000, low=200, high=1500, doc="rows per training window")
    step: int = param(168, low=24, high=336, doc="bars between refits")
    embargo: int = param(0, low=0, high=48, doc="rows between the last label and a fit")
    entry: float = param(0.55, low=0.5, high=0.9, doc="go long above this probability")
    exit: float = param(0.5, low=0.1, high=0.7, doc="go flat below this probability")
    seed: int = param(0, low=0, high=1_000_000, doc="model seed")

    def __post_init__(self) -> None:
        if self.exit > self.entry:
            raise ConfigError(f"exit ({self.exit}) must not be above entry ({self.entry})")


def model_spec(p: Any) -> ModelSpec:
    """The :class:`ModelSpec` a parameter set asks for."""
    if p.model not in MODELS:
        raise ConfigError(f"model {p.model!r}: expected one of {list(MODELS)}")
    return ModelSpec(
        kind=p.model,
        n_estimators=p.n_estimators,
        num_leaves=p.num_leaves,
        learning_rate=p.learning_rate,
        min_child_samples=p.min_child_samples,
        regularization=p.regularization,
        seed=p.seed,
    )


def schedule(p: Any) -> WalkForward:
    """The :class:`WalkForward` schedule of a parameter set."""
    # sliding only: an anchored window's decisions depend on where the data starts, which the
    # live runner's rolling window cannot reproduce (anchored: walk_forward_scores, research)
    return WalkForward(train=p.train, step=p.step, embargo=p.embargo)


def _sigma(close: np.ndarray, window: int) -> np.ndarray:
    """Rolling std of 1-bar log returns (the triple barrier's unit), finite windows only."""
    from grekko_research.ml.features import _lagged_return, _rolling_std

    with np.errstate(divide="ignore", invalid="ignore"):
        logc = np.log(np.where(close > 0, close, np.nan))
    return _rolling_std(_lagged_return(logc[:, None], 1), window)[:, 0]


def label_arrays(bars: Bars, p: Any, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and their end rows for symbol ``j`` (filled bars never label)."""
    if p.label not in LABELS:
        raise ConfigError(f"label {p.label!r}: expected one of {list(LABELS)}")
    close, high, low = bars.close[:, j], bars.high[:, j], bars.low[:, j]
    vol = _sigma(close, p.window) * np.sqrt(p.horizon)
    y, end = make_label(
        p.label, close, high, low, p.horizon, width=getattr(p, "barrier_width", 1.0), vol=vol
    )
    y = np.where(bars.filled[:, j], np.nan, y)
    return y, end


class WalkForwardModelStrategy(Strategy):
    """A walk-forward model traded on its out-of-sample probability (see the module notes)."""

    Params = ModelParams
    summary = "walk-forward model: long while P(up) > entry, flat when it falls below exit"
    fits_models = True

    def warmup(self, params: Any) -> int:
        # features, then a full window whose labels end before the first fit, then up to a
        # step until the first fit on the epoch-aligned schedule
        return feature_warmup(params) + params.train + params.horizon + params.embargo + params.step

    def walk_forward(
        self,
        bars: Bars,
        params: Any,
        *,
        keep_models: bool = False,
        models: Mapping[str, Mapping[int, Any]] | None = None,
    ) -> list[Any]:
        """One :class:`~grekko_research.ml.walkforward.WalkForwardResult` per symbol, plus the
        feature names as the last element. ``models`` (``{symbol: {fit time ms: model}}``)
        replaces fitting with the given window models (:meth:`signals_from_models`)."""
        feats = build_features(bars, params)
        bar_ms = parse_timeframe(bars.timeframe).ms
        spec, wf = model_spec(params), schedule(params)
        start = feature_warmup(params)
        out: list[Any] = []
        for j in range(bars.n_assets):
            y, end = label_arrays(bars, params, j)
            x = feats.values[:, j, :]
            x = np.where(bars.filled[:, j, None], np.nan, x)
            out.append(
                walk_forward_scores(
                    x, y, end, bars.index, bar_ms, wf, spec, start=start, keep_models=keep_models,
                    models=None if models is None else _models_of(models, bars.symbols[j]),
                )
            )  # fmt: skip
        out.append(feats.names)
        return out

    def scores(
        self, bars: Bars, params: Any, models: Mapping[str, Mapping[int, Any]] | None = None
    ) -> np.ndarray:
        """Out-of-sample P(label = 1) per bar and symbol ``(n, k)``; NaN before the first fit."""
        # without models, the call a subclass overriding walk_forward (the leak controls) knows
        found = (
            self.walk_forward(bars, params)
            if models is None
            else self.walk_forward(bars, params, models=models)
        )
        results: list[WalkForwardResult] = found[:-1]
        return np.stack([r.score for r in results], axis=1)

    def signals(self, bars: Bars, params: Any) -> Signals:
        return self._trade(self.scores(bars, params), params)

    def signals_from_models(
        self, bars: Bars, params: Any, models: Mapping[str, Mapping[int, Any]]
    ) -> Signals:
        """The signals with the given window models instead of fitted ones (``{symbol: {fit
        bar's open time ms: model}}``, e.g. a promoted model's, :func:`~grekko_research.
        tracking.load_window_models`): equal to :meth:`signals` when they are the same models."""
        return self._trade(self.scores(bars, params, models), params)

    def fitted_models(self, bars: Bars, params: Any) -> list[FittedModel]:
        """Every window's fitted model on ``bars`` (constant one-class windows included)."""
        out: list[FittedModel] = []
        for symbol, res in zip(bars.symbols, self.walk_forward(bars, params, keep_models=True),
                               strict=False):  # fmt: skip
            for w in res.windows:
                out.append(FittedModel(symbol, int(bars.index[w.fit_row]), w.model))
        return out

    @staticmethod
    def _trade(p: np.ndarray, params: Any) -> Signals:
        known = np.isfinite(p)
        entries = known & (p > params.entry)
        exits = known & (p < params.exit)
        return Signals(entries, exits)


def _models_of(models: Mapping[str, Mapping[int, Any]], symbol: str) -> Mapping[int, Any]:
    if symbol not in models:
        raise ConfigError(f"no window models given for {symbol} (given: {sorted(models)})")
    return models[symbol]
