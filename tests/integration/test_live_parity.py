"""Parity: replaying real bars through the live runner and the paper venue gives exactly the
orders and trades of ``grekko backtest`` on the same bars and configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.engine.layout import ORDER_FIELDS, TRADE_FIELDS
from grekko_research.runs import run_backtest
from live.app import plan_run, run_plan
from live.events import EventStore
from live.orders import OrderManager
from tests.peers.replay_fills import backtest_fills, live_fills

_O = {n: i for i, n in enumerate(ORDER_FIELDS)}
_T = {n: i for i, n in enumerate(TRADE_FIELDS)}

COMMON = [
    "data.start=2021-01-04",
    "data.end=2021-01-25",  # three weeks of hourly bars
    "engine.taker_fee=0.001",
    "engine.slippage=bps",
    "engine.slippage_value=5",
]
CASES = {
    "sma_cross all-in": ["strategy=sma_cross", "strategy.params.fast=5", "strategy.params.slow=20"],
    "rsi percent sizing, lot": [
        "strategy=rsi_mean_reversion",
        "engine.sizing=percent",
        "engine.sizing_value=0.6",
    ],
    "bollinger with risk limits": [
        "strategy=bollinger_breakout",
        "risk=conservative",
    ],
    "xs_momentum five perpetuals": [
        "strategy=xs_momentum",
        "data=perps_1h",
        "data.start=2023-07-10",
        "data.end=2023-08-10",
        "strategy.params.lookback=48",
        "strategy.params.rebalance=12",
    ],
}


@pytest.mark.parametrize("case", list(CASES))
def test_replay_through_runner_matches_backtest(
    case: str, research_store: Path, tmp_path: Path
) -> None:
    assert_replay_parity([*COMMON, *CASES[case], f"live.state_dir={tmp_path}"], research_store)


def assert_replay_parity(overrides: list[str], research_store: Path) -> tuple[Any, list[Any]]:
    """Replay ``overrides``' run through the runner and the paper venue; assert it makes the
    backtest's fills, trades and equity exactly; return the backtest and the run's events."""
    cfg = compose_config(overrides)
    store = ParquetStore(research_store)
    backtest = run_backtest(cfg, store=store)
    expected = backtest_fills(backtest)
    assert len(expected) >= 4, "the case must trade to prove anything"

    plan = plan_run(cfg, replay=True)
    summary = run_plan(plan, store=store)
    assert summary.halted is None
    assert summary.bars == backtest.bars.n_bars

    with EventStore.open(plan.events) as log:
        log.verify().raise_if_broken()
        events = list(log.read())
    # Orders: execution time, symbol, side, quantity and price, exactly.
    live = live_fills(events)
    assert live == expected
    # Paper fills happen on the bar after the decision: the intent's decision bar is the
    # bar before the execution bar.
    om = OrderManager.replay(events)
    index = backtest.bars.index.tolist()
    for order in om.orders():
        fill_ts = om.fills(order.client_id)[0].ts_ms
        assert index.index(fill_ts) == index.index(order.decision_ts_ms) + 1
    # Trades: closed trades of the engine book equal the backtest's closed trades.
    trades = [e.payload for e in events if e.kind == "trade_closed"]
    rec = backtest.result.trade_records
    closed = rec[rec[:, _T["is_open"]] == 0]
    assert len(trades) == len(closed)
    for got, want in zip(trades, closed, strict=True):
        for name in ("entry_bar", "exit_bar", "entry_price", "exit_price", "size", "pnl", "fees"):
            assert got[name] == float(want[_T[name]]), (name, got, want)
    # Equity at the last close.
    last = [e.payload for e in events if e.kind == "bar_closed"][-1]
    assert last["equity"] == pytest.approx(backtest.result.final_equity, rel=0, abs=0)
    return backtest, events


def test_replay_with_a_calibrated_cost_model_matches_backtest(
    research_store: Path, tmp_path: Path
) -> None:
    """The engine book plans and the paper venue fills with the run's calibrated cost model
    (its slippage from each decision bar's volume and volatility), as the backtest does."""
    from grekko_research.engine.costs import CostModel
    from grekko_research.tracking._costs import log_cost_models

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    model = CostModel("BTC/USDT", venue="paper", a=2.0, b=300.0, c=0.5, vol_window=10)
    run_id = log_cost_models([model], name="parity", uri=uri)
    case = [*COMMON, *CASES["sma_cross all-in"], "engine.sizing=percent", "engine.sizing_value=0.5"]
    costed = [*case, "costs=calibrated", f"costs.run_id={run_id}", f"costs.tracking_uri={uri}"]
    backtest, events = assert_replay_parity([*costed, f"live.state_dir={tmp_path}"], research_store)
    # The engine book expected each fill at the price the venue then made (its own features
    # of the decision bar: the volume and volatility of the bars it closed).
    planned = [p["price"] for e in events if e.kind == "decision"
               for p in e.payload.get("planned", []) if p["status"] == "filled"]  # fmt: skip
    assert planned == [x[4] for x in live_fills(events)]
    # The model priced every fill: the same orders pay more than at the bar model's 5 bps.
    plain = backtest_fills(run_backtest(compose_config(case), store=ParquetStore(research_store)))
    costly = backtest_fills(backtest)
    assert [x[:3] for x in costly] == [x[:3] for x in plain]
    assert costly != plain


def test_parity_check_is_sharp(research_store: Path, tmp_path: Path) -> None:
    """A different fee in the live run changes the fills' sizes: the comparison catches it."""
    base = [*COMMON, *CASES["sma_cross all-in"]]
    store = ParquetStore(research_store)
    backtest = run_backtest(compose_config(base), store=store)
    plan = plan_run(
        compose_config([*base, "engine.taker_fee=0.0011", f"live.state_dir={tmp_path}"]),
        replay=True,
    )
    run_plan(plan, store=store)
    with EventStore.open(plan.events) as log:
        live = live_fills(list(log.read()))
    expected = backtest_fills(backtest)
    assert [x[:3] for x in live] == [x[:3] for x in expected]
    assert live != expected
    assert np.isfinite([x[3] for x in live]).all()
