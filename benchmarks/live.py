"""grekko-live runner speed in replay mode: bar → risk-checked intent latency, events per second.

Run: ``.venv/bin/python benchmarks/live.py [--bars 5000] [--json PATH]``

Real data: Binance BTC/USDT hourly candles (2020-12 → 2021-07, 5,482 bars) from the shared data
folder. The strategy is ``sma_cross`` with fast=3, slow=8, so that it trades often (an order
every few bars). The runner replays the bars through the paper venue with the event log in a
temporary SQLite file (WAL, ``synchronous=FULL``, as in production) and reconciles every 60
bars.

Printed:

- bar → intent: from the closed bar reaching the runner to its order intents being durable in
  the log (close the bar in the engine book, compute the strategy's signals on its window,
  plan with the engine's sizing and risk rules, create the orders, append the decision), p50
  and p99 over the bars that produced an intent; also over every bar (most decide nothing);
- events/s: events written to the log per second of wall time over the whole replay;
- references measured in the same run: the p50 of a bare one-event durable append (the floor
  every step pays at least once), and the time ``backtest`` takes for the same bars (the runner
  does per bar what the engine does for all bars in one call);
- a portfolio of ``--sleeves`` strategies (sma_cross 3/8, 5/20, 10/30, … merged by ``sum``) on the
  same bars: its bar → intent p50 / p99 and their ratio to the single strategy's, measured in the
  same run (each sleeve decides, plans, risk-checks and books on its own book every bar);
- the event store's append path with group commit (:class:`live.events.GroupCommit`):
  ``--store-events`` order events appended durably by ``--producers`` threads (1, the runner's
  shape: one event-loop thread appends; and 4, Python threads contending for the GIL), one event per
  submission, each waiting for its events to be committed (at most 2,048 in flight per thread), on
  SQLite (WAL, ``synchronous=FULL``) and, with ``--postgres URL``, on PostgreSQL; beside the
  reference of the same run: one transaction per append (the store's plain ``append``), and the
  replay's events/s above (target: 50,000 events/s); also per CPU second of the process, which a
  shared machine's load does not change;
- orders per minute through the runner's order path against the exchange simulator
  (``grekko-live sim`` in its own process, the real ccxt adapter over HTTP): ``--sim-orders``
  market orders, each created by the order manager, made durable in the log before it is sent
  (``Runner._send``: ``order_submitted``, the request, the acknowledgement and the fill, each
  persisted), one after another (target: 1,000 orders/min);
- orders per minute of a whole run against the simulator (``benchmarks/live_sim.py``: bars in,
  a decision and an order every bar, ``--sim-bars`` bars).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
# This file is named like the ``live`` package it measures: keep its folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
from grekko_research.paths import shared_data_dir  # noqa: E402  (after the path fix)

DATA = shared_data_dir() or ROOT.parent / "shared" / "data"
FILE = DATA / "ohlcv" / "binance-spot_BTC-USDT_1h__nfi.csv.gz"


def _bars(n: int):
    from grekko_research.data.bars import Bars

    f = pd.read_csv(FILE).head(n)
    col = lambda c: f[[c]].to_numpy(np.float64)  # noqa: E731
    return Bars(
        index=f.timestamp.to_numpy(np.int64), symbols=("BTC/USDT",), timeframe="1h",
        open=col("open"), high=col("high"), low=col("low"), close=col("close"),
        volume=col("volume"),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=5000)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--sleeves", type=int, default=3, help="strategies in the portfolio run")
    parser.add_argument("--store-events", type=int, default=200_000)
    parser.add_argument(
        "--producers", default="1,4",
        help="producer threads of the group-commit runs, comma-separated; the first is the "
        "headline (1: the runner's shape, one event-loop thread appending)",
    )  # fmt: skip
    parser.add_argument("--postgres", default=None, help="also measure group commit on this URL")
    parser.add_argument("--sim-orders", type=int, default=300)
    parser.add_argument("--sim-bars", type=int, default=300, help="bars of the run on the sim")
    args = parser.parse_args()

    from grekko_research.engine import EngineConfig, Fees, Slippage, backtest
    from grekko_research.strategy import get_strategy
    from live.events import EventStore
    from live.runner import Runner, RunnerSpec
    from live.runner.sleeves import CoordinatorSpec, SleeveSpec
    from live.venues.paper import PaperVenue, ReplayFeed

    bars = _bars(args.bars)
    strategy = get_strategy("sma_cross")
    params = strategy.params({"fast": 3, "slow": 8})
    engine = strategy.configure(
        EngineConfig(fees=Fees(taker=0.001), slippage=Slippage(kind="bps", value=5)), params
    )
    signals = strategy.signals(bars, params)
    backtest(bars, signals, engine)  # warm the caches
    t0 = time.perf_counter()
    for _ in range(5):
        backtest(bars, strategy.signals(bars, params), engine)
    backtest_s = (time.perf_counter() - t0) / 5

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        # Reference: a bare durable append of one event.
        with EventStore.open(folder / "ref.db") as ref:
            times = []
            for i in range(300):
                t = time.perf_counter()
                ref.append("ref", "bench", {"i": i}, ts_ms=i)
                times.append(time.perf_counter() - t)
            append_p50_ms = float(np.percentile(times, 50) * 1000)

        # Warm-up run (numba caches, imports) on a few bars, then the measured run.
        pairs = [(3, 8), (5, 20), (10, 30), (15, 45), (20, 60), (30, 90)]
        chosen = [strategy.params({"fast": f, "slow": sl}) for f, sl in pairs[: args.sleeves]]
        share = replace(engine, init_cash=engine.init_cash / len(chosen))  # sum: capital split
        sleeves = tuple(
            SleeveSpec(f"sma{p.fast}_{p.slow}", strategy, p, strategy.configure(share, p))
            for p in chosen
        )

        async def run(n: int, name: str, portfolio: bool = False) -> tuple[object, float, int]:
            b = bars[:n]
            venue = PaperVenue(engine, b.symbols, ReplayFeed(b))
            store = EventStore.open(folder / f"{name}.db")
            spec = RunnerSpec(
                name, None if portfolio else strategy, None if portfolio else params, engine,
                b.symbols, "1h", reconcile_every_ms=60 * 3_600_000,
                sleeves=sleeves if portfolio else (),
                coordinator=CoordinatorSpec("bench") if portfolio else None,
            )  # fmt: skip
            runner = Runner(spec, venue, store)
            t = time.perf_counter()
            summary = await runner.run()
            wall = time.perf_counter() - t
            events = store.head().seq  # type: ignore[union-attr]
            store.close()
            return summary, wall, events

        asyncio.run(run(200, "warm"))
        summary, wall, n_events = asyncio.run(run(bars.n_bars, "bench"))
        asyncio.run(run(200, "warm-portfolio", portfolio=True))
        p_summary, p_wall, _ = asyncio.run(run(bars.n_bars, "portfolio", portfolio=True))

    lat = np.asarray(summary.bar_to_intent_ms)  # type: ignore[attr-defined]
    result = {
        "bars": bars.n_bars,
        "orders": summary.orders,  # type: ignore[attr-defined]
        "events": n_events,
        "wall_s": round(wall, 3),
        "events_per_s": round(n_events / wall, 1),
        "bars_per_s": round(bars.n_bars / wall, 1),
        "bar_to_intent_p50_ms": round(float(np.percentile(lat, 50)), 3),
        "bar_to_intent_p99_ms": round(float(np.percentile(lat, 99)), 3),
        "reference_append_p50_ms": round(append_p50_ms, 3),
        "reference_backtest_s": round(backtest_s, 4),
        "runner_over_backtest": round(wall / backtest_s, 1),
        "intent_p50_over_append_p50": round(float(np.percentile(lat, 50)) / append_p50_ms, 2),
    }
    p_lat = np.asarray(p_summary.bar_to_intent_ms)  # type: ignore[attr-defined]
    result |= {
        "portfolio_sleeves": len(sleeves),
        "portfolio_orders": p_summary.orders,  # type: ignore[attr-defined]
        "portfolio_bars_per_s": round(bars.n_bars / p_wall, 1),
        "portfolio_intent_p50_ms": round(float(np.percentile(p_lat, 50)), 3),
        "portfolio_intent_p99_ms": round(float(np.percentile(p_lat, 99)), 3),
        "portfolio_p50_over_single": round(
            float(np.percentile(p_lat, 50) / np.percentile(lat, 50)), 2
        ),
    }
    result |= _scaling(args, result["events_per_s"])
    for key, value in result.items():
        print(f"{key:>34}: {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


_PAYLOAD = {"symbol": "BTC/USDT", "side": "buy", "qty": "0.001", "price": 30123.5,
            "client_id": "sma_cross-1-0", "type": "market"}  # fmt: skip


def _scaling(args: argparse.Namespace, replay_events_per_s: float) -> dict[str, float]:
    """Issue 24's throughput figures: group commit on SQLite (and PostgreSQL), sim orders/min."""
    counts = [int(p) for p in str(args.producers).split(",")]
    out = _store_throughput(args.store_events, counts[0], None)
    for more in counts[1:]:  # the contended figures: Python threads sharing the GIL
        extra = _store_throughput(args.store_events, more, None)
        out |= {f"{k}_{more}_producers": v for k, v in extra.items() if "group" in k}
    if args.postgres:  # one log per database: the first producer count only
        pg = _store_throughput(args.store_events, counts[0], args.postgres)
        out |= {k.replace("sqlite", "postgres"): v for k, v in pg.items()}
    out["group_commit_over_replay_events"] = round(
        out["group_commit_sqlite_events_per_s"] / replay_events_per_s, 1
    )
    from benchmarks.live_sim import run as sim_run

    picked = ("run_orders_per_min", "run_bars_per_s", "run_orders_sent", "run_orders_filled")
    whole = sim_run(args.sim_bars, 144_000.0)
    return out | _sim_orders(args.sim_orders) | {k: whole[k] for k in picked}


