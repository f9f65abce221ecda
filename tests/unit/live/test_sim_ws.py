"""The simulator's websockets, driven by the real ``ccxt.pro.binance`` client over 127.0.0.1."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import ccxt.pro as ccxtpro
import pandas as pd
import pytest

from live.sim import Simulator, run_sim, start_simulator
from live.sim.cli import load_candles, load_trades
from tests.peers.frames import SPOT_BTC_1H
from tests.peers.sim_clients import ccxt_client, drive, spot_options

KEY, SECRET = "sim-key", "sim-secret"
HOUR = 3_600_000
Scenario = Callable[[Simulator, Any], Awaitable[None]]


@pytest.fixture(scope="module")
def btc_jan(shared_data: Path) -> pd.DataFrame:
    """48 hourly candles around 2021-01-08 00:00 UTC, when the shared trades capture starts."""
    frame = pd.read_csv(shared_data / "ohlcv" / SPOT_BTC_1H)
    first = int(frame.index[frame.timestamp == 1610064000000 - 24 * HOUR][0])
    return frame.iloc[first : first + 48].reset_index(drop=True)


@pytest.fixture(scope="module")
def prints(shared_data: Path) -> pd.DataFrame:
    """Every Binance BTC/USDT trade of 46 s from 2021-01-08 00:00 UTC."""
    trades = load_trades("BTC/USDT", shared_data)
    assert trades is not None
    return trades[trades.timestamp < 1610064000000 + HOUR].reset_index(drop=True)


def client(sim: Simulator, *, secret: str = SECRET) -> Any:
    """A real ccxt.pro binance client whose REST and websocket URLs point at the simulator."""
    return ccxt_client(
        ccxtpro.binance,
        sim.url,
        apiKey=KEY,
        secret=secret,
        timeout=3000,
        options=spot_options(),
    )


def record(ex: Any) -> list[dict[str, Any]]:
    """Every raw websocket message ``ex`` handles (wraps its dispatcher, keeps it working).

    User-data events arrive wrapped (``{"subscriptionId": n, "event": ...}``): kept unwrapped.
    """
    seen: list[dict[str, Any]] = []
    handle = ex.handle_message

    def spy(conn: Any, message: Any) -> Any:
        seen.append(message.get("event", message) if isinstance(message, dict) else message)
        return handle(conn, message)

    ex.handle_message = spy
    return seen


def run(frame: pd.DataFrame, scenario: Scenario, *, start: int = 10, **kwargs: Any) -> None:
    """Start a simulator at bar ``start`` of ``frame`` (as BTCUSDT), run the scenario, stop."""
    drive(
        lambda: start_simulator(
            candles={"BTCUSDT": frame},
            api_key=KEY,
            api_secret=SECRET,
            start_ms=int(frame.timestamp[start]),
            **kwargs,
        ),
        client,
        scenario,
        ready=lambda ex: ex.load_markets(),
    )


async def collect(
    watch: Callable[[], Awaitable[list[Any]]],
    done: Callable[[list[Any]], bool],
    timeout: float = 3.0,
) -> list[Any]:
    """Call ``watch`` until what it returned satisfies ``done``; everything it returned."""
    seen: list[Any] = []

    async def loop() -> None:
        while not done(seen):
            seen.extend(await watch())

    await asyncio.wait_for(loop(), timeout)
    return seen


async def eventually(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    """Wait until ``condition()`` holds (for state ccxt keeps in its caches)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def klines(messages: list[dict[str, Any]], final: bool) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("e") == "kline" and m["k"]["x"] is final]


