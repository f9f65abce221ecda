"""The live bridge's event store: chain, filters, tamper detection, crash safety, PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from grekko_research.errors import ConfigError, GrekkoError
from live.events import (
    GENESIS_HASH,
    ChainConflictError,
    Draft,
    Event,
    EventStore,
    EventStoreError,
    InvalidEventError,
    TamperedError,
    fold,
    open_run_log,
    verify,
)

REPO = Path(__file__).resolve().parents[3]


def spec_hash(seq: int, ts_ms: int, kind: str, stream: str, payload: Any, prev: str) -> str:
    """The documented hash, written out independently of the store's code."""
    body = {"seq": seq, "ts_ms": ts_ms, "kind": kind, "stream": stream, "payload": payload,
            "prev_hash": prev}  # fmt: skip
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fill(store: EventStore, n: int, start_ts: int = 1_700_000_000_000) -> list[Event]:
    """Append ``n`` events alternating over two order streams and the runner."""
    streams = ["cid-1", "cid-2", "runner"]
    kinds = ["order_submitted", "fill", "heartbeat"]
    return [
        store.append(
            kinds[i % 3], streams[i % 3], {"i": i, "px": 100.5 + i, "note": "é"}, start_ts + i
        )
        for i in range(n)
    ]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "live" / "events.db"


