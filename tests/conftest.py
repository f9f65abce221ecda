"""Fixtures shared by the whole suite."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _source_hash() -> str:
    """Hash the library's sources the way the Makefile does (``find | sort | cat``)."""
    paths = [
        p
        for folder in ("grekko_research", "strategies", "live")
        for p in (REPO / folder).rglob("*.py")
    ]
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.relative_to(REPO).as_posix().encode()):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


# numba's cache notices edits to a kernel's own file only, not to kernels it calls in other
# files; outside `make test`, key the cache by the sources too so a test never runs stale code.
os.environ.setdefault("NUMBA_CACHE_DIR", str(REPO / ".cache" / "numba" / _source_hash()))


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
