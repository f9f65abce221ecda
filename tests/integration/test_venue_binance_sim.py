"""The Binance spot adapter, through the real ccxt.pro client, against the local simulator.

Every scenario starts :mod:`live.sim` at bar 10 of real BTC/USDT (and ETH/USDT) hourly candles,
builds the adapter with :func:`live.venues.make_venue` pointed at it, and checks what the
adapter reports against the simulator's own ledger — down to feeding the reports into an
:class:`~live.orders.OrderManager` and comparing positions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from live.orders import (
    Ack,
    Cancelled,
    FillReport,
    Intent,
    NotFound,
    OrderManager,
    OrderState,
    QueryResult,
    Rejected,
    Report,
    Timeout,
)
from live.sim import Simulator, start_simulator
from live.venues import (
    CcxtVenue,
    Credentials,
    GiveUp,
    OutcomeUnknown,
    RetryLater,
    load_credentials,
    make_venue,
)
from live.venues.base import Bar, OrderRequest, Venue
from tests.peers.frames import SPOT_BTC_1H, SPOT_ETH_1H, dec, real_candles
from tests.peers.sim_clients import drive

KEY, SECRET = "sim-key-0123456789", "sim-secret-abcdefghijkl"
BARS = 60
BTC = "BTC/USDT"
Scenario = Callable[[Simulator, CcxtVenue, pd.DataFrame], Awaitable[None]]


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    return real_candles(shared_data, SPOT_BTC_1H, BARS)


@pytest.fixture(scope="module")
def eth(shared_data: Path) -> pd.DataFrame:
    return real_candles(shared_data, SPOT_ETH_1H, BARS)


def run(
    btc: pd.DataFrame,
    eth: pd.DataFrame,
    scenario: Scenario,
    *,
    timeout_ms: int = 3000,
    venue_kwargs: dict[str, Any] | None = None,
    prepare: Callable[[CcxtVenue], None] | None = None,
    **sim_kwargs: Any,
) -> Simulator:
    """Start a simulator at bar 10, run ``scenario(sim, venue, btc)`` with a started adapter."""

    def connect(sim: Simulator) -> CcxtVenue:
        venue = make_venue(
            "binance",
            urls=sim.url,
            credentials=Credentials(KEY, SECRET),
            timeout_ms=timeout_ms,
            rate_limit=False,
            **(venue_kwargs or {}),
        )
        if prepare is not None:
            prepare(venue)
        return venue

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


def resting_buy(btc: pd.DataFrame) -> tuple[Decimal, int]:
    """A buy limit 0.3 % under bar 10's open, and the first bar from 10 on that trades through it."""
    price = (dec(btc.open[10]) * Decimal("0.997")).quantize(Decimal("0.01"))
    return price, next(i for i in range(10, BARS) if btc.low[i] < float(price))


def ledger_position(sim: Simulator, symbol_id: str = "BTCUSDT") -> Decimal:
    return sum(
        (f.qty if f.side == "BUY" else -f.qty for f in sim.ledger if f.symbol == symbol_id),
        Decimal(0),
    )


class Runner:
    """The order manager fed with what the adapter reports, as the live runner would."""

    def __init__(self, sim: Simulator) -> None:
        self.om = OrderManager(grace_ms=10_000)
        self.sim = sim

    def create(self, seq: int, side: str = "buy", qty: str = "0.01", **kw: Any) -> str:
        intent = Intent("run-1", BTC, side, Decimal(qty), 1_000, seq, **kw)  # type: ignore[arg-type]
        self.om.create(intent, 1)
        self.om.mark_submitted(intent.client_id, 1)
        return intent.client_id

    def request(self, cid: str) -> OrderRequest:
        o = self.om.order(cid)
        return OrderRequest(cid, o.symbol, o.side, o.qty, o.order_type, o.limit_price)

    def feed(self, reports: list[Report] | Report) -> None:
        for report in reports if isinstance(reports, list) else [reports]:
            self.om.apply(report, 2)

    async def feed_fills(self, venue: CcxtVenue) -> None:
        for fill in await venue.fills(BTC):
            assert fill.client_id is not None
            self.feed(FillReport(fill.client_id, fill.trade_id, fill.qty, fill.price, "rest"))


