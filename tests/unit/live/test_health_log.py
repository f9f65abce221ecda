"""Venue health: the ccxt adapters' health log, the answers Coinbase's adapter does not count as
failures (through the real ccxt client against its peer), and the paper venue's health."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig
from live.orders import Cancelled, NotFound, QueryResult, Rejected
from live.sim.coinbase import CoinbaseSimulator, new_cdp_key
from live.venues import CcxtVenue, Credentials, GiveUp
from live.venues._ccxt_util import HealthLog
from live.venues.base import FailedCall, OrderRequest, VenueHealth
from live.venues.paper import PaperVenue, ReplayFeed
from tests.unit.live.test_venues_ccxt import CB, cid, run_coinbase


class Clock:
    def __init__(self, now: int = 1_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_a_stream_lost_then_back_counts_one_reconnection() -> None:
    clock = Clock()
    log = HealthLog(clock)
    user = log.stream("user")
    assert (log.down_since_ms, log.reconnects) == (None, 0)
    log.back(user)  # delivering while up: nothing to count
    assert (log.down_since_ms, log.reconnects) == (None, 0)
    log.lost(user)
    clock.now = 2_000
    log.lost(user)  # failing again in the same outage: still down since the first failure
    assert (log.down_since_ms, log.reconnects) == (1_000, 0)
    clock.now = 3_000
    log.back(user)
    log.back(user)  # the second item after the reconnection is no new reconnection
    assert (log.down_since_ms, log.reconnects) == (None, 1)


def test_down_since_is_the_earliest_stream_still_down() -> None:
    clock = Clock()
    log = HealthLog(clock)
    user, klines = log.stream("user"), log.stream("klines BTC/USDT 1h")
    assert user != klines
    log.lost(user)
    clock.now = 5_000
    log.lost(klines)
    assert log.down_since_ms == 1_000
    log.back(user)  # the klines are still down: so is the venue, since they were lost
    assert (log.down_since_ms, log.reconnects) == (5_000, 1)
    log.back(klines)
    assert (log.down_since_ms, log.reconnects) == (None, 2)
    log.lost(klines)
    log.ended(klines)  # nobody reads it any more: not down, and no reconnection
    assert (log.down_since_ms, log.reconnects) == (None, 2)


def test_error_times_are_venue_clock_times_and_bounded() -> None:
    clock = Clock()
    log = HealthLog(clock, max_errors=3)
    for t in range(10, 15):
        clock.now = t
        log.error("create_order" if t % 2 else "fetch_balance", "RequestTimeout")
    health = log.snapshot(realtime=True, clock_skew_ms=-5.0)
    assert health == VenueHealth(
        realtime=True,
        ws_down_since_ms=None,
        reconnects=0,
        error_times_ms=(12, 13, 14),
        clock_skew_ms=-5.0,
        failed_calls=(
            FailedCall(12, "fetch_balance", "RequestTimeout"),
            FailedCall(13, "create_order", "RequestTimeout"),
            FailedCall(14, "fetch_balance", "RequestTimeout"),
        ),
    )


def test_paper_venue_on_a_replay_is_not_realtime() -> None:
    n = 5
    bars = Bars(index=np.arange(n, dtype=np.int64) * 3_600_000, symbols=("BTC/USDT",),
                timeframe="1h", open=np.full((n, 1), 100.0), high=np.full((n, 1), 101.0),
                low=np.full((n, 1), 99.0), close=np.full((n, 1), 100.0),
                volume=np.ones((n, 1)))  # fmt: skip
    venue = PaperVenue(EngineConfig(), bars.symbols, ReplayFeed(bars))
    health = asyncio.run(venue.health())
    assert health == VenueHealth(realtime=False)
    assert health.ws_down_since_ms is None and health.clock_skew_ms is None


def test_coinbase_answers_are_not_failures_but_a_refused_key_is(btc: pd.DataFrame) -> None:
    async def scenario(sim: CoinbaseSimulator, venue: CcxtVenue, creds: Credentials) -> None:
        # A refused order ("success": false), a cancel of a cancelled order (refused, then
        # queried), an unknown client id, an unknown venue order id (404 NOT_FOUND).
        poor = await venue.submit(OrderRequest(cid(2), CB, "buy", Decimal(100)))
        assert isinstance(poor[0], Rejected)
        price = Decimal(int(btc.open[10] * 0.8))
        await venue.submit(OrderRequest(cid(3), CB, "buy", Decimal("0.01"), "limit", price))
        assert await venue.cancel(CB, cid(3)) == [Cancelled(cid(3))]
        (again,) = await venue.cancel(CB, cid(3))
        assert isinstance(again, QueryResult)
        assert await venue.query(CB, cid(9)) == NotFound(cid(9))
        venue.tracker.track(cid(8), CB, "00000000-0000-4000-8000-0000000000ff")
        assert await venue.query(CB, cid(8)) == NotFound(cid(8))
        assert (await venue.health()).error_times_ms == ()
        # A setup error is a failure: a key the peer does not know.
        venue.client.apiKey, venue.client.secret = new_cdp_key()
        before = venue.now_ms()
        with pytest.raises(GiveUp):
            await venue.balances()
        health = await venue.health()
        (failed,) = health.error_times_ms
        assert before <= failed <= venue.now_ms()
        # Which call failed, and the client library's error class behind our GiveUp.
        assert health.failed_calls == (FailedCall(failed, "fetch_balance", "AuthenticationError"),)

    run_coinbase(btc, scenario)
