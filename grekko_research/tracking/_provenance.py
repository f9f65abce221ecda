"""Where runs are tracked and what identifies their inputs: URI, code commit, data hash.

Nothing here imports mlflow.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import numpy as np

from grekko_research.paths import runs_dir

if TYPE_CHECKING:
    from grekko_research.data.bars import Bars

__all__ = [
    "artifact_location",
    "code_version",
    "data_hash",
    "find_identity",
    "git_commit",
    "identity_hash",
    "sqlite_path",
    "tracking_uri",
]

_CHECKOUT = Path(__file__).resolve().parents[2]
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def tracking_uri(default_dir: str | os.PathLike[str] | None = None) -> str:
    """Return the MLflow tracking URI every function of this package uses by default.

    ``$MLFLOW_TRACKING_URI`` when set (any URI MLflow accepts); otherwise the
    SQLite file ``mlruns.db`` in the runs folder: ``$GREKKO_RUNS_DIR``, else
    ``default_dir``, else the checkout's ``runs/`` (:func:`grekko_research.paths.runs_dir`),
    made absolute. Run artifacts of such a
    local store go to ``mlartifacts/`` beside the database file, so no
    tracking server is needed. Nothing is created here.

    Parameters
    ----------
    default_dir
        The runs folder to use when neither environment variable is set,
        e.g. ``cfg.experiment.output_dir``.
    """
    env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if env:
        return env
    folder = os.environ.get("GREKKO_RUNS_DIR") or default_dir or runs_dir()
    return f"sqlite:///{(Path(folder).expanduser().resolve() / 'mlruns.db').as_posix()}"


def sqlite_path(uri: str) -> Path | None:
    """Return the database file of a ``sqlite:///`` URI (``None`` for other stores)."""
    if not uri.startswith("sqlite:///"):
        return None
    raw = unquote(urlparse(uri).path)
    # sqlite:///rel.db -> "/rel.db" is relative; sqlite:////abs.db -> "//abs.db" is absolute.
    text = raw[1:] if raw.startswith("/") else raw
    if not text or text == ":memory:":
        return None
    return Path(text).resolve()


def artifact_location(uri: str, experiment: str) -> str | None:
    """Return where a new experiment of a local SQLite store keeps its artifacts.

    ``<folder of the database>/mlartifacts/<experiment>`` as a ``file://``
    URI; ``None`` for any other store, which then decides for itself (a
    tracking server has its own artifact root).
    """
    db = sqlite_path(uri)
    if db is None:
        return None
    name = _UNSAFE.sub("-", experiment).strip("-.") or "experiment"
    return (db.parent / "mlartifacts" / name).as_uri()


def git_commit() -> str | None:
    """Return the commit (``git rev-parse HEAD``) of the checkout this package runs from.

    ``None`` when the package is not in a git checkout of its own (an
    installed wheel), git is missing, or anything else goes wrong: this
    never raises.
    """
    try:
        out = subprocess.run(
            ["git", "-C", str(_CHECKOUT), "rev-parse", "--show-toplevel", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if out.returncode != 0:
            return None
        lines = out.stdout.split()
        if len(lines) != 2 or Path(lines[0]).resolve() != _CHECKOUT:
            return None  # some enclosing repository, not the package's own checkout
        commit = lines[1].strip()
        return commit if re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit) else None
    except Exception:
        return None


@functools.cache
def code_version() -> str | None:
    """Return the code a run ran: the commit, plus ``+<hash of the diff>`` for uncommitted edits.

    Two runs with the same value ran the same tracked code; ``None`` outside a
    git checkout (an installed wheel: :data:`grekko_research.__version__` names it).
    Computed once per process (the code it imported).
    """
    commit = git_commit()
    if commit is None:
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(_CHECKOUT), "diff", "HEAD", "--binary"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except Exception:
        return None
    if out.returncode != 0:
        return None
    if not out.stdout:
        return commit
    return f"{commit}+{hashlib.sha256(out.stdout).hexdigest()[:12]}"


def identity_hash(*parts: object) -> str | None:
    """Return 16 hex digits identifying a result by what produced it; ``None`` if a part is unknown.

    Pass e.g. the config id, the data hash and :func:`code_version`: equal
    parts mean an identical rerun, whose result can be reused.
    """
    if any(p is None for p in parts):
        return None
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def find_identity(folders: Iterable[Path], identity: str | None) -> Path | None:
    """Return the first of ``folders`` whose ``provenance.json`` records ``identity``, if any.

    Pass the folders newest first. A folder without a readable ``provenance.json``
    is skipped; an unknown identity (``None``) matches nothing.
    """
    if identity is None:
        return None
    for folder in folders:
        try:
            doc = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if doc.get("identity") == identity:
            return folder
    return None


def data_hash(bars: Bars) -> str:
    """Return 16 hex digits of a SHA-256 over exactly the data a backtest saw.

    The hash covers the timeframe, the symbols, the bar index and the OHLCV
    values (bytes, little-endian), and also the filled-bar mask and any
    extras (funding rates): all of them change what the engine computes.
    Equal data give equal hashes on any machine; changing one price changes it.
    """
    digest = hashlib.sha256()

    def feed(label: str, values: np.ndarray, dtype: str) -> None:
        arr = np.ascontiguousarray(values, dtype=np.dtype(dtype))
        digest.update(f"\0{label}:{arr.shape}\0".encode())
        digest.update(arr.tobytes())

    digest.update(f"timeframe={bars.timeframe}\0".encode())
    digest.update(("symbols=" + "\x1f".join(bars.symbols) + "\0").encode())
    feed("index", bars.index, "<i8")
    for name in ("open", "high", "low", "close", "volume"):
        feed(name, getattr(bars, name), "<f8")
    if bars.has_filled:  # keeps the hash of gap-free data independent of the mask
        feed("filled", bars.filled, "u1")
    for name in sorted(bars.extras):
        feed(f"extras[{name}]", bars.extras[name], "<f8")
    return digest.hexdigest()[:16]
