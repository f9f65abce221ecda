"""Probability of backtest overfitting by combinatorially symmetric cross-validation (CSCV).

Split out of :mod:`grekko_research.metrics.overfitting` (which re-exports it) so each module
holds one concern: this one the PBO, the performance degradation and the probability of loss;
that one the Sharpe-ratio statistics (PSR, DSR, MinTRL). Conventions and references: see
:mod:`grekko_research.metrics.overfitting`.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple, TypeAlias

import numpy as np
from numba import njit, prange

from grekko_research.errors import ConfigError

__all__ = [
    "MAX_COMBINATIONS",
    "DegradationFit",
    "MetricFunction",
    "MetricName",
    "PBOResult",
    "probability_of_backtest_overfitting",
]

MetricName: TypeAlias = Literal["sharpe", "mean", "total_return"]
MetricFunction: TypeAlias = Callable[[np.ndarray], np.ndarray]

MAX_COMBINATIONS = 1_000_000
"""Most CSCV combinations :func:`probability_of_backtest_overfitting` evaluates (``n_splits <= 22``)."""

_METRIC_CODES: dict[str, int] = {"sharpe": 0, "mean": 1, "total_return": 2}


# ---------------------------------------------------------------------------
# Probability of backtest overfitting (CSCV)


class DegradationFit(NamedTuple):
    """Least-squares line ``oos = intercept + slope · is`` through the selected trials."""

    slope: float
    intercept: float


@dataclass(frozen=True, eq=False)
class PBOResult:
    """Outcome of :func:`probability_of_backtest_overfitting` (arrays are read-only).

    Attributes
    ----------
    pbo
        Fraction of combinations whose in-sample winner ranks at or below the
        out-of-sample median (logit ``<= 0``).
    logits
        ``(n_combinations,)`` logit ``ln(ω / (1 − ω))`` of the winner's
        relative out-of-sample rank ``ω = rank / (N + 1)``.
    n_combinations, n_splits, n_trials
        ``C(S, S/2)``, ``S`` and ``N``.
    metric
        Name of the metric (``"sharpe"``, ``"mean"``, ``"total_return"`` or
        the callable's ``__name__``).
    selected
        ``(n_combinations,)`` int64: column of the in-sample winner.
    is_metric, oos_metric
        ``(n_combinations,)``: the winner's metric in and out of sample.
    performance_degradation
        Least-squares fit of ``oos_metric`` on ``is_metric``; a slope below 0
        means the better a winner looks in sample, the worse it does out of
        sample. NaN when every winner has the same in-sample value.
    probability_of_loss
        Fraction of combinations whose winner has ``oos_metric < 0``.
    """

    pbo: float
    logits: np.ndarray
    n_combinations: int
    n_splits: int
    n_trials: int
    metric: str
    selected: np.ndarray
    is_metric: np.ndarray
    oos_metric: np.ndarray
    performance_degradation: DegradationFit
    probability_of_loss: float


@njit(cache=True, nogil=True)
def _select_and_rank(is_val: np.ndarray, oos_val: np.ndarray) -> tuple[int, float]:
    """Return the in-sample winner (first on ties) and its average out-of-sample rank.

    ``is_val``, ``oos_val``: ``float64[N]``. The rank runs from 1 (worst) to
    ``N`` (best); trials tied with the winner out of sample share the average
    of their ranks.
    """
    n = is_val.shape[0]
    best = 0
    for j in range(1, n):
        if is_val[j] > is_val[best]:
            best = j
    target = oos_val[best]
    below = 0
    equal = 0
    for j in range(n):
        if oos_val[j] < target:
            below += 1
        elif oos_val[j] == target:
            equal += 1
    return best, below + (equal + 1) / 2.0


@njit(cache=True, nogil=True, error_model="numpy")
def _half_metric(
    code: int, n: float, c: float, s1: float, s2: float, lo: float, hi: float
) -> float:
    """Metric of one trial over a set of blocks, from the blocks' combined aggregates.

    ``n`` rows, ``c`` the column's shift; for code 0/1 ``s1``/``s2`` are the
    sums of ``r - c`` and ``(r - c)**2``, for code 2 ``s1`` is ``prod(1 + r)``;
    ``lo``/``hi`` are the smallest and largest return.
    """
    if code == 2:
        return s1 - 1.0
    mean_c = s1 / n
    if code == 1:
        return c + mean_c
    if hi == lo:  # no dispersion, detected exactly: Sharpe 0 by convention
        return 0.0
    var = (s2 - s1 * mean_c) / (n - 1.0)
    if var <= 0.0:  # rounding on a near-constant column
        return 0.0
    return (c + mean_c) / math.sqrt(var)


class _BlockAggregates(NamedTuple):
    """Per-block aggregates of every trial, what :func:`_cscv_nb` combines.

    Shapes: ``shift (N,)``; ``agg1, agg2, lo, hi (N, S)`` per trial and block (see
    :func:`_half_metric`); ``counts (S,)`` rows per block.
    """

    shift: np.ndarray
    agg1: np.ndarray
    agg2: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    counts: np.ndarray


class _CscvOut(NamedTuple):
    """What CSCV records per combination, ``(C,)`` each: the in-sample winner, its
    out-of-sample rank, its in-sample and out-of-sample metrics."""

    selected: np.ndarray
    rank: np.ndarray
    is_metric: np.ndarray
    oos_metric: np.ndarray


@njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def _cscv_nb(
    code: int,
    blocks: _BlockAggregates,
    in_sample: np.ndarray,
    selected: np.ndarray,
    rank: np.ndarray,
    is_out: np.ndarray,
    oos_out: np.ndarray,
) -> None:
    """Evaluate every CSCV combination from per-block aggregates.

    ``in_sample (C, S)`` bool, True where block ``s`` is in-sample in combination ``c``.
    Writes ``selected, rank, is_out, oos_out (C,)`` (the fields of :class:`_CscvOut`: passed
    one by one, as numba's parallel backend drops writes to arrays reached through a tuple).
    Each combination costs ``O(N·S)``, independent of the number of rows.
    """
    shift, agg1, agg2, lo, hi, counts = blocks
    n_comb, n_blocks = in_sample.shape
    n_trials = agg1.shape[0]
    for k in prange(n_comb):
        mask = in_sample[k]
        n_is = 0.0
        n_oos = 0.0
        for b in range(n_blocks):
            if mask[b]:
                n_is += counts[b]
            else:
                n_oos += counts[b]
        is_val = np.empty(n_trials)
        oos_val = np.empty(n_trials)
        for j in range(n_trials):
            if code == 2:
                a1, b1 = 1.0, 1.0
            else:
                a1, b1 = 0.0, 0.0
            a2 = b2 = 0.0
            alo = blo = np.inf
            ahi = bhi = -np.inf
            for b in range(n_blocks):
                if mask[b]:
                    if code == 2:
                        a1 *= agg1[j, b]
                    else:
                        a1 += agg1[j, b]
                    a2 += agg2[j, b]
                    alo = min(alo, lo[j, b])
                    ahi = max(ahi, hi[j, b])
                else:
                    if code == 2:
                        b1 *= agg1[j, b]
                    else:
                        b1 += agg1[j, b]
                    b2 += agg2[j, b]
                    blo = min(blo, lo[j, b])
                    bhi = max(bhi, hi[j, b])
            is_val[j] = _half_metric(code, n_is, shift[j], a1, a2, alo, ahi)
            oos_val[j] = _half_metric(code, n_oos, shift[j], b1, b2, blo, bhi)
        best, r = _select_and_rank(is_val, oos_val)
        selected[k] = best
        rank[k] = r
        is_out[k] = is_val[best]
        oos_out[k] = oos_val[best]


def _returns_matrix(returns_matrix: object) -> np.ndarray:
    try:
        m = np.asarray(returns_matrix, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("returns_matrix must be a 2-D array of numbers") from None
    if m.ndim != 2:
        raise ConfigError(f"returns_matrix must be 2-D (periods x trials), got shape {m.shape}")
    if not np.isfinite(m).all():
        bad = np.argwhere(~np.isfinite(m))
        row, col = (int(i) for i in bad[0])
        raise ConfigError(
            f"returns_matrix[{row}, {col}] is {m[row, col]} ({len(bad)} non-finite values): "
            "returns must be finite; drop rows that are not comparable across trials, and "
            "write 0 for periods a trial holds no position (e.g. its warm-up)"
        )
    return np.ascontiguousarray(m)


def _block_bounds(n_rows: int, n_splits: int) -> np.ndarray:
    """Return ``S + 1`` row boundaries; the first ``T mod S`` blocks get one extra row."""
    sizes = np.full(n_splits, n_rows // n_splits, dtype=np.int64)
    sizes[: n_rows % n_splits] += 1
    return np.concatenate(([0], np.cumsum(sizes)))


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _degradation(x: np.ndarray, y: np.ndarray) -> DegradationFit:
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if sxx == 0.0 or not math.isfinite(sxx):
        return DegradationFit(math.nan, math.nan)
    slope = float(dx @ (y - y.mean())) / sxx
    return DegradationFit(slope, float(y.mean()) - slope * float(x.mean()))


def probability_of_backtest_overfitting(
    returns_matrix: np.ndarray,
    n_splits: int = 16,
    metric: MetricName | MetricFunction = "sharpe",
) -> PBOResult:
    """Estimate the probability of backtest overfitting by CSCV.

    Combinatorially symmetric cross-validation (Bailey, Borwein, López de
    Prado & Zhu): split the ``T`` rows of ``returns_matrix`` into ``S``
    contiguous blocks; for each of the ``C(S, S/2)`` ways to choose ``S/2``
    blocks as the in-sample set (the other blocks, in time order, form the
    out-of-sample set),

    1. pick the trial ``n*`` with the best in-sample metric,
    2. rank all ``N`` trials by their out-of-sample metric and take the
       winner's relative rank ``ω = rank(n*) / (N + 1)``,
    3. record the logit ``λ = ln(ω / (1 − ω))``.

    ``PBO = #{λ <= 0} / C(S, S/2)``: how often the in-sample winner does no
    better than the median trial out of sample. Near 0 the selection process
    finds configurations that hold up; near or above 0.5 it is picking noise.

    Ties are resolved as follows: the in-sample winner is the lowest column
    index among equal best values; trials tied with the winner out of sample
    share the average of their ranks; ``λ == 0`` (the winner exactly at the
    median, possible for odd ``N`` or ties) counts as overfit.

    Parameters
    ----------
    returns_matrix
        ``(T, N)`` per-period returns, one column per trial (configuration),
        all on the same periods. Must be finite: NaN is rejected rather than
        skipped, because a trial's metric on partly missing rows would not be
        comparable with the others' — drop such rows for every trial, and
        write 0 where a trial is flat (e.g. its warm-up).
    n_splits
        Number of blocks ``S``: even, ``>= 2``, ``<= T`` and with
        ``C(S, S/2) <= 1,000,000`` (``S <= 22``). When ``S`` does not divide
        ``T`` the first ``T mod S`` blocks hold one row more.
    metric
        ``"sharpe"``: per-period ``mean / std(ddof=1)``, 0 when the returns
        of the set do not vary (a flat trial); ``"mean"``: mean return;
        ``"total_return"``: ``prod(1 + r) − 1`` over the set's rows in time
        order. Or a callable mapping a ``(t, N)`` array of returns (the set's
        rows in time order) to ``N`` finite scores, higher is better; it is
        called twice per combination on copies of the rows, so it costs
        ``O(T·N)`` per combination where the built-in metrics cost ``O(N·S)``.

    Returns
    -------
    PBOResult

    Raises
    ------
    ConfigError
        When the matrix is not 2-D and finite, ``N < 2``, ``n_splits`` is not
        an even integer in ``[2, T]``, there would be too many combinations,
        a ``"sharpe"`` half would hold fewer than 2 rows, the metric is
        unknown, or a callable returns the wrong shape or non-finite values.

    Notes
    -----
    The built-in metrics reduce each block to a few numbers per trial first
    (shifted sums and sums of squares, or compounded growth, with minimum and
    maximum), in ``O(T·N)``; each combination then combines ``S`` blocks per
    trial in ``O(N·S)`` inside a parallel numba kernel. On two cores,
    ``T = 9,000``, ``N = 1,000``, ``S = 16`` (12,870 combinations) took
    0.17-0.33 s once the kernel was compiled, 0.2 s of it in the kernel
    (compiling and caching it takes a few seconds, once per numba cache).
    """
    m = _returns_matrix(returns_matrix)
    n_rows, n_trials = m.shape
    s, n_comb = _splits_checked(n_splits, n_rows, n_trials)
    code, name = _metric_code(metric)
    bounds, counts = _blocks_checked(n_rows, s, code)
    in_sample, out = _in_sample_sets(s), _cscv_out(n_comb)
    if code >= 0:
        _cscv_nb(code, _block_aggregates(m, bounds, counts, code), in_sample, *out)
    else:
        fn: MetricFunction = metric  # type: ignore[assignment]  # callable(metric) above
        _cscv_callable(fn, name, m, bounds, in_sample, out)
    return _pbo_result(out, s, n_trials, name)


def _blocks_checked(n_rows: int, s: int, code: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the block bounds and row counts; refuse halves too short for the metric."""
    bounds = _block_bounds(n_rows, s)
    counts = np.diff(bounds).astype(np.float64)
    if code == 0 and int(np.sort(counts)[: s // 2].sum()) < 2:
        raise ConfigError(
            f"metric 'sharpe' needs at least 2 rows per half; {n_rows} rows in {s} blocks "
            "leave fewer"
        )
    return bounds, counts


def _in_sample_sets(s: int) -> np.ndarray:
    """``(C(S, S/2), S)`` bool: True where block ``b`` is in-sample in combination ``c``."""
    in_sample = np.zeros((math.comb(s, s // 2), s), dtype=np.bool_)
    for k, chosen in enumerate(itertools.combinations(range(s), s // 2)):
        in_sample[k, list(chosen)] = True
    return in_sample


def _cscv_out(n_comb: int) -> _CscvOut:
    return _CscvOut(
        np.empty(n_comb, dtype=np.int64), np.empty(n_comb), np.empty(n_comb), np.empty(n_comb)
    )


def _pbo_result(out: _CscvOut, s: int, n_trials: int, name: str) -> PBOResult:
    """The :class:`PBOResult` of the CSCV records ``out``."""
    selected, rank, is_metric, oos_metric = out
    n_comb = selected.shape[0]
    logits = np.log(rank / (n_trials + 1.0 - rank))
    return PBOResult(
        pbo=float(np.count_nonzero(logits <= 0.0)) / n_comb,
        logits=_frozen(logits),
        n_combinations=n_comb,
        n_splits=s,
        n_trials=n_trials,
        metric=name,
        selected=_frozen(selected),
        is_metric=_frozen(is_metric),
        oos_metric=_frozen(oos_metric),
        performance_degradation=_degradation(is_metric, oos_metric),
        probability_of_loss=float(np.count_nonzero(oos_metric < 0.0)) / n_comb,
    )


def _splits_checked(n_splits: int, n_rows: int, n_trials: int) -> tuple[int, int]:
    """Return ``(S, C(S, S/2))`` for a valid ``n_splits``; raise ``ConfigError`` otherwise."""
    if isinstance(n_splits, bool):
        raise ConfigError(f"n_splits must be an even integer >= 2, got {n_splits!r}")
    try:
        s = operator.index(n_splits)
    except TypeError:
        raise ConfigError(f"n_splits must be an even integer >= 2, got {n_splits!r}") from None
    if s < 2 or s % 2:
        raise ConfigError(f"n_splits must be an even integer >= 2, got {s}")
    if n_trials < 2:
        raise ConfigError(f"returns_matrix needs at least 2 trials (columns), got {n_trials}")
    if n_rows < s:
        raise ConfigError(f"returns_matrix has {n_rows} rows, fewer than n_splits={s} blocks")
    n_comb = math.comb(s, s // 2)
    if n_comb > MAX_COMBINATIONS:
        raise ConfigError(
            f"n_splits={s} gives {n_comb:,} combinations, more than {MAX_COMBINATIONS:,}; "
            "use n_splits <= 22"
        )
    return s, n_comb


def _metric_code(metric: MetricName | MetricFunction) -> tuple[int, str]:
    """Return the kernel's code of a built-in metric (-1: a callable) and the metric's name."""
    if callable(metric):
        return -1, str(getattr(metric, "__name__", type(metric).__name__))
    if isinstance(metric, str) and metric in _METRIC_CODES:
        return _METRIC_CODES[metric], metric
    raise ConfigError(
        f"metric must be one of {sorted(_METRIC_CODES)} or a callable, got {metric!r}"
    )


def _block_aggregates(
    m: np.ndarray, bounds: np.ndarray, counts: np.ndarray, code: int
) -> _BlockAggregates:
    """Reduce each block of ``m`` to the aggregates a built-in metric needs, in ``O(T·N)``."""
    n_trials = m.shape[1]
    s = bounds.shape[0] - 1
    shift = m.mean(axis=0)
    agg1 = np.empty((n_trials, s))
    agg2 = np.zeros((n_trials, s))
    lo = np.empty((n_trials, s))
    hi = np.empty((n_trials, s))
    for b in range(s):
        block = m[bounds[b] : bounds[b + 1]]
        lo[:, b] = block.min(axis=0)
        hi[:, b] = block.max(axis=0)
        if code == 2:
            agg1[:, b] = np.prod(1.0 + block, axis=0)
        else:
            centred = block - shift
            agg1[:, b] = centred.sum(axis=0)
            agg2[:, b] = (centred * centred).sum(axis=0)
    return _BlockAggregates(shift, agg1, agg2, lo, hi, counts)


def _cscv_callable(
    fn: MetricFunction,
    name: str,
    m: np.ndarray,
    bounds: np.ndarray,
    in_sample: np.ndarray,
    out: _CscvOut,
) -> None:
    """CSCV with a callable metric: each half's rows (in time order) scored by ``fn``."""
    n_comb, s = in_sample.shape
    n_trials = m.shape[1]
    blocks = [np.arange(bounds[b], bounds[b + 1]) for b in range(s)]
    for k in range(n_comb):
        rows_is = np.concatenate([blocks[b] for b in range(s) if in_sample[k, b]])
        rows_oos = np.concatenate([blocks[b] for b in range(s) if not in_sample[k, b]])
        is_val = _call_metric(fn, name, m[rows_is], n_trials)
        oos_val = _call_metric(fn, name, m[rows_oos], n_trials)
        best, r = _select_and_rank(is_val, oos_val)
        out.selected[k], out.rank[k] = best, r
        out.is_metric[k], out.oos_metric[k] = is_val[best], oos_val[best]


def _call_metric(fn: MetricFunction, name: str, rows: np.ndarray, n_trials: int) -> np.ndarray:
    rows.setflags(write=False)  # a fancy-indexed copy: the metric must not write to it anyway
    out = np.asarray(fn(rows), dtype=np.float64)
    if out.shape != (n_trials,):
        raise ConfigError(
            f"metric {name} returned shape {out.shape} for a {rows.shape} block, "
            f"expected ({n_trials},)"
        )
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise ConfigError(
            f"metric {name} returned {out[bad[0]]} for trial {bad[0]}: scores must be finite"
        )
    return np.ascontiguousarray(out)
