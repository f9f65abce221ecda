"""Self-verifying audit bundles of a live run, and the retention policy that archives them.

``grekko-live audit export`` writes a folder::

    events.db, events.db.checkpoints   a consistent copy of the log (SQLite backup API) and its
                                       signed checkpoints: `grekko-live verify --events` opens it
    events.jsonl                       every event as stored (seq, ts_ms, kind, stream, payload,
                                       prev_hash, hash): readable without Grekko
    run/                               the run folder's own files (paper account, kill file …)
    config.json                        the run's configuration as its ``run_started`` recorded it
    code.json                          Grekko's version, the code version (git commit or source
                                       hash) of the exporting process
    manifest.json                      run id, event count, head (seq, hash), the last checkpoint,
                                       the verification verdict at export, and the SHA-256 of
                                       every file above
    MANIFEST.sha256                    the SHA-256 of manifest.json

:func:`verify_bundle` needs nothing but the folder (offline): every file against the manifest,
the manifest against its hash, the JSONL's hash chain recomputed from genesis, the copy of the
log through the event store's own verification (MACs and checkpoint signatures too when the
log key is available), and JSONL, log and manifest naming the same head. What it cannot catch:
someone who rewrites *every* event, the manifest and its hash consistently — only the log
key's checkpoint signatures and a head recorded elsewhere (the ``log_verified`` alert) catch
that; see docs/compliance.md.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grekko_research._atomic import atomic_dir
from grekko_research.errors import ConfigError

__all__ = ["BundleReport", "export_bundle", "verify_bundle"]

FORMAT = 1
_SKIP = {"events.db", "events.db-wal", "events.db-shm", "events.db.checkpoints"}


def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _files(root: Path) -> Iterator[Path]:
    for p in sorted(root.rglob("*")):
        if (
            p.is_file()
            and p.name not in ("MANIFEST.sha256",)
            and not p.name.endswith(("-wal", "-shm"))
        ):
            yield p


def code_info() -> dict[str, Any]:
    """The exporting process's Grekko version and code version."""
    from grekko_research import __version__
    from grekko_research.tracking._provenance import code_version

    return {"grekko_version": __version__, "code_version": code_version()}


