"""Manual orders through the real HTTP API (uvicorn, control token) to a run trading on the
Binance simulator (the real ccxt client): force entry, force exit, cancel — each through the
risk engine (a refusal is logged with its rule), recorded as manual in the log, and refused
while the kill switch is engaged."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from grekko_research.engine import EngineConfig, MarketRules
from grekko_research.risk.spec import OrderRisk, RiskSpec
from grekko_research.strategy import get_strategy
from live.api import ApiTokens, FlagFileControl, LogHub, api_server, create_app
from live.api.control import write_manual_request
from live.events import EventStore
from live.orders import Intent
from live.quality import quality_table
from live.runner import Runner, RunnerSpec
from live.sim import start_simulator
from live.venues.base import Bar
from live.venues.credentials import Credentials
from live.venues.registry import make_venue
from tests.integration.test_quality_sim import KEY, SECRET, SimReplay, wall_ms

READ = "read-" + secrets.token_urlsafe(24)
CONTROL = "ctl-" + secrets.token_urlsafe(24)
BARS = 8  # sma_cross 2/20 cannot decide on 8 bars: every order of the run is manual

pytestmark = pytest.mark.timeout(60)


class HeldReplay(SimReplay):
    """The replay of :class:`SimReplay`, holding after ``BARS`` bars until ``release``."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.release = asyncio.Event()

    async def bars(self, symbols: Any, timeframe: str, since_ms: int | None) -> AsyncIterator[Bar]:
        n = 0
        async for b in super().bars(symbols, timeframe, since_ms):
            yield b
            n += 1
            if n == BARS:
                await self.release.wait()
                return


def _serve(app: Any) -> tuple[Any, threading.Thread, str]:
    server = api_server(app, "127.0.0.1", 0, log_level="warning")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


async def _answer(log: Path, request_id: str, kind: str = "manual_order") -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with EventStore.open(log) as store:
            for e in store.read(kinds=[kind]):
                if e.payload.get("request_id") == request_id:
                    return e.payload
        await asyncio.sleep(0.02)
    raise AssertionError(f"the run never answered request {request_id}")


async def _state_of(log: Path, cid: str, state: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with EventStore.open(log) as store:
            if any(e.payload.get("to") == state for e in store.read() if e.stream == cid):
                return
        await asyncio.sleep(0.02)
    raise AssertionError(f"order {cid} never became {state}")


async def _scenario(
    runner: Runner, http: httpx.AsyncClient, log: Path, frame: pd.DataFrame
) -> dict[str, Any]:
    """The operator's requests, each awaited in the log; what the test checks after."""
    control = {"Authorization": f"Bearer {CONTROL}"}
    out: dict[str, Any] = {}
    while runner.summary.bars < BARS:
        await asyncio.sleep(0.02)
    enter = {"action": "enter", "symbol": "BTC/USDT", "side": "buy", "qty": "0.01",
             "reason": "operator's view"}  # fmt: skip
    # A read token may not; a control token may.
    read = {"Authorization": f"Bearer {READ}"}
    assert (await http.post("/orders", json=enter, headers=read)).status_code == 403
    r = await http.post("/orders", json=enter, headers=control)
    assert r.status_code == 202, r.text
    entered = await _answer(log, r.json()["request_id"])
    assert entered["outcome"] == "sent" and entered["source"] == "manual", entered
    await _state_of(log, entered["client_id"], "FILLED")
    # The same request again (a crash after its answer, before its file went): dropped.
    again = write_manual_request(log.parent, {**enter, "id": r.json()["request_id"], "ts_ms": 1})
    deadline = time.monotonic() + 10
    while again.exists():
        assert time.monotonic() < deadline, "the repeated request was never taken"
        await asyncio.sleep(0.02)
    # Below the risk spec's minimum notional: refused, with the rule, nothing sent.
    tiny = await http.post("/orders", json={**enter, "qty": "0.0005"}, headers=control)
    out["tiny"] = await _answer(log, tiny.json()["request_id"])
    # An entry without a side never reaches the run.
    bad = await http.post("/orders", json={**enter, "side": None}, headers=control)
    assert bad.status_code == 422 and "side" in bad.text
    # Cancel: a resting limit order of the run, then a filled one (refused).
    low = Decimal(str(round(float(frame.low.min()) * 0.5, 2)))
    resting = Intent("manual", "BTC/USDT", "buy", "0.01", 1, seq=7, order_type="limit",
                     limit_price=low)  # fmt: skip
    runner._persist_om(runner.om.create(resting, wall_ms()))
    await runner._send(resting.client_id)
    r = await http.post(f"/orders/{resting.client_id}/cancel", json={"reason": "stale"},
                        headers=control)  # fmt: skip
    out["cancel"] = await _answer(log, r.json()["request_id"])
    await _state_of(log, resting.client_id, "CANCELLED")
    r = await http.post(f"/orders/{entered['client_id']}/cancel", json={"reason": "late"},
                        headers=control)  # fmt: skip
    out["cancel_filled"] = await _answer(log, r.json()["request_id"])
    # Force exit: the whole position, sold.
    r = await http.post("/orders", json={"action": "exit", "symbol": "BTC/USDT",
                                         "reason": "done"}, headers=control)  # fmt: skip
    out["exit"] = await _answer(log, r.json()["request_id"])
    await _state_of(log, out["exit"]["client_id"], "FILLED")
    # The kill switch engaged: a manual entry is refused too (no bypass).
    r = await http.post("/kill", json={"reason": "test"}, headers=control)
    assert r.status_code == 202
    while not runner.killed:
        await asyncio.sleep(0.02)
    r = await http.post("/orders", json=enter, headers=control)
    out["killed"] = await _answer(log, r.json()["request_id"])
    out["position"] = runner.om.position("BTC/USDT")
    return out


@contextlib.asynccontextmanager
async def api_run(
    frame: pd.DataFrame, folder: Path, replay: type[SimReplay], run_id: str, **spec: Any
) -> AsyncIterator[tuple[Runner, Any, httpx.AsyncClient, Path]]:
    """sma_cross 2/20 run by the runner on the Binance simulator (``replay`` giving its bars),
    the status API beside it on uvicorn; yields ``(runner, venue, http client, log)``.
    ``spec``: RunnerSpec keys over the defaults (lot 0.00001, min notional 50)."""
    log = folder / "events.db"
    sim = await start_simulator(
        candles={"BTCUSDT": frame}, api_key=KEY, api_secret=SECRET,
        balances={"USDT": "100000", "BTC": "0"},
    )  # fmt: skip
    strategy = get_strategy("sma_cross")
    keys: dict[str, Any] = {
        "engine": EngineConfig(market=MarketRules(lot_size=0.00001)),
        "risk": RiskSpec(order=OrderRisk(min_notional=50.0)),
        "grace_ms": 300, "reconcile_every_ms": 10**12, "kill_file": folder / "KILL",
        "kill_poll_s": 0.02, **spec,
    }  # fmt: skip
    engine = keys.pop("engine")
    run_spec = RunnerSpec(run_id, strategy, strategy.params({"fast": 2, "slow": 20}), engine,
                          ("BTC/USDT",), "1h", **keys)  # fmt: skip
    exchange = make_venue(
        "binance", urls=sim.url, credentials=Credentials(KEY, SECRET), rate_limit=False
    )
    venue = replay(exchange, sim, frame)
    store = EventStore.open(log)
    runner = Runner(run_spec, venue, store, clock=wall_ms)
    task = asyncio.create_task(runner.run())
    while not log.exists() or runner.summary.bars == 0:
        await asyncio.sleep(0.02)
    hub = LogHub(log, poll_s=0.02)
    tokens = ApiTokens.of([READ], [CONTROL])
    server, thread, url = _serve(create_app(hub, FlagFileControl(folder), tokens))
    try:
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            yield runner, venue, http, log
    finally:
        server.should_exit = True
        thread.join(10)
        hub.close()
        for held in vars(venue).values():  # let the replay end
            if isinstance(held, asyncio.Event):
                held.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 20)
        store.close()
        await exchange.close()
        await sim.close()


