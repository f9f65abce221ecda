"""A live run refuses to restart on a tampered event log (fail closed), names where and why,
and runs on it only with an explicit, recorded override.

The run is a paper replay of real hourly BTC/USDT bars through ``run_plan`` (the path of
``grekko-live run``); the tampering is an attacker's, with sqlite3 and the public hash recipe,
without the log key.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from live.app import plan_run, run_plan
from live.events import KEY_ENV, EventStore, TamperedError, verify

BASE = ["data.start=2021-01-04", "strategy=sma_cross", "strategy.params.fast=5",
        "strategy.params.slow=20", "live.run_id=integrity"]  # fmt: skip


def _plan(tmp_path: Path, end: str):  # type: ignore[no-untyped-def]
    return plan_run(
        compose_config([*BASE, f"data.end={end}", f"live.state_dir={tmp_path}"]), replay=True
    )


def _edit_first_fill(db: str, *, rehash: bool) -> int:
    """Set the first fill's price to 1.0; with ``rehash``, recompute the chain to the head."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("DROP TRIGGER events_no_update")
    seq, text = conn.execute(
        "SELECT seq, payload FROM events WHERE kind = 'order_fill' ORDER BY seq LIMIT 1"
    ).fetchone()
    payload = json.loads(text)
    payload["price"] = "1.0"
    edited = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    conn.execute("UPDATE events SET payload = ? WHERE seq = ?", (edited, seq))
    if rehash:
        prev = conn.execute("SELECT hash FROM events WHERE seq = ?", (seq - 1,)).fetchone()[0]
        rows = conn.execute(
            "SELECT seq, ts_ms, kind, stream, payload FROM events WHERE seq >= ? ORDER BY seq",
            (seq,),
        ).fetchall()
        for s, ts, kind, stream, body in rows:
            obj = {"seq": s, "ts_ms": ts, "kind": kind, "stream": stream,
                   "payload": json.loads(body), "prev_hash": prev}  # fmt: skip
            text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
            digest = hashlib.sha256(text.encode()).hexdigest()
            conn.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?",
                         (prev, digest, s))  # fmt: skip
            prev = digest
    conn.close()
    return int(seq)


@pytest.mark.parametrize("rehash", [True, False], ids=["rehashed-to-head", "plain-edit"])
def test_restart_on_a_log_with_an_edited_fill_price_is_refused_unless_accepted(
    research_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rehash: bool
) -> None:
    monkeypatch.setenv(KEY_ENV, "integrity-test-key-0123456789abcdef")
    store = ParquetStore(research_store)
    first = _plan(tmp_path, "2021-01-15")
    run_plan(first, store=store)
    assert verify(first.events).ok
    bad_seq = _edit_first_fill(first.events, rehash=rehash)
    if rehash:
        assert verify(first.events, checkpoints=False).ok  # the public chain is fooled

    later = _plan(tmp_path, "2021-01-25")
    assert later.events == first.events
    with EventStore.open(later.events) as log:
        before = list(log.read())
    with pytest.raises(TamperedError) as info:
        run_plan(later, store=store)
    message = str(info.value)
    assert f"seq {bad_seq}" in message and "mac_mismatch" in message
    assert "refusing to run" in message and "--accept-log" in message
    with EventStore.open(later.events) as log:
        assert list(log.read()) == before  # nothing ran, nothing was written

    summary = run_plan(later, store=store, accept_log="edit investigated in test")
    assert summary.bars > 0
    with EventStore.open(later.events) as log:
        events = list(log.read())
    accepted = [e for e in events if e.kind == "log_accepted"]
    assert len(accepted) == 1
    assert accepted[0].payload["reason"] == "edit investigated in test"
    assert accepted[0].payload["failed_seq"] == bad_seq
    verified = [e for e in events if e.kind == "log_verified"]
    assert verified[-1].payload["accepted"] == "edit investigated in test"
    assert verified[-1].payload["keyed"] is True
    # The next start passes without the override (the accept is the new anchor).
    run_plan(_plan(tmp_path, "2021-01-27"), store=store)


def test_restart_on_a_cut_log_is_refused(
    research_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "integrity-test-key-0123456789abcdef")
    store = ParquetStore(research_store)
    first = _plan(tmp_path, "2021-01-15")
    run_plan(first, store=store)
    conn = sqlite3.connect(first.events, isolation_level=None)
    conn.execute("DROP TRIGGER events_no_delete")
    head = conn.execute("SELECT max(seq) FROM events").fetchone()[0]
    conn.execute("DELETE FROM events WHERE seq > ?", (head - 4,))
    conn.close()
    with pytest.raises(TamperedError, match=f"truncated.*events {head - 3}..{head} were cut"):
        run_plan(_plan(tmp_path, "2021-01-25"), store=store)


def test_a_clean_restart_logs_its_verification(
    research_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "integrity-test-key-0123456789abcdef")
    store = ParquetStore(research_store)
    run_plan(_plan(tmp_path, "2021-01-10"), store=store)
    plan = _plan(tmp_path, "2021-01-12")
    run_plan(plan, store=store)
    with EventStore.open(plan.events) as log:
        verified = [e for e in log.read() if e.kind == "log_verified"]
    assert [v.payload["mode"] for v in verified] == ["incremental", "incremental"]
    assert all(v.payload["ok"] and v.payload["keyed"] for v in verified)
    assert verified[1].payload["anchor_seq"] is not None


def test_the_cli_shows_refuses_and_accepts(
    research_store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``status`` shows the verdict, ``verify`` fails with exit 4, a replay on the tampered log
    is refused with the seq and the override, and ``--accept-log`` runs it."""
    from typer.testing import CliRunner

    from live.cli import app

    env = {"GREKKO_DATA_DIR": str(research_store), KEY_ENV: "cli-integrity-key-0123456789abcdef"}
    monkeypatch.setenv(KEY_ENV, env[KEY_ENV])
    replay = ["replay", "--strategy", "sma_cross", "--params", "fast=5", "--params", "slow=20",
              "--state-dir", str(tmp_path), "--run-id", "cli", "--show", "none",
              "data.start=2021-01-04"]  # fmt: skip

    stdout: list[str] = []

    def live(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args), env=env)
        stdout.append(result.stdout)
        return result.exit_code, f"{result.stdout}{result.stderr}{result.exception or ''}"

    code, out = live(*replay, "data.end=2021-01-15")
    assert code == 0, out
    events = stdout[-1].strip().splitlines()[-1]
    code, out = live("status", "--events", events)
    assert code == 0 and "log integrity:" in out and "OK" in out and "keyed" in out, out
    bad_seq = _edit_first_fill(events, rehash=True)
    code, out = live("status", "--events", events)
    assert code == 0 and f"FAILED at seq {bad_seq} (mac_mismatch)" in out.replace("\n", " ")
    code, out = live("verify", "--events", events)
    assert code == 4 and f"FAILED at seq {bad_seq}" in out.replace("\n", " ")
    code, out = live(*replay, "data.end=2021-01-20")
    flat = " ".join(out.split())
    assert code == 1 and f"seq {bad_seq}" in flat and "--accept-log" in flat, out
    code, out = live(*replay, "data.end=2021-01-20", "--accept-log", "checked by hand")
    assert code == 0, out
    code, out = live("status", "--events", events)
    assert "OK" in out and "accepted by override up to seq" in " ".join(out.split())
