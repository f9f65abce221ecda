"""Finish a backtest run in the background: its tearsheet and its MLflow record.

Drawing the tearsheet (plotly page and matplotlib PNG) and logging to MLflow take
about 3 s — importing mlflow alone takes 1.5 s — more than the backtest itself. So the
command line (``grekko backtest`` run as a program, not through ``--wait``) writes the
run folder's numbers, prints the summary and returns, while a forked, detached child
process writes ``tearsheet.html``/``.png`` (each file atomically) and then logs the run to
MLflow exactly as ``--wait`` does.

Nothing is lost unseen: each background finish has an entry in the runs folder's
ledger, ``<runs>/.pending/<strategy>--<run folder name>.json``, which the child writes
before the command returns (if it cannot, the command finishes the run itself). The
child deletes it when the tearsheet and the MLflow run are complete; on an
error it records ``state: failed``, the error and the traceback (``.log`` beside it). A
child that died without a word (killed, machine off) leaves ``state: running`` with a
dead pid. Every later ``grekko backtest`` and ``grekko compare`` on that runs folder
prints each failed or interrupted entry — the run folder, what it lacks, the error, the
command to redo it — until the entry is deleted.

Only a process about to exit forks (:func:`can_detach`: the ``grekko`` entry point);
in-process callers (tests through Click's runner, notebooks) finish synchronously, as
does any platform without ``os.fork``. The MLflow step holds the runs folder's
:func:`tracking_lock`, so finishes of successive or concurrent backtests log one at a time
(two processes creating a new SQLite store at once break its migrations).
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grekko_research._atomic import atomic_write_text

__all__ = [
    "LEDGER_DIR",
    "Unfinished",
    "can_detach",
    "finish_in_background",
    "report_unfinished",
    "tracking_lock",
    "unfinished",
]

LEDGER_DIR = ".pending"
"""The runs folder's ledger of background finishes (one JSON file per run folder)."""


def can_detach() -> bool:
    """Whether a finish may be forked off: the entry point allowed it and ``os.fork`` exists.

    :func:`grekko_research.cli.main` allows it: that process exits after the command.
    """
    from grekko_research import cli

    return cli.detach_allowed and hasattr(os, "fork") and hasattr(os, "setsid")


def _entry_path(folder: Path) -> Path:
    root = folder.parent.parent
    return root / LEDGER_DIR / f"{folder.parent.name}--{folder.name}.json"


