"""Execution algorithms under SIGKILL: a runner working a TWAP, a limit chaser, an iceberg and a VWAP
(manual requests, one after the other) is killed at its crash points, again and again, and
restarted.

Run: ``python tests/peers/algo_crash.py --url SIM_URL --follow FILE --points before_send,after_send
--kills 6 --state DIR --candles FILE --key K --secret S`` (``--scenario cancel``: a TWAP
cancelled mid-schedule instead). Like ``live_crash.py``: this process
imports once and forks one runner per incarnation (the real ccxt client against the simulator
process, which follows the replay's clock through ``--follow``: before bar ``t`` is handed to
the runner the market is at bar ``t + 1``'s open, as in the backtest). The strategy never
trades (sma_cross 2/100 on 40 bars): every order is an algorithm's child. Each request is
written into the run's ``manual/`` folder before the bar it starts on, once, and the replay
waits for its answer. Prints one JSON line: kills, restarts, wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.peers.live_crash import _CHILD_MODULES, LOG_KEY, ReplayOnExchange  # noqa: E402
from tests.peers.live_crash import _bars as _read_bars  # noqa: E402

# (bar the parent starts on, request): started one after the other, their schedules apart.
REQUESTS: tuple[tuple[int, dict[str, Any]], ...] = (
    (4, {"id": "req-twap", "action": "enter", "symbol": "BTC/USDT", "side": "buy", "qty": "0.04",
         "algo": {"kind": "twap", "slices": 4, "over": "4h"}}),
    (13, {"id": "req-chase", "action": "enter", "symbol": "BTC/USDT", "side": "buy",
          "qty": "0.02", "algo": {"kind": "chase", "offset_bps": 100, "passive": "2h"}}),
    (20, {"id": "req-iceberg", "action": "exit", "symbol": "BTC/USDT", "qty": "0.03",
          "algo": {"kind": "iceberg", "clip": "0.01", "offset_bps": 5}}),
    (28, {"id": "req-vwap", "action": "enter", "symbol": "BTC/USDT", "side": "buy", "qty": "0.03",
          "algo": {"kind": "vwap", "slices": 3, "over": "3h"}}),
)  # fmt: skip

# ``--scenario cancel``: a TWAP of 6 children cancelled after its third (the cancel names the
# run's first parent).
CANCEL_REQUESTS: tuple[tuple[int, dict[str, Any]], ...] = (
    (3, {"id": "req-twap", "action": "enter", "symbol": "BTC/USDT", "side": "buy", "qty": "0.06",
         "algo": {"kind": "twap", "slices": 6, "over": "6h"}}),
    (6, {"id": "req-cancel", "action": "cancel", "parent_id": "FIRST"}),
)  # fmt: skip


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    for name in ("--url", "--follow", "--points", "--state", "--candles", "--key", "--secret"):
        parser.add_argument(name, required=True)
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--bars", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout-ms", type=int, default=10_000)
    parser.add_argument("--scenario", choices=("all", "cancel"), default="all")
    parser.add_argument("--max-nth", type=int, default=2, help="kill at the 1st..Nth point hit")
    return parser.parse_args()


class FollowReplay(ReplayOnExchange):
    """The crash harness's replay, the simulator's clock moved along, the requests injected."""

    runner: Any = None

    def __init__(self, args: argparse.Namespace, bars: Any) -> None:
        super().__init__(args, bars)
        self.follow = Path(args.follow)
        self.state = Path(args.state)
        self.scenario = args.scenario

    async def _market_at(self, ts: int) -> None:
        tmp = self.follow.with_name(self.follow.name + ".w")
        tmp.write_text(str(ts))
        os.replace(tmp, self.follow)
        done = self.follow.with_name(self.follow.name + ".at")
        while True:
            try:
                if int(done.read_text() or 0) >= ts:
                    return
            except (OSError, ValueError):
                pass
            await asyncio.sleep(0.002)

    async def _inject(self, t: int) -> None:
        from live.api.control import write_manual_request

        for at, request in CANCEL_REQUESTS if self.scenario == "cancel" else REQUESTS:
            if at != t:
                continue
            if self._answered(request["id"]):
                continue
            if request.get("parent_id") == "FIRST":
                first = next(iter(self.runner.store.read(kinds=["algo_started"])))
                request = {**request, "parent_id": first.payload["parent_id"]}
            folder = self.state / "manual"
            if not any(folder.glob(f"*-{request['id']}.json")):
                write_manual_request(self.state, {**request, "reason": "test", "by": "test",
                                                  "ts_ms": 1})  # fmt: skip
            while not self._answered(request["id"]):
                await asyncio.sleep(0.005)

    def _answered(self, request_id: str) -> bool:
        return any(
            e.payload.get("request_id") == request_id
            for e in self.runner.store.read(kinds=["manual_order"])
        )

    async def bars(self, symbols: Any, timeframe: str, since_ms: int | None) -> Any:

        b = self.replayed
        start = 0 if since_ms is None else int(np.searchsorted(b.index, since_ms, "left"))
        for t in range(start, b.n_bars):
            await self._inject(t)
            if t + 1 < b.n_bars:
                await self._market_at(int(b.index[t + 1]))
            self.feed.t = t
            from tests.peers.live_crash import _from_row

            yield _from_row(b, t)


def _spec(args: argparse.Namespace, bars: Any) -> Any:
    from grekko_research.engine import EngineConfig, Fees, MarketRules
    from grekko_research.strategy import get_strategy
    from live.runner import RunnerSpec

    strategy = get_strategy("sma_cross")
    return RunnerSpec(
        "algos", strategy, strategy.params({"fast": 2, "slow": 100}),
        EngineConfig(fees=Fees(taker=0.001), market=MarketRules(lot_size=0.00001, tick_size=0.01)),
        bars.symbols, "1h", grace_ms=300, reconcile_every_ms=10**12,
        kill_file=Path(args.state) / "KILL", kill_poll_s=0.005,
    )  # fmt: skip


def _child(args: argparse.Namespace, spec: Any, bars: Any, n_kill: int) -> None:
    from live.events import EventStore, LogKey
    from live.runner import Runner

    points = set(args.points.split(","))
    seen = 0

    def hook(point: str) -> None:
        nonlocal seen
        if point in points and n_kill:
            seen += 1
            if seen == n_kill:
                os.kill(os.getpid(), signal.SIGKILL)

    import faulthandler

    trace = (Path(args.state) / f"stuck-{os.getpid()}.txt").open("w")
    faulthandler.dump_traceback_later(150, exit=True, file=trace)  # a hung child says where

    async def run() -> None:
        venue = FollowReplay(args, bars)
        store = EventStore.open(Path(args.state) / "events.db", key=LogKey(LOG_KEY))
        try:
            runner = Runner(spec, venue, store, hook=hook)  # type: ignore[arg-type]
            venue.runner = runner
            summary = await runner.run()
            if summary.halted:
                raise RuntimeError(f"runner halted: {summary.halted}")
        finally:
            await venue.exchange.close()
            store.close()

    asyncio.run(run())


def main() -> None:
    args = _parse_args()
    for module in (*_CHILD_MODULES, "live.api.control"):
        importlib.import_module(module)
    bars = _read_bars(args)
    spec = _spec(args, bars)
    # Nothing here may start a thread before the forks (a child inherits its locks, not the
    # thread): no compiled kernel runs here (with the engine book warmed in this process, a
    # child hung now and then) and no faulthandler watchdog (the child's own one would wait
    # for the parent's thread forever).
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    kills = restarts = 0
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    while True:
        n_kill = int(rng.integers(1, args.max_nth + 1)) if kills < args.kills else 0
        pid = os.fork()
        if pid == 0:
            try:
                _child(args, spec, bars, n_kill)
            except BaseException:
                (state / "child-error.txt").write_text(traceback.format_exc())
                os._exit(1)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        restarts += 1
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
            kills += 1
            continue
        if os.waitstatus_to_exitcode(status) != 0:
            found = [state / "child-error.txt", *state.glob("stuck-*.txt")]
            error = "".join(f.read_text() for f in found if f.exists())
            raise SystemExit(f"runner child failed:\n{error}")
        if n_kill and kills < args.kills:
            raise SystemExit(f"the bars ran out after {kills} kills at {args.points}")
        break
    print(json.dumps({"kills": kills, "restarts": restarts - 1,
                      "wall_s": round(time.perf_counter() - t0, 2)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
