"""What a fresh process pays before the engine does useful work: imports, first calls, W2's memory.

Run: ``.venv/bin/python benchmarks/engine_startup.py [--repeat 5] [--bars 100000] [--tree DIR]``

Every measurement runs in a fresh interpreter (this file re-run with ``--child CASE``), all
sharing one numba cache directory (a temporary one unless ``--cache-dir``). Each case runs
once first to fill the cache (its compile time is shown), then ``--repeat`` times warm; the
table gives medians:

* ``import``: ``import grekko_research.engine`` — wall time and the RSS it adds to a bare
  interpreter with numpy, and whether pandas came with it (it should not);
* ``backtest``: the first ``backtest()`` (SMA-cross signals built with numpy, so the call pays
  numba's start-up itself) on ``--bars`` one-minute bars, then its ``metrics``; the second
  call's time beside it; ``kernel="general"`` likewise (with a stop-loss);
* ``run_grid``: the first ``run_grid()`` (the W2 grid, 100 combinations, on ``--bars``) with
  its signal kernel and result frame; pandas (which the frame needs, and which the engine's
  import no longer brings) is imported just before and timed apart;
* in every case, the numba functions that compiled in the warm process (``numba:compile``
  events): there should be none — a dispatcher compiled per call or per process (a closure, a
  literal, a new type) shows up here.

Then W2 at full size (1M bars × 100 combinations, ``metrics="trades"`` as in
``benchmarks/engine.py``): peak RSS (``VmHWM``) against three baselines measured in the same
process — after the imports (engine, grid, pandas for the result frame) and the data; after
numba's runtime has started (its first call anywhere loads its lowering registries, about
60 MB that any numba user pays once); and after a warm-up grid on 10k bars (kernels loaded).

``--tree`` measures another checkout's ``grekko_research`` (e.g. main's) with the same data.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FIELDS = ("open", "high", "low", "close", "volume")
W2_BARS = 1_000_000


# -- child side -------------------------------------------------------------------------


def _status(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _reset_peak() -> None:
    """Start a new high-water mark (``VmHWM``) from the current RSS (Linux ``clear_refs``)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _bars(data: Path, n: int) -> Any:
    import numpy as np

    from grekko_research.data.bars import Bars

    # Copies of the prefix: a view would keep the whole 1M-bar file in memory.
    a = {f: np.load(data / f"single_{f}.npy")[:n].copy() for f in ("index", *FIELDS)}
    return Bars(index=a["index"], symbols=("A0/USDT",), timeframe="1m", **{f: a[f] for f in FIELDS})


def _numpy_signals(close: Any, fast: int, slow: int) -> tuple[Any, Any]:
    """SMA cross with numpy only, so the first engine call pays numba's start-up itself."""
    import numpy as np

    c = np.concatenate(([0.0], np.cumsum(close[:, 0])))
    sma = {w: np.full(len(close), np.nan) for w in (fast, slow)}
    for w, out in sma.items():
        out[w - 1 :] = (c[w:] - c[:-w]) / w
    f, s = sma[fast], sma[slow]
    above = np.nan_to_num(f - s, nan=0.0)
    entries = (above > 0) & (np.roll(above, 1) <= 0)
    exits = (above < 0) & (np.roll(above, 1) >= 0)
    entries[0] = exits[0] = False
    return entries, exits


def _compiles() -> Any:
    """Record ``numba:compile`` events (a compile, not a cache load) from now on."""
    from numba.core import event

    recorder = event.RecordingListener()
    event.register("numba:compile", recorder)
    return recorder


def _compiled(recorder: Any) -> list[str]:
    names = []
    for _, ev in recorder.buffer:
        if ev.is_start:
            names.append(getattr(ev.data["dispatcher"], "__qualname__", "?"))
    return sorted(set(names))