def export_bundle(
    events: str | Path,
    out: Path,
    *,
    key: Any = None,
    run_dir: Path | None = None,
    checkpoints: Path | None = None,
) -> Path:
    """Write the audit bundle of the log ``events`` into the new folder ``out`` (complete when
    it appears). Raises :class:`ConfigError` if ``out`` exists or there is no such log.

    ``events`` is a SQLite file (or ``sqlite:///`` URL), whose run folder is its own folder and
    whose checkpoints sit beside it; or a PostgreSQL URL, whose events up to the head at the
    start are copied, with their MACs, into the bundle's ``events.db`` (the same chain, so the
    bundle verifies the same way). A PostgreSQL log has no folder of its own: ``run_dir`` names
    the run folder (its files and ``events.checkpoints``), ``checkpoints`` another checkpoint
    file. The manifest names the source without its password.
    """
    from live.events import EventStore, verify

    text = str(events)
    url = "://" in text and not text.lower().startswith("sqlite:///")
    src = None if url else Path(text.removeprefix("sqlite:///"))
    if src is not None and not src.is_file():
        raise ConfigError(f"no event log at {src}")
    if out.exists():
        raise ConfigError(f"{out} exists: an audit bundle is written once, into a new folder")
    if src is not None:
        run_dir = src.parent if run_dir is None else run_dir
        checkpoints = Path(f"{src}.checkpoints") if checkpoints is None else checkpoints
    elif checkpoints is None and run_dir is not None:
        checkpoints = run_dir / "events.checkpoints"
    with atomic_dir(out) as tmp:
        db = tmp / "events.db"
        if src is not None:
            _copy_sqlite(src, db)
            source = str(src.resolve())
        else:
            source = _copy_rows(text, db)
        copied: Path | bool = False  # the checkpoints' copy, when there are any
        if checkpoints is not None and checkpoints.is_file():
            copied = tmp / "events.db.checkpoints"
            shutil.copy2(checkpoints, copied)
        report = verify(db, key=key, checkpoints=copied)
        config: dict[str, Any] = {}
        count, head, first_ts = 0, None, None
        with (
            EventStore.open(db, checkpoints=False) as store,
            (tmp / "events.jsonl").open("w", encoding="utf-8") as f,
        ):
            for e in store.read():
                row = {"seq": e.seq, "ts_ms": e.ts_ms, "kind": e.kind, "stream": e.stream,
                       "payload": e.payload, "prev_hash": e.prev_hash, "hash": e.hash}  # fmt: skip
                f.write(json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n")
                if e.kind == "run_started" and not config:
                    config = e.payload
                count, head = count + 1, e
                first_ts = e.ts_ms if first_ts is None else first_ts
        own = (src.name,) if src is not None else ("events.checkpoints",)
        for p in sorted(run_dir.iterdir()) if run_dir is not None else ():  # the run's files
            if p.is_file() and p.name not in _SKIP and not p.name.startswith(own):
                (tmp / "run").mkdir(exist_ok=True)
                shutil.copy2(p, tmp / "run" / p.name)
        (tmp / "config.json").write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
        (tmp / "code.json").write_text(json.dumps(code_info(), indent=1) + "\n")
        manifest = {
            "format": FORMAT,
            "run": run_dir.name if run_dir is not None else config.get("run_id"),
            "source": source,
            "events": count,
            "head": {"seq": head.seq, "hash": head.hash} if head else None,
            "first_ts_ms": first_ts,
            "last_ts_ms": head.ts_ms if head else None,
            "verified_at_export": {"ok": report.ok, "summary": str(report)},
            "files": {str(p.relative_to(tmp)): _sha(p) for p in _files(tmp)},
        }
        text = json.dumps(manifest, indent=1, sort_keys=True) + "\n"
        (tmp / "manifest.json").write_text(text, encoding="utf-8")
        (tmp / "MANIFEST.sha256").write_text(
            hashlib.sha256(text.encode()).hexdigest() + "  manifest.json\n"
        )
    return out


def _copy_sqlite(src: Path, db: Path) -> None:
    """A consistent copy of a SQLite log (the backup API: writers may go on meanwhile)."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(db)
        with target:
            source.backup(target)
        target.close()
    finally:
        source.close()


def _copy_rows(url: str, db: Path, page: int = 5000) -> str:
    """Copy a database log's rows (MACs included) up to its head at the start into a new
    SQLite log at ``db`` (writers appending meanwhile do not make the copy end mid-chain);
    return the source's name without its password."""
    from live.events._backends import SQLiteBackend, open_backend

    source, target = open_backend(url), SQLiteBackend(db)
    try:
        head = source.head()
        last, end = 0, head[0] if head is not None else 0
        while last < end:
            rows = [r for r in source.rows(last, None, None, page) if r[0] <= end]
            if not rows:
                raise ConfigError(f"event log {source.target}: no events after seq {last} "
                                  f"below its head {end}")  # fmt: skip
            with target.write() as writer:
                writer.insert(rows)
            last = rows[-1][0]
        return source.target
    finally:
        source.close()
        target.close()


@dataclass
class BundleReport:
    """The verdict on a bundle: ``ok`` and every problem found."""

    path: Path
    problems: list[str] = field(default_factory=list)
    events: int = 0
    head: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def describe(self) -> str:
        if self.ok:
            head = self.head or {}
            return (f"audit bundle {self.path}: OK — {self.events} events, head seq "
                    f"{head.get('seq')} {str(head.get('hash', ''))[:16]}…")  # fmt: skip
        return f"audit bundle {self.path}: FAILED\n" + "\n".join(f"  - {p}" for p in self.problems)


def verify_bundle(path: Path, *, key: Any = None) -> BundleReport:
    """Check a bundle offline (see the module doc)."""
    report = BundleReport(path)
    manifest = _check_manifest(path, report.problems)
    if manifest is None:
        return report
    _check_files(path, manifest, report.problems)
    _check_jsonl(path, manifest, report)
    _check_db(path, key, report)
    return report


def _check_manifest(path: Path, problems: list[str]) -> dict[str, Any] | None:
    mpath, hpath = path / "manifest.json", path / "MANIFEST.sha256"
    if not mpath.is_file() or not hpath.is_file():
        problems.append("manifest.json or MANIFEST.sha256 missing: not an audit bundle")
        return None
    text = mpath.read_bytes()
    if hpath.read_text().split()[0] != hashlib.sha256(text).hexdigest():
        problems.append("manifest.json does not match MANIFEST.sha256 (edited)")
    try:
        return dict(json.loads(text))
    except ValueError as e:
        problems.append(f"manifest.json is not JSON: {e}")
        return None


def _check_files(path: Path, manifest: dict[str, Any], problems: list[str]) -> None:
    for side in ("events.db-wal", "events.db-journal"):  # changes not merged into the copy
        if (path / side).is_file() and (path / side).stat().st_size > 0:
            problems.append(f"{side}: unmerged changes beside the log copy (not in the manifest)")
    listed = dict(manifest.get("files") or {})
    present = {str(p.relative_to(path)) for p in _files(path) if p.name != "manifest.json"}
    for name in sorted(present - set(listed)):
        problems.append(f"{name}: not in the manifest (added)")
    for name, digest in sorted(listed.items()):
        p = path / name
        if not p.is_file():
            problems.append(f"{name}: missing")
        elif _sha(p) != digest:
            problems.append(f"{name}: SHA-256 differs from the manifest (edited)")


def _check_jsonl(path: Path, manifest: dict[str, Any], report: BundleReport) -> None:
    """The JSONL's chain, recomputed from genesis without the store."""
    from live.events import GENESIS_HASH, event_hash

    prev, n, last = GENESIS_HASH, 0, None
    jsonl = path / "events.jsonl"
    lines = jsonl.read_text(encoding="utf-8").splitlines() if jsonl.is_file() else []
    for line_no, line in enumerate(lines, start=1):
        row = json.loads(line)
        want = event_hash(row["seq"], row["ts_ms"], row["kind"], row["stream"], row["payload"],
                          row["prev_hash"])  # fmt: skip
        if row["seq"] != n + 1 or row["prev_hash"] != prev or row["hash"] != want:
            report.problems.append(
                f"events.jsonl line {line_no} (seq {row['seq']}): hash chain broken"
            )
            break
        prev, n, last = row["hash"], n + 1, row
    report.events = n
    report.head = {"seq": last["seq"], "hash": last["hash"]} if last else None
    if report.head != manifest.get("head") or n != manifest.get("events"):
        report.problems.append(
            f"events.jsonl ends at {report.head} ({n} events), the manifest says "
            f"{manifest.get('head')} ({manifest.get('events')})"
        )


def _check_db(path: Path, key: Any, report: BundleReport) -> None:
    """The log copy through the event store's own verification."""
    from live.events import verify

    db = path / "events.db"
    if not db.is_file():
        return
    cp = path / "events.db.checkpoints"
    verdict = verify(db, key=key, checkpoints=cp if cp.is_file() else False)
    if not verdict.ok:
        report.problems.append(f"events.db: {verdict.describe()}")
    elif verdict.head_seq != (report.head or {}).get("seq"):
        report.problems.append(f"events.db head seq {verdict.head_seq} != events.jsonl's")
