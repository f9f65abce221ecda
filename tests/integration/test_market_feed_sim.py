"""The market-analysis feed on the simulator's depth and trade streams, through the real
``ccxt.pro.binance`` client over 127.0.0.1: the live book equals the venue's, every replayed
print is recorded, the features and the Prometheus metrics follow."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client import generate_latest

from grekko_research.analysis.features import FEATURES, BookFeatureParams, TradeFlowParams
from grekko_research.data.bars import Bars
from live.market_feed import FEED_METRICS, MarketAnalysisFeed
from live.sim import Simulator, start_simulator
from live.sim.cli import load_trades
from tests.peers.frames import SPOT_BTC_1H
from tests.peers.sim_clients import ccxt_client, drive, spot_options

KEY, SECRET = "sim-key", "sim-secret"
HOUR = 3_600_000
START = 1610064000000  # 2021-01-08 00:00 UTC: the shared trades capture's first second


@pytest.fixture(scope="module")
def candles(shared_data: Path) -> pd.DataFrame:
    frame = pd.read_csv(shared_data / "ohlcv" / SPOT_BTC_1H)
    first = int(frame.index[frame.timestamp == START - 24 * HOUR][0])
    return frame.iloc[first : first + 48].reset_index(drop=True)


@pytest.fixture(scope="module")
def prints(shared_data: Path) -> pd.DataFrame:
    trades = load_trades("BTC/USDT", shared_data)
    assert trades is not None
    return trades[trades.timestamp < START + HOUR].reset_index(drop=True)


async def eventually(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def test_feed_follows_the_simulated_market(candles: pd.DataFrame, prints: pd.DataFrame) -> None:
    seen: dict[str, Any] = {}

    async def scenario(sim: Simulator, ex: Any) -> None:
        feed = MarketAnalysisFeed(ex, ["BTC/USDT"])
        await feed.start()
        await sim.wait_subscribed("btcusdt@trade")
        await sim.wait_subscribed("btcusdt@depth")
        now = START
        for _ in range(90):  # 45 s of the capture, half a second at a time
            now += 500
            sim.advance_to(now)
            await asyncio.sleep(0.01)
        expected = prints[prints.timestamp <= now]
        await eventually(lambda: feed.stats.trades >= len(expected) and feed.synced("BTC/USDT"))
        snap = sim.feed.depth_snapshot("BTCUSDT", 1000)
        await eventually(lambda: int(feed.last["BTC/USDT"]["last_id"]) >= snap["lastUpdateId"])
        seen.update(feed=feed, snap=snap, expected=expected, ccxt_book=ex.orderbooks["BTC/USDT"])
        seen["metrics"] = generate_latest(feed.registry).decode()
        await feed.stop()

    drive(
        lambda: start_simulator(
            candles={"BTCUSDT": candles},
            api_key=KEY,
            api_secret=SECRET,
            start_ms=START,
            trades={"BTCUSDT": prints},
        ),
        lambda sim: ccxt_client(
            __import__("ccxt.pro", fromlist=["binance"]).binance,
            sim.url,
            apiKey=KEY,
            secret=SECRET,
            timeout=3000,
            options=spot_options(),
        ),
        scenario,
        ready=lambda ex: ex.load_markets(),
    )
    feed: MarketAnalysisFeed = seen["feed"]
    snap, expected = seen["snap"], seen["expected"]
    last = feed.last["BTC/USDT"]
    bids = [(float(p), float(q)) for p, q in snap["bids"]]
    asks = [(float(p), float(q)) for p, q in snap["asks"]]
    # the live book is the venue's book: its top, and its top-10 depth
    assert (last["bid_px"], last["bid_qty"]) == bids[0]
    assert (last["ask_px"], last["ask_qty"]) == asks[0]
    assert last["bid_depth"] == pytest.approx(sum(q for _, q in bids[:10]), rel=1e-12)
    assert last["ask_depth"] == pytest.approx(sum(q for _, q in asks[:10]), rel=1e-12)
    book = seen["ccxt_book"]  # and ccxt's own, kept by its own algorithm
    assert (book["bids"][0][0], book["asks"][0][0]) == (last["bid_px"], last["ask_px"])
    assert feed.stats.depth_events >= 20 and feed.stats.gaps == 0 and feed.stats.snapshots == 1
    # every replayed print, in order, with its aggressor side
    trades = feed.sources().table("trades:BTC/USDT")
    assert len(trades.known_ms) == len(expected) > 500
    np.testing.assert_array_equal(trades.columns["trade_ms"], expected.timestamp.to_numpy())
    np.testing.assert_allclose(trades.columns["qty"], expected.qty.to_numpy())
    np.testing.assert_array_equal(trades.columns["buyer_maker"], expected.is_buyer_maker.to_numpy())
    # the features read them as the backtest does: one bar over the whole window
    first, stop = int(trades.known_ms[0]) // 60_000 * 60_000, int(trades.known_ms[-1])
    n = (stop - first) // 60_000 + 1
    bars = Bars.from_frame(
        pd.DataFrame(
            {
                "timestamp": first + 60_000 * np.arange(n),
                **{c: np.ones(n) for c in ("open", "high", "low", "close", "volume")},
            }
        ),
        "BTC/USDT",
        "1m",
    )
    count = FEATURES["trade_flow"].compute(bars, TradeFlowParams("trades"), feed.sources())
    assert count.sum() == len(expected)
    # as the runner gets them: extras on its window
    window = feed.extras(
        bars,
        {
            "n": ("trade_flow", TradeFlowParams("trades")),
            "imb": ("book", BookFeatureParams("imbalance")),
        },
    )
    np.testing.assert_array_equal(window.extras["n"], count)
    assert np.isfinite(window.extras["imb"][-1, 0])
    # the metrics
    text = seen["metrics"]
    for name in FEED_METRICS:
        assert name in text, name
    assert 'grekko_book_synced{symbol="BTC/USDT"} 1.0' in text
    assert f'grekko_trades_total{{symbol="BTC/USDT"}} {float(len(expected))}' in text
    lat = np.array(feed.stats.latency_ns)
    assert len(lat) == feed.stats.depth_events + feed.stats.trades


def test_unified_book_mode_follows_ccxts_book(candles: pd.DataFrame, prints: pd.DataFrame) -> None:
    """The mode other venues use (ccxt's unified ``watch_order_book`` / ``watch_trades``
    results, ccxt doing the venue's sequencing), run here on the Binance simulator: the
    builder's book is ccxt's book and the venue's, every print is recorded once."""
    seen: dict[str, Any] = {}

    async def scenario(sim: Simulator, ex: Any) -> None:
        feed = MarketAnalysisFeed(ex, ["BTC/USDT"], protocol="unified")
        assert feed.protocol == "unified"
        await feed.start()
        await sim.wait_subscribed("btcusdt@trade")
        await sim.wait_subscribed("btcusdt@depth")
        now = START
        for _ in range(60):
            now += 500
            sim.advance_to(now)
            await asyncio.sleep(0.01)
        expected = prints[prints.timestamp <= now]
        snap = sim.feed.depth_snapshot("BTCUSDT", 1000)
        await eventually(lambda: feed.stats.trades >= len(expected) and feed.synced("BTC/USDT"))
        book = ex.orderbooks["BTC/USDT"]
        best = (float(snap["bids"][0][0]), float(snap["bids"][0][1]))

        def at_best() -> bool:
            last = feed.last.get("BTC/USDT")
            return (
                last is not None
                and abs(float(last["bid_px"]) - best[0]) < 1e-6  # the grid's price: tick × level
                and float(last["bid_qty"]) == best[1]
            )

        await eventually(at_best)
        seen.update(feed=feed, snap=snap, expected=expected, book=book)
        await feed.stop()

    drive(
        lambda: start_simulator(
            candles={"BTCUSDT": candles},
            api_key=KEY,
            api_secret=SECRET,
            start_ms=START,
            trades={"BTCUSDT": prints},
        ),
        lambda sim: ccxt_client(
            __import__("ccxt.pro", fromlist=["binance"]).binance,
            sim.url,
            apiKey=KEY,
            secret=SECRET,
            timeout=3000,
            options=spot_options(),
        ),
        scenario,
        ready=lambda ex: ex.load_markets(),
    )
    feed: MarketAnalysisFeed = seen["feed"]
    snap, book = seen["snap"], seen["book"]
    last = feed.last["BTC/USDT"]
    bids = [(float(p), float(q)) for p, q in snap["bids"]]
    asks = [(float(p), float(q)) for p, q in snap["asks"]]
    assert bids[0] == tuple(book["bids"][0][:2]) and asks[0] == tuple(book["asks"][0][:2])
    assert (last["bid_px"], last["bid_qty"]) == (pytest.approx(bids[0][0], rel=1e-12), bids[0][1])
    assert (last["ask_px"], last["ask_qty"]) == (pytest.approx(asks[0][0], rel=1e-12), asks[0][1])
    assert last["bid_depth"] == pytest.approx(sum(q for _, q in bids[:10]), rel=1e-12)
    assert last["ask_depth"] == pytest.approx(sum(q for _, q in asks[:10]), rel=1e-12)
    assert feed.stats.snapshots == 1 and feed.stats.gaps == 0 and feed.stats.depth_events > 10
    trades = feed.sources().table("trades:BTC/USDT")
    expected = seen["expected"]
    assert len(trades.known_ms) == len(expected)  # each once, though ccxt hands out lists
    np.testing.assert_array_equal(trades.columns["trade_ms"], expected.timestamp.to_numpy())
    np.testing.assert_array_equal(trades.columns["buyer_maker"], expected.is_buyer_maker.to_numpy())
