"""Binance USD-M conditional orders through the real ccxt client against the simulator:
STOP_MARKET / TAKE_PROFIT_MARKET with reduceOnly or closePosition, TRAILING_STOP_MARKET, GTX
post-only and IOC — sent by ccxt to the algo order API, looked up, cancelled and filled by
client id, and Binance's refusals (-2021, -5022) mapped to typed reasons.

Expected prices come from the real candles the simulator serves, never from the simulator.
"""

from __future__ import annotations

from decimal import ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from live.orders import (
    Ack,
    Cancelled,
    Expired,
    FillReport,
    Intent,
    NotFound,
    OrderManager,
    OrderState,
    QueryResult,
    Rejected,
)
from live.sim.usdm import UsdmSimulator, start_usdm_simulator
from live.venues import CcxtVenue, Credentials, make_venue
from live.venues.base import OrderRequest
from tests.peers.frames import USDM_BTC_1H, dec, real_candles
from tests.peers.sim_clients import drive

KEY, SECRET = "usdm-key", "usdm-secret"
BARS = 300
PERP = "BTC/USDT:USDT"
TICK = Decimal("0.1")


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    return real_candles(shared_data, USDM_BTC_1H, BARS)


def run(btc: pd.DataFrame, scenario: Any) -> None:
    def connect(sim: UsdmSimulator) -> CcxtVenue:
        return make_venue(
            "binanceusdm", urls=sim.url, credentials=Credentials(KEY, SECRET), rate_limit=False
        )

    drive(
        lambda: start_usdm_simulator(
            candles={"BTCUSDT": btc},
            api_key=KEY,
            api_secret=SECRET,
            start_ms=int(btc.timestamp[10]),
        ),
        connect,
        scenario,
        ready=lambda venue: venue.start(),
    )


def level(btc: pd.DataFrame, frac: str) -> Decimal:
    return (dec(btc.open[10]) * (1 + Decimal(frac)) / TICK).to_integral_value() * TICK


def first(btc: pd.DataFrame, pred: Any) -> int:
    return next(i for i in range(10, BARS) if pred(i))


async def go_long(venue: CcxtVenue, qty: str = "0.01") -> None:
    (ack, *_) = await venue.submit(OrderRequest("entry", PERP, "buy", Decimal(qty)))
    assert isinstance(ack, Ack)


def test_stop_market_reduce_only_rests_then_closes_at_its_trigger(btc: pd.DataFrame) -> None:
    stop = level(btc, "-0.01")
    hit = first(btc, lambda i: dec(btc.low[i]) <= stop)

    async def scenario(sim: UsdmSimulator, venue: CcxtVenue) -> None:
        await go_long(venue)
        om = OrderManager()
        intent = Intent(
            "run-1", PERP, "sell", "0.01", 1_000, 1, order_type="stop_market",
            stop_price=stop, reduce_only=True,
        )  # fmt: skip
        cid = intent.client_id
        om.create(intent, 1)
        om.mark_submitted(cid, 1)
        request = OrderRequest(
            cid, PERP, "sell", Decimal("0.01"), "stop_market", stop_price=stop, reduce_only=True
        )
        for r in await venue.submit(request):
            om.apply(r, 2)
        (algo,) = sim.book.algo_orders
        assert (algo.type, algo.trigger, algo.reduce_only, algo.client_algo_id) == (
            "STOP_MARKET", stop, True, cid,
        )  # fmt: skip
        assert om.order(cid).state is OrderState.ACKNOWLEDGED
        assert [o.client_id for o in await venue.open_orders([PERP])] == [cid]
        sim.advance_to(int(btc.timestamp[hit]))
        q = await venue.query(PERP, cid)
        assert isinstance(q, QueryResult) and q.status is OrderState.ACKNOWLEDGED
        sim.advance_to(int(btc.timestamp[hit + 1]))
        om.apply(await venue.query(PERP, cid), 3)
        (fill,) = await venue.order_fills(PERP, cid, om.order(cid).venue_order_id)
        om.apply(FillReport(cid, fill.trade_id, fill.qty, fill.price, "rest"), 3)
        assert om.order(cid).state is OrderState.FILLED
        assert fill.price == stop  # triggered inside the bar, at the trigger
        assert await venue.positions([PERP]) == {PERP: Decimal(0)}
        assert await venue.open_orders([PERP]) == []

    run(btc, scenario)


