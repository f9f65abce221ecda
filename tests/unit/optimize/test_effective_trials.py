"""Effective number of trials: clustering recovers K independent strategies, and the DSR
deflated by them passes a real edge that the raw-N DSR fails while noise still fails."""

from __future__ import annotations

import numpy as np
import pytest

from grekko_research.errors import ConfigError
from grekko_research.metrics import deflated_sharpe_ratio
from grekko_research.optimize.effective import cluster_trials, effective_dsr
from grekko_research.optimize.sweep import trial_statistics


def _study(seed: int, edges: list[float], copies: int = 50, days: int = 500) -> np.ndarray:
    """Daily returns of ``len(edges)`` distinct strategies (daily Sharpe ~ edge), each copied
    ``copies`` times with its own noise: what a sweep over neighbouring parameters gives."""
    rng = np.random.default_rng(seed)
    base = [rng.normal(0.01 * e, 0.01, days) for e in edges]
    cols = [b + rng.normal(0, 0.006, days) for b in base for _ in range(copies)]
    return np.column_stack(cols)


def _best(matrix: np.ndarray) -> int:
    return int(np.argmax(matrix.mean(axis=0) / matrix.std(axis=0, ddof=1)))


@pytest.mark.parametrize("k", [2, 3, 5, 8])
def test_k_distinct_strategies_copied_many_times_give_n_eff_k(k: int) -> None:
    rng = np.random.default_rng(k)
    base = rng.normal(0, 0.01, (400, k))
    copies = np.column_stack([base[:, i % k] + rng.normal(0, 0.004, 400) for i in range(15 * k)])
    clusters = cluster_trials(copies)
    assert clusters.n_clusters == k
    # every copy of a strategy lands in its strategy's cluster, one cluster per strategy
    truth = np.arange(15 * k) % k
    pairs = {(int(t), int(c)) for t, c in zip(truth, clusters.labels, strict=True)}
    assert len(pairs) == k


def test_copies_of_one_strategy_are_one_cluster_and_clustering_is_deterministic() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(0, 0.01, 300)
    same = np.column_stack([base + rng.normal(0, 1e-4, 300) for _ in range(20)])
    assert cluster_trials(same).n_clusters == 1
    study = _study(3, [0.1, 0.0, -0.1])
    a, b = cluster_trials(study), cluster_trials(study)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.sharpe_variance == b.sharpe_variance


def test_real_edge_fails_raw_dsr_and_passes_with_effective_trials() -> None:
    """Four parameter regions (daily SR 0.4, 0.1, 0, -0.1), 50 neighbours each: the raw DSR
    takes the 200 trials for 200 independent draws and fails the edge; N_eff = 4 passes it."""
    for seed in range(3):
        study = _study(seed, [0.4, 0.1, 0.0, -0.1])
        stats = trial_statistics(study, _best(study))
        assert stats["n_trials"] == 200 and stats["n_eff"] == 4
        assert stats["deflated_sharpe"] < 0.95, seed  # today's raw-N DSR refuses it
        assert stats["deflated_sharpe_eff"] >= 0.95, seed


def test_noise_study_still_fails_with_effective_trials() -> None:
    for seed in range(3):
        study = _study(seed, [0.0, 0.0, 0.0, 0.0])
        stats = trial_statistics(study, _best(study))
        assert stats["n_eff"] == 4
        assert stats["deflated_sharpe_eff"] < 0.95, seed
        assert stats["deflated_sharpe"] < 0.95, seed


def test_effective_dsr_is_the_dsr_of_the_selected_cluster_with_n_eff_and_v_eff() -> None:
    study = _study(1, [0.3, 0.0, -0.2])
    clusters = cluster_trials(study)
    best = _best(study)
    r = clusters.representatives[:, clusters.labels[best]]
    z = (r - r.mean()) / r.std()
    expected = deflated_sharpe_ratio(
        r.mean() / r.std(ddof=1), r.size, float(np.mean(z**3)), float(np.mean(z**4)),
        3, float(np.var(clusters.representative_sharpes, ddof=1)),
    )  # fmt: skip
    assert effective_dsr(clusters, best) == pytest.approx(expected, rel=1e-12)


def test_bad_returns_are_refused_naming_the_problem() -> None:
    with pytest.raises(ConfigError, match="n_trials >= 2"):
        cluster_trials(np.zeros((10, 1)))
    bad = np.ones((10, 3))
    bad[4, 1] = np.nan
    with pytest.raises(ConfigError, match="finite"):
        cluster_trials(bad)
