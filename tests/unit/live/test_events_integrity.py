"""Tamper evidence beyond the hash chain: per-event MACs under the log key and signed checkpoints.

Each tampering is done as an attacker would: with a plain sqlite3 connection, the append-only
triggers dropped, the SHA-256 chain recomputed where that hides the edit (the chain is public),
but without the log key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from grekko_research.errors import ConfigError
from live.events import (
    KEY_ENV,
    KEY_FILE_ENV,
    EventStore,
    LogKey,
    TamperedError,
    VerifyReport,
    load_log_key,
    verify,
)
from tests.peers.postgres import postgres_server

KEY = LogKey(b"k" * 40, "test")
OTHER_KEY = LogKey(b"z" * 40, "attacker")
N = 30


def spec_hash(seq: int, ts_ms: int, kind: str, stream: str, payload: object, prev: str) -> str:
    """The documented (public) hash, as an attacker recomputes it."""
    body = {"seq": seq, "ts_ms": ts_ms, "kind": kind, "stream": stream, "payload": payload,
            "prev_hash": prev}  # fmt: skip
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def fill_log(store: EventStore, n: int = N) -> None:
    """Fills with prices (what a restart books), in single appends and batches."""
    for i in range(0, n, 3):
        store.append_many(
            [
                ("order_fill", f"cid-{i + k}", {"qty": "0.1", "price": str(30_000 + i + k)}, i + k)
                for k in range(min(3, n - i))
            ]
        )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "run" / "events.db"
    with EventStore.open(path, key=KEY) as store:
        fill_log(store)
    return path


def raw(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS events_no_update")
    conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
    return conn


def rehash(conn: sqlite3.Connection, from_seq: int) -> None:
    """Recompute every hash and link from ``from_seq`` to the head (MACs left as they are)."""
    rows = conn.execute(
        "SELECT seq, ts_ms, kind, stream, payload FROM events WHERE seq >= ? ORDER BY seq",
        (from_seq,),
    ).fetchall()
    before = conn.execute("SELECT hash FROM events WHERE seq = ?", (from_seq - 1,)).fetchone()
    prev = before[0] if before else "0" * 64
    for seq, ts, kind, stream, text in rows:
        digest = spec_hash(seq, ts, kind, stream, json.loads(text), prev)
        conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, seq))
        prev = digest


def set_payload(conn: sqlite3.Connection, seq: int, payload: dict) -> None:
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    conn.execute("UPDATE events SET payload = ? WHERE seq = ?", (text, seq))


def price_edit(conn: sqlite3.Connection, seq: int) -> None:
    set_payload(conn, seq, {"qty": "0.1", "price": "1.0"})


# ------------------------------------------------------------------ the tamperings


def _t_edit_price(c: sqlite3.Connection, p: Path) -> None:
    price_edit(c, 5)


def _t_edit_last_price(c: sqlite3.Connection, p: Path) -> None:
    price_edit(c, N)


def _t_edit_price_rehash(c: sqlite3.Connection, p: Path) -> None:
    price_edit(c, 5)
    rehash(c, 5)


def _t_edit_last_rehash(c: sqlite3.Connection, p: Path) -> None:
    price_edit(c, N)
    rehash(c, N)


def _t_edit_first_rehash(c: sqlite3.Connection, p: Path) -> None:
    price_edit(c, 1)
    rehash(c, 1)


def _t_edit_ts_rehash(c: sqlite3.Connection, p: Path) -> None:
    c.execute("UPDATE events SET ts_ms = 999999 WHERE seq = 7")
    rehash(c, 7)


def _t_edit_kind_rehash(c: sqlite3.Connection, p: Path) -> None:
    c.execute("UPDATE events SET kind = 'order_cancelled' WHERE seq = 3")
    rehash(c, 3)


def _t_edit_stream_rehash(c: sqlite3.Connection, p: Path) -> None:
    c.execute("UPDATE events SET stream = 'cid-x' WHERE seq = 12")
    rehash(c, 12)


def _t_cut_one(c: sqlite3.Connection, p: Path) -> None:
    c.execute("DELETE FROM events WHERE seq = ?", (N,))


def _t_cut_five(c: sqlite3.Connection, p: Path) -> None:
    c.execute("DELETE FROM events WHERE seq > ?", (N - 5,))


def _t_cut_all(c: sqlite3.Connection, p: Path) -> None:
    c.execute("DELETE FROM events")


def _t_delete_middle(c: sqlite3.Connection, p: Path) -> None:
    c.execute("DELETE FROM events WHERE seq = 10")


def _t_delete_renumber_rehash(c: sqlite3.Connection, p: Path) -> None:
    c.execute("DELETE FROM events WHERE seq = 10")
    c.execute("UPDATE events SET seq = seq - 1 WHERE seq > 10")
    rehash(c, 10)


def _t_insert_renumber_rehash(c: sqlite3.Connection, p: Path) -> None:
    c.execute("UPDATE events SET seq = seq + 1000 WHERE seq >= 10")
    c.execute("UPDATE events SET seq = seq - 999 WHERE seq >= 1000")
    c.execute(
        "INSERT INTO events VALUES (10, 9, 'order_fill', 'cid-forged', "
        """'{"price":"1.0","qty":"5"}', '', '', NULL)"""
    )
    rehash(c, 10)


def _t_append_forged(c: sqlite3.Connection, p: Path) -> None:
    head = c.execute("SELECT hash FROM events WHERE seq = ?", (N,)).fetchone()[0]
    payload = {"price": "1.0", "qty": "5"}
    digest = spec_hash(N + 1, 99, "order_fill", "cid-forged", payload, head)
    c.execute(
        "INSERT INTO events VALUES (?, 99, 'order_fill', 'cid-forged', ?, ?, ?, NULL)",
        (N + 1, json.dumps(payload, sort_keys=True, separators=(",", ":")), head, digest),
    )


def _t_append_forged_fake_mac(c: sqlite3.Connection, p: Path) -> None:
    _t_append_forged(c, p)
    c.execute("UPDATE events SET mac = ? WHERE seq = ?", ("ab" * 32, N + 1))


def _t_swap_payloads_rehash(c: sqlite3.Connection, p: Path) -> None:
    a, b = (c.execute("SELECT payload FROM events WHERE seq = ?", (s,)).fetchone()[0]
            for s in (4, 8))  # fmt: skip
    c.execute("UPDATE events SET payload = ? WHERE seq = 4", (b,))
    c.execute("UPDATE events SET payload = ? WHERE seq = 8", (a,))
    rehash(c, 4)


def _t_copy_mac(c: sqlite3.Connection, p: Path) -> None:
    price_edit(c, 6)
    rehash(c, 6)
    mac = c.execute("SELECT mac FROM events WHERE seq = 5").fetchone()[0]
    c.execute("UPDATE events SET mac = ? WHERE seq = 6", (mac,))


def _t_null_macs_rehash(c: sqlite3.Connection, p: Path) -> None:
    price_edit(c, 5)
    c.execute("UPDATE events SET mac = NULL")
    rehash(c, 5)


def _t_drop_last_mac(c: sqlite3.Connection, p: Path) -> None:
    c.execute("UPDATE events SET mac = NULL WHERE seq = ?", (N,))


def _t_non_canonical(c: sqlite3.Connection, p: Path) -> None:
    c.execute("""UPDATE events SET payload = '{"qty": "0.1", "price": "30002"}' WHERE seq = 3""")


def _t_rekeyed(c: sqlite3.Connection, p: Path) -> None:
    """Edit, re-hash and re-MAC everything, and rewrite the checkpoints, with another key."""
    price_edit(c, 5)
    rehash(c, 1)
    rows = c.execute("SELECT seq, ts_ms, kind, stream, payload, prev_hash, hash FROM events "
                     "ORDER BY seq").fetchall()  # fmt: skip
    for row in rows:
        c.execute("UPDATE events SET mac = ? WHERE seq = ?", (OTHER_KEY.mac((*row, None)), row[0]))
    body = {"seq": rows[-1][0], "hash": rows[-1][6], "accepted": 0}
    line = {**body, "mac": OTHER_KEY.sign(body)}
    Path(str(p) + ".checkpoints").write_text(json.dumps(line) + "\n")


def _t_delete_checkpoints(c: sqlite3.Connection, p: Path) -> None:
    Path(str(p) + ".checkpoints").unlink()


def _t_delete_checkpoints_and_cut(c: sqlite3.Connection, p: Path) -> None:
    Path(str(p) + ".checkpoints").unlink()
    c.execute("DELETE FROM events WHERE seq > 20")


def _t_forged_checkpoint_and_cut(c: sqlite3.Connection, p: Path) -> None:
    """Cut the tail and write a checkpoint for the new head, signed with a guessed key."""
    c.execute("DELETE FROM events WHERE seq > 20")
    head = c.execute("SELECT hash FROM events WHERE seq = 20").fetchone()[0]
    body = {"seq": 20, "hash": head, "accepted": 0}
    with open(str(p) + ".checkpoints", "a") as f:
        f.write(json.dumps({**body, "mac": OTHER_KEY.sign(body)}) + "\n")


def _t_unsigned_checkpoint_and_cut(c: sqlite3.Connection, p: Path) -> None:
    c.execute("DELETE FROM events WHERE seq > 20")
    head = c.execute("SELECT hash FROM events WHERE seq = 20").fetchone()[0]
    with open(str(p) + ".checkpoints", "a") as f:
        f.write(json.dumps({"seq": 20, "hash": head, "accepted": 0, "mac": None}) + "\n")


def _t_accepting_checkpoint_forged(c: sqlite3.Connection, p: Path) -> None:
    """Claim an operator accepted everything (so MACs are skipped), without the key."""
    price_edit(c, 5)
    rehash(c, 5)
    head = c.execute("SELECT hash FROM events WHERE seq = ?", (N,)).fetchone()[0]
    body = {"seq": N, "hash": head, "accepted": N}
    with open(str(p) + ".checkpoints", "a") as f:
        f.write(json.dumps({**body, "mac": "00" * 32}) + "\n")


def _t_mangled_checkpoint_and_cut(c: sqlite3.Connection, p: Path) -> None:
    """Mangle the last checkpoint (as a crash might) and cut the tail: the previous
    checkpoint (one per write) still shows the cut."""
    cps = Path(str(p) + ".checkpoints")
    lines = cps.read_text().splitlines()
    cps.write_text("\n".join([*lines[:-1], lines[-1][:20]]) + "\n")
    c.execute("DELETE FROM events WHERE seq > ?", (N - 5,))


TAMPERINGS: list[Callable[[sqlite3.Connection, Path], None]] = [
    _t_edit_price, _t_edit_last_price, _t_edit_price_rehash, _t_edit_last_rehash,
    _t_edit_first_rehash, _t_edit_ts_rehash, _t_edit_kind_rehash, _t_edit_stream_rehash,
    _t_cut_one, _t_cut_five, _t_cut_all, _t_delete_middle, _t_delete_renumber_rehash,
    _t_insert_renumber_rehash, _t_append_forged, _t_append_forged_fake_mac,
    _t_swap_payloads_rehash, _t_copy_mac, _t_null_macs_rehash, _t_drop_last_mac,
    _t_non_canonical, _t_rekeyed, _t_delete_checkpoints, _t_delete_checkpoints_and_cut,
    _t_forged_checkpoint_and_cut, _t_unsigned_checkpoint_and_cut,
    _t_accepting_checkpoint_forged, _t_mangled_checkpoint_and_cut,
]  # fmt: skip


def start_check(path: Path, key: LogKey | None = KEY) -> VerifyReport:
    """What a run's start checks: the log from its last checkpoint, then every event's MAC
    as the restore reads it."""
    with EventStore.open(path, key=key) as store:
        report = store.verify(incremental=True)
        if not report.ok:
            return report
        try:
            list(store.read())
        except TamperedError as e:
            return e.report
        return report


def test_every_tampering_is_detected_by_the_start_check_and_by_a_full_verify(
    tmp_path: Path,
) -> None:
    """≥ 20 distinct tamperings of a keyed log: each fails the incremental start check and a
    full verify (counted and printed for the report)."""
    assert len({t.__name__ for t in TAMPERINGS}) >= 20
    missed_start, missed_full = [], []
    for i, tamper in enumerate(TAMPERINGS):
        path = tmp_path / f"t{i}" / "events.db"
        with EventStore.open(path, key=KEY) as store:
            fill_log(store)
        conn = raw(path)
        tamper(conn, path)
        conn.close()
        start = start_check(path)
        full = verify(path, key=KEY)
        if start.ok:
            missed_start.append(tamper.__name__)
        if full.ok:
            missed_full.append(tamper.__name__)
        assert start.ok or start.detail, tamper.__name__
    tried = len(TAMPERINGS)
    print(
        f"\ntamper cases tried {tried}, detected by the start check "
        f"{tried - len(missed_start)}, by a full verify {tried - len(missed_full)}"
    )
    assert missed_start == [] and missed_full == []


@pytest.mark.parametrize("keyed", [True, False])
def test_a_clean_log_passes_both_checks_and_reopens(db: Path, keyed: bool) -> None:
    key = KEY if keyed else None
    assert start_check(db, key).ok
    report = verify(db, key=key)
    assert report.ok and report.checked == N and report.keyed is keyed
    assert report.anchor_seq == N
    with EventStore.open(db, key=KEY) as store:
        store.append("x", "runner", {}, 1)
        inc = store.verify(incremental=True)
    assert inc.ok and inc.mode == "incremental" and inc.anchor_seq == N + 1 and inc.checked == 1
    assert "OK" in inc.describe() and "keyed" in inc.describe()


def test_rehash_to_head_is_caught_by_the_macs(db: Path) -> None:
    """The audit's case: a fill price edited and the chain re-hashed to the head passes the
    SHA-256 chain, but not the MACs nor the checkpoint."""
    conn = raw(db)
    price_edit(conn, 5)
    rehash(conn, 5)
    conn.close()
    assert verify(db, checkpoints=False).ok  # the public chain alone is fooled
    full = verify(db, key=KEY)
    assert (full.ok, full.first_bad_seq, full.reason) == (False, 5, "mac_mismatch")
    assert "re-hashed" in full.detail
    inc = verify(db, key=KEY, incremental=True)  # the checkpoint fails, the MACs name seq 5
    assert (inc.ok, inc.first_bad_seq, inc.reason) == (False, 5, "mac_mismatch")
    assert f"the checkpoint at seq {N} no longer matches" in inc.detail
    with EventStore.open(db, key=KEY) as store, pytest.raises(TamperedError, match="seq 5"):
        list(store.read())
    # without the key, the checkpoint still shows the rewrite
    assert verify(db, incremental=True).reason == "checkpoint_mismatch"


def test_tail_truncation_is_caught_by_the_checkpoint(db: Path) -> None:
    conn = raw(db)
    conn.execute("DELETE FROM events WHERE seq > 25")
    conn.close()
    assert verify(db, checkpoints=False).ok  # a shorter chain is still a chain
    for report in (verify(db, key=KEY), verify(db, key=KEY, incremental=True), verify(db)):
        assert (report.ok, report.reason, report.first_bad_seq) == (False, "truncated", 26)
        assert "events 26..30 were cut" in report.detail


def test_a_checkpoint_line_cut_by_a_crash_is_no_false_alarm(db: Path) -> None:
    """A write cut mid-line (power loss), then more appends: the log still verifies."""
    cps = Path(str(db) + ".checkpoints")
    with open(cps, "ab") as f:
        f.write(b'{"seq":99,"hash":"ab')
    with EventStore.open(db, key=KEY) as store:
        assert store.verify(incremental=True).ok
        store.append("x", "runner", {}, 1)
    assert start_check(db).ok and verify(db, key=KEY).ok
    assert b'"ab{"seq"' in cps.read_bytes()  # the mangled line is there, and skipped


def test_a_keyed_store_refuses_to_sign_on_top_of_a_cut_log(db: Path) -> None:
    """A writer's first append checks the log: a checkpoint on a cut head would hide the cut."""
    conn = raw(db)
    conn.execute("DELETE FROM events WHERE seq > 25")
    conn.close()
    with EventStore.open(db, key=KEY) as store:
        with pytest.raises(TamperedError, match="truncated"):
            store.append("resumed", "runner", {}, 1)
        assert store.head().seq == 25  # type: ignore[union-attr]


