"""Grid signal kernels shared by the tests (``run_grid``'s kernel signature), importable by Ray
workers too (``tests.peers.grid_kernels``)."""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["sma_cross_kernel"]


@njit(cache=True, nogil=True)
def sma_cross_kernel(  # noqa: PLR0917
    open_, high, low, close, volume, params, entries, exits, short_entries, short_exits
):
    fast = int(params[0])
    slow = int(params[1])
    n, k = close.shape
    for j in range(k):
        sf = 0.0
        ss = 0.0
        prev_f = np.nan
        prev_s = np.nan
        for t in range(n):
            sf += close[t, j]
            ss += close[t, j]
            if t >= fast:
                sf -= close[t - fast, j]
            if t >= slow:
                ss -= close[t - slow, j]
            if t >= slow - 1:
                f = sf / fast
                s = ss / slow
                if prev_f == prev_f:
                    entries[t, j] = f > s and prev_f <= prev_s
                    exits[t, j] = f < s and prev_f >= prev_s
                prev_f = f
                prev_s = s
