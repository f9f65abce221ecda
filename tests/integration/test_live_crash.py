"""Crash test: SIGKILL the runner at each of four points, at least 50 times each, restart it,
and check against the simulator's books: 0 orders lost, 0 duplicate orders, and the local
position equal to the simulator's ledger. The ``exhaustive`` variant (``pytest -m exhaustive``,
excluded by default) kills it at least 200 times at each point over the whole file of bars.

The runner trades real BTC/USDT hourly bars through the real ccxt client against the local
Binance simulator (its own process); see tests/peers/live_crash.py for how the runner
processes are forked and killed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from live.events import EventStore, LogKey
from live.orders import OrderManager, OrderState
from live.runner import CRASH_POINTS

ROOT = Path(__file__).resolve().parents[2]
KEY, SECRET = "crash-key-0123456789", "crash-secret-abcdefghij"
KILLS = int(os.environ.get("GREKKO_CRASH_KILLS", "50"))
LOG_KEY = b"crash-test-event-log-key-0123456789abcdef"  # as tests/peers/live_crash.py
EXHAUSTIVE_KILLS = int(os.environ.get("GREKKO_CRASH_KILLS_EXHAUSTIVE", "200"))


class SimProcess:
    def __init__(self, candles: Path, *, speed: float = 0.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/peers/sim_process.py"), "--candles", str(candles),
             "--key", KEY, "--secret", SECRET, "--speed", str(speed)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.url = json.loads(self.proc.stdout.readline())["url"]

    def ask(self, command: str) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc.poll() is None:
            self.ask_quit()

    def ask_quit(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("quit\n")
        self.proc.stdin.flush()
        self.proc.wait(timeout=10)


def audit(events: list, ledger: dict) -> dict[str, object]:
    """Lost and duplicate orders, and positions, from the run's log and the venue's books."""
    om = OrderManager.replay(events)
    retry_of = {e.payload["retry"]: e.payload["of"] for e in events if e.kind == "retry_created"}

    def root(cid: str) -> str:
        while cid in retry_of:
            cid = retry_of[cid]
        return cid

    intended = [cid for e in events if e.kind == "decision" for cid in e.payload["intents"]]
    venue_orders = Counter(root(cid) for cid, _, _, _ in ledger["orders"])
    strangers = [cid for cid, *_ in ledger["orders"] if root(cid) not in set(intended)]
    lost = [cid for cid in intended if venue_orders[cid] == 0]
    duplicates = [cid for cid in intended if venue_orders[cid] > 1] + strangers
    unfilled = [cid for cid, _, status, _ in ledger["orders"] if status != "FILLED"]
    venue_position = sum(
        (Decimal(q) if side == "BUY" else -Decimal(q) for _, side, q, _, _ in ledger["fills"]),
        Decimal(0),
    )
    local_trades = {(f.client_id, f.trade_id) for f in om.fills()}
    venue_trades = {(cid, tid) for cid, _, _, _, tid in ledger["fills"]}
    return {
        "decisions_with_orders": len(intended),
        "venue_orders": len(ledger["orders"]),
        "lost": lost,
        "duplicates": duplicates,
        "unfilled_at_venue": unfilled,
        "local_position": om.position("BTC/USDT"),
        "venue_position": venue_position,
        "fills_only_local": sorted(local_trades - venue_trades),
        "fills_only_at_venue": sorted(venue_trades - local_trades),
        "open_local": [o.client_id for o in om.open_orders()],
        "retries": len(retry_of),
        "rejected_local": sum(o.state is OrderState.REJECTED for o in om.orders()),
    }


def crash_run(
    shared_data: Path, state: Path, point: str, kills: int, *extra: str, timeout_s: float = 900
) -> tuple[dict, list, dict]:
    """The harness against a fresh simulator: its result line, the run's log, the ledger."""
    candles = shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz"
    sim = SimProcess(candles)
    try:
        run = subprocess.run(
            [sys.executable, str(ROOT / "tests/peers/live_crash.py"), "--url", sim.url,
             "--point", point, "--kills", str(kills), "--state", str(state),
             "--candles", str(candles), "--key", KEY, "--secret", SECRET, *extra],
            capture_output=True, text=True, timeout=timeout_s,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        result = json.loads(run.stdout.strip().splitlines()[-1])
        ledger = sim.ask("ledger")
    finally:
        sim.close()
    with EventStore.open(state / "events.db", key=LogKey(LOG_KEY)) as log:
        log.verify().raise_if_broken()  # full: chain, every MAC, the last checkpoint
        events = list(log.read())
    starts = [e.payload for e in events if e.kind == "log_verified"]
    assert len(starts) == result["restarts"] + 1
    assert all(s["ok"] and s["keyed"] and s["mode"] == "incremental" for s in starts)
    return result, events, ledger


def assert_clean(report: dict) -> None:
    assert report["lost"] == []
    assert report["duplicates"] == []
    assert report["unfilled_at_venue"] == []
    assert report["open_local"] == []
    assert report["fills_only_local"] == [] and report["fills_only_at_venue"] == []
    assert report["local_position"] == report["venue_position"]


def crash_figures(point: str, result: dict, events: list, report: dict) -> str:
    """One line of figures of a crash run (printed; the issue's report quotes them)."""
    reconcile_ms = sorted(e.payload["ms"] for e in events if e.kind == "reconciled")
    return (
        f"crash test {point}: {result['kills']} SIGKILLs, {result['restarts']} restarts, "
        f"{report['decisions_with_orders']} intended orders, {report['venue_orders']} venue "
        f"orders, lost {len(report['lost'])}, duplicates {len(report['duplicates'])}, "
        f"retries {report['retries']}, position local {report['local_position']} / venue "
        f"{report['venue_position']} (equal: "
        f"{report['local_position'] == report['venue_position']}), reconcile p50 "
        f"{reconcile_ms[len(reconcile_ms) // 2]:.1f} ms, max {reconcile_ms[-1]:.1f} ms, "
        f"{result['wall_s']} s"
    )


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_sigkill_at_each_point_loses_and_duplicates_nothing(
    point: str, shared_data: Path, tmp_path: Path
) -> None:
    result, events, ledger = crash_run(shared_data, tmp_path / "run", point, KILLS)
    report = audit(events, ledger)
    print("\n" + crash_figures(point, result, events, report))
    assert result["kills"] >= KILLS
    assert report["decisions_with_orders"] >= KILLS
    assert_clean(report)


@pytest.mark.exhaustive
@pytest.mark.timeout(6 * 3600)  # about 10 min a point on 2 busy cores; the suite's limit is 600 s
@pytest.mark.parametrize("point", CRASH_POINTS)
def test_sigkill_exhaustively_at_each_point(point: str, shared_data: Path, tmp_path: Path) -> None:
    """At least 200 SIGKILLs at each point over the whole file of hourly bars (about 5,400)."""
    result, events, ledger = crash_run(
        shared_data, tmp_path / "run", point, EXHAUSTIVE_KILLS, "--bars", "5400",
        timeout_s=6 * 3600,
    )  # fmt: skip
    report = audit(events, ledger)
    line = crash_figures(point, result, events, report)
    print("\n" + line)
    if out := os.environ.get("GREKKO_CRASH_FIGURES"):
        with open(out, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    assert result["kills"] >= EXHAUSTIVE_KILLS
    assert report["decisions_with_orders"] >= EXHAUSTIVE_KILLS
    assert_clean(report)


PORTFOLIO_KILLS = max(KILLS // 3, 5)


@pytest.mark.parametrize("point", ["before_intent", "before_fill"])
def test_a_portfolio_survives_sigkills_with_its_strategies_records_intact(
    point: str, shared_data: Path, tmp_path: Path
) -> None:
    """Two strategies in one run, killed again and again: nothing lost or duplicated at the
    venue, and each strategy's own trades are exactly those of a run never killed."""
    result, events, ledger = crash_run(
        shared_data, tmp_path / "run", point, PORTFOLIO_KILLS, "--portfolio", "--bars", "600"
    )
    report = audit(events, ledger)
    print(f"\nportfolio crash test {point}: {result['kills']} SIGKILLs, "
          f"{report['decisions_with_orders']} intended orders, lost {len(report['lost'])}, "
          f"duplicates {len(report['duplicates'])}")  # fmt: skip
    assert result["kills"] >= PORTFOLIO_KILLS
    assert_clean(report)
    _, calm, _ = crash_run(shared_data, tmp_path / "calm", point, 0, "--portfolio", "--bars", "600")

    def sleeve_trades(ev: list) -> dict[str, list]:
        out: dict[str, list] = {}
        for e in ev:
            if e.kind == "trade_closed" and e.stream.startswith("strategy:"):
                out.setdefault(e.stream, []).append(e.payload)
        return out

    trades = sleeve_trades(events)
    assert set(trades) == {"strategy:sma2_5", "strategy:sma3_9"}
    assert all(len(t) >= 5 for t in trades.values())
    assert trades == sleeve_trades(calm)


FOLLOW_KILLS = max(KILLS // 3, 5)


@pytest.mark.parametrize("point", ["before_intent", "after_send"])
def test_a_strategy_worked_by_twap_survives_sigkills_mid_schedule(
    point: str, shared_data: Path, tmp_path: Path
) -> None:
    """A strategy's orders worked as TWAP parents (``execution.algo``), killed again and again
    mid-schedule: no child lost or duplicated at the venue, and the venue's fills are exactly
    those of a run never killed (the same parents, cancels and children)."""
    extra = ("--follow", "twap", "--bars", "400")
    result, events, ledger = crash_run(shared_data, tmp_path / "run", point, FOLLOW_KILLS, *extra)
    report = audit(events, ledger)
    print(f"\nfollow crash test {point}: {result['kills']} SIGKILLs, "
          f"{report['decisions_with_orders']} children, lost {len(report['lost'])}, "
          f"duplicates {len(report['duplicates'])}")  # fmt: skip
    assert result["kills"] >= FOLLOW_KILLS
    assert_clean(report)
    _, calm, calm_ledger = crash_run(shared_data, tmp_path / "calm", point, 0, *extra)

    def parents(ev: list) -> list:
        return [(e.kind, e.payload["parent_id"], e.payload.get("qty"), e.payload.get("at_ts"))
                for e in ev if e.kind in ("algo_started", "algo_cancelled")]  # fmt: skip

    started = [p for p in parents(events) if p[0] == "algo_started"]
    assert len(started) >= 10
    assert any(p[0] == "algo_cancelled" for p in parents(events))  # a move mid-schedule
    assert parents(events) == parents(calm)

    def fills(ledger: dict) -> list:
        return sorted((side, q, price) for _, side, q, price, _ in ledger["fills"])

    assert fills(ledger) == fills(calm_ledger)


ROUTED_KILLS = max(KILLS // 3, 5)


@pytest.mark.parametrize("point", ["before_send", "after_send"])
def test_a_run_routed_across_two_venues_survives_sigkills_mid_route(
    point: str, shared_data: Path, tmp_path: Path
) -> None:
    """Every order of a run routed across two simulators (live.venues.routed), the runner and
    its router SIGKILLed again and again between a route's children: every child of every
    route at its venue exactly once and filled, every order of the run routed once and filled
    by its children's fills, and the run's position the two venues' together."""
    candles = shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz"
    state = tmp_path / "run"
    sims = {"a": SimProcess(candles), "b": SimProcess(candles)}
    try:
        run = subprocess.run(
            [sys.executable, str(ROOT / "tests/peers/live_crash.py"), "--url", sims["a"].url,
             "--url2", sims["b"].url, "--point", point, "--kills", str(ROUTED_KILLS),
             "--state", str(state), "--candles", str(candles), "--key", KEY, "--secret", SECRET,
             "--bars", "300", "--settle-s", "15"],  # past the router's 2 s grace for a lost create
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        result = json.loads(run.stdout.strip().splitlines()[-1])
        ledgers = {v: sim.ask("ledger") for v, sim in sims.items()}
    finally:
        for sim in sims.values():
            sim.close()
    key = LogKey(LOG_KEY)
    with EventStore.open(state / "events.db", key=key) as log:
        log.verify().raise_if_broken()
        events = list(log.read())
    with EventStore.open(state / "routes.db", key=key) as log:
        log.verify().raise_if_broken()
        routes = [e.payload for e in log.read(kinds=["route_decision"])]
        reissues = [e.payload for e in log.read(kinds=["route_reissue"])]
        cancelled = {e.stream for e in log.read(kinds=["route_cancelled"])}
    children = {c["client_id"]: c["venue"] for r in routes for c in r["child_orders"]
                if c["sent"]}  # fmt: skip
    children |= {c["client_id"]: c["venue"] for c in reissues}
    at_venue = {v: Counter(cid for cid, *_ in ledgers[v]["orders"]) for v in sims}
    # A child whose create never left (killed before the send) is created again, once.
    lost_creates = {c["of"] for c in reissues}
    # A route whose order the run cancelled (a market order gone stale over a restart) sends
    # nothing more: a create of it that never left is not lost, it was called off.
    called_off = {c["client_id"] for r in routes if r["route_id"] in cancelled
                  for c in r["child_orders"]}  # fmt: skip
    lost = [cid for cid, v in children.items()
            if at_venue[v][cid] == 0 and cid not in lost_creates | called_off]  # fmt: skip
    doubled = [cid for cid, v in children.items() if at_venue[v][cid] > 1]
    strangers = [cid for v in sims for cid in at_venue[v] if children.get(cid) != v]
    print(f"\nrouted crash test {point}: {result['kills']} SIGKILLs, {len(routes)} routes, "
          f"{len(children)} children (a {sum(v == 'a' for v in children.values())}, b "
          f"{sum(v == 'b' for v in children.values())}), lost {len(lost)}, doubled "
          f"{len(doubled)}, strangers {len(strangers)}, re-issued {len(reissues)}, routes "
          f"cancelled {len(cancelled)}")  # fmt: skip
    assert result["kills"] >= ROUTED_KILLS
    assert all(at_venue[children[c]][c] == 0 for c in lost_creates)
    assert lost == [] and doubled == [] and strangers == []
    assert all(status == "FILLED" for v in sims for _, _, status, _ in ledgers[v]["orders"])
    om = OrderManager.replay(events)
    # Each order the run sent was routed once and filled by its children; one a restart found
    # stale before it was sent (a market order of a past bar) was never sent nor routed.
    # One whose create never reached the router (killed before its send) was re-issued.
    retried = {e.payload["of"] for e in events if e.kind == "retry_created"}
    never_left = {o.client_id for o in om.orders() if o.state is OrderState.REJECTED
                  and (o.reason or "").startswith("not found")}  # fmt: skip
    assert never_left <= retried
    sent = [o for o in om.orders()
            if o.submitted_ms is not None and o.client_id not in never_left]  # fmt: skip
    assert len(sent) >= 10
    assert sorted(r["requested"]["parent"] for r in routes) == sorted(o.client_id for o in sent)
    by_parent = {r["requested"]["parent"]: r["route_id"] for r in routes}
    odd = [(o.client_id, o.state, o.reason, o.qty, o.filled_qty) for o in sent
           if not (o.state is OrderState.FILLED or (o.state is OrderState.CANCELLED
                   and by_parent[o.client_id] in cancelled))]  # fmt: skip
    assert odd == []
    assert all(o.filled_qty == 0 for o in om.orders() if o.submitted_ms is None)
    venue_position = sum(
        (Decimal(q) if side == "BUY" else -Decimal(q)
         for v in sims for _, side, q, _, _ in ledgers[v]["fills"]),
        Decimal(0),
    )  # fmt: skip
    assert om.position("BTC/USDT") == venue_position


def test_audit_catches_a_lost_and_a_duplicate_order() -> None:
    """The audit is sharp: a decision without a venue order is lost, two are a duplicate."""

    class E:
        def __init__(self, kind: str, stream: str, payload: dict, seq: int) -> None:
            self.kind, self.stream, self.payload, self.ts_ms, self.seq = (
                kind,
                stream,
                payload,
                seq,
                seq,
            )

    from live.orders import Intent

    a = Intent("r", "BTC/USDT", "buy", "1", 1000, seq=0)
    b = Intent("r", "BTC/USDT", "sell", "1", 2000, seq=0)
    om = OrderManager()
    evs = [E("decision", "runner", {"intents": [a.client_id, b.client_id]}, 1)]
    for i, raw in enumerate(om.create(a, 1) + om.create(b, 2)):
        evs.append(E(raw["kind"], raw["stream"], raw["payload"], 10 + i))
    ledger = {
        "orders": [[b.client_id, "SELL", "FILLED", "1"], [b.client_id, "SELL", "FILLED", "1"]],
        "fills": [[b.client_id, "SELL", "1", "10", "1"], [b.client_id, "SELL", "1", "10", "2"]],
    }
    report = audit(evs, ledger)
    assert report["lost"] == [a.client_id]
    assert report["duplicates"] == [b.client_id]
    assert report["local_position"] != report["venue_position"]
