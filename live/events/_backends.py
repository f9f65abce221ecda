"""SQLite and PostgreSQL storage of the event table; the only modules that talk SQL.

Both backends hold one table ``events`` with ``seq`` as its primary key, so two writers can
never store two events with the same ``seq`` (the loser's insert fails and the store retries
after re-reading the head). Payloads are stored as their canonical JSON *text* (not JSONB),
so the bytes that were hashed are the bytes kept. Triggers refuse ``UPDATE`` and ``DELETE``
to guard against accidents; ``verify`` is what catches deliberate edits. The ``mac`` column
(added to older logs when they are opened) holds each event's MAC when the writer had a key.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from live.events._codec import Row
from live.events._errors import EventStoreError

if TYPE_CHECKING:
    import psycopg

_COLUMNS = "seq, ts_ms, kind, stream, payload, prev_hash, hash, mac"


class Conflict(Exception):
    """Another writer stored the ``seq`` this transaction tried to insert."""


class Writer(Protocol):
    """The inside of one write transaction."""

    def head(self) -> Row | None: ...

    def insert(self, rows: Sequence[Row]) -> None: ...


class Backend(Protocol):
    """What :class:`~live.events.EventStore` needs from a database."""

    target: str

    def write(self, *, durable: bool = True) -> AbstractContextManager[Writer]: ...

    def head(self) -> Row | None: ...

    def rows(
        self, after_seq: int, stream: str | None, kinds: Sequence[str] | None, limit: int
    ) -> list[Row]: ...

    def close(self) -> None: ...


def _where(
    after_seq: int, stream: str | None, kinds: Sequence[str] | None, mark: str
) -> tuple[str, list[Any]]:
    clauses, args = [f"seq > {mark}"], list[Any]([after_seq])
    if stream is not None:
        clauses.append(f"stream = {mark}")
        args.append(stream)
    if kinds is not None:
        clauses.append("kind IN (" + ", ".join([mark] * len(kinds)) + ")")
        args.extend(kinds)
    return " AND ".join(clauses), args


# --------------------------------------------------------------------------- SQLite


class _SQLiteWriter:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def head(self) -> Row | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return tuple(row) if row else None

    def insert(self, rows: Sequence[Row]) -> None:
        self._conn.executemany(
            f"INSERT INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
        )


class SQLiteBackend:
    """A file in WAL mode with ``synchronous=FULL``: a returned append is on disk.

    A write that is not ``durable`` runs at ``synchronous=NORMAL``: committed (readers see it,
    a killed process keeps it) but not synced; the WAL is one file written in order, so the next
    durable commit's sync puts it on disk too, and a power cut can only lose a tail of such
    writes after the last durable one."""

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0) -> None:
        self.target = str(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit transactions; we issue BEGIN IMMEDIATE ourselves.
            self._conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None)
            self._wal(busy_timeout_s)
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.executescript(
                """
                BEGIN IMMEDIATE;
                CREATE TABLE IF NOT EXISTS events (
                    seq INTEGER PRIMARY KEY CHECK (seq >= 1),
                    ts_ms INTEGER NOT NULL,
                    kind TEXT NOT NULL,
                    stream TEXT NOT NULL,
                    payload TEXT NOT NULL,
                    prev_hash TEXT NOT NULL,
                    hash TEXT NOT NULL,
                    mac TEXT
                );
                CREATE INDEX IF NOT EXISTS events_stream ON events (stream, seq);
                CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
                    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
                CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
                    BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
                COMMIT;
                """
            )
            self._add_mac_column()
        except sqlite3.Error as e:
            raise EventStoreError(f"cannot open event log {self.target}: {e}") from e

    def _wal(self, wait_s: float) -> None:
        """Switch to WAL. On a fresh file another opener may be switching at the same time, and
        SQLite then answers "database is locked" without waiting: retry up to the busy timeout."""
        deadline = time.monotonic() + wait_s
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    def _add_mac_column(self) -> None:
        """Give a log written before MACs existed its ``mac`` column (under the write lock, so
        two processes opening it at once do not both add it)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            columns = {r[1] for r in self._conn.execute("PRAGMA table_info(events)")}
            if "mac" not in columns:
                self._conn.execute("ALTER TABLE events ADD COLUMN mac TEXT")
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Writer]:
        # BEGIN IMMEDIATE takes the write lock before the head is read, so SQLite writers
        # (threads or processes) queue instead of conflicting.
        try:
            if not durable:  # WAL + NORMAL: committed, synced with the next FULL commit
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            self._full()
            raise EventStoreError(f"event log {self.target}: cannot start a write: {e}") from e
        try:
            yield _SQLiteWriter(self._conn)
            self._conn.execute("COMMIT")
        except BaseException as e:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if getattr(e, "sqlite_errorname", "") == "SQLITE_CONSTRAINT_PRIMARYKEY":
                raise Conflict(str(e)) from e
            if isinstance(e, sqlite3.Error):
                raise EventStoreError(f"event log {self.target}: write failed: {e}") from e
            raise
        finally:
            if not durable:
                self._full()

    def _full(self) -> None:
        """Back to ``synchronous=FULL`` (outside a transaction, where the pragma applies)."""
        if not self._conn.in_transaction:
            self._conn.execute("PRAGMA synchronous=FULL")

    def head(self) -> Row | None:
        try:
            return _SQLiteWriter(self._conn).head()
        except sqlite3.Error as e:
            raise EventStoreError(f"event log {self.target}: cannot read: {e}") from e

    def rows(
        self, after_seq: int, stream: str | None, kinds: Sequence[str] | None, limit: int
    ) -> list[Row]:
        where, args = _where(after_seq, stream, kinds, "?")
        sql = f"SELECT {_COLUMNS} FROM events WHERE {where} ORDER BY seq LIMIT ?"
        try:
            return [tuple(r) for r in self._conn.execute(sql, [*args, limit]).fetchall()]
        except sqlite3.Error as e:
            raise EventStoreError(f"event log {self.target}: cannot read: {e}") from e

    def close(self) -> None:
        self._conn.close()


