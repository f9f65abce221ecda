"""ccxt venue adapters: credentials, the registry, parsing rules, and the USD-M and Coinbase
adapters through the real ccxt.pro clients against their local peers (live.sim)."""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro
import pandas as pd
import pytest

from grekko_research.errors import ConfigError
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
)
from live.sim.coinbase import CoinbaseSimulator, new_cdp_key, start_coinbase_simulator
from live.sim.usdm import UsdmSimulator, start_usdm_simulator
from live.venues import (
    CcxtVenue,
    Credentials,
    GiveUp,
    OutcomeUnknown,
    load_credentials,
    make_venue,
)
from live.venues._ccxt_orders import order_state
from live.venues.base import OrderRequest, Venue
from live.venues.binance import BinanceVenue
from live.venues.binanceusdm import BinanceUsdmVenue
from live.venues.ccxt_venue import rebase_api_urls
from live.venues.coinbase import CoinbaseVenue
from tests.peers.frames import SPOT_BTC_1H, real_candles
from tests.peers.sim_clients import drive

S = OrderState
KEY, SECRET = "unit-key-0123456789", "unit-secret-abcdefghij"
PERP, CB = "BTC/USDT:USDT", "BTC/USD"


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    return real_candles(shared_data, SPOT_BTC_1H, 40)


# -- credentials -----------------------------------------------------------------------------


def test_credentials_come_from_the_environment_and_never_print() -> None:
    env = {"GREKKO_BINANCE_API_KEY": KEY, "GREKKO_BINANCE_API_SECRET": SECRET}
    creds = load_credentials("binance", environ=env, use_keyring=False)
    assert (creds.api_key, creds.api_secret, creds.password, creds.source) == (
        KEY,
        SECRET,
        None,
        "env",
    )
    assert creds.ccxt_config() == {"apiKey": KEY, "secret": SECRET}
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert KEY not in text and SECRET not in text and "***" in text


def test_missing_credentials_name_variables_not_values() -> None:
    env = {"GREKKO_BINANCE_USDM_API_KEY": KEY}
    with pytest.raises(ConfigError) as info:
        load_credentials("binance-usdm", environ=env, use_keyring=False)
    text = str(info.value)
    assert "GREKKO_BINANCE_USDM_API_SECRET" in text and KEY not in text
    assert "GREKKO_BINANCE_USDM_API_KEY" not in text  # that one is set


def test_password_is_required_where_the_exchange_needs_one() -> None:
    env = {"GREKKO_OKX_API_KEY": KEY, "GREKKO_OKX_API_SECRET": SECRET}
    with pytest.raises(ConfigError, match="GREKKO_OKX_API_PASSWORD"):
        load_credentials("okx", environ=env, use_keyring=False)
    full = load_credentials("okx", environ=env | {"GREKKO_OKX_API_PASSWORD": "pw-123456"})
    assert full.password == "pw-123456" and "pw-123456" not in repr(full)
    assert full.ccxt_config()["password"] == "pw-123456"


def test_keyring_fills_what_the_environment_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    store = {("grekko", "coinbase:api_secret"): "from-keyring-secret"}
    calls: list[tuple[str, str]] = []

    def get_password(service: str, username: str) -> str | None:
        calls.append((service, username))
        return store.get((service, username))

    fake = types.ModuleType("keyring")
    fake.get_password = get_password  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", fake)
    creds = load_credentials("coinbase", environ={"GREKKO_COINBASE_API_KEY": KEY})
    assert (creds.api_key, creds.api_secret, creds.source) == (
        KEY,
        "from-keyring-secret",
        "env+keyring",
    )
    assert ("grekko", "coinbase:api_key") not in calls  # the environment wins
    with pytest.raises(ConfigError, match=r"keyring service 'grekko'.*'binance:api_key'"):
        load_credentials("binance", environ={})


def test_a_broken_keyring_backend_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    def locked(service: str, username: str) -> str:
        raise RuntimeError(f"backend locked, cannot read {username}")

    fake = types.ModuleType("keyring")
    fake.get_password = locked  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", fake)
    with pytest.raises(ConfigError, match="no binance API credentials"):
        load_credentials("binance", environ={})


# -- registry and parsing --------------------------------------------------------------------


def test_make_venue_builds_the_dedicated_adapters() -> None:
    creds = Credentials(KEY, SECRET)
    built = {
        name: make_venue(name, credentials=creds, options={"fetchMarkets": {"extra": 1}})
        for name in ("binance", "binanceusdm", "coinbase")
    }
    assert type(built["binance"]) is BinanceVenue
    assert type(built["binanceusdm"]) is BinanceUsdmVenue
    assert type(built["coinbase"]) is CoinbaseVenue
    for name, venue in built.items():
        assert isinstance(venue, Venue) and venue.name == name
        assert type(venue.client) is getattr(ccxt_pro, name)  # websockets and REST
        assert venue.client.apiKey == KEY and KEY not in repr(venue)
    # The user's options merge into the adapter's defaults, nested dicts included.
    spot = built["binance"].client.options["fetchMarkets"]
    assert spot["types"] == ["spot"] and spot["extra"] == 1
    assert built["binanceusdm"].client.options["fetchMarkets"]["types"] == ["linear"]
    assert built["binance"].client.options["fetchCurrencies"] is False


