"""The event store: open, append, read, verify, fold."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from live.events._backends import Backend, Conflict, open_backend
from live.events._codec import (
    GENESIS_HASH,
    Draft,
    Event,
    Row,
    canonical_json,
    check_text,
    check_ts,
    decode_payload,
    encode_payload,
    event_hash_text,
    flat_payload,
    row_to_event,
)
from live.events._errors import (
    ChainConflictError,
    EventStoreError,
    InvalidEventError,
    TamperedError,
)
from live.events._seal import (
    Checkpoint,
    CheckpointFile,
    LockedCheckpoints,
    LogKey,
    signature_ok,
)
from live.events._verify import Reason, VerifyReport, mac_problem, verify_rows

__all__ = ["EventStore", "default_checkpoints", "fold", "open_run_log", "verify"]

S = TypeVar("S")

_PAGE = 1000  # rows fetched per query while reading or verifying
# Why a log fails verification: (reason, detail, first bad seq).
_Failure = tuple[Reason, str, int]


class EventStore:
    """An append-only, hash-chained log of events in SQLite or PostgreSQL.

    Open it with :meth:`open`; do not call the constructor. An instance holds one database
    connection and is not thread-safe: open one per thread or process. Any number of writers
    may share one log; each append re-reads the head inside its transaction, and ``seq`` is the
    primary key, so the chain never forks. Writers sharing a checkpoint file hold its lock from
    before their transaction until their checkpoint is written (see
    :class:`~live.events._seal.CheckpointFile`); a checkpoint lagging the head (a write in
    progress, or one cut by a crash) is normal, and the events after it are checked in full.
    """

    def __init__(
        self,
        backend: Backend,
        clock: Callable[[], int] | None,
        retries: int,
        key: LogKey | None = None,
        checkpoints: CheckpointFile | None = None,
    ) -> None:
        self._backend = backend
        self._clock = clock
        self._retries = retries
        self._closed = False
        self._key = key
        self._checkpoints = checkpoints
        self._accepted = 0  # events up to this seq were accepted by an override
        self._checked = checkpoints is None  # appends wait for one passing check of the log
        if key is not None and checkpoints is not None:
            last = checkpoints.last()
            if last is not None and signature_ok(last, key):
                self._accepted = last.accepted

    @classmethod
    def open(
        cls,
        target: str | Path,
        *,
        clock: Callable[[], int] | None = None,
        retries: int = 100,
        key: LogKey | None = None,
        checkpoints: str | Path | bool = True,
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
        key
            The log key (:func:`~live.events.load_log_key`): appends store each event's MAC
            and sign their checkpoints, reads check the MAC of every event they return, and
            :meth:`verify` checks MACs and signatures. ``None``: the SHA-256 chain only.
        checkpoints
            The checkpoint file: ``True`` for ``<log>.checkpoints`` beside a SQLite file (no
            file for PostgreSQL: give a path), a path, or ``False`` for none. Every write
            appends one checkpoint; the first write of a store opened on a log that fails the
            incremental check (:meth:`verify`) raises :class:`TamperedError` instead.

        Raises
        ------
        EventStoreError
            If the database cannot be opened or its schema created.
        grekko_research.errors.ConfigError
            If ``target`` has an unknown URL scheme.
        """
        if retries < 1:
            raise InvalidEventError(f"retries must be at least 1, got {retries}")
        backend = open_backend(target)
        if checkpoints is True:
            path = default_checkpoints(target)
        elif checkpoints is False:
            path = None
        else:
            path = Path(checkpoints)
        return cls(backend, clock, retries, key, CheckpointFile(path) if path else None)

    @property
    def keyed(self) -> bool:
        """Whether the store has the log key (MACs and signed checkpoints)."""
        return self._key is not None

    @property
    def checkpoint_path(self) -> Path | None:
        """The checkpoint file, or ``None`` when the store keeps none."""
        return None if self._checkpoints is None else self._checkpoints.path

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

    def append_many(
        self, drafts: Iterable[Draft | tuple[Any, ...]], *, durable: bool = True
    ) -> list[Event]:
        """Append events atomically, in order, in one transaction: all are stored or none.

        Each draft is a :class:`Draft` or a tuple ``(kind, stream, payload[, ts_ms])``. Every
        draft is validated before anything is written.

        ``durable=False`` returns once the transaction is committed, without waiting for the
        disk: readers see the events and a killed process keeps them, and they reach the disk
        with the next durable append (both databases write their log in order, so a power cut
        loses at most the non-durable events after the last durable one, never a gap). For
        events nothing outside the process acts on before a durable append follows: never an
        order intent, which must be on disk before it is sent.
        """
        return self._append([self._prepare(Draft(*d)) for d in drafts], durable=durable)

    def _append(
        self,
        prepared: list[tuple[str, str, dict[str, Any], str, int]],
        *,
        accepting: bool = False,
        durable: bool = True,
    ) -> list[Event]:
        if not prepared:
            return []
        self._check_open()
        if not self._checked:
            # Never sign a checkpoint on top of a cut or rewritten log (it would hide the cut).
            self.verify(incremental=True).raise_if_broken()
        # The checkpoint lock is held from before the transaction until its checkpoint is
        # written: writers sharing the file checkpoint in commit order, and the genesis
        # checkpoint of an empty log is on file before its first event is committed.
        lock: AbstractContextManager[LockedCheckpoints | None] = (
            nullcontext() if self._checkpoints is None else self._checkpoints.locked()
        )
        with lock as cps:
            for _ in range(self._retries):
                try:
                    with self._backend.write(durable=durable) as tx:
                        head = tx.head()
                        if head is None and cps is not None and cps.last() is None:
                            cps.append(Checkpoint(0, GENESIS_HASH), self._key)
                        seq, prev = (head[0], head[6]) if head else (0, GENESIS_HASH)
                        rows: list[Row] = []
                        events: list[Event] = []
                        for kind, stream, payload, text, ts_ms in prepared:
                            seq += 1
                            digest = event_hash_text(seq, ts_ms, kind, stream, text, prev)
                            row: Row = (seq, ts_ms, kind, stream, text, prev, digest, None)
                            if self._key is not None:
                                row = (*row[:7], self._key.mac(row))
                            rows.append(row)
                            events.append(Event(seq, ts_ms, kind, stream, payload, prev, digest))
                            prev = digest
                        tx.insert(rows)
                except Conflict:
                    continue  # another writer took this seq: re-read the head, chain after it
                if cps is not None:
                    self._checkpoint(cps, seq, prev, accepting)
                elif accepting:
                    self._accepted = seq
                return events
        raise ChainConflictError(
            f"event log {self.target}: other writers took the next seq {self._retries} times in a row"
        )

    def _checkpoint(self, cps: LockedCheckpoints, seq: int, digest: str, accepting: bool) -> None:
        """Append the checkpoint of a committed write; carry an accept another writer of the
        log recorded since this store was opened (else its checkpoints would revoke it)."""
        last = cps.last()
        if last is not None and (self._key is None or signature_ok(last, self._key)):
            self._accepted = max(self._accepted, last.accepted)
        if accepting:
            self._accepted = seq
        cps.append(Checkpoint(seq, digest, self._accepted), self._key)

    def _prepare(self, draft: Draft) -> tuple[str, str, dict[str, Any], str, int]:
        kind = check_text("kind", draft.kind)
        stream = check_text("stream", draft.stream)
        payload = draft.payload
        # A flat object of plain scalars is valid JSON as it is (the common payload: checked
        # once), and reads back equal to a shallow copy, without parsing the text again;
        # anything else is walked (naming the bad key) and read back as it will be (tuples
        # become lists).
        flat = type(payload) is dict and flat_payload(payload)
        text = canonical_json(payload) if flat else encode_payload(payload)
        ts_ms = draft.ts_ms
        if ts_ms is None:
            if self._clock is None:
                raise InvalidEventError("append without ts_ms needs a store opened with clock=")
            ts_ms = self._clock()
        readback = dict(payload) if flat else decode_payload(text)
        return kind, stream, readback, text, check_ts(ts_ms)

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
        # A keyed store reading the whole log also sees a deleted event (a gap) or a broken
        # link; with the MACs (which cover seq, prev_hash and hash) that authenticates the chain.
        whole = self._key is not None and stream is None and kind_list is None
        expected: tuple[int, str | None] = (after_seq + 1, GENESIS_HASH if after_seq == 0 else None)
        while True:
            page = self._backend.rows(last, stream, kind_list, _PAGE)
            for row in page:
                if whole:
                    self._check_link(row, *expected)
                    expected = (row[0] + 1, row[6])
                if self._key is not None and row[0] > self._accepted:
                    self._check_mac(row)
                yield _decoded(self.target, row)
            if len(page) < _PAGE:
                return
            last = page[-1][0]

    def _check_link(self, row: Row, seq: int, prev: str | None) -> None:
        if row[0] != seq:
            why: tuple[Reason, str] = (
                "gap",
                f"seq {seq} is missing; the next stored seq is {row[0]}",
            )
        elif prev is not None and row[5] != prev:
            why = ("link_broken", f"prev_hash of seq {seq} is not the hash of seq {seq - 1}")
        else:
            return
        report = VerifyReport(
            self.target, False, 0, seq - 1, prev or GENESIS_HASH, seq, why[0], why[1],
            mode="read", keyed=True, accepted_seq=self._accepted,
        )  # fmt: skip
        raise TamperedError(report)

    def _check_mac(self, row: Row) -> None:
        assert self._key is not None
        bad = mac_problem(self._key, row)
        if bad is not None:
            report = VerifyReport(
                self.target, False, 0, row[0] - 1, row[5], row[0], bad[0], bad[1],
                mode="read", keyed=True, accepted_seq=self._accepted,
            )  # fmt: skip
            raise TamperedError(report)

    def head(self) -> Event | None:
        """Return the last event, or ``None`` for an empty log."""
        self._check_open()
        row = self._backend.head()
        return None if row is None else _decoded(self.target, row)

    def verify(self, *, incremental: bool = False) -> VerifyReport:
        """Check the log: hashes and links, MACs (keyed store), and the last checkpoint.

        Parameters
        ----------
        incremental
            Check only from the last checkpoint: its signature (keyed store), that the log
            still holds its ``seq`` with its hash (a cut tail or a chain rewritten up to there
            fails), and every event after it in full. Cost: the events since the checkpoint.
            Otherwise every event from ``seq`` 1 (about a second per few hundred thousand),
            then the checkpoint.

        An empty log passes; a log with events but no checkpoint fails (``no_checkpoint``)
        when the store keeps checkpoints. Call ``.raise_if_broken()`` on the report to turn a
        failure into :class:`TamperedError`.
        """
        self._check_open()
        mode = "incremental" if incremental else "full"
        anchor, failure = self._anchor()
        if incremental and failure is None and anchor is not None:
            report, failure = self._verify_from(anchor, mode)
            if report is not None:
                return report
        if failure is not None and (incremental or failure[0] == "checkpoint_invalid"):
            head = self._backend.head()
            return _failed(self, head, failure, mode, anchor)
        return self._verify_all(anchor, failure, mode)

    def _verify_from(
        self, anchor: Checkpoint, mode: str
    ) -> tuple[VerifyReport | None, _Failure | None]:
        """The incremental check from a trusted checkpoint: the report when it decides, else
        the failure that the full walk reports (a cut tail, a rewritten chain)."""
        accepted = max(anchor.accepted, self._accepted)
        if anchor.seq == 0:
            # The genesis checkpoint (written before the first event): check every event.
            if anchor.hash != GENESIS_HASH:
                return None, _mismatch(anchor, GENESIS_HASH)
            report = verify_rows(self.target, self._all_rows(), key=self._key, accepted=accepted)
            return self._done(_with(report, mode=mode, anchor_seq=0)), None
        rows = self._all_rows(after=anchor.seq - 1)
        first = next(rows, None)
        if first is None or first[0] != anchor.seq:
            head = self._backend.head()
            return None, _truncated(anchor, 0 if head is None else head[0], head)
        if first[6] != anchor.hash:
            # Rare, so worth a full walk: name the first event that was changed.
            found = verify_rows(self.target, self._all_rows(), key=self._key, accepted=accepted)
            if found.ok:
                return None, _mismatch(anchor, first[6])
            detail = f"{found.detail} (the checkpoint at seq {anchor.seq} no longer matches)"
            return _with(found, mode=mode, anchor_seq=anchor.seq, detail=detail), None
        report = verify_rows(
            self.target, _chain([first], rows), key=self._key, accepted=accepted,
            start_seq=anchor.seq, start_prev=None,
        )  # fmt: skip
        return self._done(_with(report, mode=mode, anchor_seq=anchor.seq)), None

    def _verify_all(
        self, anchor: Checkpoint | None, failure: _Failure | None, mode: str
    ) -> VerifyReport:
        """Every event from ``seq`` 1, then the checkpoint against the chain it vouches for."""
        report = verify_rows(
            self.target, self._all_rows(), key=self._key,
            accepted=max(anchor.accepted if anchor else 0, self._accepted),
        )  # fmt: skip
        report = _with(report, mode=mode, anchor_seq=None if anchor is None else anchor.seq)
        if not report.ok:
            return report
        if failure is None and anchor is not None:
            failure = self._anchor_problem(anchor, report.head_seq)
        if failure is not None:
            return _with(report, ok=False, first_bad_seq=failure[2], reason=failure[0],
                         detail=failure[1])  # fmt: skip
        return self._done(report)

    def _anchor_problem(self, anchor: Checkpoint, head_seq: int) -> _Failure | None:
        """Why a sound chain ending at ``head_seq`` does not match its last checkpoint."""
        if anchor.seq > head_seq:
            return _truncated(anchor, head_seq, None)
        if anchor.seq == 0:
            return _mismatch(anchor, GENESIS_HASH) if anchor.hash != GENESIS_HASH else None
        at = self._backend.rows(anchor.seq - 1, None, None, 1)
        if at and at[0][6] != anchor.hash:
            return _mismatch(anchor, at[0][6])
        return None

    def _done(self, report: VerifyReport) -> VerifyReport:
        if report.ok:
            self._checked = True
        return report

    def _anchor(self) -> tuple[Checkpoint | None, _Failure | None]:
        """The last checkpoint, or why there is none to trust: (reason, detail, bad seq)."""
        if self._checkpoints is None:
            return None, None
        where = self._checkpoints.path
        cp = self._checkpoints.last()
        if cp is None:
            head = self._backend.head()
            if head is None:
                return None, None
            # Read again now that the log is known to hold events: their writer put the genesis
            # checkpoint on file before committing the first, so it is there unless deleted.
            cp = self._checkpoints.last()
            if cp is None:
                return None, (
                    "no_checkpoint",
                    f"the log holds {head[0]} events but there is no checkpoint in {where} "
                    "(deleted, or the log predates checkpoints)",
                    1,
                )
        if self._key is not None and not signature_ok(cp, self._key):
            what = "is unsigned" if cp.mac is None else "has a signature that is not the key's"
            return cp, (
                "checkpoint_invalid",
                f"the last checkpoint in {where} (line {cp.line or 'last'}, seq {cp.seq}) {what}: "
                "forged, or written with another key",
                cp.seq,
            )
        return cp, None

    def accept(
        self, report: VerifyReport, reason: str, *, by: str = "operator", ts_ms: int | None = None
    ) -> Event:
        """Record an operator's decision to go on with a log that failed ``report``.

        Appends a ``log_accepted`` event (the failure, the reason, who) and a checkpoint that
        vouches for the log as it now stands: later checks start from there, and events up to
        it are no longer checked against their MACs. The failure stays visible to a full
        :meth:`verify`, and in the log. ``ts_ms`` defaults to the store's clock, else to the
        head's time.
        """
        check_text("reason", reason)
        self._checked = True
        if ts_ms is None and self._clock is None:
            head = self._backend.head()
            ts_ms = 0 if head is None else int(head[1])
        draft = Draft(
            "log_accepted",
            "runner",
            {"reason": reason, "by": by, "failed_seq": report.first_bad_seq,
             "failure": report.reason, "detail": report.detail, "mode": report.mode},
            ts_ms,
        )  # fmt: skip
        # The event and its checkpoint (which carries the accept) in one critical section.
        return self._append([self._prepare(draft)], accepting=True)[0]

    def _all_rows(self, after: int = 0) -> Iterator[Row]:
        last = after
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