def raw(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the append-only triggers dropped, as an attacker would."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("DROP TRIGGER events_no_delete")
    return conn


# ------------------------------------------------------------------ round trip


def test_append_read_head_round_trip(db: Path) -> None:
    with EventStore.open(db) as store:
        assert store.head() is None
        assert list(store.read()) == []
        written = fill(store, 7)
        read = list(store.read())
        assert read == written
        assert [e.seq for e in read] == list(range(1, 8))
        assert store.head() == written[-1]
    prev = GENESIS_HASH
    for e in read:
        assert e.prev_hash == prev
        assert e.hash == spec_hash(e.seq, e.ts_ms, e.kind, e.stream, e.payload, e.prev_hash)
        prev = e.hash
    assert read[2].payload == {"i": 2, "px": 102.5, "note": "é"}


def test_read_filters_by_stream_kind_and_after_seq(db: Path) -> None:
    with EventStore.open(db) as store:
        fill(store, 9)
        assert [e.seq for e in store.read(stream="cid-2")] == [2, 5, 8]
        assert [e.seq for e in store.read(kinds=["fill", "heartbeat"])] == [2, 3, 5, 6, 8, 9]
        assert [e.seq for e in store.read(after_seq=4, stream="runner")] == [6, 9]
        assert [e.seq for e in store.read(after_seq=4, kinds={"order_submitted"})] == [7]
        assert list(store.read(kinds=[])) == []
        assert list(store.read(stream="nobody")) == []


def test_read_pages_through_long_logs(db: Path) -> None:
    with EventStore.open(db) as store:
        store.append_many(Draft("k", f"s{i % 2}", {"i": i}, i) for i in range(2500))
        assert [e.payload["i"] for e in store.read()] == list(range(2500))
        assert sum(1 for _ in store.read(stream="s1", after_seq=1000)) == 750
        assert store.verify().checked == 2500


def test_reopen_keeps_and_continues_the_chain(db: Path) -> None:
    with EventStore.open(db) as store:
        first = fill(store, 3)
    with EventStore.open(f"sqlite:///{db}") as store:  # SQLAlchemy's URL form works too
        assert list(store.read()) == first
        nxt = store.append("restart", "runner", {}, 9)
        assert (nxt.seq, nxt.prev_hash) == (4, first[-1].hash)
        assert store.verify().ok


def test_append_many_is_one_transaction(db: Path) -> None:
    with EventStore.open(db) as store:
        fill(store, 2)
        events = store.append_many([("a", "s", {"n": 1}, 5), Draft("b", "s", {"n": 2}, 6)])
        assert [e.seq for e in events] == [3, 4]
        assert events[1].prev_hash == events[0].hash
        # An invalid draft anywhere in the batch: nothing is written.
        with pytest.raises(InvalidEventError, match="bad"):
            store.append_many([("a", "s", {}, 7), ("b", "s", {"bad": float("inf")}, 8)])
        # A failure inside the database halfway through the batch: rolled back as a whole.
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute(
            "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.kind = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
        conn.close()
        with pytest.raises(EventStoreError, match="boom"):
            store.append_many([("ok", "s", {}, 9), ("ok", "s", {}, 10), ("boom", "s", {}, 11)])
        assert store.head() == events[1]
        assert store.append("ok", "s", {}, 12).seq == 5  # the store is still usable
        assert store.verify().ok


def test_sqlite_is_wal_with_full_sync(db: Path) -> None:
    with EventStore.open(db) as store:
        conn = store._backend._conn  # type: ignore[attr-defined]
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_non_durable_write_skips_the_sync_of_its_own_transaction_only(db: Path) -> None:
    """``durable=False`` runs its transaction at ``synchronous=NORMAL`` (committed, synced
    with the next FULL commit of the same WAL) and puts FULL back for the next one."""
    with EventStore.open(db) as store:
        backend = store._backend  # type: ignore[attr-defined]
        conn = backend._conn
        with backend.write(durable=False):
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL again
        with backend.write():
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        lazy = store.append_many([("bar_closed", "runner", {"ts": 1}, 1)], durable=False)
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2
        durable = store.append("decision", "runner", {"ts": 1}, 2)
        assert durable.prev_hash == lazy[0].hash  # one chain, in order
        assert list(store.read()) == [*lazy, durable]
        assert store.verify().ok


def test_clock_is_injected_and_only_used_without_ts(db: Path) -> None:
    ticks = iter([1000, 2000])
    with EventStore.open(db, clock=lambda: next(ticks)) as store:
        assert store.append("a", "s", {}).ts_ms == 1000
        assert store.append("a", "s", {}, ts_ms=5).ts_ms == 5
        assert store.append_many([Draft("a", "s", {})])[0].ts_ms == 2000
    with EventStore.open(db) as store, pytest.raises(InvalidEventError, match="clock"):
        store.append("a", "s", {})


def test_fold_rebuilds_state(db: Path) -> None:
    with EventStore.open(db) as store:
        store.append("order_submitted", "cid-1", {"qty": 3.0}, 1)
        store.append("order_submitted", "cid-2", {"qty": 1.0}, 2)
        store.append("fill", "cid-1", {"qty": 1.0}, 3)
        store.append("fill", "cid-1", {"qty": 2.0}, 4)
        store.append("cancelled", "cid-2", {}, 5)

        def apply(orders: dict[str, float], e: Event) -> dict[str, float]:
            if e.kind == "order_submitted":
                orders[e.stream] = e.payload["qty"]
            elif e.kind == "fill":
                orders[e.stream] -= e.payload["qty"]
            elif e.kind == "cancelled":
                del orders[e.stream]
            return orders

        empty: dict[str, float] = {}
        assert fold(store.read(), apply, dict(empty)) == {"cid-1": 0.0}
        snapshot_at_3 = fold(list(store.read())[:3], apply, dict(empty))
        assert snapshot_at_3 == {"cid-1": 2.0, "cid-2": 1.0}
        assert fold(store.read(after_seq=3), apply, snapshot_at_3) == {"cid-1": 0.0}


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("kind", "stream", "payload", "ts_ms", "message"),
    [
        ("fill", "cid", {"px": float("nan")}, 1, "'px' is nan"),
        (
            "fill",
            "cid",
            {"legs": [{"qty": 1.0}, {"qty": float("-inf")}]},
            1,
            r"'legs\[1\].qty' is -inf",
        ),
        ("fill", "cid", {"ids": {1, 2}}, 1, "'ids' holds a set"),
        ("fill", "cid", {"m": {1: "a"}}, 1, "key 1 in 'm' is not a string"),
        ("fill", "cid", [1, 2], 1, "must be a dict"),
        ("", "cid", {}, 1, "kind must be a non-empty string"),
        ("fill", "", {}, 1, "stream must be a non-empty string"),
        ("fill", None, {}, 1, "stream must be a non-empty string"),
        ("fill", "cid", {}, -1, "ts_ms must be a non-negative int"),
        ("fill", "cid", {}, 1.5, "ts_ms must be a non-negative int"),
        ("fill", "cid", {}, True, "ts_ms must be a non-negative int"),
    ],
)
def test_invalid_events_are_rejected(
    db: Path, kind: Any, stream: Any, payload: Any, ts_ms: Any, message: str
) -> None:
    with EventStore.open(db) as store:
        with pytest.raises(InvalidEventError, match=message) as info:
            store.append(kind, stream, payload, ts_ms)
        assert isinstance(info.value, GrekkoError) and isinstance(info.value, ValueError)
        assert store.head() is None


def test_bad_targets_and_closed_store(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown scheme 'mysql'"):
        EventStore.open("mysql://x@localhost/db")
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    with pytest.raises(EventStoreError, match="cannot open"):
        EventStore.open(tmp_path / "junk.db")
    store = EventStore.open(tmp_path / "ok.db")
    store.close()
    store.close()
    with pytest.raises(EventStoreError, match="closed"):
        store.append("a", "s", {}, 1)


# ------------------------------------------------------------------ tamper detection


def test_verify_passes_on_intact_log(db: Path) -> None:
    with EventStore.open(db) as store:
        assert store.verify().ok  # empty
        events = fill(store, 10)
    report = verify(db)
    assert report.ok and report.first_bad_seq is None
    assert (report.checked, report.head_seq, report.head_hash) == (10, 10, events[-1].hash)
    assert report.raise_if_broken() is report


def test_log_refuses_update_and_delete(db: Path) -> None:
    with EventStore.open(db) as store:
        fill(store, 2)
    conn = sqlite3.connect(db, isolation_level=None)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE events SET payload = '{}' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM events WHERE seq = 1")
    conn.close()
    assert verify(db).ok


def _forge_row(conn: sqlite3.Connection, seq: int, prev: str) -> None:
    payload = {"stolen": True}
    digest = spec_hash(seq, 5, "fill", "cid-1", payload, prev)
    conn.execute(
        "INSERT INTO events (seq, ts_ms, kind, stream, payload, prev_hash, hash) "
        "VALUES (?, 5, 'fill', 'cid-1', ?, ?, ?)",
        (seq, json.dumps(payload, separators=(",", ":")), prev, digest),
    )


def _edit_payload(conn: sqlite3.Connection, events: list[Event]) -> None:
    conn.execute("""UPDATE events SET payload = '{"i":4,"note":"é","px":1000.0}' WHERE seq = 5""")


def _edit_last(conn: sqlite3.Connection, events: list[Event]) -> None:
    conn.execute("UPDATE events SET ts_ms = 0 WHERE seq = 10")


def _delete_row(conn: sqlite3.Connection, events: list[Event]) -> None:
    conn.execute("DELETE FROM events WHERE seq = 6")


def _delete_first(conn: sqlite3.Connection, events: list[Event]) -> None:
    conn.execute("DELETE FROM events WHERE seq = 1")


def _swap_hash(conn: sqlite3.Connection, events: list[Event]) -> None:
    conn.execute("UPDATE events SET hash = ? WHERE seq = 4", (events[6].hash,))


def _forge_appended(conn: sqlite3.Connection, events: list[Event]) -> None:
    _forge_row(conn, 11, "f" * 64)  # own hash recomputed, link to seq 10 wrong


def _forge_replaced(conn: sqlite3.Connection, events: list[Event]) -> None:
    conn.execute("DELETE FROM events WHERE seq = 3")
    _forge_row(conn, 3, events[1].hash)  # a perfect row 3 on its own; seq 4 still links to the old


def _non_canonical(conn: sqlite3.Connection, events: list[Event]) -> None:
    conn.execute("UPDATE events SET payload = ' {\"i\": 7}' WHERE seq = 8")


def _not_an_object(conn: sqlite3.Connection, events: list[Event]) -> None:
    conn.execute("UPDATE events SET payload = '[1,NaN]' WHERE seq = 2")


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "reason", "detail"),
    [
        (_edit_payload, 5, "content_altered", "seq 6 links to"),
        (_edit_last, 10, "hash_mismatch", "last event"),
        (_delete_row, 6, "gap", "seq 6 is missing; the next stored seq is 7"),
        (_delete_first, 1, "gap", "seq 1 is missing"),
        (_swap_hash, 4, "hash_mismatch", "hash was rewritten"),
        (_forge_appended, 11, "link_broken", "forged or replaced"),
        (_forge_replaced, 4, "link_broken", "of seq 3"),
        (_non_canonical, 8, "bad_payload", "canonical form"),
        (_not_an_object, 2, "bad_payload", "not a JSON object"),
    ],
)
def test_verify_reports_first_broken_event(
    db: Path,
    tamper: Callable[[sqlite3.Connection, list[Event]], None],
    bad_seq: int,
    reason: str,
    detail: str,
) -> None:
    with EventStore.open(db) as store:
        events = fill(store, 10)
    conn = raw(db)
    tamper(conn, events)
    last_good = conn.execute("SELECT hash FROM events WHERE seq = ?", (bad_seq - 1,)).fetchone()
    conn.close()
    report = verify(db)
    assert not report.ok
    assert (report.first_bad_seq, report.reason) == (bad_seq, reason), report.detail
    assert detail in report.detail
    assert report.checked == bad_seq - 1
    assert report.head_hash == (last_good[0] if last_good else GENESIS_HASH)
    with pytest.raises(TamperedError, match=f"broken at seq {bad_seq} \\({reason}\\)") as info:
        report.raise_if_broken()
    assert info.value.report is report


