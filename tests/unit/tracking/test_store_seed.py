"""A new local MLflow store is a copy of a migrated empty one: it must be MLflow's own store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from grekko_research.tracking import _seed
from grekko_research.tracking._client import client


def _schema(db: Path) -> tuple[dict[str, list[str]], list[tuple[str]]]:
    """Each table's and index's definition as a sorted list of clauses (MLflow's own builds
    list a table's CHECK constraints in varying order), and the migration version."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    conn.close()
    clauses = {name: sorted(c.strip(" ,\t") for c in sql.splitlines()) for name, sql in rows}
    return clauses, version


def _experiments(db: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT experiment_id, name, artifact_location, lifecycle_stage FROM experiments"
        ).fetchall()
    conn.close()
    return rows


def test_a_seeded_store_is_the_store_mlflow_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    monkeypatch.chdir(tmp_path)  # MLflow puts the Default experiment's artifacts under ./mlruns
    built = tmp_path / "built" / "mlflow.db"
    built.parent.mkdir()
    SqlAlchemyStore(f"sqlite:///{built}", "./mlruns").engine.dispose()

    seeded = tmp_path / "seeded" / "mlflow.db"
    mlc, _ = client(f"sqlite:///{seeded}")
    assert (_seed.cache_dir() / "mlflow" / f"empty-{mlflow.__version__}.db").is_file()
    assert _schema(seeded) == _schema(built)
    # MLflow created the Default experiment on first open, as on a store it built itself
    assert _experiments(seeded) == _experiments(built)
    assert mlc.get_experiment("0").name == "Default"
    # and the store works: an experiment and a run land in it
    eid = mlc.create_experiment("seeded")
    run = mlc.create_run(eid)
    mlc.log_metric(run.info.run_id, "m", 1.5)
    assert mlc.get_run(run.info.run_id).data.metrics == {"m": 1.5}
    assert not list(seeded.parent.glob(".*.seed"))  # the staging copy is gone


def test_an_existing_store_is_never_replaced(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    db.write_bytes(b"not a database")
    assert _seed.seed_sqlite_store(db) is False
    assert db.read_bytes() == b"not a database"


def test_seeding_that_fails_leaves_the_store_to_mlflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("GREKKO_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    assert _seed.seed_sqlite_store(db) is False
    assert list(db.parent.iterdir()) == []  # no store, no staging copy: MLflow builds it
