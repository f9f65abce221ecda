"""Online learning: a model refitted on a cadence and updated with ``partial_fit`` on every closed bar.

The model's state at bar ``t`` is a pure function of the bars: at the last *retrain row*
``f <= t`` (epoch-aligned every ``cadence`` bars) a scaler and an SGD logistic model are
fitted on the last ``train`` purged rows; then, at each later bar ``s``, the row whose label
has just become known (``s - horizon``) is learned with ``partial_fit`` — one update per
closed bar — before row ``s`` is scored. So the backtest (one pass over the history) and the
live runner (the same function on its window, which holds the last retrain) decide the same
(the replay parity test), and a restarted process reuses the retrain fit persisted before
the crash (:func:`grekko_research.ml.models.fit_cached`) instead of refitting.

What a retrain learned is its *initial model* (:func:`retrain_model`: the window's scaler
moments, the batch fit's coefficients and its training log-loss, as one scikit-learn
pipeline); everything after it is the update rule (``OnlineSpec``: one SGD step per closed
bar) replayed over the bars. ``grekko promote`` logs the initial models; given them
(``models=``), :func:`online_scores` fits nothing and replays the updates.

Safety, as levels of exposure:

* **expiry** — the model is stale when its last successful update is more than ``expiry``
  bars old (a feed gap, a failed retrain): no position is held or entered on it;
* **drift** — a Page–Hinkley test on the prequential log-loss (each prediction scored when its
  label arrives) against the loss on the training window: above ``drift_warn`` the exposure is
  cut to ``reduce_to``, above ``drift_halt`` to zero until the next retrain resets it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numba import njit

from grekko_research.errors import ConfigError
from grekko_research.ml.models import ModelSpec, fit_cached
from grekko_research.ml.walkforward import (
    WalkForward,
    check_purged,
    fit_rows,
    given_model,
    span_text,
    training_rows,
)

__all__ = [
    "OnlineResult",
    "OnlineSpec",
    "SegmentData",
    "SegmentOut",
    "online_scores",
    "online_segment_nb",
    "retrain_model",
]

_EPS = 1e-6


@dataclass(frozen=True)
class OnlineSpec:
    """Cadence, expiry and drift thresholds of an online model."""

    train: int = 500
    cadence: int = 168
    horizon: int = 1
    expiry: int = 3
    drift_warn: float = 10.0
    drift_halt: float = 30.0
    drift_delta: float = 0.005
    reduce_to: float = 0.5
    eta: float = 0.01

    def __post_init__(self) -> None:
        if self.cadence < 1 or self.expiry < 0 or self.horizon < 1:
            raise ConfigError(f"online model: cadence >= 1, expiry >= 0, horizon >= 1; got {self}")
        if not 0 < self.drift_warn <= self.drift_halt:
            raise ConfigError("online model: 0 < drift_warn <= drift_halt is required")


@dataclass(frozen=True)
class OnlineResult:
    """Per row: score P(up), the exposure level in [0, 1], model age, drift statistic."""

    score: np.ndarray
    level: np.ndarray
    age: np.ndarray
    drift: np.ndarray
    updates: int
    retrains: int
    models: tuple[tuple[int, Any], ...] = ()  # (retrain row, initial model) with keep_models


@njit(cache=True)
def _clip_logloss(p: float, y: float) -> float:
    q = min(max(p, _EPS), 1.0 - _EPS)
    return -np.log(q) if y > 0.5 else -np.log(1.0 - q)


class SegmentData(NamedTuple):
    """One symbol's rows: raw features ``x`` ``(n, d)``; ``y``, ``end``, ``valid`` (label and
    features known) and ``valid_x`` (features known) ``(n,)``."""

    x: np.ndarray
    y: np.ndarray
    end: np.ndarray
    valid: np.ndarray
    valid_x: np.ndarray


class SegmentOut(NamedTuple):
    """Written per row: ``score`` P(up), ``age`` bars since the last update, ``drift`` the
    Page–Hinkley statistic; all ``(n,)``."""

    score: np.ndarray
    age: np.ndarray
    drift: np.ndarray


@njit(cache=True)
def online_segment_nb(
    data: SegmentData,
    w: np.ndarray,
    mu: np.ndarray,
    sd: np.ndarray,
    seg: np.ndarray,
    rates: np.ndarray,
    out: SegmentOut,
) -> int:
    """Run one retrain's model over rows ``seg[0] .. seg[1]-1``; return the updates made.

    ``w`` ``(d,)`` the batch fit's coefficients (updated in place: pass a copy); ``mu``, ``sd``
    ``(d,)`` the training window's moments; ``seg`` = (fit row, end row, horizon, first row
    with features); ``rates`` = (eta, alpha, drift delta, intercept, training log-loss). At
    each row ``t`` the label of row ``t - horizon`` (if it closes now) is first scored against
    the prediction made then (Page–Hinkley on the log-loss over the training loss), then
    learned by one SGD step on the log-loss with L2 (``partial_fit``), then row ``t`` is
    scored.
    """
    x, y, end, valid, valid_x = data
    score, age, drift = out
    eta, alpha, delta, b, base = rates[0], rates[1], rates[2], rates[3], rates[4]
    t0, t1, horizon, start = seg[0], seg[1], seg[2], seg[3]
    d = x.shape[1]
    xs = np.empty(d)
    last = t0
    ph = 0.0
    ph_min = 0.0
    updates = 0
    for t in range(t0, t1):
        i = t - horizon
        if t > t0 and i >= start and valid[i] and end[i] == t:
            if np.isfinite(score[i]) and i >= t0:
                ph += _clip_logloss(score[i], y[i]) - base - delta
                ph_min = min(ph_min, ph)
            z = b
            for k in range(d):
                xs[k] = (x[i, k] - mu[k]) / sd[k]
                z += xs[k] * w[k]
            g = 1.0 / (1.0 + np.exp(-min(max(z, -35.0), 35.0))) - y[i]
            for k in range(d):
                w[k] -= eta * (g * xs[k] + alpha * w[k])
            b -= eta * g
            last = t
            updates += 1
        if valid_x[t]:
            z = b
            for k in range(d):
                z += (x[t, k] - mu[k]) / sd[k] * w[k]
            score[t] = 1.0 / (1.0 + np.exp(-min(max(z, -35.0), 35.0)))
        age[t] = t - last
        drift[t] = ph - ph_min
    return updates


def _logloss(p: float, y: float) -> float:
    p = min(max(p, _EPS), 1 - _EPS)
    return -np.log(p) if y > 0.5 else -np.log(1 - p)


def retrain_model(fitted: Any, mu: np.ndarray, sd: np.ndarray, base: float) -> Any:
    """A retrain's initial model as one scikit-learn pipeline (MLflow's sklearn flavour logs it).

    ``scale`` holds the training window's moments (``mean_``, ``scale_``), ``model`` the batch
    fit; ``training_logloss_`` the loss the drift test measures against.
    """
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler()
    scaler.mean_, scaler.scale_, scaler.var_ = mu, sd, sd * sd
    scaler.n_features_in_, scaler.n_samples_seen_ = len(mu), 0
    pipe = Pipeline([("scale", scaler), ("model", fitted)])
    pipe.training_logloss_ = float(base)
    return pipe


def _state(model: Any) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, float]:
    """``(w, b, mu, sd, base)`` of a :func:`retrain_model` pipeline."""
    try:
        scaler, fitted = model.named_steps["scale"], model.named_steps["model"]
        return (np.asarray(fitted.coef_[0], dtype=np.float64), float(fitted.intercept_[0]),
                np.asarray(scaler.mean_, dtype=np.float64),
                np.asarray(scaler.scale_, dtype=np.float64), float(model.training_logloss_))  # fmt: skip
    except (AttributeError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"not an online model's retrain (a scale + model pipeline with "
            f"training_logloss_): {type(model).__name__}: {exc}"
        ) from None


def online_scores(
    x: np.ndarray,
    y: np.ndarray,
    end: np.ndarray,
    index: np.ndarray,
    bar_ms: int,
    spec: OnlineSpec,
    model: ModelSpec,
    *,
    start: int = 0,
    keep_models: bool = False,
    models: Mapping[int, Any] | None = None,
) -> OnlineResult:
    """Run the online model over one symbol's ``x`` ``(n, d)``, labels ``y``/``end`` ``(n,)``.

    ``keep_models`` returns every retrain's initial model (:func:`retrain_model`) with the
    result; ``models`` (those models by their retrain bar's open time, ms: e.g. reloaded
    from a registered model) replaces the retrain fits, and every retrain must be there. With
    :class:`~grekko_research.ml.walkforward.HeldModels` (a promoted model traded live), a
    retrain after the last of them starts again from the last one: its initial model, then
    the same per-bar updates until the next retrain (the drift test and the age reset with it).
    """
    n = x.shape[0]
    valid_x = np.isfinite(x).all(axis=1)
    valid = valid_x & np.isfinite(y)
    score = np.full(n, np.nan)
    level = np.zeros(n)
    age = np.full(n, -1, dtype=np.int64)
    drift = np.full(n, np.nan)
    wf = WalkForward(train=max(spec.train, 20), step=spec.cadence)
    fits = []  # (row, w, b, mu, sd, base) of every successful retrain
    kept: list[tuple[int, Any]] = []
    for t in fit_rows(index, bar_ms, spec.cadence, start + spec.train).tolist():
        rows = training_rows(valid, end, t, wf, start)
        check_purged(end, rows, t, 0)
        # a full window only: a partial one (the data's first rows) would make the model
        # depend on where the data starts, and cost a fit per live bar
        if len(rows) < spec.train or len(np.unique(y[rows])) < 2:
            continue  # the previous model carries on (and may go stale)
        if models is not None:
            given = given_model(models, int(index[t]))
            if given is None:
                raise ConfigError(
                    f"no model given for the retrain at {int(index[t])} ms (row {t}); models "
                    f"given: {span_text(models)}"
                )
            fits.append((t, *_state(given)))
            if keep_models:
                kept.append((t, given))
            continue
        # scaled by the training window's moments, frozen until the next retrain
        mu, sd = x[rows].mean(axis=0), x[rows].std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        xs = (x[rows] - mu) / sd
        fitted = fit_cached(model, xs, y[rows])  # shared: the updates go to a copy
        p_in = fitted.predict_proba(xs)[:, 1]
        base = float(np.mean([_logloss(a, b) for a, b in zip(p_in, y[rows], strict=True)]))
        fits.append((t, fitted.coef_[0].astype(np.float64), float(fitted.intercept_[0]), mu, sd,
                     base))  # fmt: skip
        if keep_models:
            kept.append((t, retrain_model(fitted, mu, sd, base)))
    updates = 0
    alpha = 1.0 / (model.regularization * spec.train)
    data = SegmentData(x, y, end, valid, valid_x)
    out = SegmentOut(score, age, drift)
    for k, (t0, w, b0, mu, sd, base) in enumerate(fits):
        t1 = fits[k + 1][0] if k + 1 < len(fits) else n
        seg = np.array([t0, t1, spec.horizon, start], dtype=np.int64)
        rates = np.array([spec.eta, alpha, spec.drift_delta, b0, base])
        updates += online_segment_nb(data, w.copy(), mu, sd, seg, rates, out)
    live = np.isfinite(score) & (age >= 0) & (age <= spec.expiry) & (drift <= spec.drift_halt)
    level[live] = np.where(drift[live] > spec.drift_warn, spec.reduce_to, 1.0)
    return OnlineResult(score, level, age, drift, updates, len(fits), tuple(kept))