async def _trade(frame: pd.DataFrame, folder: Path) -> dict[str, Any]:
    """The run on the simulator, the API beside it, :func:`_scenario` against the API."""
    async with api_run(frame, folder, HeldReplay, "manual") as (runner, _, http, log):
        return await _scenario(runner, http, log, frame)


def test_manual_orders_through_the_api(shared_data: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz").head(BARS + 2)
    folder = tmp_path / "run"
    folder.mkdir()
    log = folder / "events.db"
    out = asyncio.run(_trade(frame, folder))
    assert out["tiny"]["outcome"] == "refused" and out["tiny"]["rule"] == "min_notional"
    assert "risk engine" in out["tiny"]["refusal"]
    assert out["cancel"]["outcome"] == "cancel_sent"
    assert out["cancel_filled"]["outcome"] == "refused"
    assert out["cancel_filled"]["rule"] == "not_open"
    assert out["exit"]["outcome"] == "sent" and out["exit"]["side"] == "sell"
    assert Decimal(out["exit"]["qty"]) == Decimal("0.01")
    assert out["killed"]["outcome"] == "refused", out["killed"]
    assert out["position"] == 0
    with EventStore.open(log) as store:
        events = list(store.read())
    manual = [e for e in events if e.kind == "manual_order"]
    # One answer per request: six (the repeated entry got none).
    assert len(manual) == 6 and {e.payload["source"] for e in manual} == {"manual"}
    # Each refusal is the risk engine's decision, logged beside the request's answer.
    refused = [e for e in events if e.kind == "risk_decision" and e.payload["action"] == "reject"]
    assert {e.payload.get("rule") for e in refused} >= {"min_notional"}
    table = quality_table(events)
    mine = table[table.kind == "manual"]
    assert list(mine.side) == ["buy", "sell"] and (mine.state == "FILLED").all()
    assert (mine.arrival_source == "manual").all() and mine.slip_arrival_bps.notna().all()
    # Their arrival is the mid of the book the runner read when it took each request.
    sent = [e.payload for e in manual if e.payload["outcome"] == "sent"]
    for p in sent:
        bid, ask = p["quote"]
        assert bid < ask and p["arrival_price"] == (bid + ask) / 2
    assert list(mine.arrival_price) == [p["arrival_price"] for p in sent]
    assert not list(folder.joinpath("manual").glob("*.json")), "every request was taken"
