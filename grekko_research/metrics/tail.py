"""Historical Value at Risk and Conditional Value at Risk of the per-bar returns.

Numba kernels (``@njit(cache=True, nogil=True)``) and the order-statistic
selection behind them: a sampled bracket for long series, Wirth's selection
otherwise. Conventions as in :mod:`grekko_research.metrics.performance`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from grekko_research.metrics._core import _add, _bar_return, _usable_length

__all__ = ["conditional_value_at_risk", "value_at_risk"]

# Kernels use error_model="numpy" (x / 0 gives inf or nan instead of raising): every
# zero denominator is guarded explicitly, and arithmetic must not raise in a prange.


# -- private helpers -------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def _select(a: np.ndarray, m: int, k: int) -> float:
    """Reorder ``a[:m]`` in place so ``a[:k] <= a[k] <= a[k+1:m]``; return ``a[k]``.

    Wirth's selection with a median-of-three pivot: O(m) on average and
    well-behaved with many equal values (flat bars give many zero returns).
    """
    lo, hi = 0, m - 1
    while lo < hi:
        x0, x1, x2 = a[lo], a[(lo + hi) // 2], a[hi]
        x = max(min(x0, x1), min(max(x0, x1), x2))
        i, j = lo, hi
        while i <= j:
            while a[i] < x:
                i += 1
            while x < a[j]:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if j < k:
            lo = i
        if k < i:
            hi = j
    return a[k]


_SAMPLE = 4096  # sample size that brackets the order statistics of a long series


@njit(cache=True, nogil=True, error_model="numpy")
def _bracketed_tail(a: np.ndarray, m: int, k: int, need: int) -> tuple[bool, float, float, float]:
    """Order statistics ``k`` and ``need >= k`` of ``a[:m]`` and the sum of the ``k + 1`` lowest.

    A strided sample of :data:`_SAMPLE` values, sorted, gives bounds ``lo``,
    ``hi`` that very likely enclose both statistics; one pass counts (and
    sums) the values below ``lo`` and a second copies those in ``[lo, hi]``
    to a small sorted buffer where the statistics are read off. Exact:
    when the bounds miss (or enclose too much) the first value returned is
    False and the caller falls back to a full selection. Two linear passes
    instead of a selection's many, and ``a`` is left untouched.
    """
    if m < 16 * _SAMPLE:
        return False, np.nan, np.nan, np.nan
    step = m // _SAMPLE
    sample = np.empty(_SAMPLE)
    for i in range(_SAMPLE):
        sample[i] = a[i * step]
    sample.sort()
    q = k / m
    pad = 4.0 * math.sqrt(_SAMPLE * q * (1.0 - q)) + 16.0
    i_lo = int(q * _SAMPLE - pad)
    i_hi = int(need / m * _SAMPLE + pad) + 1
    lo = sample[i_lo] if i_lo >= 0 else -np.inf
    hi = sample[i_hi] if i_hi < _SAMPLE else np.inf
    below = 0
    inside = 0
    s, c = 0.0, 0.0
    for i in range(m):
        x = a[i]
        if x < lo:
            below += 1
            s, c = _add(s, c, x)
        elif x <= hi:
            inside += 1
    if below > k or need >= below + inside or inside > m // 8:
        return False, np.nan, np.nan, np.nan
    cand = np.empty(inside)
    j = 0
    for i in range(m):
        x = a[i]
        if lo <= x <= hi:
            cand[j] = x
            j += 1
    cand.sort()
    for i in range(k + 1 - below):
        s, c = _add(s, c, cand[i])
    return True, cand[k - below], cand[need - below], s + c


@njit(cache=True, nogil=True, error_model="numpy")
def _tail(equity: np.ndarray, alpha: float) -> tuple[float, float]:
    """Return ``(VaR, CVaR)`` of the per-bar returns at level ``alpha``."""
    n_used, has_nan = _usable_length(equity)
    m = n_used - 1
    if has_nan or m < 1 or not 0.0 <= alpha <= 1.0:
        return np.nan, np.nan
    buf = np.empty(m)
    for i in range(1, n_used):
        buf[i - 1] = _bar_return(equity, i)
    return _tail_of_returns(buf, m, alpha)


@njit(cache=True, nogil=True, error_model="numpy")
def _tail_of_returns(buf: np.ndarray, m: int, alpha: float) -> tuple[float, float]:
    """Return ``(VaR, CVaR)`` of the returns ``buf[:m]`` (``m >= 1``), which it may reorder."""
    if not 0.0 <= alpha <= 1.0:
        return np.nan, np.nan
    h = (m - 1) * alpha  # numpy's default ("linear") virtual index
    k = int(h)
    t = h - k
    interpolate = t != 0.0 and k + 1 < m
    ok, low, high, total = _bracketed_tail(buf, m, k, k + 1 if interpolate else k)
    if ok:
        if not interpolate:
            return low, total / (k + 1)
        diff = high - low
        var = high - diff * (1.0 - t) if t >= 0.5 else low + diff * t
        return var, total / (k + 1)
    low = _select(buf, m, k)
    s, c = 0.0, 0.0
    for i in range(k + 1):
        s, c = _add(s, c, buf[i])
    cvar = (s + c) / (k + 1)
    if t == 0.0 or k + 1 >= m:
        return low, cvar
    high = buf[k + 1]
    for i in range(k + 2, m):
        high = min(high, buf[i])
    diff = high - low
    # numpy's _lerp: interpolate from the nearer end.
    var = high - diff * (1.0 - t) if t >= 0.5 else low + diff * t
    return var, cvar


# -- tail kernels ----------------------------------------------------------------------
# ``equity: float64[n]`` (value at each bar close), ``alpha: float`` (tail probability
# in [0, 1]); ``r`` are the ``m = n - 1`` per-bar simple returns, cut at a ruin.


@njit(cache=True, nogil=True, error_model="numpy")
def value_at_risk(equity: np.ndarray, alpha: float = 0.05) -> float:
    """Return the historical VaR, the ``alpha``-quantile of ``r`` (e.g. -0.012).

    Linear interpolation between order statistics at position
    ``(m - 1) * alpha``: ``numpy.percentile``'s default, as
    ``empyrical.value_at_risk``. NaN when ``n < 2``.
    """
    return _tail(equity, alpha)[0]


@njit(cache=True, nogil=True, error_model="numpy")
def conditional_value_at_risk(equity: np.ndarray, alpha: float = 0.05) -> float:
    """Return the historical CVaR, the mean of the ``k + 1`` lowest returns.

    ``k = floor((m - 1) * alpha)`` indexes the order statistic at or just
    below the VaR, as in ``empyrical.conditional_value_at_risk``. That is the
    mean of the returns ``<= VaR``, except that ties at the cut stay out: the
    tail always holds exactly ``k + 1`` returns. NaN when ``n < 2``.
    """
    return _tail(equity, alpha)[1]
