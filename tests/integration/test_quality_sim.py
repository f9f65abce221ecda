"""Execution quality of a real run: the runner trades sma_cross against the Binance simulator
(in this process, the real ccxt client) with a known slippage, fee and latency injected, and
``grekko-live quality`` recovers them from the run's event log."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from grekko_research.engine import EngineConfig, MarketRules
from grekko_research.strategy import get_strategy
from live.events import EventStore
from live.quality import quality_table, summarize
from live.runner import Runner, RunnerSpec
from live.sim import Simulator, start_simulator
from live.venues.base import Bar
from live.venues.credentials import Credentials
from live.venues.registry import make_venue

KEY, SECRET = "quality-key-0123456789", "quality-secret-abcdefghij"
SLIP_BPS = 7  # what the simulator's taker fills pay through the market price
LATENCY_S = 0.04  # what the simulator waits before answering each order
FEE_BPS = 10  # the simulator's fee rate (0.001), charged in USDT
BARS = 48

pytestmark = pytest.mark.timeout(120)  # a cold numba cache compiles the engine book first


def wall_ms() -> int:
    return int(time.time() * 1000)


class SimReplay:
    """The simulator's orders, account and ticker through the ccxt adapter; bars replayed from
    the candles, the simulator's market clock moved to the next bar's open as each one closes
    (a decision on bar t meets the market of bar t + 1, as in the backtest)."""

    def __init__(
        self, exchange: Any, sim: Simulator, frame: pd.DataFrame, others: tuple[Any, ...] = ()
    ) -> None:
        self.exchange, self.sim, self.frame = exchange, sim, frame
        self.others = others  # more simulators whose clocks move with it (a routed run's)
        self.name = "binance"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.exchange, name)

    def now_ms(self) -> int:
        return wall_ms()

    async def health(self) -> Any:
        from dataclasses import replace

        return replace(await self.exchange.health(), realtime=False)

    async def history(self, symbols: Any, timeframe: str, count: int) -> list[Bar]:
        return []

    async def bars(self, symbols: Any, timeframe: str, since_ms: int | None) -> AsyncIterator[Bar]:
        f = self.frame
        for t in range(len(f) - 1):
            for sim in (self.sim, *self.others):
                sim.advance_to(int(f.timestamp[t + 1]))
            yield Bar("BTC/USDT", int(f.timestamp[t]), float(f.open[t]), float(f.high[t]),
                      float(f.low[t]), float(f.close[t]), float(f.volume[t]))  # fmt: skip


@pytest.fixture(scope="module")
def quality_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of sma_cross 2/5 over 48 hourly bars against the simulator, with every order's
    answer delayed by 40 ms, every taker fill 7 bps through the market, and the first order
    refused."""
    frame = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz").head(BARS)
    folder = tmp_path_factory.mktemp("quality") / "run"
    folder.mkdir()

    order = {"path": "/api/v3/order", "method": "POST"}
    faults = [
        ("latency", {"times": None, "seconds": LATENCY_S, **order}),
        ("slippage", {"times": None, "bps": SLIP_BPS}),
        ("refuse", {"times": 1, "code": -2010, "msg": "insufficient balance (injected)", **order}),
    ]
    engine = EngineConfig(market=MarketRules(lot_size=0.00001))
    return sim_run(frame, folder / "events.db", "quality", engine, faults)


def sim_run(
    frame: pd.DataFrame,
    log: Path,
    run_id: str,
    engine: EngineConfig,
    faults: list[tuple[str, dict[str, Any]]],
) -> Path:
    """sma_cross 2/5 over ``frame``'s bars against the Binance simulator (1,000,000 USDT)
    through ccxt, the runner in this process (:class:`SimReplay`), with ``faults`` set on the
    simulator first; returns the run's log."""

    async def main() -> None:
        sim = await start_simulator(
            candles={"BTCUSDT": frame}, api_key=KEY, api_secret=SECRET,
            balances={"USDT": "1000000", "BTC": "0"},
        )  # fmt: skip
        for kind, params in faults:
            sim.set_fault(kind, **params)
        strategy = get_strategy("sma_cross")
        spec = RunnerSpec(
            run_id, strategy, strategy.params({"fast": 2, "slow": 5}), engine, ("BTC/USDT",),
            "1h", grace_ms=300, reconcile_every_ms=10**12,
        )  # fmt: skip
        exchange = make_venue(
            "binance", urls=sim.url, credentials=Credentials(KEY, SECRET), rate_limit=False
        )
        with EventStore.open(log) as store:
            try:
                await Runner(spec, SimReplay(exchange, sim, frame), store, clock=wall_ms).run()
            finally:
                await exchange.close()
                await sim.close()

    asyncio.run(main())
    return log


