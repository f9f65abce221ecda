"""Wall time of ``grekko backtest`` (the README's default: sma_cross on 5,482 BTC/USDT 1h bars).

Every case runs in a fresh interpreter, alternated with the others so a busy machine
slows all alike; the script prints medians and ratios:

* ``engine part`` — the reference: compose the default configuration and run the
  backtest (imports, data load, numba cache load, signals, simulation), what the
  engine and config packages cost before the command line writes anything (it also pays
  the interpreter's teardown, which the command skips once it has handed its work on);
* ``grekko backtest --wait`` — everything before returning: run folder, tearsheet
  (plotly page + PNG), MLflow run (what the command did before background finishing);
* ``grekko backtest`` — the default: the numbers written and summarised, the tearsheet
  and the MLflow run written by a detached child; ``… until recorded`` is the time
  from the start until that child has finished (its ledger entry gone), checked to
  have succeeded.

The data are imported from ``$GREKKO_SHARED_DATA`` (default ``../shared/data``) into a
temporary store; runs and the MLflow database go to a temporary folder. The first
backtest (numba cache, MLflow database creation) is run once and not counted.

Run: ``.venv/bin/python benchmarks/cli_backtest.py [--repeat 5]``.
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

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz"
GREKKO = [sys.executable, "-m", "grekko_research.cli"]
ENGINE_PART = (
    "from grekko_research.config import compose_config\n"
    "from grekko_research.runs import run_backtest\n"
    "run_backtest(compose_config([]))\n"
)


def _wait_recorded(runs: Path, timeout: float = 120.0) -> float:
    """Return when the runs folder's ledger is empty; raise if a background finish failed."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        entries = list((runs / ".pending").glob("*.json"))
        if not entries:
            return time.perf_counter()
        for entry in entries:
            doc = json.loads(entry.read_text(encoding="utf-8") or "{}")
            if doc.get("state") == "failed":
                raise SystemExit(f"background finish failed: {doc.get('error')} ({entry})")
        time.sleep(0.01)
    raise SystemExit(f"background finish still running after {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    shared = Path(os.environ.get("GREKKO_SHARED_DATA", ROOT.parent / "shared" / "data"))
    with tempfile.TemporaryDirectory(prefix="grekko-bench-") as tmp:
        store, runs = Path(tmp) / "data", Path(tmp) / "runs"
        env = {**os.environ, "COLUMNS": "80", "GREKKO_DATA_DIR": str(store)}
        for name in ("MLFLOW_TRACKING_URI", "GREKKO_RUNS_DIR"):
            env.pop(name, None)
        subprocess.run(
            [*GREKKO, "data", "import", str(shared / SOURCE)], check=True, capture_output=True,
            env=env,
        )  # fmt: skip
        backtest = [*GREKKO, "backtest", "--output-dir", str(runs)]
        cases = {
            "engine part": [sys.executable, "-c", ENGINE_PART],
            "grekko backtest --wait": [*backtest, "--wait"],
            "grekko backtest": backtest,
        }
        subprocess.run(cases["grekko backtest --wait"], check=True, capture_output=True, env=env)
        times: dict[str, list[float]] = {name: [] for name in [*cases, "… until recorded"]}
        for _ in range(args.repeat):
            for name, cmd in cases.items():
                start = time.perf_counter()
                subprocess.run(cmd, check=True, capture_output=True, env=env)
                times[name].append(time.perf_counter() - start)
                if name == "grekko backtest":
                    times["… until recorded"].append(_wait_recorded(runs) - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    ref, waited = median["engine part"], median["grekko backtest --wait"]
    print(f"{'case':24} {'median':>8} {'min':>8} {'× engine part':>14} {'× --wait':>9} "
          f"{'beyond engine':>14}")  # fmt: skip
    for name, value in median.items():
        print(
            f"{name:24} {value:7.3f}s {min(times[name]):7.3f}s {value / ref:13.2f}× "
            f"{value / waited:8.2f}× {value - ref:+13.3f}s"
        )
    print("(medians; min is the least disturbed run on a shared machine)")


if __name__ == "__main__":
    main()
