"""A strategy reading order-book and trade features (``analysis.*`` extras) trades live against
the simulator's trade and depth streams through the real ``ccxt.pro.binance`` client
(``grekko-live run``'s own path: ``plan_run`` → ``run_plan``), and its decisions equal a backtest
on the data the run recorded (``runs.load_run_bars(..., ticks=<state dir>/ticks)``).

The market: 1-minute candles of the shared BTC/USDT spot trades capture (2024-08-08 23:54 →
00:05 UTC) with every one of its trades replayed on the trade stream; the simulator's book moves
with them. The strategy's entries and exits depend on both features, so a window that lacked
them, read them late or early, or read other trades than the backtest would decide otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grekko_research.analysis.features import FEATURES, TradeFlowParams
from grekko_research.analysis.stream import FeatureRecorder, StreamingBook
from grekko_research.config import compose_config
from grekko_research.data.bars import Bars
from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.data.ticks import TickKey, TickStore
from grekko_research.engine import Signals
from grekko_research.runs import run_backtest
from grekko_research.strategy import Strategy, param
from grekko_research.strategy import registry as strategy_registry
from live.analysis_window import RECORDING_DIR
from live.app import plan_run, run_plan
from live.events import EventStore
from live.sim import Simulator, start_simulator
from live.sim.cli import load_trades

KEY, SECRET = "flow-key-0123456789", "flow-secret-abcdefghij"
MINUTE = 60_000
OHLCV = ("open", "high", "low", "close", "volume")
CAPTURE = "binance-spot_BTC-USDT_20240808T2354Z-20240809T0005Z__hftbacktest_trades.csv"


@dataclass(frozen=True)
class FlowBookParams:
    tilt: float = param(0.0, low=-1.0, high=1.0, doc="buy when flow + book exceed it")


class FlowBook(Strategy):
    """Long while the bar's taker imbalance plus the close's depth imbalance is positive."""

    name = "test_flow_book"
    Params = FlowBookParams
    summary = "taker flow + book imbalance (a test of the analysis extras)"
    requires = ("analysis.trade_flow.imbalance", "analysis.book.imbalance")

    def warmup(self, params: FlowBookParams) -> int:
        return 1

    def signals(self, bars: Bars, params: FlowBookParams) -> Signals:
        score = bars.extras[self.requires[0]] + bars.extras[self.requires[1]]
        return Signals(score > params.tilt, score < params.tilt)  # NaN: neither


def minute_candles(trades: pd.DataFrame) -> pd.DataFrame:
    """1-minute OHLCV of the trades (as Binance aggregates its klines)."""
    minute = trades.timestamp // MINUTE * MINUTE
    g = trades.groupby(minute)
    return pd.DataFrame(
        {
            "timestamp": g.timestamp.first().index.to_numpy(np.int64),
            "open": g.price.first().to_numpy(),
            "high": g.price.max().to_numpy(),
            "low": g.price.min().to_numpy(),
            "close": g.price.last().to_numpy(),
            "volume": g.qty.sum().to_numpy(),
        }
    )


@pytest.fixture
def market(shared_data: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    trades = load_trades("BTC/USDT", shared_data)
    assert trades is not None
    first = int(pd.read_csv(shared_data / "trades" / CAPTURE, nrows=1).trade_ts_ms[0])
    trades = trades[trades.timestamp >= first // MINUTE * MINUTE + MINUTE].reset_index(drop=True)
    return minute_candles(trades), trades


@pytest.fixture
def simulator(market: tuple[pd.DataFrame, pd.DataFrame]) -> Iterator[Simulator]:
    """The simulator in a thread of its own; its market clock runs 20x from the third bar's
    open once the run's feed subscribes to the depth stream (so the run sees every bar it
    decides whole)."""
    candles, trades = market
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> Simulator:
        sim = await start_simulator(
            candles={"BTCUSDT": candles},
            api_key=KEY,
            api_secret=SECRET,
            start_ms=int(candles.timestamp[2]),
            trades={"BTCUSDT": trades},
            market_time=True,
        )
        return sim

    async def clock(sim: Simulator) -> None:
        for stream in ("btcusdt@depth", "btcusdt@kline_1m"):  # the feed's, then the runner's
            with contextlib.suppress(TimeoutError):  # no feed (a broken wiring): run anyway
                await sim.wait_subscribed(stream, timeout=60.0)
        sim.run_clock(speed=20.0)

    sim = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=60)
    asyncio.run_coroutine_threadsafe(clock(sim), loop)
    try:
        yield sim
    finally:
        asyncio.run_coroutine_threadsafe(sim.close(), loop).result(timeout=60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


@pytest.fixture
def compiled() -> None:
    """The book and feature kernels compiled before the market clock runs: a first compile
    holds the run's loop for seconds, and the market does not wait (20 market seconds each)."""
    book = StreamingBook(0.01, max_price=1e5)
    book.load_snapshot(1, np.array([[100.0, 1.0]]), np.array([[100.01, 1.0]]), 0)
    book.apply(2, 2, -1, np.array([[100.0, 2.0]]), np.empty((0, 2)), 1)
    rec = FeatureRecorder()
    rec.on_trade("X/Y", 1_000_000, 1, 100.0, 1.0, False)
    bars = Bars.from_frame(
        pd.DataFrame({"timestamp": [0, MINUTE], **{c: [1.0, 1.0] for c in OHLCV}}), "X/Y", "1m"
    )
    FEATURES["trade_flow"].compute(bars, TradeFlowParams(), rec.sources())