def test_kline_stream_publishes_each_closed_bar_once_and_nothing_ahead(btc: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any) -> None:
        raw = record(ex)
        first = await asyncio.wait_for(ex.watch_ohlcv("BTC/USDT", "1h"), 3)
        open_10 = float(btc.open[10])
        assert first == [[int(btc.timestamp[10]), open_10, open_10, open_10, open_10, 0.0]]
        # ccxt's receive loop handles (and records) every message, watched or not.
        for i in (11, 12, 15):  # one bar, one bar, then a jump over three
            sim.advance_to(int(btc.timestamp[i]))
            await asyncio.sleep(0.05)
        sim.advance_to(int(btc.timestamp[15]) + HOUR // 2)  # mid-bar: nothing new closes
        await asyncio.sleep(0.05)
        finals = klines(raw, final=True)
        assert [m["k"]["t"] for m in finals] == btc.timestamp[10:15].tolist()  # each once
        for m in finals:
            row = btc[btc.timestamp == m["k"]["t"]].iloc[0]
            k = m["k"]
            assert (float(k["o"]), float(k["h"]), float(k["l"]), float(k["c"])) == (
                row.open,
                row.high,
                row.low,
                row.close,
            )
            assert float(k["v"]) == pytest.approx(row.volume)
            assert k["T"] < m["E"]  # published only once the clock passed the close
        forming = klines(raw, final=False)
        assert [m["k"]["t"] for m in forming] == btc.timestamp[[10, 11, 12, 15]].tolist()
        for m in forming:  # a forming bar shows its open only: no peeking at its future
            k = m["k"]
            assert k["o"] == k["h"] == k["l"] == k["c"] and k["t"] <= m["E"]
        # ccxt's cache holds the real candles, the last one still forming.
        cached = ex.ohlcvs["BTC/USDT"]["1h"]
        assert [c[0] for c in cached] == btc.timestamp[10:16].tolist()
        assert cached[-2][1:5] == btc.loc[14, ["open", "high", "low", "close"]].tolist()

    run(btc, scenario)


def test_kline_windows_aggregate_candles_and_refuse_finer_intervals(btc: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any) -> None:
        raw = record(ex)
        await asyncio.wait_for(ex.watch_ohlcv("BTC/USDT", "4h"), 3)  # bar 10 = 10:00 UTC
        sim.advance_to(int(btc.timestamp[14]))
        sim.advance_to(int(btc.timestamp[24]))
        await asyncio.sleep(0.1)
        finals = klines(raw, final=True)
        assert [m["k"]["t"] for m in finals] == btc.timestamp[[8, 12, 16, 20]].tolist()
        for m, first in zip(finals, (8, 12, 16, 20), strict=True):
            window, k = btc.iloc[first : first + 4], m["k"]
            assert (k["i"], k["T"]) == ("4h", int(btc.timestamp[first + 4]) - 1)
            assert [float(k[f]) for f in "ohlc"] == [
                window.open.iloc[0],
                window.high.max(),
                window.low.min(),
                window.close.iloc[-1],
            ]
            assert float(k["v"]) == pytest.approx(window.volume.sum())
        # Forming: the closed candles of the window so far, and the current one's open.
        [forming] = [m["k"] for m in klines(raw, final=False) if m["E"] == btc.timestamp[14]]
        so_far = btc.iloc[12:14]
        assert [float(forming[f]) for f in "ohlc"] == [
            so_far.open.iloc[0],
            max(so_far.high.max(), btc.open[14]),
            min(so_far.low.min(), btc.open[14]),
            btc.open[14],
        ]
        with pytest.raises(ccxt.ExchangeError, match="multiple"):
            await asyncio.wait_for(ex.watch_ohlcv("BTC/USDT", "1m"), 3)

    run(btc, scenario)


def test_trade_stream_replays_real_prints_up_to_the_clock_and_own_fills(
    btc_jan: pd.DataFrame, prints: pd.DataFrame
) -> None:
    async def scenario(sim: Simulator, ex: Any) -> None:
        watcher = asyncio.create_task(ex.watch_trades("BTC/USDT"))
        await sim.wait_subscribed("btcusdt@trade")
        now = int(btc_jan.timestamp[24]) + 10_000  # 10 s into the capture
        sim.advance_to(now)
        await watcher
        expected = prints[prints.timestamp <= now]
        await eventually(lambda: len(ex.trades["BTC/USDT"]) >= len(expected))
        await asyncio.sleep(0.05)
        tape = list(ex.trades["BTC/USDT"])
        assert len(expected) > 100
        assert [t["id"] for t in tape] == [str(i) for i in expected.trade_id]
        assert [t["price"] for t in tape] == expected.price.tolist()
        assert max(t["timestamp"] for t in tape) <= now  # nothing the clock has not reached
        mine = asyncio.create_task(ex.watch_trades("BTC/USDT"))
        await asyncio.sleep(0.05)
        order = await ex.create_order("BTC/USDT", "market", "buy", 0.01)
        last = (await asyncio.wait_for(mine, 3))[-1]
        assert last["id"] == order["trades"][0]["id"] and last["amount"] == 0.01
        assert last["side"] == "buy"  # the buyer took: "m" is false

    run(btc_jan, scenario, start=23, trades={"BTCUSDT": prints})


def test_order_book_stream_stays_in_sync_with_the_rest_snapshot(btc: pd.DataFrame) -> None:
    def same(book: Any, snapshot: dict[str, Any]) -> bool:
        levels = [[float(p), float(q)] for p, q in snapshot["bids"]]
        asks = [[float(p), float(q)] for p, q in snapshot["asks"]]
        return book["bids"] == levels and book["asks"] == asks

    async def scenario(sim: Simulator, ex: Any) -> None:
        book = await asyncio.wait_for(ex.watch_order_book("BTC/USDT"), 3)
        snapshot = sim.feed.depth_snapshot("BTCUSDT", 1000)
        assert book["nonce"] == snapshot["lastUpdateId"] and same(book, snapshot)
        assert book["bids"][0][0] < float(btc.open[10]) <= book["asks"][0][0]
        # A new bar moves the whole book: one diff, applied by ccxt's own sync algorithm.
        nxt = asyncio.create_task(ex.watch_order_book("BTC/USDT"))
        await asyncio.sleep(0.05)
        sim.advance_to(int(btc.timestamp[11]))
        book = await asyncio.wait_for(nxt, 3)
        snapshot = sim.feed.depth_snapshot("BTCUSDT", 1000)
        assert book["nonce"] == snapshot["lastUpdateId"] > 0 and same(book, snapshot)
        assert book["bids"][0][0] < float(btc.open[11]) <= book["asks"][0][0]
        # The account's own resting order shows in the book, and leaves it when cancelled.
        price = round(float(btc.open[11]) * 0.9, 2)
        nxt = asyncio.create_task(ex.watch_order_book("BTC/USDT"))
        await asyncio.sleep(0.05)
        order = await ex.create_order("BTC/USDT", "limit", "buy", 0.02, price)
        book = await asyncio.wait_for(nxt, 3)
        assert [price, 0.02] in book["bids"]
        nxt = asyncio.create_task(ex.watch_order_book("BTC/USDT"))
        await asyncio.sleep(0.05)
        await ex.cancel_order(order["id"], "BTC/USDT")
        book = await asyncio.wait_for(nxt, 3)
        assert price not in [p for p, _ in book["bids"]]
        rest = await ex.fetch_order_book("BTC/USDT")
        assert rest["nonce"] == book["nonce"] and rest["bids"] == book["bids"][: len(rest["bids"])]

    run(btc, scenario)


def test_user_stream_reports_orders_fills_with_fees_balances_and_cancels(
    btc: pd.DataFrame,
) -> None:
    async def scenario(sim: Simulator, ex: Any) -> None:
        raw = record(ex)
        orders = asyncio.create_task(
            collect(ex.watch_orders, lambda os: any(o["status"] == "closed" for o in os))
        )
        trades = asyncio.create_task(collect(ex.watch_my_trades, lambda ts: len(ts) >= 1))
        balance = asyncio.create_task(ex.watch_balance())
        await sim.wait_subscribed()
        await asyncio.sleep(0.05)
        order = await ex.create_order(
            "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "ws-mkt-1"}
        )
        done = (await orders)[-1]
        assert (done["clientOrderId"], done["status"], done["id"]) == (
            "ws-mkt-1",
            "closed",
            order["id"],
        )
        open_10 = float(btc.open[10])
        fee = 0.01 * open_10 * 0.001
        assert done["filled"] == 0.01 and done["average"] == pytest.approx(open_10)
        assert done["fee"] == {"currency": "USDT", "cost": pytest.approx(fee, abs=1e-8)}
        reports = [m for m in raw if m.get("e") == "executionReport"]
        assert [(m["x"], m["X"], m["c"]) for m in reports] == [
            ("NEW", "NEW", "ws-mkt-1"),
            ("TRADE", "FILLED", "ws-mkt-1"),
        ]
        [trade] = await trades
        [rest_trade] = await ex.fetch_my_trades("BTC/USDT")
        assert (trade["id"], trade["order"]) == (rest_trade["id"], order["id"])
        assert trade["price"] == open_10 and trade["amount"] == 0.01
        assert trade["fee"]["cost"] == pytest.approx(fee, abs=1e-8)
        await asyncio.wait_for(balance, 3)
        await eventually(lambda: ex.balance["spot"].get("BTC", {}).get("free") == 0.01)
        assert ex.balance["spot"]["USDT"]["free"] == float(sim.balance("USDT")[0])
        positions = [m for m in raw if m.get("e") == "outboundAccountPosition"]
        held = {b["a"]: b for b in positions[0]["B"]}  # after NEW: the order's hold
        assert Decimal(held["USDT"]["l"]) > 0 and Decimal(held["BTC"]["f"]) == 0
        # A resting order: NEW, then its cancel, pushed with its client id (and the cancel's).
        price = round(open_10 * 0.5, 2)
        pending = asyncio.create_task(
            collect(ex.watch_orders, lambda os: any(o["status"] == "canceled" for o in os))
        )
        await asyncio.sleep(0.05)
        resting = await ex.create_order(
            "BTC/USDT", "limit", "buy", 0.01, price, params={"clientOrderId": "ws-lim-1"}
        )
        await ex.cancel_order(resting["id"], "BTC/USDT")
        cancelled = (await pending)[-1]
        assert (cancelled["clientOrderId"], cancelled["id"]) == ("ws-lim-1", resting["id"])
        assert cancelled["info"]["c"] == f"cancel{resting['id']}"
        reports = [m for m in raw if m.get("e") == "executionReport"][2:]
        assert [(m["x"], m["X"]) for m in reports] == [("NEW", "NEW"), ("CANCELED", "CANCELED")]
        await eventually(lambda: ex.balance["spot"]["USDT"]["used"] == 0.0)

    run(btc, scenario)


def test_resting_limit_fill_on_a_clock_move_is_pushed_as_maker(btc: pd.DataFrame) -> None:
    price = round(float(btc.open[10]) * 0.997, 2)
    first = next(i for i in range(10, len(btc)) if btc.low[i] < price)

    async def scenario(sim: Simulator, ex: Any) -> None:
        await ex.create_order(
            "BTC/USDT", "limit", "buy", 0.02, price, params={"clientOrderId": "m1"}
        )
        trades = asyncio.create_task(collect(ex.watch_my_trades, lambda ts: len(ts) >= 1))
        await sim.wait_subscribed()
        await asyncio.sleep(0.05)
        sim.advance_to(int(btc.timestamp[first]))
        await asyncio.sleep(0.1)
        assert not trades.done()  # the bar that trades through has not closed yet
        sim.advance_to(int(btc.timestamp[first + 1]))
        [trade] = await trades
        assert trade["price"] == price and trade["takerOrMaker"] == "maker"
        assert trade["timestamp"] == int(btc.timestamp[first + 1]) - 1  # at that bar's close

    run(btc, scenario)


def test_moving_clock_replays_every_bar_once_and_stops_at_the_end(btc: pd.DataFrame) -> None:
    frame = btc.head(40)

    async def scenario(sim: Simulator, ex: Any) -> None:
        raw = record(ex)
        await asyncio.wait_for(ex.watch_ohlcv("BTC/USDT", "1h"), 3)
        started = time.monotonic()
        clock = sim.run_clock(speed=3600 * 100)  # 100 bars a second: 30 bars in 0.3 s
        assert sim.clock_running
        await asyncio.sleep(0.1)
        assert int(frame.timestamp[10]) < sim.book.now < sim.book.end_ms  # moving, not jumped
        await asyncio.wait_for(clock, 3)
        assert time.monotonic() - started >= 0.25 and not sim.clock_running
        assert sim.book.now == sim.book.end_ms == int(frame.timestamp.iloc[-1]) + HOUR
        await asyncio.sleep(0.1)
        finals = [m["k"]["t"] for m in klines(raw, final=True)]
        assert finals == frame.timestamp[10:].tolist()
        with pytest.raises(ValueError, match="forward"):
            sim.run_clock(start_ms=int(frame.timestamp[0]))

    run(frame, scenario)


def test_ws_silent_drop_times_out_watches_then_recovers(btc: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any) -> None:
        await asyncio.wait_for(ex.watch_ohlcv("BTC/USDT", "1h"), 3)
        sim.set_fault("ws_silent_drop")  # until cleared
        waiting = asyncio.create_task(ex.watch_ohlcv("BTC/USDT", "1h"))
        await asyncio.sleep(0.05)
        sim.advance_to(int(btc.timestamp[11]))  # bar 10 closes: nobody hears of it
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.shield(waiting), 0.4)
        assert sim.hub.subscribers("btcusdt@kline_1h") == 1  # the connection is still open
        sim.clear_faults()
        sim.advance_to(int(btc.timestamp[12]))
        candles = await asyncio.wait_for(waiting, 3)
        assert candles[0][0] == int(btc.timestamp[11])  # bar 11's close; bar 10's was lost
        # Timed, and only on the user-data stream: market data keep flowing meanwhile.
        sim.set_fault("ws_silent_drop", seconds=0.4, path="/ws-api")
        orders = asyncio.create_task(ex.watch_orders())
        with pytest.raises(TimeoutError):  # the subscription itself gets no answer
            await asyncio.wait_for(asyncio.shield(orders), 0.2)
        bar = asyncio.create_task(ex.watch_ohlcv("BTC/USDT", "1h"))
        await asyncio.sleep(0.05)
        sim.advance_to(int(btc.timestamp[13]))
        await asyncio.wait_for(bar, 1)
        orders.cancel()
        await asyncio.sleep(0.4)  # the silence ends by itself
        ex2 = client(sim)
        try:
            await ex2.load_markets()
            fresh = asyncio.create_task(ex2.watch_orders())
            await sim.wait_subscribed(count=2)  # the stuck connection still counts as one
            await asyncio.sleep(0.05)
            await ex2.create_order("BTC/USDT", "market", "buy", 0.001)
            assert (await asyncio.wait_for(fresh, 3))[0]["side"] == "buy"
        finally:
            await ex2.close()

    run(btc, scenario)


