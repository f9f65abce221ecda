"""The local Coinbase Advanced Trade peer, driven by the real ccxt ``coinbase`` client."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import ccxt.async_support as accxt
import pandas as pd
import pytest

from live.sim.coinbase import (
    COINBASE_OPTIONS,
    CoinbaseSimulator,
    new_cdp_key,
    start_coinbase_simulator,
)
from tests.peers.frames import COINBASE_BTC_1H, dec, real_candles
from tests.peers.sim_clients import ccxt_client, drive

BARS = 300
BTC = "BTC/USD"
TAKER, MAKER = Decimal("0.012"), Decimal("0.006")
KEY, SECRET = new_cdp_key("ecdsa")
Scenario = Callable[[CoinbaseSimulator, Any, pd.DataFrame], Awaitable[None]]


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    """The first ``BARS`` real Coinbase BTC-USD hourly candles (from 2017-07-01)."""
    return real_candles(shared_data, COINBASE_BTC_1H, BARS)


def client(sim: CoinbaseSimulator, *, key: str = KEY, secret: str = SECRET) -> Any:
    """A real async ccxt coinbase client whose REST URL points at the peer."""
    return ccxt_client(
        accxt.coinbase,
        sim.url,
        apiKey=key,
        secret=secret,
        timeout=3000,
        enableRateLimit=False,  # ccxt's own throttle only slows tests
        options=dict(COINBASE_OPTIONS),
    )


def run(
    btc: pd.DataFrame,
    scenario: Scenario,
    *,
    key: str = KEY,
    secret: str = SECRET,
    **kwargs: Any,
) -> CoinbaseSimulator:
    """Start a peer at bar 10 of ``btc`` for ``key``, run ``scenario(sim, client, btc)``, stop."""
    return drive(
        lambda: start_coinbase_simulator(
            candles={"BTC-USD": btc},
            api_key=key,
            api_secret=secret,
            start_ms=int(btc.timestamp[10]),
            **kwargs,
        ),
        lambda sim: client(sim, key=key, secret=secret),
        lambda sim, ex: scenario(sim, ex, btc),
        ready=lambda ex: ex.load_markets(),
    )


def test_markets_time_candles_and_balance(btc: pd.DataFrame) -> None:
    async def scenario(sim: CoinbaseSimulator, ex: Any, bars: pd.DataFrame) -> None:
        assert ex.symbols == [BTC]
        market = ex.market(BTC)
        assert market["spot"] and market["id"] == "BTC-USD"
        assert market["precision"] == {"amount": 1e-8, "price": 0.01}
        assert market["limits"]["cost"]["min"] == 1.0
        assert (market["taker"], market["maker"]) == (0.012, 0.006)  # from transaction_summary
        before = int(time.time())
        assert before <= await ex.fetch_time() // 1000 <= before + 2
        candles = await ex.fetch_ohlcv(BTC, "1h", since=int(bars.timestamp[0]), limit=300)
        # Only the 10 bars closed by the market clock, oldest first, with their real prices.
        assert [c[0] for c in candles] == bars.timestamp[:10].tolist()
        assert [c[4] for c in candles] == bars.close[:10].tolist()
        # Without `since` ccxt asks for the window before its own wall clock: nothing there.
        assert await ex.fetch_ohlcv(BTC, "1h") == []
        with pytest.raises(ccxt.ExchangeError, match="granularity"):
            await ex.fetch_ohlcv(BTC, "1m", since=int(bars.timestamp[0]))
        balance = await ex.fetch_balance()
        assert balance["USD"] == {"free": 10_000.0, "used": 0.0, "total": 10_000.0}
        assert balance["BTC"]["total"] == 0.0
        paths = [r.path for r in sim.requests]
        assert paths[:6] == [
            "/v2/currencies",
            "/v2/currencies/crypto",
            "/v2/exchange-rates",
            "/api/v3/brokerage/market/products",
            "/api/v3/brokerage/transaction_summary",
            "/api/v3/brokerage/market/products",  # product_type=FUTURE: none here
        ]
        assert "/api/v3/brokerage/accounts" in paths and "/v2/accounts" not in paths
        assert [r.status for r in sim.requests].count(400) == 1  # the 1m candles

    run(btc, scenario)


def test_market_buy_by_cost_includes_the_fee_then_sell_at_next_open(btc: pd.DataFrame) -> None:
    async def scenario(sim: CoinbaseSimulator, ex: Any, bars: pd.DataFrame) -> None:
        o10, o11 = dec(bars.open[10]), dec(bars.open[11])
        placed = await ex.create_market_buy_order_with_cost(
            BTC, 100, params={"client_order_id": "buy-1"}
        )
        assert placed["clientOrderId"] == "buy-1" and placed["status"] is None  # ack only
        order = await ex.fetch_order(placed["id"], BTC)
        size = (Decimal(100) / (1 + TAKER) / o10).quantize(Decimal("1e-8"), ROUND_DOWN)
        value = size * o10
        assert order["status"] == "closed" and order["type"] == "market"
        assert order["filled"] == float(size) and order["average"] == float(o10)
        assert order["fee"]["currency"] == "USD"  # ccxt leaves the cost a string here
        assert Decimal(order["fee"]["cost"]) == value * TAKER
        assert order["info"]["size_inclusive_of_fees"] is True
        assert sim.balance("USD") == (Decimal(10_000) - value - value * TAKER, 0)
        assert sim.balance("BTC") == (size, 0)
        sim.advance_to(int(bars.timestamp[11]))
        sold = await ex.create_order(BTC, "market", "sell", float(size))
        assert (await ex.fetch_order(sold["id"], BTC))["average"] == float(o11)
        usd = Decimal(10_000) - value * (1 + TAKER) + size * o11 * (1 - TAKER)
        assert sim.balance("USD") == (usd, 0) and sim.balance("BTC") == (0, 0)
        trades = await ex.fetch_my_trades(BTC)
        assert [(t["side"], t["takerOrMaker"], t["price"]) for t in trades] == [
            ("buy", "taker", float(o10)),
            ("sell", "taker", float(o11)),
        ]
        assert trades[1]["fee"] == {"cost": float(size * o11 * TAKER), "currency": "USD"}
        balance = await ex.fetch_balance()
        assert balance["USD"]["free"] == float(usd) and balance["BTC"]["total"] == 0.0

    run(btc, scenario)


def test_market_buy_in_base_units_fills_that_size(btc: pd.DataFrame) -> None:
    async def scenario(sim: CoinbaseSimulator, ex: Any, bars: pd.DataFrame) -> None:
        o10 = dec(bars.open[10])
        # ccxt would send a quote_size; the body's order_configuration replaces it.
        config = {"market_market_ioc": {"base_size": "0.25"}}
        params = {"order_configuration": config, "createMarketBuyOrderRequiresPrice": False}
        placed = await ex.create_order(BTC, "market", "buy", 0.25, params=params)
        order = await ex.fetch_order(placed["id"], BTC)
        assert order["filled"] == 0.25 and order["average"] == float(o10)
        assert order["info"]["size_in_quote"] is False
        value = Decimal("0.25") * o10
        assert sim.balance("USD") == (Decimal(10_000) - value * (1 + TAKER), 0)
        assert sim.balance("BTC") == (Decimal("0.25"), 0)

    run(btc, scenario)


def test_limit_order_holds_funds_then_fills_as_maker(btc: pd.DataFrame) -> None:
    price = round(float(btc.open[10]) * 0.99, 2)
    first = next(i for i in range(10, BARS) if btc.low[i] < price)
    assert first > 10  # the scenario needs a resting phase

    async def scenario(sim: CoinbaseSimulator, ex: Any, bars: pd.DataFrame) -> None:
        placed = await ex.create_order(
            BTC, "limit", "buy", 0.5, price, params={"client_order_id": "lim-1"}
        )
        hold = Decimal("0.5") * dec(price) * (1 + TAKER)
        assert sim.balance("USD") == (Decimal(10_000) - hold, hold)
        assert (await ex.fetch_balance())["USD"]["used"] == float(hold)
        [open_] = await ex.fetch_open_orders(BTC)
        assert (open_["id"], open_["clientOrderId"], open_["price"]) == (
            placed["id"],
            "lim-1",
            price,
        )
        sim.advance_to(int(bars.timestamp[first]))  # bar first-1 closed: not through yet
        assert (await ex.fetch_order(placed["id"], BTC))["status"] == "open"
        fills = sim.advance_to(int(bars.timestamp[first + 1]))
        assert [(f.price, f.is_maker) for f in fills] == [(dec(price), True)]
        done = await ex.fetch_order(placed["id"], BTC)
        assert done["status"] == "closed" and done["average"] == price
        assert await ex.fetch_open_orders(BTC) == []
        value = Decimal("0.5") * dec(price)
        assert sim.balance("USD") == (Decimal(10_000) - value * (1 + MAKER), 0)
        [trade] = await ex.fetch_my_trades(BTC)
        assert trade["takerOrMaker"] == "maker" and trade["fee"]["cost"] == float(value * MAKER)

    run(btc, scenario)


def test_cancel_releases_the_hold_and_unknown_orders_fail(btc: pd.DataFrame) -> None:
    async def scenario(sim: CoinbaseSimulator, ex: Any, bars: pd.DataFrame) -> None:
        with pytest.raises(ccxt.InsufficientFunds):  # no BTC to sell yet
            await ex.create_order(BTC, "limit", "sell", 0.1, 99_999)
        bought = await ex.create_market_buy_order_with_cost(BTC, 1000)
        sell = await ex.create_order(BTC, "limit", "sell", 0.1, 99_999)
        assert sim.balance("BTC")[1] == Decimal("0.1")
        cancelled = await ex.cancel_order(sell["id"], BTC)
        assert cancelled["id"] == sell["id"]
        assert (await ex.fetch_order(sell["id"], BTC))["status"] == "canceled"
        assert sim.balance("BTC")[1] == 0
        with pytest.raises(ccxt.BadRequest):  # DUPLICATE_CANCEL_REQUEST
            await ex.cancel_order(sell["id"], BTC)
        with pytest.raises(ccxt.BadRequest):  # UNKNOWN_CANCEL_ORDER
            await ex.cancel_order("00000000-0000-0000-0000-000000000000", BTC)
        with pytest.raises(ccxt.ExchangeError, match="NOT_FOUND"):
            await ex.fetch_order("00000000-0000-0000-0000-000000000000", BTC)
        answer = await ex.v3PrivatePostBrokerageOrdersBatchCancel(
            {"order_ids": [sell["id"], bought["id"], "nope"]}
        )
        assert [r["failure_reason"] for r in answer["results"]] == [
            "DUPLICATE_CANCEL_REQUEST",
            "ORDER_IS_FULLY_FILLED",
            "UNKNOWN_CANCEL_ORDER",
        ]
        statuses = [r.status for r in sim.requests if "orders/historical/0000" in r.path]
        assert statuses == [404]

    run(btc, scenario)


def test_duplicate_client_order_id_returns_the_original_order(btc: pd.DataFrame) -> None:
    async def scenario(sim: CoinbaseSimulator, ex: Any, bars: pd.DataFrame) -> None:
        params = {"client_order_id": "dup-1"}
        first = await ex.create_order(BTC, "limit", "buy", 0.1, 1000, params=params)
        again = await ex.create_order(BTC, "limit", "buy", 0.1, 1000, params=params)
        changed = await ex.create_order(BTC, "market", "sell", 0.3, params=params)
        assert first["id"] == again["id"] == changed["id"]  # the replay answers the original
        assert changed["info"]["side"] == "BUY"
        assert len(sim.orders) == 1 and sim.balance("USD")[1] == Decimal(100) * (1 + TAKER)
        # The other way to find an order by client id: list, then match locally.
        listed = await ex.fetch_orders(BTC)
        assert [o["id"] for o in listed if o["clientOrderId"] == "dup-1"] == [first["id"]]
        # ccxt ignores the unified clientOrderId: it sends its own ccxt-<uuid>.
        other = await ex.create_order(BTC, "limit", "buy", 0.1, 1000, params={"clientOrderId": "x"})
        assert other["clientOrderId"].startswith("ccxt-") and len(sim.orders) == 2

    run(btc, scenario)


def test_rejections_come_back_as_coinbase_error_responses(btc: pd.DataFrame) -> None:
    async def scenario(sim: CoinbaseSimulator, ex: Any, bars: pd.DataFrame) -> None:
        with pytest.raises(ccxt.InsufficientFunds, match="PREVIEW_INSUFFICIENT_FUND"):
            await ex.create_order(BTC, "limit", "buy", 10, 2000)  # 20,000 USD + fee
        with pytest.raises(ccxt.ExchangeError, match="POST_ONLY"):
            await ex.create_order(BTC, "limit", "buy", 0.1, 9000, params={"postOnly": True})
        with pytest.raises(ccxt.ExchangeError, match="SIZE_TOO_SMALL"):
            await ex.create_order(BTC, "limit", "buy", 0.0001, 1000)  # 0.10 USD
        raw = {"client_order_id": "raw-1", "product_id": "BTC-USD", "side": "BUY"}
        tick_off = {"limit_limit_gtc": {"base_size": "0.1", "limit_price": "1000.001"}}
        with pytest.raises(ccxt.ExchangeError, match="PRICE_PRECISION"):
            await ex.v3PrivatePostBrokerageOrders({**raw, "order_configuration": tick_off})
        with pytest.raises(ccxt.ExchangeError, match="INVALID_ARGUMENT"):
            await ex.v3PrivatePostBrokerageOrders(
                {**raw, "order_configuration": {"market_market_ioc": {}}}
            )
        assert sim.orders == [] and sim.balance("USD") == (Decimal(10_000), 0)
        # Each refused create answered HTTP 200 with success false, except the malformed one.
        assert [r.status for r in sim.requests if r.method == "POST"] == [200, 200, 200, 200, 400]

    run(btc, scenario)


def test_jwt_signature_key_lifetime_and_uri_are_checked(btc: pd.DataFrame) -> None:
    async def scenario(sim: CoinbaseSimulator, ex: Any, bars: pd.DataFrame) -> None:
        _, other_secret = new_cdp_key("ecdsa")
        other_name, _ = new_cdp_key("ecdsa")
        bad = [
            client(sim, secret=other_secret),  # right name, wrong private key
            client(sim, key=other_name),  # signed by the key, but claims another name
            client(sim, key="legacy-key", secret="legacy-hmac-secret"),  # CB-ACCESS-* HMAC
        ]
        try:
            for other in bad:
                other.markets, other.markets_by_id = ex.markets, ex.markets_by_id
                with pytest.raises(ccxt.AuthenticationError, match="401"):
                    await other.fetch_balance()
        finally:
            for other in bad:
                await other.close()
        # A valid token is bound to its method and path.
        url = f"{sim.url}/api/v3/brokerage/accounts"
        token = ex.create_auth_token(ex.seconds(), "GET", url)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as s:
            async with s.get(url) as ok:
                assert ok.status == 200
            async with s.get(f"{sim.url}/api/v3/brokerage/orders/historical/batch") as moved:
                assert moved.status == 401 and await moved.text() == "Unauthorized\n"
        assert [r.status for r in sim.requests[-5:]] == [401, 401, 401, 200, 401]

    run(btc, scenario)

    async def expired(sim: CoinbaseSimulator, ex: Any, bars: pd.DataFrame) -> None:
        raise AssertionError("load_markets must fail: the server clock is 5 minutes ahead")

    with pytest.raises(ccxt.AuthenticationError):
        run(btc, expired, clock=lambda: int(time.time() * 1000) + 300_000)


def test_ed25519_keys_sign_with_eddsa(btc: pd.DataFrame) -> None:
    key, secret = new_cdp_key("ed25519")
    _, wrong = new_cdp_key("ed25519")

    async def scenario(sim: CoinbaseSimulator, ex: Any, bars: pd.DataFrame) -> None:
        assert (await ex.fetch_balance())["USD"]["free"] == 10_000.0
        impostor = client(sim, key=key, secret=wrong)
        impostor.markets, impostor.markets_by_id = ex.markets, ex.markets_by_id
        try:
            with pytest.raises(ccxt.AuthenticationError):
                await impostor.fetch_balance()
        finally:
            await impostor.close()

    run(btc, scenario, key=key, secret=secret)
