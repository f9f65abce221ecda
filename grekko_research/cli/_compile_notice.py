"""Say so when numba is about to compile: the first run on a cold cache takes about a minute.

numba loads a kernel from its on-disk cache (``NUMBA_CACHE_DIR``, else ``__pycache__``
beside the module) without compiling; only a cache miss raises its ``numba:compile``
event. Listening to that event prints the notice exactly when a kernel is going to
compile — never on a warm cache — and the summary says how long it took.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from typing import Any

from rich.console import Console

from grekko_research.cli.render import fmt_duration

__all__ = ["COLD_COMPILE_SECONDS", "compile_notice", "estimate_seconds"]

COLD_COMPILE_SECONDS = 60
"""A cold ``grekko backtest`` (sma_cross) compiles for about this long on 2 idle cores."""


def estimate_seconds() -> int:
    """Return the expected compile time: the measured figure, scaled by how busy the CPUs are."""
    try:
        busy = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:  # no load average on this platform
        busy = 1.0
    return int(round(COLD_COMPILE_SECONDS * max(1.0, busy), -1))


@contextlib.contextmanager
def compile_notice(out: Console) -> Iterator[None]:
    """Within the block, print once to ``out`` when a numba kernel starts compiling."""
    from numba.core import event

    state: dict[str, Any] = {"start": None, "count": 0}

    class _Listener(event.Listener):
        def on_start(self, ev: Any) -> None:
            state["count"] += 1
            if state["start"] is None:
                state["start"] = time.perf_counter()
                where = os.environ.get("NUMBA_CACHE_DIR") or "__pycache__ beside the modules"
                out.print(
                    f"compiling kernels, once, ~{estimate_seconds()} s "
                    f"(numba's cache in {where} is cold for them)…",
                    highlight=False,
                    soft_wrap=True,
                )

        def on_end(self, ev: Any) -> None:
            pass

    with event.install_listener("numba:compile", _Listener()):
        yield
    if state["start"] is not None:
        took = fmt_duration(time.perf_counter() - state["start"])
        out.print(
            f"compiled {state['count']} kernel signatures in {took} (cached: later runs skip this)",
            highlight=False,
            soft_wrap=True,
        )
