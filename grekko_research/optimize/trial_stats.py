"""The overfitting statistics of a study, read from its trials' series a chunk at a time.

:func:`trial_statistics` needs every scored trial's daily returns but never holds them
all: one pass over the columns (:class:`~grekko_research.optimize.columns.ColumnSource`,
e.g. the trial series table) keeps each trial's Sharpe ratio and the per-block sums CSCV
combines (``S`` blocks, a few numbers each), and the effective number of trials comes from
:func:`~grekko_research.optimize.effective.cluster_trials_streamed` (exact up to 1,000
trials, a sample and an assignment pass beyond). Memory is ``O(N * S)`` numbers plus
``chunk`` columns instead of the ``(T, N)`` matrix and the ``O(N^2)`` distance matrices:
see ``benchmarks/studies_memory.py`` and docs/operations.md.
"""

from __future__ import annotations

import contextlib

import numpy as np

from grekko_research.errors import ConfigError
from grekko_research.metrics.pbo import PBOResult
from grekko_research.optimize.columns import ColumnSource, MatrixColumns, RowsOf
from grekko_research.optimize.effective import (
    EXACT_UP_TO,
    cluster_trials_streamed,
    effective_dsr,
)

__all__ = ["trial_statistics"]

CHUNK = 2000  # trials read at a time


def trial_statistics(
    returns: np.ndarray | ColumnSource,
    best: int,
    *,
    chunk: int = CHUNK,
    exact_up_to: int = EXACT_UP_TO,
) -> dict[str, float]:
    """Overfitting statistics of a study from its trials' daily returns (one column each).

    ``best`` is the selected trial's column. ``deflated_sharpe`` deflates its Sharpe
    ratio by every trial (``n_trials``, ``sharpe_variance``); ``deflated_sharpe_eff``
    deflates its cluster's by the effective number of independent trials ``n_eff``
    and their representatives' variance ``sharpe_variance_eff``
    (:mod:`~grekko_research.optimize.effective`). ``pbo``: the probability of
    backtest overfitting by CSCV. Days on which any trial's return is not finite are
    dropped for every trial (the selected trial's own statistics drop only its own).
    """
    from grekko_research.metrics.overfitting import deflated_sharpe_ratio

    source = MatrixColumns(returns) if isinstance(returns, np.ndarray) else returns
    n_rows, n_trials = source.shape
    out: dict[str, float] = {"n_trials": float(n_trials)}
    r = source.take([best])[:, 0]
    r = r[np.isfinite(r)]
    rows = np.ones(n_rows, dtype=bool)
    sharpes, pbo, finite = _one_pass(source, chunk)
    if not finite.all():  # rare: read again without the days some trial lacks
        rows = finite
        sharpes, pbo, _ = _one_pass(RowsOf(source, rows), chunk)
    kept = RowsOf(source, rows) if not rows.all() else source
    days = int(rows.sum())
    if len(r) > 3 and r.std(ddof=1) > 0:
        sr = r.mean() / r.std(ddof=1)
        z = (r - r.mean()) / r.std(ddof=0)
        out["sharpe_daily"] = float(sr)
        out["sharpe_variance"] = float(np.var(sharpes, ddof=1))
        out["deflated_sharpe"] = float(
            deflated_sharpe_ratio(
                sr, len(r), float(np.mean(z**3)), float(np.mean(z**4)),
                n_trials, float(np.var(sharpes, ddof=1)),
            )
        )  # fmt: skip
        if days >= 4:
            clusters = cluster_trials_streamed(kept, exact_up_to=exact_up_to, chunk=chunk)
            out["n_eff"] = float(clusters.n_clusters)
            out["cluster_quality"] = float(min(clusters.quality, 1e6))
            out["sharpe_variance_eff"] = clusters.sharpe_variance
            out["sharpe_daily_eff"] = float(clusters.representative_sharpes[clusters.labels[best]])
            with contextlib.suppress(ConfigError):  # a flat cluster: nothing to deflate
                out["deflated_sharpe_eff"] = effective_dsr(clusters, best)
    if pbo is not None:
        out["pbo"] = float(pbo.pbo)
        out["pbo_splits"] = float(pbo.n_splits)
    return out


def _one_pass(source: ColumnSource, chunk: int) -> tuple[np.ndarray, PBOResult | None, np.ndarray]:
    """Every trial's Sharpe ratio and CSCV's block sums, in one read.

    Returns the Sharpe ratios, the PBO result (None when the days are too few) and the
    mask of days on which every trial's return is finite; the first two hold only when
    that mask is all True.
    """
    from grekko_research.metrics.pbo import (
        _block_aggregates,
        _BlockAggregates,
        _blocks_checked,
        _cscv_nb,
        _cscv_out,
        _in_sample_sets,
        _pbo_result,
        _splits_checked,
    )

    n_rows, n_trials = source.shape
    splits = 16 if n_rows >= 64 else 8
    with_pbo = n_rows >= splits * 2
    sharpes = np.empty(n_trials)
    finite = np.ones(n_rows, dtype=bool)
    if with_pbo:
        s, n_comb = _splits_checked(splits, n_rows, n_trials)
        bounds, counts = _blocks_checked(n_rows, s, 0)
        shape = (n_trials, s)
        blocks = _BlockAggregates(np.empty(n_trials), np.empty(shape), np.empty(shape),
                                  np.empty(shape), np.empty(shape), counts)  # fmt: skip
    for lo, x in source.chunks(chunk):
        finite &= np.isfinite(x).all(axis=1)
        hi = lo + x.shape[1]
        std = x.std(axis=0, ddof=1)
        sharpes[lo:hi] = np.where(std > 0, x.mean(axis=0) / np.where(std > 0, std, 1.0), 0.0)
        if with_pbo:
            part = _block_aggregates(x, bounds, counts, 0)
            for whole, piece in zip(blocks[:5], part[:5], strict=True):
                whole[lo:hi] = piece
    if not with_pbo or not finite.all():
        return sharpes, None, finite
    out = _cscv_out(n_comb)
    _cscv_nb(0, blocks, _in_sample_sets(s), *out)
    return sharpes, _pbo_result(out, s, n_trials, "sharpe"), finite
