"""Funding settlements, live and backtest, against the USD-M simulator through the real ccxt
client.

A strategy goes long 0.01 BTC on real hourly BTC/USDT perpetual bars (2023-07-06/07) and holds
through three funding times, whose real rates (the shared funding file) are two paid and one
received. The simulator settles each (position × the open of the bar containing the funding
time × rate); the runner reads them with ``fetch_funding_history`` and logs each once as a
``funding`` event; the engine book books them, so its equity equals a backtest of the same bars
with the same funding, which pays the same funding. A run stopped right after a settlement was
logged and restarted neither loses nor doubles one.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Fees, MarketRules, Signals, Sizing, backtest
from grekko_research.strategy import Strategy, param
from live.drift import read_live
from live.events import EventStore
from live.runner import Runner, RunnerSpec
from live.sim.usdm import start_usdm_simulator
from live.venues.base import Bar, FundingPayment
from live.venues.credentials import Credentials
from live.venues.errors import RetryLater
from live.venues.registry import make_venue
from tests.integration.test_stops_native_parity import candle_bars
from tests.peers.frames import USDM_BTC_1H

KEY, SECRET = "funding-key", "funding-secret"
HOUR = 3_600_000
PERP = "BTC/USDT:USDT"
START, BARS = 56, 24  # candle rows 2023-07-06 05:00 to 2023-07-07 04:00 UTC
FUNDING = "binance-usdm_BTC-USDT-PERP_funding__alpergulsen.csv"
FEE = "0.0005"
CONFIG = EngineConfig(
    fees=Fees(taker=float(FEE), maker=float(FEE)),
    market=MarketRules(lot_size=0.001, tick_size=0.1, min_notional=100.0),
    sizing=Sizing("units", 0.01),
)


@dataclass(frozen=True)
class HoldParams:
    entry_ts: int = param(0, low=0, high=2**53, doc="open time (ms) of the bar whose close buys")


class HoldLong(Strategy):
    """Long from one bar's close on, held to the end."""

    name = "test_hold_long"
    Params = HoldParams
    summary = "long from a fixed bar (a funding test)"

    def warmup(self, params: HoldParams) -> int:
        return 1

    def signals(self, bars: Bars, params: HoldParams) -> Signals:
        entries = np.zeros(bars.close.shape, dtype=bool)
        entries[bars.index == params.entry_ts] = True  # causal: by its time
        return Signals(entries, np.zeros_like(entries))


class LockStep:
    """The simulator's clock passes each bar's close before the runner sees it (so the funding
    at the next open is settled, on the position carried into it, before the decision that
    executes there); a restart's feed starts over and the clock never moves back."""

    name = "binanceusdm"

    def __init__(self, sim: Any, bars: Bars, funding_down: int = 0) -> None:
        self.sim, self.replayed = sim, bars
        self.funding_down = funding_down  # funding_payments calls that fail first
        self.exchange = make_venue(
            "binanceusdm", urls=sim.url, credentials=Credentials(KEY, SECRET), rate_limit=False
        )
        self.capabilities = replace(
            self.exchange.capabilities, stream_orders=False, stream_trades=False
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.exchange, name)

    async def health(self) -> Any:
        return replace(await self.exchange.health(), realtime=False)

    async def reports(self) -> AsyncIterator[Any]:
        return
        yield  # no stream

    async def history(self, symbols: Any, timeframe: str, count: int) -> list[Bar]:
        return []

    async def funding_payments(self, symbol: str, since_ms: int) -> list[FundingPayment]:
        if self.funding_down > 0:
            self.funding_down -= 1
            raise RetryLater("down", venue=self.name, operation="fetch_funding_history",
                             state_changing=False, source="NetworkError")  # fmt: skip
        return await self.exchange.funding_payments(symbol, since_ms)

    async def bars(self, symbols: Any, timeframe: str, since_ms: int | None) -> AsyncIterator[Bar]:
        b = self.replayed
        for t in range(b.n_bars):
            close = int(b.index[t]) + HOUR
            if close > self.sim.book.now:
                self.sim.advance_to(close)
            yield Bar(PERP, int(b.index[t]), float(b.open[t, 0]), float(b.high[t, 0]),
                      float(b.low[t, 0]), float(b.close[t, 0]), float(b.volume[t, 0]))  # fmt: skip


