"""Parity with volatility-target sizing: a ``grekko-live replay`` of real bars (the live runner
and the paper venue, in process) sizes every entry exactly as ``grekko backtest`` does.

The entry size is ``target / vol × equity / price`` with ``vol`` the annualised volatility of
the last ``vol_window`` returns: the annualisation (bars per year, :mod:`grekko_research.calendar`)
enters every quantity, so a live side annualising with another year (365.25 days instead of
the backtest's 365) trades quantities off by ``sqrt(365.25 / 365) − 1 ≈ 3.4e-4`` and fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.engine.layout import ORDER_FIELDS, TRADE_FIELDS
from grekko_research.runs import run_backtest
from live.app import plan_run, run_plan
from live.events import EventStore
from tests.peers.replay_fills import backtest_fills, live_fills

_O = {n: i for i, n in enumerate(ORDER_FIELDS)}
_T = {n: i for i, n in enumerate(TRADE_FIELDS)}

CASES = {
    # one asset, hourly: long entries sized to 40 % annualised volatility
    "sma_cross 1h": [
        "strategy=sma_cross",
        "strategy.params.fast=5",
        "strategy.params.slow=20",
        "data.start=2021-01-04",
        "data.end=2021-01-25",
    ],
    # daily bars (365 bars a year: the convention shows most plainly)
    "bollinger 1d": [
        "strategy=bollinger_breakout",
        "data=btc_1d",
        "data.start=2020-01-01",
        "data.end=2021-06-30",
    ],
}
COMMON = [
    "engine.taker_fee=0.001",
    "engine.slippage=bps",
    "engine.slippage_value=5",
    "engine.sizing=vol_target",
    "engine.sizing_value=0.4",
]


@pytest.mark.parametrize("case", list(CASES))
def test_vol_target_replay_equals_backtest_bit_for_bit(
    case: str, research_store: Path, tmp_path: Path
) -> None:
    cfg = compose_config([*COMMON, *CASES[case], f"live.state_dir={tmp_path}"])
    store = ParquetStore(research_store)
    backtest = run_backtest(cfg, store=store)
    expected = backtest_fills(backtest)
    assert len(expected) >= 4, "the case must trade to prove anything"
    # vol-target sizing really sized these (not all-in): the sizes differ from entry to entry
    assert len({round(x[3] * x[4], 6) for x in expected if x[2] == "buy"}) > 1

    plan = plan_run(cfg, replay=True)
    summary = run_plan(plan, store=store)
    assert summary.halted is None
    assert summary.bars == backtest.bars.n_bars
    with EventStore.open(plan.events) as log:
        events = list(log.read())

    # Every fill: execution time, symbol, side, quantity and price, exactly (==, not approx).
    assert live_fills(events) == expected
    trades = [e.payload for e in events if e.kind == "trade_closed"]
    rec = backtest.result.trade_records
    closed = rec[rec[:, _T["is_open"]] == 0]
    assert len(trades) == len(closed)
    for got, want in zip(trades, closed, strict=True):
        for name in ("entry_price", "exit_price", "size", "pnl", "fees"):
            assert got[name] == float(want[_T[name]]), (name, got, want)
    last = [e.payload for e in events if e.kind == "bar_closed"][-1]
    assert last["equity"] == backtest.result.final_equity
