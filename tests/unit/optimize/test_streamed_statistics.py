"""Study statistics read a chunk of trials at a time equal the whole-matrix ones; beyond the
exact size, the sampled effective-trials estimate finds the same clusters as the exact one."""

from __future__ import annotations

import numpy as np
import pytest

from grekko_research.errors import ConfigError
from grekko_research.metrics import probability_of_backtest_overfitting
from grekko_research.optimize.columns import MatrixColumns
from grekko_research.optimize.effective import cluster_trials, cluster_trials_streamed
from grekko_research.optimize.trial_stats import trial_statistics


def _planted(seed: int, k: int, n: int, days: int = 300, noise: float = 0.006) -> np.ndarray:
    """``n`` trials, copies (own noise) of ``k`` strategies with different edges, shuffled."""
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0005 * np.arange(k), 0.01, (days, k))
    which = rng.permutation(np.arange(n) % k)
    return base[:, which] + rng.normal(0, noise, (days, n))


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_chunked_statistics_equal_the_whole_matrix_ones() -> None:
    m = _planted(0, 4, 120)
    m[17, 5] = np.nan  # a day one trial lacks: dropped for every trial
    best = int(np.nanargmax(np.nanmean(m, axis=0)))
    whole = trial_statistics(m, best, chunk=10_000)
    chunked = trial_statistics(MatrixColumns(m), best, chunk=7)
    assert chunked == pytest.approx(whole, rel=1e-12)
    kept = np.delete(m, 17, axis=0)
    pbo = probability_of_backtest_overfitting(kept, n_splits=16)
    assert whole["pbo"] == pbo.pbo and whole["pbo_splits"] == 16
    clusters = cluster_trials(kept)
    assert whole["n_eff"] == clusters.n_clusters == 4
    assert whole["sharpe_variance_eff"] == pytest.approx(clusters.sharpe_variance, rel=1e-12)


def test_up_to_the_exact_size_the_streamed_clustering_is_the_exact_one() -> None:
    m = _planted(1, 3, 90)
    exact = cluster_trials(m)
    streamed = cluster_trials_streamed(MatrixColumns(m), exact_up_to=90, chunk=8)
    np.testing.assert_array_equal(streamed.labels, exact.labels)
    np.testing.assert_allclose(streamed.representatives, exact.representatives, rtol=1e-12)


@pytest.mark.parametrize(("seed", "k", "flat"), [(2, 3, False), (3, 6, True)])
def test_beyond_it_the_sample_and_assignment_find_the_exact_clusters(
    seed: int, k: int, flat: bool
) -> None:
    m = _planted(seed, k, 240)
    if flat:  # 11 trials that never trade: their own cluster (they correlate 1 together)
        m[:, 7::23] = 0.0
    exact = cluster_trials(m)
    sampled = cluster_trials_streamed(MatrixColumns(m), exact_up_to=60, chunk=50)
    assert sampled.n_clusters == exact.n_clusters == k + flat
    assert _same_partition(sampled.labels, exact.labels)
    # the same members: the same inverse-variance representatives (up to summation order)
    assert sorted(sampled.representative_sharpes) == pytest.approx(
        sorted(exact.representative_sharpes), rel=1e-9
    )
    assert sampled.sharpe_variance == pytest.approx(exact.sharpe_variance, rel=1e-9)


def test_one_strategy_stays_one_cluster_and_bad_input_is_named() -> None:
    rng = np.random.default_rng(4)
    base = rng.normal(0, 0.01, 200)
    same = np.column_stack([base + rng.normal(0, 1e-4, 200) for _ in range(50)])
    one = cluster_trials_streamed(MatrixColumns(same), exact_up_to=10, chunk=9)
    assert one.n_clusters == 1 and (one.labels == 0).all()
    same[3, 31] = np.inf  # not one of the sampled trials
    with pytest.raises(ConfigError, match="trial column 31"):
        cluster_trials_streamed(MatrixColumns(same), exact_up_to=10, chunk=9)
