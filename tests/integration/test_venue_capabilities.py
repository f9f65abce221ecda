"""Declared capabilities are what the adapter does, against the local Binance simulator through
the real ccxt.pro client: the order types it declares are sent, one it does not declare is
refused before anything reaches the venue, and the streams it declares deliver."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from live.orders import Ack, Rejected
from live.sim import Simulator
from live.venues import CcxtVenue
from live.venues.base import OrderRequest
from tests.integration.test_venue_binance_sim import BARS, BTC, run
from tests.peers.frames import SPOT_BTC_1H, SPOT_ETH_1H, dec, real_candles


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    return real_candles(shared_data, SPOT_BTC_1H, BARS)


@pytest.fixture(scope="module")
def eth(shared_data: Path) -> pd.DataFrame:
    return real_candles(shared_data, SPOT_ETH_1H, BARS)


def _limit(btc: pd.DataFrame, cid: str) -> OrderRequest:
    price = (dec(btc.open[10]) * Decimal("0.9")).quantize(Decimal("0.01"))
    return OrderRequest(cid, BTC, "buy", Decimal("0.01"), "limit", price)


def test_declared_limit_orders_reach_the_venue(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        assert venue.capabilities.limit_orders and "GTC" in venue.capabilities.time_in_force
        (ack,) = await venue.submit(_limit(bars, "lim-1"))
        assert isinstance(ack, Ack) and [o.client_order_id for o in sim.orders] == ["lim-1"]
        assert sim.orders[0].time_in_force == "GTC"  # the declared (venue default) time in force

    run(btc, eth, scenario)


def test_an_undeclared_order_type_is_refused_before_sending(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    def market_only(venue: CcxtVenue) -> None:
        venue.capabilities = dataclasses.replace(venue.capabilities, limit_orders=False)

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        (refused,) = await venue.submit(_limit(bars, "lim-2"))
        assert refused == Rejected("lim-2", "not sent: this venue's adapter sends no limit orders")
        assert sim.orders == []  # nothing reached the venue
        assert "lim-2" not in venue.known_client_ids  # and the id may be used again
        (ack, *_) = await venue.submit(OrderRequest("mkt-1", BTC, "buy", Decimal("0.01")))
        assert isinstance(ack, Ack) and [o.client_order_id for o in sim.orders] == ["mkt-1"]

    run(btc, eth, scenario, prepare=market_only)


def test_declared_kline_stream_or_polling(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    """``stream_bars`` decides how bars come: from the kline websocket when declared, else by
    polling REST (no subscription at the venue) — the same closed bars either way."""
    got: dict[bool, tuple[list[int], int]] = {}

    for declared in (True, False):

        def declare(venue: CcxtVenue, on: bool = declared) -> None:
            venue.capabilities = dataclasses.replace(venue.capabilities, stream_bars=on)
            venue.poll_interval_s = 0.1

        async def scenario(
            sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame, on: bool = declared
        ) -> None:
            stream = venue.bars([BTC], "1h", int(bars.timestamp[8]))
            try:
                first = [await asyncio.wait_for(anext(stream), 5) for _ in range(2)]
                pending = asyncio.ensure_future(anext(stream))  # the live phase starts
                if on:
                    await sim.wait_subscribed("btcusdt@kline_1h")
                else:
                    await asyncio.sleep(0.5)  # time enough to subscribe, were it declared
                subscribed = sim.hub.subscribers("btcusdt@kline_1h")
                sim.advance_to(int(bars.timestamp[11]))
                later = await asyncio.wait_for(pending, 5)
            finally:
                await stream.aclose()
            got[on] = ([b.ts_ms for b in [*first, later]], subscribed)

        run(btc, eth, scenario, prepare=declare)
    wanted = [int(btc.timestamp[i]) for i in (8, 9, 10)]
    assert got[True][0] == got[False][0] == wanted
    assert got[True][1] >= 1 and got[False][1] == 0
