"""The live runner: the strategy's own signal code, the engine's sizing and risk rules, the
order manager and a venue, with every step recorded in the event store (see :mod:`.runner`)."""

from live.runner._native import NATIVE_CRASH_POINTS
from live.runner._stops import STOP_CRASH_POINTS
from live.runner.runner import CRASH_POINTS, Runner, RunnerSpec, RunSummary

__all__ = [
    "CRASH_POINTS",
    "NATIVE_CRASH_POINTS",
    "STOP_CRASH_POINTS",
    "RunSummary",
    "Runner",
    "RunnerSpec",
]