def _now() -> str:
    # bookkeeping time of the ledger, not a result
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def tracking_lock(uri: str) -> Iterator[None]:
    """Hold the lock of MLflow store ``uri``: one Grekko process logs to it at a time.

    Background finishes of quick successive backtests would otherwise race, e.g. two
    processes creating the tables of a new SQLite store at once (its migrations fail). The
    lock is ``.pending/<database>.lock`` beside a SQLite file; other stores (a tracking
    server) serialise writes themselves. Waits as long as needed.
    """
    from grekko_research.tracking._provenance import sqlite_path

    db = sqlite_path(uri)
    try:
        import fcntl
    except ImportError:  # no fork either: nothing runs in the background to race with
        db = None
    if db is None:
        yield
        return
    folder = db.parent / LEDGER_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{db.name}.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _boot_id() -> str | None:
    """This boot's id (Linux): a pid recorded before a reboot names no process of ours."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None


def _write(entry: Path, record: dict[str, Any]) -> None:
    atomic_write_text(entry, json.dumps(record, indent=2) + "\n")


def finish_in_background(
    folder: Path, steps: list[str], job: Callable[[], object], argv: list[str]
) -> tuple[int, Path] | None:
    """Fork a detached child that runs ``job`` for run ``folder``; return its pid and ledger entry.

    ``steps`` names what the job adds (for the messages); ``argv`` is the command that
    made the run, so a failure message can say how to redo it with ``--wait``. The parent
    returns as soon as the child has recorded itself in the ledger; ``None`` when it could
    not (the caller then runs ``job`` itself). The child never returns (``os._exit``).
    """
    entry = _entry_path(folder)
    log = entry.with_suffix(".log")
    record: dict[str, Any] = {
        "folder": str(folder),
        "steps": steps,
        "state": "running",
        "pid": None,
        "boot_id": _boot_id(),
        "started": _now(),
        "command": argv,
        "log": str(log),
    }
    entry.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid:
        os.close(ready_w)
        with os.fdopen(ready_r, "rb") as ready:
            recorded = ready.read(1) == b"1"
        return (pid, entry) if recorded else None
    os.close(ready_r)
    _run_child(job, entry, log, record, ready_w)  # never returns
    raise AssertionError("unreachable")  # pragma: no cover


def _run_child(
    job: Callable[[], object], entry: Path, log: Path, record: dict[str, Any], ready: int
) -> None:  # pragma: no cover - runs in the forked child (tested through the command line)
    code = 1
    try:
        os.setsid()  # no terminal: closing it or Ctrl-C on the next command does not kill us
        os.nice(10)  # background work: the user's next commands come first
        record["pid"] = os.getpid()
        _write(entry, record)  # before the parent returns: from here on, nothing goes unseen
        os.write(ready, b"1")
        os.close(ready)
        null = os.open(os.devnull, os.O_RDONLY)
        out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        # Release the caller's pipes ($(grekko backtest), capture_output=True) at once.
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        job()
        log.unlink(missing_ok=True)
        entry.unlink(missing_ok=True)  # last: an entry gone means the run is complete
        code = 0
    except BaseException as exc:
        with contextlib.suppress(BaseException):
            traceback.print_exc()
            sys.stderr.flush()
            record.update(state="failed", error=f"{type(exc).__name__}: {exc}", ended=_now())
            _write(entry, record)
    finally:
        os._exit(code)


@dataclass(frozen=True)
class Unfinished:
    """A run folder whose background finish failed or was interrupted."""

    entry: Path
    folder: str
    steps: list[str]
    state: str  # "failed" or "interrupted"
    error: str | None
    log: str | None
    command: list[str]

    def message(self) -> str:
        """Say what the run lacks, why, and how to redo it (one paragraph)."""
        why = f"failed: {self.error}" if self.state == "failed" else "was interrupted"
        redo = ""
        if self.command:
            args = [a for a in self.command if a != "--wait"]
            redo = f" Redo it with `{shlex.join(['grekko', *args, '--wait'])}`;"
        log = f" log {self.log};" if self.log and Path(self.log).is_file() else ""
        return (
            f"run {self.folder} is incomplete: writing its {' and '.join(self.steps)} in the "
            f"background {why}.{redo}{log} delete {self.entry} to dismiss this."
        )


def _alive(pid: object, boot_id: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    if boot_id is not None and boot_id != _boot_id():
        return False  # recorded before a reboot
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user: not our child, which died
        return False
    try:  # a killed child nobody reaped (no init in a container) is a zombie: dead
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        return stat.rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def unfinished(root: Path) -> list[Unfinished]:
    """Return the failed or interrupted background finishes recorded under runs folder ``root``."""
    out = []
    for entry in sorted((root / LEDGER_DIR).glob("*.json")):
        try:
            doc = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # deleted or being replaced right now
        state = doc.get("state")
        if state == "running":
            # a child deletes its entry before it exits: dead and still listed = interrupted
            if _alive(doc.get("pid"), doc.get("boot_id")) or not entry.exists():
                continue
            state = "interrupted"
        elif state != "failed":
            continue
        out.append(
            Unfinished(
                entry=entry,
                folder=str(doc.get("folder", "?")),
                steps=list(doc.get("steps") or []),
                state=state,
                error=doc.get("error"),
                log=doc.get("log"),
                command=list(doc.get("command") or []),
            )
        )
    return out


def report_unfinished(root: Path) -> int:
    """Warn (standard error) of each failed or interrupted finish under ``root``; return how many."""
    from rich.markup import escape

    from grekko_research.cli.render import err_console

    found = unfinished(root)
    for item in found:
        err_console.print(
            f"[bold yellow]warning:[/bold yellow] {escape(item.message())}",
            highlight=False,
            soft_wrap=True,  # the terminal wraps; a path rich broke mid-name could not be pasted
        )
    return len(found)
