"""Venue health (streams lost and back, failed calls, clock skew) of the Binance spot adapter,
through the real ccxt.pro client, against the local simulator and its injected faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from grekko_research.engine import EngineConfig
from live.orders import NotFound, OrderState, QueryResult, Rejected
from live.sim import Simulator, start_simulator
from live.venues import CcxtVenue, Credentials, OutcomeUnknown, RetryLater, make_venue
from live.venues.base import OrderRequest, VenueHealth
from live.venues.paper import PaperVenue
from tests.peers.sim_clients import drive

KEY, SECRET = "sim-key-0123456789", "sim-secret-abcdefghijkl"
BTC = "BTC/USDT"
# Ping every 0.2 s: a silenced websocket is noticed within a second; reconnect at once.
FAST_WS: dict[str, Any] = {"options": {"ws": {"keepAlive": 200}}, "reconnect_delays_s": (0.1,)}
Scenario = Callable[[Simulator, CcxtVenue, pd.DataFrame], Awaitable[None]]


def run(
    btc: pd.DataFrame,
    eth: pd.DataFrame,
    scenario: Scenario,
    *,
    venue_kwargs: dict[str, Any] | None = None,
    **sim_kwargs: Any,
) -> Simulator:
    """Start a simulator at bar 10, run ``scenario(sim, venue, btc)`` with a started adapter."""

    def connect(sim: Simulator) -> CcxtVenue:
        return make_venue(
            "binance",
            urls=sim.url,
            credentials=Credentials(KEY, SECRET),
            timeout_ms=1000,
            rate_limit=False,
            **(venue_kwargs or {}),
        )

    return drive(
        lambda: start_simulator(
            candles={"BTCUSDT": btc, "ETHUSDT": eth},
            api_key=KEY,
            api_secret=SECRET,
            start_ms=int(btc.timestamp[10]),
            **sim_kwargs,
        ),
        connect,
        lambda sim, venue: scenario(sim, venue, btc),
        ready=lambda venue: venue.start(),
    )


async def health_when(
    venue: CcxtVenue, predicate: Callable[[VenueHealth], bool], timeout: float = 10.0
) -> VenueHealth:
    """Poll ``venue.health()`` until ``predicate`` holds; return that health."""
    deadline = time.monotonic() + timeout
    while not predicate(health := await venue.health()):
        assert time.monotonic() < deadline, f"health never got there: {health}"
        await asyncio.sleep(0.02)
    return health


async def drain(stream: AsyncIterator[Any]) -> None:
    async for _ in stream:
        pass


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


# -- streams ---------------------------------------------------------------------------------


def test_user_stream_silent_drop_is_down_then_back_with_one_reconnection(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        reader = asyncio.create_task(drain(venue.reports()))
        try:
            await sim.wait_subscribed()
            await asyncio.sleep(0.3)
            healthy = await venue.health()
            assert (healthy.realtime, healthy.ws_down_since_ms, healthy.reconnects) == (
                True,
                None,
                0,
            )
            silenced_at = venue.now_ms()
            sim.set_fault("ws_silent_drop", seconds=3.0, path="/ws-api")
            down = await health_when(venue, lambda h: h.ws_down_since_ms is not None)
            assert down.ws_down_since_ms is not None
            assert silenced_at <= down.ws_down_since_ms <= venue.now_ms()
            assert down.reconnects == 0
            # Reconnection attempts during the silence fail too: still down since the loss.
            await asyncio.sleep(0.5)
            still = await venue.health()
            assert (still.ws_down_since_ms, still.reconnects) == (down.ws_down_since_ms, 0)
            back = await health_when(venue, lambda h: h.reconnects > 0)
            assert (back.ws_down_since_ms, back.reconnects) == (None, 1)
            # Lost again; then nobody reads it any more: not down (and no reconnection).
            sim.set_fault("ws_silent_drop", path="/ws-api")
            await health_when(venue, lambda h: h.ws_down_since_ms is not None)
        finally:
            await stop(reader)
        assert (await venue.health()).ws_down_since_ms is None
        assert (await venue.health()).reconnects == 1

    run(btc, eth, scenario, venue_kwargs=FAST_WS)


def test_down_until_every_lost_stream_is_back(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        reader = asyncio.create_task(drain(venue.reports()))
        klines = asyncio.create_task(drain(venue.bars([BTC], "1h", None)))
        try:
            await sim.wait_subscribed()
            await sim.wait_subscribed("btcusdt@kline_1h")
            await asyncio.sleep(0.3)
            assert (await venue.health()).ws_down_since_ms is None
            sim.set_fault("ws_silent_drop", path="/ws-api")  # the user-data stream: until cleared
            user_down = await health_when(venue, lambda h: h.ws_down_since_ms is not None)
            sim.set_fault("ws_silent_drop", seconds=1.0, path="/ws")  # the kline stream
            # (No count of reconnections while it is silent: the first test has that, and here
            # a loaded machine may already be past the second.)
            await asyncio.sleep(1.2)
            sim.advance_to(int(bars.timestamp[11]))  # klines flow again
            # The kline stream was lost, and is back: one reconnection; but the user-data
            # stream is still down, since it was lost.
            kline_back = await health_when(venue, lambda h: h.reconnects == 1)
            assert kline_back.ws_down_since_ms == user_down.ws_down_since_ms
            sim.clear_faults()
            back = await health_when(venue, lambda h: h.reconnects == 2)
            assert back.ws_down_since_ms is None
        finally:
            await stop(reader)
            await stop(klines)
        # Streams nobody reads any more are not down.
        assert (await venue.health()).ws_down_since_ms is None

    run(btc, eth, scenario, venue_kwargs={**FAST_WS, "poll_interval_s": 0.1})


# -- failed calls ----------------------------------------------------------------------------


def test_failed_calls_are_dated_but_answers_are_not(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        assert (await venue.health()).error_times_ms == ()
        # Answers, not failures: an unknown order (query and cancel), a refused order.
        assert await venue.query(BTC, "never-sent") == NotFound("never-sent")
        assert await venue.cancel(BTC, "never-sent") == [NotFound("never-sent")]
        too_big = OrderRequest("too-big", BTC, "sell", Decimal(1000))
        assert isinstance((await venue.submit(too_big))[0], Rejected)
        await venue.submit(OrderRequest("filled", BTC, "buy", Decimal("0.01")))
        (ended,) = await venue.cancel(BTC, "filled")  # not cancellable: its final state
        assert isinstance(ended, QueryResult) and ended.status is OrderState.FILLED
        assert (await venue.health()).error_times_ms == ()

        before = venue.now_ms()
        sim.set_fault("error_after_accept", status=503)
        with pytest.raises(OutcomeUnknown):
            await venue.submit(OrderRequest("e-1", BTC, "buy", Decimal("0.01")))
        sim.set_fault("latency", seconds=1.5, path="/api/v3/order", method="GET")
        with pytest.raises(RetryLater):  # a read timing out
            await venue.query(BTC, "e-1")
        sim.set_fault("rate_limit", retry_after=1, path="/api/v3/account")
        with pytest.raises(RetryLater):  # 429
            await venue.balances()
        after = venue.now_ms()
        errors = (await venue.health()).error_times_ms
        assert len(errors) == 3
        assert list(errors) == sorted(errors) and before <= errors[0] and errors[-1] <= after
        sim.clear_faults()
        await asyncio.sleep(1.6)  # the delayed query answered meanwhile (and was dropped)
        await venue.query(BTC, "e-1")
        assert (await venue.health()).error_times_ms == errors

    run(btc, eth, scenario)


# -- clock -----------------------------------------------------------------------------------


def test_clock_skew_is_small_on_a_wall_clock_venue(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        health = await venue.health()
        assert health.clock_skew_ms is not None and abs(health.clock_skew_ms) < 1000
        times = [r for r in sim.requests if r.path == "/api/v3/time"]
        await venue.health()
        # Measured by start() a moment ago: health() does not ask again before clock_check_s.
        assert [r for r in sim.requests if r.path == "/api/v3/time"] == times

    run(btc, eth, scenario)


def test_clock_skew_is_the_market_clock_offset_and_is_measured_again(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        expected = int(bars.timestamp[10]) - time.time() * 1000  # years in the past
        first = (await venue.health()).clock_skew_ms
        assert first is not None and abs(first - expected) < 2000
        assert abs(venue.now_ms() - int(bars.timestamp[10])) < 2000
        sim.advance_to(int(bars.timestamp[12]))  # the venue clock jumps two hours
        second = (await venue.health()).clock_skew_ms  # clock_check_s=0: measured again
        assert second is not None and abs(second - first - 2 * 3_600_000) < 2000
        # A failed measurement is an error, keeps the last value and raises nothing.
        sim.set_fault("rate_limit", retry_after=1, path="/api/v3/time")
        sim.advance_to(int(bars.timestamp[14]))
        failed = await venue.health()
        assert failed.clock_skew_ms == second and len(failed.error_times_ms) == 1

    run(btc, eth, scenario, market_time=True, venue_kwargs={"clock_check_s": 0})


# -- paper -----------------------------------------------------------------------------------


def test_paper_venue_on_a_live_feed_reports_the_feed_health(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        paper = PaperVenue(EngineConfig(), [BTC], venue)
        await paper.start()
        sim.set_fault("latency", seconds=1.5, path="/api/v3/klines")
        with pytest.raises(RetryLater):
            await paper.history([BTC], "1h", 5)  # the feed's call failed
        health = await paper.health()
        assert health.realtime and health.clock_skew_ms is not None
        assert health == await venue.health() and len(health.error_times_ms) == 1

    run(btc, eth, scenario)