def test_flow_and_book_features_live_equal_the_backtest_on_the_recording(
    compiled: None,
    simulator: Simulator,
    market: tuple[pd.DataFrame, pd.DataFrame],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(strategy_registry._LOCAL, FlowBook.name, FlowBook)
    monkeypatch.setenv("GREKKO_BINANCE_API_KEY", KEY)
    monkeypatch.setenv("GREKKO_BINANCE_API_SECRET", SECRET)
    candles, trades = market
    store = ParquetStore(tmp_path / "store")  # the same candles as the venue's, for the backtest
    store.write(SeriesKey.make("binance", "BTC/USDT", "1m"), candles)
    common = [f"strategy={FlowBook.name}", "data.timeframe=1m", f"data.store={store.root}"]
    cfg = compose_config(
        [*common, "live=binance", "live.mode=live", f"live.venue_url={simulator.url}",
         "live.timeframe=1m", "risk=conservative", "risk.ops.max_clock_skew_ms=null", f"live.state_dir={tmp_path}",
         "live.max_bars=6"]
    )  # fmt: skip
    plan = plan_run(cfg)
    summary = run_plan(plan)
    assert summary.halted is None and summary.decisions == 6
    with EventStore.open(plan.events) as log:
        decisions = {e.payload["ts"]: e.payload["signal"] for e in log.read(kinds=["decision"])}

    # what the run recorded: the venue's prints, in order, and its book's diffs and snapshot
    ticks = TickStore(plan.state_dir / RECORDING_DIR)
    got = ticks.read(TickKey.make("trades", "binance", "BTC/USDT"))
    assert len(got) > 1000
    got = got[got.trade_id.isin(trades.trade_id)]  # the capture's (the others: our own fills)
    sent = trades.set_index("trade_id").loc[got.trade_id.to_numpy()]
    np.testing.assert_array_equal(got.price.to_numpy(), sent.price.to_numpy())
    np.testing.assert_array_equal(got.buyer_maker.to_numpy(), sent.is_buyer_maker.to_numpy())
    assert (np.diff(got.local_ts.to_numpy()) > 0).all()  # strictly in arrival order
    depth = ticks.read(TickKey.make("depth", "binance", "BTC/USDT"))
    assert depth.snapshot.sum() > 0 and (depth.snapshot == 0).sum() > 100

    # the backtest on that recording takes the live decisions, bar for bar
    run = run_backtest(compose_config([*common, "data.start=2024-08-08"]), store=store, ticks=ticks)
    bars = run.bars
    sig = FlowBook().signals(bars, FlowBookParams())
    row = {int(ts): i for i, ts in enumerate(bars.index)}
    live = {ts: (bool(s["entries"][0]), bool(s["exits"][0])) for ts, s in decisions.items()}
    back = {ts: (bool(sig.entries[row[ts], 0]), bool(sig.exits[row[ts], 0])) for ts in decisions}
    assert live == back
    # and the features were there: some bars decided each way on them
    assert any(e for e, _ in live.values()) and any(x for _, x in live.values()), live
    flow = bars.extras["analysis.trade_flow.imbalance"][[row[t] for t in decisions], 0]
    book = bars.extras["analysis.book.imbalance"][[row[t] for t in decisions], 0]
    # (the capture's last minute is 00:04: a run that starts late decides bars past its end)
    assert np.isfinite(flow).sum() >= 3 and np.isfinite(book).sum() >= 3, (flow, book)
