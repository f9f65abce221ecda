"""Control actions of the status API: the protocol the runner side implements, and the flag file.

The API never trades and never writes the event log: ``POST /kill``, ``POST /resume`` and the
manual orders (``POST /orders``, ``POST /orders/{client_id}/cancel``, a parent's cancel) go
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
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from grekko_research._atomic import atomic_write_text
from live.runner.spec import MANUAL_DIR, RESUME_FILE

__all__ = ["KILL_FILE", "RESUME_FILE", "Control", "FlagFileControl", "write_manual_request"]

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

    async def manual(self, request: dict[str, Any]) -> dict[str, Any]:
        """Ask for a manual order or cancel (``action`` enter / exit / cancel, see
        :mod:`live.runner._manual`); return a JSON-ready account with the request's ``id``."""
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

    async def manual(self, request: dict[str, Any]) -> dict[str, Any]:
        """Leave a manual-order request in the run's ``manual/`` folder (one file per request,
        written atomically, named by time so the runner takes them in order); return its id.
        The runner checks it with its risk engine and logs ``manual_order`` with the id and
        the outcome (sent, or refused with the rule)."""
        ts_ms = int(self._clock() * 1000)
        rid = uuid.uuid4().hex
        body = {**request, "id": rid, "ts_ms": ts_ms}
        path = write_manual_request(self.path.parent, body)
        return {
            "action": f"manual {request.get('action')}",
            "request_id": rid,
            "file": path.name,
            "ts_ms": ts_ms,
            "note": "the running process checks it with its risk engine and logs manual_order "
            "with this request_id and the outcome (sent, or refused with the rule)",
        }

    def __repr__(self) -> str:
        return f"FlagFileControl({str(self.path.parent)!r})"


def write_manual_request(state_dir: Path, body: dict[str, Any]) -> Path:
    """Write one manual-order request (``body`` with its ``id`` and ``ts_ms``) where the run in
    ``state_dir`` takes it: ``<state_dir>/manual/<ts_ms>-<id>.json``, atomically."""
    folder = Path(state_dir) / MANUAL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{int(body['ts_ms']):015d}-{body['id']}.json"
    atomic_write_text(path, json.dumps(body))
    return path
