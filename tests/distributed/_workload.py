"""What the Ray workers run in these tests, importable by them (``tests.distributed._workload``).

``sma_kernel``: a grid signal kernel. ``KillOnceSma``: SMA cross whose ``signals`` kill
their own process (SIGKILL: no cleanup, as an OOM kill or a lost node) the first time they
find the flag file ``$GREKKO_TEST_KILL_DIR/kill`` (set in the cluster's environment only,
so the test process itself never dies).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import numpy as np
from numba import njit

from grekko_research.strategy import register_strategy
from strategies.sma_cross import SmaCross


@njit(cache=True, nogil=True)
def sma_kernel(open_, high, low, close, volume, params, entries, exits, short_entries, short_exits):  # noqa: PLR0917
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


@register_strategy
class KillOnceSma(SmaCross):
    name = "kill_once_sma"

    def signals(self, bars: Any, params: Any) -> Any:
        folder = os.environ.get("GREKKO_TEST_KILL_DIR")
        if folder:
            try:
                (Path(folder) / "kill").unlink()  # only the first trial to find it dies
            except FileNotFoundError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return super().signals(bars, params)
