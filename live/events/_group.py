"""Group commit: appends from many threads or tasks share one transaction and one fsync.

A durable append costs one commit, and a commit costs one fsync (SQLite WAL with
``synchronous=FULL``; PostgreSQL's WAL flush): a few milliseconds, so one writer appending
events one by one tops out at a few hundred to a few thousand events per second. A
:class:`GroupCommit` owns a store and one writer thread; callers :meth:`~GroupCommit.submit`
their events (validated and serialised in the caller's thread) and the writer commits
everything queued meanwhile in one :meth:`~live.events.EventStore.append_many`-like
transaction. While a commit is on its way to the disk, the next batch gathers, so batching
adds no wait of its own: the busier the log, the bigger the batches.

Durability is unchanged for whoever waits: :meth:`~GroupCommit.append` (and the future
:meth:`~GroupCommit.submit` returns) resolves only once the transaction holding those events
is committed, exactly as :meth:`EventStore.append` returns. An order intent must be appended
that way — waited for — before the order is sent. Events nobody waits for (market data,
telemetry) may be submitted and left: they are committed with the next batch, in order, and a
crash before that commit loses them, never an event whose append returned.

Each submission is atomic and contiguous (its events get consecutive ``seq`` and are all
stored or none); submissions are stored in the order they were made. A batch whose commit
fails fails every submission in it (the transaction stored none of them). The chain, MACs and
checkpoints are the store's own (one checkpoint per batch): group commit sits above the
backend, so it batches SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from live.events._codec import Draft, Event
from live.events._errors import EventStoreError

__all__ = ["GroupCommit", "Ticket"]

_Prepared = tuple[str, str, dict[str, Any], str, int]


class _Batch:
    """The submissions one transaction commits, and its outcome (set once, by the writer)."""

    __slots__ = ("callbacks", "done", "error", "events", "rows")

    def __init__(self) -> None:
        self.rows: list[_Prepared] = []
        self.done = threading.Event()
        self.events: list[Event] = []
        self.error: BaseException | None = None
        self.callbacks: list[Callable[[], None]] = []


class Ticket:
    """One submission: its events once their batch is committed (:meth:`result`)."""

    __slots__ = ("_batch", "_n", "_start")

    def __init__(self, batch: _Batch, start: int, n: int) -> None:
        self._batch, self._start, self._n = batch, start, n

    def done(self) -> bool:
        """Whether the batch is committed or has failed."""
        return self._batch.done.is_set()

    def result(self, timeout: float | None = None) -> list[Event]:
        """Wait for the commit and return the stored events, or raise the commit's error.

        Raises
        ------
        TimeoutError
            If ``timeout`` seconds pass first (the events may still be committed later).
        """
        batch = self._batch
        if not batch.done.wait(timeout):
            raise TimeoutError(f"the group commit did not finish within {timeout} s")
        if batch.error is not None:
            raise batch.error
        return batch.events[self._start : self._start + self._n]


class GroupCommit:
    """One writer thread committing the queued appends of any number of threads in batches.

    Open it with :meth:`open` (the writer thread opens the store: SQLite connections belong
    to the thread that opened them) and close it (or use ``with``), which commits what is
    queued first. Reads go through a store of their own (:meth:`EventStore.open`).

    Parameters
    ----------
    max_batch
        The most events one transaction takes (a submission is never split: one bigger than
        this is committed alone).
    """

    def __init__(self, opener: Callable[[], Any], *, max_batch: int = 10_000) -> None:
        if max_batch < 1:
            raise EventStoreError(f"max_batch must be at least 1, got {max_batch}")
        self._max_batch = max_batch
        self._cond = threading.Condition()
        self._open = _Batch()  # where submissions go while the writer commits the one before
        self._closing = False
        self._idle = False  # the writer waits for a submission (notify only then)
        self._store: Any = None
        self._failed: BaseException | None = None
        self.batches = 0  # transactions committed (for benchmarks and tests)
        self.events = 0
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(opener, ready), name="grekko-group-commit", daemon=True
        )
        self._thread.start()
        ready.wait()
        if self._failed is not None:
            raise self._failed

    @classmethod
    def open(cls, target: str | Path, *, max_batch: int = 10_000, **options: Any) -> GroupCommit:
        """Open the log at ``target`` for group commit; ``options`` are
        :meth:`EventStore.open`'s (``clock``, ``key``, ``checkpoints`` …)."""
        from live.events.store import EventStore

        return cls(lambda: EventStore.open(target, **options), max_batch=max_batch)

    @property
    def target(self) -> str:
        """The log's path, or its URL without password."""
        return str(self._store.target)

    # ------------------------------------------------------------------ appending

    def submit(self, drafts: Iterable[Draft | tuple[Any, ...]]) -> Ticket:
        """Queue events to append atomically, in order; return the submission's ticket.

        Every draft is validated here, in the caller's thread (an invalid one raises
        :class:`~live.events.InvalidEventError` and nothing is queued). ``ticket.result()``
        returns the stored events once the batch holding them is committed (durable), or
        raises the commit's error.
        """
        prepared = [self._store._prepare(Draft(*d)) for d in drafts]
        with self._cond:
            if self._closing:
                raise EventStoreError(f"event log {self.target}: group commit is closed")
            batch = self._open
            if batch.rows and len(batch.rows) + len(prepared) > self._max_batch:
                batch = self._open = self._sealed(batch)
            start = len(batch.rows)
            batch.rows += prepared
            if self._idle:
                self._cond.notify()
        return Ticket(batch, start, len(prepared))

    def _sealed(self, full: _Batch) -> _Batch:
        """Queue ``full`` for the writer and open the next batch (under the lock)."""
        self._full.append(full)
        return _Batch()

    def append_many(self, drafts: Iterable[Draft | tuple[Any, ...]]) -> list[Event]:
        """Append events atomically and return them once they are durable (the store's
        :meth:`~live.events.EventStore.append_many`, sharing a transaction with others)."""
        return self.submit(drafts).result()

    def append(
        self, kind: str, stream: str, payload: dict[str, Any], ts_ms: int | None = None
    ) -> Event:
        """Append one event and return it once it is durable."""
        return self.append_many([Draft(kind, stream, payload, ts_ms)])[0]

    async def append_async(self, drafts: Iterable[Draft | tuple[Any, ...]]) -> list[Event]:
        """:meth:`append_many` for asyncio code: the event loop runs on while the batch
        commits."""
        ticket = self.submit(drafts)
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()

        def resolve() -> None:
            if not waiter.done():
                waiter.set_result(None)

        def wake() -> None:
            loop.call_soon_threadsafe(resolve)

        with self._cond:  # the writer runs callbacks under the lock once done is set
            if ticket.done():
                wake()
            else:
                ticket._batch.callbacks.append(wake)
        await waiter
        return ticket.result()

    def flush(self) -> None:
        """Wait until everything submitted before this call is committed (or has failed)."""
        with self._cond:
            pending = [*self._full, self._open] if self._open.rows else list(self._full)
            if self._busy is not None:
                pending.insert(0, self._busy)
        for batch in pending:
            batch.done.wait()

    # ------------------------------------------------------------------ the writer

    _full: deque[_Batch]
    _busy: _Batch | None = None  # the batch being committed

    def _run(self, opener: Callable[[], Any], ready: threading.Event) -> None:
        self._full = deque()
        try:
            self._store = opener()
        except BaseException as e:  # raised in the opening thread
            self._failed = e
            ready.set()
            return
        ready.set()
        try:
            while True:
                with self._cond:
                    while not self._full and not self._open.rows:
                        if self._closing:
                            return
                        self._idle = True
                        self._cond.wait()
                        self._idle = False
                    if self._full:
                        batch = self._full.popleft()
                    else:
                        batch, self._open = self._open, _Batch()
                    self._busy = batch
                self._commit(batch)
        finally:
            self._store.close()

    def _commit(self, batch: _Batch) -> None:
        try:
            batch.events = self._store._append(batch.rows)
            self.batches += 1
            self.events += len(batch.events)
        except BaseException as e:  # every submission of the batch fails: none was stored
            batch.error = e
        with self._cond:
            batch.done.set()
            self._busy = None
            callbacks, batch.callbacks = batch.callbacks, []
        for wake in callbacks:
            wake()

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Commit what is queued, stop the writer and close the store (idempotent)."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join()

    def __enter__(self) -> GroupCommit:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GroupCommit({self.target!r}, batches={self.batches}, events={self.events})"
