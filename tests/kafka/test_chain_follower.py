"""The consumer's de-duplication and chain check, on messages built from a real log (no broker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from live.events import EventStore
from live.events.kafka import client_config, encode_event, topic_for
from live.events.kafka_consumer import ChainBrokenError, ChainFollower


@pytest.fixture
def messages(tmp_path: Path) -> list[bytes]:
    with EventStore.open(tmp_path / "events.db") as store:
        store.append_many([("fill", f"c{i}", {"qty": "0.1", "n": i}, i) for i in range(6)])
        return [encode_event(e)[1] for e in store.read()]


def test_duplicates_are_dropped_and_order_is_kept(messages: list[bytes]) -> None:
    follower = ChainFollower()
    stream = messages[:4] + messages[1:4] + messages[4:]  # a resend of seq 2..4
    out = [e.seq for m in stream if (e := follower.accept(m)) is not None]
    assert out == [1, 2, 3, 4, 5, 6]
    assert follower.duplicates == 3


def test_a_gap_an_edit_a_broken_link_and_a_conflict_are_named(messages: list[bytes]) -> None:
    f = ChainFollower()
    f.accept(messages[0])
    f.accept(messages[1])
    with pytest.raises(ChainBrokenError, match="seq 3 is missing") as gap:
        f.accept(messages[3])
    assert gap.value.reason == "gap"

    edited = json.loads(messages[2])
    edited["payload"]["qty"] = "9"
    f = ChainFollower()
    f.accept(messages[0])
    f.accept(messages[1])
    with pytest.raises(ChainBrokenError) as altered:
        f.accept(json.dumps(edited).encode())
    assert (altered.value.seq, altered.value.reason) == (3, "hash_mismatch")

    # A resumed consumer that links from the wrong hash.
    f = ChainFollower(after_seq=1, after_hash="a" * 64)
    with pytest.raises(ChainBrokenError) as broken:
        f.accept(messages[1])
    assert broken.value.reason == "link_broken"

    other = json.loads(messages[1])
    other["hash"] = "b" * 64  # another log's seq 2 after ours
    f = ChainFollower()
    for m in messages[:3]:
        f.accept(m)
    with pytest.raises(ChainBrokenError) as conflict:
        f.accept(json.dumps(other).encode())
    assert conflict.value.reason == "conflict"

    with pytest.raises(ChainBrokenError) as bad:
        ChainFollower().accept(b"not json")
    assert bad.value.reason == "bad_message"


def test_topic_names_and_client_config_fail_closed() -> None:
    assert topic_for("sma_cross-binance/BTC:1h") == "grekko.events.sma_cross-binance_BTC_1h"
    config = client_config(" 127.0.0.1:9092 ", {"linger.ms": "10"}, environ={})
    assert config["bootstrap.servers"] == "127.0.0.1:9092" and config["linger.ms"] == "10"
    from grekko_research.errors import ConfigError

    with pytest.raises(ConfigError, match="GREKKO_KAFKA_SASL_PASSWORD"):
        client_config("h:1", {"sasl.password": "x"}, environ={})
    with pytest.raises(ConfigError, match="empty"):
        client_config("  ", environ={})
    secret = "s3cret-" + "x" * 20
    config = client_config("h:1", environ={"GREKKO_KAFKA_SASL_PASSWORD": secret})
    assert config["sasl.password"] == secret and config["security.protocol"] == "SASL_SSL"
    from live.secrets import default_redactor

    assert secret not in default_redactor().redact(f"password is {secret}")