def test_accept_records_the_override_and_later_checks_start_from_it(db: Path) -> None:
    conn = raw(db)
    price_edit(conn, 5)
    rehash(conn, 5)
    conn.close()
    with EventStore.open(db, key=KEY) as store:
        report = store.verify(incremental=True)
        event = store.accept(report, "investigated: test edit")
        assert event.kind == "log_accepted" and event.seq == N + 1
        assert (event.payload["failure"], event.payload["failed_seq"]) == ("mac_mismatch", 5)
        assert len(list(store.read())) == N + 1  # reads no longer refuse the accepted events
        store.append("after", "runner", {}, 2)
    after = verify(db, key=KEY, incremental=True)
    assert after.ok and after.accepted_seq == N + 1
    assert not verify(db, key=KEY).ok  # the history still shows the edit to a full verify


def test_a_legacy_log_without_macs_or_checkpoints_needs_an_accept(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with EventStore.open(path, checkpoints=False) as store:
        fill_log(store, 6)
    report = verify(path, key=KEY, incremental=True)
    assert (report.ok, report.reason) == (False, "no_checkpoint")
    with EventStore.open(path, key=KEY) as store:
        store.accept(report, "adopting a log written before keys")
    assert start_check(path).ok


def test_postgres_rehash_and_truncation(tmp_path: Path) -> None:
    with postgres_server() as url:
        cps = tmp_path / "events.checkpoints"
        with EventStore.open(url, key=KEY, checkpoints=cps) as store:
            fill_log(store, 12)
            assert store.verify(incremental=True).ok
        with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")
            rows = conn.execute(
                "SELECT seq, ts_ms, kind, stream, payload FROM events ORDER BY seq"
            ).fetchall()
            prev = rows[3][0] and conn.execute(
                "SELECT hash FROM events WHERE seq = 3"
            ).fetchone()[0]  # fmt: skip
            for seq, ts, kind, stream, text in rows[3:]:
                payload = json.loads(text)
                if seq == 4:
                    payload["price"] = "1.0"
                    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
                digest = spec_hash(seq, ts, kind, stream, payload, prev)
                conn.execute(
                    "UPDATE events SET payload = %s, prev_hash = %s, hash = %s WHERE seq = %s",
                    (text, prev, digest, seq),
                )
                prev = digest
            assert verify(url, checkpoints=False).ok
            full = verify(url, key=KEY, checkpoints=cps)
            assert (full.first_bad_seq, full.reason) == (4, "mac_mismatch")
            conn.execute("ALTER TABLE events DISABLE TRIGGER events_append_only")  # re-armed
            conn.execute("DELETE FROM events WHERE seq > 2")
            cut = verify(url, key=KEY, checkpoints=cps, incremental=True)
            assert (cut.reason, cut.first_bad_seq) == ("truncated", 3)


# ------------------------------------------------------------------ the key


def test_key_from_env_then_file_created_0600(tmp_path: Path) -> None:
    key_file = tmp_path / "cfg" / "events.key"
    env = {KEY_FILE_ENV: str(key_file)}
    assert load_log_key(environ=env, use_keyring=False) is None
    made = load_log_key(environ=env, use_keyring=False, create=True)
    assert made is not None and "(created)" in made.source
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = load_log_key(environ=env, use_keyring=False)
    assert again is not None and again.secret == made.secret
    assert made.secret.decode() not in repr(made) and "***" in repr(made)
    from_env = load_log_key(environ={**env, KEY_ENV: "e" * 32}, use_keyring=False)
    assert from_env is not None and from_env.secret == b"e" * 32 and KEY_ENV in from_env.source
    with pytest.raises(ConfigError, match="too short"):
        load_log_key(environ={KEY_ENV: "short"}, use_keyring=False)
    os.chmod(key_file, 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        load_log_key(environ=env, use_keyring=False)


def test_mac_is_hmac_sha256_of_the_stored_fields(db: Path) -> None:
    """Documented so that anyone holding the key can check a log without Grekko."""
    conn = sqlite3.connect(db)
    row = conn.execute("SELECT seq, ts_ms, kind, stream, payload, prev_hash, hash, mac "
                       "FROM events WHERE seq = 7").fetchone()  # fmt: skip
    conn.close()
    seq, ts, kind, stream, payload, prev, digest = row[:7]
    text = (f"{seq}\n{ts}\n{len(kind)}:{kind}{len(stream)}:{stream}{len(prev)}:{prev}"
            f"{len(digest)}:{digest}{payload}")  # fmt: skip
    assert row[7] == hmac.new(b"k" * 40, text.encode(), hashlib.sha256).hexdigest()
