"""Coinbase Advanced Trade stop-limit and post-only orders through the real ccxt client
against the simulator: ``stop_limit_stop_limit_gtc`` with an explicit stop direction (a sell
stop-loss triggers on the way down, a sell take-profit on the way up), Coinbase's refusal of a
stop the last trade price has reached and of a post-only limit that would take, mapped to
typed reasons.

Expected prices come from the real candles the simulator serves, never from the simulator.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from live.orders import Ack, QueryResult, Rejected
from live.orders import OrderState as S
from live.sim.coinbase import CoinbaseSimulator, new_cdp_key, start_coinbase_simulator
from live.venues import CcxtVenue, Credentials, make_venue
from live.venues.base import OrderRequest
from tests.peers.frames import SPOT_BTC_1H, dec, real_candles
from tests.peers.sim_clients import drive

CB = "BTC/USD"
CENT = Decimal("0.01")


def cid(n: int) -> str:
    return f"{n:08d}-0000-4000-8000-00000000ab16"


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    return real_candles(shared_data, SPOT_BTC_1H, 80)


def run(btc: pd.DataFrame, scenario: Any) -> None:
    key, secret = new_cdp_key()
    creds = Credentials(key, secret)
    drive(
        lambda: start_coinbase_simulator(
            candles={"BTC-USD": btc},
            api_key=key,
            api_secret=secret,
            start_ms=int(btc.timestamp[10]),
        ),
        lambda sim: make_venue(
            "coinbase", urls=sim.url, credentials=creds, rate_limit=False, price_timeframe="1h"
        ),
        scenario,
        ready=lambda venue: venue.start(),
    )


async def hold(venue: CcxtVenue) -> None:
    (ack,) = await venue.submit(OrderRequest(cid(99), CB, "buy", Decimal("0.02")))
    assert isinstance(ack, Ack)


def test_stop_loss_and_take_profit_trigger_in_their_directions(btc: pd.DataFrame) -> None:
    o10 = dec(btc.open[10])
    sl = (o10 * Decimal("0.99")).quantize(CENT)
    tp = (o10 * Decimal("1.01")).quantize(CENT)
    sl_hit = next(i for i in range(10, 80) if dec(btc.low[i]) <= sl)
    tp_hit = next(i for i in range(10, 80) if dec(btc.high[i]) >= tp)

    async def scenario(sim: CoinbaseSimulator, venue: CcxtVenue) -> None:
        await hold(venue)
        stop = OrderRequest(
            cid(1), CB, "sell", Decimal("0.01"), "stop_limit", sl - 20, stop_price=sl
        )
        take = OrderRequest(
            cid(2), CB, "sell", Decimal("0.01"), "take_profit_limit", tp, stop_price=tp
        )
        for r in (stop, take):
            assert isinstance((await venue.submit(r))[0], Ack)
        config = {o.client_order_id: o.request for o in sim.orders}
        assert config[cid(1)]["stop_limit_stop_limit_gtc"]["stop_direction"] == (
            "STOP_DIRECTION_STOP_DOWN"
        )
        assert config[cid(2)]["stop_limit_stop_limit_gtc"]["stop_direction"] == (
            "STOP_DIRECTION_STOP_UP"
        )
        q = await venue.query(CB, cid(1))
        assert isinstance(q, QueryResult) and q.status is S.ACKNOWLEDGED
        sim.advance_to(int(btc.timestamp[max(sl_hit, tp_hit) + 1]))
        for n, level in ((1, sl), (2, tp)):
            q = await venue.query(CB, cid(n))
            assert isinstance(q, QueryResult) and q.status is S.FILLED
            (fill,) = await venue.order_fills(CB, cid(n), q.venue_order_id)
            assert fill.price == level  # triggered inside a bar, filled at the trigger

    run(btc, scenario)


def test_refusals_would_trigger_and_would_take(btc: pd.DataFrame) -> None:
    market = dec(btc.open[10])

    async def scenario(sim: CoinbaseSimulator, venue: CcxtVenue) -> None:
        await hold(venue)
        (r,) = await venue.submit(
            OrderRequest(cid(3), CB, "sell", Decimal("0.01"), "stop_limit", market,
                         stop_price=market + 50)
        )  # fmt: skip
        assert isinstance(r, Rejected) and r.reason.startswith("would_trigger: "), r
        (r,) = await venue.submit(
            OrderRequest(cid(4), CB, "buy", Decimal("0.01"), "limit", market + 50, post_only=True)
        )
        assert isinstance(r, Rejected) and r.reason.startswith("would_take: "), r
        (r,) = await venue.submit(
            OrderRequest(cid(5), CB, "sell", Decimal("0.01"), "stop_market", stop_price=market)
        )
        assert isinstance(r, Rejected) and "sends no stop_market" in r.reason
        assert [o.client_order_id for o in sim.orders] == [cid(99)]

    run(btc, scenario)