def test_make_venue_falls_back_to_the_generic_adapter() -> None:
    kraken = make_venue(" Kraken ", timeout_ms=1234)
    assert type(kraken) is CcxtVenue and kraken.name == "kraken"
    assert type(kraken.client) is ccxt_pro.kraken and kraken.client.timeout == 1234
    assert kraken.stream_methods() == ["watch_orders", "watch_my_trades"]
    rest_only = next(e for e in ccxt.exchanges if e not in ccxt_pro.exchanges)
    plain = make_venue(rest_only)
    assert type(plain.client) is getattr(ccxt_async, rest_only)
    assert plain.stream_methods() == []  # reports() then yields nothing: the runner polls


def test_unknown_venue_is_a_config_error_with_close_matches() -> None:
    with pytest.raises(ConfigError, match=r"unknown venue 'binanse'.*close matches: binance"):
        make_venue("binanse")
    with pytest.raises(ConfigError) as info:
        make_venue("no-such-place")
    assert "close matches" not in str(info.value)


def test_rebase_keeps_websocket_schemes() -> None:
    urls = {
        "rest": "https://api.binance.com/api/v3",
        "ws": {"spot": "wss://stream.binance.com:9443/ws", "ws-api": {"spot": "wss://x/ws-api/v3"}},
    }
    assert rebase_api_urls(urls, "http://127.0.0.1:8080") == {
        "rest": "http://127.0.0.1:8080/api/v3",
        "ws": {
            "spot": "ws://127.0.0.1:8080/ws",
            "ws-api": {"spot": "ws://127.0.0.1:8080/ws-api/v3"},
        },
    }
    assert rebase_api_urls("wss://a/b", "https://gw.example:443") == "wss://gw.example:443/b"


@pytest.mark.parametrize(
    ("mode", "precision", "step"),
    [
        (ccxt.TICK_SIZE, 0.00001, Decimal("0.00001")),
        (ccxt.TICK_SIZE, 0.5, Decimal("0.5")),
        (ccxt.DECIMAL_PLACES, 2, Decimal("0.01")),
        (ccxt.DECIMAL_PLACES, 0, Decimal(1)),
        (ccxt.SIGNIFICANT_DIGITS, 4, Decimal(0)),
        (ccxt.TICK_SIZE, None, Decimal(0)),
    ],
)
def test_steps_follow_the_precision_mode(mode: int, precision: Any, step: Decimal) -> None:
    venue = make_venue("kraken")
    venue.client.precisionMode = mode
    assert venue._step(precision) == step


@pytest.mark.parametrize(
    ("order", "state"),
    [
        ({"status": "open", "filled": 0, "amount": 1}, S.ACKNOWLEDGED),
        ({"status": "open", "filled": 0.4, "amount": 1}, S.PARTIALLY_FILLED),
        ({"status": "closed", "filled": 1, "amount": 1}, S.FILLED),
        ({"status": "closed", "filled": 0.4, "amount": 1}, S.EXPIRED),  # an IOC remainder
        ({"status": "canceled", "filled": 0.4, "amount": 1}, S.CANCELLED),
        ({"status": "expired", "filled": 0, "amount": 1}, S.EXPIRED),
        ({"status": "rejected", "filled": 0, "amount": 1}, S.REJECTED),
        ({"status": None, "filled": 0, "amount": 1}, None),
    ],
)
def test_ccxt_statuses_map_to_order_states(order: dict[str, Any], state: S | None) -> None:
    assert order_state(order) is state


# -- Binance USD-M against its peer ----------------------------------------------------------

UsdmScenario = Callable[[UsdmSimulator, CcxtVenue], Awaitable[None]]


def run_usdm(btc: pd.DataFrame, scenario: UsdmScenario, **sim_kwargs: Any) -> None:
    drive(
        lambda: start_usdm_simulator(
            candles={"BTCUSDT": btc},
            api_key=KEY,
            api_secret=SECRET,
            start_ms=int(btc.timestamp[10]),
            **sim_kwargs,
        ),
        lambda sim: make_venue(
            "binanceusdm", urls=sim.url, credentials=Credentials(KEY, SECRET), rate_limit=False
        ),
        scenario,
        ready=lambda venue: venue.start(),
    )