def test_late_fill_reaches_the_stream_and_my_trades_only_after_the_delay(
    btc: pd.DataFrame,
) -> None:
    async def scenario(sim: Simulator, ex: Any) -> None:
        sim.set_fault("late_fill", seconds=0.6)
        trades = asyncio.create_task(collect(ex.watch_my_trades, lambda ts: len(ts) >= 1))
        await sim.wait_subscribed()
        await asyncio.sleep(0.05)
        started = time.monotonic()
        order = await ex.create_order(
            "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "late-1"}
        )
        assert order["status"] == "closed" and order["trades"] == []  # no fills listed yet
        queried = await ex.fetch_order(order["id"], "BTC/USDT")
        assert queried["status"] == "closed" and queried["filled"] == 0.01  # the query knows
        assert await ex.fetch_my_trades("BTC/USDT") == []  # the trade list does not, yet
        assert sim.balance("BTC") == (Decimal("0.01"), 0)
        await asyncio.sleep(0.2)
        assert not trades.done()
        [trade] = await trades
        assert time.monotonic() - started >= 0.55
        assert trade["order"] == order["id"] and trade["amount"] == 0.01
        assert [t["id"] for t in await ex.fetch_my_trades("BTC/USDT")] == [trade["id"]]
        # Used up: the next fill is on time.
        quick = asyncio.create_task(collect(ex.watch_my_trades, lambda ts: len(ts) >= 1))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await ex.create_order("BTC/USDT", "market", "sell", 0.01)
        await asyncio.wait_for(quick, 3)
        assert time.monotonic() - started < 0.5

    run(btc, scenario)


