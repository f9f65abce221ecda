"""Position stops in live runs: replaying real bars through the runner, whose emulated stops
fire with the engine's rule, gives exactly the orders and trades of ``grekko backtest`` with
the same stops — stop-loss and take-profit as a percentage, in price units and in ATRs,
trailing stops, and ``donchian_trend``'s ATR stop."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.engine.layout import KIND_NAMES, ORDER_FIELDS, TRADE_FIELDS
from grekko_research.runs import run_backtest
from grekko_research.strategy.registry import _LOCAL, register_strategy
from live.app import plan_run, run_plan
from live.events import EventStore
from live.orders import OrderManager
from strategies.atr_stop_trend import AtrStopTrend
from tests.peers.replay_fills import Fill, backtest_fills

_O = {n: i for i, n in enumerate(ORDER_FIELDS)}
_T = {n: i for i, n in enumerate(TRADE_FIELDS)}

COMMON = [
    "data.start=2021-01-04",
    "data.end=2021-01-25",  # three weeks of hourly BTC/USDT
    "engine.taker_fee=0.001",
    "engine.slippage=bps",
    "engine.slippage_value=5",
]
ATS = ["strategy=atr_stop_trend", "strategy.params.fast=5", "strategy.params.slow=20"]
CASES = {
    "stop-loss and take-profit %": [
        *ATS, "strategy.params.stop=0.01", "strategy.params.stop_kind=pct",
        "strategy.params.take_profit=0.02", "strategy.params.take_profit_kind=pct",
    ],
    "stop-loss and take-profit in ATRs": [
        *ATS, "strategy.params.stop=1.5", "strategy.params.take_profit=3",
    ],
    "absolute stop-loss, trailing %": [
        *ATS, "strategy.params.stop=600", "strategy.params.stop_kind=abs",
        "strategy.params.trailing=0.015", "strategy.params.trailing_kind=pct",
    ],
    "ATR trailing stop": [*ATS, "strategy.params.stop=0", "strategy.params.trailing=2"],
    # The trailing peak moves at a close: a close already below the new level gaps at the open.
    "tight % trailing stop, gaps at the open": [
        *ATS, "strategy.params.stop=0", "strategy.params.trailing=0.004",
        "strategy.params.trailing_kind=pct",
    ],
    "donchian_trend ATR stop": [
        "strategy=donchian_trend", "strategy.params.entry_window=12",
        "strategy.params.exit_window=6", "strategy.params.atr_stop=1.0",
    ],
}  # fmt: skip


@pytest.fixture(autouse=True)
def _atr_stop_trend() -> Iterator[None]:
    """The new reference strategy, registered here too (an entry point once installed)."""
    register_strategy(AtrStopTrend)
    yield
    _LOCAL.pop(AtrStopTrend.name, None)


def live_fills(events: list[object]) -> list[Fill]:
    """(execution time, symbol, side, quantity, price) of every fill of a run's log. A stop's
    exit executes on the bar it fired in (its order's ``trigger_ts_ms``); the runner learns of
    an exit inside a bar when the bar closes, which is the time its ``order_fill`` carries."""
    om = OrderManager.replay(events)
    out = []
    for f in om.fills():
        o = om.order(f.client_id)
        ts = o.trigger_ts_ms if o.tag is not None and o.trigger_ts_ms is not None else f.ts_ms
        out.append((ts, o.symbol, o.side, float(f.qty), float(f.price)))
    return out


def _stop_exits(run: object) -> Counter[str]:
    rec = run.result.order_records  # type: ignore[attr-defined]
    kinds = [KIND_NAMES[int(k)] for k in rec[rec[:, _O["status"]] == 0][:, _O["kind"]]]
    return Counter(k for k in kinds if k in ("stop_loss", "take_profit", "trailing_stop"))


@pytest.mark.parametrize("case", list(CASES))
def test_replay_with_stops_matches_backtest(
    case: str, research_store: Path, tmp_path: Path
) -> None:
    cfg = compose_config([*COMMON, *CASES[case], f"live.state_dir={tmp_path}"])
    store = ParquetStore(research_store)
    backtest = run_backtest(cfg, store=store)
    expected = backtest_fills(backtest)
    stops = _stop_exits(backtest)
    assert sum(stops.values()) >= 2, f"the case must exit by its stops: {stops}"

    plan = plan_run(cfg, replay=True)
    summary = run_plan(plan, store=store)
    assert summary.halted is None
    with EventStore.open(plan.events) as log:
        log.verify().raise_if_broken()
        events = list(log.read())
    # Every fill: execution time, symbol, side, quantity and price, exactly.
    assert live_fills(events) == expected
    # The runner fired each stop exit the backtest made, of the same kind.
    exits = [x for e in events if e.kind == "stop_triggered" for x in e.payload["exits"]]
    assert Counter(x["kind"] for x in exits) == stops
    if "gaps at the open" in case:
        assert any(x["at_open"] for x in exits), "the case must gap through a stop at an open"
    # Closed trades, with their exit kinds, and the equity at the last close.
    trades = [e.payload for e in events if e.kind == "trade_closed"]
    rec = backtest.result.trade_records
    closed = rec[rec[:, _T["is_open"]] == 0]
    assert len(trades) == len(closed)
    for got, want in zip(trades, closed, strict=True):
        for name in ("entry_bar", "exit_bar", "entry_price", "exit_price", "size", "pnl", "fees",
                     "exit_kind"):  # fmt: skip
            if name in _T:
                assert got[name] == float(want[_T[name]]), (name, got, want)
    last = [e.payload for e in events if e.kind == "bar_closed"][-1]
    assert last["equity"] == backtest.result.final_equity
