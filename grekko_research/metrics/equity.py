"""Return, risk-adjusted, drawdown, exposure and turnover kernels of an equity curve.

Numba kernels (``@njit(cache=True, nogil=True)``) over ``equity: float64[n]``,
following the conventions of :mod:`grekko_research.metrics.performance` (ruin,
short input, zero dispersion, NaN, optional inputs). The private helpers
(``_return_moments``, ``_sharpe``, ``_sortino``, ``_calmar``, ``_drawdown``,
``_cagr``) are shared with the one-pass summary in that module.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from grekko_research.metrics._core import _SAME_RETURN, _add, _bar_return, _usable_length

__all__ = [
    "annual_return",
    "annual_turnover",
    "annual_volatility",
    "calmar_ratio",
    "exposure",
    "max_drawdown",
    "max_drawdown_duration",
    "sharpe_ratio",
    "sortino_ratio",
    "total_return",
    "turnover",
]

# Kernels use error_model="numpy" (x / 0 gives inf or nan instead of raising): every
# zero denominator is guarded explicitly, and arithmetic must not raise in a prange.


# -- private helpers -------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def _return_moments(equity: np.ndarray) -> tuple[int, float, float, float]:
    """Return ``(m, mean, std, downside)`` of the per-bar returns of ``equity``.

    ``std`` uses ``ddof=1`` and is exactly 0 when all returns are equal (to
    rounding, see "zero dispersion" in the performance module notes);
    ``downside = sqrt(mean(min(r, 0)**2))``. ``m`` is the number of returns;
    ``m = -1`` flags a NaN in the usable equity.
    """
    n_used, has_nan = _usable_length(equity)
    m = n_used - 1
    if has_nan:
        return -1, np.nan, np.nan, np.nan
    if m < 1:
        return m, np.nan, np.nan, np.nan
    s, c = 0.0, 0.0
    lo, hi = np.inf, -np.inf
    for i in range(1, n_used):
        r = _bar_return(equity, i)
        s, c = _add(s, c, r)
        lo = min(lo, r)
        hi = max(hi, r)
    mean = (s + c) / m
    ss, sc, ds, dc = 0.0, 0.0, 0.0, 0.0
    for i in range(1, n_used):
        r = _bar_return(equity, i)
        d = r - mean
        ss, sc = _add(ss, sc, d * d)
        if r < 0.0:
            ds, dc = _add(ds, dc, r * r)
    if m < 2:
        std = np.nan
    elif hi - lo <= _SAME_RETURN * (1.0 + max(abs(lo), abs(hi))):
        std = 0.0  # equal returns; the centred sum would keep a rounding residue
    else:
        std = math.sqrt((ss + sc) / (m - 1))
    return m, mean, std, math.sqrt((ds + dc) / m)


@njit(cache=True, nogil=True, error_model="numpy")
def _sharpe(mean: float, std: float, periods_per_year: float) -> float:
    """Return the Sharpe ratio from the return moments (NaN when ``std`` is 0 or NaN)."""
    return mean / std * math.sqrt(periods_per_year) if std > 0.0 else np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def _sortino(m: int, mean: float, down: float, periods_per_year: float) -> float:
    """Return the Sortino ratio from the return moments (NaN without downside)."""
    if m < 2 or not down > 0.0:
        return np.nan
    return (mean * periods_per_year) / (down * math.sqrt(periods_per_year))


@njit(cache=True, nogil=True, error_model="numpy")
def _calmar(cagr: float, dd: float) -> float:
    """Return ``cagr / |dd|``, NaN without a drawdown or when infinite."""
    value = cagr / -dd if dd < 0.0 else np.nan
    return value if math.isfinite(value) else np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def _drawdown(equity: np.ndarray) -> tuple[float, int]:
    """Return ``(max_drawdown, longest_duration)``; NaN and 0 when undefined."""
    n = equity.shape[0]
    n_used, has_nan = _usable_length(equity)
    if n == 0 or has_nan:
        return np.nan, 0
    peak = equity[0]
    peak_i = 0
    worst = 0.0
    longest = 0
    under = False
    for i in range(1, n_used):
        v = max(equity[i], 0.0)
        if v >= peak:
            if under:
                longest = max(longest, i - peak_i)
                under = False
            peak = v
            peak_i = i
        else:
            under = True
            worst = min(worst, (v - peak) / peak)
    if under:
        # Unrecovered (or ruined, which is permanent): under water to the last bar.
        longest = max(longest, n - 1 - peak_i)
    return worst, longest


@njit(cache=True, nogil=True, error_model="numpy")
def _cagr(equity: np.ndarray, periods_per_year: float) -> float:
    n_used, has_nan = _usable_length(equity)
    m = n_used - 1
    if has_nan or m < 1:
        return np.nan
    growth = max(equity[n_used - 1], 0.0) / equity[0]
    if growth <= 0.0:
        return -1.0
    return growth ** (1.0 / (m / periods_per_year)) - 1.0


# -- equity kernels --------------------------------------------------------------------
# Shared parameters: ``equity: float64[n]`` (value at each bar close),
# ``periods_per_year: float`` (bars per year, :mod:`grekko_research.calendar`: 8760 for
# 1h bars). ``r`` are
# the ``m = n - 1`` per-bar simple returns, cut at a ruin (see the performance
# module notes).


@njit(cache=True, nogil=True, error_model="numpy")
def total_return(equity: np.ndarray) -> float:
    """Return the total return ``equity[-1] / equity[0] - 1``: -1 after ruin, NaN if ``n < 2``."""
    n_used, has_nan = _usable_length(equity)
    if has_nan or n_used < 2:
        return np.nan
    return max(equity[n_used - 1], 0.0) / equity[0] - 1.0


@njit(cache=True, nogil=True, error_model="numpy")
def annual_return(equity: np.ndarray, periods_per_year: float) -> float:
    """Return the compound annual growth rate ``(1 + total) ** (ppy / m) - 1``.

    The ``m`` returns span ``m / ppy`` years, as in ``empyrical.annual_return``
    with ``annualization=ppy``. -1 after ruin; NaN when ``n < 2``.
    """
    return _cagr(equity, periods_per_year)


@njit(cache=True, nogil=True, error_model="numpy")
def annual_volatility(equity: np.ndarray, periods_per_year: float) -> float:
    """Return ``std(r, ddof=1) * sqrt(ppy)``: 0 for equal returns, NaN if ``m < 2``."""
    std = _return_moments(equity)[2]
    return std * math.sqrt(periods_per_year)


@njit(cache=True, nogil=True, error_model="numpy")
def sharpe_ratio(equity: np.ndarray, periods_per_year: float) -> float:
    """Return the Sharpe ratio ``mean(r) / std(r, ddof=1) * sqrt(ppy)`` (risk-free rate 0).

    NaN when the standard deviation is 0 (equal returns) or undefined (``m < 2``).
    """
    _, mean, std, _ = _return_moments(equity)
    return _sharpe(mean, std, periods_per_year)


@njit(cache=True, nogil=True, error_model="numpy")
def sortino_ratio(equity: np.ndarray, periods_per_year: float) -> float:
    """Return the Sortino ratio ``mean(r) * ppy / (sqrt(mean(min(r, 0)**2)) * sqrt(ppy))``.

    The downside deviation averages over *all* returns with target 0, as
    ``empyrical.sortino_ratio``. NaN when ``m < 2`` or no return is negative
    (where empyrical gives +inf).
    """
    m, mean, _, down = _return_moments(equity)
    return _sortino(m, mean, down, periods_per_year)


@njit(cache=True, nogil=True, error_model="numpy")
def max_drawdown(equity: np.ndarray) -> float:
    """Return the deepest fall ``min(equity / cummax(equity) - 1)``, a fraction ``<= 0``.

    -0.25 for a 25 % fall, -1 on ruin, 0 when ``n == 1``, NaN when ``n == 0``.
    """
    return _drawdown(equity)[0]


@njit(cache=True, nogil=True, error_model="numpy")
def max_drawdown_duration(equity: np.ndarray) -> int:
    """Return the longest stretch under water, in bars (0 without a drawdown).

    A stretch runs from a peak bar ``p`` to the first later bar ``q`` whose
    equity is back at or above the peak and lasts ``q - p`` bars; one that
    never recovers lasts ``n - 1 - p``. The longest stretch need not be the
    deepest drawdown's.
    """
    return _drawdown(equity)[1]


@njit(cache=True, nogil=True, error_model="numpy")
def calmar_ratio(equity: np.ndarray, periods_per_year: float) -> float:
    """Return the Calmar ratio ``annual_return / |max_drawdown|``.

    NaN without a drawdown or when the ratio is infinite (as empyrical).
    """
    return _calmar(_cagr(equity, periods_per_year), _drawdown(equity)[0])


@njit(cache=True, nogil=True, error_model="numpy")
def exposure(position_value: np.ndarray) -> float:
    """Return the fraction of bars with a non-zero position, NaN when ``n == 0``.

    ``position_value: float64[n]`` (any sign) or ``bool[n]`` (in the market).
    """
    n = position_value.shape[0]
    if n == 0:
        return np.nan
    count = 0
    for i in range(n):
        if position_value[i] != 0:
            count += 1
    return count / n


@njit(cache=True, nogil=True, error_model="numpy")
def turnover(traded_notional: np.ndarray, equity: np.ndarray) -> float:
    """Return the total turnover ``sum(|traded_notional|) / mean(equity)``.

    How many times the average capital changed hands: buying with all the
    equity and later selling is a turnover of about 2. ``traded_notional:
    float64[n]`` is the notional traded at each bar, any sign. Both sums stop
    at a ruin. NaN when the lengths differ or ``n == 0``.
    """
    n = equity.shape[0]
    n_used, has_nan = _usable_length(equity)
    if n == 0 or traded_notional.shape[0] != n or has_nan:
        return np.nan
    ts, tc, es, ec = 0.0, 0.0, 0.0, 0.0
    for i in range(n_used):
        ts, tc = _add(ts, tc, abs(traded_notional[i]))
        es, ec = _add(es, ec, max(equity[i], 0.0))
    mean_equity = (es + ec) / n_used
    return (ts + tc) / mean_equity if mean_equity > 0.0 else np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def annual_turnover(
    traded_notional: np.ndarray, equity: np.ndarray, periods_per_year: float
) -> float:
    """Return the turnover per year, ``turnover * ppy / m``; NaN when ``n < 2``."""
    m = _usable_length(equity)[0] - 1
    if m < 1:
        return np.nan
    return turnover(traded_notional, equity) * (periods_per_year / m)
