"""The effective number of independent trials of a study, and the Deflated Sharpe it implies.

A sweep's trials are not independent: neighbouring parameters trade almost the same
way, and a sampler that revisits a region adds near-copies. The Deflated Sharpe Ratio
(Bailey & López de Prado, 2014) asks how likely the best Sharpe ratio is to come from
``N`` independent skill-less trials whose Sharpe ratios vary by ``V``; feeding it every
trial over-counts ``N`` (copies), and feeding it the spread of all trials mistakes real
differences between parameter regions for luck.

The remedy (López de Prado & Lewis, 2019, "Detection of false investment strategies
using unsupervised learning methods", Quantitative Finance 19(9); López de Prado, 2020,
*Machine Learning for Asset Managers*, ch. 4 and 8) is to cluster the trials' return
series and deflate by the clusters:

1. correlation distance ``d_ij = sqrt((1 - rho_ij) / 2)`` between the trials' daily
   returns (a trial without dispersion correlates 0 with every other);
2. the base step of ONC ("optimal number of clusters"): partition the rows of the
   distance matrix (each trial described by its distances to all others) for every
   ``k`` in ``2 .. max_clusters`` and keep the partition with the best quality
   ``mean(silhouette) / std(silhouette)`` (scikit-learn's ``silhouette_samples``).
   ONC partitions with k-means restarts; here one Ward tree (``scipy.cluster.hierarchy``)
   cut at every ``k`` gives the candidates: deterministic (no seed) and a single
   ``O(n^2)`` fit instead of ``n_init * k`` k-means fits, so it scales to every ``k``
   up to ``n - 1``. When every pair correlates above ``same_above`` the study is one
   cluster (silhouettes are undefined for ``k = 1``);
3. ``N_eff`` = the number of clusters; each cluster is represented by the
   inverse-variance portfolio of its trials' returns, and ``V_eff`` is the variance of
   those representatives' Sharpe ratios;
4. ``DSR_eff = PSR(SR*)`` of the selected trial's cluster representative with
   ``SR* = E[max]`` of ``N_eff`` draws of variance ``V_eff``
   (:func:`grekko_research.metrics.deflated_sharpe_ratio`): the selection that
   matters is between clusters; within one, the luckiest copy is no better.

The raw-``N`` DSR stays reported beside it.

Step 2 costs ``O(N^2)`` memory and about ``O(N^3)`` time, so :func:`cluster_trials_streamed`
(what the sweep calls) runs it exactly up to ``EXACT_UP_TO`` (1,000) trials and, for larger
studies, on an evenly spaced sample of that many trials, assigning the others to the nearest
cluster centroid a chunk at a time (CLARA; see its docstring).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from grekko_research.errors import ConfigError
from grekko_research.optimize.columns import ColumnSource

__all__ = ["TrialClusters", "cluster_trials", "cluster_trials_streamed", "effective_dsr"]

EXACT_UP_TO = 1000
"""Studies with at most this many scored trials are clustered exactly (:func:`cluster_trials`)."""
_SLICE = 256  # trials assigned at a time: bounds the (trials, sample) distance temporaries


@dataclass(frozen=True)
class TrialClusters:
    """A partition of a study's trials into (nearly) independent strategies.

    Attributes
    ----------
    labels
        Cluster of each trial (column of the returns matrix), ``0 .. n_clusters - 1``.
    quality
        ``mean / std`` of the silhouette scores of the chosen partition (``inf`` for one
        cluster, which has no silhouette).
    representatives : ndarray, shape (n_obs, n_clusters)
        Returns of each cluster's inverse-variance portfolio of its trials.
    """

    labels: np.ndarray
    quality: float
    representatives: np.ndarray

    @property
    def representative_sharpes(self) -> np.ndarray:
        """Per-period Sharpe ratio of each cluster's representative."""
        return _sharpe(self.representatives)

    @property
    def n_clusters(self) -> int:
        """``N_eff``: the number of clusters."""
        return int(self.representative_sharpes.size)

    @property
    def sharpe_variance(self) -> float:
        """``V_eff``: variance of the representatives' Sharpe ratios (0 for one cluster)."""
        s = self.representative_sharpes
        return float(np.var(s, ddof=1)) if s.size > 1 else 0.0


def _sharpe(x: np.ndarray) -> np.ndarray:
    std = x.std(axis=0, ddof=1)
    mean = x.mean(axis=0)
    return np.where(std > 0, mean / np.where(std > 0, std, 1.0), 0.0)


