"""Execution algorithms against the Binance simulator through the real ccxt client: a TWAP, a
limit chaser, an iceberg and a VWAP (manual requests) worked by a runner that is SIGKILLed again and
again mid-schedule (before a decision is persisted, before a child is sent, after the venue
answered) and restarted (``tests/peers/algo_crash.py``).

Checked from the run's log and the simulator's books: every child the decisions created
reached the venue exactly once (none lost, none duplicated, no order the log does not know),
fills and positions agree; and the backtest of the same parents (``schedule_orders`` expanded
into orders-mode orders, the engine's own fill rules) places the same children on the same
bars and fills them at the same prices and sizes as the live run.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Fees, MarketRules, Orders, backtest
from grekko_research.engine.algos import Parent, parse_algo, schedule_orders
from live.events import EventStore, LogKey
from live.orders import OrderManager
from tests.integration.test_live_crash import KEY, ROOT, SECRET, SimProcess
from tests.peers.live_crash import LOG_KEY

BARS = 40
POINTS = "before_intent,before_send,after_send"
KILLS = 6
CANDLES = "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz"
TF_MS = 3_600_000

pytestmark = pytest.mark.timeout(240)  # a cold numba cache compiles the engine book first


class FollowingSim(SimProcess):
    """The simulator process, its market clock at the first bar, following the runner's replay."""

    def __init__(self, candles: Path, follow: Path, bars: int = BARS) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests/peers/sim_process.py"), "--candles", str(candles),
             "--key", KEY, "--secret", SECRET, "--bars", str(bars), "--bar", "0",
             "--follow", str(follow)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        self.url = json.loads(self.proc.stdout.readline())["url"]