def test_take_profit_close_position_and_cancel_by_client_id(btc: pd.DataFrame) -> None:
    tp = level(btc, "0.01")
    hit = first(btc, lambda i: dec(btc.high[i]) >= tp)

    async def scenario(sim: UsdmSimulator, venue: CcxtVenue) -> None:
        await go_long(venue, "0.02")
        spare = OrderRequest(
            "tp-x", PERP, "sell", Decimal("0.02"), "take_profit_market",
            stop_price=tp + 1000, close_position=True,
        )  # fmt: skip
        assert isinstance((await venue.submit(spare))[0], Ack)
        # A fresh adapter (a restart, a kill switch) cancels it by client id alone.
        fresh = make_venue(
            "binanceusdm", urls=sim.url, credentials=Credentials(KEY, SECRET), rate_limit=False
        )
        try:
            assert await fresh.cancel(PERP, "tp-x") == [Cancelled("tp-x")]
            assert await fresh.cancel(PERP, "none") == [NotFound("none")]
        finally:
            await fresh.close()
        assert sim.book.algo_orders[0].status == "CANCELED"
        req = OrderRequest(
            "tp", PERP, "sell", Decimal("0.02"), "take_profit_market", stop_price=tp,
            close_position=True,
        )  # fmt: skip
        assert isinstance((await venue.submit(req))[0], Ack)
        assert sim.book.algo_orders[1].close_position
        sim.advance_to(int(btc.timestamp[hit + 1]))
        (fill,) = await venue.order_fills(PERP, "tp", None)
        assert fill.price == tp and fill.qty == Decimal("0.02")
        assert await venue.positions([PERP]) == {PERP: Decimal(0)}
        # A fresh adapter (a restart) finds the conditional order by client id alone.
        fresh = make_venue(
            "binanceusdm", urls=sim.url, credentials=Credentials(KEY, SECRET), rate_limit=False
        )
        try:
            q = await fresh.query(PERP, "tp")
            assert isinstance(q, QueryResult) and q.status is OrderState.FILLED
            assert q.filled_qty == Decimal("0.02")
            assert await fresh.query(PERP, "none") == NotFound("none")
        finally:
            await fresh.close()

    run(btc, scenario)


def test_trailing_stop_follows_the_high_and_triggers_behind_it(btc: pd.DataFrame) -> None:
    rate = Decimal("1")
    # The engine-free expectation: the peak of the highs before each bar, from bar 10's open.
    peak, hit, at = dec(btc.open[10]), None, None
    for i in range(10, BARS):
        if i > 10:
            trig = (peak * (1 - rate / 100) / TICK).to_integral_value(ROUND_FLOOR) * TICK
            if dec(btc.open[i]) <= trig or dec(btc.low[i]) <= trig:
                hit, at = i, min(dec(btc.open[i]), trig)
                break
        peak = max(peak, dec(btc.high[i]))
    assert hit is not None

    async def scenario(sim: UsdmSimulator, venue: CcxtVenue) -> None:
        await go_long(venue)
        req = OrderRequest(
            "trail", PERP, "sell", Decimal("0.01"), "trailing_stop_market",
            trailing_pct=rate, reduce_only=True,
        )  # fmt: skip
        assert isinstance((await venue.submit(req))[0], Ack)
        (algo,) = sim.book.algo_orders
        assert (algo.type, algo.callback_rate) == ("TRAILING_STOP_MARKET", rate)
        sim.advance_to(int(btc.timestamp[hit + 1]))
        (fill,) = await venue.order_fills(PERP, "trail", None)
        assert fill.price == at

    run(btc, scenario)


def test_refusals_would_trigger_and_would_take(btc: pd.DataFrame) -> None:
    mark = dec(btc.open[10])

    async def scenario(sim: UsdmSimulator, venue: CcxtVenue) -> None:
        await go_long(venue)
        above = (mark / TICK).to_integral_value() * TICK + 100
        (r,) = await venue.submit(
            OrderRequest("now", PERP, "sell", Decimal("0.01"), "stop_market", stop_price=above,
                         reduce_only=True)
        )  # fmt: skip
        assert (
            isinstance(r, Rejected)
            and r.reason.startswith("would_trigger: ")
            and "-2021" in r.reason
        )
        (r,) = await venue.submit(
            OrderRequest("gtx", PERP, "buy", Decimal("0.01"), "limit", above, time_in_force="GTX")
        )
        assert (
            isinstance(r, Rejected) and r.reason.startswith("would_take: ") and "-5022" in r.reason
        )
        below = above - 1000
        (ack,) = await venue.submit(
            OrderRequest("gtx2", PERP, "buy", Decimal("0.01"), "limit", below, post_only=True)
        )
        assert isinstance(ack, Ack)
        assert [o.time_in_force for o in sim.orders if o.client_order_id == "gtx2"] == ["GTX"]
        reports = await venue.submit(
            OrderRequest("ioc", PERP, "buy", Decimal("0.01"), "limit", below, time_in_force="IOC")
        )
        assert reports[-1] == Expired("ioc", "ended on creation")
        assert sim.book.algo_orders == []

    run(btc, scenario)