# ------------------------------------------------------------------ crash safety

_CHILD = """
import sys
from live.events import Draft, EventStore

with EventStore.open(sys.argv[1]) as store:
    n = 0
    while True:
        n += 1
        if n % 4 == 0:  # a batch of 3, all-or-nothing
            batch = [Draft("batch", "child", {"batch": n, "k": k, "pad": "x" * 300}, n) for k in range(3)]
            seq = store.append_many(batch)[-1].seq
        else:  # every other one committed without waiting for the disk: a kill keeps it too
            tick = ("tick", "child", {"n": n, "pad": "y" * 300}, n)
            seq = store.append_many([tick], durable=n % 2 == 0)[-1].seq
        print(seq, flush=True)
"""


def _kill_rounds(db: Path, rounds: int, seed: int) -> Iterator[tuple[list[int], int]]:
    """Start a child appending in a loop, SIGKILL it at a random moment; yield what it reported."""
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for _ in range(rounds):
        child = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(db)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert child.stdout is not None
        first = child.stdout.readline()  # the child is appending now
        assert first.endswith("\n"), child.communicate()[1]
        time.sleep(rng.uniform(0.0, 0.12))
        os.kill(child.pid, signal.SIGKILL)
        rest, _ = child.communicate()
        assert child.returncode == -signal.SIGKILL
        lines = (first + rest).split("\n")[:-1]  # the last piece may be a line cut by the kill
        yield [int(line) for line in lines], child.pid