def run_algos(
    shared_data: Path, state: Path, kills: int, *extra: str, points: str = POINTS, bars: int = BARS
) -> tuple[dict, list, dict]:
    candles = shared_data / CANDLES
    follow = state.parent / f"{state.name}.clock"
    sim = FollowingSim(candles, follow, bars)
    try:
        run = subprocess.run(
            [sys.executable, str(ROOT / "tests/peers/algo_crash.py"), "--url", sim.url,
             "--follow", str(follow), "--points", points, "--kills", str(kills),
             "--state", str(state), "--candles", str(candles), "--bars", str(bars),
             "--key", KEY, "--secret", SECRET, *extra],
            capture_output=True, text=True, timeout=200,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        result = json.loads(run.stdout.strip().splitlines()[-1])
        ledger = sim.ask("ledger")
    finally:
        sim.close()
    with EventStore.open(state / "events.db", key=LogKey(LOG_KEY)) as log:
        log.verify().raise_if_broken()
        events = list(log.read())
    return result, events, ledger


def child_audit(events: list[Any], ledger: dict) -> dict[str, Any]:
    """Children lost (created, never at the venue) or duplicated (at the venue twice, or at the
    venue and unknown to the log), and whether fills and positions agree."""
    intended = [c for e in events if e.kind == "decision" for c in e.payload["intents"]]
    # A create lost to a kill before it left (``before_send``) is re-issued under a new id.
    retry_of = {e.payload["retry"]: e.payload["of"] for e in events if e.kind == "retry_created"}

    def root(cid: str) -> str:
        while cid in retry_of:
            cid = retry_of[cid]
        return cid

    at_venue = Counter(root(cid) for cid, *_ in ledger["orders"])
    om = OrderManager.replay(events)
    venue_pos = sum((Decimal(q) if s == "BUY" else -Decimal(q) for _, s, q, _, _ in ledger["fills"]),
                    Decimal(0))  # fmt: skip
    return {
        "intended": intended,
        "lost": [c for c in intended if at_venue[c] == 0],
        "duplicates": [c for c, n in at_venue.items() if n > 1 or c not in set(intended)]
        + [c for c, n in Counter(intended).items() if n > 1],
        "retries": len(retry_of),
        "fills_differ": {(f.client_id, f.trade_id) for f in om.fills()}
        ^ {(cid, tid) for cid, _, _, _, tid in ledger["fills"]},
        "positions": (om.position("BTC/USDT"), venue_pos),
    }


def backtest_of(
    events: list[Any], frame: pd.DataFrame, n_bars: int = BARS
) -> tuple[list[Parent], pd.DataFrame]:
    """The run's parents (as ``algo_started`` records them; a resting child's limit as its
    first child's ``order_created``; a cancel as ``algo_cancelled``) simulated by the engine on
    the same bars."""
    f = frame.head(n_bars)
    col = lambda c: f[[c]].to_numpy(np.float64)  # noqa: E731
    bars = Bars(index=f.timestamp.to_numpy(np.int64), symbols=("BTC/USDT",), timeframe="1h",
                open=col("open"), high=col("high"), low=col("low"), close=col("close"),
                volume=col("volume"))  # fmt: skip
    created = {e.stream: e.payload for e in events if e.kind == "order_created"}
    cancels = {e.payload["parent_id"]: int(np.searchsorted(bars.index, e.payload["at_ts"]))
               for e in events if e.kind == "algo_cancelled"}  # fmt: skip
    parents = []
    for e in events:
        if e.kind != "algo_started":
            continue
        p = e.payload
        first = next((c for c in created.values() if c["decision_ts_ms"] == p["start_ts"]
                      and c["seq"] == 60_000 + 100_000 * p["n"]), None)  # fmt: skip
        limit = None if first is None or first["limit_price"] is None else first["limit_price"]
        parents.append(Parent(
            0, p["side"], Decimal(p["qty"]), int(np.searchsorted(bars.index, p["start_ts"])),
            parse_algo(p["spec"], TF_MS), None if limit is None else Decimal(limit),
            lot=Decimal("0.00001"), cancel=cancels.get(p["parent_id"]),
        ))  # fmt: skip
    arrays = schedule_orders(bars.n_bars, 1, parents, bars)
    config = EngineConfig(fees=Fees(taker=0.001), market=MarketRules(lot_size=0.00001,
                          tick_size=0.01))  # fmt: skip
    result = backtest(bars, Orders(**arrays), config)
    orders = result.orders
    return parents, orders[orders.status == "filled"]


def live_children(events: list[Any]) -> list[tuple[int, str, Decimal, Decimal | None]]:
    """Each child as (decision bar ts, type, qty, limit), in placement order."""
    created = {e.stream: e.payload for e in events if e.kind == "order_created"}
    out = []
    for e in events:
        if e.kind == "decision":
            for cid in e.payload["intents"]:
                c = created[cid]
                limit = None if c["limit_price"] is None else Decimal(c["limit_price"])
                out.append((e.payload["ts"], c["order_type"], Decimal(c["qty"]), limit))
    return out


@pytest.fixture(scope="module")
def crashed(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    state = tmp_path_factory.mktemp("algos") / "run"
    return run_algos(shared_data, state, KILLS)


def test_sigkill_mid_schedule_loses_and_duplicates_no_child(crashed: tuple) -> None:
    result, events, ledger = crashed
    report = child_audit(events, ledger)
    kinds = [e.payload["spec"]["kind"] for e in events if e.kind == "algo_started"]
    print(f"\nalgos under SIGKILL: {result['kills']} kills, {result['restarts']} restarts, "
          f"parents {kinds}, {len(report['intended'])} children, {len(ledger['orders'])} venue "
          f"orders, re-issued creates {report['retries']}, lost {len(report['lost'])}, duplicates "
          f"{len(report['duplicates'])}, "
          f"{result['wall_s']} s")  # fmt: skip
    assert result["kills"] == KILLS
    assert kinds == ["twap", "chase", "iceberg", "vwap"]
    assert report["lost"] == [] and report["duplicates"] == []
    assert report["fills_differ"] == set()
    local, venue = report["positions"]
    assert local == venue == Decimal("0.06")  # 0.04 TWAP + 0.02 chased - 0.03 iceberg + 0.03 VWAP


def test_the_backtest_simulates_the_same_schedule(crashed: tuple, shared_data: Path) -> None:
    _, events, ledger = crashed
    frame = pd.read_csv(shared_data / CANDLES)
    parents, filled = backtest_of(events, frame)
    index = frame.timestamp.to_numpy(np.int64)
    simulated = [(int(index[c.bar]), c.kind, c.qty, c.price) for p in parents for c in p.children]
    assert live_children(events) == simulated
    # The chaser went to market (its limit rested two bars untouched); the iceberg's clips filled
    # one after the other, some resting (at the limit), some marketable when placed (at the open).
    kinds = [c.kind for c in parents[1].children]
    assert kinds == ["limit", "market"], kinds
    assert len(parents[2].children) == 3
    # The VWAP's children follow the run's volume profile (logged with the parent): unequal.
    vwap = [c.qty for c in parents[3].children]
    started = [e.payload for e in events if e.kind == "algo_started"]
    assert started[3]["profile"]["source"] == "window"  # the run has no research store
    assert sum(vwap) == Decimal("0.03") and len(set(vwap)) > 1, vwap
    live = [(s, Decimal(q), Decimal(p)) for _, s, q, p, _ in ledger["fills"]]
    engine = [("BUY" if r.side > 0 else "SELL", Decimal(repr(abs(r.size))).quantize(Decimal("1e-5")),
               Decimal(repr(r.price)).quantize(Decimal("0.01"))) for r in filled.itertuples()]  # fmt: skip
    assert live == engine


def test_a_cancelled_twap_sends_no_child_after_the_cancel_even_across_a_sigkill(
    shared_data: Path, tmp_path: Path
) -> None:
    """A TWAP of 6 cancelled after its third child (``order cancel --parent``'s request), the
    runner SIGKILLed right after the cancel is logged (before it acts on it) and restarted: no
    child after the cancel, the parent listed as cancelled with half filled, and the backtest
    of the logged parent (cancelled at the same bar) fills what the venue filled."""
    from rich.console import Console

    from live.state import fold_run
    from live.status_view import print_parents

    bars = 12
    result, events, ledger = run_algos(
        shared_data, tmp_path / "run", 1, "--scenario", "cancel", "--max-nth", "1",
        points="after_algo_cancel", bars=bars,
    )  # fmt: skip
    assert result["kills"] == 1
    cancels = [e.payload for e in events if e.kind == "algo_cancelled"]
    assert len(cancels) == 1 and cancels[0]["by"] == "test"
    at = cancels[0]["at_ts"]
    report = child_audit(events, ledger)
    assert report["lost"] == [] and report["duplicates"] == []
    children = live_children(events)
    assert len(children) == 3 and all(ts < at for ts, *_ in children), (at, children)
    assert len(ledger["orders"]) == 3
    (row,) = fold_run(events).parent_rows()
    assert (row["state"], row["filled"], row["children_sent"]) == ("cancelled", "0.03", 3), row
    console = Console(record=True, width=120)
    print_parents(console, [row])  # what grekko-live orders --parents prints
    text = console.export_text()
    assert row["parent_id"] in text and "3/3 filled" in text and "cancelled (test: test)" in text
    parents, filled = backtest_of(events, pd.read_csv(shared_data / CANDLES), bars)
    index = pd.read_csv(shared_data / CANDLES).timestamp.to_numpy(np.int64)
    simulated = [(int(index[c.bar]), c.kind, c.qty, c.price) for p in parents for c in p.children]
    assert children == simulated
    live = [(s, Decimal(q), Decimal(p)) for _, s, q, p, _ in ledger["fills"]]
    engine = [("BUY" if r.side > 0 else "SELL", Decimal(repr(abs(r.size))).quantize(Decimal("1e-5")),
               Decimal(repr(r.price)).quantize(Decimal("0.01"))) for r in filled.itertuples()]  # fmt: skip
    assert live == engine