def verify(
    target: str | Path,
    *,
    key: LogKey | None = None,
    checkpoints: str | Path | bool = True,
    incremental: bool = False,
) -> VerifyReport:
    """Open the log at ``target``, verify it (see :meth:`EventStore.verify`) and close it."""
    with EventStore.open(target, key=key, checkpoints=checkpoints) as store:
        return store.verify(incremental=incremental)


def open_run_log(
    target: str | Path,
    *,
    create_key: bool = False,
    checkpoints: str | Path | bool = True,
    clock: Callable[[], int] | None = None,
    follow_unkeyed: bool = False,
) -> EventStore:
    """Open a run's log with the log key, as every writer of a run's log must.

    The key comes from :func:`~live.events.load_log_key` (environment, keyring, key file);
    ``create_key`` creates the key file when there is no key (``grekko-live run`` does). An
    event appended without the key would have no MAC, and the next keyed start would refuse
    the log. ``follow_unkeyed`` opens a log whose last checkpoint is unsigned (written without
    a key, e.g. by library code) without the key, so that an operator's ``resume`` can add to
    it; a keyed start still refuses such a log (fail closed).
    """
    from live.events._seal import load_log_key

    key = load_log_key(create=create_key)
    if key is not None and follow_unkeyed and checkpoints is not False:
        path = default_checkpoints(target) if checkpoints is True else Path(checkpoints)
        last = CheckpointFile(path).last() if path is not None else None
        if last is not None and last.mac is None:
            key = None
    return EventStore.open(target, clock=clock, key=key, checkpoints=checkpoints)