def _correlation(returns: np.ndarray) -> np.ndarray:
    std = returns.std(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(returns, rowvar=False)
    corr = np.where(np.isfinite(corr), corr, 0.0)  # no dispersion: unrelated to anything
    np.fill_diagonal(corr, 1.0)
    flat = std <= 0
    corr[flat, :] = 0.0
    corr[:, flat] = 0.0
    corr[flat, flat] = 1.0
    return np.clip(corr, -1.0, 1.0)


def _representatives(returns: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Returns of each cluster's inverse-variance portfolio of its trials, shape (n_obs, k)."""
    out = np.empty((returns.shape[0], k))
    var = returns.var(axis=0, ddof=1)
    for c in range(k):
        members = returns[:, labels == c]
        v = var[labels == c]
        w = np.where(v > 0, 1.0 / np.where(v > 0, v, 1.0), 0.0)
        series = members @ (w / w.sum()) if w.sum() > 0 else members.mean(axis=1)
        out[:, c] = series
    return out


def cluster_trials(
    returns: np.ndarray,
    *,
    max_clusters: int | None = None,
    same_above: float = 0.99,
) -> TrialClusters:
    """Cluster the trials (columns of ``returns``) by the correlation of their returns (ONC base).

    Parameters
    ----------
    returns : ndarray, shape (n_obs, n_trials)
        Per-period (daily) returns of every trial, finite, ``n_trials >= 2``.
    max_clusters
        Largest ``k`` tried; default ``n_trials - 1`` (also capped by the number of
        distinct trials minus one).
    same_above
        When every pair of trials correlates above this, the study is one cluster.

    Raises
    ------
    ConfigError
        When ``returns`` is not 2-D with at least 2 rows and 2 columns of finite numbers.
    """
    x = _checked(returns)
    labels, quality, _ = _onc_base(x, max_clusters, same_above)
    return TrialClusters(labels, quality, _representatives(x, labels, int(labels.max()) + 1))


def cluster_trials_streamed(
    source: ColumnSource,
    *,
    exact_up_to: int = EXACT_UP_TO,
    chunk: int = 2000,
    max_clusters: int | None = None,
    same_above: float = 0.99,
) -> TrialClusters:
    """Cluster a study of any size in bounded memory: exact up to ``exact_up_to`` trials.

    ``N <= exact_up_to``: :func:`cluster_trials` on the whole matrix (the same result).
    Larger studies (the ONC base needs ``O(N^2)`` memory and about ``O(N^3)`` time) are
    clustered the CLARA way (Kaufman & Rousseeuw, 1990, ch. 3): the ONC base step runs on
    ``exact_up_to`` trials evenly spaced in trial order (deterministic, no seed: a sampler's
    early exploration and late exploitation are both represented), which fixes ``N_eff``,
    the quality and the sampled trials' clusters; every other trial joins the cluster whose
    centroid is nearest in the space the Ward tree was grown in (each trial described by its
    correlation distances to the ``m`` sampled trials). The representatives are accumulated
    chunk by chunk. Memory: ``O(m^2 + chunk * m + T * k)`` plus the ``N`` labels; time
    ``O(N * m * T)`` for the assignment. When the sample is one cluster (every sampled pair
    correlates above ``same_above``) every trial joins it.

    Parameters
    ----------
    source : ColumnSource, shape (n_obs, n_trials)
        Per-period returns, finite, ``n_trials >= 2``.
    exact_up_to
        Sample size ``m`` (``>= 2``) and the largest study clustered exactly.
    chunk
        Trials read at a time.

    Raises
    ------
    ConfigError
        As :func:`cluster_trials`; naming the first trial (column) with a non-finite return.
    """
    n_obs, n = source.shape
    if exact_up_to < 2 or chunk < 1:
        raise ConfigError(f"exact_up_to must be >= 2 and chunk >= 1, got {exact_up_to}, {chunk}")
    if n <= exact_up_to:
        return cluster_trials(source.take(range(n)), max_clusters=max_clusters,
                              same_above=same_above)  # fmt: skip
    sample = np.unique(np.linspace(0, n - 1, exact_up_to).round().astype(np.int64))
    xs = _checked(source.take(sample.tolist()))
    sample_labels, quality, dist = _onc_base(xs, max_clusters, same_above)
    k = int(sample_labels.max()) + 1
    zs, flat_s = _standardised(xs)
    centroids = np.stack([dist[sample_labels == c].mean(axis=0) for c in range(k)])  # (k, m)
    c_sq = (centroids * centroids).sum(axis=1)
    labels = np.empty(n, dtype=np.int64)
    weighted, plain = np.zeros((n_obs, k)), np.zeros((n_obs, k))
    weight, count = np.zeros(k), np.zeros(k)
    for lo, x in source.chunks(chunk):
        if not np.isfinite(x).all():
            col = lo + int(np.argwhere(~np.isfinite(x))[0, 1])
            raise ConfigError(f"returns must be finite: trial column {col} is not")
        width = x.shape[1]
        lab = np.zeros(width, dtype=np.int64)
        for a in range(0, width if k > 1 else 0, _SLICE):  # (slice, m) temporaries only
            z, flat = _standardised(x[:, a : a + _SLICE])
            rho = np.clip(z.T @ zs / n_obs, -1.0, 1.0)  # (slice, m)
            rho[np.ix_(flat, flat_s)] = 1.0  # trials without dispersion: as _correlation
            f = np.sqrt(np.clip((1.0 - rho) / 2.0, 0.0, None))
            d2 = (f * f).sum(axis=1)[:, None] - 2.0 * (f @ centroids.T) + c_sq[None, :]
            lab[a : a + _SLICE] = np.argmin(d2, axis=1)
        cols = np.arange(lo, lo + width)
        at = np.searchsorted(sample, cols)
        mine = (at < sample.size) & (sample[np.minimum(at, sample.size - 1)] == cols)
        lab[mine] = sample_labels[at[mine]]  # a sampled trial keeps its tree's cluster
        labels[lo : lo + width] = lab
        var = x.var(axis=0, ddof=1)
        w = np.where(var > 0, 1.0 / np.where(var > 0, var, 1.0), 0.0)
        onehot = np.zeros((width, k))
        onehot[np.arange(width), lab] = 1.0
        weighted += x @ (onehot * w[:, None])
        plain += x @ onehot
        weight += w @ onehot
        count += onehot.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = np.where(weight > 0, weighted / np.where(weight > 0, weight, 1.0), plain / count)
    return TrialClusters(labels, quality, reps)


def _standardised(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Columns scaled to mean 0 and (population) std 1, so ``z_i . z_j / T = rho_ij``;
    columns without dispersion are 0 (and flagged)."""
    std = x.std(axis=0)
    flat = std <= 0
    return (x - x.mean(axis=0)) / np.where(flat, 1.0, std), flat


def _checked(returns: np.ndarray) -> np.ndarray:
    x = np.asarray(returns, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ConfigError(f"returns must be (n_obs >= 2, n_trials >= 2), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ConfigError("returns must be finite (drop the rows of a missing day first)")
    return x


def _onc_base(
    x: np.ndarray, max_clusters: int | None, same_above: float
) -> tuple[np.ndarray, float, np.ndarray]:
    """Labels ``0 .. k-1`` (first appearance order), quality, and the distance matrix."""
    n = x.shape[1]
    corr = _correlation(x)
    dist = np.sqrt(np.clip((1.0 - corr) / 2.0, 0.0, None))
    one = np.zeros(n, dtype=np.int64)
    if corr[~np.eye(n, dtype=bool)].min() > same_above:
        return one, float("inf"), dist
    distinct = len(np.unique(np.round(dist, 12), axis=0))
    top = min(n - 1, n if max_clusters is None else max_clusters, max(distinct - 1, 2))
    best: tuple[float, np.ndarray] | None = None
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import silhouette_samples

    with warnings.catch_warnings():  # the rows of the distance matrix are the observations
        warnings.simplefilter("ignore")
        tree = linkage(dist, method="ward")
    from scipy.spatial.distance import pdist, squareform

    rows = squareform(pdist(dist))  # once: the silhouettes of every k reuse it
    for k in range(2, top + 1):
        labels = fcluster(tree, t=k, criterion="maxclust")
        if len(np.unique(labels)) < 2:
            continue
        sil = silhouette_samples(rows, labels, metric="precomputed")
        sd = sil.std()
        quality = float(sil.mean() / sd) if sd > 0 else float("inf")
        if best is None or quality > best[0]:
            best = (quality, labels)
    if best is None:  # every partition collapsed: the trials are one strategy
        return one, float("inf"), dist
    _, raw = best
    # Number the clusters 0..k-1 in order of first appearance (stable across equal runs).
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[inverse].astype(np.int64), best[0], dist


def effective_dsr(clusters: TrialClusters, selected: int) -> float:
    """The Deflated Sharpe of trial ``selected``'s cluster, deflated by ``N_eff`` and ``V_eff``.

    The selected trial is represented by its cluster's inverse-variance portfolio (as
    López de Prado & Lewis, 2019): its copies' noise averages out, so picking the
    luckiest of many near-identical trials earns nothing; the choice between clusters
    is what the deflation accounts for.
    """
    from grekko_research.metrics.overfitting import deflated_sharpe_ratio

    r = clusters.representatives[:, clusters.labels[selected]]
    sd = r.std(ddof=1)
    if r.size < 4 or not sd > 0:
        raise ConfigError("the selected cluster needs at least 4 returns with dispersion")
    z = (r - r.mean()) / r.std(ddof=0)
    return float(
        deflated_sharpe_ratio(
            r.mean() / sd, r.size, float(np.mean(z**3)), float(np.mean(z**4)),
            clusters.n_clusters, clusters.sharpe_variance,
        )
    )  # fmt: skip
