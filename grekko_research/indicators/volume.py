"""Volume indicators: on-balance volume and rolling VWAP.

Kernels take ``(n, k)`` float64 arrays (bars × assets) and return ``(n, k)``
float64, column by column. The value at row ``t`` uses rows ``≤ t`` only;
warm-up rows are NaN; a bar with a NaN in any input the indicator reads is
skipped (it does not change the state) and gives NaN at that row.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from grekko_research.indicators._api import as_matrices, check_int, restore
from grekko_research.indicators._rolling import rolling_moments_1d

__all__ = ["obv", "obv_nb", "vwap", "vwap_nb"]


@njit(cache=True, nogil=True)
def obv_nb(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """Return on-balance volume, ``(n, k)``.

    0 on the first valid bar (it has no previous close); then the volume is
    added when the close rises above the previous valid close, subtracted when
    it falls, and nothing changes when it is equal. TA-Lib starts at the first
    bar's volume instead, which shifts the whole series by that constant. No warm-up.
    """
    n, k = close.shape
    out = np.full((n, k), np.nan)
    for j in range(k):
        prev = np.nan
        acc = 0.0
        for t in range(n):
            c, v = close[t, j], volume[t, j]
            if not (c == c and v == v):
                continue
            if prev == prev:
                if c > prev:
                    acc += v
                elif c < prev:
                    acc -= v
            prev = c
            out[t, j] = acc
    return out


@njit(cache=True, nogil=True)
def vwap_nb(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray, window: int
) -> np.ndarray:
    """Return the rolling volume-weighted average typical price, ``(n, k)``.

    ``Σ tp·volume / Σ volume`` over the last ``window`` valid bars, with
    ``tp = (high + low + close) / 3`` (the ``ta`` package's ``VWAP``); NaN
    where the window's volume is 0. Warm-up: the first ``window − 1`` rows.
    """
    n, k = close.shape
    out = np.empty((n, k))
    pv = np.empty(n)
    vol = np.empty(n)
    mean_pv = np.empty(n)
    mean_v = np.empty(n)
    scratch = np.empty(n)
    for j in range(k):
        for t in range(n):
            h, lo, c, v = high[t, j], low[t, j], close[t, j], volume[t, j]
            if h == h and lo == lo and c == c and v == v:
                pv[t] = (h + lo + c) / 3.0 * v
                vol[t] = v
            else:
                pv[t] = np.nan
                vol[t] = np.nan
        # ratio of window means = ratio of window sums; the means do not drift
        rolling_moments_1d(pv, window, 0, mean_pv, scratch)
        rolling_moments_1d(vol, window, 0, mean_v, scratch)
        for t in range(n):
            m = mean_v[t]
            out[t, j] = mean_pv[t] / m if m != 0.0 else np.nan
    return out


def obv(close: npt.ArrayLike, volume: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Return on-balance volume, starting at 0 on the first valid bar.

    Parameters
    ----------
    close, volume
        Same-shaped ``(n,)`` or ``(n, k)`` arrays.

    Returns
    -------
    numpy.ndarray
        Same shape as ``close``; NaN only at bars with a NaN input.
    """
    (c, v), was_1d = as_matrices("obv", close=close, volume=volume)
    return restore(obv_nb(c, v), was_1d)


def vwap(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    volume: npt.ArrayLike,
    window: int,
) -> npt.NDArray[np.float64]:
    """Return the rolling VWAP of the typical price ``(high + low + close) / 3``.

    Parameters
    ----------
    high, low, close, volume
        Same-shaped ``(n,)`` or ``(n, k)`` arrays.
    window
        Bars in the window, ``>= 1``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``close``; the first ``window − 1`` rows are NaN, and
        rows whose window traded no volume.
    """
    window = check_int("vwap", "window", window, 1)
    (h, lo, c, v), was_1d = as_matrices("vwap", high=high, low=low, close=close, volume=volume)
    return restore(vwap_nb(h, lo, c, v, window), was_1d)