def test_committed_appends_survive_sigkill(db: Path) -> None:
    reported_total = 0
    for reported, _pid in _kill_rounds(db, rounds=20, seed=20240601):
        with EventStore.open(db) as store:
            report = store.verify()
            assert report.ok, report.detail
            stored = [e.seq for e in store.read()]
            batches: dict[int, int] = {}  # first seq of a batch -> events of it stored
            for e in store.read(kinds=["batch"]):
                first = e.seq - e.payload["k"]
                batches[first] = batches.get(first, 0) + 1
        assert reported, "the child reported no committed append"
        assert set(reported) <= set(stored)  # every acknowledged append is there
        assert stored == list(range(1, len(stored) + 1))
        # At most the append in flight at the kill (up to one batch of 3) is unacknowledged.
        assert len(stored) - max(reported) <= 3
        assert all(count == 3 for count in batches.values()), batches  # batches are atomic
        reported_total += len(reported)
    assert reported_total >= 20


# ------------------------------------------------------------------ concurrency


def _concurrent_writers(target: str | Path, writers: int, each: int) -> None:
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            with EventStore.open(target) as store:
                for i in range(each):
                    store.append("tick", f"writer-{w}", {"i": i}, i)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def _assert_one_chain(target: str | Path, writers: int, each: int) -> None:
    with EventStore.open(target) as store:
        report = store.verify()
        assert report.ok, report.detail
        assert report.head_seq == report.checked == writers * each
        for w in range(writers):
            assert [e.payload["i"] for e in store.read(stream=f"writer-{w}")] == list(range(each))


def test_sqlite_concurrent_writers_share_one_chain(db: Path) -> None:
    EventStore.open(db).close()
    _concurrent_writers(db, writers=2, each=100)
    _assert_one_chain(db, writers=2, each=100)


# ------------------------------------------------------------------ PostgreSQL


