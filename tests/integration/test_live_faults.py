"""Each injected fault of the simulator, met by the whole bridge (runner, order manager, ccxt
adapter, real ccxt client): the run finishes with 0 orders lost, 0 duplicated, every order
filled and the local position equal to the simulator's ledger, and the log shows the fault
was handled the way it must be (unknown outcome resolved by query, not by resending, …)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from live.events import EventStore
from tests.integration.test_live_crash import KEY, ROOT, SECRET, SimProcess, audit

POST_ORDER = {"path": "/api/v3/order", "method": "POST"}

# name: (fault commands, extra harness args, sim clock speed)
CASES: dict[str, tuple[list[tuple[str, dict]], list[str], float]] = {
    "latency": ([("latency", {"seconds": 0.3, "times": 5})], [], 0.0),
    # The user-data stream is silenced so that the fills cannot arrive there first: the
    # unknown outcomes must be resolved by querying the client ids.
    "timeout after accept": (
        [
            ("ws_silent_drop", {"path": "/ws-api"}),
            ("timeout_after_accept", {"seconds": 2.0, "times": 3}),
        ],
        ["--timeout-ms", "700"],
        0.0,
    ),
    "5xx after accept": ([("error_after_accept", {"status": 503, "times": 3})], [], 0.0),
    "429 then 418": ([("rate_limit", {"retry_after": 1, "times": 2, **POST_ORDER})], [], 0.0),
    # The market clock stands still: what the venue leaves open of the first three market
    # orders can only end by the runner's cancel at its next decision.
    "partial fills": ([("partial_fill", {"fraction": 0.4, "times": 3})], [], 0.0),
    "duplicate trades": ([("duplicate_trades", {"times": 5})], [], 0.0),
    "late fills": ([("late_fill", {"seconds": 1.5, "times": 3})], [], 0.0),
    "silent websocket drop": ([("ws_silent_drop", {})], [], 0.0),
}


def _run(case: str, shared_data: Path, tmp_path: Path) -> tuple[list, dict, dict]:
    faults, extra, speed = CASES[case]
    candles = shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz"
    sim = SimProcess(candles, speed=speed)
    try:
        for kind, params in faults:
            assert sim.ask(f"fault {kind} {json.dumps(params)}") == {"ok": True}
        run = subprocess.run(
            [sys.executable, str(ROOT / "tests/peers/live_crash.py"), "--url", sim.url,
             "--point", "before_send", "--kills", "0", "--bars", "120",
             "--state", str(tmp_path / "run"), "--candles", str(candles), "--key", KEY,
             "--secret", SECRET, *extra],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        ledger = sim.ask("ledger")
        requests = sim.ask("requests")
    finally:
        sim.close()
    with EventStore.open(tmp_path / "run" / "events.db") as log:
        log.verify().raise_if_broken()
        events = list(log.read())
    return events, ledger, requests


@pytest.mark.parametrize("case", list(CASES))
def test_fault_is_survived_without_loss_or_duplicates(
    case: str, shared_data: Path, tmp_path: Path
) -> None:
    events, ledger, requests = _run(case, shared_data, tmp_path)
    report = audit(events, ledger)
    kinds = Counter(e.kind for e in events)
    print(f"\nfault {case}: {report['decisions_with_orders']} orders, events {dict(kinds)}")
    assert report["decisions_with_orders"] >= 10
    assert report["lost"] == [] and report["duplicates"] == []
    assert report["open_local"] == []
    if case == "partial fills":
        # What a venue left open of a market order is cancelled at the next decision, so the
        # book decides on what was really bought; the partial fills stay.
        partial = {
            e.stream
            for e in events
            if e.kind == "order_fill" and e.payload["to"] == "PARTIALLY_FILLED"
        }
        assert len(partial) == 3
        assert set(report["unfilled_at_venue"]) == partial
        states = {cid: status for cid, _, status, _ in ledger["orders"]}
        assert {states[cid] for cid in partial} == {"CANCELED"}
    else:
        assert report["unfilled_at_venue"] == []
    assert report["fills_only_local"] == [] and report["fills_only_at_venue"] == []
    assert report["local_position"] == report["venue_position"]
    unknown = [e for e in events if e.kind == "order_unknown"]
    if case in ("timeout after accept", "5xx after accept"):
        # The outcome was unknown, the order was found by its client id, never sent twice.
        assert len(unknown) == 3
        assert report["venue_orders"] == report["decisions_with_orders"]
        assert kinds["retry_created"] == 0
    if case == "429 then 418":
        refused = sum(n for k, n in requests.items() if k.startswith("POST /api/v3/order 429"))
        assert refused >= 1 and kinds["retry_created"] >= 1
        assert sum(n for k, n in requests.items() if " 418" in k) == 0, "Retry-After ignored"
    if case == "duplicate trades":
        trade_ids = [e.payload["trade_id"] for e in events if e.kind == "order_fill"]
        assert len(trade_ids) == len(set(trade_ids)) == len(ledger["fills"])
    if case == "late fills":
        assert any(e.kind == "order_status" for e in events)
