"""grekko-live's status API under load, and the runner's decision latency beside it.

Run: ``.venv/bin/python benchmarks/api_load.py [--clients 50] [--subscribers 200]
[--strangers 40] [--seconds 15] [--bars 1500] [--json PATH]``

``grekko-live api`` serves a run's log in its own process while a writer process appends a
realistic stream (≈ 100 bars a second: decision, order created → submitted → acknowledged →
filled, a risk breach every 5th bar) and, at once, ``--clients`` HTTP clients with the read token
loop over the read routes, ``--strangers`` clients without or with a wrong token hit the routes,
``/kill`` and the websockets, and ``--subscribers`` websocket clients follow the four topics
(``tests/peers/api_load.py`` drives it; ``tests/integration/test_api_load.py`` is the small
version that checks correctness).

Printed, each beside a reference measured in the same run and their ratio:

- API: requests, req/s (wall) and req per API CPU second (per core: the server is one process),
  latency p50 / p99, API CPU per request (everything the process did — routes, websocket fan
  out, folding the log — divided by the HTTP requests), stderr bytes per request (the access log);
  the reference is the same clients asking ``/health`` only (the framework's and uvicorn's floor),
  with no subscriber and no stranger;
- correctness: failed authenticated requests, successful unauthenticated ones, subscribers that
  did not get exactly their topic's events in order (all must be 0);
- the runner (a replay of ``--bars`` real BTC/USDT hourly bars through the paper venue, in its
  own process, ``sma_cross`` 3/8): bar → intent p50 / p99 alone (the reference) and while the API
  is under load on the same machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(ROOT))
DATA = Path(os.environ.get("GREKKO_SHARED_DATA") or ROOT.parent / "shared" / "data")
FILE = DATA / "ohlcv" / "binance-spot_BTC-USDT_1h__nfi.csv.gz"


# -- the runner, in its own process -------------------------------------------------------------


def runner_process(bars: int) -> None:
    """Warm up, print ``warm``, wait for ``go`` on stdin, replay ``bars`` bars, print the
    bar → intent latencies (ms) as JSON."""
    from grekko_research.data.bars import Bars
    from grekko_research.engine import EngineConfig, Fees, Slippage
    from grekko_research.strategy import get_strategy
    from live.events import EventStore
    from live.runner import Runner, RunnerSpec
    from live.venues.paper import PaperVenue, ReplayFeed

    f = pd.read_csv(FILE).head(bars)
    col = lambda c: f[[c]].to_numpy(np.float64)  # noqa: E731
    data = Bars(
        index=f.timestamp.to_numpy(np.int64), symbols=("BTC/USDT",), timeframe="1h",
        open=col("open"), high=col("high"), low=col("low"), close=col("close"),
        volume=col("volume"),
    )  # fmt: skip
    strategy = get_strategy("sma_cross")
    params = strategy.params({"fast": 3, "slow": 8})
    engine = strategy.configure(
        EngineConfig(fees=Fees(taker=0.001), slippage=Slippage(kind="bps", value=5)), params
    )

    async def run(n: int, folder: Path, name: str) -> list[float]:
        b = data[:n] if n < data.n_bars else data
        spec = RunnerSpec(name, strategy, params, engine, b.symbols, "1h",
                          reconcile_every_ms=60 * 3_600_000)  # fmt: skip
        with EventStore.open(folder / f"{name}.db") as store:
            summary = await Runner(spec, PaperVenue(engine, b.symbols, ReplayFeed(b)), store).run()
        return list(summary.bar_to_intent_ms)

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(200, Path(tmp), "warm"))
        print("warm", flush=True)
        sys.stdin.readline()
        print(json.dumps(asyncio.run(run(bars, Path(tmp), "bench"))), flush=True)


class Runner:
    """A warmed-up runner process waiting for :meth:`go`."""

    def __init__(self, bars: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--runner-only", str(bars)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        assert self.proc.stdin is not None
        line = self.proc.stdout.readline().strip()
        if line != "warm":
            raise RuntimeError(f"runner process: {line!r}")

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def latencies(self) -> np.ndarray:
        assert self.proc.stdout is not None
        out = np.asarray(json.loads(self.proc.stdout.readline()))
        self.proc.wait(timeout=60)
        return out


# -- the benchmark --------------------------------------------------------------------------------


def _api_figures(r: Any) -> dict[str, Any]:
    lat = np.asarray(r.latencies_s) * 1000
    n = max(r.requests, 1)
    return {
        "requests": r.requests,
        "req_per_s": round(r.requests / r.seconds, 1),
        "req_per_cpu_s": round(r.requests / r.api_cpu_s, 1) if r.api_cpu_s else None,
        "latency_p50_ms": round(float(np.percentile(lat, 50)), 2),
        "latency_p99_ms": round(float(np.percentile(lat, 99)), 2),
        "api_cpu_ms_per_request": round(r.api_cpu_s * 1000 / n, 3),
        "stderr_bytes_per_request": round(r.api_stderr_bytes / (n + r.stranger_requests), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--strangers", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--bars", type=int, default=1500)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--runner-only", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.runner_only is not None:
        runner_process(args.runner_only)
        return

    from tests.peers.api_load import run_load

    alone = Runner(args.bars)
    alone.go()
    quiet = alone.latencies()
    loaded_runner = Runner(args.bars)
    with tempfile.TemporaryDirectory() as tmp:
        ref = run_load(Path(tmp) / "ref", clients=args.clients, strangers=0, subscribers=0,
                       seconds=min(args.seconds, 5.0), routes=("/health",))  # fmt: skip
        load = run_load(Path(tmp) / "load", clients=args.clients, strangers=args.strangers,
                        subscribers=args.subscribers, seconds=args.seconds,
                        before=lambda api: loaded_runner.go())  # fmt: skip
    busy = loaded_runner.latencies()

    api, floor = _api_figures(load), _api_figures(ref)
    result: dict[str, Any] = {
        "cores": os.cpu_count(),
        "load": {
            "clients": args.clients,
            "strangers": args.strangers,
            "subscribers": args.subscribers,
            "seconds": round(load.seconds, 2),
            "events_written": load.events_written,
            "ws_messages_per_s": round(load.ws_messages / load.seconds, 1),
        },
        "api": api,
        "reference_health_only": floor,
        "cpu_per_request_over_reference": round(
            api["api_cpu_ms_per_request"] / floor["api_cpu_ms_per_request"], 2
        )
        if floor["api_cpu_ms_per_request"]
        else None,
        "correctness": {
            "authenticated_failures": len(load.auth_failures),
            "unauthenticated_successes": len(load.stranger_successes),
            "unauthenticated_timeouts": load.stranger_errors,
            "incomplete_subscribers": len(load.ws_incomplete),
        },
        "runner": {
            "bars": args.bars,
            "alone_p50_ms": round(float(np.percentile(quiet, 50)), 3),
            "alone_p99_ms": round(float(np.percentile(quiet, 99)), 3),
            "under_load_p50_ms": round(float(np.percentile(busy, 50)), 3),
            "under_load_p99_ms": round(float(np.percentile(busy, 99)), 3),
        },
    }
    rr = result["runner"]
    rr["p50_under_load_over_alone"] = round(rr["under_load_p50_ms"] / rr["alone_p50_ms"], 2)
    rr["p99_under_load_over_alone"] = round(rr["under_load_p99_ms"] / rr["alone_p99_ms"], 2)

    print(f"status API under load ({args.clients} clients, {args.strangers} strangers, "
          f"{args.subscribers} subscribers, {load.seconds:.1f} s, {os.cpu_count()} cores)")  # fmt: skip
    print(f"  {'':28} {'load':>12} {'/health ref':>12} {'ratio':>8}")
    for key, label in (("req_per_s", "req/s (wall)"), ("req_per_cpu_s", "req per API CPU s"),
                       ("latency_p50_ms", "latency p50 ms"), ("latency_p99_ms", "latency p99 ms"),
                       ("api_cpu_ms_per_request", "API CPU ms / request"),
                       ("stderr_bytes_per_request", "stderr bytes / request")):  # fmt: skip
        a, b = api[key], floor[key]
        ratio = f"{a / b:8.2f}" if a is not None and b else f"{'-':>8}"
        print(f"  {label:28} {a!s:>12} {b!s:>12} {ratio}")
    print(
        f"  websocket messages/s {result['load']['ws_messages_per_s']}, events written "
        f"{load.events_written}"
    )
    c = result["correctness"]
    print(
        f"  authenticated failures {c['authenticated_failures']}, unauthenticated successes "
        f"{c['unauthenticated_successes']} (timeouts {c['unauthenticated_timeouts']}), "
        f"incomplete subscribers {c['incomplete_subscribers']}"
    )
    print(f"runner bar → intent ({args.bars} bars, replay, own process)")
    print(f"  alone       p50 {rr['alone_p50_ms']:.3f} ms  p99 {rr['alone_p99_ms']:.3f} ms")
    print(
        f"  under load  p50 {rr['under_load_p50_ms']:.3f} ms  p99 {rr['under_load_p99_ms']:.3f}"
        f" ms  (×{rr['p50_under_load_over_alone']} / ×{rr['p99_under_load_over_alone']})"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
