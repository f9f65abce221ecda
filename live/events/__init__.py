"""The live bridge's event store: an append-only, hash-chained log of everything that happens.

The runner writes every fact it learns or decides (signal seen, order submitted, fill,
cancel, risk halt …) as an :class:`Event` before acting on it, and rebuilds its orders and
positions on restart by folding the log (:func:`fold`). Nothing is ever updated or deleted.

Each event is ``(seq, ts_ms, kind, stream, payload, prev_hash, hash)``: ``seq`` counts 1, 2,
3 … without gaps; ``ts_ms`` comes from the caller or the injected clock (the store never reads
the system clock); ``stream`` names what the event is about (an order's client id,
``"runner"``); ``payload`` is a JSON object; ``hash`` is SHA-256 over the canonical JSON (sorted
keys, no whitespace, UTF-8) of the other six fields, and ``prev_hash`` is the previous event's
hash (64 zeros for ``seq`` 1). Editing, deleting or inserting an event therefore breaks the
chain, and :meth:`EventStore.verify` says where and why.

Tamper evidence beyond the chain (:mod:`live.events._seal`): opened with a key
(:func:`load_log_key`), the store keeps an HMAC per event, so an edit re-hashed to the head
fails, and after every write appends a signed checkpoint ``(seq, hash)`` to a file apart from
the database (``<log>.checkpoints`` by default), so a cut tail fails too.
``verify(incremental=True)`` checks only from the last checkpoint; a keyed store checks the MAC
of every event it reads. See docs/event-log-integrity.md for what is and is not detected.

Backends: a file path opens SQLite (WAL, ``synchronous=FULL``, one transaction per append or
per :meth:`EventStore.append_many`); ``postgresql://`` or ``postgresql+psycopg://`` opens
PostgreSQL through psycopg 3. Both make ``seq`` the primary key, so concurrent writers cannot
fork the chain: an append that loses the race re-reads the head and retries.

Example::

    with EventStore.open("runs/live/events.db", clock=venue_clock.now_ms) as store:
        store.append("order_submitted", "cid-42", {"symbol": "BTC/USDT", "qty": 0.1})
        store.append_many([Draft("fill", "cid-42", {"qty": 0.1, "price": 30000.0}),
                           Draft("position", "BTC/USDT", {"qty": 0.1})])
        for event in store.read(stream="cid-42"):
            ...
        store.verify().raise_if_broken()

Group commit (:class:`GroupCommit`, :mod:`live.events._group`): one writer thread commits the
appends of many threads or tasks in shared transactions (one fsync per batch); an append that
is waited for is as durable as :meth:`EventStore.append`.
"""

from live.events._codec import GENESIS_HASH, Draft, Event, canonical_json, event_hash
from live.events._errors import (
    ChainConflictError,
    EventStoreError,
    InvalidEventError,
    TamperedError,
)
from live.events._group import GroupCommit, Ticket
from live.events._seal import KEY_ENV, KEY_FILE_ENV, LogKey, default_key_file, load_log_key
from live.events._verify import Reason, VerifyReport
from live.events.store import EventStore, default_checkpoints, fold, open_run_log, verify

__all__ = [
    "GENESIS_HASH",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "ChainConflictError",
    "Draft",
    "Event",
    "EventStore",
    "EventStoreError",
    "GroupCommit",
    "InvalidEventError",
    "LogKey",
    "Reason",
    "TamperedError",
    "Ticket",
    "VerifyReport",
    "canonical_json",
    "default_checkpoints",
    "default_key_file",
    "event_hash",
    "fold",
    "load_log_key",
    "open_run_log",
    "verify",
]
