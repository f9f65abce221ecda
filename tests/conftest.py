"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """Return the folder of real market data (``$GREKKO_SHARED_DATA`` or ``../shared/data``)."""
    return Path(os.environ.get("GREKKO_SHARED_DATA") or REPO.parent / "shared" / "data").resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Real market data from the shared folder; the suite needs it, so absence is an error."""
    path = shared_data_dir()
    if not (path / "ohlcv").is_dir():
        pytest.fail(f"real market data not found at {path}; set GREKKO_SHARED_DATA")
    return path


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """An empty data directory for one test."""
    path = tmp_path / "store"
    path.mkdir()
    return path