@pytest.fixture(scope="module")
def market(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    whole = pd.read_csv(shared_data / "ohlcv" / USDM_BTC_1H)
    frame = whole.iloc[START : START + BARS + 2].reset_index(drop=True)
    return frame, pd.read_csv(shared_data / "funding" / FUNDING)


def live_run(
    frame: pd.DataFrame,
    funding: pd.DataFrame,
    state: Path,
    stops: tuple[int | None, ...],
    funding_down: int = 0,
) -> tuple[list[Any], list[Any], float]:
    """Run :class:`HoldLong` over the bars, stopping after each of ``stops`` bars and restarting
    on the same log; return the events, the simulator's funding incomes and the book's last
    equity."""
    bars = candle_bars(frame.head(BARS), PERP)
    strategy = HoldLong()
    params = strategy.params(entry_ts=int(frame.timestamp[1]))
    out: dict[str, Any] = {}

    async def run() -> None:
        sim = await start_usdm_simulator(
            candles={"BTCUSDT": frame}, api_key=KEY, api_secret=SECRET, fee_rate=FEE,
            start_ms=int(frame.timestamp[0]), funding={"BTCUSDT": funding},
        )  # fmt: skip
        venue = LockStep(sim, bars, funding_down)
        store = EventStore.open(state / "events.db")
        try:
            for n in stops:
                spec = RunnerSpec(
                    "funding", strategy, params, CONFIG, bars.symbols, "1h",
                    grace_ms=300, reconcile_every_ms=10**12, max_bars=n,
                )  # fmt: skip
                runner = Runner(spec, venue, store)  # type: ignore[arg-type]
                summary = await runner.run()
                assert summary.halted is None, summary.halted
            assert runner.book is not None
            out.update(income=list(sim.book.income), equity=runner.book.equity)
        finally:
            await venue.exchange.close()
            store.close()
            await sim.close()

    asyncio.run(run())
    with EventStore.open(state / "events.db") as log:
        return list(log.read()), out["income"], out["equity"]


def backtested(frame: pd.DataFrame, funding: pd.DataFrame) -> tuple[Any, Bars]:
    bars = candle_bars(frame.head(BARS), PERP)
    strategy = HoldLong()
    signals = strategy.signals(bars, strategy.params(entry_ts=int(frame.timestamp[1])))
    res = backtest(bars, signals, CONFIG, funding={PERP: funding})
    return res, bars


@pytest.mark.parametrize("stops", [(None,), (11, None)], ids=["one_run", "restarted"])
def test_live_funding_is_the_simulators_and_the_backtests(
    stops: tuple[int | None, ...], market: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    frame, funding = market
    events, income, equity = live_run(frame, funding, tmp_path, stops)
    logged = [e.payload for e in events if e.kind == "funding"]
    assert not [e for e in events if e.kind in ("halted", "funding_unavailable")]
    # Three settlements, each logged once, as the simulator made them.
    assert [(p["ts_ms"], Decimal(p["amount"]), p["id"]) for p in logged] == [
        (r.time, r.income, str(r.tran_id)) for r in income
    ]
    assert len(logged) == 3 and {p["asset"] for p in logged} == {"USDT"}
    rates = dict(zip(funding.timestamp, funding.funding_rate, strict=True))
    opens = dict(zip(frame.timestamp, frame.open, strict=True))
    for p in logged:  # a long pays a positive rate: 0.01 BTC × the open there × the rate
        assert float(p["amount"]) == pytest.approx(-0.01 * opens[p["ts_ms"]] * rates[p["ts_ms"]],
                                                   abs=1e-8)  # fmt: skip
    assert sorted(np.sign([float(p["amount"]) for p in logged])) == [-1, -1, 1]
    # The backtest of the same bars and funding pays the same, and ends at the same equity.
    res, _ = backtested(frame, funding)
    total = math.fsum(float(p["amount"]) for p in logged)
    assert total == pytest.approx(res.funding_records[:, 3].sum(), abs=1e-7)
    assert equity == pytest.approx(float(res.equity[-1]), abs=1e-6)
    assert abs(total) > 1e-3, "the funding must matter at the tolerance, or this proves nothing"
    assert read_live(events).funding == pytest.approx(total, abs=1e-12)  # drift's funding term
    # The compliance ledger has each settlement, and the tax summary its total.
    from grekko_research.compliance.costbasis import realise
    from live.compliance.ledger import ledger_from_events

    ledger = [x for x in ledger_from_events(events) if x.kind == "funding"]
    assert [(x.ts_ms, x.amount_quote) for x in ledger] == [
        (p["ts_ms"], Decimal(p["amount"])) for p in logged
    ]
    summary = realise(ledger_from_events(events), "fifo", currency="USDT")
    assert summary.funding == sum(Decimal(p["amount"]) for p in logged)


def test_a_venue_that_does_not_answer_is_asked_again_after_the_next_bar(
    market: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    """The venue's funding list fails for the run's first six bars: the runner logs
    ``funding_unavailable`` each time and books the first settlement (bar 3's open, read at
    bar 2's close otherwise) four closes late, when the venue answers; the total is intact."""
    frame, funding = market
    events, income, equity = live_run(frame, funding, tmp_path, (None,), funding_down=6)
    down = [e for e in events if e.kind == "funding_unavailable"]
    logged = [e for e in events if e.kind == "funding"]
    assert len(down) == 6 and [p.payload["id"] for p in logged] == [str(r.tran_id) for r in income]
    bars_before = [
        e.payload["ts"] for e in events[: events.index(logged[0])] if e.kind == "bar_closed"
    ]
    assert bars_before[-1] - (income[0].time - HOUR) == 4 * HOUR
    res, _ = backtested(frame, funding)
    assert equity == pytest.approx(float(res.equity[-1]), abs=1e-6)