def default_checkpoints(target: str | Path) -> Path | None:
    """``<file>.checkpoints`` beside a SQLite log; ``None`` for PostgreSQL (give a path)."""
    text = str(target)
    if text.lower().startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        return None
    return Path(text + ".checkpoints")


def _chain(first: list[Row], rest: Iterator[Row]) -> Iterator[Row]:
    yield from first
    yield from rest


def _with(report: VerifyReport, **changes: Any) -> VerifyReport:
    from dataclasses import replace

    return replace(report, **changes)


def _truncated(anchor: Checkpoint, head_seq: int, head: Row | None) -> _Failure:
    return (
        "truncated",
        f"the log ends at seq {head_seq} but its checkpoint (line {anchor.line or 'last'}) "
        f"vouches for seq {anchor.seq}: events {head_seq + 1}..{anchor.seq} were cut",
        head_seq + 1,
    )


def _mismatch(anchor: Checkpoint, stored: str) -> _Failure:
    return (
        "checkpoint_mismatch",
        f"seq {anchor.seq} has hash {stored[:12]}… but its checkpoint says "
        f"{anchor.hash[:12]}…: the log was rewritten (edited and re-hashed) up to seq "
        f"{anchor.seq}",
        anchor.seq,
    )


def _failed(
    store: EventStore,
    head: Row | None,
    failure: _Failure,
    mode: str,
    anchor: Checkpoint | None,
) -> VerifyReport:
    reason, detail, seq = failure
    return VerifyReport(
        store.target, False, 0, 0 if head is None else head[0],
        GENESIS_HASH if head is None else head[6], seq, reason, detail, mode=mode,
        keyed=store.keyed, anchor_seq=None if anchor is None else anchor.seq,
    )  # fmt: skip


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
