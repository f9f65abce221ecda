"""Backtest parity with stops held by the venue.

The live runner (``live.stop_policy.mode=native``) trades real hourly BTC/USDT bars against the
Binance simulator on 127.0.0.1 through the real ccxt client: every position's stop-loss and
take-profit go on the venue as one OCO list, which the simulator triggers and fills by its own
rules (``live/sim/_spot_types.py``). The simulator's market clock moves in lock-step with the
bars the runner closes (each bar's close is reached before the runner sees the bar), so the
run is the same under any load. A backtest of the same bars with ``Stops(trigger="venue")``
makes the same fills (bar, side, size, price) and the same stop exits; the engine's bar model
(the default) does not: tight stops on hourly bars reach both levels in one bar, where the
venue checks the OCO's upper leg first, and the levels sit on the venue's tick grid.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Fees, MarketRules, backtest
from live.events import EventStore
from live.orders import OrderManager, StopPolicy
from live.runner import Runner, RunnerSpec
from live.runner._native import is_native
from live.sim import start_simulator
from live.sim.cli import load_candles
from live.venues.base import Bar
from live.venues.credentials import Credentials
from live.venues.registry import make_venue
from strategies.atr_stop_trend import AtrStopTrend

KEY, SECRET = "parity-key", "parity-secret"
HOUR = 3_600_000
START, BARS = 200, 120  # rows of the simulator's candle file (2021-01 hourly BTC/USDT)
PARAMS = {"fast": 2, "slow": 5, "stop": 0.002, "stop_kind": "pct", "take_profit": 0.004,
          "take_profit_kind": "pct"}  # fmt: skip
RULES = MarketRules(lot_size=1e-5, tick_size=0.01, min_notional=5.0)  # the simulator's filters
Fill = tuple[int, str, float, float]  # (bar open ms, side, size, price)


def engine_config(trigger: str) -> EngineConfig:
    """The run's engine configuration, the strategy's stops with ``trigger``."""
    strategy = AtrStopTrend()
    cfg = strategy.configure(
        EngineConfig(fees=Fees(taker=0.001), market=RULES), strategy.params(PARAMS)
    )
    return replace(cfg, stops=replace(cfg.stops, trigger=trigger))


class LockStepVenue:
    """The simulator's Binance API through the real ccxt client; the bars come from the
    candle file, and before the runner sees a bar the simulator's clock passes its close (the
    venue triggers that bar's stops; a decision at the close fills at the next open)."""

    name = "binance"

    def __init__(self, sim: Any, bars: Bars) -> None:
        self.sim, self.replayed = sim, bars
        self.runner: Runner | None = None
        self.exchange = make_venue(
            "binance", urls=sim.url, credentials=Credentials(KEY, SECRET), rate_limit=False
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self.exchange, name)

    async def health(self) -> Any:
        return replace(await self.exchange.health(), realtime=False)

    async def history(self, symbols: Any, timeframe: str, count: int) -> list[Bar]:
        return []  # the run starts cold at its first bar, as the backtest

    async def bars(self, symbols: Any, timeframe: str, since_ms: int | None) -> AsyncIterator[Bar]:
        b = self.replayed
        for t in range(b.n_bars):
            self.sim.advance_to(int(b.index[t]) + HOUR)
            await self._runner_knows_every_fill()
            yield Bar("BTC/USDT", int(b.index[t]), float(b.open[t, 0]), float(b.high[t, 0]),
                      float(b.low[t, 0]), float(b.close[t, 0]), float(b.volume[t, 0]))  # fmt: skip

    async def _runner_knows_every_fill(self) -> None:
        """Wait until the runner has booked every fill the venue made (a stop the bar just
        triggered reaches it over the user stream), as it would before a live bar's close."""
        assert self.runner is not None
        deadline = asyncio.get_running_loop().time() + 60
        while len(self.runner.om.fills()) < len(self.sim.ledger):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the runner never learned of a venue fill")
            await asyncio.sleep(0.005)


def candle_bars(frame: pd.DataFrame) -> Bars:
    col = lambda c: frame[[c]].to_numpy(np.float64)  # noqa: E731
    return Bars(
        index=frame.timestamp.to_numpy(np.int64), symbols=("BTC/USDT",), timeframe="1h",
        open=col("open"), high=col("high"), low=col("low"), close=col("close"),
        volume=col("volume"),
    )  # fmt: skip


@pytest.fixture(scope="module")
def frame(shared_data: Path) -> pd.DataFrame:
    whole = load_candles("BTC/USDT", "1h", shared_data)
    return whole.iloc[START : START + BARS + 2].reset_index(drop=True)


