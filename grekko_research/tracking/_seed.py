"""A new local MLflow store starts as a copy of an empty, migrated one.

MLflow builds a new SQLite tracking database by replaying its whole Alembic migration
history: about fifty schema steps, 3 to 7 seconds, paid by every first run in a new folder
(a ``grekko backtest`` into a fresh ``--output-dir``, a notebook's scratch store, each test
with its own store). The result depends only on the MLflow version, so Grekko builds it once
per version with MLflow itself, keeps it in the user cache (:func:`cache_dir`, or
``GREKKO_CACHE_DIR``), and copies it into place when a local store does not exist yet.

The copy is exactly what MLflow would have built, less one row: the ``Default`` experiment,
whose artifact location MLflow derives from where it is opened. It is left out of the
template, and MLflow creates it on first open as it does for a database it built itself.
Seeding is a shortcut only: anything that goes wrong (an unwritable cache, a race with another
process creating the same store) leaves the database to MLflow's own initialisation, and an
existing file is never touched.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path

__all__ = ["cache_dir", "seed_sqlite_store"]

_log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """``$GREKKO_CACHE_DIR``, else ``$XDG_CACHE_HOME/grekko``, else ``~/.cache/grekko``."""
    env = os.environ.get("GREKKO_CACHE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser().resolve() / "grekko"


def _template() -> Path:
    """The empty, migrated store of the installed MLflow (built on first need)."""
    import mlflow

    path = cache_dir() / "mlflow" / f"empty-{mlflow.__version__}.db"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        built = Path(tmp) / "store.db"
        _build(built, Path(tmp) / "artifacts")
        os.replace(built, path)  # atomic: a racing builder's file is as good as this one
    return path


def _build(db: Path, artifacts: Path) -> None:
    """Let MLflow create and migrate ``db``, then drop its ``Default`` experiment."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(f"sqlite:///{db}", str(artifacts))
    store.engine.dispose()
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM experiment_tags WHERE experiment_id = 0")
        conn.execute("DELETE FROM experiments WHERE experiment_id = 0")
    conn.close()


def seed_sqlite_store(db: Path) -> bool:
    """Create the local tracking database ``db`` as a copy of the migrated template.

    Returns True if this call created ``db``; False when it already existed, or when
    seeding failed and MLflow will build it itself (the reason is logged at debug level).
    """
    if db.exists():
        return False
    staged = db.with_name(f".{db.name}.{uuid.uuid4().hex}.seed")
    try:
        shutil.copyfile(_template(), staged)
        os.link(staged, db)  # never replaces a store another process created meanwhile
        return True
    except FileExistsError:
        return False
    except Exception as exc:  # a shortcut only: MLflow initialises the store instead
        _log.debug("MLflow store %s not seeded: %s", db, exc)
        return False
    finally:
        staged.unlink(missing_ok=True)