def test_usdm_lifecycle_signed_position_and_fees(btc: pd.DataFrame) -> None:
    async def scenario(sim: UsdmSimulator, venue: CcxtVenue) -> None:
        info = await venue.market(PERP)
        assert info.contract and (info.lot, info.tick) == (Decimal("0.001"), Decimal("0.1"))
        assert info.min_notional == Decimal(100)
        om = OrderManager()
        intent = Intent("run-1", PERP, "sell", Decimal("0.01"), 1_000)
        cid = intent.client_id
        om.create(intent, 1)
        om.mark_submitted(cid, 1)
        reports = await venue.submit(OrderRequest(cid, PERP, "sell", Decimal("0.01")))
        (fill,) = sim.ledger
        # The futures answer (RESULT) has the cumulative quantity but no fills.
        assert reports == [
            Ack(cid, str(fill.order_id)),
            QueryResult(cid, S.FILLED, Decimal("0.01"), str(fill.order_id)),
        ]
        for report in reports:
            om.apply(report, 2)
        assert [p.reason for p in om.needs_resolution(3)] == ["missing_fills"]
        (listed,) = await venue.fills(PERP)
        assert await venue.order_fills(PERP, cid, str(fill.order_id)) == [listed]
        assert (listed.client_id, listed.trade_id, listed.side) == (cid, str(fill.trade_id), "sell")
        assert listed.fee == fill.commission and listed.fee_asset == "USDT"
        om.apply(FillReport(cid, listed.trade_id, listed.qty, listed.price, "rest"), 3)
        assert om.needs_resolution(3) == []
        assert await venue.positions([PERP]) == {PERP: Decimal("-0.01")} == om.positions()
        assert (await venue.balances())["USDT"] == sim.wallet("USDT")

    run_usdm(btc, scenario)


def test_usdm_refusals_duplicates_and_cancel(btc: pd.DataFrame) -> None:
    async def scenario(sim: UsdmSimulator, venue: CcxtVenue) -> None:
        too_big = await venue.submit(OrderRequest("u-1", PERP, "buy", Decimal(100)))
        assert isinstance(too_big[0], Rejected) and "-2019" in too_big[0].reason
        reduce = await venue.submit(
            OrderRequest("u-2", PERP, "buy", Decimal("0.01"), reduce_only=True)
        )
        assert isinstance(reduce[0], Rejected) and "-2022" in reduce[0].reason  # nothing to reduce
        small = await venue.submit(OrderRequest("u-3", PERP, "buy", Decimal("0.001")))
        assert isinstance(small[0], Rejected) and "-4164" in small[0].reason
        assert sim.orders == []
        price = Decimal(int(btc.open[10] * 0.8))
        (ack,) = await venue.submit(
            OrderRequest("u-4", PERP, "buy", Decimal("0.01"), "limit", price)
        )
        assert isinstance(ack, Ack)
        fresh = make_venue(
            "binanceusdm", urls=sim.url, credentials=Credentials(KEY, SECRET), rate_limit=False
        )
        try:
            with pytest.raises(OutcomeUnknown, match="-4116"):
                await fresh.submit(
                    OrderRequest("u-4", PERP, "buy", Decimal("0.01"), "limit", price)
                )
            assert await fresh.query(PERP, "u-4") == QueryResult(
                "u-4", S.ACKNOWLEDGED, 0, ack.venue_order_id
            )
            (listed,) = await fresh.open_orders([PERP])
            assert (listed.client_id, listed.status) == ("u-4", S.ACKNOWLEDGED)
            assert await fresh.cancel(PERP, "u-4") == [Cancelled("u-4")]
            again = await fresh.cancel(PERP, "u-4")
            assert again == [QueryResult("u-4", S.CANCELLED, 0, ack.venue_order_id)]
            assert await fresh.query(PERP, "nope") == NotFound("nope")
            assert await fresh.cancel(PERP, "nope") == [NotFound("nope")]
        finally:
            await fresh.close()
        assert len(sim.orders) == 1

    run_usdm(btc, scenario)


# -- Coinbase Advanced Trade against its peer ------------------------------------------------

CoinbaseScenario = Callable[[CoinbaseSimulator, CcxtVenue, Credentials], Awaitable[None]]


def cid(n: int) -> str:
    return f"{n:08d}-0000-4000-8000-000000000000"


def run_coinbase(btc: pd.DataFrame, scenario: CoinbaseScenario) -> None:
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
        lambda sim, venue: scenario(sim, venue, creds),
        ready=lambda venue: venue.start(),
    )


