"""The log hub: tails a run's event log, keeps its state and metrics, fans events out by topic.

The hub only reads the log, so it runs in any process: SQLite in WAL mode lets readers see a
live run's appends while the runner writes, and PostgreSQL logs are read like any table. It
reads every event once at construction, then polls ``read(after_seq=last)`` every ``poll_s``
seconds once :meth:`LogHub.start` runs its task. Every new event is folded into the state,
counted in the metrics and only then published to the subscribers of its topics, so a client
that gets a message and then asks a route sees a state that includes it.

Topics (:data:`TOPICS`):

=========  =============================================================================
orders     every ``order_*`` event
fills      ``order_fill``
signals    ``decision``
risk       ``risk_*``, ``halted``, ``resumed``, ``kill_switch*``, ``manual_order``, ``reconciled``
           with ``ok`` false
=========  =============================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

from live.api._metrics import HubMetrics
from live.api._recent import Recent
from live.api._staleness import DEFAULT_STALE_BARS, DataAge, Staleness
from live.events import Event, EventStore
from live.state import RunFold

__all__ = ["TOPICS", "LogHub", "Subscription", "topics_of"]

log = logging.getLogger(__name__)

TOPICS = ("orders", "fills", "signals", "risk")
_ERRORS_KEPT = 20


def topics_of(e: Event) -> tuple[str, ...]:
    """The topics an event is published on (maybe none)."""
    kind = e.kind
    if kind == "order_fill":
        return ("orders", "fills")
    if kind.startswith("order_"):
        return ("orders",)
    if kind == "decision":
        return ("signals",)
    if (
        kind.startswith(("risk_", "kill_switch"))
        or kind in ("halted", "resumed", "manual_order")
        or (kind == "reconciled" and not e.payload.get("ok", True))
    ):
        return ("risk",)
    return ()


def event_message(e: Event, topic: str) -> dict[str, Any]:
    """The JSON a websocket subscriber gets for one event."""
    return {
        "topic": topic,
        "seq": e.seq,
        "ts_ms": e.ts_ms,
        "kind": e.kind,
        "stream": e.stream,
        "payload": e.payload,
    }


class Subscription:
    """One subscriber's queue of events of one topic.

    A subscriber that falls ``limit`` events behind is dropped (it can reconnect asking for
    the events after the last ``seq`` it got): :meth:`get` then returns ``None``.
    """

    def __init__(self, topic: str, limit: int) -> None:
        self.topic = topic
        self.limit = limit
        self.overflowed = False
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def put(self, e: Event) -> None:
        if self.overflowed:
            return
        if self._queue.qsize() >= self.limit:
            self.overflowed = True
            self._queue.put_nowait(None)
            return
        self._queue.put_nowait(e)

    async def get(self) -> Event | None:
        """The next event, or ``None`` once the subscriber has been dropped."""
        return await self._queue.get()


class LogHub:
    """A run's event log, tailed: folded state, Prometheus metrics, topic fan-out.

    Parameters
    ----------
    events_target
        The log's path (SQLite) or ``postgresql://`` URL, as for :meth:`EventStore.open`.
    poll_s
        Seconds between two polls of the log when it has nothing new.
    clock
        Seconds since the epoch (for the age of the last event in :meth:`health`).
    batch
        Most events folded per poll (a long backlog is folded over several polls, so the
        server keeps answering meanwhile).
    stale_bars
        How many timeframes the last closed bar may age, on the run's clock, before
        :meth:`health` calls the data stale (see :mod:`live.api._staleness`).

    Raises
    ------
    EventStoreError
        If the log cannot be opened (read errors later are counted, logged and shown by
        :meth:`health`; polling goes on).

    Notes
    -----
    All database access goes through one worker thread, which owns the connection (SQLite
    connections belong to the thread that made them); folding, metrics and publishing run on
    the caller's thread, in practice the server's event loop. Call :meth:`refresh` only when
    no loop runs the hub.
    """

    def __init__(
        self,
        events_target: str | Path,
        *,
        poll_s: float = 0.1,
        clock: Callable[[], float] = time.time,
        batch: int = 5000,
        stale_bars: float = DEFAULT_STALE_BARS,
    ) -> None:
        self.poll_s = poll_s
        self.staleness = Staleness(stale_bars, wall=clock)
        self.batch = batch
        self._clock = clock
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="grekko-loghub")
        try:
            self._store = self._io.submit(EventStore.open, events_target).result()
        except BaseException:
            self._io.shutdown(wait=False)
            raise
        self.target = self._store.target
        self.fold = RunFold()
        self.metrics = HubMetrics()
        self.read_error: str | None = None
        self._subscribers: dict[str, set[Subscription]] = {t: set() for t in TOPICS}
        self.recent = Recent(TOPICS)  # what the web console loads before it streams
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._closed = False
        while self.refresh() >= self.batch:
            pass

    # -- reading the log -------------------------------------------------------------------

    @property
    def registry(self) -> Any:
        """The hub's own :class:`prometheus_client.CollectorRegistry`."""
        return self.metrics.registry

    def _read(self, after_seq: int, limit: int) -> list[Event]:
        return list(islice(self._store.read(after_seq=after_seq), limit))

    def refresh(self) -> int:
        """Fold the events appended since the last poll (at most ``batch``); return how many."""
        future = self._io.submit(self._read, self.fold.last_seq, self.batch)
        return self._ingest(self._guard(future.result))

    async def poll(self) -> int:
        """:meth:`refresh` without blocking the event loop."""
        future = asyncio.wrap_future(self._io.submit(self._read, self.fold.last_seq, self.batch))
        try:
            events = await future
        except Exception as e:
            self._read_failed(e)
            return 0
        self.read_error = None
        return self._ingest(events)

    def _guard(self, fetch: Callable[[], list[Event]]) -> list[Event]:
        try:
            events = fetch()
        except Exception as e:
            self._read_failed(e)
            return []
        self.read_error = None
        return events

    def _read_failed(self, e: Exception) -> None:
        self.read_error = f"{type(e).__name__}: {e}"
        self.metrics.errors.inc()
        log.warning("reading the event log failed: %s", self.read_error)

    def _ingest(self, events: list[Event]) -> int:
        for e in events:
            self.staleness.observe(e)
            try:
                rejections = self.fold.apply(e)
            except Exception as exc:  # an inconsistent log: report it, keep tailing
                self._unprocessed(e, exc)
                self.metrics.seen(e)  # count nothing the state does not hold
            else:
                try:
                    self.metrics.observe(e, self.fold, rejections)
                except Exception as exc:
                    self._unprocessed(e, exc)
            topics = topics_of(e)
            self.recent.observe(e, topics)
            for topic in topics:
                for sub in list(self._subscribers[topic]):
                    sub.put(e)
        return len(events)

    def _unprocessed(self, e: Event, exc: Exception) -> None:
        text = f"seq {e.seq} ({e.kind}): {type(exc).__name__}: {exc}"
        self.fold.errors = [*self.fold.errors, text][-_ERRORS_KEPT:]
        self.metrics.errors.inc()
        log.error("event %s could not be processed", text)

    async def backlog(self, topic: str, after_seq: int, limit: int = 10_000) -> list[Event]:
        """Events of ``topic`` with ``after_seq < seq <= last folded seq`` (at most ``limit``),
        for a subscriber catching up after a reconnect."""
        until = self.fold.last_seq

        def read() -> list[Event]:
            out: list[Event] = []
            for e in self._store.read(after_seq=after_seq):
                if e.seq > until or len(out) >= limit:
                    break
                if topic in topics_of(e):
                    out.append(e)
            return out

        return await asyncio.wrap_future(self._io.submit(read))

    # -- subscribers -----------------------------------------------------------------------

    def subscribe(self, topic: str, *, limit: int = 1000) -> Subscription:
        """Start queueing the new events of ``topic`` (one of :data:`TOPICS`)."""
        if topic not in self._subscribers:
            raise KeyError(f"unknown topic {topic!r}; topics: {', '.join(TOPICS)}")
        sub = Subscription(topic, limit)
        self._subscribers[topic].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop queueing events for ``sub`` (idempotent)."""
        self._subscribers[sub.topic].discard(sub)

    def subscribers(self, topic: str) -> int:
        """How many subscribers ``topic`` has."""
        return len(self._subscribers[topic])

    @contextlib.contextmanager
    def subscription(self, topic: str, *, limit: int = 1000) -> Iterator[Subscription]:
        """:meth:`subscribe`, unsubscribed on exit."""
        sub = self.subscribe(topic, limit=limit)
        try:
            yield sub
        finally:
            self.unsubscribe(sub)

    # -- lifetime --------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll the log until cancelled."""
        while True:
            n = await self.poll()
            if n < self.batch:
                await asyncio.sleep(self.poll_s)
            else:
                await asyncio.sleep(0)  # a backlog: let requests in between batches

    def start(self) -> None:
        """Start tailing the log on the running event loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run(), name="grekko-loghub")
            self._started = True

    async def stop(self) -> None:
        """Stop tailing (the state stays readable)."""
        task, self._task = self._task, None
        self._started = False
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @property
    def tailing(self) -> bool:
        """Whether the polling task runs."""
        return self._task is not None and not self._task.done()

    def close(self) -> None:
        """Close the log (idempotent); call :meth:`stop` first."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            self._io.submit(self._store.close).result()
        self._io.shutdown(wait=True)

    def __enter__(self) -> LogHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- views -----------------------------------------------------------------------------

    def data_age(self) -> DataAge:
        """The run's data age now, on its own clock (also set in the metrics)."""
        age = self.staleness.now()
        self.metrics.observe_age(age)
        return age

    def health(self) -> dict[str, Any]:
        """Liveness for ``/health``: no run details, nothing secret.

        ``status`` is ``error`` while the log cannot be read, after an event could not be
        processed, or once the polling task died; ``degraded`` while the run's data is stale
        (its last bar older than ``stale_bars`` timeframes on the run's clock); else ``ok``.
        ``ok`` is true only for ``ok``; ``reasons`` say why not.
        """
        reasons = []
        if self.read_error is not None:
            reasons.append(f"log read: {self.read_error}")
        if self.fold.errors:
            reasons.append(f"{len(self.fold.errors)} event(s) could not be processed")
        if self._started and not self.tailing:
            reasons.append("the log is no longer tailed")
        age = self.data_age()
        status = "error" if reasons else "degraded" if age.stale else "ok"
        if age.reason is not None:
            reasons.append(age.reason)
        return {
            "ok": status == "ok",
            "status": status,
            "reasons": reasons,
            "last_seq": self.fold.last_seq,
            "clock": age.clock,
            "clock_rate": age.rate,
            "last_event_age_s": age.last_event_age_s,
            "last_bar_age_s": age.last_bar_age_s,
            "stale_after_s": age.stale_after_s,
        }

    def __repr__(self) -> str:
        return f"LogHub({self.target!r}, last_seq={self.fold.last_seq})"
