"""Statistical transforms: rolling z-score and cross-sectional rank.

``zscore_nb`` works column by column like the other kernels (causal, NaN rows
skipped, warm-up NaN); ``xs_rank_nb`` works row by row across the ``k`` assets
and so uses only its own row.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from grekko_research.indicators._api import as_matrix, check_int, restore
from grekko_research.indicators._rolling import rolling_moments_1d

__all__ = ["xs_rank", "xs_rank_nb", "zscore", "zscore_nb"]


@njit(cache=True, nogil=True)
def zscore_nb(x: np.ndarray, window: int) -> np.ndarray:
    """Return ``(x − mean) / std`` over the last ``window`` valid values, ``(n, k)``.

    Population standard deviation (ddof=0, like ``bollinger_nb``, so
    ``zscore = ±k`` exactly on the Bollinger bands); NaN where the window's
    std is 0. Warm-up: the first ``window − 1`` rows.
    """
    n, k = x.shape
    out = np.empty((n, k))
    col = np.empty(n)
    mean = np.empty(n)
    var = np.empty(n)
    for j in range(k):
        col[:] = x[:, j]
        rolling_moments_1d(col, window, 0, mean, var)
        for t in range(n):
            sd = np.sqrt(var[t])
            out[t, j] = (col[t] - mean[t]) / sd if sd > 0.0 else np.nan
    return out


@njit(cache=True, nogil=True)
def xs_rank_nb(x: np.ndarray) -> np.ndarray:
    """Return each row's cross-sectional rank scaled to ``[0, 1]``, ``(n, k)``.

    Over the ``m`` non-NaN values of a row: 0 for the lowest, 1 for the
    highest, ``(rank − 1) / (m − 1)`` with 1-based ranks and ties sharing their
    average rank; 0.5 when ``m = 1``; NaN stays NaN.
    """
    n, k = x.shape
    out = np.full((n, k), np.nan)
    vals = np.empty(k)
    cols = np.empty(k, dtype=np.int64)
    for t in range(n):
        m = 0
        for j in range(k):
            v = x[t, j]
            if v == v:
                vals[m] = v
                cols[m] = j
                m += 1
        if m == 0:
            continue
        if m == 1:
            out[t, cols[0]] = 0.5
            continue
        order = np.argsort(vals[:m])
        i = 0
        while i < m:
            e = i
            while e + 1 < m and vals[order[e + 1]] == vals[order[i]]:
                e += 1
            # positions i..e tie; their 0-based average rank is (i + e) / 2
            score = 0.5 * (i + e) / (m - 1)
            for p in range(i, e + 1):
                out[t, cols[order[p]]] = score
            i = e + 1
    return out


def zscore(x: npt.ArrayLike, window: int) -> npt.NDArray[np.float64]:
    """Return the rolling z-score with the population std (ddof=0).

    Parameters
    ----------
    x
        ``(n,)`` or ``(n, k)`` values.
    window
        ``>= 2``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``; the first ``window − 1`` rows are NaN, and rows
        whose window is constant.
    """
    window = check_int("zscore", "window", window, 2)
    mat, was_1d = as_matrix("zscore", "x", x)
    return restore(zscore_nb(mat, window), was_1d)


def xs_rank(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return the cross-sectional rank of each row in ``[0, 1]`` (0 = lowest, ties averaged).

    Parameters
    ----------
    x
        ``(n, k)`` values, one column per asset (a 1-D input is one asset: 0.5
        wherever it is not NaN).

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``; NaN where ``x`` is NaN.
    """
    mat, was_1d = as_matrix("xs_rank", "x", x)
    return restore(xs_rank_nb(mat), was_1d)
