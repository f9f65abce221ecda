"""MLflow tracking on a real ``mlflow server`` with a PostgreSQL backend store and a shared artifact root.

(Optuna studies on PostgreSQL: ``test_ray.py`` and tests/integration/test_sweep.py; the live
event store on PostgreSQL: tests/unit/live/test_events*.py.)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.distributed.conftest import new_database

pytest.importorskip("mlflow")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_server(
    pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Path, str]]:
    """``mlflow server`` on 127.0.0.1: runs in PostgreSQL, artifacts under a shared folder."""
    db = new_database(pg_url, "mlflow")
    artifacts = tmp_path_factory.mktemp("shared-artifacts")
    port = _free_port()
    log = (tmp_path_factory.mktemp("mlflow-log") / "server.log").open("wb")
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", db,
           "--artifacts-destination", str(artifacts), "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, "mlflow server exited (see its log)"
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not answer /health"
            time.sleep(0.5)
        yield url, artifacts, db
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()


def test_runs_go_to_postgresql_and_artifacts_to_the_shared_root(
    mlflow_server: tuple[str, Path, str],
    research_store: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psycopg

    from grekko_research.config import compose_config
    from grekko_research.data.store import ParquetStore
    from grekko_research.runs import run_backtest
    from grekko_research.tracking import find_run, log_backtest, tracking_uri

    url, artifacts, db = mlflow_server
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)  # the one setting every client needs
    assert tracking_uri() == url
    run = run_backtest(compose_config([]), store=ParquetStore(research_store))
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "summary.json").write_text(json.dumps({"final_equity": run.result.final_equity}))
    run_id = log_backtest(run, folder)

    found = find_run(run_id)
    assert found["metrics"]["final_equity"] == pytest.approx(run.result.final_equity)
    assert found["artifact_uri"].startswith("mlflow-artifacts:")  # served by the server
    # The file sits in the shared artifact root, byte for byte.
    stored = list(artifacts.rglob("summary.json"))
    assert len(stored) == 1 and stored[0].read_text() == (folder / "summary.json").read_text()
    # The run's rows are in PostgreSQL.
    with psycopg.connect("postgresql://" + db.split("://", 1)[1]) as conn:
        row = conn.execute("SELECT status FROM runs WHERE run_uuid = %s", (run_id,)).fetchone()
        metric = conn.execute(
            "SELECT value FROM latest_metrics WHERE run_uuid = %s AND key = 'final_equity'",
            (run_id,),
        ).fetchone()
    assert row == ("FINISHED",)
    assert metric is not None and metric[0] == pytest.approx(run.result.final_equity)
