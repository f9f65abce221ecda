"""The Kafka outbox against a real Kafka-protocol broker (Tansu on 127.0.0.1) through
confluent-kafka: a run's log streamed per run, at least once, read back de-duplicated and
chain-checked; the runner never waits for Kafka; ``grekko-live export --kafka``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from live.events import EventStore, EventStoreError, LogKey
from live.events.kafka import (
    Cursor,
    KafkaOutbox,
    KafkaSink,
    OutboxAlert,
    client_config,
    default_cursor,
    encode_event,
    topic_for,
)
from live.events.kafka_consumer import read_topic

ROOT = Path(__file__).resolve().parents[2]


def _topic() -> str:
    return topic_for(f"test-{uuid.uuid4().hex[:10]}")


def _log(path: Path, n: int, *, start: int = 0, run_id: str = "r1") -> None:
    with EventStore.open(path) as store:
        drafts = [] if start else [("run_started", "runner", {"run_id": run_id}, 0)]
        drafts += [("order_fill", f"cid-{i}", {"i": i, "price": 100.5 + i}, i) for i in range(n)]
        store.append_many(drafts)


def _outbox(path: Path, sink: KafkaSink, alerts: list[OutboxAlert] | None = None) -> KafkaOutbox:
    return KafkaOutbox(
        lambda: EventStore.open(path),
        sink,
        default_cursor(path, sink.topic),
        on_alert=None if alerts is None else alerts.append,
    )


def test_the_log_reaches_its_topic_in_order_and_verifies(kafka: str, tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    _log(path, 2_500)
    topic = _topic()
    status = _outbox(path, KafkaSink(kafka, topic)).drain(timeout_s=120)
    assert status.acked_seq == status.head_seq == 2_501
    seen: list[int] = []
    report = read_topic(client_config(kafka), topic, on_event=lambda e: seen.append(e.seq))
    assert report.ok, report.describe()
    with EventStore.open(path) as store:
        head = store.head()
        assert head is not None
        assert (report.head_seq, report.head_hash) == (head.seq, head.hash)
        assert report.duplicates == 0
        assert seen == list(range(1, head.seq + 1))
    assert Cursor.load(default_cursor(path, topic), topic) == Cursor(topic, head.seq, head.hash)


def test_a_resend_after_a_lost_cursor_is_dropped_by_the_consumer(
    kafka: str, tmp_path: Path
) -> None:
    path = tmp_path / "events.db"
    _log(path, 300)
    topic = _topic()
    cursor_file = default_cursor(path, topic)
    _outbox(path, KafkaSink(kafka, topic)).drain(timeout_s=120)
    # A crash after the broker acknowledged seq 101..301 but before the cursor said so: the
    # cursor still names seq 100. The next export publishes them again, then the new events.
    with EventStore.open(path) as store:
        at_100 = next(iter(store.read(after_seq=99)))
    Cursor(topic, 100, at_100.hash).save(cursor_file)
    _log(path, 50, start=300)
    status = _outbox(path, KafkaSink(kafka, topic)).drain(timeout_s=120)
    assert status.produced == 351 - 100
    report = read_topic(client_config(kafka), topic)
    assert report.ok, report.describe()
    assert report.events == 351
    assert report.duplicates == 201
    assert report.head_seq == 351


def test_a_cursor_from_another_log_is_refused(kafka: str, tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    _log(path, 20)
    topic = _topic()
    Cursor(topic, 5, "f" * 64).save(default_cursor(path, topic))
    with pytest.raises(EventStoreError, match="different or rewritten log"):
        _outbox(path, KafkaSink(kafka, topic)).drain(timeout_s=60)


def test_a_forged_message_in_the_topic_fails_the_check(kafka: str, tmp_path: Path) -> None:
    from confluent_kafka import Producer

    path = tmp_path / "events.db"
    _log(path, 10)
    topic = _topic()
    _outbox(path, KafkaSink(kafka, topic)).drain(timeout_s=60)
    with EventStore.open(path) as store:
        eleventh = list(store.read())[-1]
    # Someone else produces a "next" event whose payload was changed after hashing.
    key, value, _ = encode_event(eleventh)
    forged = json.loads(value)
    forged.update(seq=12, prev_hash=eleventh.hash, payload={"i": 999})
    producer = Producer(client_config(kafka))
    producer.produce(topic, json.dumps(forged).encode(), key=key, partition=0)
    assert producer.flush(30) == 0
    report = read_topic(client_config(kafka), topic)
    assert not report.ok
    assert (report.first_bad_seq, report.reason) == (12, "hash_mismatch")
    assert report.head_seq == 11  # everything before it verified


def test_appends_do_not_wait_for_a_dead_broker(kafka: str, tmp_path: Path) -> None:
    """Durable appends (one transaction each, as the runner makes them) while the outbox runs
    in the same process against a broker that is not there: every append completes, the
    backlog stays in the log and the outbox alerts; pointed at the live broker afterwards, it
    publishes everything, and the topic verifies. (The same with a real paper runner:
    test_the_runner_does_not_wait_for_a_dead_broker, exhaustive: it compiles the engine.)"""
    path = tmp_path / "events.db"
    EventStore.open(path).close()
    topic = _topic()
    alerts: list[OutboxAlert] = []
    dead = KafkaSink("127.0.0.1:1", topic, alert_lag_events=50, delivery_timeout_s=2.0)
    outbox = _outbox(path, dead, alerts)
    outbox.start(poll_s=0.05)
    try:
        with EventStore.open(path) as store:
            for i in range(300):
                store.append("order_fill", f"cid-{i}", {"qty": "0.1", "i": i}, ts_ms=i)
            head = store.head()
        assert head is not None and head.seq == 300
        deadline = time.monotonic() + 120
        while not alerts and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        outbox.stop()
    assert outbox.status.acked_seq == 0, outbox.status
    assert alerts and alerts[0].kind == "outbox_lagging" and alerts[0].lag_events > 0, alerts
    status = _outbox(path, KafkaSink(kafka, topic)).drain(timeout_s=120)
    assert status.acked_seq == 300
    report = read_topic(client_config(kafka), topic)
    assert report.ok and (report.head_seq, report.head_hash) == (head.seq, head.hash)


@pytest.mark.exhaustive
def test_the_runner_does_not_wait_for_a_dead_broker(
    kafka: str, tmp_path: Path, shared_data: Path
) -> None:
    """A paper replay with the outbox running in its process, pointed at a broker that is not
    there: the replay finishes, the backlog stays in the log, the outbox alerts; pointed at the
    live broker afterwards, it publishes everything, and the topic verifies."""
    import pandas as pd

    from grekko_research.data.bars import Bars
    from grekko_research.engine import EngineConfig, Fees
    from grekko_research.strategy import get_strategy
    from live.runner import Runner, RunnerSpec
    from live.venues.paper import PaperVenue, ReplayFeed

    f = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz").head(60)
    bars = Bars(
        index=f.timestamp.to_numpy("int64"), symbols=("BTC/USDT",), timeframe="1h",
        **{c: f[[c]].to_numpy("float64") for c in ("open", "high", "low", "close", "volume")},
    )  # fmt: skip
    strategy = get_strategy("sma_cross")
    params = strategy.params({"fast": 3, "slow": 8})
    engine = strategy.configure(EngineConfig(fees=Fees(taker=0.001)), params)
    path = tmp_path / "run" / "events.db"
    path.parent.mkdir()
    EventStore.open(path).close()
    topic = _topic()
    alerts: list[OutboxAlert] = []
    dead = KafkaSink("127.0.0.1:1", topic, alert_lag_events=10, delivery_timeout_s=2.0)
    outbox = _outbox(path, dead, alerts)
    outbox.start(poll_s=0.05)
    try:
        store = EventStore.open(path)
        spec = RunnerSpec("kafka-test", strategy, params, engine, bars.symbols, "1h")
        summary = asyncio.run(
            Runner(spec, PaperVenue(engine, bars.symbols, ReplayFeed(bars)), store).run()
        )
        head = store.head()
        store.close()
        assert head is not None and summary.orders > 0
        deadline = time.monotonic() + 120
        while not alerts and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        outbox.stop()
    assert outbox.status.acked_seq == 0, outbox.status
    assert alerts, f"no alert: {outbox.status}"
    # Lagging by count (10 events) or by time (a slow first decision: 60 s without progress).
    assert alerts[0].kind == "outbox_lagging" and alerts[0].lag_events > 0, alerts
    # The broker is back (here: the live one, same topic and cursor): the backlog drains.
    later: list[OutboxAlert] = []
    status = _outbox(path, KafkaSink(kafka, topic), later).drain(timeout_s=120)
    assert status.acked_seq == head.seq
    report = read_topic(client_config(kafka), topic)
    assert report.ok and (report.head_seq, report.head_hash) == (head.seq, head.hash)


# -- grekko-live export --------------------------------------------------------------------


def test_export_kafka_cli_publishes_and_checks_a_keyed_run(
    kafka: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from live.cli import app

    key = "k" * 40
    monkeypatch.setenv("GREKKO_EVENTS_KEY", key)
    path = tmp_path / "state" / "run-7" / "events.db"
    path.parent.mkdir(parents=True)
    with EventStore.open(path, key=LogKey(key.encode())) as store:
        store.append_many(
            [("run_started", "runner", {"run_id": "run-7"}, 1)]
            + [("bar", "BTC/USDT", {"close": 1.5 * i}, i) for i in range(200)]
        )
    runner = CliRunner()
    result = runner.invoke(app, ["export", "--events", str(path), "--kafka", kafka, "--check"])
    assert result.exit_code == 0, result.output
    assert "grekko.events.run-7" in result.output
    assert "201 events verified" in result.output
    # JSON lines, the same messages.
    out = tmp_path / "events.jsonl"
    result = runner.invoke(app, ["export", "--events", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_bytes().splitlines()
    assert len(lines) == 201 and json.loads(lines[-1])["seq"] == 201
    # A secret on the command line is refused, naming the variable to use instead.
    result = runner.invoke(
        app,
        ["export", "--events", str(path), "--kafka", kafka, "--kafka-option", "sasl.password=x"],
    )
    assert result.exit_code != 0
    assert "GREKKO_KAFKA_SASL_PASSWORD" in str(result.exception or result.output)


def test_export_follow_streams_new_events_until_sigterm(kafka: str, tmp_path: Path) -> None:
    path = tmp_path / "state" / "run-f" / "events.db"
    path.parent.mkdir(parents=True)
    _log(path, 5, run_id="run-f")
    topic = topic_for("run-f")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("GREKKO_EVENTS_KEY", None)
    # No key anywhere for the export either: the log is written without one, and a key file
    # another test's `grekko-live run` left where GREKKO_EVENTS_KEY_FILE points makes it keyed.
    env["GREKKO_EVENTS_KEY_FILE"] = str(tmp_path / "no-events.key")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from live.cli import main; main()", "export", "--events",
         str(path), "--kafka", kafka, "--topic", topic, "--follow"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    try:
        _log(path, 40, start=5)  # appended while the export follows
        deadline = time.monotonic() + 120
        cursor = default_cursor(path, topic)
        while time.monotonic() < deadline:
            if cursor.exists() and Cursor.load(cursor, topic).seq == 46:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "acknowledged up to seq 46 of 46" in out
    report = read_topic(client_config(kafka), topic)
    assert report.ok and report.head_seq == 46 and report.duplicates == 0
