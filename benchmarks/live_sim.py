"""grekko-live against the exchange simulator: orders per minute of a real run, and where a bar's
wall time goes.

Run: ``.venv/bin/python benchmarks/live_sim.py [--bars 300] [--speed 144000] [--profile]``

``grekko-live sim`` runs in its own process, replaying Binance BTC/USDT hourly candles from
2021-01-10 at ``--speed`` market milliseconds per wall millisecond (144,000: 40 bars a second,
more than the runner takes, so the figure is the runner's and not the market's pace). The run is
``grekko-live run --venue binance --mode live`` as the command line builds it (the real ccxt
client over HTTP and websockets, ccxt's request throttle on: Binance's request-weight budget,
the event log in a SQLite file with WAL and ``synchronous=FULL``), with a strategy that trades
every bar: its target is 25 % of equity on even hours and 50 % on odd ones, so each bar sends one
market order per symbol (``--symbols``, default BTC/USDT; ``risk=none`` plus ``max_position``,
so that no limit refuses them).

Printed: bars and orders of the run, orders per minute and bars per second over the bar loop
(from the first bar taken in to the last bar's orders answered: the start's reconciliation and
warm-up are not counted), the orders filled and rejected, how many bars the run ended behind the
market clock, and the wall time per bar. With ``--profile``: the wall time spent awaiting each
venue call, appending to the log and in the runner's steps (inclusive, so the steps overlap),
and cProfile's top functions by own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import json
import os
import pstats
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# Beside benchmarks/live.py, which is named like the ``live`` package: keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
from grekko_research.engine import TargetPositions  # noqa: E402  (after the path fix)
from grekko_research.paths import shared_data_dir  # noqa: E402
from grekko_research.strategy import Strategy  # noqa: E402

DATA = shared_data_dir() or ROOT.parent / "shared" / "data"
KEY, SECRET = "bench-key-0123456789", "bench-secret-abcdefghij"
ENV = {"GREKKO_BINANCE_API_KEY": KEY, "GREKKO_BINANCE_API_SECRET": SECRET}
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class EveryBarParams:
    """No parameters."""


class EveryBar(Strategy):
    """25 % of equity long on even hours, 50 % on odd ones (split between the symbols): one
    market order per symbol every bar."""

    name = "every_bar"
    Params = EveryBarParams
    summary = "alternates between two long targets: an order every bar"

    def warmup(self, params: EveryBarParams) -> int:
        return 1

    def signals(self, bars: Any, params: EveryBarParams) -> TargetPositions:
        odd = (np.asarray(bars.index) // HOUR_MS) % 2 == 1
        k = bars.n_assets  # each symbol its share: never more than the cash buys
        target = np.where(odd, 0.5, 0.25)[:, None] * np.full((1, k), 1.0 / k)
        return TargetPositions(target)


class Timings:
    """Inclusive wall time of awaited methods, by name (installed on the classes, for a run)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._undo: list[tuple[type, str, Any]] = []

    def wrap(self, cls: type, name: str, label: str) -> None:
        original = cls.__dict__.get(name, getattr(cls, name))
        asynchronous = asyncio.iscoroutinefunction(original)

        def note(t: float) -> None:
            self.seconds[label] += time.perf_counter() - t
            self.calls[label] += 1

        if asynchronous:

            @functools.wraps(original)
            async def timed(*a: Any, **k: Any) -> Any:
                t = time.perf_counter()
                try:
                    return await original(*a, **k)
                finally:
                    note(t)
        else:

            @functools.wraps(original)
            def timed(*a: Any, **k: Any) -> Any:
                t = time.perf_counter()
                try:
                    return original(*a, **k)
                finally:
                    note(t)

        self._undo.append((cls, name, cls.__dict__.get(name)))
        setattr(cls, name, timed)

    def install(self) -> None:
        from live.events import EventStore
        from live.runner import Runner
        from live.venues.ccxt_venue import CcxtVenue

        for name in ("_on_bar", "_decide", "reconcile", "resolve", "_send", "_single_plan"):
            self.wrap(Runner, name, f"runner.{name}")
        for name in ("submit", "query", "reference_price", "positions", "balances", "cancel",
                     "closed_bars", "health", "order_fills", "fills"):  # fmt: skip
            self.wrap(CcxtVenue, name, f"venue.{name}")
        self.wrap(EventStore, "append_many", "log.append_many (durable)")

    def uninstall(self) -> None:
        for cls, name, original in reversed(self._undo):
            if original is None:
                delattr(cls, name)
            else:
                setattr(cls, name, original)

    def table(self, bars: int) -> list[str]:
        rows = sorted(self.seconds.items(), key=lambda kv: -kv[1])
        return [
            f"{label:>36}: {s / bars * 1000:7.2f} ms/bar  {self.calls[label] / bars:5.2f} calls/bar"
            for label, s in rows
        ]


