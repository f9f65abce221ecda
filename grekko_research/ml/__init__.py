"""Machine learning as strategies: causal features, labels, walk-forward and online models.

Models are strategies (:class:`~grekko_research.ml.strategy.WalkForwardModelStrategy`,
``strategies/ml_lgbm``, ``strategies/ml_online``): the same backtest, sweep, promotion gates
and live bridge as rule-based ones, and the same conformance checks. docs/ml.md walks through it.
"""

from __future__ import annotations

from grekko_research.ml.features import FEATURE_SETS, FeatureParams, build_features, feature_warmup
from grekko_research.ml.labels import LABELS, forward_return, sign_label, triple_barrier
from grekko_research.ml.models import ModelSpec, cache_stats, clear_cache, fit_cached
from grekko_research.ml.online import OnlineResult, OnlineSpec, online_scores
from grekko_research.ml.report import WalkForwardReport, evaluate_walk_forward
from grekko_research.ml.strategy import ModelParams, WalkForwardModelStrategy
from grekko_research.ml.walkforward import (
    TrainingLeakError,
    WalkForward,
    check_purged,
    walk_forward_scores,
)

__all__ = [
    "FEATURE_SETS",
    "LABELS",
    "FeatureParams",
    "ModelParams",
    "ModelSpec",
    "OnlineResult",
    "OnlineSpec",
    "TrainingLeakError",
    "WalkForward",
    "WalkForwardModelStrategy",
    "WalkForwardReport",
    "build_features",
    "cache_stats",
    "check_purged",
    "clear_cache",
    "evaluate_walk_forward",
    "feature_warmup",
    "fit_cached",
    "forward_return",
    "online_scores",
    "sign_label",
    "triple_barrier",
    "walk_forward_scores",
]
