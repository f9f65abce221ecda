"""Issue 19 item 10: the DEX paper venue on replayed pool state equals the AMM backtest.

The runner drives :class:`~live.venues.dex_paper.DexPaperVenue` over a real pool's day of logs
(the shared Uniswap V3 USDC/WETH 0.05 % pool, 2024-01-05, folded by ``PoolState``); the research
engine backtests the same strategy on the same bars and pool rows (``FILL_AMM``). Every fill
(time, side, size, price: impact, LP fee and gas are in the price), every closed trade (prices,
size, P&L, fees) and the final equity must be equal, bit for bit.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from grekko_research.config import compose_config, engine_config
from grekko_research.dex.events import PoolEvent, read_raw_logs
from grekko_research.dex.fill import AmmFillRule
from grekko_research.dex.series import PoolSeries, replayed_bars
from grekko_research.engine import backtest
from grekko_research.engine.layout import POOL_GAS, TRADE_FIELDS
from grekko_research.errors import ConfigError
from grekko_research.strategy import get_strategy
from live.app import plan_run, run_plan
from live.events import EventStore
from live.orders import OrderManager, OrderState
from live.venues.dex_paper import DexPaperVenue
from tests.peers.replay_fills import backtest_fills, live_fills

POOL_005 = "uniswap/ethereum-0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640-2024-01-05.raw.csv.gz"
SYMBOL = "WETH/USDC"
_T = {n: i for i, n in enumerate(TRADE_FIELDS)}
_TRADE_KEYS = ("entry_bar", "exit_bar", "entry_price", "exit_price", "size", "pnl", "fees")


@pytest.fixture(scope="module")
def events_005(shared_data: Path) -> list[PoolEvent]:
    return read_raw_logs(shared_data / POOL_005)


def _pool(events: list[PoolEvent], rule: AmmFillRule) -> tuple[Any, PoolSeries]:
    return replayed_bars(events, SYMBOL, fee_pips=500, decimals0=6, decimals1=18,
                         timeframe="5m", rule=rule)  # fmt: skip


def _config(tmp: Path, *extra: str) -> Any:
    return compose_config([
        "data=polygon_weth_usdc_dex", "engine=dex", "strategy=sma_cross",
        "strategy.params.fast=5", "strategy.params.slow=20", "data.timeframe=5m",
        f"live.state_dir={tmp}", *extra,
    ])  # fmt: skip


def _backtest(cfg: Any, bars: Any, series: PoolSeries) -> Any:
    strategy = get_strategy(cfg.strategy.name)
    params = strategy.params(dict(cfg.strategy.params))
    engine = strategy.configure(engine_config(cfg), params)
    result = backtest(bars, strategy.signals(bars, params), engine, pools={SYMBOL: series})
    return SimpleNamespace(result=result, bars=bars)


def _replay(cfg: Any, bars: Any, series: PoolSeries) -> tuple[list[Any], DexPaperVenue]:
    plan = plan_run(cfg, replay=True)
    venue = DexPaperVenue.from_replay(plan.spec.engine, bars, {SYMBOL: series})
    summary = run_plan(plan, venue=venue)
    assert summary.halted is None
    assert summary.bars == bars.n_bars
    with EventStore.open(plan.events) as log:
        log.verify().raise_if_broken()
        return list(log.read()), venue


def _assert_parity(run: Any, events: list[Any]) -> None:
    assert live_fills(events) == backtest_fills(run)
    trades = [e.payload for e in events if e.kind == "trade_closed"]
    rec = run.result.trade_records
    closed = rec[rec[:, _T["is_open"]] == 0]
    assert len(trades) == len(closed) > 0
    for got, want in zip(trades, closed, strict=True):
        for name in _TRADE_KEYS:
            assert got[name] == float(want[_T[name]]), (name, got, want)
    last = [e.payload for e in events if e.kind == "bar_closed"][-1]
    assert last["equity"] == run.result.final_equity


@pytest.mark.parametrize("cash", [100_000.0, 2_000_000.0])
def test_runner_on_replayed_pool_logs_equals_the_amm_backtest(
    events_005: list[PoolEvent], tmp_path: Path, cash: float
) -> None:
    rule = AmmFillRule(max_price_impact=0.01, gas_quote=2.0)
    bars, series = _pool(events_005, rule)
    cfg = _config(tmp_path, f"engine.init_cash={cash}")
    run = _backtest(cfg, bars, series)
    expected = backtest_fills(run)
    assert len(expected) >= 6, "the case must trade to prove anything"
    events, venue = _replay(cfg, bars, series)
    _assert_parity(run, events)
    # the fills are swaps, not bar prices: buys above the open, sales below it (LP fee,
    # impact, gas), and every fill carries the gas of its bar's pool row
    index = bars.index.tolist()
    for ts, _, side, _, price in expected:
        t = index.index(ts)
        assert (price > bars.open[t, 0]) if side == "buy" else (price < bars.open[t, 0])
    for f in venue.account.fills:
        t = index.index(f["ts"])
        assert float(f["gas"]) == series.rows[t, POOL_GAS] == 2.0


def test_an_order_over_the_impact_limit_is_shrunk_as_the_backtest_shrinks_it(
    events_005: list[PoolEvent], tmp_path: Path
) -> None:
    """A large account against a tight price-impact limit: the pool fills part of each entry,
    the rest is cancelled (a swap is immediate-or-cancel), and the runner books what filled."""
    rule = AmmFillRule(max_price_impact=0.0008, gas_quote=2.0)  # LP fee 0.05 % + 3 bps
    bars, series = _pool(events_005, rule)
    cfg = _config(tmp_path, "engine.init_cash=50000000")
    run = _backtest(cfg, bars, series)
    events, venue = _replay(cfg, bars, series)
    _assert_parity(run, events)
    shrunk = [f for f in venue.account.fills if float(f["qty"]) < float(f["ordered"]) * 0.9]
    assert shrunk, "the limit must shrink some entries"
    om = OrderManager.replay(events)
    cut = [o for o in om.orders() if o.state is OrderState.CANCELLED and o.filled_qty > 0]
    assert len(cut) >= len(shrunk)


def test_the_comparison_is_sharp(events_005: list[PoolEvent], tmp_path: Path) -> None:
    """A 5 bps MEV haircut on the paper venue's pool only: the sizes and prices differ."""
    rule = AmmFillRule(max_price_impact=0.01, gas_quote=2.0)
    bars, series = _pool(events_005, rule)
    cfg = _config(tmp_path)
    run = _backtest(cfg, bars, series)
    other = replace(series, rule=replace(rule, mev_haircut_bps=5.0))
    events, _ = _replay(cfg, bars, other)
    live, want = live_fills(events), backtest_fills(run)
    assert [x[:3] for x in live] == [x[:3] for x in want]
    assert live != want
    assert np.isfinite([x[4] for x in live]).all()


