"""Market regimes from a Gaussian HMM on return and volatility, fitted walk-forward.

    states = hmm_regimes(close, HmmParams(n_states=3))
    states.label        # (n,) 0 = the lowest-mean-return state ... n_states - 1 = the highest
    states.prob         # (n, n_states) filtered probabilities P(state at t | data <= t)
    states.fits         # one row per fit: where, on which rows, each state's mean and volatility

Causality: a model is fitted at bar ``f`` (every ``refit`` bars from ``min_train``) on the
``train`` bars before ``f`` only, then labels bars ``f .. f + refit - 1`` by the forward
filter (never Viterbi or smoothed probabilities, which use later bars), run from the start of
its training window. The fit points are absolute bar numbers, so ``bars[:t]`` reproduces the
first ``t`` labels. States are reordered by their mean return so labels are comparable
across fits. The filter is a numba kernel; hmmlearn only fits.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numba import njit

from grekko_research.errors import ConfigError

__all__ = ["HmmParams", "HmmRegimes", "filter_nb", "hmm_features", "hmm_regimes"]


@dataclass(frozen=True)
class HmmParams:
    """Walk-forward Gaussian HMM settings (bounds in ``metadata`` as for strategy params)."""

    n_states: int = field(default=3, metadata={"bounds": (2, 5)})
    vol_window: int = field(default=20, metadata={"bounds": (5, 200)})
    train: int = field(default=500, metadata={"bounds": (100, 10_000)})
    min_train: int = field(default=250, metadata={"bounds": (50, 10_000)})
    refit: int = field(default=50, metadata={"bounds": (1, 1000)})
    n_iter: int = field(default=50, metadata={"bounds": (5, 500)})
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_states < 2:
            raise ConfigError(f"HmmParams: n_states must be >= 2, got {self.n_states}")
        if self.vol_window < 2 or self.refit < 1 or self.n_iter < 1:
            raise ConfigError("HmmParams: vol_window >= 2, refit >= 1 and n_iter >= 1 are required")
        if not 10 * self.n_states <= self.min_train <= self.train:
            raise ConfigError(
                f"HmmParams: need 10 * n_states <= min_train <= train, got "
                f"min_train={self.min_train}, train={self.train}"
            )


@dataclass(frozen=True, eq=False)
class HmmRegimes:
    """Labels, filtered probabilities and the fits that produced them."""

    label: np.ndarray  # (n,) float: state 0..K-1 by mean return, NaN before the first fit
    prob: np.ndarray  # (n, K) filtered probabilities
    fits: pd.DataFrame


def hmm_features(close: np.ndarray, vol_window: int) -> np.ndarray:
    """Return ``(n, 2)``: the log return and its trailing ``vol_window`` standard deviation."""
    c = np.asarray(close, dtype=np.float64)
    r = np.full(c.shape[0], np.nan)
    r[1:] = np.log(c[1:] / c[:-1])
    vol = pd.Series(r).rolling(vol_window, min_periods=vol_window).std().to_numpy()
    return np.column_stack([r, vol])


@njit(cache=True, nogil=True)
def filter_nb(
    loglik: np.ndarray,
    log_start: np.ndarray,
    log_trans: np.ndarray,
    out: np.ndarray,
    write_from: int,
) -> None:
    """Forward-filter ``loglik`` ``(n, K)``; write ``P(state_t | rows <= t)`` into ``out[t]`` for t >= ``write_from``.

    A row of NaN log-likelihoods (missing data) only propagates the prior.
    """
    n, k = loglik.shape
    alpha = log_start.copy()
    nxt = np.empty(k)
    for t in range(n):
        if t > 0:
            for j in range(k):
                m = -np.inf
                for i in range(k):
                    m = max(m, alpha[i] + log_trans[i, j])
                s = 0.0
                for i in range(k):
                    s += np.exp(alpha[i] + log_trans[i, j] - m)
                nxt[j] = m + np.log(s)
            alpha[:] = nxt
        if loglik[t, 0] == loglik[t, 0]:
            for j in range(k):
                alpha[j] += loglik[t, j]
        m = alpha.max()
        s = 0.0
        for j in range(k):
            s += np.exp(alpha[j] - m)
        norm = m + np.log(s)
        for j in range(k):
            alpha[j] -= norm  # keep alpha normalised: log P(state | data so far)
        if t >= write_from:
            for j in range(k):
                out[t, j] = np.exp(alpha[j])


def _diag_loglik(x: np.ndarray, means: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Gaussian log-density of each row of ``x`` ``(n, d)`` under each state ``(K, d)``."""
    diff = x[:, None, :] - means[None, :, :]
    return -0.5 * (np.log(2 * np.pi * var)[None] + diff**2 / var[None]).sum(axis=2)


def hmm_regimes(close: np.ndarray, params: HmmParams | None = None) -> HmmRegimes:
    """Label each bar of one ``close`` series with a walk-forward HMM state (see the module doc)."""
    from hmmlearn.hmm import GaussianHMM
    from threadpoolctl import threadpool_limits

    p = params or HmmParams()
    c = np.asarray(close, dtype=np.float64)
    if c.ndim != 1:
        raise ConfigError(f"hmm_regimes: close must be 1-D, got shape {c.shape}")
    n, k = c.shape[0], p.n_states
    feats = hmm_features(c, p.vol_window)
    label = np.full(n, np.nan)
    prob = np.full((n, k), np.nan)
    fits = []
    for f in range(p.min_train, n, p.refit):
        lo = max(0, f - p.train)
        window = feats[lo:f]
        ok = np.isfinite(window).all(axis=1)
        if ok.sum() < 10 * k:
            continue
        mu, sd = window[ok].mean(axis=0), window[ok].std(axis=0)
        sd[sd == 0] = 1.0
        model = GaussianHMM(
            n_components=k, covariance_type="diag", n_iter=p.n_iter, random_state=p.seed
        )
        # one BLAS/OpenMP thread: a 500x2 fit is 20x slower with a thread pool on a busy machine
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore")  # non-convergence is reported in the fits table
            model.fit((window[ok] - mu) / sd)
        order = np.argsort(model.means_[:, 0], kind="stable")  # by mean return
        means = model.means_[order]
        var = np.array([np.diag(cv) for cv in model.covars_])[order]
        trans = model.transmat_[np.ix_(order, order)]
        start = model.startprob_[order]
        stop = min(f + p.refit, n)
        x = (feats[lo:stop] - mu) / sd
        ll = _diag_loglik(np.nan_to_num(x), means, var)
        ll[~np.isfinite(x).all(axis=1)] = np.nan
        with np.errstate(divide="ignore"):
            out = np.full((stop - lo, k), np.nan)
            filter_nb(ll, np.log(start + 1e-300), np.log(trans + 1e-300), out, f - lo)
        prob[f:stop] = out[f - lo :]
        valid = np.isfinite(feats[f:stop]).all(axis=1)
        label[f:stop] = np.where(valid, np.argmax(out[f - lo :], axis=1), np.nan)
        fits.append(
            {
                "bar": f,
                "train_from": lo,
                "converged": bool(model.monitor_.converged),
                **{f"mean_ret_{s}": means[s, 0] * sd[0] + mu[0] for s in range(k)},
                **{f"vol_{s}": means[s, 1] * sd[1] + mu[1] for s in range(k)},
            }
        )
    return HmmRegimes(label=label, prob=prob, fits=pd.DataFrame(fits))
