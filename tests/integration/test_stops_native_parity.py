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
from live.orders import TERMINAL, OrderManager, OrderState, StopPolicy
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


def engine_config(
    trigger: str, params: dict[str, Any] = PARAMS, stop_limit_offset: float | None = None
) -> EngineConfig:
    """The run's engine configuration, the strategy's stops with ``trigger`` (and, under the
    venue's rules, the stop-loss as a stop-limit ``stop_limit_offset`` beyond the stop). Maker
    and taker fees alike: the simulator charges one rate."""
    strategy = AtrStopTrend()
    cfg = strategy.configure(
        EngineConfig(fees=Fees(taker=0.001, maker=0.001), market=RULES), strategy.params(params)
    )
    stops = replace(cfg.stops, trigger=trigger, stop_limit_offset=stop_limit_offset)
    return replace(cfg, stops=stops)


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
        """Wait until the runner has booked every fill the venue made and knows every order the
        venue ended (a stop the bar just triggered, the OCO leg it expired: they reach it over
        the user stream), as it would before a live bar's close."""
        assert self.runner is not None
        deadline = asyncio.get_running_loop().time() + 60
        while len(self.runner.om.fills()) < len(self.sim.ledger) or self._unseen_ends():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("the runner never learned of a venue fill")
            await asyncio.sleep(0.005)

    def _unseen_ends(self) -> bool:
        assert self.runner is not None
        om = self.runner.om
        known = {o.client_id: o.state for o in om.orders()}
        return any(
            not o.is_open and known.get(o.client_order_id, OrderState.NEW) not in TERMINAL
            for o in self.sim.orders
        )


def candle_bars(frame: pd.DataFrame, symbol: str = "BTC/USDT") -> Bars:
    col = lambda c: frame[[c]].to_numpy(np.float64)  # noqa: E731
    return Bars(
        index=frame.timestamp.to_numpy(np.int64), symbols=(symbol,), timeframe="1h",
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
    return run_native(frame, tmp_path_factory.mktemp("native"), PARAMS, StopPolicy("native"))


def run_native(
    frame: pd.DataFrame, state: Path, params: dict[str, Any], policy: StopPolicy
) -> tuple[list[Any], list[Any]]:
    """Run the strategy live over ``frame``'s first ``BARS`` bars against the simulator with
    ``policy``; return the run's events and the simulator's fills."""
    ledger: list[Any] = []
    bars = candle_bars(frame.head(BARS))
    strategy = AtrStopTrend()
    spec = RunnerSpec(
        "native-parity", strategy, strategy.params(params), engine_config("bar", params),
        bars.symbols, "1h", grace_ms=300, reconcile_every_ms=10**12, stop_policy=policy,
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


def backtest_fills(
    bars: Bars, trigger: str, params: dict[str, Any] = PARAMS, offset: float | None = None
) -> tuple[list[Fill], list[str]]:
    strategy = AtrStopTrend()
    sig = strategy.signals(bars, strategy.params(params))
    res = backtest(bars, sig, engine_config(trigger, params, offset))
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


# -- the stop-loss as a stop-limit (Binance spot STOP_LOSS_LIMIT in the OCO list) ------------

GAP_START, GAP_EVERY = 4440, 3  # rows of the candle file; one bar of every three hours
GAP_PARAMS = PARAMS | {"stop": 0.01, "take_profit": 0.02}
OFFSET = 0.002  # the stop-limit's limit lies 0.2 % beyond its stop


@pytest.fixture(scope="module")
def gap_frame(shared_data: Path) -> pd.DataFrame:
    """Real hourly BTC/USDT bars of one hour in three, stamped as consecutive hours: each open
    gaps from the previous close by two real hours' move, as a market that trades one hour in
    three would (gaps are where a stop-limit and a stop-market part)."""
    whole = load_candles("BTC/USDT", "1h", shared_data)
    rows = whole.iloc[GAP_START : GAP_START + GAP_EVERY * (BARS + 2) : GAP_EVERY]
    out = rows.reset_index(drop=True)
    out["timestamp"] = int(out.timestamp[0]) + np.arange(len(out), dtype=np.int64) * HOUR
    return out


@pytest.fixture(scope="module")
def stop_limit_run(
    gap_frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> tuple[list[Any], list[Any]]:
    policy = StopPolicy("native", stop_limit_offset=OFFSET, stop_limit=True)
    return run_native(gap_frame, tmp_path_factory.mktemp("stop-limit"), GAP_PARAMS, policy)


def test_a_gapped_stop_limit_rests_in_backtest_as_on_the_venue(
    stop_limit_run: tuple[list[Any], list[Any]], gap_frame: pd.DataFrame
) -> None:
    """The venue holds the stop-loss as a stop-limit: a gap past its limit triggers it without
    a fill; it rests at its limit and fills when a later bar trades back through it, or is
    cancelled by the strategy's own exit. ``Stops(trigger="venue", stop_limit_offset=...)``
    makes the same fills; the venue's stop-market model (no offset) does not."""
    events, ledger = stop_limit_run
    bars = candle_bars(gap_frame.head(BARS))
    got, fired = venue_fills(events, ledger, int(bars.index[-1]) + HOUR)
    assert not [e for e in events if e.kind in ("stop_triggered", "stop_fallback", "halted")]
    om = OrderManager.replay(events)
    stops = [o for o in om.orders() if is_native(o) and o.tag == "stop_loss"]
    assert stops and all(o.order_type == "stop_limit" for o in stops)
    triggered = [  # its list's take-profit expired: the stop-limit triggered
        o for o in stops
        if any(x.state is OrderState.EXPIRED for x in om.group(str(o.group)) if x is not o)
    ]  # fmt: skip
    rested_filled = [o for o in triggered if o.filled_qty > 0 and _at_limit(o, ledger)]
    never_filled = [o for o in triggered if o.filled_qty == 0]
    assert rested_filled, "a gapped stop-limit must rest and fill at its limit later"
    assert never_filled, "a gapped stop-limit must rest and never fill (the strategy exits)"
    assert all(o.state is OrderState.CANCELLED for o in never_filled)
    venue, venue_kinds = backtest_fills(bars, "venue", GAP_PARAMS, OFFSET)
    assert same(venue, got), (venue, got)
    assert venue_kinds == fired
    market, _ = backtest_fills(bars, "venue", GAP_PARAMS)
    assert not same(market, got), "the stop-market model must differ here"
    print(
        f"\nstop-limit parity: {len(got)} fills, stops fired {Counter(fired)}; gapped stop-limits"
        f" resting then filled {len(rested_filled)}, never filled {len(never_filled)}"
    )


def _at_limit(order: Any, ledger: list[Any]) -> bool:
    """Whether the order's fills are at its limit price (a rest filled; a stop-limit filled at
    its trigger fills at the stop or the gapped open, beyond the limit)."""
    prices = {p for cid, _, _, _, p in ledger if cid == order.client_id}
    return prices == {order.limit_price}