def test_a_pool_without_liquidity_rejects_with_a_reason(
    events_005: list[PoolEvent], tmp_path: Path
) -> None:
    bars, series = _pool(events_005, AmmFillRule(gas_quote=2.0))
    rows = series.rows.copy()
    rows[:, 0] = 0.0  # no liquidity in range at any bar
    events, _ = _replay(_config(tmp_path), bars, replace(series, rows=rows))
    rejected = [e.payload["reason"] for e in events if e.kind == "order_rejected"]
    assert rejected and all("pool refused the swap" in r for r in rejected)
    assert not live_fills(events)


def test_bad_inputs_are_refused_by_name(events_005: list[PoolEvent], tmp_path: Path) -> None:
    bars, series = _pool(events_005, AmmFillRule())
    engine = engine_config(_config(tmp_path))
    with pytest.raises(ConfigError, match="pools \\['BTC/USDC'\\]"):
        DexPaperVenue.from_replay(engine, bars, {"BTC/USDC": series})
    with pytest.raises(ConfigError, match="rows"):
        DexPaperVenue.from_replay(engine, bars, {SYMBOL: replace(series, rows=series.rows[:-1])})
    with pytest.raises(ConfigError, match="sizing 'all'"):
        DexPaperVenue.from_replay(
            engine_config(_config(tmp_path, "engine.sizing=all")), bars, {SYMBOL: series}
        )