# --------------------------------------------------------------------------- PostgreSQL

_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq BIGINT PRIMARY KEY CHECK (seq >= 1),
    ts_ms BIGINT NOT NULL,
    kind TEXT NOT NULL,
    stream TEXT NOT NULL,
    payload TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT
);
ALTER TABLE events ADD COLUMN IF NOT EXISTS mac TEXT;
CREATE INDEX IF NOT EXISTS events_stream ON events (stream, seq);
CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the event log is append-only'; END $$;
CREATE OR REPLACE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
"""


class _PGWriter:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def head(self) -> Row | None:
        row = self._conn.execute(
            f"SELECT {_COLUMNS} FROM events ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return tuple(row) if row else None

    def insert(self, rows: Sequence[Row]) -> None:
        # COPY, not INSERT: one stream of rows instead of a statement each (group commit's
        # batches of thousands: 24,000 -> see benchmarks/live.py); the primary key still
        # refuses a taken seq (UniqueViolation), and the transaction still holds it all.
        with self._conn.cursor() as cur, cur.copy(f"COPY events ({_COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


class PostgresBackend:
    """A PostgreSQL database reached by URL with psycopg 3 (``postgresql+psycopg://`` accepted)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self._psycopg = psycopg
        conninfo = "postgresql://" + url.split("://", 1)[1]
        self.target = _redact(conninfo)
        try:
            self._conn = psycopg.connect(conninfo, autocommit=True)
            with self._conn.transaction():
                # Serialise schema creation: concurrent CREATE ... IF NOT EXISTS can still collide.
                self._conn.execute("SELECT pg_advisory_xact_lock(7238450917)")
                self._conn.execute(_PG_SCHEMA)
        except psycopg.Error as e:
            raise EventStoreError(f"cannot open event log {self.target}: {e}") from e

    @contextmanager
    def write(self, *, durable: bool = True) -> Iterator[Writer]:
        psycopg = self._psycopg
        try:
            with self._conn.transaction():
                if not durable:  # this transaction only: flushed with the next synchronous one
                    self._conn.execute("SET LOCAL synchronous_commit TO off")
                yield _PGWriter(self._conn)
        except psycopg.errors.UniqueViolation as e:
            raise Conflict(str(e)) from e
        except psycopg.Error as e:
            raise EventStoreError(f"event log {self.target}: write failed: {e}") from e

    def head(self) -> Row | None:
        try:
            return _PGWriter(self._conn).head()
        except self._psycopg.Error as e:
            raise EventStoreError(f"event log {self.target}: cannot read: {e}") from e

    def rows(
        self, after_seq: int, stream: str | None, kinds: Sequence[str] | None, limit: int
    ) -> list[Row]:
        where, args = _where(after_seq, stream, kinds, "%s")
        sql = f"SELECT {_COLUMNS} FROM events WHERE {where} ORDER BY seq LIMIT %s"
        try:
            return [tuple(r) for r in self._conn.execute(sql, [*args, limit]).fetchall()]
        except self._psycopg.Error as e:
            raise EventStoreError(f"event log {self.target}: cannot read: {e}") from e

    def close(self) -> None:
        self._conn.close()


def _redact(conninfo: str) -> str:
    """Drop a password from a URL before it appears in messages."""
    scheme, rest = conninfo.split("://", 1)
    if "@" in rest:
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return conninfo


def open_backend(target: str | Path) -> Backend:
    """Open the backend named by a path (SQLite) or a ``postgresql[+psycopg]://`` URL."""
    text = str(target)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return PostgresBackend(text)
    if scheme == "sqlite" and text.lower().startswith("sqlite:///"):
        return SQLiteBackend(Path(text[len("sqlite:///") :]))  # SQLAlchemy's form
    if scheme:
        from grekko_research.errors import ConfigError

        raise ConfigError(
            f"event log {text!r}: unknown scheme {scheme!r} "
            "(use a file path, sqlite:///PATH or postgresql[+psycopg]://…)"
        )
    return SQLiteBackend(Path(text))
