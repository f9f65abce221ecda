"""Crossing tests for signal code (numba): the building block of most entry/exit rules."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["crossed_above", "crossed_above_nb", "crossed_below", "crossed_below_nb"]


@njit(cache=True, nogil=True)
def crossed_above_nb(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(n, k)`` bool: ``a[t] > b[t]`` and ``a[t-1] <= b[t-1]``; False where any value is NaN."""
    n, k = a.shape
    out = np.zeros((n, k), dtype=np.bool_)
    for j in range(k):
        for t in range(1, n):
            out[t, j] = a[t, j] > b[t, j] and a[t - 1, j] <= b[t - 1, j]
    return out


@njit(cache=True, nogil=True)
def crossed_below_nb(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(n, k)`` bool: ``a[t] < b[t]`` and ``a[t-1] >= b[t-1]``; False where any value is NaN."""
    n, k = a.shape
    out = np.zeros((n, k), dtype=np.bool_)
    for j in range(k):
        for t in range(1, n):
            out[t, j] = a[t, j] < b[t, j] and a[t - 1, j] >= b[t - 1, j]
    return out


def _2d(x: np.ndarray | float, like: np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(like.shape, float(arr))
    if arr.ndim == 1:
        arr = arr[:, None]
    return np.ascontiguousarray(arr)


def crossed_above(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """Return where ``a`` crosses above ``b`` (an array of ``a``'s shape or a level)."""
    a2 = _2d(a, np.asarray(a))
    out = crossed_above_nb(a2, _2d(b, a2))
    return out[:, 0] if np.ndim(a) == 1 else out


def crossed_below(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    """Return where ``a`` crosses below ``b`` (an array of ``a``'s shape or a level)."""
    a2 = _2d(a, np.asarray(a))
    out = crossed_below_nb(a2, _2d(b, a2))
    return out[:, 0] if np.ndim(a) == 1 else out
