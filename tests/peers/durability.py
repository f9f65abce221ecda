"""Which appends of a run waited for the disk, and what the log held when each order left.

``watch_durability(monkeypatch, VenueClass)`` patches the store's ``append_many`` and the venue
adapter's ``submit`` (Grekko's own classes, for one test) to record it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from live.events import EventStore


@dataclass
class Durability:
    """What a run appended with and without waiting for the disk, and orders sent meanwhile."""

    durable_kinds: set[str] = field(default_factory=set)
    lazy_kinds: set[str] = field(default_factory=set)
    pending: list[str] = field(default_factory=list)  # non-durable, no durable append since
    sent: list[tuple[str, list[str]]] = field(default_factory=list)  # (client id, pending)

    @property
    def sent_over_lazy(self) -> list[tuple[str, list[str]]]:
        """Orders sent while an event a power cut could lose was the log's newest."""
        return [(cid, pending) for cid, pending in self.sent if pending]


def watch_durability(monkeypatch: pytest.MonkeyPatch, venue: type) -> Durability:
    record = Durability()
    append_many, submit = EventStore.append_many, venue.submit

    def recorded(self: EventStore, drafts: Sequence[Any], *, durable: bool = True) -> list[Any]:
        events = append_many(self, drafts, durable=durable)
        kinds = [e.kind for e in events]
        (record.durable_kinds if durable else record.lazy_kinds).update(kinds)
        if durable:
            record.pending.clear()  # the WAL is synced up to here
        else:
            record.pending.extend(kinds)
        return events

    async def sending(self: Any, request: Any) -> Any:
        record.sent.append((request.client_id, list(record.pending)))
        return await submit(self, request)

    monkeypatch.setattr(EventStore, "append_many", recorded)
    monkeypatch.setattr(venue, "submit", sending)
    return record
