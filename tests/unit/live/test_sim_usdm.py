"""The local Binance USD-M peer, driven by the real ccxt ``binanceusdm`` client over HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt
import ccxt.async_support as accxt
import pandas as pd
import pytest

from live.sim.usdm import USDM_OPTIONS, UsdmSimulator, start_usdm_simulator
from tests.peers.frames import USDM_BTC_1H, USDM_ETH_1H, dec, real_candles
from tests.peers.sim_clients import ccxt_client, drive

KEY, SECRET = "usdm-key", "usdm-secret"
BARS = 300
BTC = "BTC/USDT:USDT"
EIGHT = Decimal("0.00000001")
Scenario = Callable[[UsdmSimulator, Any, pd.DataFrame], Awaitable[None]]


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    """The first ``BARS`` real Binance BTCUSDT perpetual hourly candles (from 2023-07-04)."""
    return real_candles(shared_data, USDM_BTC_1H, BARS)


@pytest.fixture(scope="module")
def eth(shared_data: Path) -> pd.DataFrame:
    return real_candles(shared_data, USDM_ETH_1H, BARS)


def client(sim: UsdmSimulator, *, secret: str = SECRET, key: str = KEY) -> Any:
    """A real async ccxt binanceusdm client whose REST URLs point at the peer."""
    return ccxt_client(
        accxt.binanceusdm,
        sim.url,
        apiKey=key,
        secret=secret,
        timeout=3000,
        enableRateLimit=False,  # ccxt's own throttle (50 ms per weight) only slows tests
        options=dict(USDM_OPTIONS),
    )


def run(btc: pd.DataFrame, eth: pd.DataFrame, scenario: Scenario, **kwargs: Any) -> UsdmSimulator:
    """Start a peer at bar 10 of ``btc``, run ``scenario(sim, ccxt_client, btc)``, stop."""
    return drive(
        lambda: start_usdm_simulator(
            candles={"BTCUSDT": btc, "ETHUSDT": eth},
            api_key=KEY,
            api_secret=SECRET,
            start_ms=int(btc.timestamp[10]),
            **kwargs,
        ),
        client,
        lambda sim, ex: scenario(sim, ex, btc),
        ready=lambda ex: ex.load_markets(),
    )


def fee(qty: str, price: Decimal, rate: str = "0.0005") -> Decimal:
    return (Decimal(qty) * price * Decimal(rate)).quantize(EIGHT)


def test_markets_klines_and_balance(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: UsdmSimulator, ex: Any, bars: pd.DataFrame) -> None:
        assert sorted(ex.symbols) == [BTC, "ETH/USDT:USDT"]
        market = ex.market(BTC)
        assert market["swap"] and market["linear"] and market["settle"] == "USDT"
        assert market["limits"]["amount"]["min"] == 0.001
        assert market["limits"]["cost"]["min"] == 100.0
        assert market["precision"] == {"amount": 0.001, "price": 0.1, "base": 1e-8, "quote": 1e-8}
        candles = await ex.fetch_ohlcv(BTC, "1h", limit=1000)
        # Only the 10 bars closed by the market clock, with their real prices and volumes.
        assert [c[0] for c in candles] == bars.timestamp[:10].tolist()
        assert [c[4] for c in candles] == bars.close[:10].tolist()
        assert [c[5] for c in candles] == bars.volume[:10].tolist()
        balance = await ex.fetch_balance()
        assert balance["USDT"] == {"free": 10_000.0, "used": 0.0, "total": 10_000.0}
        assert await ex.fetch_positions() == []
        # load_markets needs exchangeInfo only (fetchCurrencies off: no /sapi call).
        assert [r.path for r in sim.requests] == [
            "/fapi/v1/exchangeInfo",
            "/fapi/v1/klines",
            "/fapi/v3/account",
            "/fapi/v1/leverageBracket",
            "/fapi/v3/positionRisk",
        ]
        assert all(r.status == 200 for r in sim.requests)

    run(btc, eth, scenario)


def test_market_order_fills_at_bar_open_and_opens_a_long(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    async def scenario(sim: UsdmSimulator, ex: Any, bars: pd.DataFrame) -> None:
        order = await ex.create_order(BTC, "market", "buy", 0.05, params={"clientOrderId": "m-1"})
        open_10 = dec(bars.open[10])
        assert order["status"] == "closed" and order["clientOrderId"] == "m-1"
        assert order["filled"] == 0.05 and order["average"] == float(open_10)
        fetched = await ex.fetch_order(None, BTC, params={"clientOrderId": "m-1"})
        assert fetched["id"] == order["id"] and fetched["status"] == "closed"
        [query] = [
            r.params for r in sim.requests if r.method == "GET" and r.path == "/fapi/v1/order"
        ]
        assert query["origClientOrderId"] == "m-1" and "orderId" not in query
        [trade] = await ex.fetch_my_trades(BTC)
        assert trade["order"] == order["id"] and trade["takerOrMaker"] == "taker"
        assert trade["fee"] == {"cost": float(fee("0.05", open_10)), "currency": "USDT"}
        assert trade["info"]["realizedPnl"] == "0.00000000"
        [pos] = await ex.fetch_positions()
        assert (pos["side"], pos["contracts"], pos["entryPrice"]) == ("long", 0.05, float(open_10))
        assert pos["unrealizedPnl"] == 0.0 and pos["marginMode"] == "cross"
        margin = Decimal("0.05") * open_10 / 20
        assert pos["initialMargin"] == float(margin)
        wallet = Decimal(10_000) - fee("0.05", open_10)
        assert sim.wallet() == wallet and sim.available() == wallet - margin
        balance = await ex.fetch_balance()
        assert balance["USDT"]["total"] == float(wallet)
        assert balance["USDT"]["used"] == float(margin.quantize(EIGHT))
        assert sim.positions()["BTCUSDT"].amount == Decimal("0.05")

    run(btc, eth, scenario)


def test_reduce_only_close_realises_pnl_into_the_wallet(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    async def scenario(sim: UsdmSimulator, ex: Any, bars: pd.DataFrame) -> None:
        entry, exit_ = dec(bars.open[10]), dec(bars.open[15])
        await ex.create_order(BTC, "market", "buy", 0.05)
        sim.advance_to(int(bars.timestamp[15]))
        [pos] = await ex.fetch_positions()
        upnl = Decimal("0.05") * (exit_ - entry)  # marked at bar 15's open
        assert pos["unrealizedPnl"] == float(upnl) and pos["notional"] == float(exit_ * 5 / 100)
        total = Decimal(10_000) - fee("0.05", entry) + upnl
        assert (await ex.fetch_balance())["USDT"]["total"] == float(total)
        closed = await ex.create_order(BTC, "market", "sell", 0.05, params={"reduceOnly": True})
        assert closed["status"] == "closed" and closed["reduceOnly"] is True
        assert await ex.fetch_positions() == [] and sim.positions() == {}
        wallet = Decimal(10_000) + upnl - fee("0.05", entry) - fee("0.05", exit_)
        assert sim.wallet() == wallet == sim.available()
        balance = await ex.fetch_balance()
        assert balance["USDT"] == {"free": float(wallet), "used": 0.0, "total": float(wallet)}
        trades = await ex.fetch_my_trades(BTC)
        assert [t["info"]["realizedPnl"] for t in trades] == ["0.00000000", f"{upnl:.8f}"]
        assert [t["side"] for t in trades] == ["buy", "sell"]
        with pytest.raises(ccxt.ExchangeError, match="-2022"):  # nothing left to reduce
            await ex.create_order(BTC, "market", "sell", 0.01, params={"reduceOnly": True})

    run(btc, eth, scenario)


def test_flip_and_average_entry(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: UsdmSimulator, ex: Any, bars: pd.DataFrame) -> None:
        o10, o12, o13, o14 = (dec(bars.open[i]) for i in (10, 12, 13, 14))
        await ex.create_order(BTC, "market", "buy", 0.05)
        sim.advance_to(int(bars.timestamp[12]))
        await ex.create_order(BTC, "market", "sell", 0.08)  # closes 0.05, opens 0.03 short
        assert sim.positions()["BTCUSDT"].amount == Decimal("-0.03")
        assert sim.positions()["BTCUSDT"].entry_price == o12
        sim.advance_to(int(bars.timestamp[13]))
        await ex.create_order(BTC, "market", "buy", 0.01)  # reduces the short
        sim.advance_to(int(bars.timestamp[14]))
        await ex.create_order(BTC, "market", "sell", 0.02)  # grows it: a new average entry
        [pos] = await ex.fetch_positions()
        assert (pos["side"], pos["contracts"]) == ("short", 0.04)
        assert pos["entryPrice"] == float((o12 + o14) / 2)
        realised = Decimal("0.05") * (o12 - o10) + Decimal("0.01") * (o12 - o13)
        fees = fee("0.05", o10) + fee("0.08", o12) + fee("0.01", o13) + fee("0.02", o14)
        assert sim.wallet() == Decimal(10_000) + realised - fees
        pnls = [Decimal(t["info"]["realizedPnl"]) for t in await ex.fetch_my_trades(BTC)]
        assert sum(pnls) == realised.quantize(EIGHT)

    run(btc, eth, scenario)


def test_limit_order_holds_margin_then_fills_when_a_bar_trades_through(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    price = round(float(btc.open[10]) * 0.997, 1)
    first = next(i for i in range(10, BARS) if btc.low[i] < price)
    assert first > 10  # the scenario needs a resting phase

    async def scenario(sim: UsdmSimulator, ex: Any, bars: pd.DataFrame) -> None:
        order = await ex.create_order(
            BTC, "limit", "buy", 0.02, price, params={"clientOrderId": "lim-1"}
        )
        assert order["status"] == "open" and order["filled"] == 0.0
        assert [o["clientOrderId"] for o in await ex.fetch_open_orders(BTC)] == ["lim-1"]
        margin = Decimal("0.02") * dec(price) / 20
        assert sim.available() == Decimal(10_000) - margin
        assert (await ex.fetch_balance())["USDT"]["used"] == float(margin)
        sim.advance_to(int(bars.timestamp[first]))  # bar first-1 closed: not through yet
        assert (await ex.fetch_order(order["id"], BTC))["status"] == "open"
        fills = sim.advance_to(int(bars.timestamp[first + 1]))
        assert [(f.price, f.is_maker) for f in fills] == [(dec(price), True)]
        done = await ex.fetch_order(None, BTC, params={"clientOrderId": "lim-1"})
        assert done["status"] == "closed" and done["average"] == price
        assert await ex.fetch_open_orders(BTC) == []
        [trade] = await ex.fetch_my_trades(BTC)
        assert trade["takerOrMaker"] == "maker" and trade["fee"]["cost"] == float(
            fee("0.02", dec(price))
        )
        assert sim.positions()["BTCUSDT"].entry_price == dec(price)

    run(btc, eth, scenario)


def test_cancel_releases_margin_and_unknown_orders_are_refused(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    async def scenario(sim: UsdmSimulator, ex: Any, bars: pd.DataFrame) -> None:
        price = round(float(bars.open[10]) * 0.5, 1)
        order = await ex.create_order(BTC, "limit", "buy", 0.01, price)
        assert sim.available() < 10_000
        cancelled = await ex.cancel_order(order["id"], BTC)
        assert cancelled["status"] == "canceled" and sim.available() == 10_000
        assert await ex.fetch_open_orders(BTC) == []
        with pytest.raises(ccxt.OrderNotFound, match="-2011"):  # not open any more
            await ex.cancel_order(order["id"], BTC)
        with pytest.raises(ccxt.OrderNotFound, match="-2013"):
            await ex.fetch_order(None, BTC, params={"clientOrderId": "never-sent"})
        with pytest.raises(ccxt.OrderNotFound, match="-2013"):
            await ex.fetch_order("424242", BTC)
        assert [r.status for r in sim.requests if r.method == "DELETE"] == [200, 400]

    run(btc, eth, scenario)


def test_duplicate_client_id_filters_and_margin_are_refused(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    async def scenario(sim: UsdmSimulator, ex: Any, bars: pd.DataFrame) -> None:
        params = {"clientOrderId": "dup-1"}
        await ex.create_order(BTC, "market", "buy", 0.01, params=params)
        # ccxt chooses its futures error table by the host (fapi.binance.com): against the
        # rebased URL the futures-only codes arrive as ExchangeError with the code ...
        with pytest.raises(ccxt.ExchangeError, match=r"-4116.*ClientOrderId is duplicated"):
            await ex.create_order(BTC, "market", "buy", 0.01, params=params)
        with pytest.raises(ccxt.ExchangeError, match=r"-4164.*no smaller than 100"):
            await ex.create_order(BTC, "market", "buy", 0.002)
        with pytest.raises(ccxt.ExchangeError, match=r"-2019.*Margin is insufficient"):
            await ex.create_order(BTC, "market", "buy", 10)
        # ... and with that table merged in, as they would against Binance itself.
        ex.exceptions["exact"] = {**ex.exceptions["exact"], **ex.exceptions["linear"]["exact"]}
        with pytest.raises(ccxt.InsufficientFunds):
            await ex.create_order(BTC, "market", "buy", 10)
        with pytest.raises(ccxt.InvalidOrder, match="-4116"):
            await ex.create_order(BTC, "market", "buy", 0.01, params=params)
        # Precision the ccxt client would round away, sent raw.
        raw = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
        with pytest.raises(ccxt.BadRequest, match="-1111"):
            await ex.fapiPrivatePostOrder({**raw, "quantity": "0.0105", "price": "20000"})
        with pytest.raises(ccxt.ExchangeError, match="-4014"):
            await ex.fapiPrivatePostOrder({**raw, "quantity": "0.01", "price": "20000.05"})
        with pytest.raises(ccxt.ExchangeError, match="-4028"):
            await ex.fapiPrivatePostLeverage({"symbol": "BTCUSDT", "leverage": 200})
        assert len(sim.orders) == 1 and len(sim.ledger) == 1

    run(btc, eth, scenario)


def test_leverage_sets_the_margin_of_new_positions(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: UsdmSimulator, ex: Any, bars: pd.DataFrame) -> None:
        answer = await ex.set_leverage(5, BTC)
        assert answer["leverage"] == 5
        await ex.create_order(BTC, "market", "buy", 0.05)
        [pos] = await ex.fetch_positions(params={"useV2": True})
        open_10 = dec(bars.open[10])
        assert pos["leverage"] == 5 and pos["initialMargin"] == float(open_10 * 5 / 100 / 5)
        assert sim.available() == Decimal(10_000) - fee("0.05", open_10) - open_10 * 5 / 100 / 5
        v2 = await ex.fetch_balance(params={"useV2": True})
        assert v2["USDT"]["used"] == float(open_10 * 5 / 100 / 5)

    run(btc, eth, scenario, leverage=20)


def test_authentication_signature_key_and_timestamp(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: UsdmSimulator, ex: Any, bars: pd.DataFrame) -> None:
        bad_secret, bad_key, stale = (
            client(sim, secret="wrong"),
            client(sim, key="other"),
            client(sim),
        )
        stale.options["timeDifference"] = 20_000  # signs 20 s in the past; recvWindow is 10 s
        try:
            for other in (bad_secret, bad_key, stale):
                other.markets, other.markets_by_id = ex.markets, ex.markets_by_id
            with pytest.raises(ccxt.AuthenticationError, match="-1022"):
                await bad_secret.fetch_balance()
            with pytest.raises(ccxt.AuthenticationError, match="-2015"):
                await bad_key.create_order(BTC, "market", "buy", 0.01)
            with pytest.raises(ccxt.InvalidNonce, match="recvWindow"):
                await stale.create_order(BTC, "market", "buy", 0.01)
        finally:
            for other in (bad_secret, bad_key, stale):
                await other.close()
        assert sim.orders == []
        assert [r.status for r in sim.requests[-3:]] == [400, 401, 400]

    run(btc, eth, scenario)


def test_funding_settles_at_each_funding_time_and_lists_as_income(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    """A short receives a positive rate and pays a negative one, priced at the open of the bar
    containing the funding time (a mid-bar one too); a flat account pays nothing; ccxt's
    ``fetch_funding_history`` reads the settlements."""
    t = btc.timestamp
    half = 1_800_000
    schedule = pd.DataFrame(
        {"timestamp": [t[5], t[12], t[14] + half, t[20]],  # t[5]: before the start, skipped
         "funding_rate": [0.01, 0.0003, -0.0001, 0.0002]}
    )  # fmt: skip

    async def scenario(sim: UsdmSimulator, ex: Any, bars: pd.DataFrame) -> None:
        await ex.create_order(BTC, "market", "sell", 0.02)
        sim.advance_to(int(t[15]))
        received = (Decimal("0.02") * dec(bars.open[12]) * Decimal("0.0003")).quantize(EIGHT)
        paid = (Decimal("-0.02") * dec(bars.open[14]) * Decimal("0.0001")).quantize(EIGHT)
        await ex.create_order(BTC, "market", "buy", 0.02, params={"reduceOnly": True})
        sim.advance_to(int(t[21]))  # flat at t[20]: nothing
        history = await ex.fetch_funding_history(BTC)
        assert [(h["timestamp"], h["amount"], h["code"]) for h in history] == [
            (int(t[12]), float(received), "USDT"), (int(t[14]) + half, float(paid), "USDT")
        ]  # fmt: skip
        assert history[0]["info"]["incomeType"] == "FUNDING_FEE" and history[0]["id"]
        assert len({h["id"] for h in history}) == 2
        later = await ex.fetch_funding_history(BTC, since=int(t[13]))
        assert [h["id"] for h in later] == [history[1]["id"]]
        assert await ex.fetch_funding_history("ETH/USDT:USDT") == []
        assert await ex.fapiPrivateGetIncome({"incomeType": "COMMISSION"}) == []
        raw = await ex.fapiPrivateGetIncome({"symbol": "BTCUSDT", "startTime": int(t[13])})
        assert [str(r["tranId"]) for r in raw] == [history[1]["id"]]  # the server filters too
        fees = fee("0.02", dec(bars.open[10])) + fee("0.02", dec(bars.open[15]))
        pnl = Decimal("0.02") * (dec(bars.open[10]) - dec(bars.open[15]))
        assert sim.wallet() == Decimal(10_000) + pnl - fees + received + paid

    run(btc, eth, scenario, funding={"BTCUSDT": schedule})
