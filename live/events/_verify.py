"""Walk the log and recompute every hash, link and (with a key) MAC; check the checkpoint."""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from live.events._codec import GENESIS_HASH, Row, canonical_json, decode_payload, event_hash
from live.events._errors import TamperedError

if TYPE_CHECKING:
    from live.events._seal import LogKey

__all__ = ["Reason", "VerifyReport"]

Reason = Literal[
    "gap",
    "link_broken",
    "content_altered",
    "hash_mismatch",
    "bad_payload",
    "mac_missing",
    "mac_mismatch",
    "truncated",
    "checkpoint_mismatch",
    "checkpoint_invalid",
    "no_checkpoint",
]
"""Why a log fails verification at ``first_bad_seq``:

``gap``
    no event has that ``seq`` although a later one exists (a row was deleted).
``link_broken``
    the event hashes correctly but its ``prev_hash`` is not the previous event's hash (a row
    was forged or replaced, or the genesis link is not 64 zeros).
``content_altered``
    the event's fields (payload, kind, stream or ts_ms) no longer give its stored hash, while
    the next event still links to that hash: the event was edited after it was written.
``hash_mismatch``
    the stored hash is not the hash of the event's fields and no later event vouches for it:
    the hash column was rewritten, or the last event was edited.
``bad_payload``
    the stored payload is not a JSON object in canonical form (edited by hand).
``mac_missing``
    (keyed) the event has no MAC although the log is keyed: written or rewritten without the key.
``mac_mismatch``
    (keyed) the event's MAC is not the key's MAC of its fields: it was edited, or the chain was
    re-hashed from it to the head, by someone without the key.
``truncated``
    the log ends before the ``seq`` its last checkpoint vouches for: its tail was cut.
``checkpoint_mismatch``
    the event at the checkpoint's ``seq`` no longer has the checkpoint's hash: the log was
    rewritten (re-hashed, replaced) up to there.
``checkpoint_invalid``
    the checkpoint file's last line is unreadable, unsigned or signed with another key.
``no_checkpoint``
    the log holds events but there is no checkpoint to anchor them (the file was deleted, or
    the log predates checkpoints).
"""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of :meth:`EventStore.verify`.

    Parameters
    ----------
    target
        The log checked (path, or URL without password).
    ok
        True if every event checked out.
    checked
        Events checked before the first bad one (all of them when ``ok``).
    head_seq, head_hash
        Last good event (0 and 64 zeros for an empty log).
    first_bad_seq, reason, detail
        Where the log fails, why (see :data:`Reason`) and a human explanation; ``None``/``""``
        when ``ok``.
    mode
        ``"full"`` (every event from ``seq`` 1) or ``"incremental"`` (from the last checkpoint).
    keyed
        Whether MACs and checkpoint signatures were checked (the store had the key).
    anchor_seq
        The ``seq`` of the checkpoint the log was checked against (``None``: none was).
    accepted_seq
        Events up to this ``seq`` were accepted by an operator's override (0: none).
    """

    target: str
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: Reason | None = None
    detail: str = ""
    mode: str = "full"
    keyed: bool = False
    anchor_seq: int | None = None
    accepted_seq: int = 0

    def raise_if_broken(self) -> VerifyReport:
        """Return the report if ``ok``; raise :class:`TamperedError` otherwise."""
        if not self.ok:
            raise TamperedError(self)
        return self

    def describe(self) -> str:
        """One line for people: the verdict, what was checked and against what."""
        how = (
            f"{self.mode}, {'keyed (MACs and signed checkpoint)' if self.keyed else 'unkeyed (SHA-256 chain only)'}"
            + (f", checkpoint at seq {self.anchor_seq}" if self.anchor_seq is not None else "")
            + (f", accepted by override up to seq {self.accepted_seq}" if self.accepted_seq else "")
        )
        if self.ok:
            return (
                f"event log {self.target}: OK, {self.checked} events checked, head seq "
                f"{self.head_seq} ({self.head_hash[:12]}…); checked {how}"
            )
        return (
            f"event log {self.target}: FAILED at seq {self.first_bad_seq} ({self.reason}): "
            f"{self.detail}; checked {how}"
        )


def _pairs(rows: Iterable[Row]) -> Iterator[tuple[Row, Row | None]]:
    """Yield each row with the next one (``None`` after the last)."""
    it = iter(rows)
    current = next(it, None)
    while current is not None:
        following = next(it, None)
        yield current, following
        current = following


def verify_rows(
    target: str,
    rows: Iterable[Row],
    *,
    key: LogKey | None = None,
    accepted: int = 0,
    start_seq: int = 1,
    start_prev: str | None = GENESIS_HASH,
) -> VerifyReport:
    """Check a log given as its rows in ``seq`` order from ``start_seq``; stop at the first
    broken event.

    ``start_prev`` is the hash the first row must link to (``None``: take its own
    ``prev_hash``, when a checkpoint vouches for it). With ``key``, every event after
    ``accepted`` must carry a valid MAC, and any MAC present must be valid.
    """
    expected_seq, checked = start_seq, 0
    expected_prev = start_prev
    keyed = key is not None

    def broken(seq: int, reason: Reason, detail: str) -> VerifyReport:
        return VerifyReport(
            target, False, checked, expected_seq - 1, expected_prev or GENESIS_HASH, seq, reason,
            detail, keyed=keyed, accepted_seq=accepted,
        )  # fmt: skip

    for row, following in _pairs(rows):
        seq, ts_ms, kind, stream, text, prev_hash, stored = row[:7]
        if seq != expected_seq:
            return broken(
                expected_seq, "gap", f"seq {expected_seq} is missing; the next stored seq is {seq}"
            )
        if expected_prev is None:
            expected_prev = prev_hash
        try:
            payload = decode_payload(text)
        except ValueError as e:
            return broken(seq, "bad_payload", f"stored payload is not a JSON object: {e}")
        if canonical_json(payload) != text:
            return broken(seq, "bad_payload", "stored payload text is not in canonical form")
        recomputed = event_hash(seq, ts_ms, kind, stream, payload, prev_hash)
        if recomputed != stored:
            vouched = following is not None and following[0] == seq + 1 and following[5] == stored
            if vouched:
                return broken(
                    seq,
                    "content_altered",
                    f"the fields of seq {seq} (payload, kind, stream or ts_ms) hash to "
                    f"{recomputed[:12]}…, not to its stored hash {stored[:12]}… that seq "
                    f"{seq + 1} links to: the event was edited after it was written",
                )
            return broken(
                seq,
                "hash_mismatch",
                f"stored hash {stored[:12]}… is not the hash {recomputed[:12]}… of the event's "
                "fields (the hash was rewritten, or the fields of the last event were edited)",
            )
        if prev_hash != expected_prev:
            return broken(
                seq,
                "link_broken",
                f"prev_hash {prev_hash[:12]}… is not the hash {expected_prev[:12]}… of seq "
                f"{seq - 1 if seq > 1 else 'genesis'}: the event was forged or replaced",
            )
        # Up to an operator's accept, an event may lack its MAC (a log adopted from before
        # keys), but a wrong MAC always shows: the accept does not rewrite history.
        if key is not None and (seq > accepted or (len(row) > 7 and row[7] is not None)):
            bad = mac_problem(key, row)
            if bad is not None:
                return broken(seq, bad[0], bad[1])
        expected_seq, expected_prev, checked = seq + 1, stored, checked + 1
    return VerifyReport(
        target, True, checked, expected_seq - 1, expected_prev or GENESIS_HASH, keyed=keyed,
        accepted_seq=accepted,
    )  # fmt: skip


def mac_problem(key: LogKey, row: Row) -> tuple[Reason, str] | None:
    """Why ``row``'s MAC fails under ``key`` (``None`` if it is valid)."""
    seq, mac = row[0], row[7] if len(row) > 7 else None
    if mac is None:
        return (
            "mac_missing",
            f"seq {seq} has no MAC although the log is keyed: it was written, or rewritten, "
            "without the key",
        )
    if not hmac.compare_digest(mac, key.mac(row)):
        return (
            "mac_mismatch",
            f"the MAC of seq {seq} is not the key's MAC of its fields: the event was edited, "
            "or the chain re-hashed from it, by someone without the key",
        )
    return None
