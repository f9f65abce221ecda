"""Fixtures shared by the live unit tests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest

from tests.peers.postgres import postgres_server

if TYPE_CHECKING:
    from tests.unit.live._api_run import Api


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """One local PostgreSQL server per test module (started on first use)."""
    with postgres_server() as url:
        yield url


@pytest.fixture
def pg(pg_url: str) -> Iterator[str]:
    """A fresh, empty event log in the module's server."""
    yield pg_url
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS events")


# -- the status API's tests (test_api.py, test_api_metrics.py): a real replayed run -------------


@pytest.fixture(scope="module")
def replayed(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A replayed sma_cross run on a week of real BTC/USDT hourly bars (its event log)."""
    from typer.testing import CliRunner

    from grekko_research.data.files import import_file
    from grekko_research.data.store import ParquetStore
    from live.cli import app

    store = tmp_path_factory.mktemp("api-store")
    import_file(
        shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz", store=ParquetStore(store)
    )
    state = tmp_path_factory.mktemp("api-state")
    result = CliRunner().invoke(
        app,
        [
            "replay",
            "--strategy",
            "sma_cross",
            "--params",
            "fast=5",
            "--params",
            "slow=20",
            "--state-dir",
            str(state),
            "data.start=2021-01-04",
            "data.end=2021-01-12",
        ],
        env={"GREKKO_DATA_DIR": str(store)},
    )
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def log_path(replayed: Path, tmp_path: Path) -> Path:
    """A private copy of the replayed log (tests append to it)."""
    path = tmp_path / "run" / "events.db"
    path.parent.mkdir()
    with sqlite3.connect(replayed) as src, sqlite3.connect(path) as dst:
        src.backup(dst)
    checkpoints = replayed.with_name(replayed.name + ".checkpoints")  # the log's anchor
    if checkpoints.exists():
        path.with_name(path.name + ".checkpoints").write_bytes(checkpoints.read_bytes())
    return path


@pytest.fixture
def api(log_path: Path) -> Iterator[Api]:
    """The status API over ``log_path`` (read token READ, control token CONTROL)."""
    from live.api import ApiTokens, FlagFileControl, LogHub, create_app
    from tests.unit.live._api_run import CONTROL, READ, Api, TestClient  # (quiets starlette)

    hub = LogHub(log_path, poll_s=0.01)
    app = create_app(hub, FlagFileControl(log_path.parent), ApiTokens.of([READ], [CONTROL]))
    with TestClient(app) as client:
        yield Api(client, hub, log_path)
    hub.close()
