"""Control actions of the status API: the protocol the runner side implements, and the flag file.

The API never trades and never writes the event log: ``POST /kill`` and ``POST /resume`` go
through a :class:`Control`. :class:`FlagFileControl` is the one a separate API process uses: it
writes the run's ``KILL`` flag file (what ``grekko-live kill`` writes, and what the runner
watches), or removes it and writes a ``RESUME`` request (which lifts a halt or kill switch of
any origin, a breaker's too). The runner records what it then does (``kill_switch``,
``halted``, ``resumed``) in the log, where the API's ``/risk`` and ``/ws/risk`` show it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from grekko_research._atomic import atomic_write_text
from live.runner.spec import RESUME_FILE

__all__ = ["KILL_FILE", "RESUME_FILE", "Control", "FlagFileControl"]

KILL_FILE = "KILL"
"""The flag file's name in a run's state folder (the same as ``live.app.KILL_FILE``)."""


@runtime_checkable
class Control(Protocol):
    """What the API asks of the process that owns the run."""

    async def kill(self, reason: str, flatten: bool) -> dict[str, Any]:
        """Ask for the kill switch (block new orders, cancel open ones, flatten if asked);
        return a JSON-ready account of what was done or requested."""
        ...

    async def resume(self, reason: str) -> dict[str, Any]:
        """Ask to lift the kill switch; return a JSON-ready account."""
        ...


class FlagFileControl:
    """Write or remove the ``KILL`` flag file in ``state_dir``; append nothing to the log.

    The file holds ``{"reason": str, "flatten": bool, "ts_ms": int}`` and is replaced
    atomically (a reader sees the old file or the new one, never half of one).

    Parameters
    ----------
    state_dir
        The run's state folder (the one holding ``events.db``).
    clock
        Seconds since the epoch, for the flag's ``ts_ms``.
    """

    def __init__(self, state_dir: str | Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(state_dir) / KILL_FILE
        self._clock = clock

    async def kill(self, reason: str, flatten: bool) -> dict[str, Any]:
        """Write the flag file (replacing an earlier one) and return what it holds."""
        ts_ms = int(self._clock() * 1000)
        body = {"reason": reason, "flatten": bool(flatten), "ts_ms": ts_ms}
        existed = self.path.exists()
        await asyncio.to_thread(atomic_write_text, self.path, json.dumps(body))
        return {
            "action": "kill",
            "flag": "replaced" if existed else "written",
            **body,
            "note": "the runner engages the kill switch when it sees the flag",
        }

    async def resume(self, reason: str) -> dict[str, Any]:
        """Remove the flag file (if any), leave a resume request for the runner, and say
        whether there was a flag."""
        existed = self.path.exists()
        ts_ms = int(self._clock() * 1000)
        await asyncio.to_thread(self.path.unlink, missing_ok=True)
        request = json.dumps({"reason": reason, "ts_ms": ts_ms})
        await asyncio.to_thread(atomic_write_text, self.path.with_name(RESUME_FILE), request)
        return {
            "action": "resume",
            "flag": "removed" if existed else "absent",
            "reason": reason,
            "ts_ms": ts_ms,
            "note": "the running process lifts its halt and kill switch when it sees the request"
            " (one that starts later discards it: use grekko-live resume for a stopped run)",
        }

    def __repr__(self) -> str:
        return f"FlagFileControl({str(self.path.parent)!r})"
