"""Volatility indicators used by the engine's stops and sizing (the full library grows around them).

Kernels take ``(n, k)`` float64 arrays (bars × assets) and return the same
shape; the first ``window − 1`` rows (or more, after NaNs) are NaN. Values at
row ``t`` use rows ``≤ t`` only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["atr_nb", "rolling_volatility_nb"]


@njit(cache=True, nogil=True)
def atr_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int) -> np.ndarray:
    """Return Wilder's Average True Range, ``(n, k)``.

    True range at ``t`` is ``max(high − low, |high − close[t−1]|, |low − close[t−1]|)``
    (``high − low`` on the first bar); the ATR seeds with the mean of the first
    ``window`` true ranges and then smooths with ``α = 1 / window``.
    """
    n, k = close.shape
    out = np.full((n, k), np.nan)
    for j in range(k):
        count = 0
        acc = 0.0
        value = np.nan
        prev_close = np.nan
        for t in range(n):
            h, lo, c = high[t, j], low[t, j], close[t, j]
            if not (h == h and lo == lo and c == c):
                continue  # a bar without trades does not move the ATR
            tr = h - lo
            if prev_close == prev_close:
                tr = max(tr, abs(h - prev_close), abs(lo - prev_close))
            prev_close = c
            if count < window:
                acc += tr
                count += 1
                if count == window:
                    value = acc / window
                    out[t, j] = value
            else:
                value += (tr - value) / window
                out[t, j] = value
    return out


@njit(cache=True, nogil=True)
def rolling_volatility_nb(close: np.ndarray, window: int, periods_per_year: float) -> np.ndarray:
    """Return the annualised close-to-close volatility over ``window`` returns, ``(n, k)``.

    Standard deviation (ddof=1) of simple returns ``close[t] / close[t−1] − 1``
    times ``sqrt(periods_per_year)``. NaN closes break the window.
    """
    n, k = close.shape
    out = np.full((n, k), np.nan)
    scale = np.sqrt(periods_per_year)
    for j in range(k):
        s = 0.0
        s2 = 0.0
        count = 0
        buf = np.empty(window)
        for t in range(1, n):
            a, b = close[t - 1, j], close[t, j]
            if not (a == a and b == b and a > 0.0):
                s = 0.0
                s2 = 0.0
                count = 0
                continue
            r = b / a - 1.0
            slot = count % window
            if count >= window:
                old = buf[slot]
                s -= old
                s2 -= old * old
            buf[slot] = r
            s += r
            s2 += r * r
            count += 1
            if count >= window and window > 1:
                mean = s / window
                var = (s2 - window * mean * mean) / (window - 1)
                out[t, j] = np.sqrt(max(var, 0.0)) * scale
    return out