def run(
    bars: int, speed: float, symbols: tuple[str, ...] = ("BTC/USDT",), *, profile: bool = False
) -> dict[str, Any]:
    """One run of ``bars`` bars of ``symbols`` against a simulator at ``speed``; its figures."""
    from grekko_research.config import compose_config
    from live.app import plan_run, run_plan
    from live.events import EventStore
    from live.runner import Runner
    from tests.peers.sim_cli import sim_process

    os.environ.update(ENV)
    marks: list[float] = []
    on_bar = Runner._on_bar

    async def noted(self: Runner, *a: Any, **k: Any) -> None:
        marks.append(time.perf_counter())
        await on_bar(self, *a, **k)

    timings = Timings()
    prof = cProfile.Profile() if profile else None
    with (
        tempfile.TemporaryDirectory() as tmp,
        sim_process(DATA, ENV, speed=speed, symbols=",".join(symbols)) as url,
    ):
        cfg = compose_config(
            ["live=binance", "live.mode=live", f"live.venue_url={url}", "risk=none",
             "risk.order.max_position=1.0", f"live.state_dir={tmp}", f"live.max_bars={bars}",
             f"live.symbols=[{','.join(symbols)}]"]
        )  # fmt: skip
        plan = plan_run(cfg)
        strategy, params = EveryBar(), EveryBarParams()
        plan = replace(plan, strategy=strategy, params=params,
                       spec=replace(plan.spec, strategy=strategy, params=params))  # fmt: skip
        Runner._on_bar = noted  # type: ignore[method-assign]
        if profile:
            timings.install()
        try:
            if prof is not None:
                prof.enable()
            summary = run_plan(plan)
            end = time.perf_counter()
            if prof is not None:
                prof.disable()
        finally:
            Runner._on_bar = on_bar  # type: ignore[method-assign]
            timings.uninstall()
        with EventStore.open(plan.events) as log:
            events = list(log.read())
    kinds = Counter(e.kind for e in events)
    closed = [int(e.payload["ts"]) for e in events if e.kind == "bar_closed"]
    clocks = [e.payload for e in events if e.kind == "run_clock"]
    behind = None
    if clocks and closed:  # the market's time when the run ended, from the last clock record
        c = clocks[-1]
        now = c["venue_ms"] + c["rate"] * (time.time() * 1000 - c["wall_ms"])
        behind = round((now - (closed[-1] + HOUR_MS)) / HOUR_MS, 1)
    wall = end - marks[0]
    sent = kinds["order_submitted"]
    out: dict[str, Any] = {
        "symbols": ",".join(symbols),
        "sim_speed": speed,
        "sim_bars_per_s": round(speed / HOUR_MS * 1000, 1),
        "run_bars": summary.bars,
        "run_orders_sent": sent,
        "run_orders_filled": len({e.stream for e in events if e.kind == "order_fill"}),
        "run_orders_rejected": kinds["order_rejected"],
        "run_halted": summary.halted,
        "run_orders_per_min": round(sent / wall * 60, 1),
        "run_bars_per_s": round(summary.bars / wall, 1),
        "run_ms_per_bar": round(wall / summary.bars * 1000, 1),
        "run_reconciliations": kinds["reconciled"],
        "run_bars_behind_market_at_end": behind,
    }
    if profile:
        out["profile_ms_per_bar"] = timings.table(summary.bars)
        assert prof is not None
        stats = pstats.Stats(prof)
        top = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:15]  # type: ignore[attr-defined]
        out["cprofile_top_own_time"] = [
            f"{tt:7.3f}s own {ct:7.3f}s cum {n:7d}x {Path(f).name}:{line}({fn})"
            for (f, line, fn), (_, n, tt, ct, _) in top
        ]
    return out


def main(argv: list[str] | None = None, *, echo: Callable[[str], None] = print) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=300)
    parser.add_argument("--speed", type=float, default=144_000.0, help="market ms per wall ms")
    parser.add_argument("--symbols", default="BTC/USDT", help="comma-separated: an order each")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    symbols = tuple(s.strip() for s in args.symbols.split(",") if s.strip())
    result = run(args.bars, args.speed, symbols, profile=args.profile)
    for key, value in result.items():
        if isinstance(value, list):
            echo(f"{key}:")
            for line in value:
                echo(f"  {line}")
        else:
            echo(f"{key:>34}: {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
