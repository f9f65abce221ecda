"""Numba building blocks shared by the metric kernels (private).

Compensated summation and the two equity-curve conventions every kernel
follows: the curve is usable up to and including its first ruin bar, whose
return is ``-1``. The conventions are documented in
:mod:`grekko_research.metrics.performance`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Returns this close count as equal: see "zero dispersion" in the performance module notes.
_SAME_RETURN = 8.0 * float(np.finfo(np.float64).eps)

# Kernels use error_model="numpy" (x / 0 gives inf or nan instead of raising): every
# zero denominator is guarded explicitly, and arithmetic must not raise in a prange.


@njit(cache=True, nogil=True, error_model="numpy")
def _usable_length(equity: np.ndarray) -> tuple[int, bool]:
    """Return ``(n_used, has_nan)``: bars up to and including the first ruin bar."""
    n = equity.shape[0]
    has_nan = False
    for i in range(n):
        v = equity[i]
        if v <= 0.0:
            return i + 1, has_nan
        if math.isnan(v):
            has_nan = True
    return n, has_nan


@njit(cache=True, nogil=True, error_model="numpy")
def _bar_return(equity: np.ndarray, i: int) -> float:
    """Return the simple return of bar ``i`` (``i >= 1``); ``-1`` on the ruin bar."""
    cur = equity[i]
    if cur <= 0.0:
        return -1.0
    prev = equity[i - 1]
    return (cur - prev) / prev


@njit(cache=True, nogil=True, error_model="numpy")
def _add(s: float, c: float, x: float) -> tuple[float, float]:
    """Add ``x`` to the Neumaier-compensated sum ``(s, c)`` and return the new pair."""
    t = s + x
    if abs(s) >= abs(x):
        c += (s - t) + x
    else:
        c += (x - t) + s
    return t, c