def _store_throughput(n: int, producers: int, url: str | None) -> dict[str, float]:
    """Group commit vs one transaction per append, on SQLite (``url`` None) or PostgreSQL."""
    import threading

    from live.events import EventStore, GroupCommit

    with tempfile.TemporaryDirectory() as tmp:
        if url is None:
            target: str = str(Path(tmp) / "group.db")
            ref_target, cps, ref_cps = str(Path(tmp) / "plain.db"), "group.cp", "ref.cp"
        else:  # one log in the database: the reference's appends and the group's, one chain
            target = ref_target = url
            cps = ref_cps = "log.cp"
        with EventStore.open(ref_target, checkpoints=Path(tmp) / ref_cps) as ref:
            k = 500
            t = time.perf_counter()
            for i in range(k):
                ref.append("order_created", f"ref-{i}", _PAYLOAD, ts_ms=i)
            plain = k / (time.perf_counter() - t)
        with GroupCommit.open(target, checkpoints=Path(tmp) / cps) as group:
            per = n // producers

            errors: list[BaseException] = []

            def produce(p: int) -> None:
                try:
                    _produce(p)
                except BaseException as e:  # re-raised by the caller
                    errors.append(e)

            def _produce(p: int) -> None:
                pending = []
                for i in range(per):
                    pending.append(group.submit([("order_created", f"c{p}-{i}", _PAYLOAD, i)]))
                    if len(pending) >= 2048:  # a bounded window: each waits for durability
                        pending.pop(0).result()
                for ticket in pending:
                    ticket.result()

            threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
            t, cpu = time.perf_counter(), time.process_time()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            wall = time.perf_counter() - t
            cpu = time.process_time() - cpu  # every thread of this process
            batches, events = group.batches, group.events
        if errors:
            raise errors[0]
        with EventStore.open(target, checkpoints=Path(tmp) / cps) as check:
            assert check.verify(incremental=True).ok  # the chain the batches wrote holds
    return {
        "plain_append_sqlite_events_per_s": round(plain, 1),
        "group_commit_sqlite_events_per_s": round(events / wall, 1),
        # On a shared machine the wall rate follows the load; per CPU second it does not.
        "group_commit_sqlite_events_per_cpu_s": round(events / cpu, 1),
        "group_commit_sqlite_mean_batch": round(events / max(batches, 1), 1),
        "group_over_plain_sqlite": round(events / wall / plain, 1),
    }


