"""LightGBM walk-forward: long while a gradient-boosted model, refitted every ``step`` bars on
the last ``train`` purged rows, gives the next ``horizon`` bars a probability of rising above
``entry``; flat when it falls below ``exit``."""

from __future__ import annotations

from grekko_research.ml.strategy import ModelParams, WalkForwardModelStrategy

__all__ = ["MlLgbm", "ModelParams"]


class MlLgbm(WalkForwardModelStrategy):
    name = "ml_lgbm"
    Params = ModelParams
    summary = "walk-forward LightGBM (or scikit-learn) model: long while P(up) > entry"
