"""One Kafka-protocol broker per test session (see tests/peers/kafka.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.peers.kafka import kafka_broker


@pytest.fixture(scope="session")
def kafka() -> Iterator[str]:
    """The bootstrap address (``127.0.0.1:PORT``) of a broker started once for the session."""
    with kafka_broker() as bootstrap:
        yield bootstrap
