"""Moving averages: simple, exponential (SMA-seeded) and linearly weighted.

Kernels take ``(n, k)`` float64 arrays (bars × assets) and return ``(n, k)``
float64, column by column. The value at row ``t`` uses rows ``≤ t`` only;
warm-up rows are NaN; a NaN input row is skipped (it does not enter the
window or advance the average) and gives NaN at that row.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from grekko_research.indicators._api import as_matrix, check_int, restore
from grekko_research.indicators._rolling import ema_1d, rolling_moments_1d

__all__ = ["ema", "ema_nb", "sma", "sma_nb", "wma", "wma_nb"]


@njit(cache=True, nogil=True)
def sma_nb(x: np.ndarray, window: int) -> np.ndarray:
    """Return the simple moving average of the last ``window`` valid values, ``(n, k)``.

    Warm-up: the first ``window − 1`` rows.
    """
    n, k = x.shape
    out = np.empty((n, k))
    col = np.empty(n)
    mean = np.empty(n)
    var = np.empty(n)
    for j in range(k):
        col[:] = x[:, j]
        rolling_moments_1d(col, window, 0, mean, var)
        out[:, j] = mean
    return out


@njit(cache=True, nogil=True)
def ema_nb(x: np.ndarray, span: int) -> np.ndarray:
    """Return the exponential moving average with ``α = 2 / (span + 1)``, ``(n, k)``.

    Seeded like TA-Lib's ``EMA``: the first value is the SMA of the first
    ``span`` valid values, at that row; warm-up: the first ``span − 1`` rows.
    """
    n, k = x.shape
    out = np.empty((n, k))
    col = np.empty(n)
    res = np.empty(n)
    alpha = 2.0 / (span + 1.0)
    for j in range(k):
        col[:] = x[:, j]
        ema_1d(col, alpha, span, res)
        out[:, j] = res
    return out


@njit(cache=True, nogil=True)
def _wma_1d(x: np.ndarray, window: int, out: np.ndarray) -> None:
    """Write the linearly weighted average of the last ``window`` valid values, ``(n,)``.

    The numerator moves by ``num += window·x_new − plain_sum_before``; both
    sums are recomputed from the window every ``window`` updates so that
    rounding cannot drift.
    """
    n = x.shape[0]
    buf = np.empty(window)
    norm = window * (window + 1) / 2.0
    count = 0
    since = 0
    plain = 0.0
    num = 0.0
    for t in range(n):
        v = x[t]
        if v != v:
            out[t] = np.nan
            continue
        slot = count % window
        old = buf[slot] if count >= window else 0.0
        buf[slot] = v
        count += 1
        if count < window:
            out[t] = np.nan
            continue
        since += 1
        if count == window or since >= window:
            since = 0
            # slot holds the newest value, so the oldest is at slot + 1 (mod window)
            plain = 0.0
            num = 0.0
            for i in range(window):
                u = buf[(slot + 1 + i) % window]
                plain += u
                num += (i + 1) * u
        else:
            num += window * v - plain
            plain += v - old
        out[t] = num / norm


@njit(cache=True, nogil=True)
def wma_nb(x: np.ndarray, window: int) -> np.ndarray:
    """Return the linearly weighted moving average, ``(n, k)``.

    Weights ``1, 2, …, window`` from the oldest to the newest valid value,
    divided by ``window·(window + 1)/2`` (TA-Lib's ``WMA``); warm-up: the first
    ``window − 1`` rows.
    """
    n, k = x.shape
    out = np.empty((n, k))
    col = np.empty(n)
    res = np.empty(n)
    for j in range(k):
        col[:] = x[:, j]
        _wma_1d(col, window, res)
        out[:, j] = res
    return out


def sma(x: npt.ArrayLike, window: int) -> npt.NDArray[np.float64]:
    """Return the simple moving average over ``window`` valid values.

    Parameters
    ----------
    x
        ``(n,)`` or ``(n, k)`` values (array, Series or DataFrame).
    window
        Number of values averaged, ``>= 1``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``; the first ``window − 1`` rows are NaN.
    """
    window = check_int("sma", "window", window, 1)
    mat, was_1d = as_matrix("sma", "x", x)
    return restore(sma_nb(mat, window), was_1d)


def ema(x: npt.ArrayLike, span: int) -> npt.NDArray[np.float64]:
    """Return the exponential moving average, ``α = 2 / (span + 1)``, seeded with an SMA.

    Parameters
    ----------
    x
        ``(n,)`` or ``(n, k)`` values.
    span
        ``>= 1``; the first output (row ``span − 1``) is the mean of the first
        ``span`` values, as in TA-Lib (pandas ``ewm(adjust=False)`` and the
        ``ta`` package seed with the first value instead).

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``; the first ``span − 1`` rows are NaN.
    """
    span = check_int("ema", "span", span, 1)
    mat, was_1d = as_matrix("ema", "x", x)
    return restore(ema_nb(mat, span), was_1d)


def wma(x: npt.ArrayLike, window: int) -> npt.NDArray[np.float64]:
    """Return the linearly weighted moving average (weights ``1 … window``, newest heaviest).

    Parameters
    ----------
    x
        ``(n,)`` or ``(n, k)`` values.
    window
        ``>= 1``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``; the first ``window − 1`` rows are NaN.
    """
    window = check_int("wma", "window", window, 1)
    mat, was_1d = as_matrix("wma", "x", x)
    return restore(wma_nb(mat, window), was_1d)
