"""Retention of run records: archive, then delete — never the other way round.

``conf/compliance/retention.yaml`` names, per kind of record (live run logs, backtest runs,
MLflow artifacts), a folder, when a record is archived (``archive_after_days`` since its last
change: a live log's last event, else the newest file) and when the original is deleted
(``delete_after_days``, at least the archive age; ``null`` keeps it). Archives are ``.tar.gz``
files under ``archive_dir``; a live run is archived as its audit bundle
(:mod:`live.compliance.audit`), so the archive verifies offline.

Every archive and deletion is a line of ``<archive_dir>/index.jsonl``, itself hash-chained
(``prev_hash``/``hash`` as the event log's), so a removed or edited line shows. A live run
archived twice (it went on after the first archive) records ``continues``: the earlier
archive's head (seq, hash), checked to be in the new log at that seq — the hash chain's
continuity across archives; a log rewritten since is refused. An original is deleted only when
its archive is in the index and the archive file still has the recorded SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from grekko_research.errors import ConfigError

__all__ = ["RetentionPolicy", "RetentionRule", "apply_policy", "load_retention", "read_index"]

Kind = Literal["live_runs", "backtest_runs", "mlflow_artifacts"]
DAY_MS = 86_400_000


@dataclass(frozen=True)
class RetentionRule:
    kind: Kind
    path: Path
    archive_after_days: float
    delete_after_days: float | None

    def __post_init__(self) -> None:
        if self.archive_after_days < 0:
            raise ConfigError(f"retention {self.kind}: archive_after_days must be >= 0")
        if self.delete_after_days is not None and self.delete_after_days < self.archive_after_days:
            raise ConfigError(
                f"retention {self.kind}: delete_after_days ({self.delete_after_days}) before "
                f"archive_after_days ({self.archive_after_days}): records are archived first"
            )


@dataclass(frozen=True)
class RetentionPolicy:
    archive_dir: Path
    rules: tuple[RetentionRule, ...]


def load_retention(path: Path | None = None, *, root: Path | None = None) -> RetentionPolicy:
    """Read the policy (relative folders are under ``root``, default the Grekko home)."""
    import yaml  # type: ignore[import-untyped]

    from grekko_research.paths import grekko_home

    path = path or Path(__file__).resolve().parents[2] / "conf" / "compliance" / "retention.yaml"
    if not path.is_file():
        raise ConfigError(f"no retention policy at {path}")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    root = root or grekko_home()

    def where(p: str) -> Path:
        q = Path(str(p)).expanduser()
        return q if q.is_absolute() else root / q

    try:
        rules = tuple(
            RetentionRule(
                kind,
                where(body["path"]),
                float(body["archive_after_days"]),
                None if body.get("delete_after_days") is None else float(body["delete_after_days"]),
            )
            for kind, body in (data.get("rules") or {}).items()
            if kind in ("live_runs", "backtest_runs", "mlflow_artifacts")
        )
        unknown = set(data.get("rules") or {}) - {"live_runs", "backtest_runs", "mlflow_artifacts"}
        if unknown:
            raise ConfigError(f"{path}: unknown rules {sorted(unknown)}")
        return RetentionPolicy(where(data["archive_dir"]), rules)
    except (KeyError, TypeError, ValueError) as e:
        raise ConfigError(f"{path}: {type(e).__name__}: {e}") from None


# -- the index ----------------------------------------------------------------------------


def _hash(entry: dict[str, Any]) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def read_index(archive_dir: Path) -> list[dict[str, Any]]:
    """The index's entries, its chain checked (raises :class:`ConfigError` naming the line)."""
    path = archive_dir / "index.jsonl"
    if not path.is_file():
        return []
    out, prev = [], "0" * 64
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        entry = json.loads(line)
        if entry.get("prev_hash") != prev or entry.get("hash") != _hash(entry):
            raise ConfigError(f"{path}:{n}: the retention index's hash chain is broken")
        out.append(entry)
        prev = entry["hash"]
    return out


