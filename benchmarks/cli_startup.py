"""How long ``grekko --help`` and ``grekko backtest`` take to start, against references.

Each command runs in a fresh interpreter, alternated with its references so a busy machine
slows all alike; the script prints medians and ratios:

* ``grekko --help`` against a bare interpreter (``python -c pass``) and against importing
  every subcommand module (what ``--help`` cost before subcommands were imported lazily);
* ``grekko backtest --help`` (imports the backtest command only).

Run: ``.venv/bin/python benchmarks/cli_startup.py [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

MODULES = ("run", "backtest", "sweep", "compare", "regress", "promote", "strategies", "data")

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "grekko --help": [sys.executable, "-m", "grekko_research.cli", "--help"],
    "grekko backtest --help": [sys.executable, "-m", "grekko_research.cli", "backtest", "--help"],
    "import every subcommand": [
        sys.executable,
        "-c",
        ";".join(f"import grekko_research.cli.{m}" for m in MODULES),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    env = {**os.environ, "COLUMNS": "80"}
    for _ in range(args.repeat):
        for name, cmd in CASES.items():
            start = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            times[name].append(time.perf_counter() - start)
    median = {name: statistics.median(t) for name, t in times.items()}
    base = median["python -c pass"]
    eager = median["import every subcommand"]
    print(f"{'case':28} {'median':>9} {'× bare python':>14} {'× eager imports':>16}")
    for name, value in median.items():
        print(f"{name:28} {value:8.3f}s {value / base:13.1f}× {value / eager:15.2f}×")


if __name__ == "__main__":
    main()