# -- STOP / TAKE_PROFIT with a limit price (issue 16 item 3) ------------------------------------


def test_stop_limit_triggers_and_fills_at_its_trigger_when_the_limit_allows(
    btc: pd.DataFrame,
) -> None:
    stop = level(btc, "-0.01")
    limit = stop - 50  # a sell's limit below the stop: marketable at the trigger
    hit = first(btc, lambda i: dec(btc.low[i]) <= stop)

    async def scenario(sim: UsdmSimulator, venue: CcxtVenue) -> None:
        await go_long(venue)
        req = OrderRequest(
            "sl", PERP, "sell", Decimal("0.01"), "stop_limit", limit, stop_price=stop,
            reduce_only=True,
        )  # fmt: skip
        (ack,) = await venue.submit(req)
        assert isinstance(ack, Ack)
        (algo,) = sim.book.algo_orders  # ccxt sent it to /fapi/v1/algoOrder as a STOP
        assert (algo.type, algo.trigger, algo.price, algo.reduce_only) == (
            "STOP", stop, limit, True,
        )  # fmt: skip
        assert [o.client_id for o in await venue.open_orders([PERP])] == ["sl"]
        sim.advance_to(int(btc.timestamp[hit]))
        q = await venue.query(PERP, "sl")
        assert isinstance(q, QueryResult) and q.status is OrderState.ACKNOWLEDGED
        sim.advance_to(int(btc.timestamp[hit + 1]))
        q = await venue.query(PERP, "sl")
        assert isinstance(q, QueryResult) and q.status is OrderState.FILLED
        (fill,) = await venue.order_fills(PERP, "sl", None)
        assert (fill.price, fill.qty) == (stop, Decimal("0.01"))  # at the trigger, not the limit
        (actual,) = [o for o in sim.orders if o.order_id == algo.actual_order_id]
        assert (actual.type, actual.price) == ("LIMIT", limit)
        assert await venue.positions([PERP]) == {PERP: Decimal(0)}

    run(btc, scenario)


def test_take_profit_limit_triggers_rests_then_fills_or_is_cancelled(btc: pd.DataFrame) -> None:
    tp = level(btc, "0.01")
    limit = tp + 100  # a sell's limit above its trigger: it rests once triggered
    hit = first(btc, lambda i: dec(btc.high[i]) >= tp)
    through = next(i for i in range(hit + 1, BARS) if dec(btc.high[i]) > limit)

    async def scenario(sim: UsdmSimulator, venue: CcxtVenue) -> None:
        await go_long(venue, "0.02")
        for cid in ("tp1", "tp2"):
            req = OrderRequest(
                cid, PERP, "sell", Decimal("0.01"), "take_profit_limit", limit, stop_price=tp,
                reduce_only=True,
            )  # fmt: skip
            assert isinstance((await venue.submit(req))[0], Ack)
        assert [a.type for a in sim.book.algo_orders] == ["TAKE_PROFIT", "TAKE_PROFIT"]
        sim.advance_to(int(btc.timestamp[hit + 1]))
        assert [a.status for a in sim.book.algo_orders] == ["FINISHED", "FINISHED"]
        for cid in ("tp1", "tp2"):  # triggered, its limit resting: still open, nothing filled
            q = await venue.query(PERP, cid)
            assert isinstance(q, QueryResult) and q.status is OrderState.ACKNOWLEDGED
            assert q.filled_qty == 0
        # The finished algo order cannot be cancelled: its resting limit order is.
        assert await venue.cancel(PERP, "tp2") == [Cancelled("tp2")]
        assert [o.status for o in sim.orders if o.client_order_id == "tp2"] == ["CANCELED"]
        if through > hit + 1:
            assert (await venue.query(PERP, "tp1")).status is OrderState.ACKNOWLEDGED
        sim.advance_to(int(btc.timestamp[through + 1]))
        (fill,) = await venue.order_fills(PERP, "tp1", None)
        assert (fill.price, fill.qty) == (limit, Decimal("0.01"))  # maker, at its limit
        assert await venue.positions([PERP]) == {PERP: Decimal("0.01")}
        q = await venue.query(PERP, "tp2")
        assert isinstance(q, QueryResult) and q.status is OrderState.CANCELLED

    run(btc, scenario)


