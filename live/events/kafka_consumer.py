"""Read a run's topic back: drop the duplicates at-least-once delivery brings, check the chain.

:class:`ChainFollower` is the consumer's logic, free of any client: feed it message values in
the order the partition holds them and it returns each event once, in ``seq`` order, after
checking that its hash is the SHA-256 of its fields and that it links to the event before it.
A message whose ``seq`` was already seen is a duplicate (the outbox re-sent it after a
restart) and is dropped — unless its hash differs from the first copy's, which means two
different logs were published to one topic: that, a gap, a broken link or an altered event
raises :class:`ChainBrokenError` naming the ``seq`` and why.

:func:`read_topic` runs it over a whole topic with confluent-kafka (from the beginning, up to
the end as it stands) and returns a :class:`TopicReport`, which
``grekko-live export --kafka … --check`` compares with the log's head.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from live.events._codec import GENESIS_HASH, Event, event_hash
from live.events._errors import EventStoreError

__all__ = ["ChainBrokenError", "ChainFollower", "TopicReport", "decode_message", "read_topic"]


class ChainBrokenError(EventStoreError):
    """A topic's events do not form one hash chain; ``seq`` and ``reason`` say where and why."""

    def __init__(self, seq: int, reason: str, detail: str) -> None:
        self.seq, self.reason, self.detail = seq, reason, detail
        super().__init__(f"event topic broken at seq {seq} ({reason}): {detail}")


def decode_message(value: bytes) -> Event:
    """The event a message carries (see :func:`live.events.kafka.encode_event`).

    Raises
    ------
    ChainBrokenError
        If the value is not such a message (``reason="bad_message"``, ``seq`` 0 if unknown).
    """
    try:
        obj = json.loads(value)
        event = Event(
            int(obj["seq"]), int(obj["ts_ms"]), str(obj["kind"]), str(obj["stream"]),
            dict(obj["payload"]), str(obj["prev_hash"]), str(obj["hash"]),
        )  # fmt: skip
    except (ValueError, KeyError, TypeError) as e:
        seq = obj.get("seq", 0) if isinstance(locals().get("obj"), dict) else 0
        raise ChainBrokenError(
            int(seq) if isinstance(seq, int) else 0, "bad_message", f"not an event ({e})"
        ) from None
    return event


@dataclass
class ChainFollower:
    """De-duplicate and verify a topic's events (see the module).

    Parameters
    ----------
    after_seq, after_hash
        Start after this event (a consumer resuming from its own state); the first event
        expected is ``after_seq + 1`` and must link to ``after_hash``.
    """

    after_seq: int = 0
    after_hash: str = GENESIS_HASH
    duplicates: int = 0
    _seen: dict[int, str] = field(default_factory=dict, repr=False)

    @property
    def head(self) -> tuple[int, str]:
        """The last verified event's ``(seq, hash)``."""
        return self.after_seq, self.after_hash

    def accept(self, value: bytes | Event) -> Event | None:
        """Verify one message; return its event, or ``None`` for a duplicate."""
        event = value if isinstance(value, Event) else decode_message(value)
        if event.seq <= self.after_seq:
            first = self._seen.get(event.seq)
            if first is not None and first != event.hash:
                raise ChainBrokenError(
                    event.seq, "conflict",
                    f"two different events carry seq {event.seq} (hash {first[:12]}… then "
                    f"{event.hash[:12]}…): two logs were published to one topic",
                )  # fmt: skip
            self.duplicates += 1
            return None
        if event.seq != self.after_seq + 1:
            raise ChainBrokenError(
                self.after_seq + 1, "gap",
                f"seq {self.after_seq + 1} is missing; the next message is seq {event.seq}",
            )  # fmt: skip
        recomputed = event_hash(
            event.seq, event.ts_ms, event.kind, event.stream, event.payload, event.prev_hash
        )
        if recomputed != event.hash:
            raise ChainBrokenError(
                event.seq, "hash_mismatch", "the event's fields do not give its hash (altered)"
            )
        if event.prev_hash != self.after_hash:
            raise ChainBrokenError(
                event.seq, "link_broken",
                f"prev_hash of seq {event.seq} is not the hash of seq {event.seq - 1}",
            )  # fmt: skip
        self.after_seq, self.after_hash = event.seq, event.hash
        self._seen[event.seq] = event.hash
        if len(self._seen) > 100_000:  # duplicates come from a recent resend: keep the tail
            for seq in list(self._seen)[:50_000]:
                del self._seen[seq]
        return event


@dataclass(frozen=True, slots=True)
class TopicReport:
    """What :func:`read_topic` found: events, duplicates dropped, the head, and a failure."""

    topic: str
    events: int
    duplicates: int
    head_seq: int
    head_hash: str
    ok: bool = True
    first_bad_seq: int | None = None
    reason: str | None = None
    detail: str | None = None

    def describe(self) -> str:
        if not self.ok:
            return (
                f"topic {self.topic}: BROKEN at seq {self.first_bad_seq} ({self.reason}): "
                f"{self.detail}"
            )
        return (
            f"topic {self.topic}: {self.events} events verified (seq 1..{self.head_seq}, head "
            f"{self.head_hash[:12]}…), {self.duplicates} duplicates dropped"
        )


def read_topic(
    config: Mapping[str, Any],
    topic: str,
    *,
    on_event: Callable[[Event], Any] | None = None,
    timeout_s: float = 30.0,
) -> TopicReport:
    """Read ``topic`` from its beginning to its current end through a
    :class:`ChainFollower`; ``config`` is :func:`~live.events.kafka.client_config`'s.

    Raises
    ------
    EventStoreError
        If the broker cannot be reached within ``timeout_s``.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    consumer = Consumer(
        {
            **config,
            "group.id": f"grekko-check-{uuid.uuid4().hex[:12]}",  # reads only, commits nothing
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    follower = ChainFollower()
    count = 0
    try:
        try:
            _, end = consumer.get_watermark_offsets(
                TopicPartition(topic, 0), timeout=timeout_s, cached=False
            )
        except KafkaException as e:
            raise EventStoreError(f"cannot read Kafka topic {topic}: {e}") from e
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        offset = -1
        idle = 0.0
        while True:
            messages = consumer.consume(1000, timeout=1.0)
            if not messages:
                # The watermark is a lower bound only (an in-memory broker reported 1 for a
                # topic of 2,501 messages): the end is the watermark passed and a quiet poll.
                if offset + 1 >= end:
                    break
                idle += 1.0
                if idle >= timeout_s:
                    raise EventStoreError(
                        f"Kafka topic {topic}: read stopped at offset {offset + 1} of {end}"
                    )
                continue
            idle = 0.0
            for message in messages:
                if message.error() is not None:
                    raise EventStoreError(f"Kafka topic {topic}: {message.error()}")
                offset = message.offset() or 0
                try:
                    event = follower.accept(message.value() or b"")
                except ChainBrokenError as e:
                    return TopicReport(
                        topic, count, follower.duplicates, *follower.head, ok=False,
                        first_bad_seq=e.seq, reason=e.reason, detail=e.detail,
                    )  # fmt: skip
                if event is not None:
                    count += 1
                    if on_event is not None:
                        on_event(event)
    finally:
        consumer.close()
    return TopicReport(topic, count, follower.duplicates, *follower.head)
