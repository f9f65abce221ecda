"""Drift attribution of a real run: the runner trades sma_cross against the Binance simulator (in
this process, the real ccxt client) while known faults hit chosen round trips — a refused
entry, a 20 bps slippage, a half fill whose rest expires, an answer one bar late, a bar the
runner never sees — and each lands in its own drift term, on its own round trip."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, MarketRules, backtest
from grekko_research.engine.config import Sizing
from grekko_research.strategy import get_strategy
from live.drift import TERMS, DriftReport, attribute, backtest_fills, read_live, stored_prices
from live.events import EventStore
from live.runner import Runner, RunnerSpec
from live.sim import Simulator, start_simulator
from live.venues.base import Bar
from live.venues.credentials import Credentials
from live.venues.registry import make_venue

KEY, SECRET = "drift-key-0123456789", "drift-secret-abcdefghij"
H = 3_600_000
BARS = 100
RATE = 0.001  # the simulator's fee rate and the engine's taker fee
SLIP_BPS = 20
# The decided bar of each faulted entry (sma_cross 2/5 on these bars enters on 7, 15, 20, 30,
# 42, 55, 63, 68, 78, 86, 90 and exits 5, 2, 3, 4, 7, 5, 2, 5, 4, 2, 2 bars later).
REFUSED, SLIPPED, HALF, LATE, MISSED = 7, 20, 30, 42, 55
ORDER = {"path": "/api/v3/order", "method": "POST"}
FAULTS: dict[int, tuple[str, dict[str, Any]]] = {
    REFUSED: ("refuse", {**ORDER, "code": -2010, "msg": "insufficient balance (injected)"}),
    SLIPPED: ("slippage", {"bps": SLIP_BPS}),
    HALF: ("partial_fill", {"fraction": 0.5, "expire": True}),
    LATE: ("latency", {**ORDER, "seconds": 0, "market_ms": H}),  # the market moves a bar on
}

pytestmark = pytest.mark.timeout(120)


class FaultyReplay:
    """The simulator's orders and account through the ccxt adapter; bars replayed from the
    candles, the market clock moved to the next bar's open as each closes. Before the bar a
    fault is planned for, it is set in the simulator (it hits the order decided on that bar);
    the ``missed`` bar is never given to the runner (its clock still moves past it)."""

    def __init__(self, exchange: Any, sim: Simulator, frame: pd.DataFrame, t0: int) -> None:
        self.exchange, self.sim, self.frame, self.t0 = exchange, sim, frame, t0
        self.name = "binance"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.exchange, name)

    def now_ms(self) -> int:
        return int(self.sim.book.now)

    async def health(self) -> Any:
        from dataclasses import replace

        return replace(await self.exchange.health(), realtime=False)

    async def history(self, symbols: Any, timeframe: str, count: int) -> list[Bar]:
        return []

    async def bars(self, symbols: Any, timeframe: str, since_ms: int | None) -> AsyncIterator[Bar]:
        f = self.frame
        for t in range(len(f) - 1):
            self.sim.advance_to(max(int(f.timestamp[t + 1]), int(self.sim.book.now)))
            if t == MISSED:
                continue
            if t in FAULTS:
                kind, params = FAULTS[t]
                self.sim.set_fault(kind, times=1, **params)
            yield Bar("BTC/USDT", int(f.timestamp[t]), float(f.open[t]), float(f.high[t]),
                      float(f.low[t]), float(f.close[t]), float(f.volume[t]))  # fmt: skip


def engine() -> EngineConfig:
    return EngineConfig(
        init_cash=100_000.0, market=MarketRules(lot_size=0.00001), sizing=Sizing("units", 0.5)
    )


@pytest.fixture(scope="module")
def drift_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The faulty run's log, and the backtest of the same bars with the same configuration."""
    frame = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz").head(BARS)
    folder = tmp_path_factory.mktemp("drift")
    strategy = get_strategy("sma_cross")
    params = strategy.params({"fast": 2, "slow": 5})

    async def main() -> None:
        sim = await start_simulator(
            candles={"BTCUSDT": frame}, api_key=KEY, api_secret=SECRET,
            balances={"USDT": "1000000", "BTC": "0"},
        )  # fmt: skip
        spec = RunnerSpec("drift", strategy, params, engine(), ("BTC/USDT",), "1h",
                          grace_ms=300, reconcile_every_ms=10**12)  # fmt: skip
        exchange = make_venue(
            "binance", urls=sim.url, credentials=Credentials(KEY, SECRET), rate_limit=False
        )
        venue = FaultyReplay(exchange, sim, frame, int(frame.timestamp[0]))
        clock: Callable[[], int] = lambda: int(sim.book.now)  # noqa: E731  (the market's time)
        with EventStore.open(folder / "events.db") as store:
            try:
                await Runner(spec, venue, store, clock=clock).run()
            finally:
                await exchange.close()
                await sim.close()

    asyncio.run(main())
    bars = Bars.from_frame(frame, "BTC/USDT", "1h")
    result = backtest(bars, strategy.signals(bars, params), strategy.configure(engine(), params))
    return {"events": folder / "events.db", "bars": bars, "result": result,
            "t0": int(frame.timestamp[0])}  # fmt: skip