def child(case: str, data: Path, bars_n: int) -> dict[str, Any]:
    """Run one case in this (fresh) process; return its measurements."""
    sys.path.insert(0, str(HERE))
    out: dict[str, Any] = {"case": case}
    import numpy  # noqa: F401 - the reference: an interpreter with numpy

    out["rss_numpy"] = _status("VmRSS")
    if case == "w2":
        return _w2(data, out)
    t, cpu = time.perf_counter(), time.process_time()
    import grekko_research.engine as engine

    out["import_s"] = time.perf_counter() - t
    out["import_cpu"] = time.process_time() - cpu
    out["rss_import"] = _status("VmRSS")
    out["pandas_after_import"] = "pandas" in sys.modules
    if case == "import":
        return out
    recorder = _compiles()
    bars = _bars(data, bars_n)
    config = engine.EngineConfig(init_cash=10_000.0, fees=engine.Fees(taker=0.001, maker=0.001))
    if case in ("backtest", "general"):
        entries, exits = _numpy_signals(bars.close, 10, 50)
        kwargs: dict[str, Any] = {}
        if case == "general":
            config = engine.EngineConfig(
                init_cash=10_000.0,
                fees=engine.Fees(taker=0.001, maker=0.001),
                stops=engine.Stops(stop_loss=0.02),
            )
            kwargs["kernel"] = "general"

        def call() -> Any:
            res = engine.backtest(bars, engine.Signals(entries, exits), config, **kwargs)
            return res.final_equity, res.n_trades, res.kernel, res

        t, cpu = time.perf_counter(), time.process_time()
        *_, res = call()
        out["first_s"] = time.perf_counter() - t
        out["first_cpu"] = time.process_time() - cpu
        t = time.perf_counter()
        res.metrics  # noqa: B018 - the first metrics (replays a lean run for its equity)
        out["metrics_s"] = time.perf_counter() - t
        t = time.perf_counter()
        call()[3].metrics  # noqa: B018
        out["second_s"] = time.perf_counter() - t
        out["kernel"] = res.kernel
    elif case == "run_grid":
        from _engine_workloads import grid_params, sma_cross_grid_kernel

        from grekko_research.engine.grid import run_grid

        params = grid_params()
        t = time.perf_counter()
        import pandas  # noqa: F401 - the result frame's import, timed apart (an import, not the call)

        out["pandas_s"] = time.perf_counter() - t
        t, cpu = time.perf_counter(), time.process_time()
        table = run_grid(bars, sma_cross_grid_kernel, params, config, metrics="trades")
        out["first_s"] = time.perf_counter() - t
        out["first_cpu"] = time.process_time() - cpu  # all threads: up to 2x wall on 2 cores
        t = time.perf_counter()
        again = run_grid(bars, sma_cross_grid_kernel, params, config, metrics="trades")
        out["second_s"] = time.perf_counter() - t
        assert again.equals(table)
        out["kernel"] = "grid"
    out["compiled"] = _compiled(recorder)
    out["rss_end"] = _status("VmRSS")
    out["pandas_at_end"] = "pandas" in sys.modules
    return out


def _w2(data: Path, out: dict[str, Any]) -> dict[str, Any]:
    import gc

    import numpy as np
    import pandas  # noqa: F401 - the result is a DataFrame: part of what the process imports
    from _engine_workloads import FEE, INIT_CASH, grid_params, sma_cross_grid_kernel

    from grekko_research.engine import EngineConfig, Fees, Sizing
    from grekko_research.engine.grid import run_grid
    from grekko_research.metrics.equity import total_return

    bars = _bars(data, W2_BARS)
    small = _bars(data, 10_000)
    config = EngineConfig(
        init_cash=INIT_CASH, fees=Fees(taker=FEE, maker=FEE), sizing=Sizing("all")
    )
    params = grid_params()
    gc.collect()
    out["base_import"] = _status("VmRSS")
    total_return(np.ones(3))  # numba's runtime starts (lowering registries), kernels aside
    out["base_numba"] = _status("VmRSS")
    run_grid(small, sma_cross_grid_kernel, params, config, metrics="trades")
    gc.collect()
    out["base_warm"] = _status("VmRSS")
    _reset_peak()
    times = []
    for _ in range(2):
        t = time.perf_counter()
        table = run_grid(bars, sma_cross_grid_kernel, params, config, metrics="trades")
        times.append(time.perf_counter() - t)
        gc.collect()
    out["peak"] = _status("VmHWM")
    out["w2_s"] = min(times)
    out["n_trades"] = int(table["n_trades"].sum())
    out["equity_sum"] = float(table["final_equity"].sum())
    return out


# -- parent side ------------------------------------------------------------------------