def test_listen_key_stream_combined_streams_and_signature_checks(btc: pd.DataFrame) -> None:
    async def scenario(sim: Simulator, ex: Any) -> None:
        headers = {"X-MBX-APIKEY": KEY}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{sim.url}/api/v3/userDataStream", headers=headers) as r:
                listen_key = (await r.json())["listenKey"]
            async with http.post(f"{sim.url}/api/v3/userDataStream") as r:
                assert r.status == 401 and (await r.json())["code"] == -2014
            streams = f"{sim.ws_url}/stream?streams=btcusdt@kline_1h/btcusdt@trade"
            async with (
                http.ws_connect(f"{sim.ws_url}/ws/{listen_key}") as user,
                http.ws_connect(streams) as combined,
                http.ws_connect(f"{sim.ws_url}/ws-api/v3") as api,
            ):
                await sim.wait_subscribed()
                await ex.create_order(
                    "BTC/USDT", "market", "buy", 0.01, params={"clientOrderId": "lk-1"}
                )
                events = [await user.receive_json(timeout=2) for _ in range(4)]
                assert [e["e"] for e in events] == [
                    "executionReport",
                    "outboundAccountPosition",
                ] * 2
                assert [(e["x"], e["c"]) for e in events[::2]] == [
                    ("NEW", "lk-1"),
                    ("TRADE", "lk-1"),
                ]
                assert events[2]["l"] == "0.01000000" and Decimal(events[2]["n"]) > 0
                forming = await combined.receive_json(timeout=2)  # sent on subscribing
                assert forming["stream"] == "btcusdt@kline_1h" and not forming["data"]["k"]["x"]
                wrapped = await combined.receive_json(timeout=2)
                assert wrapped["stream"] == "btcusdt@trade" and wrapped["data"]["e"] == "trade"
                await api.send_json(
                    {
                        "id": "a1",
                        "method": "userDataStream.subscribe.signature",
                        "params": {
                            "apiKey": KEY,
                            "timestamp": int(time.time() * 1000),
                            "signature": "00",
                        },
                    }
                )
                refused = await api.receive_json(timeout=2)
                assert refused["status"] == 400 and refused["error"]["code"] == -1022
            async with http.delete(
                f"{sim.url}/api/v3/userDataStream",
                params={"listenKey": listen_key},
                headers=headers,
            ) as r:
                assert r.status == 200
            async with http.put(
                f"{sim.url}/api/v3/userDataStream",
                params={"listenKey": listen_key},
                headers=headers,
            ) as r:
                assert (await r.json())["code"] == -1125

    run(btc, scenario)


