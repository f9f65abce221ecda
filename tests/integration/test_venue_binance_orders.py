"""Binance spot order forms through the real ccxt client against the simulator: stop-limit,
take-profit-limit, stop-market, post-only (LIMIT_MAKER), IOC/FOK, and OCO lists — each with
Binance's trigger rule (last trade price, bar by bar) and its refusal codes mapped to ours.

Expected prices come from the real candles the simulator serves, never from the simulator.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from live.orders import (
    Ack,
    Expired,
    FillReport,
    Intent,
    OrderManager,
    OrderState,
    QueryResult,
    Rejected,
)
from live.sim import Simulator
from live.venues import CcxtVenue
from live.venues.base import OcoVenue, OrderRequest
from tests.integration.test_venue_binance_sim import BARS, BTC, run
from tests.peers.frames import SPOT_BTC_1H, SPOT_ETH_1H, dec, real_candles

CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    return real_candles(shared_data, SPOT_BTC_1H, BARS)


@pytest.fixture(scope="module")
def eth(shared_data: Path) -> pd.DataFrame:
    return real_candles(shared_data, SPOT_ETH_1H, BARS)


def below(btc: pd.DataFrame, frac: str) -> tuple[Decimal, int]:
    """A price ``frac`` under bar 10's open, and the first bar from 10 on whose low reaches it."""
    price = (dec(btc.open[10]) * (1 - Decimal(frac))).quantize(CENT)
    return price, next(i for i in range(10, BARS) if dec(btc.low[i]) <= price)


def above(btc: pd.DataFrame, frac: str) -> tuple[Decimal, int]:
    price = (dec(btc.open[10]) * (1 + Decimal(frac))).quantize(CENT)
    return price, next(i for i in range(10, BARS) if dec(btc.high[i]) >= price)


async def hold_btc(venue: CcxtVenue, qty: str = "0.02") -> None:
    (ack, *_fills) = await venue.submit(OrderRequest("seed", BTC, "buy", Decimal(qty)))
    assert isinstance(ack, Ack)


