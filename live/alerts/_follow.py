"""Tail a run's event log and alert on it, in this process or as a separate one."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from live.alerts._router import AlertRouter, Outcome
from live.alerts._rules import alerts_for
from live.events import EventStore

__all__ = ["afollow", "follow"]

_CONTEXT_KINDS = ("run_started", "order_created")
# The run's trading state so far: a halt that began before the follower is not alerted again
# by its later events (see alerts_for).
_STATE_KINDS = ("halted", "resumed", "kill_switch", "risk_state")


def follow(
    events_target: str | Path,
    router: AlertRouter,
    *,
    after_seq: int | None = None,
    poll_s: float = 1.0,
    stop: Callable[[], bool] | None = None,
    sleep: Callable[[float], Any] = time.sleep,
    on_outcome: Callable[[Outcome], Any] | None = None,
) -> int:
    """Send the alerts of every event appended to the log at ``events_target``.

    Reads the log (SQLite path or PostgreSQL URL, see :meth:`EventStore.open`) every
    ``poll_s`` seconds with ``read(after_seq=…)``, passes each new event to
    :meth:`AlertRouter.handle`, then calls :meth:`AlertRouter.flush` for held-back alerts.

    Parameters
    ----------
    after_seq
        Alert on events after this ``seq``; ``None``: only on events appended from now on
        (the log's head at the start). Earlier events still teach the router's context the
        run id, the orders' symbols (fills of older orders are described fully) and the
        run's trading state (a halt alerted before is not alerted again by its later events).
    stop
        Checked after each pass; the loop ends when it returns true (``None``: never).
    sleep
        Waits between passes (injected in tests).
    on_outcome
        Called with each :class:`Outcome` (to print or count them).

    Returns
    -------
    int
        The ``seq`` of the last event handled (pass it as ``after_seq`` to resume).
    """
    with EventStore.open(events_target) as store:
        head = store.head()
        last = (head.seq if head is not None else 0) if after_seq is None else after_seq
        for event in store.read(kinds=[*_CONTEXT_KINDS, *_STATE_KINDS]):
            if event.seq > last:
                break
            alerts_for(event, router.context)  # learn, do not send
        while True:
            outcomes: list[Outcome] = []
            for event in store.read(after_seq=last):
                outcomes += router.handle(event)
                last = event.seq
            outcomes += router.flush()
            if on_outcome is not None:
                for outcome in outcomes:
                    on_outcome(outcome)
            if stop is not None and stop():
                return last
            sleep(poll_s)


async def afollow(
    events_target: str | Path,
    router: AlertRouter,
    *,
    after_seq: int | None = None,
    poll_s: float = 1.0,
    stop: asyncio.Event | None = None,
    on_outcome: Callable[[Outcome], Any] | None = None,
) -> int:
    """:func:`follow` in a worker thread until ``stop`` is set (or the task is cancelled).

    The log is read and alerts are sent (blocking HTTP) off the event loop; the store
    connection lives in that one thread. ``on_outcome`` is called from the worker thread.
    """
    halt = threading.Event()

    async def relay() -> None:
        if stop is not None:
            await stop.wait()
            halt.set()

    relay_task = asyncio.create_task(relay())
    try:
        return await asyncio.to_thread(
            follow,
            events_target,
            router,
            after_seq=after_seq,
            poll_s=poll_s,
            stop=halt.is_set,
            sleep=halt.wait,
            on_outcome=on_outcome,
        )
    finally:
        halt.set()  # a cancelled caller: the worker ends after its current pass
        relay_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await relay_task
