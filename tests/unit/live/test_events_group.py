"""Group commit (live.events.GroupCommit): many writers, one transaction per batch, and an
appended intent is durable before its append returns — also when the process is SIGKILLed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from live.events import Draft, EventStore, GroupCommit, InvalidEventError, LogKey, event_hash

ROOT = Path(__file__).resolve().parents[3]


def test_concurrent_submissions_share_transactions_and_keep_the_chain(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    threads, per = 6, 150
    with GroupCommit.open(path) as group:

        def work(t: int) -> None:
            tickets = []
            for i in range(per):
                # Each submission is two events that must stay together.
                drafts = [
                    ("order_created", f"t{t}-{i}", {"i": i}, i),
                    ("order_submitted", f"t{t}-{i}", {"i": i}, i),
                ]
                tickets.append(group.submit(drafts))
            for ticket in tickets:
                created, submitted = ticket.result(timeout=60)
                assert submitted.seq == created.seq + 1
                assert submitted.prev_hash == created.hash

        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        group.flush()
        # Fewer transactions than submissions: appends queued behind a commit share the next.
        assert group.events == threads * per * 2
        assert group.batches < threads * per
    with EventStore.open(path) as store:
        assert store.verify().ok
        events = list(store.read())
    assert [e.seq for e in events] == list(range(1, threads * per * 2 + 1))
    for e in events:
        assert e.hash == event_hash(e.seq, e.ts_ms, e.kind, e.stream, e.payload, e.prev_hash)
    # Each thread's submissions are stored in the order it made them.
    for t in range(threads):
        mine = [e.payload["i"] for e in events if e.stream.startswith(f"t{t}-")]
        assert mine == sorted(mine)


def test_an_invalid_draft_raises_in_the_caller_and_queues_nothing(tmp_path: Path) -> None:
    with GroupCommit.open(tmp_path / "events.db") as group:
        with pytest.raises(InvalidEventError, match="price"):
            group.submit([("ok", "s", {"a": 1}, 1), ("bad", "s", {"price": float("nan")}, 2)])
        assert group.append("ok", "s", {"a": 1}, 3).seq == 1
    with EventStore.open(tmp_path / "events.db") as store:
        assert [e.kind for e in store.read()] == ["ok"]


def test_keyed_store_and_asyncio_callers(tmp_path: Path) -> None:
    key = LogKey(b"k" * 32, "test")
    path = tmp_path / "events.db"

    async def main() -> list[int]:
        with GroupCommit.open(path, key=key) as group:
            done = await asyncio.gather(
                *(group.append_async([("tick", "feed", {"n": n}, n)]) for n in range(50))
            )
            return [events[0].seq for events in done]

    seqs = asyncio.run(main())
    assert sorted(seqs) == list(range(1, 51))
    with EventStore.open(path, key=key) as store:
        report = store.verify()
        assert report.ok and report.keyed, report.describe()


def test_a_failed_commit_fails_every_submission_of_its_batch(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with GroupCommit.open(path) as group:
        group.append("first", "s", {}, 1)
        # Put a directory where the checkpoint file is: the next commit fails (the store's
        # error), and every waiter of that batch sees it; nothing of the batch is stored.
        cps = Path(str(path) + ".checkpoints")
        cps.unlink()
        cps.mkdir()
        tickets = [group.submit([("second", "s", {"n": n}, 2)]) for n in range(20)]
        for ticket in tickets:
            with pytest.raises(Exception, match="checkpoint"):
                ticket.result(timeout=60)
    with EventStore.open(path, checkpoints=False) as store:
        assert [e.kind for e in store.read()] == ["first"]


# -- durability under SIGKILL ---------------------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import sys, threading
    from live.events import GroupCommit

    group = GroupCommit.open(sys.argv[1])
    out = threading.Lock()

    def trader(t):
        i = 0
        while True:
            cid = f"t{t}-{i}"
            # Telemetry nobody waits for, then the intent, waited for: durable before "sent".
            group.submit([("tick", "feed", {"t": t, "i": i}, i)])
            group.append_many([("order_intent", cid, {"qty": "0.01"}, i)])
            with out:
                sys.stdout.write(f"sent {cid}\\n")
                sys.stdout.flush()
            i += 1

    for t in range(4):
        threading.Thread(target=trader, args=(t,), daemon=True).start()
    threading.Event().wait()
    """
)


def test_an_intent_whose_append_returned_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    sent: list[str] = []
    deadline = time.monotonic() + 120
    try:
        assert child.stdout is not None
        while len(sent) < 400 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            sent.append(line.split()[1])
        # Killed mid-stream: appends are in flight, batches half-gathered.
        os.kill(child.pid, signal.SIGKILL)
        rest, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    sent += [line.split()[1] for line in rest.splitlines() if line.startswith("sent ")]
    assert len(sent) >= 400, f"the child sent too little before the deadline: {err[-2000:]}"
    with EventStore.open(path) as store:
        report = store.verify()
        assert report.ok, report.describe()
        stored = {e.stream for e in store.read(kinds=["order_intent"])}
    lost = [cid for cid in sent if cid not in stored]
    assert not lost, f"{len(lost)} intents were reported sent but are not in the log: {lost[:5]}"


def test_group_commit_is_exported_with_its_draft_type() -> None:
    assert Draft("k", "s", {}).ts_ms is None
    assert GroupCommit.__module__ == "live.events._group"


# -- the append path hashes the stored text: the same bytes as event_hash ---------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=80, deadline=None)
@given(
    payload=st.dictionaries(st.text(), _json, max_size=5),
    kind=st.text(min_size=1),
    stream=st.text(min_size=1),
    seq=st.integers(1, 2**53),
    ts=st.integers(0, 2**53),
)
# keys the encoder sorts: the types are compared key by key (a list in insertion order was not)
@example(payload={"0": False, "": None}, kind="k", stream="s", seq=1, ts=0)
def test_hash_of_the_stored_text_is_event_hash(
    payload: dict, kind: str, stream: str, seq: int, ts: int
) -> None:
    from live.events._codec import decode_payload, encode_payload, event_hash_text, flat_payload

    try:
        text = encode_payload(payload)
        digest = event_hash(seq, ts, kind, stream, decode_payload(text), "ab" * 32)
    except UnicodeEncodeError:  # lone surrogates: neither path can hash them
        return
    assert event_hash_text(seq, ts, kind, stream, text, "ab" * 32) == digest
    # The append path's shortcut: a flat payload's copy is what reading it back gives.
    if flat_payload(payload):
        back = decode_payload(text)
        assert dict(payload) == back
        assert {k: type(v) for k, v in payload.items()} == {k: type(v) for k, v in back.items()}
