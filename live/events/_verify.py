"""Walk the log from ``seq`` 1 and recompute every hash and link."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from live.events._codec import GENESIS_HASH, Row, canonical_json, decode_payload, event_hash
from live.events._errors import TamperedError

__all__ = ["Reason", "VerifyReport"]

Reason = Literal["gap", "link_broken", "content_altered", "hash_mismatch", "bad_payload"]
"""Why a chain is broken at ``first_bad_seq``:

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
        Last good event (0 and 64 zeros for an empty log). Keep ``head_hash`` somewhere else
        (alert, daily report) to detect later truncation of the tail, which no chain can see.
    first_bad_seq, reason, detail
        Where the chain breaks, why (see :data:`Reason`) and a human explanation; ``None``/``""``
        when ``ok``.
    """

    target: str
    ok: bool
    checked: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: Reason | None = None
    detail: str = ""

    def raise_if_broken(self) -> VerifyReport:
        """Return the report if ``ok``; raise :class:`TamperedError` otherwise."""
        if not self.ok:
            raise TamperedError(self)
        return self


def _pairs(rows: Iterable[Row]) -> Iterator[tuple[Row, Row | None]]:
    """Yield each row with the next one (``None`` after the last)."""
    it = iter(rows)
    current = next(it, None)
    while current is not None:
        following = next(it, None)
        yield current, following
        current = following


def verify_rows(target: str, rows: Iterable[Row]) -> VerifyReport:
    """Check a log given as its rows in ``seq`` order; stop at the first broken event."""
    expected_seq, expected_prev, checked = 1, GENESIS_HASH, 0

    def broken(seq: int, reason: Reason, detail: str) -> VerifyReport:
        return VerifyReport(
            target, False, checked, expected_seq - 1, expected_prev, seq, reason, detail
        )

    for row, following in _pairs(rows):
        seq, ts_ms, kind, stream, text, prev_hash, stored = row
        if seq != expected_seq:
            return broken(
                expected_seq, "gap", f"seq {expected_seq} is missing; the next stored seq is {seq}"
            )
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
        expected_seq, expected_prev, checked = seq + 1, stored, checked + 1
    return VerifyReport(target, True, checked, expected_seq - 1, expected_prev)