def test_the_quality_table_recovers_the_injected_costs(quality_run: Path) -> None:
    with EventStore.open(quality_run) as log:
        table = quality_table(log.read())
    filled = table[table.state == "FILLED"]
    shown = ["side", "state", "qty", "arrival_price", "spread_bps", "fill_price", "model_price",
             "slip_arrival_bps", "slip_model_bps", "fee_bps", "decision_to_submit_ms",
             "submit_to_ack_ms", "decision_to_fill_ms"]  # fmt: skip
    print("\n" + table[shown].to_string() + "\n" + summarize(table, "side").to_string())
    assert len(filled) >= 4, "the run must trade to prove anything"
    assert set(filled.side) == {"buy", "sell"}
    # Price: the tick (0.01 at ~30,000) rounds the injected 7 bps by less than 0.004 bps.
    tick_bps = 0.01 / filled.fill_price.min() * 1e4
    # The simulator fills at the bar's open, the bar model's price: 7 bps through it.
    assert filled.slip_model_bps.to_numpy() == pytest.approx(SLIP_BPS, abs=tick_bps)
    # The arrival is the mid of the book the runner read at each decision: the simulator's
    # synthetic book, 1 bp levels around that open (so the spread is 1 bp and the mid within
    # half of it of the open). Against the mid the cost is the 7 bps plus where the open sat
    # in the spread.
    assert (filled.arrival_source == "mid").all()
    assert filled.spread_bps.to_numpy() == pytest.approx(1.0, abs=0.01)
    side = filled.side.map({"buy": 1.0, "sell": -1.0})
    open_vs_mid = side * (filled.model_price - filled.arrival_price) / filled.arrival_price * 1e4
    assert (open_vs_mid.abs() <= 0.5 + 1e-9).all()
    assert filled.slip_arrival_bps.to_numpy() == pytest.approx(
        (SLIP_BPS + open_vs_mid).to_numpy(), abs=tick_bps
    )
    assert filled.fee_bps.to_numpy() == pytest.approx(FEE_BPS, abs=1e-6)
    assert (filled.fill_ratio == 1.0).all() and filled.plan_price.notna().all()
    # Every answer to an order came at least 40 ms after it was sent (the log's clock is the
    # wall clock here): acknowledgement and fill alike.
    assert (filled.submit_to_ack_ms >= LATENCY_S * 1000).all()
    assert (filled.submit_to_first_fill_ms >= LATENCY_S * 1000).all()
    assert (filled.decision_to_fill_ms >= filled.submit_to_first_fill_ms).all()
    # The refused order: a reject with the venue's reason, nothing filled.
    (rejected,) = table[table.rejected].itertuples()
    assert "insufficient balance (injected)" in rejected.reason
    assert rejected.filled_qty == 0 and rejected.fill_ratio == 0
    # Aggregates: one venue, notional-weighted costs equal to the per-order ones.
    venue = summarize(table, "venue").iloc[0]
    assert venue.venue == "binance" and venue.orders == len(table) and venue.rejects == 1
    assert venue.slip_model_bps == pytest.approx(SLIP_BPS, abs=tick_bps)
    assert venue.slip_arrival_bps == pytest.approx(SLIP_BPS, abs=0.5 + tick_bps)
    assert venue.fee_bps == pytest.approx(FEE_BPS, abs=1e-6)
    assert venue.ack_p50_ms >= LATENCY_S * 1000
    sides = summarize(table, ["side", "size_bucket"])
    assert sides.orders.sum() == len(table)


def test_the_quality_command_prints_and_writes_its_reports(
    quality_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from live.cli import _app, app

    # The command line's console took its width from the terminal when live.cli was first
    # imported (80 columns under pytest, or whatever COLUMNS said): wide enough for the headers.
    monkeypatch.setattr(_app.console, "_width", 300)
    html, csv = tmp_path / "q.html", tmp_path / "q.csv"
    result = CliRunner().invoke(
        app, ["quality", str(quality_run), "--html", str(html), "--csv", str(csv)]
    )
    assert result.exit_code == 0, result.output
    assert "execution quality of quality" in result.stdout and "by size_bucket" in result.stdout
    assert "slip_arrival_bps" in result.stdout and f"wrote {csv}" in result.stdout
    page = html.read_text()
    assert "Plotly.newPlot" in page and "slip_arrival_bps" in page
    frame = pd.read_csv(csv)
    assert frame.slip_model_bps.dropna().round(2).eq(SLIP_BPS).all()
    assert (frame.arrival_source.dropna() == "mid").all()
    result = CliRunner().invoke(app, ["quality", "--events", str(quality_run), "--json",
                                      "--by", "side"])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert {r["side"] for r in doc["by"]["side"]} == {"buy", "sell"}
    assert sum(r["orders"] for r in doc["by"]["side"]) == doc["orders"]
    assert all(r["slip_arrival_bps"] is None or math.isfinite(r["slip_arrival_bps"])
               for r in doc["by"]["side"])  # fmt: skip
    bad = CliRunner().invoke(app, ["quality", str(quality_run), "--by", "colour"])
    assert bad.exit_code != 0 and "colour" in bad.output


def test_a_sell_at_a_higher_price_is_a_negative_cost() -> None:
    # (kept beside the run's test: the sign convention the table's readers rely on)
    from live.quality._table import _bps

    assert _bps("sell", 101.0, 100.0) == pytest.approx(-100.0)
    assert _bps("buy", 101.0, 100.0) == pytest.approx(100.0)
    assert math.isnan(_bps("buy", 101.0, math.nan))
    assert Decimal("1") > 0
