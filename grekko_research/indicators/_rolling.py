"""Column kernels shared by the indicator modules (private).

Every helper here works on one contiguous 1-D column and writes into an output
column the caller allocated, so each compiles for a single signature. NaN input
rows are skipped: they neither enter a window nor advance a recursion, and
their output is NaN. Windows therefore count valid observations, not bars.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def rolling_moments_1d(
    x: np.ndarray, window: int, ddof: int, mean_out: np.ndarray, var_out: np.ndarray
) -> None:
    """Write the rolling mean and variance of the last ``window`` valid values of ``x``.

    ``x``, ``mean_out`` and ``var_out`` are ``(n,)``; ``var_out`` is divided by
    ``window − ddof`` (NaN when that is not positive). Sums run incrementally
    over values centred on a reference level and are recomputed exactly, with a
    fresh reference (the window mean), every ``window`` updates: drift cannot
    accumulate beyond two windows and the variance does not lose digits to a
    large price level.
    """
    n = x.shape[0]
    buf = np.empty(window)
    count = 0
    since = 0
    ref = 0.0
    s = 0.0
    s2 = 0.0
    denom = window - ddof
    for t in range(n):
        v = x[t]
        if v != v:
            mean_out[t] = np.nan
            var_out[t] = np.nan
            continue
        if count == 0:
            ref = v
        slot = count % window
        if count >= window:
            d_old = buf[slot] - ref
            s -= d_old
            s2 -= d_old * d_old
        buf[slot] = v
        d = v - ref
        s += d
        s2 += d * d
        count += 1
        if count < window:
            mean_out[t] = np.nan
            var_out[t] = np.nan
            continue
        since += 1
        if since >= window:
            since = 0
            acc = 0.0
            for i in range(window):
                acc += buf[i]
            ref = acc / window
            s = 0.0
            s2 = 0.0
            for i in range(window):
                d = buf[i] - ref
                s += d
                s2 += d * d
        mean_out[t] = ref + s / window
        if denom > 0:
            var_out[t] = max(s2 - s * s / window, 0.0) / denom
        else:
            var_out[t] = np.nan


@njit(cache=True, nogil=True)
def rolling_extreme_1d(x: np.ndarray, window: int, is_max: bool, out: np.ndarray) -> None:
    """Write the max (or min) of the last ``window`` valid values of ``x``, ``(n,)``.

    A monotonic deque keeps the candidates, so the cost is O(n) for any window.
    """
    n = x.shape[0]
    cap = window + 1
    dq_val = np.empty(cap)
    dq_seq = np.empty(cap, dtype=np.int64)
    head = 0
    size = 0
    seq = 0
    for t in range(n):
        v = x[t]
        if v != v:
            out[t] = np.nan
            continue
        while size > 0 and dq_seq[head] <= seq - window:
            head = (head + 1) % cap
            size -= 1
        while size > 0:
            back = (head + size - 1) % cap
            if (dq_val[back] <= v) if is_max else (dq_val[back] >= v):
                size -= 1
            else:
                break
        tail = (head + size) % cap
        dq_val[tail] = v
        dq_seq[tail] = seq
        size += 1
        seq += 1
        out[t] = dq_val[head] if seq >= window else np.nan


@njit(cache=True, nogil=True)
def ema_1d(x: np.ndarray, alpha: float, seed: int, out: np.ndarray) -> None:
    """Write an exponential average of the valid values of ``x``, ``(n,)``.

    The average starts at the mean of the first ``seed`` valid values (the row
    of the ``seed``-th valid value is the first non-NaN output) and then moves
    by ``alpha`` towards each new value.
    """
    n = x.shape[0]
    count = 0
    acc = 0.0
    value = np.nan
    for t in range(n):
        v = x[t]
        if v != v:
            out[t] = np.nan
            continue
        if count < seed:
            acc += v
            count += 1
            if count == seed:
                value = acc / seed
            out[t] = value
        else:
            value += alpha * (v - value)
            out[t] = value
