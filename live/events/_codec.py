"""Events, their validation and their hash: pure functions, no I/O."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

from live.events._errors import InvalidEventError

__all__ = ["GENESIS_HASH", "Draft", "Event", "canonical_json", "event_hash", "event_hash_text"]

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first event (``seq`` 1)."""

# Row as stored: (seq, ts_ms, kind, stream, payload as canonical JSON text, prev_hash, hash,
# mac); mac is None for an event written without a key (see live.events._seal).
Row = tuple[int, int, str, str, str, str, str, str | None]


@dataclass(frozen=True, slots=True)
class Event:
    """One committed event of the log.

    Parameters
    ----------
    seq
        Position in the log, 1, 2, 3 … without gaps.
    ts_ms
        Time of the event in ms since the Unix epoch, from the caller's clock.
    kind
        What happened, e.g. ``"order_submitted"``.
    stream
        What it happened to, e.g. an order's client id, or ``"runner"``.
    payload
        The event's data (a JSON object; each read builds a fresh copy).
    prev_hash
        ``hash`` of the event ``seq - 1`` (64 zeros for the first event).
    hash
        SHA-256 (hex) of :func:`canonical_json` of the other six fields; see :func:`event_hash`.
    """

    seq: int
    ts_ms: int
    kind: str
    stream: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class Draft(NamedTuple):
    """An event to append with :meth:`EventStore.append_many`; ``ts_ms=None`` asks the store's clock."""

    kind: str
    stream: str
    payload: dict[str, Any]
    ts_ms: int | None = None


# Built once: json.dumps / json.loads with options build a new encoder / decoder per call, a
# third of an append's cost at group-commit rates.
_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_encode = _ENCODER.encode
# What that encoder does with a str (ensure_ascii=False), without its dispatch.
_encode_str: Any = json.encoder.encode_basestring


def canonical_json(value: Any) -> str:
    """Serialise ``value`` canonically: sorted keys, no whitespace, non-ASCII kept, no NaN/inf."""
    return _encode(value)


def event_hash(
    seq: int, ts_ms: int, kind: str, stream: str, payload: dict[str, Any], prev_hash: str
) -> str:
    """Return the hash of an event: SHA-256 (hex) of the UTF-8 bytes of :func:`canonical_json` of
    ``{"kind", "payload", "prev_hash", "seq", "stream", "ts_ms"}``.

    Anyone can recompute it without Grekko, e.g. in Python
    ``sha256(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())``.
    """
    body = {
        "seq": seq,
        "ts_ms": ts_ms,
        "kind": kind,
        "stream": stream,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def event_hash_text(
    seq: int, ts_ms: int, kind: str, stream: str, payload_text: str, prev_hash: str
) -> str:
    """:func:`event_hash` of an event whose payload is given as its canonical JSON text (as
    stored): the same bytes are hashed, without serialising the payload again.

    ``payload_text`` must be canonical (``canonical_json(decode(payload_text)) ==
    payload_text``), as :func:`encode_payload` returns and :meth:`EventStore.verify` checks.
    """
    # The body's keys in sorted order: kind, payload, prev_hash, seq, stream, ts_ms.
    body = (
        f'{{"kind":{_encode_str(kind)},"payload":{payload_text},'
        f'"prev_hash":{_encode_str(prev_hash)},"seq":{int(seq)},"stream":{_encode_str(stream)},'
        f'"ts_ms":{int(ts_ms)}}}'
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def check_text(name: str, value: object) -> str:
    """Return ``value`` if it is a non-empty string, else raise :class:`InvalidEventError`."""
    if not isinstance(value, str) or not value:
        raise InvalidEventError(f"event {name} must be a non-empty string, got {value!r}")
    return value


def check_ts(ts_ms: object) -> int:
    """Return ``ts_ms`` if it is a non-negative int (not a bool), else raise."""
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, int) or ts_ms < 0:
        raise InvalidEventError(
            f"event ts_ms must be a non-negative int (ms since epoch), got {ts_ms!r}"
        )
    return ts_ms


def encode_payload(payload: object) -> str:
    """Validate ``payload`` and return its canonical JSON text.

    Raises
    ------
    InvalidEventError
        If it is not a JSON object or holds a value JSON cannot represent exactly (NaN, inf,
        non-string keys, sets, dates …); the message names the key path, e.g. ``fills[2].price``.
    """
    if not isinstance(payload, dict):
        raise InvalidEventError(
            f"event payload must be a dict (JSON object), got {type(payload).__name__}"
        )
    _check_value(payload, "")
    return canonical_json(payload)


_SCALARS = frozenset({str, int, bool, type(None)})


def flat_payload(value: object) -> bool:
    """Whether ``value`` is JSON without a doubt and reads back as itself: a scalar of a plain
    type, or an object of such scalars with string keys (the common payload, checked without
    isinstance's walk; subclasses such as enums and bools-as-ints are not "plain")."""
    if type(value) in _SCALARS:
        return True
    if type(value) is not dict:
        return False
    for key, item in value.items():
        kind = type(item)
        if type(key) is not str or not (
            kind in _SCALARS or (kind is float and math.isfinite(item))
        ):
            return False
    return True


def _check_value(value: object, path: str) -> None:
    if flat_payload(value):
        return
    where = path or "payload"
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidEventError(
                f"event payload key {where!r} is {value!r}; JSON has no NaN or inf"
            )
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidEventError(f"event payload key {key!r} in {where!r} is not a string")
            _check_value(item, f"{path}.{key}" if path else key)
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_value(item, f"{path}[{i}]")
        return
    raise InvalidEventError(
        f"event payload key {where!r} holds a {type(value).__name__}, which is not JSON "
        "(use str, int, float, bool, None, list or dict)"
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-JSON constant {name}")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def decode_payload(text: str) -> dict[str, Any]:
    """Parse stored payload text; raise ``ValueError`` if it is not a JSON object."""
    value = _DECODER.decode(text)
    if not isinstance(value, dict):
        raise ValueError(f"payload is a {type(value).__name__}, not a JSON object")
    return value


def row_to_event(row: Row) -> Event:
    """Build an :class:`Event` from a stored row."""
    seq, ts_ms, kind, stream, payload, prev_hash, digest = row[:7]
    return Event(int(seq), int(ts_ms), kind, stream, decode_payload(payload), prev_hash, digest)
