"""Backtest parity with stops held by Coinbase as one bracket order.

The live runner (``live.stop_policy.mode=native``) trades real hourly BTC/USD bars against the
Coinbase simulator on 127.0.0.1 through the real ccxt client: every position's stop-loss and
take-profit go on the venue as one ``trigger_bracket_gtc`` order, which the simulator triggers
and fills by its own rules (``live/sim/_coinbase_book.py``: the stop leg first, the limit leg
filled at its price when a bar trades through it). The simulator's market clock moves in
lock-step with the bars the runner closes. A backtest of the same bars with
``Stops(trigger="coinbase")`` makes the same fills (bar, side, size, price) and the same stop
exits; the bar model and Binance spot's OCO model (``trigger="venue"``) do not.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Fees, MarketRules, Sizing, backtest
from live.events import EventStore
from live.orders import FillReport, OrderManager, StopPolicy
from live.runner import Runner, RunnerSpec
from live.runner._native import is_native
from live.sim.coinbase import new_cdp_key, start_coinbase_simulator
from live.venues.base import Bar
from live.venues.credentials import Credentials
from strategies.atr_stop_trend import AtrStopTrend
from tests.integration.test_stops_native_parity import Fill, same
from tests.integration.test_stops_usdm_parity import HOUR, candle_bars
from tests.peers.frames import COINBASE_BTC_1H
from tests.peers.lockstep import LockStep

PAIR = "BTC/USD"
START, BARS = 300, 80  # rows of the Coinbase candle file (hourly BTC/USD)
PARAMS = {"fast": 2, "slow": 5, "stop": 0.004, "stop_kind": "pct", "take_profit": 0.006,
          "take_profit_kind": "pct"}  # fmt: skip
RULES = MarketRules(lot_size=1e-8, tick_size=0.01, min_notional=1.0)  # the simulator's BTC-USD
MAKER, TAKER = "0.0004", "0.0006"


def engine_config(trigger: str) -> EngineConfig:
    strategy = AtrStopTrend()
    fees = Fees(taker=float(TAKER), maker=float(MAKER))
    base = EngineConfig(fees=fees, market=RULES, sizing=Sizing("units", 0.01))
    cfg = strategy.configure(base, strategy.params(PARAMS))
    return replace(cfg, stops=replace(cfg.stops, trigger=trigger))


class CoinbaseLockStep(LockStep):
    """:class:`~tests.peers.lockstep.LockStep` for the Coinbase simulator (no user stream
    either: the runner polls its native stops)."""

    name = "coinbase"

    def __init__(self, sim: Any, bars: Bars, creds: Credentials) -> None:
        super().__init__(sim, bars, creds, price_timeframe="1h")
        self.last_close = Decimal(0)

    async def submit(self, request: Any) -> list[Any]:
        """Send; a market order's fills come back at once (the simulator fills it at the
        open), as a user stream would push them: the runner then places the bracket in the
        entry's bar, as the backtest holds it."""
        reports = list(await self.exchange.submit(request))
        if request.order_type == "market":
            q = await self.exchange.query(request.symbol, request.client_id)
            fills = await self.exchange.order_fills(
                request.symbol, request.client_id, getattr(q, "venue_order_id", None)
            )
            reports += [q] + [
                FillReport(request.client_id, f.trade_id, f.qty, f.price, source="rest",
                           fee=f.fee, fee_asset=f.fee_asset)
                for f in fills
            ]  # fmt: skip
        return reports

    async def reference_price(self, symbol: str) -> Decimal:
        """The close of the newest bar the runner has (the simulator's candles endpoint reads
        ccxt's wall-clock window, years after these bars, and it serves no ticker)."""
        return self.last_close

    async def bars(self, symbols: Any, timeframe: str, since_ms: int | None) -> AsyncIterator[Bar]:
        async for bar in super().bars(symbols, timeframe, since_ms):
            self.last_close = Decimal(repr(bar.close))
            yield bar


def run_native(frame: pd.DataFrame, state: Path) -> tuple[list[Any], list[Any]]:
    ledger: list[Any] = []
    bars = candle_bars(frame.head(BARS), PAIR)
    strategy = AtrStopTrend()
    spec = RunnerSpec(
        "coinbase-parity", strategy, strategy.params(PARAMS), engine_config("bar"),
        bars.symbols, "1h", grace_ms=300, reconcile_every_ms=10**12,
        stop_policy=StopPolicy("native"),
    )  # fmt: skip
    key, secret = new_cdp_key()

    async def run() -> None:
        sim = await start_coinbase_simulator(
            candles={"BTC-USD": frame}, api_key=key, api_secret=secret,
            balances={"USD": "1000000"}, maker_fee_rate=MAKER, taker_fee_rate=TAKER,
            start_ms=int(frame.timestamp[0]),
        )  # fmt: skip
        venue = CoinbaseLockStep(sim, bars, Credentials(key, secret))
        store = EventStore.open(state / "events.db")
        try:
            summary = await Runner(spec, venue, store).run()  # type: ignore[arg-type]
            assert summary.halted is None, summary.halted
            ledger.extend(  # a bracket is one venue order: the run's log names the leg
                (f.time - f.time % HOUR, f.side.lower(), f.size, f.price) for f in sim.ledger
            )
        finally:
            await venue.exchange.close()
            store.close()
            await sim.close()

    asyncio.run(run())
    with EventStore.open(state / "events.db") as log:
        return list(log.read()), ledger


def backtest_fills(bars: Bars, trigger: str) -> tuple[list[Fill], list[str]]:
    strategy = AtrStopTrend()
    sig = strategy.signals(bars, strategy.params(PARAMS))
    res = backtest(bars, sig, engine_config(trigger))
    o = res.orders[res.orders["status"] == "filled"]
    fills = [(int(bars.index[int(b)]), "buy" if s > 0 else "sell", float(z), float(p))
             for b, s, z, p in zip(o.bar, o.side, o["size"], o.price, strict=True)]  # fmt: skip
    return fills, [k for k in o["kind"] if k in ("stop_loss", "take_profit")]


@pytest.fixture(scope="module")
def frame(shared_data: Path) -> pd.DataFrame:
    whole = pd.read_csv(shared_data / "ohlcv" / COINBASE_BTC_1H)
    return whole.iloc[START : START + BARS + 2].reset_index(drop=True)


def test_backtest_with_coinbase_triggers_makes_the_native_runs_fills(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    events, ledger = run_native(frame, tmp_path)
    bars = candle_bars(frame.head(BARS), PAIR)
    end = int(bars.index[-1]) + HOUR
    assert not [e for e in events if e.kind in ("stop_triggered", "stop_fallback", "halted")]
    om = OrderManager.replay(events)
    assert sorted((f.qty, f.price) for f in om.fills()) == sorted((q, p) for *_, q, p in ledger)
    got = [(bar, side, float(q), float(p)) for bar, side, q, p in ledger if bar < end]
    fired = [str(om.order(f.client_id).tag) for f in om.fills() if is_native(om.order(f.client_id))]
    assert set(fired) == {"stop_loss", "take_profit"}, f"both legs must fire: {fired}"
    assert all(o.order_type in ("stop_limit", "take_profit_limit") for o in om.orders()
               if is_native(o))  # fmt: skip
    coinbase, kinds = backtest_fills(bars, "coinbase")
    assert same(coinbase, got), (coinbase, got)
    assert kinds == fired
    for other in ("bar", "venue"):
        assert not same(backtest_fills(bars, other)[0], got), f"{other} must differ here"
    print(f"\nCoinbase bracket parity: {len(got)} fills, stops fired {Counter(fired)}")
