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
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Fees, MarketRules, Signals, Sizing, backtest
from grekko_research.engine.layout import TRADE_FIELDS
from grekko_research.strategy import Strategy, param
from live.drift import read_live
from live.events import EventStore
from live.runner import Runner, RunnerSpec
from live.runner.sleeves import CoordinatorSpec, SleeveSpec
from live.sim.usdm import start_usdm_simulator
from live.venues.credentials import Credentials
from tests.integration.test_stops_native_parity import candle_bars
from tests.peers.frames import USDM_BTC_1H
from tests.peers.lockstep import LockStep, income_asks

KEY, SECRET = "funding-key", "funding-secret"
FUNDED = TRADE_FIELDS.index("funding")
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


@pytest.fixture(scope="module")
def market(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    whole = pd.read_csv(shared_data / "ohlcv" / USDM_BTC_1H)
    frame = whole.iloc[START : START + BARS + 2].reset_index(drop=True)
    return frame, pd.read_csv(shared_data / "funding" / FUNDING)


class LiveRun(NamedTuple):
    events: list[Any]
    income: list[Any]  # the simulator's funding incomes
    equity: float  # the account's book's last equity
    asks: int  # income requests the simulator answered
    sleeves: dict[str, tuple[float, float]]  # a portfolio's sleeves: last equity, open funding


def live_run(
    frame: pd.DataFrame,
    funding: pd.DataFrame,
    state: Path,
    stops: tuple[int | None, ...],
    funding_down: int = 0,
    funding_late_ms: int = 0,
    sleeves: tuple[SleeveSpec, ...] = (),
) -> LiveRun:
    """Run :class:`HoldLong` (or ``sleeves``, merged by sum) over the bars, stopping after each
    of ``stops`` bars and restarting on the same log."""
    bars = candle_bars(frame.head(BARS), PERP)
    strategy = HoldLong()
    params = strategy.params(entry_ts=int(frame.timestamp[1]))
    out: dict[str, Any] = {}

    async def run() -> None:
        sim = await start_usdm_simulator(
            candles={"BTCUSDT": frame}, api_key=KEY, api_secret=SECRET, fee_rate=FEE,
            start_ms=int(frame.timestamp[0]), funding={"BTCUSDT": funding},
        )  # fmt: skip
        venue = LockStep(sim, bars, Credentials(KEY, SECRET), funding_down=funding_down,
                         funding_late_ms=funding_late_ms)  # fmt: skip
        store = EventStore.open(state / "events.db")
        try:
            for n in stops:
                spec = RunnerSpec(
                    "funding", strategy, params, CONFIG, bars.symbols, "1h",
                    grace_ms=300, reconcile_every_ms=10**12, max_bars=n,
                )  # fmt: skip
                if sleeves:
                    spec = replace(spec, strategy=None, params=None, sleeves=sleeves,
                                   coordinator=CoordinatorSpec())  # fmt: skip
                runner = Runner(spec, venue, store)  # type: ignore[arg-type]
                summary = await runner.run()
                assert summary.halted is None, summary.halted
            assert runner.book is not None
            out.update(income=list(sim.book.income), equity=runner.book.equity,
                       asks=income_asks(sim),
                       sleeves={s.id: (s.book.equity, float(s.book.open_trades()[0, FUNDED]))
                                for s in runner.sleeves if s.book})  # fmt: skip
        finally:
            await venue.exchange.close()
            store.close()
            await sim.close()

    asyncio.run(run())
    with EventStore.open(state / "events.db") as log:
        return LiveRun(list(log.read()), **out)


def backtested(
    frame: pd.DataFrame, funding: pd.DataFrame, entry: int = 1, config: EngineConfig = CONFIG
) -> tuple[Any, Bars]:
    """A backtest of :class:`HoldLong` entering at the close of bar ``entry``."""
    bars = candle_bars(frame.head(BARS), PERP)
    strategy = HoldLong()
    signals = strategy.signals(bars, strategy.params(entry_ts=int(frame.timestamp[entry])))
    res = backtest(bars, signals, config, funding={PERP: funding})
    return res, bars


@pytest.mark.parametrize("stops", [(None,), (11, None)], ids=["one_run", "restarted"])
def test_live_funding_is_the_simulators_and_the_backtests(
    stops: tuple[int | None, ...], market: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    frame, funding = market
    events, income, equity, asks, _ = live_run(frame, funding, tmp_path, stops)
    logged = [e.payload for e in events if e.kind == "funding"]
    assert not [e for e in events if e.kind in ("halted", "funding_unavailable")]
    # Asked at each start and at the three funding times only, not at each of the 24 bars.
    assert asks == 1 + 3 + (len(stops) - 1)
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
    events, income, equity, asks, _ = live_run(frame, funding, tmp_path, (None,), funding_down=6)
    down = [e for e in events if e.kind == "funding_unavailable"]
    logged = [e for e in events if e.kind == "funding"]
    assert len(down) == 6 and [p.payload["id"] for p in logged] == [str(r.tran_id) for r in income]
    assert asks == 3  # the answer after the failures, then the two other funding times
    bars_before = [
        e.payload["ts"] for e in events[: events.index(logged[0])] if e.kind == "bar_closed"
    ]
    assert bars_before[-1] - (income[0].time - HOUR) == 4 * HOUR
    res, _ = backtested(frame, funding)
    assert equity == pytest.approx(float(res.equity[-1]), abs=1e-6)


def test_a_settlement_listed_late_is_asked_for_again_at_the_next_bar(
    market: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    """The venue lists each settlement an hour after its funding time: the ask at the funding
    time finds nothing while the account holds the position, so the runner asks again at the
    next bar and books it there, once; two asks a funding time, not one a bar."""
    frame, funding = market
    events, income, equity, asks, _ = live_run(frame, funding, tmp_path, (None,),
                                               funding_late_ms=HOUR)  # fmt: skip
    logged = [e for e in events if e.kind == "funding"]
    assert [p.payload["id"] for p in logged] == [str(r.tran_id) for r in income]
    assert len(logged) == 3
    closed = {e.seq: e.payload["ts"] for e in events if e.kind == "bar_closed"}
    for e, r in zip(logged, income, strict=True):  # booked at the close of the funding time's bar
        assert max(ts for seq, ts in closed.items() if seq < e.seq) == r.time
    assert asks == 1 + 3 * 2
    res, _ = backtested(frame, funding)
    assert equity == pytest.approx(float(res.equity[-1]), abs=1e-6)


@pytest.mark.parametrize("stops", [(None,), (11, None)], ids=["one_run", "restarted"])
def test_each_sleeve_pays_funding_on_its_own_position(
    stops: tuple[int | None, ...], market: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    """Two sleeves hold 0.01 BTC from bar 1 and 0.02 BTC from bar 5: the account holds 0.01
    at the first funding time and 0.03 at the other two. Each settlement is split by the
    sleeves' own positions (logged under ``sleeves``), and each sleeve's book pays what its
    own backtest pays and ends at its equity, in one run or stopped right after the second
    settlement was logged and restarted (the sleeves' books rebuilt from the log)."""
    frame, funding = market
    strategy = HoldLong()
    late = replace(CONFIG, sizing=Sizing("units", 0.02))
    sleeves = (
        SleeveSpec("early", strategy, strategy.params(entry_ts=int(frame.timestamp[1])), CONFIG),
        SleeveSpec("late", strategy, strategy.params(entry_ts=int(frame.timestamp[5])), late),
    )
    run = live_run(frame, funding, tmp_path, stops, sleeves=sleeves)
    logged = [e.payload for e in run.events if e.kind == "funding"]
    assert [p["id"] for p in logged] == [str(r.tran_id) for r in run.income]
    assert len(logged) == 3 and set(logged[0]["sleeves"]) == {"early"}
    for p in logged:  # here the sleeves' positions add up to the account's
        assert sum(Decimal(v) for v in p["sleeves"].values()) == pytest.approx(
            Decimal(p["amount"]), abs=Decimal("1e-10"))  # fmt: skip
    booked = {k: v["booked"][0] for e in run.events if e.kind == "decision"
              for k, v in e.payload["strategies"].items() if v["booked"]}  # fmt: skip
    for sleeve, entry, config in (("early", 1, CONFIG), ("late", 5, late)):
        res, _ = backtested(frame, funding, entry, config)
        paid = res.funding_records[:, 3].sum()
        assert abs(paid) > 1e-3, "the funding must matter at the tolerance, or this proves nothing"
        equity, funded = run.sleeves[sleeve]
        assert funded == pytest.approx(-paid, abs=1e-7)  # the open trade's (paid: positive)
        # A sleeve books its entry at the decision's price (the close), the backtest at the
        # next open: apart from that, the sleeve's equity is its backtest's, funding included.
        b, (fill,) = booked[sleeve], res.orders.price
        gap = b["size"] * (fill - b["price"]) * (1 + float(FEE))
        assert equity == pytest.approx(float(res.equity[-1]) + gap, abs=1e-7)