def test_coinbase_market_buy_in_base_units_and_idempotent_resend(btc: pd.DataFrame) -> None:
    async def scenario(sim: CoinbaseSimulator, venue: CcxtVenue, creds: Credentials) -> None:
        reports = await venue.submit(OrderRequest(cid(1), CB, "buy", Decimal("0.01")))
        (order,) = sim.orders
        assert reports == [Ack(cid(1), order.order_id)]  # Coinbase's answer lists no fills
        (fill,) = sim.ledger
        assert fill.size == Decimal("0.01")  # sent as base_size: exactly the quantity asked
        fresh = make_venue("coinbase", urls=sim.url, credentials=creds, rate_limit=False)
        try:
            # Resending the same client id books nothing and answers with the first order.
            assert await fresh.submit(OrderRequest(cid(1), CB, "buy", Decimal("0.01"))) == reports
            # A fresh adapter finds the order by listing (no lookup by client id on Coinbase).
            found = await fresh.query(CB, cid(1))
            assert found == QueryResult(cid(1), S.FILLED, Decimal("0.01"), order.order_id)
            (listed,) = await fresh.fills(CB)
            assert await fresh.order_fills(CB, cid(1), None) == [listed]
            assert await fresh.order_fills(CB, cid(7), None) == []
        finally:
            await fresh.close()
        assert len(sim.orders) == 1
        assert (listed.client_id, listed.trade_id, listed.qty) == (
            cid(1),
            fill.trade_id,
            Decimal("0.01"),
        )
        assert listed.fee == fill.commission and listed.fee_asset == "USD"
        assert await venue.positions([CB]) == {CB: Decimal("0.01")}
        assert (await venue.balances())["BTC"] == Decimal("0.01")

    run_coinbase(btc, scenario)


def test_coinbase_limit_cancel_refusals_and_not_found(btc: pd.DataFrame) -> None:
    async def scenario(sim: CoinbaseSimulator, venue: CcxtVenue, creds: Credentials) -> None:
        poor = await venue.submit(OrderRequest(cid(2), CB, "buy", Decimal(100)))
        assert isinstance(poor[0], Rejected) and "INSUFFICIENT_FUND" in poor[0].reason
        price = Decimal(int(btc.open[10] * 0.8))
        (ack,) = await venue.submit(
            OrderRequest(cid(3), CB, "buy", Decimal("0.01"), "limit", price)
        )
        assert isinstance(ack, Ack)
        assert await venue.query(CB, cid(3)) == QueryResult(
            cid(3), S.ACKNOWLEDGED, 0, ack.venue_order_id
        )
        assert [o.client_id for o in await venue.open_orders([CB])] == [cid(3)]
        assert await venue.cancel(CB, cid(3)) == [Cancelled(cid(3))]
        again = await venue.cancel(CB, cid(3))  # Coinbase refuses; the query tells why
        assert again == [QueryResult(cid(3), S.CANCELLED, 0, ack.venue_order_id)]
        assert await venue.query(CB, cid(9)) == NotFound(cid(9))
        # A venue order id Coinbase does not know (404 NOT_FOUND) reads as not found too.
        # as if learnt earlier
        venue.tracker.track(cid(8), CB, "00000000-0000-4000-8000-0000000000ff")
        assert await venue.query(CB, cid(8)) == NotFound(cid(8))
        assert await venue.cancel(CB, cid(9)) == [NotFound(cid(9))]
        # A key the peer does not know is a setup error, not a rejected order.
        other_key, other_secret = new_cdp_key()
        stranger = make_venue(
            "coinbase",
            urls=sim.url,
            credentials=Credentials(other_key, other_secret),
            rate_limit=False,
        )
        try:
            with pytest.raises(GiveUp) as refused:
                await stranger.submit(OrderRequest(cid(4), CB, "buy", Decimal("0.01")))
        finally:
            await stranger.close()
        assert refused.value.source == "AuthenticationError"
        assert other_secret not in str(refused.value) and "PRIVATE KEY" not in str(refused.value)

    run_coinbase(btc, scenario)


def test_coinbase_bars_poll_rest_without_a_kline_stream(btc: pd.DataFrame) -> None:
    async def scenario(sim: CoinbaseSimulator, venue: CcxtVenue, creds: Credentials) -> None:
        assert not venue.capabilities.stream_bars  # declared: no kline stream, REST is polled
        venue.poll_interval_s = 0.1
        stream = venue.bars([CB], "1h", int(btc.timestamp[8]))
        try:
            first = [await asyncio.wait_for(anext(stream), 3) for _ in range(2)]
            sim.advance_to(int(btc.timestamp[11]))
            later = await asyncio.wait_for(anext(stream), 3)
        finally:
            await stream.aclose()
        assert [b.ts_ms for b in [*first, later]] == [int(btc.timestamp[i]) for i in (8, 9, 10)]
        assert later.close == float(btc.close[10]) and later.high == float(btc.high[10])
        # No ticker on the peer, and its candles lag the wall clock: the newest bar seen.
        assert await venue.reference_price(CB) == Decimal(repr(float(btc.close[10])))

    run_coinbase(btc, scenario)
