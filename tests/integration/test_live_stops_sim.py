"""Strategies with position stops against the local Binance simulator (``grekko-live sim``, its
own process, market clock running), through the real ccxt client: ``atr_stop_trend`` with tight
stops trades real orders whose stop exits the runner fires and the venue fills, and the books
agree; ``donchian_trend`` (ATR stop) runs live and on paper."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from grekko_research.strategy.registry import _LOCAL, register_strategy
from live.events import EventStore
from live.orders import OrderManager
from strategies.atr_stop_trend import AtrStopTrend
from tests.integration.test_live_binance_sim import ENV, REHEARSAL, live
from tests.peers.sim_cli import sim_process


@pytest.fixture
def sim(shared_data: Path) -> Iterator[str]:
    with sim_process(shared_data, ENV) as url:
        yield url


@pytest.fixture(autouse=True)
def _atr_stop_trend() -> Iterator[None]:
    register_strategy(AtrStopTrend)  # in-process (the CLI runs here); an entry point installed
    yield
    _LOCAL.pop(AtrStopTrend.name, None)


def test_stop_exits_reach_the_simulator_and_the_books_agree(sim: str, tmp_path: Path) -> None:
    common = ["--venue", "binance", "--venue-url", sim, "--strategy", "atr_stop_trend",
              "--params", "fast=2", "--params", "slow=5", "--params", "stop=0.002",
              "--params", "stop_kind=pct", "--params", "take_profit=0.004",
              "--params", "take_profit_kind=pct", "--state-dir", str(tmp_path)]  # fmt: skip
    code, out = live(["run", *common, "--mode", "live", "--confirm-live", "binance",
                      "--max-bars", "30", "risk=conservative", *REHEARSAL])  # fmt: skip
    assert code == 0, out
    events_path = out.strip().splitlines()[-1]
    with EventStore.open(events_path) as log:
        events = list(log.read())
    exits = [x for e in events if e.kind == "stop_triggered" for x in e.payload["exits"]]
    assert exits, "the run must exit by a stop to prove anything"
    om = OrderManager.replay(events)
    for x in exits:
        order = om.order(x["client_id"])
        assert order.reduce_only and order.tag == x["kind"]
        assert order.venue_order_id, "the exit reached the simulator"
    trades = [e.payload for e in events if e.kind == "trade_closed"]
    kinds = {t["exit_kind"] for t in trades}
    assert kinds & {5.0, 6.0}, f"a trade must close by its stop: {kinds}"
    code, out = live(["reconcile", *common, "--mode", "live", "risk=conservative"])
    assert code == 0 and "books agree" in out, out


def test_donchian_trend_runs_live_and_on_paper_against_the_simulator(
    sim: str, tmp_path: Path
) -> None:
    common = ["--venue", "binance", "--venue-url", sim, "--strategy", "donchian_trend",
              "--params", "entry_window=6", "--params", "exit_window=3",
              "--state-dir", str(tmp_path)]  # fmt: skip
    code, out = live(["run", *common, "--mode", "live", "--confirm-live", "binance",
                      "--max-bars", "6", "risk=conservative", *REHEARSAL])  # fmt: skip
    assert code == 0, out
    code, out = live(["status", "--events", out.strip().splitlines()[-1], "--json"])
    status = json.loads(out)
    assert status["bars"] == 6 and status["halted"] is None and status["open_orders"] == 0
    code, out = live(["run", *common, "--max-bars", "4"])
    assert code == 0, out
