"""Cancelling a parent order through the real HTTP API, on a run against the Binance simulator:
a chaser's limit rests far under the market, ``POST /orders/parents/{id}/cancel`` logs
``algo_cancelled`` and cancels the resting child at the venue; a second cancel and an unknown
parent are refused by name; ``GET /orders/parents`` lists the parent as cancelled. A VWAP
beside it takes its volume profile from the research store (a tiny one in tmp)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.engine import EngineConfig, MarketRules
from grekko_research.engine.algos import volume_profile
from live.events import EventStore
from live.runner import Runner
from live.runner.spec import VolumeHistory
from tests.integration.test_manual_limit import SteppedReplay
from tests.integration.test_manual_orders import BARS, CONTROL, READ, _answer, _state_of, api_run

pytestmark = pytest.mark.timeout(60)
H = 3_600_000


async def _scenario(
    runner: Runner, venue: SteppedReplay, http: httpx.AsyncClient, log: Path, first_ts: int
) -> dict[str, Any]:
    control = {"Authorization": f"Bearer {CONTROL}"}
    read = {"Authorization": f"Bearer {READ}"}
    while runner.summary.bars < BARS:
        await asyncio.sleep(0.02)
    chase = {"action": "enter", "symbol": "BTC/USDT", "side": "buy", "qty": "0.01",
             "reason": "a patient bid", "algo": {"kind": "chase", "offset_bps": 3000,
                                                 "passive": "10h"}}  # fmt: skip
    r = await http.post("/orders", json=chase, headers=control)
    started = await _answer(log, r.json()["request_id"])
    assert started["outcome"] == "sent", started
    pid = started["parent_id"]
    # a VWAP beside it, profiled from the store's two days before the run's bars
    vwap = {**chase, "reason": "vwap", "algo": {"kind": "vwap", "slices": 2, "over": "2h"}}
    r = await http.post("/orders", json=vwap, headers=control)
    out: dict[str, Any] = {"vwap": await _answer(log, r.json()["request_id"], "algo_started")}
    # 12 stored bars before this start: under a day, so the window's bars would be used
    out["short_history"] = runner._stored_volumes("BTC/USDT", first_ts - 36 * H)
    venue.release.set()  # the parent's first decision places its limit, which rests
    deadline = time.monotonic() + 10
    while not (resting := (await http.get("/orders?open=true", headers=read)).json()):
        assert time.monotonic() < deadline, "the chaser's limit never rested"
        await asyncio.sleep(0.02)
    (child,) = [o for o in resting if o["order_type"] == "limit"]
    await _state_of(log, child["client_id"], "ACKNOWLEDGED")
    out["child"] = child
    path = f"/orders/parents/{pid}/cancel"
    r = await http.post(path, json={"reason": "changed my mind"}, headers=control)
    assert r.status_code == 202, r.text
    out["cancel"] = await _answer(log, r.json()["request_id"])
    out["logged"] = await _answer(log, r.json()["request_id"], "algo_cancelled")
    await _state_of(log, child["client_id"], "CANCELLED")
    r = await http.post(path, json={"reason": "again"}, headers=control)
    out["again"] = await _answer(log, r.json()["request_id"])
    r = await http.post("/orders/parents/algo-1-0/cancel", json={"reason": "?"}, headers=control)
    out["unknown"] = await _answer(log, r.json()["request_id"])
    deadline = time.monotonic() + 10
    while (rows := (await http.get("/orders/parents", headers=read)).json())[0]["state"] != (
        "cancelled"
    ):
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.02)
    out["rows"] = rows
    return out


def _store(frame: pd.DataFrame, root: Path) -> pd.DataFrame:
    """Two days of hourly BTC/USDT bars before ``frame`` in a store at ``root``, their volume
    rising with the hour of the day."""
    ts = int(frame.timestamp.iloc[0]) - H * np.arange(48, 0, -1)
    stored = pd.DataFrame({"timestamp": ts, "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0,
                           "volume": 1.0 + (ts // H) % 24})  # fmt: skip
    ParquetStore(root).write(SeriesKey.make("binance", "BTC/USDT", "1h"), stored)
    return stored


async def _trade(frame: pd.DataFrame, folder: Path) -> dict[str, Any]:
    engine = EngineConfig(market=MarketRules(lot_size=0.00001, tick_size=0.01))
    history = VolumeHistory(str(folder.parent / "store"), "binance")
    async with api_run(frame, folder, SteppedReplay, "parents", engine=engine, risk=None,
                       volume_history=history) as (runner, venue, http, log):  # fmt: skip
        return await _scenario(runner, venue, http, log, int(frame.timestamp.iloc[0]))


def test_a_parent_cancel_takes_its_resting_child_off_the_venue(
    shared_data: Path, tmp_path: Path
) -> None:
    frame = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz").head(BARS + 3)
    folder = tmp_path / "run"
    folder.mkdir()
    stored = _store(frame, tmp_path / "store")
    out = asyncio.run(_trade(frame, folder))
    vwap = out["vwap"]
    assert vwap["profile"] == {"source": "store", "bars": 48, "days": 2}, vwap["profile"]
    expected = volume_profile(stored.timestamp.to_numpy(), stored.volume.to_numpy(), H,
                              vwap["start_ts"], 2, 1)  # fmt: skip
    assert vwap["spec"]["weights"] == list(expected) and len(set(expected)) == 2
    assert out["short_history"] is None
    cancel, logged = out["cancel"], out["logged"]
    assert (cancel["outcome"], cancel["by"]) == ("cancel_sent", "api"), cancel
    assert (logged["reason"], logged["by"], logged["filled"]) == ("changed my mind", "api", "0")
    assert (out["again"]["outcome"], out["again"]["rule"]) == ("refused", "not_working")
    assert "cancelled" in out["again"]["refusal"]
    assert (out["unknown"]["outcome"], out["unknown"]["rule"]) == ("refused", "unknown_parent")
    row = out["rows"][0]
    assert (row["kind"], row["children_sent"], row["children_filled"], row["filled"]) == (
        "chase", 1, 0, "0"
    )  # fmt: skip
    with EventStore.open(folder / "events.db") as store:
        events = list(store.read())
    # the cancel is logged (with its answer) before the child is cancelled at the venue
    at = next(i for i, e in enumerate(events) if e.kind == "algo_cancelled")
    assert events[at + 1].kind == "manual_order"
    cid = out["child"]["client_id"]
    done = [
        i for i, e in enumerate(events) if e.stream == cid and e.payload.get("to") == "CANCELLED"
    ]
    assert done and done[0] > at + 1, (at, done)
