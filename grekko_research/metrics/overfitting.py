"""Overfitting statistics: how much of a backtest's Sharpe ratio survives selection.

Three questions, three tools:

- Is one Sharpe ratio significantly above a benchmark, given how long the
  track record is and how skewed and fat-tailed its returns are?
  :func:`probabilistic_sharpe_ratio` (PSR) and its inverse,
  :func:`min_track_record_length` (MinTRL).
- Is the best of ``N`` tried configurations better than the best of ``N``
  skill-less ones would be? :func:`deflated_sharpe_ratio` (DSR): the PSR
  against :func:`expected_max_sharpe`.
- Does picking the in-sample winner among the tried configurations pick a
  configuration that does well out of sample?
  :func:`probability_of_backtest_overfitting` (PBO by combinatorially
  symmetric cross-validation, CSCV).

Conventions
-----------
Sharpe ratio
    Per period and not annualised: ``SR = mean(r) / std(r, ddof=1)`` of the
    per-period returns, risk-free rate 0. Convert an annualised ratio with
    ``SR / sqrt(periods_per_year)`` and a variance of annualised ratios with
    ``V / periods_per_year``.
skew, kurtosis
    Moments of the per-period returns. ``kurtosis`` is the non-excess
    (Pearson) kurtosis: 3 for a normal distribution. Every distribution has
    ``kurtosis >= 1 + skew**2``; a smaller value (typically an excess
    kurtosis passed by mistake) raises :class:`~grekko_research.errors.ConfigError`.
    The ``*_from_returns`` helpers use the plain sample moments
    ``m3 / m2**1.5`` and ``m4 / m2**2`` (``m_k`` the k-th central moment, as
    ``scipy.stats.skew`` / ``kurtosis(fisher=False)`` with their defaults).
normal distribution
    Φ is computed with ``math.erfc`` and Φ⁻¹ with :class:`statistics.NormalDist`
    (Wichura's AS 241), both accurate to a few ulps, so importing this module
    pulls in no statistics package.

References
----------
- D. H. Bailey, M. López de Prado, "The Sharpe Ratio Efficient Frontier",
  Journal of Risk 15(2), 2012 (PSR, MinTRL).
- D. H. Bailey, M. López de Prado, "The Deflated Sharpe Ratio: Correcting for
  Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio
  Management 40(5), 2014 (expected maximum Sharpe ratio, DSR).
- D. H. Bailey, J. M. Borwein, M. López de Prado, Q. J. Zhu, "The Probability
  of Backtest Overfitting", working paper 2013-2015, Journal of Computational
  Finance 20(4), 2017 (CSCV, PBO, performance degradation, probability of loss).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from grekko_research.errors import ConfigError
from grekko_research.metrics.pbo import (
    MAX_COMBINATIONS,
    DegradationFit,
    MetricFunction,
    MetricName,
    PBOResult,
    probability_of_backtest_overfitting,
)

__all__ = [
    "MAX_COMBINATIONS",
    "DegradationFit",
    "MetricFunction",
    "MetricName",
    "PBOResult",
    "deflated_sharpe_ratio",
    "dsr_from_trials",
    "expected_max_sharpe",
    "min_track_record_length",
    "probabilistic_sharpe_ratio",
    "probability_of_backtest_overfitting",
    "psr_from_returns",
]

_STD_NORMAL = NormalDist()
_SQRT2 = math.sqrt(2.0)


# ---------------------------------------------------------------------------
# Scalar helpers


def _norm_cdf(x: float) -> float:
    # erfc keeps the relative precision of the lower tail, where 1 + erf(x) cancels.
    return 0.5 * math.erfc(-x / _SQRT2)


def _norm_ppf(p: float) -> float:
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return _STD_NORMAL.inv_cdf(p)


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(x):
        raise ConfigError(f"{name} must be finite, got {x}")
    return x


def _moments_checked(skew: float, kurtosis: float) -> tuple[float, float]:
    g3 = _finite("skew", skew)
    g4 = _finite("kurtosis", kurtosis)
    floor = 1.0 + g3 * g3
    if g4 < floor * (1.0 - 1e-9):  # tolerance: sample moments round a few ulps either way
        raise ConfigError(
            f"kurtosis={g4:g} is below 1 + skew**2 = {floor:g}, which no distribution has; "
            "kurtosis is the non-excess (Pearson) kurtosis, 3 for a normal distribution "
            "(add 3 to an excess kurtosis)"
        )
    return g3, g4


def _sr_variance_factor(sr: float, g3: float, g4: float) -> float:
    # (n - 1) x the asymptotic variance of the Sharpe estimate; >= (1 - g3 sr / 2)**2 >= 0
    # whenever g4 >= 1 + g3**2, so only rounding can make it negative.
    return max(1.0 - g3 * sr + 0.25 * (g4 - 1.0) * sr * sr, 0.0)


def _psr(sr: float, n_obs: float, g3: float, g4: float, benchmark: float) -> float:
    diff = sr - benchmark
    if diff == 0.0:
        return 0.5
    factor = _sr_variance_factor(sr, g3, g4)
    if factor == 0.0:  # the estimate has no dispersion: it is above the benchmark or not
        return 1.0 if diff > 0.0 else 0.0
    return _norm_cdf(diff * math.sqrt(n_obs - 1.0) / math.sqrt(factor))


def _return_moments(returns: object, name: str) -> tuple[float, int, float, float]:
    """Return ``(sharpe, n, skew, kurtosis)`` of a 1-D return series (see Conventions)."""
    try:
        r = np.asarray(returns, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a 1-D array of numbers") from None
    if r.ndim != 1:
        raise ConfigError(f"{name} must be 1-D, got shape {r.shape}")
    if r.size < 2:
        raise ConfigError(f"{name} needs at least 2 returns, got {r.size}")
    bad = np.flatnonzero(~np.isfinite(r))
    if bad.size:
        raise ConfigError(f"{name}[{bad[0]}] is {r[bad[0]]}: returns must be finite")
    if np.ptp(r) == 0.0:
        raise ConfigError(f"{name} are all equal ({r[0]}): the Sharpe ratio is undefined")
    n = r.size
    mean = float(r.mean())
    d = r - mean
    d2 = d * d
    m2 = float(d2.mean())
    sharpe = mean / math.sqrt(float(d2.sum()) / (n - 1))
    skew = float((d2 * d).mean()) / m2**1.5
    kurtosis = float((d2 * d2).mean()) / (m2 * m2)
    return sharpe, n, skew, kurtosis


# ---------------------------------------------------------------------------
# PSR, expected maximum, DSR, MinTRL


def probabilistic_sharpe_ratio(
    sharpe: float, n_obs: float, skew: float, kurtosis: float, benchmark: float = 0.0
) -> float:
    """Return the probability that the true Sharpe ratio exceeds ``benchmark`` (PSR).

    ``PSR = Φ((SR − SR*) · √(n − 1) / √(1 − γ3·SR + (γ4 − 1)/4 · SR²))``, with
    ``SR`` the observed per-period Sharpe ratio, ``SR*`` the benchmark,
    ``γ3`` the skewness and ``γ4`` the (non-excess) kurtosis of the returns;
    the square root in the denominator is the standard error of the Sharpe
    estimate under non-normal returns (Bailey & López de Prado, 2012).

    Parameters
    ----------
    sharpe
        Observed per-period (not annualised) Sharpe ratio.
    n_obs
        Number of returns it was estimated from; ``> 1``. Need not be an
        integer, so that :func:`min_track_record_length` inverts this exactly.
    skew, kurtosis
        Skewness and Pearson kurtosis (normal: 0 and 3) of the returns.
    benchmark
        Per-period Sharpe ratio to beat, ``SR*``.

    Returns
    -------
    float
        A probability in ``[0, 1]``; exactly 0.5 when ``sharpe == benchmark``.

    Raises
    ------
    ConfigError
        When an input is not finite, ``n_obs <= 1`` or ``kurtosis < 1 + skew**2``.
    """
    sr = _finite("sharpe", sharpe)
    n = _finite("n_obs", n_obs)
    if n <= 1.0:
        raise ConfigError(f"n_obs must be > 1, got {n:g}")
    g3, g4 = _moments_checked(skew, kurtosis)
    return _psr(sr, n, g3, g4, _finite("benchmark", benchmark))


def psr_from_returns(returns: np.ndarray, benchmark: float = 0.0) -> float:
    """Return the PSR of a per-period return series against ``benchmark``.

    The Sharpe ratio, skewness and kurtosis are estimated from ``returns``
    (see the module's Conventions) and ``n_obs = len(returns)``.

    Raises
    ------
    ConfigError
        When ``returns`` is not 1-D, has fewer than 2 values, holds a
        non-finite value or has no dispersion.
    """
    sr, n, g3, g4 = _return_moments(returns, "returns")
    return _psr(sr, n, g3, g4, _finite("benchmark", benchmark))


def expected_max_sharpe(n_trials: float, sharpe_variance: float) -> float:
    """Return the expected maximum Sharpe ratio of ``n_trials`` skill-less trials.

    ``E[max SR] ≈ √V · ((1 − γ) · Φ⁻¹(1 − 1/N) + γ · Φ⁻¹(1 − 1/(N·e)))``, with
    ``γ`` the Euler–Mascheroni constant: the approximate expectation of the
    largest of ``N`` independent normal Sharpe estimates with true mean 0 and
    variance ``V`` (Bailey & López de Prado, 2014; the "false strategy"
    theorem). It is the benchmark the best of ``N`` trials must beat.

    Parameters
    ----------
    n_trials
        Number of independent trials ``N >= 1`` (may be an effective,
        non-integer count).
    sharpe_variance
        Variance ``V >= 0`` of the trials' Sharpe ratios, in the same units as
        the Sharpe ratio it will be compared with (per period: divide the
        variance of annualised ratios by ``periods_per_year``).

    Returns
    -------
    float
        ``>= 0``. The approximation is meant for many trials; the result is
        clamped at 0 (the expected maximum of zero-mean draws is never
        negative), so it is 0 for ``N = 1`` and ``V = 0``.
    """
    n = _finite("n_trials", n_trials)
    v = _finite("sharpe_variance", sharpe_variance)
    if n < 1.0:
        raise ConfigError(f"n_trials must be >= 1, got {n:g}")
    if v < 0.0:
        raise ConfigError(f"sharpe_variance must be >= 0, got {v:g}")
    if n == 1.0 or v == 0.0:
        return 0.0
    g = float(np.euler_gamma)
    z = (1.0 - g) * _norm_ppf(1.0 - 1.0 / n) + g * _norm_ppf(1.0 - 1.0 / (n * math.e))
    return max(math.sqrt(v) * z, 0.0)


def deflated_sharpe_ratio(
    sharpe: float,
    n_obs: float,
    skew: float,
    kurtosis: float,
    n_trials: float,
    sharpe_variance: float,
) -> float:
    """Return the Deflated Sharpe Ratio: the PSR against the expected maximum of the trials.

    ``DSR = PSR(SR* = E[max SR])`` with ``E[max SR] =
    expected_max_sharpe(n_trials, sharpe_variance)`` (Bailey & López de
    Prado, 2014): the probability that the selected configuration's true
    Sharpe ratio beats what the best of ``n_trials`` skill-less trials would
    show. All Sharpe quantities are per period; ``sharpe`` is the selected
    (best) trial's, ``skew``/``kurtosis`` (Pearson) are its returns' and
    ``sharpe_variance`` is the variance of all trials' Sharpe ratios.

    Worked example of the paper (annualised SR 2.5 over 1,250 daily returns,
    250 days a year, 100 trials whose annualised Sharpe ratios have variance
    0.5, skew −3, kurtosis 10)::

        >>> round(expected_max_sharpe(100, 0.5 / 250), 4)
        0.1132
        >>> round(deflated_sharpe_ratio(2.5 / 250**0.5, 1250, -3, 10, 100, 0.5 / 250), 4)
        0.9004
    """
    benchmark = expected_max_sharpe(n_trials, sharpe_variance)
    return probabilistic_sharpe_ratio(sharpe, n_obs, skew, kurtosis, benchmark)


def dsr_from_trials(best_returns: np.ndarray, trial_sharpes: np.ndarray) -> float:
    """Return the DSR of the selected trial from its returns and every trial's Sharpe ratio.

    Parameters
    ----------
    best_returns
        Per-period returns of the selected trial (1-D, finite).
    trial_sharpes
        Per-period Sharpe ratios of *all* trials, the selected one included,
        measured on returns of the same frequency. ``N = len(trial_sharpes)``
        and ``V = var(trial_sharpes, ddof=1)``.
    """
    sr, n, g3, g4 = _return_moments(best_returns, "best_returns")
    try:
        trials = np.asarray(trial_sharpes, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("trial_sharpes must be a 1-D array of numbers") from None
    if trials.ndim != 1 or trials.size < 2:
        raise ConfigError(f"trial_sharpes must be 1-D with at least 2 values, got {trials.shape}")
    bad = np.flatnonzero(~np.isfinite(trials))
    if bad.size:
        raise ConfigError(f"trial_sharpes[{bad[0]}] is {trials[bad[0]]}: must be finite")
    benchmark = expected_max_sharpe(trials.size, float(np.var(trials, ddof=1)))
    return _psr(sr, n, g3, g4, benchmark)


def min_track_record_length(
    sharpe: float,
    skew: float,
    kurtosis: float,
    benchmark: float = 0.0,
    confidence: float = 0.95,
) -> float:
    """Return the number of returns needed for the PSR to reach ``confidence`` (MinTRL).

    ``MinTRL = 1 + (1 − γ3·SR + (γ4 − 1)/4 · SR²) · (Φ⁻¹(confidence) / (SR − SR*))²``
    (Bailey & López de Prado, 2012): the PSR formula solved for ``n``, so
    ``probabilistic_sharpe_ratio(sharpe, MinTRL, skew, kurtosis, benchmark)
    == confidence``. Counted in observations of the Sharpe ratio's period.

    Returns
    -------
    float
        Not rounded up. ``inf`` when ``sharpe <= benchmark`` (no track record
        is long enough); 1 when ``confidence <= 0.5`` (any record reaches it).
    """
    sr = _finite("sharpe", sharpe)
    g3, g4 = _moments_checked(skew, kurtosis)
    sr0 = _finite("benchmark", benchmark)
    conf = _finite("confidence", confidence)
    if not 0.0 < conf < 1.0:
        raise ConfigError(f"confidence must be in (0, 1), got {conf:g}")
    if sr <= sr0:
        return math.inf
    z = max(_norm_ppf(conf), 0.0)
    return 1.0 + _sr_variance_factor(sr, g3, g4) * (z / (sr - sr0)) ** 2