def test_run_sim_serves_shared_candles_with_a_moving_clock(shared_data: Path) -> None:
    ready: dict[str, Any] = {}
    lines: list[str] = []
    stop = threading.Event()

    def on_ready(sim: Simulator) -> None:
        ready["sim"], ready["loop"] = sim, asyncio.get_running_loop()
        stop.set()

    thread = threading.Thread(
        target=run_sim,
        kwargs={
            "symbols": ["BTC/USDT", "ETH/USDT"],
            "timeframe": "1h",
            "start": "2021-07-17T10:00",
            "speed": 3600 * 100,
            "port": 0,
            "data_dir": shared_data,
            "echo": lines.append,
            "on_ready": on_ready,
        },
        daemon=True,
    )
    thread.start()
    assert stop.wait(10)
    sim: Simulator = ready["sim"]
    try:
        deadline = time.monotonic() + 5
        while sim.clock_running and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not sim.clock_running
        end = int(load_candles("BTC/USDT", "1h", shared_data).timestamp.iloc[-1]) + HOUR
        assert sim.book.now == end  # the whole data replayed, then the clock stopped
        assert sim.url in lines[0]
        while not any("end of data" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any("end of data" in line for line in lines)
    finally:
        asyncio.run_coroutine_threadsafe(sim.close(), ready["loop"]).result(5)
        thread.join(5)
    assert not thread.is_alive()
    with pytest.raises(FileNotFoundError, match=r"DOGE/USDT 1h: .*binance-spot_DOGE-USDT_1h__"):
        run_sim(["DOGE/USDT"], "1h", data_dir=shared_data)
    with pytest.raises(FileNotFoundError, match=r"timeframes there for BTC/USDT: .*1d"):
        run_sim(["BTC/USDT"], "3m", data_dir=shared_data)
