"""One system on one workload, in its own process: ``benchmarks/engine.py`` starts this file.

Run: ``.venv/bin/python benchmarks/_engine_worker.py --system grekko --workload W1
--data DIR --bars 1000000 --verify-bars 100000 --repeat 5``; the last line of
stdout is one JSON object.

Sequence: load the data written by ``engine.py``; first call on the
``verify_bars`` prefix (it pays the JIT compilation), two warm calls on the
same prefix (compile time = first call − their median; their result is the
one compared across systems); then ``repeat`` timed calls on all ``bars``.
Peak RSS is this process's high-water mark (``VmHWM``, i.e. ``ru_maxrss`` without
what a forking parent held); ``setup_rss_mb`` is its value before the first call
(imports and data), so the difference is what the runs added.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _engine_workloads import (
    FAST,
    FEE,
    GRID_FAST,
    GRID_SLOW,
    INIT_CASH,
    SLOW,
    STOP_LOSS,
    TAKE_PROFIT,
    WORKLOADS,
    Workload,
    fused_grid_nb,
    fused_portfolio_nb,
    fused_single_nb,
    grid_params,
    sma_cross_grid_kernel,
    sma_cross_signals_nb,
)

FIELDS = ("open", "high", "low", "close", "volume")
Arrays = dict[str, np.ndarray]
# A run returns (final equity, trades, {phase: seconds}); equity and trades are
# arrays with one value per combination for the grid (W2), scalars otherwise.
Run = Callable[[], tuple[Any, Any, dict[str, float]]]


def peak_rss_mb() -> float:
    """Peak resident set size of this process image so far, MiB.

    Linux's ``VmHWM`` first: ``ru_maxrss`` also keeps the high-water mark of
    the parent that forked this process before ``exec``, so a worker started
    by a parent that held the generated data would inherit the parent's peak.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


# -- Grekko ---------------------------------------------------------------------------


def grekko_run(w: Workload, a: Arrays) -> tuple[Run, dict[str, Any]]:
    """Build Grekko's run: ``sma_cross_signals_nb`` + ``backtest`` (or ``run_grid`` for W2)."""
    from grekko_research.data.bars import Bars
    from grekko_research.engine import EngineConfig, Fees, Signals, Sizing, Stops, backtest

    k = a["close"].shape[1]
    bars = Bars(
        index=a["index"],
        symbols=tuple(f"A{j}/USDT" for j in range(k)),
        timeframe="1m",
        **{f: a[f] for f in FIELDS},
    )
    sizing = Sizing("notional", INIT_CASH / k) if w.shared_cash else Sizing("all")
    stops = (
        Stops(stop_loss=STOP_LOSS, take_profit=TAKE_PROFIT, skip_signals_on_exit_bar=True)
        if w.stops
        else Stops()
    )
    config = EngineConfig(
        init_cash=INIT_CASH, fees=Fees(taker=FEE, maker=FEE), sizing=sizing, stops=stops
    )
    if not w.grid:

        def run() -> tuple[Any, Any, dict[str, float]]:
            t0 = time.perf_counter()
            entries, exits = sma_cross_signals_nb(bars.close, FAST, SLOW)
            t1 = time.perf_counter()
            res = backtest(bars, Signals(entries, exits), config)
            out = res.final_equity, res.n_trades
            t2 = time.perf_counter()
            return *out, {"signals": t1 - t0, "backtest": t2 - t1}

        return run, {}

    params = grid_params()
    try:
        from grekko_research.engine.grid import run_grid
    except ImportError:  # the grid API is not there: one backtest per combination
        run_grid = None

    def grid(metrics: str) -> Run:
        def run_grid_api() -> tuple[Any, Any, dict[str, float]]:
            t0 = time.perf_counter()
            table = run_grid(
                bars, sma_cross_grid_kernel, params, config, param_names=("fast", "slow"),
                metrics=metrics,
            )  # fmt: skip
            out = table["final_equity"].to_numpy(), table["n_trades"].to_numpy()
            return *out, {"grid": time.perf_counter() - t0}

        return run_grid_api

    def run_loop() -> tuple[Any, Any, dict[str, float]]:
        equity = np.empty(len(params))
        trades = np.empty(len(params), dtype=np.int64)
        spent = {"signals": 0.0, "backtest": 0.0}
        for i, (fast, slow) in enumerate(params):
            t0 = time.perf_counter()
            entries, exits = sma_cross_signals_nb(bars.close, int(fast), int(slow))
            t1 = time.perf_counter()
            res = backtest(bars, Signals(entries, exits), config)
            equity[i], trades[i] = res.final_equity, res.n_trades
            spent["signals"] += t1 - t0
            spent["backtest"] += time.perf_counter() - t1
        return equity, trades, spent

    if run_grid is None:
        return run_loop, {"grid_api": "missing (Python loop over backtest)"}
    # Timed: what the other systems compute (final equity and trade count per
    # combination, plus the trade statistics). Also timed, reported apart:
    # every metric, equity-curve ones (Sharpe, drawdown, VaR ...) included.
    return grid("trades"), {"grid_api": "run_grid", "extra": {"all_metrics": grid("all")}}