def test_postgres_round_trip_and_verify(pg: str) -> None:
    with EventStore.open(pg) as store:
        assert "postgresql://" in store.target
        written = fill(store, 6)
        written += store.append_many([("b", "cid-9", {"x": [1, 2.5, None, True]}, 1)])
        assert list(store.read()) == written
        assert [e.seq for e in store.read(stream="cid-2", kinds=["fill"])] == [2, 5]
        assert store.head() == written[-1]
    assert verify(pg.replace("+psycopg", "")).ok
    with EventStore.open(pg) as store:  # reopen continues the chain
        assert store.append("c", "runner", {}, 2).prev_hash == written[-1].hash
    with psycopg.connect(pg.replace("+psycopg", ""), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE events SET ts_ms = 0 WHERE seq = 2")
        conn.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
        conn.execute("""UPDATE events SET payload = '{"i":1,"note":"é","px":1.0}' WHERE seq = 2""")
    report = verify(pg)
    assert (report.ok, report.first_bad_seq, report.reason) == (False, 2, "content_altered")


def test_a_postgres_log_exports_an_audit_bundle_and_reports(pg: str, tmp_path: Path) -> None:
    """A run whose log is on PostgreSQL: its audit bundle (the rows with their MACs copied into
    the bundle's log, the run folder's checkpoints and files) verifies offline as a SQLite
    run's does, the trade report reads it, and resume lifts the kill flag where kill put it
    (the database URL was taken for a file path)."""
    from typer.testing import CliRunner

    from live.cli import app

    folder = tmp_path / "state" / "run-pg"
    folder.mkdir(parents=True)
    (folder / "paper.json").write_text('{"cash": "10000"}')
    with open_run_log(pg, create_key=True, checkpoints=folder / "events.checkpoints") as store:
        store.append("run_started", "runner", {"run_id": "run-pg", "venue": "paper"}, 1)
        bars = [("heartbeat", "runner", {"i": i, "equity": "10000.5"}, 2 + i) for i in range(5_010)]
        written = store.append_many(bars)  # more than one page of rows
        source = store.target

    def cli(*args: str) -> tuple[int, str]:
        res = CliRunner().invoke(app, list(args))
        return res.exit_code, res.output + ("" if res.exception is None else str(res.exception))

    code, text = cli("audit", "export", "--events", pg)  # no run folder to write into
    assert code != 0 and "give --out" in text, text
    base = ("--events", pg, "--state-dir", str(tmp_path / "state"))  # run folder: run-pg
    code, text = cli("audit", "export", *base)
    assert code == 0, text
    bundle = folder / f"audit-{len(written) + 1}"
    assert f"OK — {len(written) + 1} events" in text and bundle.is_dir(), text
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert (manifest["run"], manifest["source"], manifest["events"]) == (
        "run-pg", source, len(written) + 1)  # fmt: skip
    assert manifest["verified_at_export"]["ok"]
    assert (bundle / "events.db.checkpoints").is_file() and (bundle / "run/paper.json").is_file()
    with EventStore.open(bundle / "events.db", checkpoints=False) as copy:
        assert list(copy.read())[1:] == written
    assert cli("audit", "verify", str(bundle))[0] == 0
    code, text = cli("report", "trades", "--events", pg, "--out", str(tmp_path / "report"))
    assert code == 0, text
    # kill puts its flag in the run folder, and resume lifts it from there
    assert cli("kill", "--reason", "audit", *base)[0] == 0
    assert (folder / "KILL").is_file()
    code, text = cli("resume", "--reason", "checked", *base)
    assert code == 0 and not (folder / "KILL").exists(), text


def test_postgres_non_durable_write_is_asynchronous_commit_for_its_transaction(pg: str) -> None:
    with EventStore.open(pg) as store:
        backend = store._backend  # type: ignore[attr-defined]
        show = lambda: backend._conn.execute("SHOW synchronous_commit").fetchone()[0]  # noqa: E731
        with backend.write(durable=False):
            assert show() == "off"
        assert show() == "on"
        with backend.write():
            assert show() == "on"
        lazy = store.append_many([("bar_closed", "runner", {"ts": 1}, 1)], durable=False)
        durable = store.append("decision", "runner", {"ts": 1}, 2)
        assert durable.prev_hash == lazy[0].hash
        assert show() == "on"


def test_postgres_primary_key_refuses_a_fork(pg: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with EventStore.open(pg) as a, EventStore.open(pg, retries=1) as b:
        a.append("x", "s", {}, 1)
        original = b._backend.write

        @contextmanager
        def racing_write(*, durable: bool = True) -> Iterator[Any]:
            # Inside b's transaction, right after b has read the head, a appends seq 2.
            with original(durable=durable) as tx:
                head = tx.head

                def head_then_race() -> Any:
                    row = head()
                    a.append("x", "a-wins", {}, 2)
                    return row

                setattr(tx, "head", head_then_race)  # noqa: B010 - patch one instance
                yield tx

        monkeypatch.setattr(b._backend, "write", racing_write)
        with pytest.raises(ChainConflictError, match="other writers took the next seq 1 times"):
            b.append("x", "b-loses", {}, 2)
        monkeypatch.undo()
        assert [e.stream for e in a.read()] == ["s", "a-wins"]
        assert b.append("x", "b-retries", {}, 3).seq == 3  # re-reads the head, chains after it
        assert b.verify().ok


def test_postgres_concurrent_writers_share_one_chain(pg: str) -> None:
    EventStore.open(pg).close()
    _concurrent_writers(pg, writers=2, each=200)
    _assert_one_chain(pg, writers=2, each=200)
