"""Walk-forward training: models refitted every ``step`` bars, each used only after its fit.

A model is fitted at the close of a *fit row* ``f`` — a row whose open time is a multiple of
``step`` bars since the epoch, so the schedule is the same whatever row the data starts at —
on the rows whose label was known by then: ``end[i] <= f - embargo`` (the purge; see
:mod:`grekko_research.ml.labels`). Sliding windows keep the last ``train`` such rows;
anchored ones keep all of them from the first row whose features are defined. The model
scores rows ``f`` to the next fit row, out of sample: every score comes from a model trained
strictly on what was known at its bar's close. :func:`check_purged` enforces that on every
fit and raises :class:`TrainingLeakError` otherwise.

Warm-up (sliding windows): a run started ``feature_warmup + train + horizon + embargo +
step`` rows later scores the same rows identically — the windows are then inside the data of
both. Anchored windows grow from the data's start, so their scores depend on it (they fail
the conformance warm-up check by design; use them for research, sliding ones to trade).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grekko_research.errors import ConfigError, GrekkoError
from grekko_research.ml.models import ModelSpec, fit_cached, predict_score

__all__ = [
    "FitWindow",
    "HeldModels",
    "TrainingLeakError",
    "WalkForward",
    "WalkForwardResult",
    "check_purged",
    "fit_rows",
    "given_model",
    "span_text",
    "training_rows",
    "walk_forward_scores",
]


class TrainingLeakError(GrekkoError, ValueError):
    """A model was about to be fitted on a label not yet known at its fit row."""


@dataclass(frozen=True)
class WalkForward:
    """The retraining schedule (FreqAI's train period and backtest period)."""

    train: int = 1000  # rows in a sliding window (anchored: the minimum)
    step: int = 168  # bars between refits
    embargo: int = 0  # extra rows between the last label's end and the fit
    anchored: bool = False

    def __post_init__(self) -> None:
        if self.train < 20 or self.step < 1 or self.embargo < 0:
            raise ConfigError(
                f"walk-forward needs train >= 20, step >= 1, embargo >= 0; got {self}"
            )


@dataclass(frozen=True)
class FitWindow:
    """One fit: at the close of ``fit_row``, on ``rows``; scores ``[fit_row, use_end)``."""

    fit_row: int
    use_end: int
    first: int
    last: int
    n_rows: int
    model: Any = field(repr=False, compare=False, default=None)


@dataclass(frozen=True)
class WalkForwardResult:
    """Scores per row (NaN: no model yet or no features) and the fits that made them."""

    score: np.ndarray
    model_row: np.ndarray  # fit row of the model that scored each row, -1 for none
    windows: list[FitWindow]


def fit_rows(index: np.ndarray, bar_ms: int, step: int, first: int) -> np.ndarray:
    """Rows ``>= first`` whose open time is a whole multiple of ``step`` bars since the epoch."""
    rows = np.flatnonzero((index // bar_ms) % step == 0)
    return rows[rows >= first]


def training_rows(
    valid: np.ndarray, end: np.ndarray, fit_row: int, wf: WalkForward, start: int
) -> np.ndarray:
    """The rows a model fitted at ``fit_row`` may learn from (purged, embargoed, windowed)."""
    known = np.flatnonzero(valid[:fit_row] & (end[:fit_row] >= 0))
    known = known[end[known] <= fit_row - wf.embargo]
    known = known[known >= start]
    return known if wf.anchored else known[-wf.train :]


def check_purged(end: np.ndarray, rows: np.ndarray, fit_row: int, embargo: int) -> None:
    """Raise :class:`TrainingLeakError` if a training row's label ends after ``fit_row - embargo``."""
    if len(rows) == 0:
        return
    late = rows[(end[rows] < 0) | (end[rows] > fit_row - embargo)]
    if len(late):
        r = int(late[0])
        raise TrainingLeakError(
            f"the model fitted at row {fit_row} would learn row {r}, whose label is known only "
            f"at row {int(end[r])}: labels must end by row {fit_row - embargo} (purge/embargo)"
        )


class HeldModels(Mapping[int, Any]):
    """One symbol's window models ``{fit time ms: model}`` traded after their span (a promoted
    model's, in ``grekko-live``): a window fitted after the last of them is given the last one,
    held until a newer promotion; a window inside their span without its model stays an error
    (:func:`given_model`). A plain mapping gives exactly its windows (research reproduction)."""

    def __init__(self, models: Mapping[int, Any]) -> None:
        if not models:
            raise ConfigError("no window models to trade")
        self._models = {int(t): m for t, m in models.items()}
        self.first, self.last = min(self._models), max(self._models)

    def __getitem__(self, t: int) -> Any:
        return self._models[t]

    def __iter__(self) -> Iterator[int]:
        return iter(self._models)

    def __len__(self) -> int:
        return len(self._models)


def given_model(models: Mapping[int, Any], t: int) -> Any | None:
    """The model given for the window fitted at ``t`` ms: its own; after the last of
    :class:`HeldModels`, the last; else ``None`` (the caller names the missing window)."""
    if t in models:
        return models[t]
    if isinstance(models, HeldModels) and t > models.last:
        return models[models.last]
    return None


def span_text(models: Mapping[int, Any]) -> str:
    if not models:
        return "none"
    return f"{len(models)}, fitted from {min(models)} to {max(models)} ms"


Selector = Callable[[np.ndarray, np.ndarray, int, WalkForward, int], np.ndarray]


def walk_forward_scores(
    x: np.ndarray,
    y: np.ndarray,
    end: np.ndarray,
    index: np.ndarray,
    bar_ms: int,
    wf: WalkForward,
    spec: ModelSpec,
    *,
    start: int = 0,
    select: Selector = training_rows,
    keep_models: bool = False,
    models: Mapping[int, Any] | None = None,
) -> WalkForwardResult:
    """Fit ``spec`` walk-forward on one symbol's ``x`` ``(n, d)`` and labels ``y``/``end``
    ``(n,)``; return out-of-sample scores for every row after the first fit.

    ``start`` is the first row whose features are defined; ``select`` picks each fit's rows
    (default :func:`training_rows`) and is checked by :func:`check_purged` whatever it is.
    A window with fewer than ``train`` usable rows (a gap in the data) keeps the previous
    model. ``models`` (fitted models by their fit bar's open time, ms: e.g. reloaded from a
    registered model's logged windows) replaces fitting: every window must be there (or,
    for :class:`HeldModels`, come after the last of them: the last is held).
    """
    n = x.shape[0]
    valid_x = np.isfinite(x).all(axis=1)
    valid = valid_x & np.isfinite(y)
    score = np.full(n, np.nan)
    model_row = np.full(n, -1, dtype=np.int64)
    windows: list[FitWindow] = []
    earliest = start + wf.train + wf.embargo  # the first full window could end here
    fits = fit_rows(index, bar_ms, wf.step, earliest)
    need = wf.train  # a partial sliding window would depend on where the data starts
    model: Any = None
    current = -1
    for i, f in enumerate(fits):
        f = int(f)
        use_end = int(fits[i + 1]) if i + 1 < len(fits) else n
        rows = select(valid, end, f, wf, start)
        check_purged(end, rows, f, wf.embargo)
        if len(rows) >= need:
            if models is None:
                model = fit_cached(spec, x[rows], y[rows])
            else:
                model = given_model(models, int(index[f]))
                if model is None:
                    raise ConfigError(
                        f"no model given for the window fitted at {int(index[f])} ms (row {f}); "
                        f"models given: {span_text(models)}"
                    )
            current = f
            windows.append(
                FitWindow(
                    f,
                    use_end,
                    int(rows[0]),
                    int(rows[-1]),
                    len(rows),
                    model if keep_models else None,
                )
            )
        if model is None:
            continue
        seg = np.arange(f, use_end)
        ok = seg[valid_x[seg]]
        if len(ok):
            score[ok] = predict_score(model, x[ok])
        model_row[seg] = current
    return WalkForwardResult(score, model_row, windows)