# -- lifecycle -------------------------------------------------------------------------------


def test_adapter_satisfies_the_venue_protocol(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        assert isinstance(venue, Venue)
        info = await venue.market(BTC)
        assert (info.base, info.quote, info.contract) == ("BTC", "USDT", False)
        assert (info.lot, info.tick) == (Decimal("0.00001"), Decimal("0.01"))
        assert (info.min_qty, info.min_notional) == (Decimal("0.00001"), Decimal(5))
        # The venue clock is the simulator's server clock (wall time here).
        assert abs(venue.now_ms() - sim._clock()) < 1_000
        # The simulator's ticker: the current bar's (10) open, what a market order fills at.
        assert await venue.reference_price(BTC) == dec(bars.open[10])
        with pytest.raises(GiveUp, match="DOGE/USDT"):
            await venue.market("DOGE/USDT")

    run(btc, eth, scenario)


def test_market_order_reports_ack_and_fills_with_fee(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        runner = Runner(sim)
        cid = runner.create(0)
        reports = await venue.submit(runner.request(cid))
        (fill,) = sim.ledger
        assert reports == [
            Ack(cid, str(fill.order_id)),
            FillReport(
                cid,
                str(fill.trade_id),
                Decimal("0.01"),
                dec(bars.open[10]),
                source="rest",
                fee=fill.commission,
                fee_asset="USDT",
            ),
        ]
        runner.feed(reports)
        order = runner.om.order(cid)
        assert order.state is OrderState.FILLED and order.venue_order_id == str(fill.order_id)
        assert runner.om.fills(cid)[0].fee == fill.commission
        assert runner.om.position(BTC) == ledger_position(sim) == Decimal("0.01")
        assert (await venue.balances())["BTC"] == Decimal("0.01")
        assert await venue.positions([BTC, "ETH/USDT"]) == {
            BTC: Decimal("0.01"),
            "ETH/USDT": Decimal(0),
        }

    run(btc, eth, scenario)


def test_limit_order_open_query_cancel_and_unknown_ids(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    price = (dec(btc.open[10]) * Decimal("0.9")).quantize(Decimal("0.01"))

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        request = OrderRequest("lim-1", BTC, "buy", Decimal("0.01"), "limit", price)
        (ack,) = await venue.submit(request)
        assert isinstance(ack, Ack) and ack.venue_order_id == str(sim.orders[0].order_id)
        assert await venue.query(BTC, "lim-1") == QueryResult(
            "lim-1", OrderState.ACKNOWLEDGED, Decimal(0), ack.venue_order_id
        )
        (listed,) = await venue.open_orders([BTC, "ETH/USDT"])
        assert (listed.client_id, listed.status, listed.qty) == (
            "lim-1",
            OrderState.ACKNOWLEDGED,
            Decimal("0.01"),
        )
        assert await venue.cancel(BTC, "lim-1") == [Cancelled("lim-1")]
        assert sim.orders[0].status == "CANCELED"
        assert await venue.open_orders([BTC]) == []
        # Cancelling again: the order has ended; the query says how.
        again = await venue.cancel(BTC, "lim-1")
        assert again == [QueryResult("lim-1", OrderState.CANCELLED, Decimal(0), ack.venue_order_id)]
        assert await venue.query(BTC, "no-such-id") == NotFound("no-such-id")
        assert await venue.cancel(BTC, "no-such-id") == [NotFound("no-such-id")]

    run(btc, eth, scenario)


def test_resting_limit_fill_is_found_by_query_and_fills(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    price, first = resting_buy(btc)
    assert first > 10

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        runner = Runner(sim)
        cid = runner.create(0, order_type="limit", limit_price=price)
        runner.feed(await venue.submit(runner.request(cid)))
        sim.advance_to(int(bars.timestamp[first + 1]))
        (fill,) = sim.ledger
        runner.feed(await venue.query(BTC, cid))
        assert runner.om.order(cid).state is OrderState.FILLED
        assert runner.om.needs_resolution(3)[0].reason == "missing_fills"
        await runner.feed_fills(venue)
        assert runner.om.needs_resolution(3) == []
        assert runner.om.position(BTC) == ledger_position(sim)
        # A fresh adapter (a restarted runner) maps the trade to its client id by a lookup.
        fresh = make_venue(
            "binance", urls=sim.url, credentials=Credentials(KEY, SECRET), rate_limit=False
        )
        try:
            (listed,) = await fresh.fills(BTC, int(bars.timestamp[10]))
            assert await fresh.order_fills(BTC, cid, None) == [listed]  # found by client id
            assert await fresh.order_fills(BTC, "no-such-id", None) == []
        finally:
            await fresh.close()
        assert (listed.client_id, listed.trade_id, listed.price) == (
            cid,
            str(fill.trade_id),
            price,
        )
        assert listed.fee == fill.commission and listed.fee_asset == "USDT"
        assert listed.ts_ms == fill.time and listed.side == "buy"

    run(btc, eth, scenario)


def test_fills_pages_through_many_trades(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        venue.trades_page_limit = 3  # type: ignore[misc]  # force paging
        for i in range(8):
            await venue.submit(OrderRequest(f"p-{i}", BTC, "buy", Decimal("0.001")))
        listed = await venue.fills(BTC, int(bars.timestamp[10]))
        everything = await venue.fills(BTC)
        expected = [str(f.trade_id) for f in sim.ledger]
        assert [f.trade_id for f in listed] == expected == [f.trade_id for f in everything]
        assert [f.client_id for f in listed] == [f"p-{i}" for i in range(8)]
        assert await venue.fills(BTC, int(bars.timestamp[10]) + 1) == []

    run(btc, eth, scenario)


# -- idempotency and refusals ----------------------------------------------------------------


@pytest.mark.parametrize("scope", ["all", "open"])
def test_same_client_id_twice_creates_one_order(
    btc: pd.DataFrame, eth: pd.DataFrame, scope: str
) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        request = OrderRequest("dup-1", BTC, "buy", Decimal("0.01"))
        await venue.submit(request)
        with pytest.raises(OutcomeUnknown, match="already sent"):
            await venue.submit(request)
        assert len(sim.orders) == 1
        if scope == "all":  # the venue itself refuses the id: a fresh adapter learns it exists
            fresh = make_venue(
                "binance", urls=sim.url, credentials=Credentials(KEY, SECRET), rate_limit=False
            )
            try:
                with pytest.raises(OutcomeUnknown, match="exists already") as info:
                    await fresh.submit(request)
                assert info.value.client_id == "dup-1"
                found = await fresh.query(BTC, "dup-1")
            finally:
                await fresh.close()
            assert isinstance(found, QueryResult) and found.status is OrderState.FILLED
        assert len(sim.orders) == 1

    run(btc, eth, scenario, duplicate_scope=scope)


def test_refusals_are_rejected_and_setup_errors_raise(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        poor = await venue.submit(OrderRequest("r-1", BTC, "buy", Decimal(100)))
        assert poor == [Rejected("r-1", poor[0].reason)] and "insufficient" in poor[0].reason
        tiny = await venue.submit(OrderRequest("r-2", BTC, "buy", Decimal("0.0001")))
        assert isinstance(tiny[0], Rejected) and "NOTIONAL" in tiny[0].reason
        posted = len(sim.requests)
        odd = await venue.submit(OrderRequest("r-3", BTC, "buy", Decimal("0.000015")))
        assert isinstance(odd[0], Rejected) and "lot" in odd[0].reason
        assert len(sim.requests) == posted  # refused locally: nothing sent
        assert sim.orders == []
        # A rejected id was not booked: it may be sent again once fixed.
        assert isinstance(
            (await venue.submit(OrderRequest("r-1", BTC, "buy", Decimal("0.01"))))[0], Ack
        )

    run(btc, eth, scenario)


def test_credentials_from_env_never_appear(
    btc: pd.DataFrame, eth: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "wrong-secret-zyxwvutsrq"
    env = {"GREKKO_BINANCE_API_KEY": KEY, "GREKKO_BINANCE_API_SECRET": wrong}
    credentials = load_credentials("binance", environ=env, use_keyring=False)
    assert credentials.source == "env"
    assert KEY not in repr(credentials) and wrong not in str(credentials)

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        bad = make_venue("binance", urls=sim.url, credentials=credentials)
        texts = [repr(bad), str(bad)]
        try:
            with caplog.at_level(logging.DEBUG):
                with pytest.raises(GiveUp) as refused:  # a bad signature is not a rejection
                    await bad.submit(OrderRequest("cred-1", BTC, "buy", Decimal("0.01")))
                with pytest.raises(GiveUp) as reading:
                    await bad.balances()
        finally:
            await bad.close()
        for err in (refused.value, reading.value):
            texts += [str(err), repr(err), err.detail, str(err.__cause__)]
            assert err.source == "AuthenticationError"
        assert "Signature" in texts[2]
        texts.append(caplog.text)
        for text in texts:
            assert wrong not in text and KEY not in text
        assert sim.orders == []

    run(btc, eth, scenario)


# -- faults ----------------------------------------------------------------------------------


def test_timeout_after_accept_is_unknown_then_resolved(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        runner = Runner(sim)
        cid = runner.create(0)
        sim.set_fault("timeout_after_accept", seconds=1.0)
        with pytest.raises(OutcomeUnknown) as info:
            await venue.submit(runner.request(cid))
        assert info.value.client_id == cid and info.value.source == "RequestTimeout"
        runner.feed(Timeout(cid))
        assert runner.om.order(cid).state is OrderState.UNKNOWN
        # Resolve by query, never by resending (which the adapter refuses anyway).
        with pytest.raises(OutcomeUnknown):
            await venue.submit(runner.request(cid))
        runner.feed(await venue.query(BTC, cid))
        await runner.feed_fills(venue)
        assert runner.om.order(cid).state is OrderState.FILLED
        assert runner.om.position(BTC) == ledger_position(sim) == Decimal("0.01")
        assert len(sim.orders) == 1

    run(btc, eth, scenario, timeout_ms=300)


def test_error_after_accept_is_unknown_then_resolved(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        sim.set_fault("error_after_accept", status=503)
        request = OrderRequest("e-1", BTC, "sell", Decimal("0.01"))
        sim.book.free["BTC"] = Decimal(1)
        with pytest.raises(OutcomeUnknown) as info:
            await venue.submit(request)
        assert info.value.source == "ExchangeNotAvailable"
        found = await venue.query(BTC, "e-1")
        assert found == QueryResult(
            "e-1", OrderState.FILLED, Decimal("0.01"), str(sim.orders[0].order_id)
        )

    run(btc, eth, scenario)


def test_latency_beyond_the_timeout(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        sim.set_fault("latency", seconds=0.1, times=None)  # slow but within the timeout
        assert isinstance(
            (await venue.submit(OrderRequest("l-0", BTC, "buy", Decimal("0.01"))))[0], Ack
        )
        sim.clear_faults()
        sim.set_fault("latency", seconds=0.6, path="/api/v3/order", method="POST")
        with pytest.raises(OutcomeUnknown) as unknown:  # the client gave up waiting
            await venue.submit(OrderRequest("l-1", BTC, "buy", Decimal("0.01")))
        assert unknown.value.source == "RequestTimeout"
        sim.set_fault("latency", seconds=0.6, path="/api/v3/order", method="GET")
        with pytest.raises(RetryLater):  # a read that times out: just retry it
            await venue.query(BTC, "l-1")
        await asyncio.sleep(0.4)
        # The simulator drops a request whose client hung up during the delay; a real venue may
        # have booked it. Either way the query tells, and agrees with the venue's book.
        booked = [o for o in sim.orders if o.client_order_id == "l-1"]
        found = await venue.query(BTC, "l-1")
        if booked:
            assert isinstance(found, QueryResult) and found.status is OrderState.FILLED
        else:
            assert found == NotFound("l-1")

    run(btc, eth, scenario, timeout_ms=400)


def test_rate_limit_is_retry_later_with_retry_after(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        sim.set_fault("rate_limit", retry_after=2)
        request = OrderRequest("rl-1", BTC, "buy", Decimal("0.01"))
        with pytest.raises(RetryLater) as limited:
            await venue.submit(request)
        assert limited.value.retry_after == 2 and sim.orders == []
        with pytest.raises(RetryLater) as banned:  # 418 while banned
            await venue.query(BTC, "rl-1")
        assert banned.value.retry_after is not None and banned.value.retry_after > 0
        sim.clear_faults()
        assert isinstance((await venue.submit(request))[0], Ack)  # refused before: resend is safe

    run(btc, eth, scenario)


def test_partial_fill_then_rest_reaches_the_manager(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        runner = Runner(sim)
        cid = runner.create(0)
        sim.set_fault("partial_fill", fraction=0.4)
        reports = await venue.submit(runner.request(cid))
        assert [type(r) for r in reports] == [Ack, FillReport]
        assert reports[1].qty == Decimal("0.004")  # type: ignore[union-attr]
        runner.feed(reports)
        assert runner.om.order(cid).state is OrderState.PARTIALLY_FILLED
        assert await venue.query(BTC, cid) == QueryResult(
            cid,
            OrderState.PARTIALLY_FILLED,
            Decimal("0.004"),
            reports[0].venue_order_id,  # type: ignore[union-attr]
        )
        sim.advance_to(int(bars.timestamp[11]))
        runner.feed(await venue.query(BTC, cid))
        await runner.feed_fills(venue)
        assert runner.om.order(cid).state is OrderState.FILLED
        assert [f.qty for f in runner.om.fills(cid)] == [Decimal("0.004"), Decimal("0.006")]
        assert runner.om.position(BTC) == ledger_position(sim) == Decimal("0.01")

    run(btc, eth, scenario)


def test_duplicated_trades_are_listed_once(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        runner = Runner(sim)
        sim.set_fault("duplicate_trades", times=2)
        cids = [runner.create(i) for i in range(3)]
        for cid in cids:
            runner.feed(await venue.submit(runner.request(cid)))
        raw = await venue.client.fetch_my_trades(BTC)
        assert len(raw) == 5  # the venue lists two trades twice ...
        listed = await venue.fills(BTC)
        assert [f.trade_id for f in listed] == [str(f.trade_id) for f in sim.ledger]  # ... once
        await runner.feed_fills(venue)  # the same trades again, now from REST: no double count
        assert runner.om.position(BTC) == ledger_position(sim) == Decimal("0.03")
        assert len(runner.om.fills()) == 3

    run(btc, eth, scenario)


# -- bars ------------------------------------------------------------------------------------


async def take(stream: AsyncIterator[Bar], n: int, timeout: float = 5.0) -> list[Bar]:
    return [await asyncio.wait_for(anext(stream), timeout) for _ in range(n)]


def expected_bar(symbol: str, frame: pd.DataFrame, i: int) -> tuple[Any, ...]:
    return (symbol, int(frame.timestamp[i]), float(frame.open[i]), float(frame.close[i]))


def brief(bar: Bar) -> tuple[Any, ...]:
    return (bar.symbol, bar.ts_ms, bar.open, bar.close)


@pytest.mark.parametrize("stream", ["ws", "polling"])
def test_bars_backfill_then_each_closed_bar_once_in_order(
    btc: pd.DataFrame, eth: pd.DataFrame, stream: str
) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        if stream == "polling":
            venue.capabilities = replace(venue.capabilities, stream_bars=False)
        bars_it = venue.bars([BTC, "ETH/USDT"], "1h", int(bars.timestamp[7]))
        try:
            backfill = await take(bars_it, 6)
            # Bars 7, 8, 9 have closed by the clock at bar 10's open; 10 is still forming.
            assert [brief(b) for b in backfill] == [
                expected_bar(s, f, i)
                for i in (7, 8, 9)
                for s, f in ((BTC, bars), ("ETH/USDT", eth))
            ]
            pending = asyncio.ensure_future(anext(bars_it))
            await asyncio.sleep(0.3)
            assert not pending.done()  # bar 10 is not closed yet
            sim.advance_to(int(bars.timestamp[12]))
            got = [await asyncio.wait_for(pending, 5), *await take(bars_it, 3)]
            assert [brief(b) for b in got] == [
                expected_bar(s, f, i) for i in (10, 11) for s, f in ((BTC, bars), ("ETH/USDT", eth))
            ]
            assert got[0].high == float(bars.high[10]) and got[0].low == float(bars.low[10])
        finally:
            await bars_it.aclose()

    run(btc, eth, scenario, venue_kwargs={"poll_interval_s": 0.2})


def test_a_lagging_symbol_holds_the_others_back(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        # polling (declared without a kline stream): one REST read per symbol and round
        venue.capabilities = replace(venue.capabilities, stream_bars=False)
        bars_it = venue.bars([BTC, "ETH/USDT"], "1h", int(bars.timestamp[9]))
        try:
            assert [b.symbol for b in await take(bars_it, 2)] == [BTC, "ETH/USDT"]
            # BTC's next read times out (RetryLater) while ETH's succeeds: ETH is two bars
            # ahead for a round, and must wait for BTC instead of running ahead.
            sim.set_fault("latency", seconds=0.8, path="/api/v3/klines")
            sim.advance_to(int(bars.timestamp[12]))
            got = await take(bars_it, 4)
        finally:
            await bars_it.aclose()
        assert [brief(b) for b in got] == [
            expected_bar(s, f, i) for i in (10, 11) for s, f in ((BTC, bars), ("ETH/USDT", eth))
        ]

    run(btc, eth, scenario, timeout_ms=400, venue_kwargs={"poll_interval_s": 0.1})


def test_a_candle_is_closed_only_by_the_clock_or_a_later_candle(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        # The venue's clock says bar 9 is still running (the peer lists it; a real venue lists
        # its forming candle too): it is held back until a later candle is listed.
        bars_it = venue.bars([BTC], "1h", int(bars.timestamp[7]))
        try:
            assert [b.ts_ms for b in await take(bars_it, 1)] == [int(bars.timestamp[7])]
            assert [b.ts_ms for b in await take(bars_it, 1)] == [int(bars.timestamp[8])]
            pending = asyncio.ensure_future(anext(bars_it))
            await asyncio.sleep(0.3)
            assert not pending.done()
            sim.advance_to(int(bars.timestamp[11]))  # bar 10 listed: bar 9 has closed
            assert (await asyncio.wait_for(pending, 3)).ts_ms == int(bars.timestamp[9])
        finally:
            await bars_it.aclose()

    def no_time_sync(venue: CcxtVenue) -> None:
        venue.client.has["fetchTime"] = False  # the venue clock is the injected one

    half_way_9 = int(btc.timestamp[9]) + 1_800_000
    run(
        btc,
        eth,
        scenario,
        prepare=no_time_sync,
        venue_kwargs={"poll_interval_s": 0.1, "clock": lambda: half_way_9},
    )


def test_bars_from_the_kline_stream_without_polling(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        bars_it = venue.bars([BTC], "1h", None)  # from now on: nothing before bar 10
        try:
            pending = asyncio.ensure_future(anext(bars_it))
            await sim.wait_subscribed("btcusdt@kline_1h")
            await asyncio.sleep(0.3)  # the first wake-up reads REST once (the clock is past)
            klines_before = [r for r in sim.requests if r.path == "/api/v3/klines"]
            for i in (11, 12):
                await asyncio.sleep(0.1)
                sim.advance_to(int(bars.timestamp[i]))
            first = await asyncio.wait_for(pending, 3)
            assert brief(first) == expected_bar(BTC, bars, 10)
            assert first.high == float(bars.high[10]) and first.volume > 0
            # The stream closed it (a later candle appeared), no REST poll was needed.
            assert [r for r in sim.requests if r.path == "/api/v3/klines"] == klines_before
        finally:
            await bars_it.aclose()

    run(btc, eth, scenario, venue_kwargs={"poll_interval_s": 30.0})


# -- user-data stream ------------------------------------------------------------------------


async def collect(stream: AsyncIterator[Report], into: list[Report]) -> None:
    async for report in stream:
        into.append(report)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async def wait() -> None:
        while not predicate():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(wait(), timeout)


def test_reports_stream_orders_and_fills(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    price, first = resting_buy(btc)

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        runner = Runner(sim)
        seen: list[Report] = []
        task = asyncio.create_task(collect(venue.reports(), seen))
        try:
            await sim.wait_subscribed()
            market = runner.create(0)
            await venue.submit(runner.request(market))  # only the stream feeds the manager
            resting = runner.create(1, order_type="limit", limit_price=price)
            await venue.submit(runner.request(resting))
            sim.advance_to(int(bars.timestamp[first + 1]))
            far = (price / 2).quantize(Decimal("0.01"))
            cancelled = runner.create(2, order_type="limit", limit_price=far)
            await venue.submit(runner.request(cancelled))
            await venue.cancel(BTC, cancelled)
            await until(lambda: Cancelled(cancelled) in seen)
            await until(lambda: sum(isinstance(r, FillReport) for r in seen) == 2)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        fills = [r for r in seen if isinstance(r, FillReport)]
        assert [(f.client_id, f.trade_id) for f in fills] == [
            (f.client_order_id, str(f.trade_id)) for f in sim.ledger
        ]
        assert len(sim.ledger) == 2
        assert {f.source for f in fills} == {"ws"} and fills[0].fee == sim.ledger[0].commission
        runner.feed(seen)
        assert runner.om.order(market).state is OrderState.FILLED
        assert runner.om.order(resting).state is OrderState.FILLED
        assert runner.om.order(cancelled).state is OrderState.CANCELLED
        assert runner.om.position(BTC) == ledger_position(sim)

    run(btc, eth, scenario)


def test_reports_resync_after_a_dead_stream(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    price, first = resting_buy(btc)

    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        runner = Runner(sim)
        seen: list[Report] = []
        cid = runner.create(0, order_type="limit", limit_price=price)
        runner.feed(await venue.submit(runner.request(cid)))
        task = asyncio.create_task(collect(venue.reports(), seen))
        try:
            await sim.wait_subscribed()
            await until(lambda: any(isinstance(r, QueryResult) for r in seen))  # first sync
            await asyncio.sleep(0.3)
            assert not any(isinstance(r, FillReport) for r in seen)
            seen.clear()
            sim.set_fault("ws_silent_drop", seconds=0.8, path="/ws-api")
            sim.advance_to(int(bars.timestamp[first + 1]))  # fills while the stream is dead
            await until(lambda: any(isinstance(r, FillReport) for r in seen), timeout=8)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        (fill,) = sim.ledger
        assert QueryResult(cid, OrderState.FILLED, Decimal("0.01"), str(fill.order_id)) in seen
        resynced = [r for r in seen if isinstance(r, FillReport)]
        assert resynced[0].trade_id == str(fill.trade_id) and resynced[0].source == "rest"
        runner.feed(seen)
        assert runner.om.order(cid).state is OrderState.FILLED
        assert runner.om.position(BTC) == ledger_position(sim)

    run(
        btc,
        eth,
        scenario,
        venue_kwargs={"options": {"ws": {"keepAlive": 200}}, "reconnect_delays_s": (0.1,)},
    )


def test_reports_give_up_when_the_credentials_are_wrong(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    async def scenario(sim: Simulator, venue: CcxtVenue, bars: pd.DataFrame) -> None:
        bad = make_venue(
            "binance",
            urls=sim.url,
            credentials=Credentials(KEY, "not-the-secret-0000"),
            rate_limit=False,
            reconnect_delays_s=(0.05,),
        )
        stream = bad.reports()
        try:
            # The subscription keeps failing; a REST probe names the cause and ends the stream.
            with pytest.raises(GiveUp) as info:
                await asyncio.wait_for(anext(stream), 5)
        finally:
            await stream.aclose()
            await bad.close()
        assert info.value.source == "AuthenticationError"
        assert "not-the-secret-0000" not in str(info.value)

    run(btc, eth, scenario)
