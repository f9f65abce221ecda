"""Model factories (scikit-learn and LightGBM) and a content-addressed cache of fitted models.

A model is fitted deterministically (fixed seed, one thread), so a fit is a pure function of
``(spec, X, y)``: the cache keys on their bytes. It makes the live runner's refits on its
rolling window free, and — with ``GREKKO_ML_MODEL_DIR`` set — a restarted process reuses the
models persisted before a crash instead of refitting them (the decisions are the same either
way: only the time differs).
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grekko_research._atomic import atomic_path
from grekko_research.errors import ConfigError

__all__ = [
    "MODELS",
    "ConstantModel",
    "ModelSpec",
    "cache_stats",
    "clear_cache",
    "fit_cached",
    "make_model",
    "predict_score",
]

MODELS = ("lgbm", "logistic", "forest", "sgd", "online_logistic")
MODEL_DIR_ENV = "GREKKO_ML_MODEL_DIR"


@dataclass(frozen=True)
class ModelSpec:
    """What to fit: the model kind, its hyperparameters and the task."""

    kind: str = "lgbm"
    n_estimators: int = 100
    num_leaves: int = 15
    learning_rate: float = 0.05
    min_child_samples: int = 20
    regularization: float = 1.0  # L2 (lgbm), inverse C (logistic), alpha x 1e-4 (sgd)
    max_depth: int = 6  # forest
    seed: int = 0
    task: str = "classify"  # or "regress" (forward returns)


class ConstantModel:
    """What a window with a single class learns: its base rate (no classifier fits on one class)."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.full(x.shape[0], self.value)


def make_model(spec: ModelSpec) -> Any:
    """A fresh, unfitted estimator for ``spec`` (single-threaded, seeded)."""
    classify = spec.task == "classify"
    if spec.task not in ("classify", "regress"):
        raise ConfigError(f"model task {spec.task!r}: expected classify or regress")
    if spec.kind == "lgbm":
        import lightgbm as lgb

        kw: dict[str, Any] = dict(
            n_estimators=spec.n_estimators,
            num_leaves=spec.num_leaves,
            learning_rate=spec.learning_rate,
            min_child_samples=spec.min_child_samples,
            reg_lambda=spec.regularization,
            subsample=1.0,
            colsample_bytree=1.0,
            random_state=spec.seed,
            n_jobs=1,
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
        )
        return lgb.LGBMClassifier(**kw) if classify else lgb.LGBMRegressor(**kw)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if spec.kind == "logistic":
        from sklearn.linear_model import LogisticRegression, Ridge

        est: Any = (
            LogisticRegression(C=1.0 / spec.regularization, max_iter=500)
            if classify
            else Ridge(alpha=spec.regularization)
        )
        return make_pipeline(StandardScaler(), est)
    if spec.kind == "forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if classify else RandomForestRegressor
        return cls(
            n_estimators=spec.n_estimators,
            max_depth=spec.max_depth,
            min_samples_leaf=spec.min_child_samples,
            random_state=spec.seed,
            n_jobs=1,
        )
    if spec.kind == "online_logistic":  # bare, on rows the online model has scaled itself
        from sklearn.linear_model import LogisticRegression

        if not classify:
            raise ConfigError("online_logistic is a classifier")
        return LogisticRegression(C=1.0 / spec.regularization, max_iter=500)
    if spec.kind == "sgd":
        from sklearn.linear_model import SGDClassifier, SGDRegressor

        alpha = 1e-4 * spec.regularization
        sgd: Any = (
            SGDClassifier(loss="log_loss", alpha=alpha, random_state=spec.seed)
            if classify
            else SGDRegressor(alpha=alpha, random_state=spec.seed)
        )
        return sgd  # bare, so partial_fit reaches it: the online model scales its rows itself
    raise ConfigError(f"model {spec.kind!r}: expected one of {list(MODELS)}")


def predict_score(model: Any, x: np.ndarray) -> np.ndarray:
    """P(label = 1) of a classifier, the prediction of a regressor or a constant model."""
    if isinstance(model, ConstantModel) or not hasattr(model, "predict_proba"):
        return np.asarray(model.predict(x), dtype=np.float64)
    return np.asarray(model.predict_proba(x)[:, 1], dtype=np.float64)


# -- the cache ------------------------------------------------------------------------------

_MEMORY: OrderedDict[str, Any] = OrderedDict()
_MEMORY_SIZE = 512
_STATS = {"fits": 0, "memory_hits": 0, "disk_hits": 0}


def _key(spec: ModelSpec, x: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256(repr(sorted(asdict(spec).items())).encode())
    h.update(np.ascontiguousarray(x, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    h.update(str(x.shape).encode())
    return h.hexdigest()


def _fit(spec: ModelSpec, x: np.ndarray, y: np.ndarray) -> Any:
    if spec.task == "classify" and len(np.unique(y)) < 2:
        return ConstantModel(float(y[0]) if len(y) else 0.5)
    from threadpoolctl import threadpool_limits

    model = make_model(spec)
    # one BLAS/OpenMP thread: small fits only lose to thread start-up and, on a shared
    # machine, to spinning threads (L-BFGS steps went from ~0.1 to 4 ms under load)
    with threadpool_limits(limits=1):
        model.fit(x, y)
    _STATS["fits"] += 1
    return model


def fit_cached(spec: ModelSpec, x: np.ndarray, y: np.ndarray) -> Any:
    """Fit ``spec`` on ``(x, y)``, or return the identical model fitted before (memory, then
    the folder ``$GREKKO_ML_MODEL_DIR`` when set)."""
    key = _key(spec, x, y)
    if key in _MEMORY:
        _MEMORY.move_to_end(key)
        _STATS["memory_hits"] += 1
        return _MEMORY[key]
    folder = os.environ.get(MODEL_DIR_ENV)
    path = Path(folder) / f"{key}.pkl" if folder else None
    model = None
    if path is not None and path.is_file():
        try:
            model = pickle.loads(path.read_bytes())  # our own files, content-addressed
            _STATS["disk_hits"] += 1
        except Exception:  # a torn or foreign file: refit and overwrite it
            model = None
    if model is None:
        model = _fit(spec, x, y)
        if path is not None:
            with atomic_path(path) as tmp:  # a crash never leaves half a model
                tmp.write_bytes(pickle.dumps(model))
    _MEMORY[key] = model
    if len(_MEMORY) > _MEMORY_SIZE:
        _MEMORY.popitem(last=False)
    return model


def clear_cache() -> None:
    """Forget the in-memory models (what a crash does); the statistics restart at zero."""
    _MEMORY.clear()
    for k in _STATS:
        _STATS[k] = 0


def cache_stats() -> dict[str, int]:
    """Fits and cache hits since the last :func:`clear_cache`."""
    return dict(_STATS)
