"""Stream a run's hash-chained event log to Kafka, at least once: the log is the outbox.

The runner appends to its log and nothing else (its append path never touches Kafka); a
:class:`KafkaOutbox` — in its own thread (:meth:`KafkaOutbox.start`) or its own process
(``grekko-live export --kafka … --follow``) — reads the log through a connection of its own and
produces every event, in ``seq`` order, to one topic per run (one partition, so the order
holds) with an idempotent producer (``acks=all``). What the broker has acknowledged is
recorded in a cursor file (``seq`` and hash of the last event acknowledged in order, written
atomically); a restart resumes after it. An event is therefore published at least once: a
crash between the broker's acknowledgement and the cursor's write publishes it again, and
consumers drop it by ``seq`` (:mod:`live.events.kafka_consumer` does, and checks the chain).

Backpressure: at most ``max_in_flight`` events are handed to the client at a time; when the
broker is slow or gone, the backlog is simply the part of the log after the cursor — on disk
already, costing no memory, lost by nothing. When the backlog passes ``alert_lag_events``
events, or the outbox has been behind for ``alert_after_s`` seconds without progress, an
``outbox_lagging`` alert goes to ``on_alert`` (the CLI routes it through
:class:`~live.alerts.AlertRouter`, i.e. ``GREKKO_ALERT_URLS``), and ``outbox_caught_up`` once
the topic has caught up.

Messages: key = the event's ``stream``, value = the canonical JSON (:func:`canonical_json`) of
``{"seq", "ts_ms", "kind", "stream", "payload", "prev_hash", "hash"}`` — everything needed to
recompute the hash (:func:`~live.events.event_hash`) — and headers ``grekko-seq`` and
``grekko-hash``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import Any

from grekko_research.errors import ConfigError
from live.events._codec import GENESIS_HASH, Event, canonical_json
from live.events._errors import EventStoreError

__all__ = [
    "PASSWORD_ENV",
    "Cursor",
    "KafkaOutbox",
    "KafkaSink",
    "OutboxAlert",
    "OutboxStatus",
    "client_config",
    "default_cursor",
    "encode_event",
    "topic_for",
]

log = logging.getLogger("live.events.kafka")

PASSWORD_ENV = "GREKKO_KAFKA_SASL_PASSWORD"
"""The SASL password, from the environment only (never an option or a config file)."""
USERNAME_ENV = "GREKKO_KAFKA_SASL_USERNAME"
_TOPIC_OK = re.compile(r"[^A-Za-z0-9._-]")
_SECRET_KEYS = ("password", "secret", "sasl.oauthbearer.client.secret", "ssl.key.pem")


def topic_for(run_id: str, prefix: str = "grekko.events.") -> str:
    """The topic of a run: ``grekko.events.<run id>`` with characters Kafka refuses as ``_``."""
    topic = prefix + _TOPIC_OK.sub("_", run_id)
    if len(topic) > 249:
        raise ConfigError(f"Kafka topic {topic[:40]}… is longer than 249 characters")
    return topic


def client_config(
    bootstrap: str,
    options: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """librdkafka settings: ``bootstrap.servers``, the given ``options`` (never secrets: a
    password in an option is refused), and SASL credentials from ``GREKKO_KAFKA_SASL_USERNAME``
    / ``GREKKO_KAFKA_SASL_PASSWORD`` (registered with the process's redactor)."""
    if not bootstrap or not bootstrap.strip():
        raise ConfigError("Kafka bootstrap servers are empty (give HOST:PORT[,HOST:PORT])")
    # The client's own log lines go through logging (redacted), not straight to stderr.
    config: dict[str, Any] = {"bootstrap.servers": bootstrap.strip(), "logger": log}
    for key, value in (options or {}).items():
        if any(word in key.lower() for word in _SECRET_KEYS):
            raise ConfigError(
                f"Kafka option {key!r} holds a secret: set {PASSWORD_ENV} in the environment "
                "instead of passing it as an option"
            )
        config[key] = value
    env = os.environ if environ is None else environ
    if env.get(PASSWORD_ENV):
        from live.secrets import register_secrets

        register_secrets(env[PASSWORD_ENV])
        config.setdefault("security.protocol", "SASL_SSL")
        config.setdefault("sasl.mechanism", "SCRAM-SHA-512")
        config["sasl.username"] = env.get(USERNAME_ENV, "")
        config["sasl.password"] = env[PASSWORD_ENV]
    return config


def encode_event(event: Event) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """The message of an event: (key, value, headers); see the module's docstring."""
    value = canonical_json(
        {
            "seq": event.seq,
            "ts_ms": event.ts_ms,
            "kind": event.kind,
            "stream": event.stream,
            "payload": event.payload,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
        }
    ).encode("utf-8")
    headers = [("grekko-seq", str(event.seq).encode()), ("grekko-hash", event.hash.encode())]
    return event.stream.encode("utf-8"), value, headers


# --------------------------------------------------------------------------- the cursor


def default_cursor(target: str | Path, topic: str) -> Path:
    """``<log>.kafka-<topic>.cursor`` beside a SQLite log; a PostgreSQL log needs a path."""
    text = str(target)
    if text.lower().startswith("sqlite:///"):
        text = text[len("sqlite:///") :]
    elif "://" in text:
        raise ConfigError(
            f"the Kafka cursor of a log at {text.split('@')[-1]} needs a file: give --cursor PATH"
        )
    return Path(f"{text}.kafka-{topic}.cursor")


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last event the broker acknowledged in order: its ``seq`` and hash, and the topic."""

    topic: str
    seq: int = 0
    hash: str = GENESIS_HASH

    @classmethod
    def load(cls, path: Path, topic: str) -> Cursor:
        """Read the cursor at ``path`` (a fresh one if there is no file).

        Raises
        ------
        EventStoreError
            If the file is unreadable or belongs to another topic.
        """
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
            cursor = cls(str(obj["topic"]), int(obj["seq"]), str(obj["hash"]))
        except FileNotFoundError:
            return cls(topic)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise EventStoreError(f"the Kafka cursor {path} is unreadable ({e})") from e
        if cursor.topic != topic:
            raise EventStoreError(
                f"the Kafka cursor {path} is topic {cursor.topic!r}'s, not {topic!r}"
            )
        return cursor

    def save(self, path: Path) -> None:
        """Write the cursor atomically (temporary file, fsync, rename)."""
        tmp = path.with_name(path.name + ".tmp")
        data = json.dumps({"topic": self.topic, "seq": self.seq, "hash": self.hash}) + "\n"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            raise EventStoreError(f"cannot write the Kafka cursor {path}: {e}") from e


# --------------------------------------------------------------------------- the outbox


@dataclass(frozen=True, slots=True)
class KafkaSink:
    """Where and how a log is streamed.

    Parameters
    ----------
    bootstrap
        ``HOST:PORT[,HOST:PORT…]`` of the brokers.
    topic
        The run's topic (:func:`topic_for`).
    options
        More librdkafka settings (not secrets; see :func:`client_config`).
    replication
        The topic's replication factor when the outbox creates it (3 on a production cluster).
    max_in_flight
        Events handed to the client and not yet acknowledged, at most (the rest waits in the log).
    alert_lag_events, alert_after_s
        When to raise ``outbox_lagging``: this many events behind, or behind for this long
        without progress.
    delivery_timeout_s
        How long the client tries to deliver a message before reporting it failed.
    """

    bootstrap: str
    topic: str
    options: Mapping[str, str] = field(default_factory=dict)
    replication: int = 1
    max_in_flight: int = 10_000
    alert_lag_events: int = 10_000
    alert_after_s: float = 60.0
    delivery_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class OutboxAlert:
    """``outbox_lagging`` (warning) or ``outbox_caught_up`` (info), with the figures."""

    kind: str
    topic: str
    lag_events: int
    behind_s: float
    detail: str = ""

    @property
    def severity(self) -> str:
        return "warning" if self.kind == "outbox_lagging" else "info"

    def text(self) -> str:
        what = "lagging" if self.kind == "outbox_lagging" else "caught up"
        return (
            f"Kafka outbox {what}: topic {self.topic}, {self.lag_events} events behind, "
            f"behind for {self.behind_s:.0f} s{f' ({self.detail})' if self.detail else ''}"
        )


@dataclass(slots=True)
class OutboxStatus:
    """What the outbox has done so far."""

    topic: str
    acked_seq: int = 0
    head_seq: int = 0
    produced: int = 0
    failures: int = 0
    last_error: str | None = None
    lagging: bool = False

    @property
    def lag_events(self) -> int:
        return max(0, self.head_seq - self.acked_seq)


class KafkaOutbox:
    """Publish the log at ``target`` to ``sink.topic`` from the cursor on (see the module).

    Open the log in the thread that pumps (:meth:`run`, :meth:`start`); one outbox per topic
    and cursor file. Use :meth:`drain` to publish what the log holds now and stop.

    Parameters
    ----------
    store_opener
        Returns the :class:`~live.events.EventStore` to read (called in the pumping thread).
    cursor_path
        The cursor file (:func:`default_cursor`).
    on_alert
        Called with each :class:`OutboxAlert` (from the pumping thread).
    clock
        Monotonic seconds (injected in tests).
    """

    def __init__(
        self,
        store_opener: Callable[[], Any],
        sink: KafkaSink,
        cursor_path: Path,
        *,
        on_alert: Callable[[OutboxAlert], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.cursor_path = cursor_path
        self._opener = store_opener
        self._on_alert = on_alert or (lambda alert: None)
        self._clock = clock
        self._cursor = Cursor.load(cursor_path, sink.topic)
        self.status = OutboxStatus(sink.topic, acked_seq=self._cursor.seq)
        self._acked = (self._cursor.seq, self._cursor.hash)
        self._next = self._cursor.seq + 1  # the next seq to hand to the client
        self._hashes: dict[int, str] = {}  # in flight: seq → hash (for the cursor)
        self._done: set[int] = set()  # acknowledged, not yet contiguous with the cursor
        self._failed = False
        self._progress_at = clock()  # when the cursor last moved (or the outbox started)
        self._saved_seq = self._cursor.seq
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._producer: Any = None
        self._admin: Any = None
        self._topic_ready = False
        self._topic_tried = -1e9  # when creating the topic was last tried

    # ------------------------------------------------------------------ pumping

    def drain(self, *, timeout_s: float = 60.0) -> OutboxStatus:
        """Publish every event the log holds now and return once the broker acknowledged them.

        Raises
        ------
        EventStoreError
            If they are not all acknowledged within ``timeout_s`` (the cursor keeps what was;
            run again to go on).
        """
        deadline = self._clock() + timeout_s
        with self._opened() as store:
            head = store.head()
            goal = 0 if head is None else head.seq
            while self._acked[0] < goal:
                if self._clock() >= deadline:
                    raise EventStoreError(
                        f"Kafka topic {self.sink.topic}: {goal - self._acked[0]} events not "
                        f"acknowledged within {timeout_s:.0f} s"
                        f"{f' (last error: {self.status.last_error})' if self.status.last_error else ''}"
                    )
                self._step(store, wait_s=0.2)
        return self.status

    def run(self, *, poll_s: float = 0.2) -> OutboxStatus:
        """Follow the log until :meth:`stop`: publish new events as they are appended."""
        with self._opened() as store:
            while not self._stop.is_set():
                idle = self._step(store, wait_s=poll_s)
                if idle:
                    self._stop.wait(poll_s)
            self._step(store, wait_s=0.0)
        return self.status

    def start(self, *, poll_s: float = 0.2) -> threading.Thread:
        """:meth:`run` in a daemon thread (the runner's process stays free of Kafka)."""
        self._thread = threading.Thread(
            target=self.run, kwargs={"poll_s": poll_s}, name="grekko-kafka-outbox", daemon=True
        )
        self._thread.start()
        return self._thread

    def stop(self, timeout_s: float | None = 30.0) -> None:
        """Stop :meth:`run` (after a last delivery pass) and wait for its thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    # ------------------------------------------------------------------ one pass

    def _opened(self) -> Any:
        from contextlib import contextmanager

        @contextmanager
        def opened() -> Iterator[Any]:
            store = self._opener()
            try:
                self._check_cursor(store)
                self._producer = self._make_producer()
                yield store
            finally:
                try:
                    if self._producer is not None:
                        self._producer.flush(min(5.0, self.sink.delivery_timeout_s))
                        self._deliveries(0.0)
                        self._save(force=True)
                finally:
                    self._producer = None
                    store.close()

        return opened()

    def _step(self, store: Any, *, wait_s: float) -> bool:
        """Hand new events to the client, collect acknowledgements, move the cursor, check the
        lag. Returns whether there was nothing to hand over."""
        handed = 0
        if self._failed and len(self._producer) == 0:
            # Every message after the first failed one is re-sent (at least once).
            self._failed = False
            self._next = self._acked[0] + 1
            self._hashes.clear()
            self._done.clear()
        room = self.sink.max_in_flight - (self._next - 1 - self._acked[0])
        if room > 0 and not self._failed and self._ensure_topic():
            for event in islice(store.read(after_seq=self._next - 1), room):
                self._produce(event)
                handed += 1
        head = store.head()
        self.status.head_seq = 0 if head is None else head.seq
        self._deliveries(wait_s if handed == 0 else 0.0)
        self._save(force=False)
        self._check_lag()
        return handed == 0

    def _produce(self, event: Event) -> None:
        key, value, headers = encode_event(event)
        while True:
            try:
                self._producer.produce(
                    self.sink.topic, value=value, key=key, headers=headers, partition=0,
                    on_delivery=partial(self._delivered, event.seq),
                )  # fmt: skip
                break
            except BufferError:  # the client's own queue is full: let it deliver first
                self._producer.poll(0.1)
        self._hashes[event.seq] = event.hash
        self._next = event.seq + 1
        self.status.produced += 1

    def _delivered(self, seq: int, err: Any, msg: Any) -> None:
        if err is not None:
            self._failed = True
            self.status.failures += 1
            self.status.last_error = str(err)
            return
        self._done.add(seq)
        seq = self._acked[0]
        while seq + 1 in self._done and seq + 1 in self._hashes:  # reports come in order
            seq += 1
            self._done.discard(seq)
            self._acked = (seq, self._hashes.pop(seq))
        if seq != self.status.acked_seq:
            self.status.acked_seq = seq
            self._progress_at = self._clock()

    def _deliveries(self, wait_s: float) -> None:
        self._producer.poll(wait_s)

    def _save(self, *, force: bool) -> None:
        """Write the cursor when it moved: at the head, every 1,000 events, and at the end."""
        seq, digest = self._acked
        if seq == self._saved_seq:
            return
        if force or seq == self.status.head_seq or seq - self._saved_seq >= 1000:
            Cursor(self.sink.topic, seq, digest).save(self.cursor_path)
            self._saved_seq = seq

    def _check_lag(self) -> None:
        s = self.status
        behind_s = 0.0 if s.lag_events == 0 else self._clock() - self._progress_at
        if s.lag_events == 0:
            self._progress_at = self._clock()
        late = s.lag_events >= self.sink.alert_lag_events or (
            s.lag_events > 0 and behind_s >= self.sink.alert_after_s
        )
        if late and not s.lagging:
            s.lagging = True
            self._on_alert(
                OutboxAlert("outbox_lagging", s.topic, s.lag_events, behind_s, s.last_error or "")
            )
        elif s.lagging and s.lag_events == 0:
            s.lagging = False
            self._on_alert(OutboxAlert("outbox_caught_up", s.topic, 0, 0.0))

    def _check_cursor(self, store: Any) -> None:
        """The cursor must name an event of this log (fail closed on a replaced log)."""
        seq, digest = self._acked
        if seq == 0:
            return
        found = next(iter(store.read(after_seq=seq - 1)), None)
        if found is None or found.seq != seq or found.hash != digest:
            raise EventStoreError(
                f"the Kafka cursor {self.cursor_path} says seq {seq} (hash {digest[:12]}…) was "
                f"published, but the log at {store.target} "
                f"{'ends before it' if found is None or found.seq != seq else 'has another event there'}: "
                "a different or rewritten log; use a new topic or remove the cursor"
            )

    def _make_producer(self) -> Any:
        try:
            from confluent_kafka import Producer
            from confluent_kafka.admin import AdminClient
        except ImportError as e:  # pragma: no cover - the extra is part of dev installs
            raise ConfigError(
                "streaming to Kafka needs confluent-kafka: pip install 'grekko[kafka]'"
            ) from e
        base = client_config(self.sink.bootstrap, self.sink.options)
        self._admin = AdminClient(base)
        timeout_ms = int(self.sink.delivery_timeout_s * 1000)
        return Producer(
            {
                **base,
                "enable.idempotence": True,  # no duplicates or reordering from the client's retries
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": timeout_ms,
                "queue.buffering.max.messages": max(1000, self.sink.max_in_flight),
            }
        )

    def _ensure_topic(self) -> bool:
        """Create the topic (one partition: the order holds) unless it exists; retried every
        few seconds while the broker cannot be reached (the backlog waits in the log)."""
        if self._topic_ready:
            return True
        now = self._clock()
        if now - self._topic_tried < min(5.0, self.sink.delivery_timeout_s):
            return False
        self._topic_tried = now
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import NewTopic

        new = NewTopic(self.sink.topic, num_partitions=1, replication_factor=self.sink.replication)
        wait = min(5.0, self.sink.delivery_timeout_s)
        try:
            self._admin.create_topics([new], request_timeout=wait)[self.sink.topic].result(wait)
        except KafkaException as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e) and "already exists" not in str(e):
                self.status.last_error = str(e)
                log.warning("Kafka topic %s not created: %s", self.sink.topic, e)
                return False
        except Exception as e:  # the broker is unreachable: the outbox lags and alerts
            self.status.last_error = f"cannot reach {self.sink.bootstrap} ({type(e).__name__})"
            return False
        self._topic_ready = True
        return True
