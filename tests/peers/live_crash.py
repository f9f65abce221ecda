"""Kill a live runner with SIGKILL at one crash point, again and again, and restart it.

Run: ``python tests/peers/live_crash.py --url SIM_URL --point before_send --kills 50 --state DIR
--candles FILE --key K --secret S``. This process imports everything once and stays
single-threaded; each runner is a forked child (a real process with its own SQLite connection
and HTTP client) that replays real bars through the runner against the simulator's Binance API
(the real ccxt client) and is killed by its own hook at the point's n-th occurrence, n drawn
from 1..3 so that every incarnation makes progress. Once ``--kills`` kills have happened, a
last child runs to the end of the bars. Prints one JSON line: kills, restarts, wall time.
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from grekko_research.data.bars import Bars
    from live.runner import RunnerSpec

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
LOG_KEY = b"crash-test-event-log-key-0123456789abcdef"
_CHILD_MODULES = (
    "pandas",
    "grekko_research.data.bars",
    "grekko_research.engine",
    "grekko_research.strategy",
    "live.events",
    "live.runner",
    "live.runner.sleeves",
    "live.venues.base",
    "live.venues.credentials",
    "live.venues.paper",
    "live.venues.registry",
    "live.venues.routed",
    "live.routing",
)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument(
        "--url2", help="a second simulator: every order routed across both (live.venues.routed)"
    )
    parser.add_argument("--point", required=True)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--state", required=True)
    parser.add_argument("--candles", required=True)
    parser.add_argument("--bars", type=int, default=1200)
    parser.add_argument("--key", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout-ms", type=int, default=10_000)
    parser.add_argument(
        "--settle-s",
        type=float,
        default=0.0,
        help="after the bars, reconcile until no order is open (this long)",
    )
    parser.add_argument(
        "--stops",
        action="store_true",
        help="position stops (--stop-loss, --take-profit), held by the runner (emulated)",
    )
    parser.add_argument(
        "--stop-policy",
        default="emulated",
        help="with --stops: live.stop_policy.mode (auto: native stops on the venue)",
    )
    parser.add_argument(
        "--allow-halt", action="store_true", help="a run that ends halted is not a failure"
    )
    parser.add_argument("--stop-loss", type=float, default=0.002, help="with --stops")
    parser.add_argument("--take-profit", type=float, default=0.002, help="with --stops")
    parser.add_argument(
        "--portfolio",
        action="store_true",
        help="two sleeves (sma_cross 2/5 and 3/9, half the capital each) merged by sum",
    )
    parser.add_argument(
        "--follow",
        choices=["twap", "vwap"],
        help="the strategy's orders worked as parents of 3 children (execution.algo)",
    )
    return parser.parse_args()


def _bars(args: argparse.Namespace) -> Bars:
    """The first ``--bars`` rows of the ``--candles`` CSV, as BTC/USDT hourly bars."""
    import numpy as np
    import pandas as pd

    from grekko_research.data.bars import Bars

    f = pd.read_csv(args.candles).head(args.bars)
    col = lambda c: f[[c]].to_numpy(np.float64)  # noqa: E731
    return Bars(
        index=f.timestamp.to_numpy(np.int64), symbols=("BTC/USDT",), timeframe="1h",
        open=col("open"), high=col("high"), low=col("low"), close=col("close"),
        volume=col("volume"),
    )  # fmt: skip


def _spec(args: argparse.Namespace, bars: Bars) -> RunnerSpec:
    """sma_cross 2/5 (or, with ``--portfolio``, two sleeves merged by sum) on ``bars``."""
    from grekko_research.engine import EngineConfig, Fees, MarketRules
    from grekko_research.strategy import get_strategy
    from live.runner import RunnerSpec

    strategy = get_strategy("sma_cross")
    params = strategy.params({"fast": 2, "slow": 5})
    engine = EngineConfig(fees=Fees(taker=0.001), market=MarketRules(lot_size=0.00001))
    if args.stops:
        from dataclasses import replace as replaced

        from grekko_research.engine import Stops

        engine = replaced(
            engine, stops=Stops(stop_loss=args.stop_loss, take_profit=args.take_profit)
        )
    from live.orders import StopPolicy

    spec = RunnerSpec(
        "crash-" + args.point, strategy, params, engine, bars.symbols, "1h",
        grace_ms=300, reconcile_every_ms=10**12,
        stop_policy=StopPolicy(mode=args.stop_policy),
    )  # fmt: skip
    if args.portfolio:
        from dataclasses import replace as replaced

        from live.runner.sleeves import CoordinatorSpec, SleeveSpec

        half = replaced(engine, init_cash=engine.init_cash / 2)
        sleeves = tuple(
            SleeveSpec(f"sma{f}_{sl}", strategy, strategy.params({"fast": f, "slow": sl}), half)
            for f, sl in ((2, 5), (3, 9))
        )
        spec = replaced(spec, strategy=None, params=None, sleeves=sleeves,
                        coordinator=CoordinatorSpec("crash"))  # fmt: skip
    if args.follow:
        from dataclasses import replace as replaced

        from grekko_research.engine import Sizing
        from grekko_research.engine.algos import AlgoSpec
        from grekko_research.engine.follow import FollowSpec, intent_config
        from live.runner.sleeves import CoordinatorSpec, SleeveSpec

        # 90 % of the equity: room for the children's prices to move from the decision's
        engine = replaced(engine, sizing=Sizing("percent", 0.9))
        sleeve = SleeveSpec("sma_cross", strategy, params, intent_config(engine))
        spec = replaced(spec, strategy=None, params=None, engine=engine, sleeves=(sleeve,),
                        coordinator=CoordinatorSpec("sma_cross"),
                        follow=FollowSpec(AlgoSpec(args.follow, 3)))  # fmt: skip
    return spec


class ReplayOnExchange:
    """Orders, queries and positions through the exchange adapter; bars from history."""

    def __init__(self, args: argparse.Namespace, bars: Bars) -> None:
        from live.venues.credentials import Credentials
        from live.venues.paper import ReplayFeed
        from live.venues.registry import make_venue

        self.exchange = make_venue(
            "binance",
            urls=args.url,
            credentials=Credentials(args.key, args.secret),
            timeout_ms=args.timeout_ms,
            rate_limit=False,
        )
        self.replayed = bars
        self.feed = ReplayFeed(bars)
        self.name = "binance"

    def __getattr__(self, name: str):
        return getattr(self.exchange, name)

    def now_ms(self) -> int:
        return int(time.time() * 1000)

    async def health(self):
        from dataclasses import replace

        # The exchange's streams, errors and clock; but the bars are replayed, not live.
        return replace(await self.exchange.health(), realtime=False)

    async def reference_price(self, symbol: str):
        from decimal import Decimal

        t = min(self.feed.t, self.replayed.n_bars - 1)
        return Decimal(repr(float(self.replayed.close[max(t, 0), 0])))

    async def history(self, symbols, timeframe, count):
        return []  # the replay starts cold, at its first bar

    async def bars(self, symbols, timeframe, since_ms):
        import numpy as np

        bars = self.replayed
        start = 0 if since_ms is None else int(np.searchsorted(bars.index, since_ms, "left"))
        for t in range(start, bars.n_bars):
            self.feed.t = t
            yield _from_row(bars, t)


def _from_row(bars: Bars, t: int):
    from live.venues.base import Bar

    return Bar("BTC/USDT", int(bars.index[t]), float(bars.open[t, 0]),
               float(bars.high[t, 0]), float(bars.low[t, 0]), float(bars.close[t, 0]),
               float(bars.volume[t, 0]))  # fmt: skip


def _child(args: argparse.Namespace, spec: RunnerSpec, bars: Bars, n_kill: int) -> None:
    """One incarnation: run until the hook kills it at the ``n_kill``-th ``--point`` (0: never)."""
    from live.events import EventStore, LogKey
    from live.runner import Runner

    state = Path(args.state)
    seen = 0

    def hook(point: str) -> None:
        nonlocal seen
        if point == args.point and n_kill:
            seen += 1
            if seen == n_kill:
                os.kill(os.getpid(), signal.SIGKILL)

    async def run() -> None:
        venue: Any = ReplayOnExchange(args, bars)
        if args.url2:
            venue = _routed(args, venue, state, hook)
        # Keyed: every start checks the log from its last checkpoint and every event's
        # MAC, and a kill between a commit and its checkpoint must not look like tampering.
        store = EventStore.open(state / "events.db", key=LogKey(LOG_KEY))
        try:
            runner = Runner(spec, venue, store, hook=hook)  # type: ignore[arg-type]
            summary = await runner.run()
            deadline = time.monotonic() + args.settle_s
            while runner.om.open_orders() and time.monotonic() < deadline:
                await asyncio.sleep(0.25)
                await runner.reconcile()
            if summary.halted and not args.allow_halt:
                raise RuntimeError(f"runner halted: {summary.halted}")
        finally:
            await venue.close()
            store.close()

    asyncio.run(run())


def _routed(args: argparse.Namespace, primary: Any, state: Path, hook: Any) -> Any:
    """The run's account over the two simulators (``a``: ``--url``, whose bars the run
    follows; ``b``: ``--url2``), equal fees, the routes logged in ``routes.db``."""
    from live.events import EventStore, LogKey
    from live.risk import RiskEngine
    from live.routing import RoutingSpec, SmartRouter
    from live.venues.credentials import Credentials
    from live.venues.registry import make_venue
    from live.venues.routed import RoutedVenue

    b = make_venue("binance", urls=args.url2, credentials=Credentials(args.key, args.secret),
                   timeout_ms=args.timeout_ms, rate_limit=False)  # fmt: skip
    spec = RoutingSpec(venues=("a", "b"), taker_fee_bps={"a": 10.0, "b": 10.0}, split_slices=10)
    store = EventStore.open(state / "routes.db", key=LogKey(LOG_KEY))
    router = SmartRouter(spec, {"a": primary, "b": b}, store, RiskEngine(None),
                         run_id="crash-" + args.point, clock=primary.now_ms, hook=hook,
                         grace_ms=2_000)  # fmt: skip
    # A route sends its children at once: a kill at one child's send may leave a sibling's
    # create in flight, landing after the restart's first query (a busy machine): it counts as
    # lost only after the grace, as the run's own orders do after theirs.
    return RoutedVenue("a", router, owns_store=True)


def _incarnation(args: argparse.Namespace, spec: RunnerSpec, bars: Bars, n_kill: int) -> bool:
    """Fork a child runner and wait for it: True if the hook killed it, False if it finished."""
    state = Path(args.state)
    pid = os.fork()
    if pid == 0:
        try:
            _child(args, spec, bars, n_kill)
        except BaseException:
            (state / "child-error.txt").write_text(traceback.format_exc())
            os._exit(1)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL:
        return True
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        error_file = state / "child-error.txt"
        error = error_file.read_text() if error_file.exists() else ""
        raise SystemExit(f"runner child failed with exit code {code}:\n{error}")
    return False


def main() -> None:
    args = _parse_args()
    # Everything imported here, once: each child is a fork of this process (the functions'
    # own imports then find the modules loaded).
    for module in _CHILD_MODULES:
        importlib.import_module(module)
    import numpy as np

    from live.runner import CRASH_POINTS, NATIVE_CRASH_POINTS, STOP_CRASH_POINTS

    points = CRASH_POINTS + STOP_CRASH_POINTS + NATIVE_CRASH_POINTS
    if args.point not in points:
        raise SystemExit(f"unknown crash point {args.point!r}; one of {points}")
    bars = _bars(args)
    spec = _spec(args, bars)
    Path(args.state).mkdir(parents=True, exist_ok=True)
    kills = restarts = 0
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    while True:
        n_kill = int(rng.integers(1, 4)) if kills < args.kills else 0
        killed = _incarnation(args, spec, bars, n_kill)
        restarts += 1
        if killed:
            kills += 1
            continue
        if n_kill and kills < args.kills:
            raise SystemExit(
                f"the bars ran out after {kills} kills at {args.point}; replay more bars"
            )
        break
    print(json.dumps({"point": args.point, "kills": kills, "restarts": restarts - 1,
                      "wall_s": round(time.perf_counter() - t0, 2)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
