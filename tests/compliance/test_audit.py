"""Audit bundles (export, offline verification, tampering caught) and the retention policy
(archive then delete, the hash chain's continuity across archives)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grekko_research.errors import ConfigError
from live.cli import app
from live.compliance.audit import export_bundle, verify_bundle
from live.compliance.retention import (
    RetentionPolicy,
    RetentionRule,
    apply_policy,
    read_index,
)
from live.events import load_log_key, open_run_log

DAY = 86_400_000
T0 = 1_700_000_000_000


def _log(folder: Path, n: int, *, start: int = 0, ts: int = T0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "events.db"
    with open_run_log(path, create_key=True) as store:
        if store.head() is None:
            store.append("run_started", "runner", {"run_id": folder.name, "venue": "paper",
                                                   "strategy": "sma_cross"}, ts_ms=ts)  # fmt: skip
        for i in range(start, start + n):
            store.append("bar_closed", "runner", {"i": i, "equity": "10000.5"}, ts_ms=ts + i)
    (folder / "paper.json").write_text('{"cash": "10000"}')
    return path


def _cli(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.output


def test_export_verifies_offline_and_the_log_copy_passes_grekko_live_verify(tmp_path: Path) -> None:
    log = _log(tmp_path / "run1", 5)
    out = tmp_path / "bundle"
    code, text = _cli("audit", "export", "--events", str(log), "--out", str(out))
    assert code == 0, text
    assert "OK — 6 events" in text
    names = {p.name for p in out.iterdir()}
    assert {"events.db", "events.db.checkpoints", "events.jsonl", "config.json", "code.json",
            "manifest.json", "MANIFEST.sha256", "run"} <= names  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["events"] == 6 and manifest["verified_at_export"]["ok"]
    assert json.loads((out / "config.json").read_text())["strategy"] == "sma_cross"
    assert "code_version" in json.loads((out / "code.json").read_text())
    assert _cli("audit", "verify", str(out))[0] == 0
    code, text = _cli("verify", "--events", str(out / "events.db"))  # the log tools, offline
    assert code == 0, text
    with pytest.raises(ConfigError, match="exists"):
        export_bundle(log, out)


def _fresh(tmp_path: Path, name: str) -> Path:
    log = _log(tmp_path / f"run-{name}", 4)
    return export_bundle(log, tmp_path / f"b-{name}", key=load_log_key())


def _rehash_manifest(bundle: Path, edited: str) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][edited] = hashlib.sha256((bundle / edited).read_bytes()).hexdigest()
    text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
    (bundle / "manifest.json").write_text(text)
    (bundle / "MANIFEST.sha256").write_text(hashlib.sha256(text.encode()).hexdigest() + "\n")


def test_tampering_is_caught(tmp_path: Path) -> None:
    # an edited event in the JSONL: its file hash, and — manifest re-hashed too — the chain
    b = _fresh(tmp_path, "jsonl")
    lines = (b / "events.jsonl").read_text().splitlines()
    lines[2] = lines[2].replace('"10000.5"', '"99999.5"')
    (b / "events.jsonl").write_text("\n".join(lines) + "\n")
    assert any("events.jsonl: SHA-256 differs" in p for p in verify_bundle(b).problems)
    _rehash_manifest(b, "events.jsonl")
    problems = verify_bundle(b).problems
    assert problems[0] == "events.jsonl line 3 (seq 3): hash chain broken"
    assert "the manifest says" in problems[1] and "(5)" in problems[1]
    # the log copy rewritten in place
    b = _fresh(tmp_path, "db")
    with sqlite3.connect(b / "events.db") as db:  # an editor drops the append-only triggers
        for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        ).fetchall():
            db.execute(f"DROP TRIGGER {name}")
        db.execute("UPDATE events SET payload = replace(payload, '10000.5', '1.5') WHERE seq = 3")
    db.close()  # merged into the file (left in the WAL, the WAL itself is reported)
    problems = verify_bundle(b, key=load_log_key()).problems
    assert "events.db: SHA-256 differs from the manifest (edited)" in problems
    assert any(p.startswith("events.db:") and "seq 3" in p for p in problems), problems
    # a file removed, a file added, the manifest edited
    b = _fresh(tmp_path, "files")
    (b / "code.json").unlink()
    (b / "extra.txt").write_text("x")
    assert {"code.json: missing", "extra.txt: not in the manifest (added)"} <= set(
        verify_bundle(b).problems
    )
    b = _fresh(tmp_path, "manifest")
    (b / "manifest.json").write_text(
        (b / "manifest.json").read_text().replace('"events": 5', '"events": 4')
    )
    assert "manifest.json does not match MANIFEST.sha256 (edited)" in verify_bundle(b).problems
    assert _cli("audit", "verify", str(b))[0] == 4


def test_retention_archives_then_deletes_with_continuity(tmp_path: Path) -> None:
    live = tmp_path / "runs" / "live"
    log = _log(live / "r1", 3)
    policy = RetentionPolicy(tmp_path / "archive", (RetentionRule("live_runs", live, 30, 90),))
    now = [T0 + 10 * DAY]
    clock = lambda: now[0]  # noqa: E731
    assert apply_policy(policy, apply=True, clock=clock) == []  # 10 days old: nothing due
    now[0] = T0 + 31 * DAY
    plan = apply_policy(policy, apply=False, clock=clock)
    assert len(plan) == 1 and plan[0].startswith("archive ") and not (tmp_path / "archive").exists()
    apply_policy(policy, apply=True, clock=clock)
    (first,) = read_index(policy.archive_dir)
    assert first["head"]["seq"] == 4 and Path(first["archive"]).is_file()
    with tarfile.open(first["archive"]) as tar:
        assert "r1/manifest.json" in tar.getnames()
    assert apply_policy(policy, apply=True, clock=clock) == []  # archived, not yet deletable
    # the run went on: a second archive records that it continues the first one's head
    _log(live / "r1", 2, start=3, ts=T0 + 32 * DAY)
    now[0] = T0 + 63 * DAY
    apply_policy(policy, apply=True, clock=clock)
    second = read_index(policy.archive_dir)[-1]
    assert second["continues"] == {"archive": first["archive"], **first["head"]}
    assert second["head"]["seq"] == 6 and second["prev_hash"] == first["hash"]
    # due for deletion: deleted once its archive checks out, the deletion indexed
    now[0] = T0 + 123 * DAY
    done = apply_policy(policy, apply=True, clock=clock)
    assert done == [f"delete {live / 'r1'} (archived in {second['archive']})"]
    assert not log.exists() and read_index(policy.archive_dir)[-1]["action"] == "deleted"
    # the index is hash-chained: an edited line is caught
    index = policy.archive_dir / "index.jsonl"
    index.write_text(index.read_text().replace('"live_runs"', '"backtest_runs"', 1))
    with pytest.raises(ConfigError, match=r"index\.jsonl:1: the retention index's hash chain"):
        read_index(policy.archive_dir)


def test_retention_never_deletes_unarchived_or_changed_archives(tmp_path: Path) -> None:
    live = tmp_path / "live"
    _log(live / "r2", 2)
    policy = RetentionPolicy(tmp_path / "archive", (RetentionRule("live_runs", live, 30, 90),))
    apply_policy(policy, apply=True, clock=lambda: T0 + 31 * DAY)
    (entry,) = read_index(policy.archive_dir)
    Path(entry["archive"]).write_bytes(b"corrupted")
    done = apply_policy(policy, apply=True, clock=lambda: T0 + 200 * DAY)
    assert done == [f"keep {live / 'r2'}: its archive {entry['archive']} is missing or changed"]
    assert (live / "r2" / "events.db").exists()
    with pytest.raises(ConfigError, match="before archive_after_days"):
        RetentionRule("live_runs", live, 30, 10)