def _append(archive_dir: Path, entry: dict[str, Any]) -> dict[str, Any]:
    entries = read_index(archive_dir)
    entry = {**entry, "prev_hash": entries[-1]["hash"] if entries else "0" * 64}
    entry["hash"] = _hash(entry)
    archive_dir.mkdir(parents=True, exist_ok=True)
    with (archive_dir / "index.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
        f.flush()
    return entry


# -- records -------------------------------------------------------------------------------


def _records(rule: RetentionRule) -> list[Path]:
    if not rule.path.is_dir():
        return []
    if rule.kind == "live_runs":
        return sorted(p for p in rule.path.iterdir() if (p / "events.db").is_file())
    if rule.kind == "backtest_runs":
        return sorted(p.parent for p in rule.path.glob("*/*/provenance.json"))
    return sorted(p for p in rule.path.iterdir() if p.is_dir())


def _last_change_ms(rule: RetentionRule, record: Path) -> int:
    if rule.kind == "live_runs":
        from live.events import EventStore

        with EventStore.open(record / "events.db", checkpoints=False) as store:
            head = store.head()
        if head is not None:
            return head.ts_ms
    return int(max(p.stat().st_mtime for p in [record, *record.rglob("*")]) * 1000)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _archive(rule: RetentionRule, record: Path, dest: Path, now_ms: int,
             previous: dict[str, Any] | None) -> dict[str, Any]:  # fmt: skip
    entry: dict[str, Any] = {"action": "archived", "kind": rule.kind, "source": str(record),
                             "ts_ms": now_ms}  # fmt: skip
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        content = record
        if rule.kind == "live_runs":
            from live.compliance.audit import export_bundle, verify_bundle
            from live.events import load_log_key

            content = Path(tmp) / record.name
            export_bundle(record / "events.db", content, key=load_log_key())
            check = verify_bundle(content, key=load_log_key())
            if not check.ok:
                raise ConfigError(
                    f"{record}: the audit bundle fails verification: {check.problems}"
                )
            entry["head"] = check.head
            if previous is not None and previous.get("head"):
                _check_continuity(content, previous)
                entry["continues"] = {"archive": previous["archive"], **previous["head"]}
        partial = Path(tmp) / dest.name
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(content, arcname=record.name)
        shutil.move(partial, dest)
    entry |= {"archive": str(dest), "sha256": _sha(dest)}
    return entry


def _check_continuity(bundle: Path, previous: dict[str, Any]) -> None:
    """The earlier archive's head must be in the new log, with the same hash."""
    seq, want = previous["head"]["seq"], previous["head"]["hash"]
    with (bundle / "events.jsonl").open(encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["seq"] == seq:
                if row["hash"] != want:
                    break
                return
    raise ConfigError(
        f"{previous['source']}: event {seq} no longer has the hash the archive "
        f"{previous['archive']} recorded: the log was rewritten since; not archived"
    )


def apply_policy(
    policy: RetentionPolicy, *, apply: bool, clock: Callable[[], int] | None = None
) -> list[str]:
    """Archive and delete what the policy says is due; return what was (or would be) done."""
    now = (clock or (lambda: int(time.time() * 1000)))()
    index = read_index(policy.archive_dir)
    done: list[str] = []
    for rule in policy.rules:
        for record in _records(rule):
            age_days = (now - _last_change_ms(rule, record)) / DAY_MS
            mine = [e for e in index if e["source"] == str(record) and e["action"] == "archived"]
            last = mine[-1] if mine else None
            head_now = None
            if rule.kind == "live_runs" and last is not None:
                from live.events import EventStore

                with EventStore.open(record / "events.db", checkpoints=False) as store:
                    h = store.head()
                head_now = {"seq": h.seq, "hash": h.hash} if h else None
            stale_archive = last is None or (
                rule.kind == "live_runs" and head_now != last.get("head")
            )
            if age_days >= rule.archive_after_days and stale_archive:
                stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now / 1000))
                dest = policy.archive_dir / rule.kind / f"{record.name}-{stamp}.tar.gz"
                done.append(f"archive {record} -> {dest}")
                if apply:
                    entry = _append(policy.archive_dir, _archive(rule, record, dest, now, last))
                    index.append(entry)
                    last = entry
                    stale_archive = False
            due = rule.delete_after_days is not None and age_days >= rule.delete_after_days
            if due and last is not None and not stale_archive:
                archive = Path(last["archive"])
                if not archive.is_file() or _sha(archive) != last["sha256"]:
                    done.append(f"keep {record}: its archive {archive} is missing or changed")
                    continue
                done.append(f"delete {record} (archived in {archive})")
                if apply:
                    shutil.rmtree(record)
                    index.append(_append(policy.archive_dir, {
                        "action": "deleted", "kind": rule.kind, "source": str(record),
                        "ts_ms": now, "archive": str(archive), "sha256": last["sha256"]}))  # fmt: skip
            elif due and last is None:
                done.append(f"keep {record}: not archived yet")
    return done
