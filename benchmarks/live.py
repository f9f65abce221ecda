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
  same run (each sleeve decides, plans, risk-checks and books on its own book every bar).
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
    for key, value in result.items():
        print(f"{key:>28}: {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
