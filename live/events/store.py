"""The event store: open, append, read, verify, fold."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from live.events._backends import Backend, Conflict, open_backend
from live.events._codec import (
    GENESIS_HASH,
    Draft,
    Event,
    Row,
    check_text,
    check_ts,
    decode_payload,
    encode_payload,
    event_hash,
    row_to_event,
)
from live.events._errors import ChainConflictError, EventStoreError, InvalidEventError
from live.events._verify import VerifyReport, verify_rows

__all__ = ["EventStore", "fold", "verify"]

S = TypeVar("S")

_PAGE = 1000  # rows fetched per query while reading or verifying


class EventStore:
    """An append-only, hash-chained log of events in SQLite or PostgreSQL.

    Open it with :meth:`open`; do not call the constructor. An instance holds one database
    connection and is not thread-safe: open one per thread or process. Any number of writers
    may share one log; each append re-reads the head inside its transaction, and ``seq`` is the
    primary key, so the chain never forks.
    """

    def __init__(self, backend: Backend, clock: Callable[[], int] | None, retries: int) -> None:
        self._backend = backend
        self._clock = clock
        self._retries = retries
        self._closed = False

    @classmethod
    def open(
        cls,
        target: str | Path,
        *,
        clock: Callable[[], int] | None = None,
        retries: int = 100,
    ) -> EventStore:
        """Open (creating if needed) the log at ``target``.

        Parameters
        ----------
        target
            A file path or ``sqlite:///PATH`` (SQLite, WAL, ``synchronous=FULL``), or a
            ``postgresql://`` / ``postgresql+psycopg://`` URL (psycopg 3).
        clock
            Returns the time in ms since the epoch; used when an append gives no ``ts_ms``.
            The store never reads the system clock itself.
        retries
            Attempts of one append when other writers keep taking the next ``seq``
            (PostgreSQL only; SQLite writers queue on its lock instead).

        Raises
        ------
        EventStoreError
            If the database cannot be opened or its schema created.
        grekko_research.errors.ConfigError
            If ``target`` has an unknown URL scheme.
        """
        if retries < 1:
            raise InvalidEventError(f"retries must be at least 1, got {retries}")
        return cls(open_backend(target), clock, retries)

    @property
    def target(self) -> str:
        """The log's path, or its URL without password."""
        return self._backend.target

    # ------------------------------------------------------------------ writing

    def append(
        self, kind: str, stream: str, payload: dict[str, Any], ts_ms: int | None = None
    ) -> Event:
        """Append one event in its own transaction and return it once it is durable.

        Raises
        ------
        InvalidEventError
            If ``kind`` or ``stream`` is empty, ``ts_ms`` (or the clock's value) is not a
            non-negative int, or ``payload`` is not a JSON object (the message names the key).
        ChainConflictError
            If other writers took the next ``seq`` on every one of ``retries`` attempts.
        """
        return self.append_many([Draft(kind, stream, payload, ts_ms)])[0]

    def append_many(self, drafts: Iterable[Draft | tuple[Any, ...]]) -> list[Event]:
        """Append events atomically, in order, in one transaction: all are stored or none.

        Each draft is a :class:`Draft` or a tuple ``(kind, stream, payload[, ts_ms])``. Every
        draft is validated before anything is written.
        """
        prepared = [self._prepare(Draft(*d)) for d in drafts]
        if not prepared:
            return []
        self._check_open()
        for _ in range(self._retries):
            try:
                with self._backend.write() as tx:
                    head = tx.head()
                    seq, prev = (head[0], head[6]) if head else (0, GENESIS_HASH)
                    rows: list[Row] = []
                    for kind, stream, payload, text, ts_ms in prepared:
                        seq += 1
                        digest = event_hash(seq, ts_ms, kind, stream, payload, prev)
                        rows.append((seq, ts_ms, kind, stream, text, prev, digest))
                        prev = digest
                    tx.insert(rows)
            except Conflict:
                continue  # another writer took this seq: re-read the head and chain after it
            return [row_to_event(r) for r in rows]
        raise ChainConflictError(
            f"event log {self.target}: other writers took the next seq {self._retries} times in a row"
        )

    def _prepare(self, draft: Draft) -> tuple[str, str, dict[str, Any], str, int]:
        kind = check_text("kind", draft.kind)
        stream = check_text("stream", draft.stream)
        text = encode_payload(draft.payload)
        ts_ms = draft.ts_ms
        if ts_ms is None:
            if self._clock is None:
                raise InvalidEventError("append without ts_ms needs a store opened with clock=")
            ts_ms = self._clock()
        # Hash the payload as it will read back (tuples become lists), not as given.
        return kind, stream, decode_payload(text), text, check_ts(ts_ms)

    # ------------------------------------------------------------------ reading

    def read(
        self, after_seq: int = 0, stream: str | None = None, kinds: Iterable[str] | None = None
    ) -> Iterator[Event]:
        """Yield events with ``seq > after_seq`` in ``seq`` order, optionally of one ``stream``
        and of the given ``kinds`` only.

        Rows are fetched in pages, so events appended while iterating are yielded too.
        """
        self._check_open()
        kind_list: Sequence[str] | None = None if kinds is None else list(kinds)
        if kind_list == []:
            return
        last = after_seq
        while True:
            page = self._backend.rows(last, stream, kind_list, _PAGE)
            for row in page:
                yield _decoded(self.target, row)
            if len(page) < _PAGE:
                return
            last = page[-1][0]

    def head(self) -> Event | None:
        """Return the last event, or ``None`` for an empty log."""
        self._check_open()
        row = self._backend.head()
        return None if row is None else _decoded(self.target, row)

    def verify(self) -> VerifyReport:
        """Recompute every hash and link from ``seq`` 1; report the first broken event.

        Reads the whole log (about a second per few hundred thousand events). Call
        ``.raise_if_broken()`` on the report to turn a broken chain into :class:`TamperedError`.
        """
        self._check_open()
        return verify_rows(self.target, self._all_rows())

    def _all_rows(self) -> Iterator[Row]:
        last = 0
        while True:
            page = self._backend.rows(last, None, None, _PAGE)
            yield from page
            if len(page) < _PAGE:
                return
            last = page[-1][0]

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            self._backend.close()

    def _check_open(self) -> None:
        if self._closed:
            raise EventStoreError(f"event log {self.target} is closed")

    def __enter__(self) -> EventStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EventStore({self.target!r}{', closed' if self._closed else ''})"


