"""The kill switch under load, against the local Binance simulator through the real ccxt client:
trigger (the flag file ``grekko-live kill`` and the API write) → new orders blocked, and
trigger → every cancel acknowledged; flatten; engaged across restarts until resumed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig
from grekko_research.strategy import get_strategy
from live.events import EventStore
from live.orders import Intent, OrderState
from live.runner import Runner, RunnerSpec
from live.sim import start_simulator
from live.venues.credentials import Credentials
from live.venues.paper import PaperVenue, ReplayFeed
from live.venues.registry import make_venue

KEY, SECRET = "kill-key-0123456789", "kill-secret-abcdefghij"
RESTING = 40  # open limit orders the switch must cancel
TRIALS = 12


def wall_ms() -> int:
    return int(time.time() * 1000)


async def _trial(sim_url: str, folder: Path, low: Decimal, flatten: bool) -> dict:
    strategy = get_strategy("sma_cross")
    run_id = folder.name
    spec = RunnerSpec(
        run_id, strategy, strategy.params({}), EngineConfig(), ("BTC/USDT",), "1h",
        kill_file=folder / "KILL", kill_poll_s=0.02,
    )  # fmt: skip
    venue = make_venue(
        "binance", urls=sim_url, credentials=Credentials(KEY, SECRET), rate_limit=False
    )
    store = EventStore.open(folder / "events.db")
    runner = Runner(spec, venue, store, clock=wall_ms)
    await runner.start()
    # Load: resting limit orders, a position, and a strategy that keeps sending market orders.
    for seq in range(RESTING):
        intent = Intent(run_id, "BTC/USDT", "buy", "0.001", 1, seq=seq, order_type="limit",
                        limit_price=low)  # fmt: skip
        runner._persist_om(runner.om.create(intent, wall_ms()))
        await runner._send(intent.client_id)
    assert len(runner.om.open_orders()) == RESTING

    stop = asyncio.Event()

    async def busy() -> None:
        seq = 1000
        while not stop.is_set():
            intent = Intent(run_id, "BTC/USDT", "buy", "0.001", 2, seq=seq)
            seq += 1
            with contextlib.suppress(Exception):  # the manager may refuse once halted
                runner._persist_om(runner.om.create(intent, wall_ms()))
            await runner._send(intent.client_id)
            await asyncio.sleep(0.005)

    watcher = asyncio.create_task(runner._watch_kill_file())
    load = asyncio.create_task(busy())
    await asyncio.sleep(0.2)
    t0 = wall_ms()
    (folder / "KILL").write_text(json.dumps({"reason": "test", "flatten": flatten}))
    while not any(True for _ in store.read(kinds=["kill_switch_done"])):
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.1)  # the strategy keeps trying after the kill
    stop.set()
    await load  # let an order in flight finish: it must not be left open
    await runner.resolve(wait=True)
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    engaged = next(iter(store.read(kinds=["kill_switch"])))
    done = next(iter(store.read(kinds=["kill_switch_done"])))
    # Nothing but the kill's own flatten is submitted after the switch engaged.
    flatten_ids = set(done.payload["flattened"])
    sent_after_kill = [
        e.stream
        for e in store.read(after_seq=engaged.seq, kinds=["order_submitted"])
        if e.stream not in flatten_ids
    ]
    result = {
        "blocked_ms": engaged.ts_ms - t0,
        "cancelled_ms": done.ts_ms - t0,
        # Sent orders left open (the busy strategy's orders created after the kill stay NEW:
        # blocked, never sent).
        "open": [o.client_id for o in runner.om.open_orders() if o.state is not OrderState.NEW],
        "blocked": sum(o.state is OrderState.NEW for o in runner.om.open_orders()),
        "cancelled": done.payload["cancelled"],
        "sent_after_kill": sent_after_kill,
        "position": runner.om.position("BTC/USDT"),
    }
    await venue.close()
    store.close()
    # Engaged across a restart, until resumed.
    store = EventStore.open(folder / "events.db")
    again = Runner(spec, make_venue("binance", urls=sim_url, credentials=Credentials(KEY, SECRET)),
                   store, clock=wall_ms)  # fmt: skip
    await again.start()
    result["killed_after_restart"] = again.killed and again.halted is not None
    await again.venue.close()
    store.close()
    return result


def test_kill_switch_blocks_at_once_and_cancels_everything(
    shared_data: Path, tmp_path: Path
) -> None:
    frame = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz").head(300)

    async def main() -> list[dict]:
        sim = await start_simulator(
            candles={"BTCUSDT": frame}, api_key=KEY, api_secret=SECRET,
            balances={"USDT": "10000000", "BTC": "0"},
        )  # fmt: skip
        sim.advance_to(int(frame.timestamp[100]))
        low = Decimal(str(round(float(frame.low[100]) * 0.5, 2)))
        out = []
        for i in range(TRIALS):
            out.append(await _trial(sim.url, tmp_path / f"t{i}", low, flatten=i % 2 == 1))
        orders = sim.orders
        await sim.close()
        out.append({"sim_open": [o.client_order_id for o in orders if o.status == "NEW"]})
        return out

    *trials, final = asyncio.run(main())
    blocked = np.array([t["blocked_ms"] for t in trials], dtype=float)
    cancelled = np.array([t["cancelled_ms"] for t in trials], dtype=float)
    print(
        f"\nkill switch, {TRIALS} trials with {RESTING} resting orders and a busy strategy: "
        f"trigger→blocked p50 {np.percentile(blocked, 50):.0f} ms, p99 "
        f"{np.percentile(blocked, 99):.0f} ms; trigger→all cancels acknowledged p50 "
        f"{np.percentile(cancelled, 50):.0f} ms, p99 {np.percentile(cancelled, 99):.0f} ms"
    )
    for t in trials:
        assert t["open"] == [] and t["cancelled"] >= RESTING
        assert t["sent_after_kill"] == [] and t["blocked"] >= 1
        assert t["killed_after_restart"]
    for t in trials[1::2]:  # flattened
        assert t["position"] == 0
    assert final["sim_open"] == []
    assert np.percentile(blocked, 99) < 1000
    assert np.percentile(cancelled, 99) < 5000


async def _until(check: Callable[[], bool], within_s: float = 5.0) -> bool:
    """Poll ``check`` until it holds or ``within_s`` passes (a loaded machine stretches polls)."""
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def _paper(folder: Path) -> tuple[RunnerSpec, PaperVenue]:
    """A runner spec watching ``folder/KILL`` and a paper venue on 30 flat hourly bars."""
    n = 30
    bars = Bars(index=np.arange(n, dtype=np.int64) * 3_600_000, symbols=("BTC/USDT",),
                timeframe="1h", open=np.full((n, 1), 100.0), high=np.full((n, 1), 101.0),
                low=np.full((n, 1), 99.0), close=np.full((n, 1), 100.0),
                volume=np.ones((n, 1)))  # fmt: skip
    strategy = get_strategy("sma_cross")
    spec = RunnerSpec("k", strategy, strategy.params({}), EngineConfig(), bars.symbols, "1h",
                      kill_file=folder / "KILL", kill_poll_s=0.01)  # fmt: skip
    return spec, PaperVenue(EngineConfig(), bars.symbols, ReplayFeed(bars))


@pytest.mark.parametrize("flag", ["{}", "not json"])
def test_any_flag_file_engages(tmp_path: Path, flag: str) -> None:
    """A flag file the switch cannot parse still engages it (fail closed)."""
    spec, venue = _paper(tmp_path)
    (tmp_path / "KILL").write_text(flag)

    async def main() -> bool:
        with EventStore.open(tmp_path / "e.db") as store:
            runner = Runner(spec, venue, store)
            await runner.start()
            task = asyncio.create_task(runner._watch_kill_file())
            await asyncio.sleep(0.1)
            task.cancel()
            return runner.killed

    assert asyncio.run(main())


def test_removing_the_flag_resumes_a_running_runner(tmp_path: Path) -> None:
    """``grekko-live resume`` and the API's /resume remove the flag: the running process
    resumes, and says so in the log; a kill engaged otherwise is not lifted that way."""
    spec, venue = _paper(tmp_path)

    async def main() -> tuple[bool, bool, bool, list[str]]:
        with EventStore.open(tmp_path / "e.db") as store:
            runner = Runner(spec, venue, store)
            await runner.start()
            task = asyncio.create_task(runner._watch_kill_file())
            (tmp_path / "KILL").write_text(json.dumps({"reason": "r"}))
            await asyncio.sleep(0.1)
            engaged = runner.killed
            (tmp_path / "KILL").unlink()
            await asyncio.sleep(0.1)
            lifted = not runner.killed and runner.halted is None
            await runner.kill("breaker", source="breaker")
            await asyncio.sleep(0.1)
            kept = runner.killed  # no flag file, but this kill did not come from one
            task.cancel()
            return engaged, lifted, kept, [e.kind for e in store.read(kinds=["resumed"])]

    engaged, lifted, kept, resumed = asyncio.run(main())
    assert engaged and lifted and kept and resumed == ["resumed"]


def test_a_breaker_kill_is_lifted_by_a_resume_request_or_a_logged_resume(tmp_path: Path) -> None:
    """A kill the runner engaged itself (a breaker) has no flag to remove: the API's /resume
    leaves a RESUME request, ``grekko-live resume`` logs ``resumed`` from its own process; the
    running runner follows either within a poll, and logs each lift once."""
    from typer.testing import CliRunner

    from live.api import FlagFileControl
    from live.cli import app

    spec, venue = _paper(tmp_path)

    async def main() -> tuple[list[bool], list[dict]]:
        with EventStore.open(tmp_path / "e.db") as store:
            runner = Runner(spec, venue, store)
            await runner.start()
            task = asyncio.create_task(runner._watch_kill_file())
            seen = []
            await runner.kill("breaker one", source="breaker")
            out = await FlagFileControl(tmp_path).resume("api: cause fixed")
            # The watcher polls every 10 ms and may take the request while the API's
            # thread returns: only the lift (below) proves the request was followed.
            assert out["flag"] == "absent"
            lifted = await _until(lambda: not runner.killed and not (tmp_path / "RESUME").exists())
            seen.append(lifted)
            await runner.kill("breaker two", source="breaker")
            await asyncio.sleep(0.4)  # the runner's own logged resume must not lift this one
            seen.append(runner.killed)
            result = await asyncio.to_thread(
                CliRunner().invoke, app,
                ["resume", "--events", str(tmp_path / "e.db"), "--reason", "cli: fixed"],
            )  # fmt: skip
            assert result.exit_code == 0, result.stdout
            seen.append(await _until(lambda: not runner.killed and runner.halted is None))
            task.cancel()
            return seen, [e.payload for e in store.read(kinds=["resumed"])]

    seen, resumed = asyncio.run(main())
    assert seen == [True, True, True]
    # A request left while no process ran is discarded by the next start, not obeyed.
    (tmp_path / "RESUME").write_text(json.dumps({"reason": "stale"}))

    async def restart() -> list[str]:
        with EventStore.open(tmp_path / "e.db") as store:
            runner = Runner(spec, venue, store)
            await runner.start()
            await runner.kill("breaker three", source="breaker")
            task = asyncio.create_task(runner._watch_kill_file())
            await asyncio.sleep(0.1)
            task.cancel()
            assert runner.killed and not (tmp_path / "RESUME").exists()
            return [e.kind for e in store.read() if "resume" in e.kind]

    assert asyncio.run(restart())[-1] == "resume_request_discarded"
    assert [r.get("by") for r in resumed] == ["runner", "cli"]  # one record per lift
    assert "api: cause fixed" in resumed[0]["reason"] and resumed[1]["reason"] == "cli: fixed"
