"""How long ``grekko --help`` and ``grekko backtest --help`` take to start, and their memory.

Each command runs in a fresh interpreter, alternated with its references so a busy machine
slows all alike; the script prints median wall times, ratios and peak RSS (``wait4``):

* ``grekko --help`` against a bare interpreter (``python -c pass``) and against importing
  every subcommand module (what ``--help`` cost before subcommands were imported lazily);
* ``grekko backtest --help`` (imports the backtest command only);
* ``import grekko_research.engine`` — what any backtest pays first (the engine's import
  baseline), with ``--breakdown`` the RSS after each of its heavy dependencies.

Run: ``.venv/bin/python benchmarks/cli_startup.py [--repeat 5] [--breakdown]``.
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
    "import grekko_research.engine": [sys.executable, "-c", "import grekko_research.engine"],
}

# RSS after each step, in one process: what the engine's import baseline is made of.
BREAKDOWN = """
import sys
def rss():
    with open("/proc/self/status") as f:
        return int(f.read().split("VmRSS:")[1].split()[0]) / 1024
steps = ["numpy", "pandas", "pyarrow", "scipy", "numba", "grekko_research.engine"]
last = rss()
print(f"{'interpreter':28} {last:7.1f} MB")
for name in steps:
    __import__(name)
    now = rss()
    print(f"{'+ ' + name:28} {now:7.1f} MB  (+{now - last:.1f})")
    last = now
heavy = ("scipy", "pyarrow", "llvmlite", "matplotlib", "plotly", "mlflow", "hydra", "sklearn")
print("loaded by the engine import:", ", ".join(m for m in heavy if m in sys.modules))
"""


def _run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``cmd``; return its wall time (s) and peak RSS (MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with {proc.returncode}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--breakdown", action="store_true", help="RSS by engine dependency.")
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in CASES}
    peak: dict[str, float] = dict.fromkeys(CASES, 0.0)
    env = {**os.environ, "COLUMNS": "80"}
    for _ in range(args.repeat):
        for name, cmd in CASES.items():
            wall, rss = _run(cmd, env)
            times[name].append(wall)
            peak[name] = max(peak[name], rss)
    median = {name: statistics.median(t) for name, t in times.items()}
    base = median["python -c pass"]
    eager = median["import every subcommand"]
    print(f"{'case':30} {'median':>8} {'min':>8} {'× bare python':>14} {'× eager imports':>16} "
          f"{'peak RSS':>9}")  # fmt: skip
    for name, value in median.items():
        print(
            f"{name:30} {value:7.3f}s {min(times[name]):7.3f}s {value / base:13.1f}× "
            f"{value / eager:15.2f}× {peak[name]:6.0f} MB"
        )
    if args.breakdown:
        print()
        subprocess.run([sys.executable, "-c", BREAKDOWN], check=True, env=env)


if __name__ == "__main__":
    main()