def _sim_orders(n: int) -> dict[str, float]:
    """Orders per minute through the runner's order path against ``grekko-live sim``."""
    import os
    import socket
    import subprocess
    from decimal import Decimal

    from live.app import make_plan_venue, open_store
    from live.cli._resolve import make_plan, to_overrides
    from live.orders import Intent
    from live.runner import Runner

    key, secret = "bench-key-0123456789", "bench-secret-abcdefghij"
    env = {"GREKKO_BINANCE_API_KEY": key, "GREKKO_BINANCE_API_SECRET": secret}
    os.environ.update(env)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-c", "from live.cli import main; main()", "sim", "--symbols",
         "BTC/USDT", "--timeframe", "1h", "--start", "2021-01-10", "--port", str(port)],
        env={**os.environ, "PYTHONPATH": str(ROOT), "GREKKO_SHARED_DATA": str(DATA)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = None
        while url is None:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError("grekko-live sim did not start")
            if "REST http" in line:
                url = line.split("REST ")[1].split()[0]
        with tempfile.TemporaryDirectory() as tmp:
            overrides = ["risk=conservative", "risk.ops.max_clock_skew_ms=null"]
            plan = make_plan(to_overrides(
                overrides, strategy="sma_cross", venue="binance", venue_url=url, mode="live",
                state_dir=Path(tmp),
            ))  # fmt: skip

            async def orders() -> tuple[float, int]:
                venue = make_plan_venue(plan)
                store = open_store(plan)
                runner = Runner(plan.spec, venue, store)
                try:
                    await runner.start()
                    t = time.perf_counter()
                    for i in range(n):
                        side = "buy" if i % 2 == 0 else "sell"
                        intent = Intent(plan.spec.run_id, "BTC/USDT", side, Decimal("0.001"),
                                        1_000_000 + i)  # fmt: skip
                        created = runner.om.create(intent, runner.clock())
                        # The intent is durable before it is sent, as in a decision.
                        store.append_many(
                            [(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in created]
                        )
                        await runner._send(intent.client_id)
                    wall = time.perf_counter() - t
                    filled = sum(o.state.name == "FILLED" for o in runner.om.orders())
                    return wall, filled
                finally:
                    await venue.close()
                    store.close()

            wall, filled = asyncio.run(orders())
    finally:
        proc.terminate()
        proc.wait(30)
    return {
        "sim_orders": n,
        "sim_orders_filled": filled,
        "sim_orders_per_min": round(n / wall * 60, 1),
    }


if __name__ == "__main__":
    main()