# -- the fused reference --------------------------------------------------------------


def reference_run(w: Workload, a: Arrays) -> tuple[Run, dict[str, Any]]:
    """Build the hand-written fused loop's run."""
    if w.shared_cash:
        o, c = a["open"], a["close"]

        def run() -> tuple[Any, Any, dict[str, float]]:
            equity, trades = fused_portfolio_nb(
                o, c, FAST, SLOW, FEE, INIT_CASH, INIT_CASH / o.shape[1]
            )
            return equity, trades, {}

        return run, {}
    o, h, lo, c = (np.ascontiguousarray(a[f][:, 0]) for f in ("open", "high", "low", "close"))
    if w.grid:
        params = grid_params()

        def run_grid() -> tuple[Any, Any, dict[str, float]]:
            equity, trades = fused_grid_nb(o, c, params, FEE, INIT_CASH)
            return equity, trades, {}

        return run_grid, {}
    sl, tp = (STOP_LOSS, TAKE_PROFIT) if w.stops else (np.nan, np.nan)

    def run_single() -> tuple[Any, Any, dict[str, float]]:
        equity, trades = fused_single_nb(o, h, lo, c, FAST, SLOW, FEE, INIT_CASH, sl, tp)
        return equity, trades, {}

    return run_single, {}


# -- vectorbt -------------------------------------------------------------------------


def vectorbt_run(w: Workload, a: Arrays) -> tuple[Run, dict[str, Any]]:
    """Build vectorbt's run: ``vbt.MA`` crosses + ``Portfolio.from_signals``.

    The configuration is that of ``tests/parity/references.py:vbt_from_signals``
    (``SEMANTICS.md``): decision-bar layout, ``price = open.shift(-1)``,
    ``stop_entry_price="price"``, ``stop_exit_price="stoplimit"``,
    ``accumulate=False``, ``min_size=1e-8``; long only is given as
    ``direction="longonly"`` instead of all-False short arrays (equivalent, and
    it spares two bars-sized arrays). W3 adds ``size_type="value"``,
    ``cash_sharing=True, group_by=True, call_seq="auto"``.
    """
    import pandas as pd
    import vectorbt as vbt

    k = a["close"].shape[1]
    # tz-naive on purpose: with a tz-aware index vectorbt's shape checks turn the
    # index into an object array of Timestamps on every wrap (seconds per 1M bars).
    index = pd.to_datetime(a["index"], unit="ms")

    def frame(x: np.ndarray) -> Any:
        if k == 1:
            return pd.Series(x[:, 0], index=index)
        return pd.DataFrame(x, index=index, columns=[f"A{j}" for j in range(k)])

    close, open_, high, low = (frame(a[f]) for f in ("close", "open", "high", "low"))
    if w.grid:
        fast_w, slow_w = np.repeat(GRID_FAST, len(GRID_SLOW)), np.tile(GRID_SLOW, len(GRID_FAST))
    else:
        fast_w, slow_w = FAST, SLOW
    kwargs: dict[str, Any] = dict(
        fees=FEE,
        init_cash=INIT_CASH,
        size=np.inf,
        direction="longonly",
        accumulate=False,
        upon_opposite_entry="reverse",
        min_size=1e-8,
        sl_stop=STOP_LOSS if w.stops else np.nan,
        tp_stop=TAKE_PROFIT if w.stops else np.nan,
        stop_entry_price="price",
        stop_exit_price="stoplimit",
        upon_stop_exit="close",
        use_stops=w.stops,
        freq="1min",
    )
    if w.shared_cash:
        kwargs.update(
            size=INIT_CASH / k, size_type="value", cash_sharing=True, group_by=True, call_seq="auto"
        )

    def run() -> tuple[Any, Any, dict[str, float]]:
        t0 = time.perf_counter()
        fast = vbt.MA.run(close, fast_w, short_name="fast")
        slow = vbt.MA.run(close, slow_w, short_name="slow")
        entries = fast.ma_crossed_above(slow)
        exits = fast.ma_crossed_below(slow)
        if k > 1:  # MA columns carry the window levels; align them with the prices
            entries.columns = exits.columns = close.columns
        t1 = time.perf_counter()
        pf = vbt.Portfolio.from_signals(
            close, entries, exits, price=open_.shift(-1), open=open_, high=high, low=low, **kwargs
        )
        equity = np.asarray(pf.final_value(), dtype=float)
        trades = np.asarray(pf.trades.count(), dtype=np.int64)
        t2 = time.perf_counter()
        if not w.grid:
            equity, trades = float(equity.sum()), int(trades.sum())
        return equity, trades, {"signals": t1 - t0, "portfolio": t2 - t1}

    return run, {}


