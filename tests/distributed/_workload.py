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

from grekko_research.strategy import register_strategy
from strategies.sma_cross import SmaCross
from tests.peers.grid_kernels import sma_cross_kernel

sma_kernel = sma_cross_kernel  # the grid tests' kernel


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