def _decoded(target: str, row: Row) -> Event:
    try:
        return row_to_event(row)
    except ValueError as e:
        raise EventStoreError(
            f"event log {target}: seq {row[0]} has an unreadable payload ({e}); run verify()"
        ) from e


def verify(target: str | Path) -> VerifyReport:
    """Open the log at ``target``, verify it (see :meth:`EventStore.verify`) and close it."""
    with EventStore.open(target) as store:
        return store.verify()


def fold(events: Iterable[Event], reducer: Callable[[S, Event], S], initial: S) -> S:
    """Rebuild state from events: ``reducer(...reducer(reducer(initial, e1), e2)..., en)``.

    This is how the live runner recovers after a restart: the log is the source of truth, and
    orders, positions and the runner's own state are a fold over it, e.g.::

        def apply(orders: dict[str, Order], e: Event) -> dict[str, Order]:
            if e.kind == "order_submitted":
                orders[e.stream] = Order.from_payload(e.payload)
            elif e.kind == "order_filled":
                orders[e.stream] = orders[e.stream].filled(e.payload["qty"])
            return orders

        orders = fold(store.read(), apply, {})

    The reducer must be pure apart from updating the state it is given (no I/O, no clock), so
    a replay gives the same state every time. To resume from a snapshot taken at ``seq`` N,
    fold ``store.read(after_seq=N)`` onto the snapshot.
    """
    state = initial
    for event in events:
        state = reducer(state, event)
    return state
