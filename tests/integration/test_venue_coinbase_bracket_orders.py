"""Coinbase Advanced Trade bracket orders (``trigger_bracket_gtc``) through the real ccxt client
against the simulator: a position's stop-loss and take-profit sent as one bracket (the runner's
native-stop pair, ``capabilities.oco``), each leg queried, filled and cancelled by its own
client id; the take-profit leg fired by a bar trading through its limit, the stop leg by the
last price reaching its trigger (filled at the trigger, or at a gapped open), the sibling
ended; Coinbase's refusals with its failure reasons.

Expected prices come from the real candles the simulator serves, never from the simulator.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from grekko_research.engine import Stops
from live.orders import Ack, Cancelled, Intent, OrderManager, QueryResult, Rejected, StopPolicy
from live.orders import OrderState as S
from live.sim.coinbase import CoinbaseSimulator, new_cdp_key, start_coinbase_simulator
from live.venues import CcxtVenue, Credentials, make_venue
from live.venues.base import OcoVenue, OrderRequest
from tests.peers.frames import SPOT_BTC_1H, dec, real_candles
from tests.peers.sim_clients import drive

CB = "BTC/USD"
CENT = Decimal("0.01")
BARS = 200
QTY = Decimal("0.01")


def cid(n: int) -> str:
    return f"{n:08d}-0000-4000-8000-0000000b4a16"


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    return real_candles(shared_data, SPOT_BTC_1H, BARS)


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


def at(btc: pd.DataFrame, frac: str) -> Decimal:
    return (dec(btc.open[10]) * (1 + Decimal(frac))).quantize(CENT)


def first(btc: pd.DataFrame, pred: Any) -> int:
    return next(i for i in range(10, BARS) if pred(i))


def legs(stop: Decimal, take: Decimal, n: int = 1) -> tuple[OrderRequest, OrderRequest]:
    """A long position's exits as the runner's native stops send them (stop-limit +
    take-profit-limit, one group)."""
    return (
        OrderRequest(cid(n), CB, "sell", QTY, "stop_limit", stop - 20, stop_price=stop),
        OrderRequest(cid(n + 1), CB, "sell", QTY, "take_profit_limit", take, stop_price=take),
    )


async def hold(venue: CcxtVenue) -> None:
    (ack,) = await venue.submit(OrderRequest(cid(99), CB, "buy", Decimal("0.02")))
    assert isinstance(ack, Ack)


async def send(venue: CcxtVenue, pair: tuple[OrderRequest, OrderRequest]) -> list[Any]:
    assert venue.capabilities.oco
    oco: OcoVenue = venue  # type: ignore[assignment]
    return list(await oco.submit_oco(list(pair)))


def test_the_policy_pairs_coinbase_stops_in_one_bracket() -> None:
    caps = make_venue("coinbase").capabilities
    plan = StopPolicy().plan(Stops(stop_loss=0.02, take_profit=0.04), caps, "coinbase")
    assert [(p.kind, p.how, p.order_type) for p in plan] == [
        ("stop_loss", "native", "stop_limit"),
        ("take_profit", "native", "take_profit_limit"),
    ]
    assert all("bracket" in p.why for p in plan) and caps.oco


def test_take_profit_leg_fills_through_its_limit_and_ends_the_stop_leg(
    btc: pd.DataFrame,
) -> None:
    stop, take = at(btc, "-0.08"), at(btc, "0.01")
    hit = first(btc, lambda i: dec(btc.high[i]) > take)  # a bar trading through the limit
    assert all(dec(btc.low[i]) > stop for i in range(10, hit + 1))  # the stop never reached

    async def scenario(sim: CoinbaseSimulator, venue: CcxtVenue) -> None:
        await hold(venue)
        om = OrderManager()
        sl, tp = legs(stop, take)
        for r, seq in ((sl, 0), (tp, 1)):  # as the runner holds them: one group
            intent = Intent("run", CB, "sell", QTY, 1_000, seq, order_type=r.order_type,
                            limit_price=r.limit_price, stop_price=r.stop_price, group="g")  # fmt: skip
            om.create(intent, 1)
            om.mark_submitted(intent.client_id, 1)
        ids = [o.client_id for o in om.open_orders()]
        pair = (
            OrderRequest(ids[0], CB, "sell", QTY, "stop_limit", stop - 20, stop_price=stop),
            OrderRequest(ids[1], CB, "sell", QTY, "take_profit_limit", take, stop_price=take),
        )
        for report in await send(venue, pair):
            om.apply(report, 2)
        assert [o.state for o in om.open_orders()] == [S.ACKNOWLEDGED] * 2
        (order,) = [o for o in sim.orders if o.configuration == "trigger_bracket_gtc"]
        assert order.client_order_id == ids[0] and order.request == {
            "trigger_bracket_gtc": {
                "base_size": "0.01", "limit_price": f"{take}", "stop_trigger_price": f"{stop}",
            }
        }  # fmt: skip
        assert sorted(o.client_id for o in await venue.open_orders([CB])) == sorted(ids)
        assert sim.book.holds["BTC"] == QTY  # one hold for both legs
        sim.advance_to(int(btc.timestamp[hit]))
        for c in ids:
            q = await venue.query(CB, c)
            assert isinstance(q, QueryResult) and q.status is S.ACKNOWLEDGED
        sim.advance_to(int(btc.timestamp[hit + 1]))
        stop_q, take_q = [await venue.query(CB, c) for c in ids]
        assert isinstance(take_q, QueryResult) and take_q.status is S.FILLED
        assert isinstance(stop_q, QueryResult) and stop_q.status is S.EXPIRED
        assert await venue.order_fills(CB, ids[0], stop_q.venue_order_id) == []
        (fill,) = await venue.order_fills(CB, ids[1], take_q.venue_order_id)
        assert (fill.price, fill.qty) == (take, QTY)  # maker, at its limit
        await venue.query(CB, ids[0])  # asking after the expired leg changes nothing
        (mine,) = [f for f in await venue.fills(CB) if f.venue_order_id == order.order_id]
        assert mine.client_id == ids[1]  # the account's trades name the leg that fired
        om.apply(take_q, 3)
        om.apply(stop_q, 3)
        assert om.order(ids[1]).state is S.FILLED and om.order(ids[0]).state is S.EXPIRED
        assert await venue.open_orders([CB]) == []

    run(btc, scenario)


def test_stop_leg_triggers_first_and_fills_at_its_trigger(btc: pd.DataFrame) -> None:
    stop, take = at(btc, "-0.01"), at(btc, "0.2")
    hit = first(btc, lambda i: dec(btc.low[i]) <= stop)
    assert all(dec(btc.high[i]) <= take for i in range(10, hit + 1))
    gapped = hit > 10 and dec(btc.open[hit]) <= stop
    price = dec(btc.open[hit]) if gapped else stop

    async def scenario(sim: CoinbaseSimulator, venue: CcxtVenue) -> None:
        await hold(venue)
        sl, tp = legs(stop, take)
        assert [type(r) for r in await send(venue, (sl, tp))] == [Ack, Ack]
        sim.advance_to(int(btc.timestamp[hit + 1]))
        stop_q, take_q = [await venue.query(CB, r.client_id) for r in (sl, tp)]
        assert isinstance(stop_q, QueryResult) and stop_q.status is S.FILLED
        assert isinstance(take_q, QueryResult) and take_q.status is S.EXPIRED
        (fill,) = await venue.order_fills(CB, sl.client_id, None)
        assert (fill.price, fill.qty) == (price, QTY)
        assert await venue.order_fills(CB, tp.client_id, None) == []
        await venue.query(CB, tp.client_id)
        (mine,) = [f for f in await venue.fills(CB) if f.price == price]
        assert mine.client_id == sl.client_id
        assert (await venue.balances())["BTC"] == Decimal("0.01")

    run(btc, scenario)


def test_either_leg_cancels_the_bracket(btc: pd.DataFrame) -> None:
    stop, take = at(btc, "-0.05"), at(btc, "0.05")

    async def scenario(sim: CoinbaseSimulator, venue: CcxtVenue) -> None:
        await hold(venue)
        sl, tp = legs(stop, take)
        await send(venue, (sl, tp))
        assert await venue.cancel(CB, tp.client_id) == [Cancelled(tp.client_id)]
        assert [o.status for o in sim.orders if o.configuration == "trigger_bracket_gtc"] == [
            "CANCELLED"
        ]
        assert sim.book.holds["BTC"] == 0
        for c in (sl.client_id, tp.client_id):
            q = await venue.query(CB, c)
            assert isinstance(q, QueryResult) and q.status is S.CANCELLED
        (again,) = await venue.cancel(CB, sl.client_id)  # already ended: what a query says
        assert isinstance(again, QueryResult) and again.status is S.CANCELLED
        assert await venue.open_orders([CB]) == []

    run(btc, scenario)


def test_refusals_carry_coinbase_failure_reasons(btc: pd.DataFrame) -> None:
    market = dec(btc.open[10])

    async def scenario(sim: CoinbaseSimulator, venue: CcxtVenue) -> None:
        await hold(venue)
        # A take-profit limit at or through the last price, a stop it has already reached.
        rs = await send(venue, legs(market - 100, market - 50, 1))
        assert [type(r) for r in rs] == [Rejected, Rejected]
        assert "PREVIEW_INVALID_BRACKET_LIMIT_PRICE" in rs[0].reason
        rs = await send(venue, legs(market + 10, market + 100, 3))
        assert [type(r) for r in rs] == [Rejected, Rejected]
        assert rs[1].reason.startswith("would_trigger: ")
        assert "PREVIEW_INVALID_BRACKET_STOP_TRIGGER_PRICE" in rs[1].reason
        # Not a pair (stop above its limit): refused before sending.
        (bad_sl, bad_tp) = legs(market + 200, market + 100, 5)
        rs = await send(venue, (bad_sl, bad_tp))
        assert all(isinstance(r, Rejected) and "not sent" in r.reason for r in rs)
        # What the adapter never sends, Coinbase refuses too (the raw ccxt client).
        client = venue.client
        for config, reason in (
            ({"base_size": "0.01", "limit_price": f"{market + 100}",
              "stop_trigger_price": f"{market + 200}"}, "PREVIEW_INVALID_BRACKET_PRICES"),
            ({"base_size": "0.01", "limit_price": f"{market + 100}",
              "stop_trigger_price": f"{market - 100 + Decimal('0.005')}"},
             "PREVIEW_INVALID_STOP_TRIGGER_PRICE_PRECISION"),
            ({"quote_size": "100", "limit_price": f"{market + 100}",
              "stop_trigger_price": f"{market - 100}"},
             "PREVIEW_QUOTE_SIZE_NOT_ALLOWED_FOR_BRACKET"),
        ):  # fmt: skip
            with pytest.raises(Exception, match=reason):
                await client.create_order(
                    CB, "limit", "sell", 0.01, float(market + 100),
                    {"client_order_id": cid(7), "order_configuration": {
                        "trigger_bracket_gtc": config}},
                )  # fmt: skip
        assert [o.client_order_id for o in sim.orders] == [cid(99)]
        assert sim.book.holds["BTC"] == 0

    run(btc, scenario)


def _bars(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """Hourly bars ``(open, high, low, close)`` from 2024-01-01: shapes the real data lacks."""
    start = 1_704_067_200_000
    return pd.DataFrame(
        {
            "timestamp": [start + i * 3_600_000 for i in range(len(rows))],
            "open": [r[0] for r in rows], "high": [r[1] for r in rows],
            "low": [r[2] for r in rows], "close": [r[3] for r in rows],
            "volume": [1.0] * len(rows),
        }
    )  # fmt: skip


def test_trigger_rules_gap_through_the_stop_legs_limit_and_both_touched(
    btc: pd.DataFrame,
) -> None:
    # Bar 11 gaps down to 8500, below the stop leg's limit (9000 - 5 % = 8550): triggered, not
    # filled; it rests at 8550 and fills when bar 12 trades through it. A second bracket's
    # stop and limit are both inside bar 12 (their order unknown): the stop wins.
    rows = [(10_000.0, 10_100.0, 9_900.0, 10_000.0)] * 11 + [
        (8_500.0, 8_540.0, 8_400.0, 8_520.0),
        (8_520.0, 8_700.0, 8_510.0, 8_600.0),
        (8_600.0, 8_600.0, 8_530.0, 8_560.0),
        (8_560.0, 8_600.0, 8_500.0, 8_550.0),
    ]
    frame = _bars(rows)

    async def scenario(sim: CoinbaseSimulator, venue: CcxtVenue) -> None:
        await hold(venue)  # 0.02 BTC bought at 10000
        a_sl, a_tp = legs(Decimal(9_000), Decimal(11_000), 1)
        await send(venue, (a_sl, a_tp))
        sim.advance_to(int(frame.timestamp[12]))  # bar 11 closed: triggered in the gap
        q = await venue.query(CB, a_sl.client_id)
        assert isinstance(q, QueryResult) and q.status is S.ACKNOWLEDGED
        (a,) = [o for o in sim.orders if o.client_order_id == a_sl.client_id]
        assert (a.triggered_bar, a.limit_price) == (11, Decimal(8_550))
        b_sl, b_tp = legs(Decimal(8_515), Decimal(8_650), 3)
        # bar 12 reaches 8700 and 8510: both legs
        assert [type(r) for r in await send(venue, (b_sl, b_tp))] == [Ack, Ack]
        sim.advance_to(int(frame.timestamp[14]))
        (fill,) = await venue.order_fills(CB, a_sl.client_id, None)
        assert fill.price == Decimal(8_550)  # rested, then filled at its limit (maker)
        assert (await venue.query(CB, a_tp.client_id)).status is S.EXPIRED
        (fill,) = await venue.order_fills(CB, b_sl.client_id, None)
        assert fill.price == Decimal(8_515)  # the stop, not the limit at 8650
        assert await venue.order_fills(CB, b_tp.client_id, None) == []

    run(frame, scenario)