def _spawn(case: str, data: Path, bars: int, tree: Path, cache: Path) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tree), env.get("PYTHONPATH")) if p)
    env["NUMBA_CACHE_DIR"] = str(cache)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", case, "--data", str(data)]
    cmd += ["--bars", str(bars)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{case} failed:\n{proc.stderr[-3000:]}")
    record: dict[str, Any] = json.loads(lines[-1])
    record["wall_s"] = wall
    return record


def _median(records: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in records)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="warm processes per case (median)")
    parser.add_argument("--bars", type=int, default=100_000, help="bars of the first-call cases")
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout to measure")
    parser.add_argument("--cache-dir", type=Path, help="numba cache to use (default: a new one)")
    parser.add_argument("--no-w2", action="store_true", help="skip the 1M-bar W2 memory run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.bars)))
        return
    if not (args.tree / "grekko_research").is_dir():
        parser.error(f"--tree {args.tree}: no grekko_research package there")
    sys.path.insert(0, str(HERE))
    import numpy as np
    from _engine_workloads import make_ohlcv

    tree = args.tree.resolve()
    with tempfile.TemporaryDirectory(prefix="grekko-startup-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        for field, values in make_ohlcv(max(W2_BARS, args.bars), 1).items():
            np.save(data / f"single_{field}.npy", values)
        cache = args.cache_dir or Path(tmp) / "numba"
        print(f"tree {tree}, numba cache {cache}, {args.repeat} warm processes per case")
        cases = ("import", "backtest", "general", "run_grid")
        rows = {}
        for case in cases:
            cold = _spawn(case, data, args.bars, tree, cache)
            warm = [_spawn(case, data, args.bars, tree, cache) for _ in range(args.repeat)]
            rows[case] = (cold, warm)
            print(
                f"  {case:<9} cold {cold['wall_s']:6.1f} s, warm {_median(warm, 'wall_s'):5.2f} s"
            )
        _print_table(rows, args.bars)
        if not args.no_w2:
            _spawn("w2", data, args.bars, tree, cache)  # warm the cache of the 1M-bar shapes
            _print_w2(_spawn("w2", data, args.bars, tree, cache))


def _print_table(rows: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]], bars: int) -> None:
    _, imp = rows["import"]
    base = _median(imp, "rss_numpy")
    print()
    print(
        f"{'fresh process (warm numba cache, median)':<48}{'wall s':>7}{'cpu s':>7}{'RSS MB':>8}"
        "  notes"
    )
    print(
        f"{'python + numpy':<48}{'':>14}{base:8.1f}\n"
        f"{'import grekko_research.engine':<48}{_median(imp, 'import_s'):7.3f}"
        f"{_median(imp, 'import_cpu'):7.3f}"
        f"{_median(imp, 'rss_import'):8.1f}  +{_median(imp, 'rss_import') - base:.1f} MB; "
        f"pandas loaded: {any(r['pandas_after_import'] for r in imp)}"
    )
    labels = {
        "backtest": f"first backtest() ({bars:,} bars, auto)",
        "general": f"first backtest(kernel='general', stop) ({bars:,})",
        "run_grid": f"first run_grid() (100 combos, {bars:,} bars)",
    }
    for case, label in labels.items():
        _, warm = rows[case]
        compiled = sorted({n for r in warm for n in r["compiled"]})
        extra = (
            f"; first .metrics {_median(warm, 'metrics_s'):.3f} s"
            if case != "run_grid"
            else f"; pandas import before it {_median(warm, 'pandas_s'):.3f} s"
        )
        print(
            f"{label:<48}{_median(warm, 'first_s'):7.3f}{_median(warm, 'first_cpu'):7.3f}"
            f"{_median(warm, 'rss_end'):8.1f}  "
            f"second call {_median(warm, 'second_s'):.3f} s{extra}; "
            f"compiled in a warm process: {', '.join(compiled) or 'nothing'}"
        )
    print(
        "  (first-call times are beyond the imports; cpu s is the process's CPU time, which a busy"
        " machine inflates less than wall time; the RSS is the process's at the end)"
    )


def _print_w2(r: dict[str, Any]) -> None:
    print()
    print(f"W2 run_grid, 1M bars x 100 combinations, metrics='trades': {r['w2_s']:.2f} s")
    print(f"  peak RSS {r['peak']:.0f} MB ({r['n_trades']:,} trades)")
    for key, label in (
        ("base_import", "imports (engine, grid, pandas) + 1M bars of data"),
        ("base_numba", "+ numba's runtime started"),
        ("base_warm", "+ a warm-up grid on 10k bars (kernels loaded)"),
    ):
        print(f"  {label:<52}{r[key]:7.0f} MB   peak - this: {r['peak'] - r[key]:6.0f} MB")


if __name__ == "__main__":
    main()