def test_stop_limit_refusals_carry_binance_codes(btc: pd.DataFrame) -> None:
    mark = dec(btc.open[10])

    async def scenario(sim: UsdmSimulator, venue: CcxtVenue) -> None:
        await go_long(venue)
        above = (mark / TICK).to_integral_value() * TICK + 100
        (r,) = await venue.submit(
            OrderRequest("now", PERP, "sell", Decimal("0.01"), "stop_limit", above - 200,
                         stop_price=above, reduce_only=True)
        )  # fmt: skip
        assert isinstance(r, Rejected) and r.reason.startswith("would_trigger: ")
        assert "-2021" in r.reason
        (r,) = await venue.submit(
            OrderRequest("tpnow", PERP, "sell", Decimal("0.01"), "take_profit_limit", above,
                         stop_price=above - 200, reduce_only=True)
        )  # fmt: skip
        assert isinstance(r, Rejected) and "-2021" in r.reason
        (r,) = await venue.submit(
            OrderRequest("close", PERP, "sell", Decimal("0.01"), "stop_limit", above - 300,
                         stop_price=above - 200, close_position=True)
        )  # fmt: skip
        assert isinstance(r, Rejected) and "-1106" in r.reason and "closePosition" in r.reason
        assert sim.book.algo_orders == []

    run(btc, scenario)


def test_a_bar_reaching_both_exits_triggers_them_in_placement_order(btc: pd.DataFrame) -> None:
    """USD-M has no OCO: the runner's stop-loss and take-profit are two reduce-only algo orders,
    and a bar whose range reaches both triggers them in the order they were placed; the second
    finds no position to reduce and expires. The runner places the stop-loss first, so on
    USD-M the stop wins such a bar (``Stops(trigger="usdm")``, which also keeps the stop first
    when the open gapped past the take-profit), where the spot OCO list's upper leg wins
    (``Stops(trigger="venue")``)."""
    # Placed at the open of a bar whose range reaches below and above: the levels half way.
    i = first(btc, lambda i: i > 10 and dec(btc.high[i]) - dec(btc.open[i]) > 4 * TICK
              and dec(btc.open[i]) - dec(btc.low[i]) > 4 * TICK)  # fmt: skip
    o, lo, hi = dec(btc.open[i]), dec(btc.low[i]), dec(btc.high[i])
    sl = ((o + lo) / 2 / TICK).to_integral_value() * TICK
    tp = ((o + hi) / 2 / TICK).to_integral_value() * TICK
    assert lo <= sl < o < tp <= hi

    def legs(first_kind: str) -> list[OrderRequest]:
        stop = OrderRequest("sl", PERP, "sell", Decimal("0.01"), "stop_market", stop_price=sl,
                            reduce_only=True)  # fmt: skip
        take = OrderRequest("tp", PERP, "sell", Decimal("0.01"), "take_profit_market",
                            stop_price=tp, reduce_only=True)  # fmt: skip
        return [stop, take] if first_kind == "sl" else [take, stop]

    for placed_first in ("sl", "tp"):

        async def scenario(sim: UsdmSimulator, venue: CcxtVenue, who: str = placed_first) -> None:
            sim.advance_to(int(btc.timestamp[i]))
            await go_long(venue)
            for req in legs(who):
                assert isinstance((await venue.submit(req))[0], Ack)
            sim.advance_to(int(btc.timestamp[i + 1]))
            assert await venue.positions([PERP]) == {PERP: Decimal(0)}
            other = "tp" if who == "sl" else "sl"
            (fill,) = await venue.order_fills(PERP, who, None)
            assert fill.price == (sl if who == "sl" else tp)
            assert await venue.order_fills(PERP, other, None) == []
            q = await venue.query(PERP, other)
            assert isinstance(q, QueryResult) and q.status is OrderState.EXPIRED

        run(btc, scenario)