@pytest.fixture(scope="module")
def native_run(
    frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[Any], list[Any]]:
    """The events of the live run whose stops the simulator holds, and the simulator's fills
    (client id, bar, side, quantity, price)."""
    ledger: list[Any] = []
    state = tmp_path_factory.mktemp("native")
    bars = candle_bars(frame.head(BARS))
    strategy = AtrStopTrend()
    spec = RunnerSpec(
        "native-parity", strategy, strategy.params(PARAMS), engine_config("bar"), bars.symbols,
        "1h", grace_ms=300, reconcile_every_ms=10**12, stop_policy=StopPolicy(mode="native"),
    )  # fmt: skip

    async def run() -> None:
        sim = await start_simulator(
            candles={"BTCUSDT": frame}, api_key=KEY, api_secret=SECRET,
            balances={"USDT": "100000000", "BTC": "0"},
        )  # fmt: skip
        sim.advance_to(int(frame.timestamp[0]))
        venue = LockStepVenue(sim, bars)
        store = EventStore.open(state / "events.db")
        try:
            venue.runner = Runner(spec, venue, store)  # type: ignore[arg-type]
            summary = await venue.runner.run()
            assert summary.halted is None, summary.halted
            ledger.extend(
                (f.client_order_id, f.time - f.time % HOUR, f.side.lower(), f.qty, f.price)
                for f in sim.ledger
            )
        finally:
            await venue.exchange.close()
            store.close()
            await sim.close()

    asyncio.run(run())
    with EventStore.open(state / "events.db") as log:
        return list(log.read()), ledger


def venue_fills(events: list[Any], ledger: list[Any], end_ms: int) -> tuple[list[Fill], list[str]]:
    """The venue's fills on the bar each executed in (before ``end_ms``: a decision at the
    last close fills past the backtest's bars), and the native stops that fired, in order;
    the run's log holds the same fills."""
    om = OrderManager.replay(events)
    logged = sorted((f.client_id, f.qty, f.price) for f in om.fills())
    assert logged == sorted((cid, qty, price) for cid, _, _, qty, price in ledger)
    fills = [(bar, side, float(q), float(p)) for _, bar, side, q, p in ledger if bar < end_ms]
    fired = [
        str(om.order(c).tag) for c, bar, *_ in ledger if bar < end_ms and is_native(om.order(c))
    ]
    return fills, fired


def backtest_fills(bars: Bars, trigger: str) -> tuple[list[Fill], list[str]]:
    strategy = AtrStopTrend()
    sig = strategy.signals(bars, strategy.params(PARAMS))
    res = backtest(bars, sig, engine_config(trigger))
    o = res.orders[res.orders["status"] == "filled"]
    fills = [(int(bars.index[int(b)]), "buy" if s > 0 else "sell", float(z), float(p))
             for b, s, z, p in zip(o.bar, o.side, o["size"], o.price, strict=True)]  # fmt: skip
    return fills, [k for k in o["kind"] if k in ("stop_loss", "take_profit")]


def same(a: list[Fill], b: list[Fill]) -> bool:
    """Equal bars and sides; sizes and prices equal but for the float's last digits (the
    venue's are decimals on its grids)."""
    close = lambda x, y: abs(x - y) <= 1e-9 * max(abs(x), abs(y))  # noqa: E731
    return len(a) == len(b) and all(
        x[:2] == y[:2] and close(x[2], y[2]) and close(x[3], y[3])
        for x, y in zip(a, b, strict=False)
    )


def test_backtest_with_venue_triggers_makes_the_native_runs_fills(
    native_run: tuple[list[Any], list[Any]], frame: pd.DataFrame
) -> None:
    events, ledger = native_run
    bars = candle_bars(frame.head(BARS))
    got, fired = venue_fills(events, ledger, int(bars.index[-1]) + HOUR)
    assert not [e for e in events if e.kind in ("stop_triggered", "stop_fallback", "halted")]
    kinds = set(fired)
    assert kinds == {"stop_loss", "take_profit"}, f"the venue must fire both kinds: {fired}"
    venue, venue_kinds = backtest_fills(bars, "venue")
    assert same(venue, got), (venue, got)
    assert venue_kinds == fired
    bar, bar_kinds = backtest_fills(bars, "bar")
    assert not same(bar, got), "the bar model must differ here, or the test proves nothing"
    first = next((i for i, (x, y) in enumerate(zip(bar, got, strict=False)) if x != y), None)
    print(
        f"\nnative stop parity: {len(got)} fills, stops fired {Counter(fired)}; bar model: "
        f"{len(bar)} fills, stops {Counter(bar_kinds)}, first difference at fill {first}: "
        f"{bar[first] if first is not None else None} vs {got[first] if first is not None else None}"
    )