def report_of(run: dict[str, Any]) -> DriftReport:
    with EventStore.open(run["events"]) as log:
        live = read_live(log.read())
    assert live.prices is not None
    first, last = live.window()
    bars, result = run["bars"], run["result"]
    i_last = int(list(bars.index).index(last))
    return attribute(
        backtest_fills(result, bars), live.orders, stored_prices(bars, first, last), live.prices,
        refusals=live.refusals, fee_rate=RATE,
        backtest_pnl=float(result.equity[i_last]) - engine().init_cash,
    )  # fmt: skip


def round_trip(report: DriftReport, t0: int, entry: int) -> dict[str, float]:
    """The terms of the round trip entered on bar ``entry``: its entry's row and its exit's."""
    rows = [r for r in report.orders if r["decision_ts"] >= t0 + entry * H]
    entry_row = next(r for r in rows if r["side"] == "buy")
    exit_row = next(r for r in rows if r["side"] == "sell")
    return {t: entry_row["terms"][t] + exit_row["terms"][t] for t in entry_row["terms"]}


def test_each_injected_fault_lands_in_its_own_term(drift_run: dict[str, Any]) -> None:
    report = report_of(drift_run)
    t0, bt = drift_run["t0"], backtest_fills(drift_run["result"], drift_run["bars"])
    from rich.console import Console

    from live.drift._table import print_drift

    print_drift(Console(width=140), report, orders=12)  # (pytest -s shows it)
    terms = report.terms
    # Exact sum: the residual is what is left, and it is only rounding here (the engine's
    # equity and the fills' account agree; every order is the strategy's).
    assert math.fsum(terms.values()) == pytest.approx(report.gap, abs=1e-9)
    assert abs(terms["residual"]) < 1e-6 and terms["funding"] == 0
    # The simulator charges the engine's rate (to 8 decimals): no fee drift.
    assert abs(terms["fees"]) < 1e-5

    def trip(entry: int) -> tuple[Any, Any]:
        e = next(f for f in bt if f.decision_ts == t0 + entry * H)
        x = next(f for f in bt if f.side == "sell" and f.decision_ts > e.decision_ts)
        return e, x

    def pnl(e: Any, x: Any, qty: float) -> float:  # the backtest's P&L on qty of a round trip
        return qty * (x.price - e.price) - RATE * qty * (e.price + x.price)

    expected: dict[int, tuple[str, float]] = {}
    e, x = trip(REFUSED)  # the venue refused the entry: the backtest's round trip is lost
    expected[REFUSED] = ("refused", -pnl(e, x, e.qty))
    e, x = trip(SLIPPED)  # 20 bps through the open, rounded to the tick against the taker
    paid = math.ceil(e.price * (1 + SLIP_BPS / 1e4) * 100) / 100
    expected[SLIPPED] = ("slippage", -e.qty * (paid - e.price) * (1 + RATE))
    e, x = trip(HALF)  # half filled, the rest expired: the other half's round trip is lost
    half = math.floor(e.qty * 0.5 * 1e5) / 1e5
    expected[HALF] = ("partial", -pnl(e, x, e.qty - half))
    e, x = trip(LATE)  # filled at the next bar's open: the open's move, and its fee
    later = float(drift_run["bars"].open[list(drift_run["bars"].index).index(e.exec_ts + H), 0])
    expected[LATE] = ("timing", -e.qty * (later - e.price) * (1 + RATE))
    for entry, (term, value) in expected.items():
        got = round_trip(report, t0, entry)
        assert got[term] == pytest.approx(value, rel=1e-6, abs=1e-6), (entry, term, got)
        assert abs(value) > 1.0, (entry, term, value)  # a fault the test can see
        others = {t: v for t, v in got.items() if t != term}
        assert all(abs(v) < 1e-6 for v in others.values()), (entry, term, others)
        assert terms[term] == pytest.approx(value, rel=1e-6, abs=1e-6), term
    # The missed bar: the runner never decided on bar 55, so the entry there is the
    # backtest's only (and what a window without that bar decided in the next bars): signal.
    signal_rows = [r for r in report.orders if abs(r["terms"]["signal"]) > 1e-9]
    assert signal_rows and abs(terms["signal"]) > 1.0
    decided = sorted((r["decision_ts"] - t0) // H for r in signal_rows)
    assert all(MISSED <= d <= MISSED + 5 for d in decided), decided  # its window, no other
    assert next(r for r in signal_rows if r["decision_ts"] == t0 + MISSED * H)["cause"].startswith(
        "backtest only"
    )
    for r in signal_rows:
        assert all(abs(v) < 1e-6 for t, v in r["terms"].items() if t != "signal"), r
    # Everything else traded as tested: the other terms of all other round trips are 0.
    faulted = set(expected) | {MISSED}
    for r in report.orders:
        near = any(0 <= (r["decision_ts"] - t0) // H - f <= 7 for f in faulted)
        if not near:
            assert abs(r["total"]) < 1e-6, r
    assert set(report.terms) == set(TERMS)