def test_capabilities_declare_the_native_forms(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        caps = venue.capabilities
        assert (caps.stop_orders, caps.stop_limit_orders, caps.post_only, caps.oco) == (
            True, True, True, True,
        )  # fmt: skip
        assert caps.time_in_force == frozenset({"GTC", "IOC", "FOK"})
        assert isinstance(venue, OcoVenue)
        # What the adapter does not declare is refused before anything is sent.
        (gtx,) = await venue.submit(
            OrderRequest("gtx", BTC, "buy", Decimal("0.01"), "limit", CENT, time_in_force="GTX")
        )
        assert isinstance(gtx, Rejected) and "time in force GTX" in gtx.reason
        assert sim.orders == []

    run(btc, eth, scenario)


def test_stop_limit_rests_untriggered_then_fills_at_its_stop(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    stop, hit = below(btc, "0.01")
    assert hit > 10

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        await hold_btc(venue)
        om = OrderManager()
        intent = Intent(
            "run-1", BTC, "sell", "0.02", 1_000, 1, order_type="stop_limit",
            stop_price=stop, limit_price=stop - 50, reduce_only=True,
        )  # fmt: skip
        cid = intent.client_id
        om.create(intent, 1)
        om.mark_submitted(cid, 1)
        o = om.order(cid)
        request = OrderRequest(
            cid, BTC, "sell", o.qty, o.order_type, o.limit_price, stop_price=o.stop_price
        )
        reports = await venue.submit(request)
        for r in reports:
            om.apply(r, 2)
        (placed,) = [x for x in sim.orders if x.client_order_id == cid]
        assert (placed.type, placed.stop_price, placed.price) == (
            "STOP_LOSS_LIMIT",
            stop,
            stop - 50,
        )
        assert om.order(cid).state is OrderState.ACKNOWLEDGED
        # The bars before the one whose low reaches the stop leave it untriggered.
        sim.advance_to(int(bars.timestamp[hit]))
        assert await venue.query(BTC, cid) == QueryResult(
            cid, OrderState.ACKNOWLEDGED, Decimal(0), reports[0].venue_order_id
        )
        (listed,) = await venue.open_orders([BTC])
        assert listed.client_id == cid
        sim.advance_to(int(bars.timestamp[hit + 1]))
        om.apply(await venue.query(BTC, cid), 3)
        (fill,) = await venue.order_fills(BTC, cid, None)
        om.apply(FillReport(cid, fill.trade_id, fill.qty, fill.price, "rest"), 3)
        assert om.order(cid).state is OrderState.FILLED
        # Binance's rule: triggered at the stop inside the bar (no gap), filled there.
        assert fill.price == stop and fill.qty == Decimal("0.02")
        assert (await venue.balances()).get("BTC", Decimal(0)) == 0

    run(btc, eth, scenario)


def test_take_profit_and_stop_market_trigger_on_the_right_side(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    tp, tp_hit = above(btc, "0.01")
    sl, sl_hit = below(btc, "0.01")

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        await hold_btc(venue, "0.04")
        tp_req = OrderRequest(
            "tp", BTC, "sell", Decimal("0.02"), "take_profit_limit", tp, stop_price=tp
        )
        sl_req = OrderRequest("sl", BTC, "sell", Decimal("0.02"), "stop_market", stop_price=sl)
        assert isinstance((await venue.submit(tp_req))[0], Ack)
        assert isinstance((await venue.submit(sl_req))[0], Ack)
        kinds = {o.client_order_id: o.type for o in sim.orders}
        assert (kinds["tp"], kinds["sl"]) == ("TAKE_PROFIT_LIMIT", "STOP_LOSS")
        sim.advance_to(int(bars.timestamp[max(tp_hit, sl_hit) + 1]))
        prices = {f.client_id: f.price for f in await venue.fills(BTC)}
        assert prices["tp"] == tp and prices["sl"] == sl

    run(btc, eth, scenario)


def test_refusals_map_to_typed_reasons(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    market = dec(btc.open[10])

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        await hold_btc(venue)
        # A sell stop above the market price would trigger at once: -2010 on Binance spot.
        reached = OrderRequest(
            "now", BTC, "sell", Decimal("0.01"), "stop_limit", market, stop_price=market + 100
        )
        (r,) = await venue.submit(reached)
        assert isinstance(r, Rejected) and r.reason.startswith("would_trigger: ")
        assert "Stop price would trigger immediately" in r.reason
        # A post-only buy at or above the market would take: -2010 LIMIT_MAKER.
        taker = OrderRequest(
            "mk", BTC, "buy", Decimal("0.01"), "limit", market + 100, post_only=True
        )
        (r,) = await venue.submit(taker)
        assert isinstance(r, Rejected) and r.reason.startswith("would_take: ")
        # Resting, it is a LIMIT_MAKER.
        maker = OrderRequest(
            "mk2", BTC, "buy", Decimal("0.01"), "limit", market - 100, post_only=True
        )
        assert isinstance((await venue.submit(maker))[0], Ack)
        assert [o.type for o in sim.orders if o.client_order_id == "mk2"] == ["LIMIT_MAKER"]
        # A refused create books nothing and its id may be sent again.
        assert {o.client_order_id for o in sim.orders} == {"seed", "mk2"}

    run(btc, eth, scenario)


def test_ioc_and_fok_expire_what_does_not_fill_at_once(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    market = dec(btc.open[10])

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        far = market - 500
        for tif in ("IOC", "FOK"):
            req = OrderRequest(tif, BTC, "buy", Decimal("0.01"), "limit", far, time_in_force=tif)
            reports = await venue.submit(req)
            assert isinstance(reports[0], Ack) and reports[-1] == Expired(tif, "ended on creation")
        near = OrderRequest(
            "ioc2", BTC, "buy", Decimal("0.01"), "limit", market + 500, time_in_force="IOC"
        )
        reports = await venue.submit(near)
        assert [type(r) for r in reports] == [Ack, FillReport]
        assert reports[1].price == market  # type: ignore[union-attr]
        assert {o.client_order_id: o.status for o in sim.orders} == {
            "IOC": "EXPIRED", "FOK": "EXPIRED", "ioc2": "FILLED",
        }  # fmt: skip
        assert sim.book.locked["USDT"] == 0

    run(btc, eth, scenario)


def test_stop_limit_that_triggers_beyond_its_limit_rests_unfilled(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    """A sell stop-limit whose limit is above the trigger price is not marketable when it
    triggers: it rests, and fills only on a later bar that trades through the limit."""
    stop, hit = below(btc, "0.01")
    limit = stop + 200
    later = next((i for i in range(hit + 1, BARS) if dec(btc.high[i]) > limit), None)

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        await hold_btc(venue)
        req = OrderRequest(
            "sll", BTC, "sell", Decimal("0.02"), "stop_limit", limit, stop_price=stop
        )
        assert isinstance((await venue.submit(req))[0], Ack)
        sim.advance_to(int(bars.timestamp[hit + 1]))
        q = await venue.query(BTC, "sll")
        assert isinstance(q, QueryResult) and q.status is OrderState.ACKNOWLEDGED
        assert sim.ledger[1:] == []  # triggered, not filled
        if later is not None:
            sim.advance_to(int(bars.timestamp[later + 1]))
            (fill,) = await venue.order_fills(BTC, "sll", None)
            assert fill.price == limit

    run(btc, eth, scenario)


def test_oco_fills_one_leg_and_binance_expires_the_other(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    tp, tp_hit = above(btc, "0.008")
    sl, sl_hit = below(btc, "0.008")
    first = "tp" if tp_hit < sl_hit else "sl"

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        await hold_btc(venue)
        om = OrderManager()
        legs = [
            Intent("run-1", BTC, "sell", "0.02", 1_000, 1, order_type="limit", limit_price=tp,
                   post_only=True, group="oco-1", reduce_only=True),
            Intent("run-1", BTC, "sell", "0.02", 1_000, 2, order_type="stop_limit",
                   stop_price=sl, limit_price=sl - 100, group="oco-1", reduce_only=True),
        ]  # fmt: skip
        requests = []
        for leg in legs:
            om.create(leg, 1)
            om.mark_submitted(leg.client_id, 1)
            o = om.order(leg.client_id)
            requests.append(OrderRequest(
                o.client_id, BTC, "sell", o.qty, o.order_type, o.limit_price,
                stop_price=o.stop_price, post_only=o.post_only,
            ))  # fmt: skip
        assert isinstance(venue, OcoVenue)
        for r in await venue.submit_oco(requests):
            om.apply(r, 2)
        kinds = sorted(o.type for o in sim.orders if o.list_id > 0)
        assert kinds == ["LIMIT_MAKER", "STOP_LOSS_LIMIT"]
        assert [om.order(i.client_id).state for i in legs] == [OrderState.ACKNOWLEDGED] * 2
        assert sim.book.locked["BTC"] == Decimal("0.02")  # one hold for the pair
        sim.advance_to(int(bars.timestamp[min(tp_hit, sl_hit) + 1]))
        for leg in legs:
            om.apply(await venue.query(BTC, leg.client_id), 3)
            for f in await venue.order_fills(BTC, leg.client_id, None):
                om.apply(FillReport(leg.client_id, f.trade_id, f.qty, f.price, "rest"), 3)
        filled, other = (legs[0], legs[1]) if first == "tp" else (legs[1], legs[0])
        assert om.order(filled.client_id).state is OrderState.FILLED
        assert om.order(other.client_id).state is OrderState.EXPIRED
        assert om.group_cancels() == []  # the venue ended the sibling itself
        assert om.position(BTC) == Decimal("-0.02")
        assert sim.book.locked["BTC"] == 0

    run(btc, eth, scenario)


def test_oco_that_would_trigger_is_refused_as_a_whole(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    market = dec(btc.open[10])

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        await hold_btc(venue)
        legs = [
            OrderRequest("a", BTC, "sell", Decimal("0.02"), "limit", market + 300, post_only=True),
            OrderRequest("b", BTC, "sell", Decimal("0.02"), "stop_market", stop_price=market + 100),
        ]
        assert isinstance(venue, OcoVenue)
        reports = await venue.submit_oco(legs)
        assert [type(r) for r in reports] == [Rejected, Rejected]
        assert all(r.reason.startswith("would_trigger") for r in reports)  # type: ignore[union-attr]
        assert [o.client_order_id for o in sim.orders] == ["seed"]

    run(btc, eth, scenario)


def test_a_partial_fill_of_one_oco_leg_expires_the_other(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    """Binance ends the other leg of an OCO list as soon as one leg trades, even partly; the
    partly filled leg keeps working for its remainder."""
    tp = (dec(btc.open[10]) * Decimal("1.004")).quantize(CENT)
    sl = (dec(btc.open[10]) * Decimal("0.95")).quantize(CENT)
    through = [i for i in range(10, BARS) if dec(btc.high[i]) > tp]
    first, second = through[0], next(i for i in through if i > through[0])
    assert all(dec(btc.low[i]) > sl for i in range(10, second + 1))

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        await hold_btc(venue)
        om = OrderManager()
        legs = [
            Intent("run-1", BTC, "sell", "0.02", 1_000, 1, order_type="limit", limit_price=tp,
                   post_only=True, group="oco-2"),
            Intent("run-1", BTC, "sell", "0.02", 1_000, 2, order_type="stop_market",
                   stop_price=sl, group="oco-2"),
        ]  # fmt: skip
        requests = []
        for leg in legs:
            om.create(leg, 1)
            om.mark_submitted(leg.client_id, 1)
            o = om.order(leg.client_id)
            requests.append(OrderRequest(
                o.client_id, BTC, "sell", o.qty, o.order_type, o.limit_price,
                stop_price=o.stop_price, post_only=o.post_only,
            ))  # fmt: skip
        sim.set_fault("partial_fill", fraction=0.5)  # the first leg booked (above: the limit)
        assert isinstance(venue, OcoVenue)
        for r in await venue.submit_oco(requests):
            om.apply(r, 2)

        async def sync(now: int) -> None:
            for leg in legs:
                om.apply(await venue.query(BTC, leg.client_id), now)
                for f in await venue.order_fills(BTC, leg.client_id, None):
                    om.apply(FillReport(leg.client_id, f.trade_id, f.qty, f.price, "rest"), now)

        sim.advance_to(int(bars.timestamp[first + 1]))
        await sync(3)
        take, stop = (om.order(i.client_id) for i in legs)
        assert (take.state, take.filled_qty) == (OrderState.PARTIALLY_FILLED, Decimal("0.01"))
        assert stop.state is OrderState.EXPIRED  # ended by the venue on the partial fill
        assert om.group_cancels() == []
        sim.advance_to(int(bars.timestamp[second + 1]))
        await sync(4)
        assert om.order(legs[0].client_id).state is OrderState.FILLED
        assert [f.price for f in om.fills(legs[0].client_id)] == [tp, tp]
        assert om.position(BTC) == Decimal("-0.02") and sim.book.locked["BTC"] == 0

    run(btc, eth, scenario)
