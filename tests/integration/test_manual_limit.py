"""Manual limit orders through the real HTTP API to a run on the Binance simulator: a limit
buy below the market rests (an open order of ``GET /orders``) until the cancel action cancels
it; one the next bar trades through fills and is booked like any order; a malformed one is
refused naming its field."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from live.api.control import write_manual_request
from live.events import EventStore
from live.quality import quality_table
from live.runner import Runner
from live.venues.base import Bar
from tests.integration.test_manual_orders import (
    BARS,
    CONTROL,
    READ,
    _answer,
    _state_of,
    api_run,
)
from tests.integration.test_quality_sim import SimReplay

pytestmark = pytest.mark.timeout(60)

# Malformed limit requests and the field each refusal names.
MALFORMED: list[tuple[dict[str, Any], str]] = [
    ({}, "limit_price"),
    ({"limit_price": "-5"}, "limit_price"),
    ({"limit_price": "Infinity"}, "limit_price"),
    ({"limit_price": "5", "algo": {"kind": "twap", "slices": 2}}, "algo"),
]


class SteppedReplay(SimReplay):
    """:class:`SimReplay` holding after ``BARS`` bars until ``release``, then replaying the rest
    and holding again until ``done``."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.release, self.done = asyncio.Event(), asyncio.Event()

    async def bars(self, symbols: Any, timeframe: str, since_ms: int | None) -> AsyncIterator[Bar]:
        n = 0
        async for b in super().bars(symbols, timeframe, since_ms):
            yield b
            n += 1
            if n == BARS:
                await self.release.wait()
        await self.done.wait()


async def _scenario(
    runner: Runner, venue: SteppedReplay, http: httpx.AsyncClient, log: Path, dip: Decimal
) -> dict[str, Any]:
    control = {"Authorization": f"Bearer {CONTROL}"}
    out: dict[str, Any] = {}
    while runner.summary.bars < BARS:
        await asyncio.sleep(0.02)
    buy = {"action": "enter", "symbol": "BTC/USDT", "side": "buy", "qty": "0.01",
           "order_type": "limit", "reason": "a bid under the market"}  # fmt: skip
    # Malformed: refused by the API, naming the field ...
    for bad, field in MALFORMED:
        r = await http.post("/orders", json={**buy, **bad}, headers=control)
        assert r.status_code == 422 and field in r.text, (bad, r.text)
    # ... and by the run, for a request that did not come through the API (grekko-live order).
    for n, (bad, field) in enumerate(MALFORMED):
        write_manual_request(log.parent, {**buy, **bad, "id": f"bad-{n}", "ts_ms": n})
        answer = await _answer(log, f"bad-{n}")
        assert answer["outcome"] == "refused" and answer["rule"] == "request", answer
        assert field in answer["refusal"], answer
    # Far below the market: it rests, an open order, until the cancel action.
    r = await http.post("/orders", json={**buy, "limit_price": "9000.005"}, headers=control)
    out["far"] = far = await _answer(log, r.json()["request_id"])
    assert far["outcome"] == "sent", far
    await _state_of(log, far["client_id"], "ACKNOWLEDGED")
    read = {"Authorization": f"Bearer {READ}"}
    deadline = time.monotonic() + 10
    while not (listed := (await http.get("/orders?open=true", headers=read)).json()):
        assert time.monotonic() < deadline, "the resting order never showed as open"
        await asyncio.sleep(0.02)  # the API follows the log
    out["open"] = listed
    r = await http.post(f"/orders/{far['client_id']}/cancel", json={"reason": "stale"},
                        headers=control)  # fmt: skip
    await _answer(log, r.json()["request_id"])
    await _state_of(log, far["client_id"], "CANCELLED")
    # Inside the next bar's range: it rests, then the bar trades through it.
    r = await http.post("/orders", json={**buy, "limit_price": str(dip)}, headers=control)
    out["dip"] = near = await _answer(log, r.json()["request_id"])
    await _state_of(log, near["client_id"], "ACKNOWLEDGED")
    out["held_before"] = runner.om.position("BTC/USDT")
    venue.release.set()
    await _state_of(log, near["client_id"], "FILLED")
    deadline = time.monotonic() + 10
    while runner.book is None or runner.book.position(0) == 0:
        assert time.monotonic() < deadline, "the fill was never booked"
        await asyncio.sleep(0.02)
    out["book"] = runner.book.position(0)
    out["held"] = runner.om.position("BTC/USDT")
    return out


async def _trade(frame: pd.DataFrame, folder: Path, dip: Decimal) -> dict[str, Any]:
    async with api_run(frame, folder, SteppedReplay, "limit") as (runner, venue, http, log):
        return await _scenario(runner, venue, http, log, dip)


def test_manual_limit_orders_rest_cancel_and_fill(shared_data: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz").head(BARS + 3)
    nxt = frame.iloc[BARS]  # the bar the market moves through after the release
    assert nxt.low < nxt.open - 20, "the fixture needs a dip under the next bar's open"
    # Between the open (the market when it is placed: it rests) and the low (traded through),
    # half a tick off the grid: rounded down, away from the market.
    dip = Decimal(str(round((nxt.open + nxt.low) / 2, 2))) + Decimal("0.005")
    folder = tmp_path / "run"
    folder.mkdir()
    out = asyncio.run(_trade(frame, folder, dip))
    far, near = out["far"], out["dip"]
    assert far["order_type"] == "limit" and far["limit_price"] == "9000"  # 9000.005, rounded down
    assert Decimal(near["limit_price"]) == dip - Decimal("0.005")
    assert [(o["client_id"], o["order_type"], o["limit_price"]) for o in out["open"]] == [
        (far["client_id"], "limit", "9000")
    ]
    assert out["held_before"] == 0
    assert out["held"] == Decimal("0.01") and out["book"] == pytest.approx(0.01)
    with EventStore.open(folder / "events.db") as store:
        events = list(store.read())
    created = {e.stream: e.payload for e in events if e.kind == "order_created"}
    assert created[near["client_id"]]["order_type"] == "limit"
    assert Decimal(created[near["client_id"]]["limit_price"]) == Decimal(near["limit_price"])
    fills = [e.payload for e in events if e.kind == "order_fill" and e.stream == near["client_id"]]
    assert [Decimal(f["price"]) for f in fills] == [Decimal(near["limit_price"])]
    table = quality_table(events).set_index("client_id")
    row = table.loc[near["client_id"]]
    assert (row.kind, row.order_type, row.state) == ("manual", "limit", "FILLED")
    assert row.fill_ratio == 1 and row.time_to_fill_ms > 0
    assert table.loc[far["client_id"]].state == "CANCELLED"