BUILDERS = {"grekko": grekko_run, "reference": reference_run, "vectorbt": vectorbt_run}


def _plain(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def measure(
    system: str, workload: str, data: Path, bars: int, verify_bars: int, repeat: int
) -> dict[str, Any]:
    """Load the data, warm up and verify on the prefix, time the full size; return the record."""
    w = WORKLOADS[workload]
    kind = "multi" if w.assets > 1 else "single"
    full = {f: np.load(data / f"{kind}_{f}.npy")[:bars] for f in ("index", *FIELDS)}
    build = BUILDERS[system]
    verify_bars = min(verify_bars, bars)
    prefix = {f: v[:verify_bars] for f, v in full.items()}
    run, info = build(w, prefix)
    setup_rss = peak_rss_mb()
    t = time.perf_counter()
    run()
    first = time.perf_counter() - t
    warm = []
    for _ in range(2):
        gc.collect()
        t = time.perf_counter()
        v_equity, v_trades, _ = run()
        warm.append(time.perf_counter() - t)
    if verify_bars < bars:
        del run, prefix
        gc.collect()
        run, info = build(w, full)
    del full
    gc.collect()
    extra = info.pop("extra", {})
    times: list[float] = []
    splits: dict[str, list[float]] = {}
    for _ in range(repeat):
        # vectorbt's objects hold reference cycles: without a collection the
        # previous run's arrays are still alive during the next one.
        gc.collect()
        t = time.perf_counter()
        equity, trades, split = run()
        times.append(time.perf_counter() - t)
        for phase, seconds in split.items():
            splits.setdefault(phase, []).append(seconds)
    rss = peak_rss_mb()  # before the extra runs: the workload's own peak
    extra_s = {}
    for name, extra_run in extra.items():
        extra_run()  # warm
        spent = []
        for _ in range(repeat):
            gc.collect()
            t = time.perf_counter()
            extra_run()
            spent.append(time.perf_counter() - t)
        extra_s[name] = statistics.median(spent)
    return {
        "system": system,
        "extra_s": extra_s,
        "workload": workload,
        "bars": bars,
        "assets": w.assets,
        "verify_bars": verify_bars,
        "median_s": statistics.median(times),
        "times_s": times,
        "split_s": {p: statistics.median(v) for p, v in splits.items()},
        "first_call_s": first,
        "compile_s": max(first - statistics.median(warm), 0.0),
        "final_equity": _plain(equity),
        "n_trades": _plain(trades),
        "verify_final_equity": _plain(v_equity),
        "verify_n_trades": _plain(v_trades),
        "rss_mb": rss,
        "extra_rss_mb": peak_rss_mb(),
        "setup_rss_mb": setup_rss,
        **info,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--system", choices=sorted(BUILDERS), required=True)
    parser.add_argument("--workload", choices=sorted(WORKLOADS), required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--bars", type=int, required=True)
    parser.add_argument("--verify-bars", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    record = measure(
        args.system, args.workload, args.data, args.bars, args.verify_bars, args.repeat
    )
    print(json.dumps(record))


if __name__ == "__main__":
    main()
