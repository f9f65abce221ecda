"""What tamper evidence costs a restart: keyed reads, incremental and full verification.

Run: ``.venv/bin/python benchmarks/log_verify.py [--events 100000] [--json PATH]``

A temporary SQLite log (WAL, ``synchronous=FULL``) is filled with ``--events`` fill-like events
(payloads of about 300 bytes), written in transactions of 100 by a keyed store (each event gets
its MAC, each transaction a signed checkpoint). Then, measured in the same run:

- read, unkeyed: the reference — what a restart's fold reads anyway (every event, decoded);
- read, keyed: the same read with every event's MAC, sequence and link checked;
- verify, incremental: a start's check (last checkpoint, the events after it; here none, then
  the last 100 as after a kill between commit and checkpoint);
- verify, full: every hash recomputed from seq 1, every MAC, the checkpoint;
- append: a 100-event transaction, keyed against unkeyed (MACs and the checkpoint line).

Printed: seconds and the ratio to the unkeyed read (the appends: keyed / unkeyed).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from live.events import EventStore, LogKey  # noqa: E402

KEY = LogKey(b"benchmark-event-log-key-0123456789abcdef", "benchmark")


def _timed(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _batch(i: int) -> list[tuple[str, str, dict[str, object], int]]:
    return [
        ("order_fill", f"cid-{i}-{k}", {"qty": "0.10000", "price": str(30_000 + k), "fee":
         "0.003", "trade_id": f"t{i}-{k}", "book": {"cash": 1000.0 + k, "pos": [0.1, 0.2]},
         "pad": "x" * 150}, i)
        for k in range(100)
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        keyed_db, plain_db = Path(tmp) / "keyed.db", Path(tmp) / "plain.db"
        with EventStore.open(keyed_db, key=KEY) as store:
            for i in range(args.events // 100):
                store.append_many(_batch(i))
        with EventStore.open(plain_db) as plain, EventStore.open(keyed_db, key=KEY) as keyed:
            t_append_plain = _timed(lambda: plain.append_many(_batch(0)), repeat=10)
            t_append_keyed = _timed(lambda: keyed.append_many(_batch(0)), repeat=10)
        with EventStore.open(keyed_db) as unkeyed, EventStore.open(keyed_db, key=KEY) as keyed:
            t_read = _timed(lambda: sum(1 for _ in unkeyed.read()))
            t_read_keyed = _timed(lambda: sum(1 for _ in keyed.read()))
            t_inc = _timed(lambda: keyed.verify(incremental=True).raise_if_broken())
            t_full = _timed(lambda: keyed.verify().raise_if_broken(), repeat=1)
            n = keyed.head().seq  # type: ignore[union-attr]
        # As after a kill between a commit and its checkpoint: the last line is one write old.
        cps = Path(str(keyed_db) + ".checkpoints")
        lines = cps.read_bytes().split(b"\n")[:-1]
        cps.write_bytes(b"\n".join(lines[:-1]) + b"\n")
        with EventStore.open(keyed_db, key=KEY) as keyed:
            t_inc_lag = _timed(lambda: keyed.verify(incremental=True).raise_if_broken())
        size = sqlite3.connect(keyed_db).execute("SELECT sum(length(payload)) FROM events")
        avg = size.fetchone()[0] / n
    rows = {
        "read, unkeyed (reference)": t_read,
        "read, keyed (MAC, seq, link per event)": t_read_keyed,
        "verify, incremental (checkpoint at head)": t_inc,
        "verify, incremental (100 events after it)": t_inc_lag,
        "verify, full": t_full,
    }
    print(f"{n} events, payloads {avg:.0f} bytes on average")
    for name, t in rows.items():
        print(f"{name:45s} {t:9.4f} s   {t / t_read:7.3f} × read")
    print(
        f"{'append 100 events, keyed vs unkeyed':45s} {t_append_keyed * 1000:7.2f} ms vs "
        f"{t_append_plain * 1000:.2f} ms   {t_append_keyed / t_append_plain:7.3f} ×"
    )
    if args.json:
        out = {**rows, "append_keyed": t_append_keyed, "append_unkeyed": t_append_plain}
        args.json.write_text(json.dumps({"events": n, **out}, indent=2))


if __name__ == "__main__":
    main()
