"""The local exchange simulator, driven by the real ccxt ``binance`` client over HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import ccxt
import ccxt.async_support as accxt
import pandas as pd
import pytest

from live.sim import Simulator, start_simulator
from tests.peers.frames import dec
from tests.peers.sim_clients import ccxt_client, drive, spot_options

KEY, SECRET = "sim-key", "sim-secret"
Scenario = Callable[[Simulator, Any, pd.DataFrame], Awaitable[None]]


def client(sim: Simulator, *, secret: str = SECRET, key: str = KEY, timeout_ms: int = 3000) -> Any:
    """A real async ccxt binance client whose REST URLs point at the simulator."""
    return ccxt_client(
        accxt.binance,
        sim.url,
        apiKey=key,
        secret=secret,
        timeout=timeout_ms,
        options=spot_options(),
    )


def run(btc: pd.DataFrame, eth: pd.DataFrame, scenario: Scenario, **kwargs: Any) -> Simulator:
    """Start a simulator at bar 10 of ``btc``, run ``scenario(sim, ccxt_client, btc)``, stop."""
    return drive(
        lambda: start_simulator(
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


def test_markets_balance_and_klines(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        assert sorted(ex.symbols) == ["BTC/USDT", "ETH/USDT"]
        market = ex.market("BTC/USDT")
        assert market["limits"]["amount"]["min"] == 0.00001
        assert market["limits"]["cost"]["min"] == 5.0
        assert market["precision"]["price"] == 0.01
        balance = await ex.fetch_balance()
        assert balance["USDT"]["free"] == 10_000.0 and balance["BTC"]["total"] == 0.0
        assert balance["info"]["accountType"] == "SPOT"
        candles = await ex.fetch_ohlcv("BTC/USDT", "1h", limit=1000)
        # Only the 10 bars closed by the market clock, with their real prices.
        assert [c[0] for c in candles] == bars.timestamp[:10].tolist()
        assert [c[4] for c in candles] == bars.close[:10].tolist()
        assert {r.path for r in sim.requests} >= {"/api/v3/exchangeInfo", "/api/v3/account"}
        assert all(r.status == 200 for r in sim.requests)

    run(btc, eth, scenario)


def test_market_order_fills_at_bar_open_with_fee(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        order = await ex.create_order(
            "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "mkt-1"}
        )
        open_10 = float(bars.open[10])
        assert order["status"] == "closed" and order["clientOrderId"] == "mkt-1"
        assert order["filled"] == 0.01 and order["average"] == pytest.approx(open_10)
        assert order["fee"]["currency"] == "USDT"
        assert order["fee"]["cost"] == pytest.approx(0.01 * open_10 * 0.001, abs=1e-8)
        fetched = await ex.fetch_order(None, "BTC/USDT", params={"clientOrderId": "mkt-1"})
        assert fetched["id"] == order["id"] and fetched["status"] == "closed"
        trades = await ex.fetch_my_trades("BTC/USDT")
        assert [t["order"] for t in trades] == [order["id"]]
        assert trades[0]["price"] == pytest.approx(open_10) and trades[0]["takerOrMaker"] == "taker"
        cost = Decimal("0.01") * dec(bars.open[10])
        free_usdt, locked_usdt = sim.balance("USDT")
        assert free_usdt == Decimal(10_000) - cost - (cost * Decimal("0.001")).quantize(
            Decimal("1e-8")
        )
        assert locked_usdt == 0 and sim.balance("BTC") == (Decimal("0.01"), 0)
        balance = await ex.fetch_balance()
        assert balance["BTC"]["free"] == 0.01
        # Sell it back one bar later, at that bar's open.
        sim.advance_to(int(bars.timestamp[11]))
        sold = await ex.create_order("BTC/USDT", "market", "sell", 0.01)
        assert sold["average"] == pytest.approx(float(bars.open[11]))
        assert [f.side for f in sim.ledger] == ["BUY", "SELL"]
        assert len({f.trade_id for f in sim.ledger}) == 2

    run(btc, eth, scenario)


def test_limit_order_rests_then_fills_when_a_bar_trades_through(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    # A buy 0.3 % under bar 10's open: the first bar from 10 on whose low is below it fills it.
    price = round(float(btc.open[10]) * 0.997, 2)
    first = next(i for i in range(10, len(btc)) if btc.low[i] < price)
    assert first > 10  # the scenario needs a resting phase

    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        order = await ex.create_order(
            "BTC/USDT", "limit", "buy", 0.02, price, params={"clientOrderId": "lim-1"}
        )
        assert order["status"] == "open" and order["filled"] == 0.0
        assert [o["clientOrderId"] for o in await ex.fetch_open_orders("BTC/USDT")] == ["lim-1"]
        assert sim.balance("USDT")[1] > 0  # held while open
        sim.advance_to(int(bars.timestamp[first]))  # bar first-1 closed: not through yet
        assert (await ex.fetch_order(order["id"], "BTC/USDT"))["status"] == "open"
        fills = sim.advance_to(int(bars.timestamp[first + 1]))
        assert [(f.price, f.is_maker) for f in fills] == [(Decimal(str(price)), True)]
        done = await ex.fetch_order(None, "BTC/USDT", params={"clientOrderId": "lim-1"})
        assert done["status"] == "closed" and done["average"] == pytest.approx(price)
        assert await ex.fetch_open_orders("BTC/USDT") == []
        assert sim.balance("USDT")[1] == 0 and sim.balance("BTC")[0] == Decimal("0.02")
        trades = await ex.fetch_my_trades("BTC/USDT")
        assert [t["takerOrMaker"] for t in trades] == ["maker"]

    run(btc, eth, scenario)


def test_cancel_releases_hold_and_unknown_orders_are_refused(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        price = round(float(bars.open[10]) * 0.5, 2)
        order = await ex.create_order(
            "BTC/USDT", "limit", "buy", 0.01, price, params={"clientOrderId": "c-1"}
        )
        assert sim.balance("USDT")[1] == Decimal(str(price)) * Decimal("0.01") * Decimal("1.001")
        cancelled = await ex.cancel_order(order["id"], "BTC/USDT")
        assert cancelled["status"] == "canceled"
        assert sim.balance("USDT") == (Decimal(10_000), 0)
        assert await ex.fetch_open_orders("BTC/USDT") == []
        with pytest.raises(ccxt.OrderNotFound):
            await ex.cancel_order(order["id"], "BTC/USDT")
        with pytest.raises(ccxt.OrderNotFound, match="-2013"):
            await ex.fetch_order(None, "BTC/USDT", params={"clientOrderId": "never-sent"})
        with pytest.raises(ccxt.OrderNotFound, match="-2013"):
            await ex.fetch_order("424242", "BTC/USDT")
        assert [
            r.status for r in sim.requests if r.method == "GET" and r.path.endswith("/order")
        ] == [400, 400]

    run(btc, eth, scenario)


def test_duplicate_client_order_id_is_refused(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        params = {"clientOrderId": "dup-1"}
        await ex.create_order("BTC/USDT", "market", "buy", 0.001, params=params)
        with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
            await ex.create_order("BTC/USDT", "market", "buy", 0.001, params=params)
        assert len(sim.orders) == 1 and len(sim.ledger) == 1
        # Filters and funds are checked too.
        # 0.0001 BTC is under 5 USDT; ccxt maps -1013 to BadRequest, as against Binance itself.
        with pytest.raises(ccxt.BadRequest, match=r"-1013.*NOTIONAL"):
            await ex.create_order("BTC/USDT", "market", "buy", 0.0001)
        with pytest.raises(ccxt.InsufficientFunds, match="insufficient balance"):
            await ex.create_order("BTC/USDT", "market", "buy", 5)
        assert len(sim.orders) == 1
        assert [r.status for r in sim.requests if r.method == "POST"] == [200, 400, 400, 400]

    run(btc, eth, scenario)


def test_authentication_signature_key_and_timestamp(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        bad = [client(sim, secret="wrong"), client(sim, key="other-key")]
        stale = client(sim)
        stale.options["timeDifference"] = 10_000  # signs 10 s in the past; recvWindow is 5 s
        ahead = client(sim)
        ahead.options["timeDifference"] = -3_000
        try:
            for other in [*bad, stale, ahead]:
                other.markets, other.markets_by_id = ex.markets, ex.markets_by_id
            with pytest.raises(ccxt.AuthenticationError, match="-1022"):
                await bad[0].fetch_balance()
            with pytest.raises(ccxt.AuthenticationError, match="-2015"):
                await bad[1].fetch_balance()
            with pytest.raises(ccxt.InvalidNonce, match="outside of the recvWindow"):
                await stale.create_order("BTC/USDT", "market", "buy", 0.001)
            with pytest.raises(ccxt.InvalidNonce, match="ahead"):
                await ahead.fetch_balance()
            stale.options["recvWindow"] = 20_000  # a wider window accepts the same lag
            assert (await stale.fetch_balance())["USDT"]["free"] == 10_000.0
        finally:
            for other in [*bad, stale, ahead]:
                await other.close()
        assert sim.orders == []

    run(btc, eth, scenario)


def test_timeout_after_accepting_is_resolved_by_client_id(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        ex.timeout = 300
        sim.set_fault("timeout_after_accept", seconds=1.5)
        with pytest.raises(ccxt.RequestTimeout):
            await ex.create_order(
                "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "to-1"}
            )
        # Unknown outcome: ask by client id. It was booked (and filled) exactly once.
        found = await ex.fetch_order(None, "BTC/USDT", params={"clientOrderId": "to-1"})
        assert found["status"] == "closed" and found["filled"] == 0.01
        with pytest.raises(ccxt.InvalidOrder, match="Duplicate"):  # a blind retry is refused
            await ex.create_order(
                "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "to-1"}
            )
        assert [o.client_order_id for o in sim.orders] == ["to-1"] and len(sim.ledger) == 1
        # The fault was used up: the next order answers in time.
        ok = await ex.create_order("ETH/USDT", "market", "buy", 0.1)
        assert ok["status"] == "closed"

    run(btc, eth, scenario)


def test_5xx_after_accepting_is_resolved_by_client_id(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        price = round(float(bars.open[10]) * 0.9, 2)
        sim.set_fault("error_after_accept", status=503)
        with pytest.raises(ccxt.ExchangeNotAvailable):
            await ex.create_order(
                "BTC/USDT", "limit", "buy", 0.01, price, params={"clientOrderId": "5xx-1"}
            )
        found = await ex.fetch_order(None, "BTC/USDT", params={"clientOrderId": "5xx-1"})
        assert found["status"] == "open" and found["price"] == price
        assert [r.status for r in sim.requests if r.method == "POST"] == [503]

    run(btc, eth, scenario)


def test_rate_limit_429_then_418_while_banned(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        sim.set_fault("rate_limit", retry_after=1)
        with pytest.raises(ccxt.DDoSProtection, match="429"):
            await ex.fetch_balance()
        with pytest.raises(ccxt.DDoSProtection, match="418"):  # kept calling during the ban
            await ex.fetch_balance()
        statuses = [r.status for r in sim.requests if r.path == "/api/v3/account"]
        assert statuses == [429, 418]
        await asyncio.sleep(1.05)  # honour Retry-After
        assert (await ex.fetch_balance())["USDT"]["free"] == 10_000.0

    run(btc, eth, scenario)


def test_latency_beyond_the_client_timeout(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        ex.timeout = 200
        sim.set_fault("latency", seconds=0.6, path="/api/v3/time")
        with pytest.raises(ccxt.RequestTimeout):
            await ex.fetch_time()
        sim.set_fault("latency", seconds=0.05, times=None)
        started = time.monotonic()
        assert await ex.fetch_time() > 0
        assert time.monotonic() - started >= 0.05
        sim.clear_faults()

    run(btc, eth, scenario)


def test_partial_fill_then_rest_on_next_bar(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        sim.set_fault("partial_fill", fraction=0.4)
        order = await ex.create_order(
            "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "pf-1"}
        )
        assert order["status"] == "open" and order["filled"] == 0.004
        assert order["info"]["status"] == "PARTIALLY_FILLED"
        sim.advance_to(int(bars.timestamp[11]))
        done = await ex.fetch_order(None, "BTC/USDT", params={"clientOrderId": "pf-1"})
        assert done["status"] == "closed" and done["filled"] == 0.01
        assert [(f.qty, f.price) for f in sim.ledger] == [
            (Decimal("0.004"), dec(bars.open[10])),
            (Decimal("0.006"), dec(bars.open[11])),
        ]

    run(btc, eth, scenario)


def test_duplicate_fills_in_my_trades(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        sim.set_fault("duplicate_trades")
        await ex.create_order("BTC/USDT", "market", "buy", 0.001)
        await ex.create_order("BTC/USDT", "market", "buy", 0.002)
        trades = await ex.fetch_my_trades("BTC/USDT")
        ids = [t["id"] for t in trades]
        assert len(ids) == 3 and ids[0] == ids[1] != ids[2]
        assert len(sim.ledger) == 2  # the account itself saw each fill once
        assert sim.balance("BTC")[0] == Decimal("0.003")

    run(btc, eth, scenario)


def test_unknown_fault_kind_is_rejected(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        with pytest.raises(ValueError, match="unknown fault"):
            sim.set_fault("meteor")
        with pytest.raises(ValueError, match="forward"):
            sim.advance_to(0)

    run(btc, eth, scenario)


def test_slippage_moves_taker_fills_against_the_taker(btc: pd.DataFrame, eth: pd.DataFrame) -> None:
    """The ``slippage`` fault (what the execution-quality tests inject): the next taker fills
    trade ``bps`` through the market price, rounded to the tick against the taker; a resting
    limit order's maker fill keeps its price."""

    async def scenario(sim: Simulator, ex: Any, bars: pd.DataFrame) -> None:
        with pytest.raises(ValueError, match="bps"):
            sim.set_fault("slippage", bps=-1)
        sim.set_fault("slippage", times=2, bps=25)
        await ex.create_order("BTC/USDT", "market", "buy", 0.01)
        await ex.create_order("BTC/USDT", "market", "sell", 0.01)
        await ex.create_order("BTC/USDT", "market", "buy", 0.01)  # the fault is spent
        market = dec(bars.open[10])
        tick = Decimal("0.01")
        up = (market * Decimal("1.0025") / tick).to_integral_value(rounding="ROUND_UP") * tick
        down = (market * Decimal("0.9975") / tick).to_integral_value(rounding="ROUND_DOWN") * tick
        assert [f.price for f in sim.ledger] == [up, down, market]
        assert up > market * Decimal("1.0025") - tick and down < market * Decimal("0.9975") + tick

    run(btc, eth, scenario)
