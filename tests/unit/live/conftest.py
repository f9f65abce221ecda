"""Fixtures shared by the live unit tests."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.peers.postgres import postgres_server


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
