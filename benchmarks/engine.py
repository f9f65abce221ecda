"""Backtest engine speed: Grekko against a hand-written fused numba loop and vectorbt.

Run: ``.venv/bin/python benchmarks/engine.py [--quick] [--json PATH]``

Seeded synthetic one-minute candles (a random walk with clustered volatility
and realistic OHLC, see ``_engine_workloads.make_ohlcv``); an SMA(fast)/SMA(slow)
cross, long only, 0.1 % fee, decisions at a bar's close filled at the next
open:

* W1: SMA(10)/SMA(50), all-in, 1M bars;
* W2: the grid fast 5..50 step 5 × slow 20..200 step 20 (100 combinations), 1M bars;
* W3: 20 assets × 500k bars, one portfolio with shared cash, a fixed notional
  of init_cash/20 per entry;
* W4: W1 plus a 2 % stop-loss and a 4 % take-profit.

Each workload runs through three systems, **each in its own process**
(``_engine_worker.py``): Grekko's public API (``sma_cross_signals_nb`` +
``backtest``, or ``run_grid`` for W2), the fused reference loop (rolling sums,
crossover test and cash/position update in one numba pass — the speed of
light for these semantics; W2 parallel over combinations with ``prange``),
and vectorbt (``vbt.MA`` crosses + ``Portfolio.from_signals`` configured as in
``tests/parity/SEMANTICS.md``). Reported per system: the median of the warm
runs at full size, the JIT compile time (first call minus the warm median, on
the 100k-bar prefix), and the process's peak RSS.

``--systems reference,grekko`` leaves vectorbt out (its runs take most of the
time); ``--tree PATH`` measures another checkout's ``grekko_research`` with the
same data and workers (run main's and a branch's back to back, per workload, to
compare them under the same load).

Agreement — same trade count and final equity to a relative 1e-9 — is checked
on the first 100k bars. At full size all-in compounding with 0.1 % fees drives
the equity towards zero, where the engines' dust rules (minimum order size,
float residues) decide different trades; the full-size numbers are shown too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _engine_workloads import N_ASSETS_W3, WORKLOADS, grid_params, make_ohlcv

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

SYSTEMS = ("reference", "grekko", "vectorbt")  # run order
SHOWN = ("grekko", "reference", "vectorbt")  # column order in the tables
FULL = {"W1": 1_000_000, "W2": 1_000_000, "W3": 500_000, "W4": 1_000_000}
QUICK = {"W1": 200_000, "W2": 100_000, "W3": 50_000, "W4": 200_000}
VERIFY_BARS = 100_000
RTOL = 1e-9
# vectorbt's W2 holds about this many bytes per bar and combination at its
# peak (MA outputs, crossings, the close broadcast to every column, records).
VBT_GRID_BYTES = 70


def write_data(folder: Path, sizes: dict[str, int]) -> None:
    """Write the candles every workload needs as ``.npy`` files (generated once, loaded by workers)."""
    single = max((n for w, n in sizes.items() if WORKLOADS[w].assets == 1), default=0)
    multi = max((n for w, n in sizes.items() if WORKLOADS[w].assets > 1), default=0)
    for kind, n, k in (("single", single, 1), ("multi", multi, N_ASSETS_W3)):
        if n:
            for field, values in make_ohlcv(n, k).items():
                np.save(folder / f"{kind}_{field}.npy", values)


def run_worker(
    system: str, workload: str, bars: int, data: Path, repeat: int, cold: bool, tree: Path = ROOT
) -> dict[str, Any]:
    """Run one system on one workload in a fresh interpreter; return its record (or the error).

    ``tree`` is the checkout whose ``grekko_research`` the worker imports (to compare two
    versions of the engine in one session with the same data and load).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tree), env.get("PYTHONPATH")) if p)
    opts = {
        "--system": system,
        "--workload": workload,
        "--data": data,
        "--bars": bars,
        "--verify-bars": VERIFY_BARS,
        "--repeat": repeat,
    }
    cmd = [sys.executable, str(HERE / "_engine_worker.py")]
    cmd += [str(x) for pair in opts.items() for x in pair]
    with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
        if cold:
            env["NUMBA_CACHE_DIR"] = cache
        proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"system": system, "workload": workload, "error": " | ".join(tail)}
    record: dict[str, Any] = json.loads(lines[-1])
    return record


def _agreement(records: dict[str, dict[str, Any]], prefix: str) -> dict[str, Any]:
    """Compare trade counts and final equities (scalars, or one per grid combination)."""
    ok = {s: r for s, r in records.items() if "error" not in r and "skipped" not in r}
    trades = {s: np.atleast_1d(np.asarray(r[f"{prefix}n_trades"])) for s, r in ok.items()}
    equity = {
        s: np.atleast_1d(np.asarray(r[f"{prefix}final_equity"], float)) for s, r in ok.items()
    }
    worst, mismatched = 0.0, 0
    names = list(ok)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            diff = np.abs(equity[a] - equity[b])
            scale = np.maximum(np.abs(equity[a]), np.abs(equity[b]))
            rel = np.where(diff == 0.0, 0.0, diff / np.where(scale > 0.0, scale, 1.0))
            worst = max(worst, float(rel.max()))
            bad = (trades[a] != trades[b]) | (rel > RTOL)
            mismatched = max(mismatched, int(bad.sum()))
    return {
        "agree": len(ok) == len(records) and len(ok) > 1 and mismatched == 0,
        "max_rel_diff": worst,
        "mismatched_combos": mismatched,
        "n_trades": {s: int(v.sum()) for s, v in trades.items()},
        "final_equity": {s: float(v.sum()) for s, v in equity.items()},
    }


def summarise(
    workload: str, records: dict[str, dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    """Merge the three records of a workload into the JSON row."""
    w = WORKLOADS[workload]
    g, r, v = (records.get(s, {}) for s in SHOWN)

    def get(rec: dict[str, Any], key: str, sub: str | None = None) -> float:
        value = rec.get(key, math.nan) if sub is None else rec.get(key, {}).get(sub, math.nan)
        return float(value) if value is not None else math.nan

    grekko_s, reference_s, vectorbt_s = (get(x, "median_s") for x in (g, r, v))
    verify = _agreement(records, "verify_")
    full = _agreement(records, "")
    trades = g.get("n_trades")
    return {
        "workload": workload,
        "title": w.title,
        "bars": (g or r or v).get("bars", 0),
        "assets": w.assets,
        "combos": len(grid_params()) if w.grid else 1,
        "verify_bars": (g or r or v).get("verify_bars", 0),
        "grekko_s": grekko_s,
        "grekko_signals_s": get(g, "split_s", "signals"),
        "grekko_backtest_s": get(g, "split_s", "backtest"),
        "grekko_compile_s": get(g, "compile_s"),
        "grekko_first_call_s": get(g, "first_call_s"),
        "grekko_all_metrics_s": get(g, "extra_s", "all_metrics"),
        "grekko_all_metrics_rss_mb": get(g, "extra_rss_mb"),
        "reference_s": reference_s,
        "reference_compile_s": get(r, "compile_s"),
        "vectorbt_s": vectorbt_s,
        "vectorbt_signals_s": get(v, "split_s", "signals"),
        "vectorbt_portfolio_s": get(v, "split_s", "portfolio"),
        "vectorbt_compile_s": get(v, "compile_s"),
        "ratio_vs_reference": grekko_s / reference_s,
        "speedup_vs_vectorbt": vectorbt_s / grekko_s,
        "grekko_rss_mb": get(g, "rss_mb"),
        "reference_rss_mb": get(r, "rss_mb"),
        "vectorbt_rss_mb": get(v, "rss_mb"),
        "grekko_setup_rss_mb": get(g, "setup_rss_mb"),
        "reference_setup_rss_mb": get(r, "setup_rss_mb"),
        "vectorbt_setup_rss_mb": get(v, "setup_rss_mb"),
        "n_trades": None if trades is None else int(np.sum(trades)),
        "agree": verify["agree"],
        "verify": verify,
        "agree_full": full["agree"],
        "full": full,
        "grid_api": g.get("grid_api", ""),
        "errors": {
            s: x.get("error") or x.get("skipped")
            for s, x in records.items()
            if "error" in x or "skipped" in x
        },
        "repeat": args.repeat,
        "quick": args.quick,
        "cpus": os.cpu_count(),
        "numba_cache": "cold (fresh per process)" if args.cold_cache else "as configured",
    }


def _no_nan(x: Any) -> Any:
    """Replace NaN by None (null) so the JSON file is strict JSON."""
    if isinstance(x, float) and x != x:
        return None
    if isinstance(x, dict):
        return {k: _no_nan(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_no_nan(v) for v in x]
    return x


def _fmt(x: float, digits: int = 3) -> str:
    if x != x:
        return "-"
    return f"{x:.{digits}f}" if x < 100 else f"{x:,.0f}"


def print_tables(rows: list[dict[str, Any]], args: argparse.Namespace, seconds: float) -> None:
    """Print the speed table, the memory/agreement table and the notes."""
    cache = os.environ.get("NUMBA_CACHE_DIR", "numba default")
    print()
    print(
        f"Engine benchmark: {os.cpu_count()} CPUs, median of {args.repeat} warm runs, "
        f"numba cache {'cold (fresh per process)' if args.cold_cache else cache}, "
        f"grekko from {args.tree.resolve()}"
    )
    head = (
        f"{'':4}{'bars':>11}{'grekko s':>10}{'signals':>9}{'backtest':>9}{'compile':>9}"
        f"{'ref s':>9}{'vbt s':>9}{'vbt cmp':>9}{'g/ref':>7}{'vbt/g':>7}"
    )
    print(head)
    for row in rows:
        bars = f"{row['bars']:,}" + (f"x{row['assets']}" if row["assets"] > 1 else "")
        split = row["grekko_signals_s"], row["grekko_backtest_s"]
        print(
            f"{row['workload']:<4}{bars:>11}{_fmt(row['grekko_s'], 4):>10}"
            f"{_fmt(split[0], 4):>9}{_fmt(split[1], 4):>9}{_fmt(row['grekko_compile_s'], 2):>9}"
            f"{_fmt(row['reference_s'], 4):>9}{_fmt(row['vectorbt_s'], 3):>9}"
            f"{_fmt(row['vectorbt_compile_s'], 2):>9}{_fmt(row['ratio_vs_reference'], 1):>7}"
            f"{_fmt(row['speedup_vs_vectorbt'], 1):>7}"
        )
    print()
    print(
        f"{'':4}{'peak RSS MB  grekko':>20}{'ref':>7}{'vbt':>7}   trades g/ref/vbt @verify"
        f"{'max rel':>11}  agree   at full size"
    )
    for row in rows:
        ver, full = row["verify"], row["full"]
        counts = "/".join(str(ver["n_trades"].get(s, "-")) for s in SHOWN)
        fcounts = "/".join(str(full["n_trades"].get(s, "-")) for s in SHOWN)
        label = f"{counts} @{row['verify_bars'] // 1000}k"
        print(
            f"{row['workload']:<4}{_fmt(row['grekko_rss_mb'], 0):>20}{_fmt(row['reference_rss_mb'], 0):>7}"
            f"{_fmt(row['vectorbt_rss_mb'], 0):>7}   {label:<26}{ver['max_rel_diff']:>9.1e}  "
            f"{'yes' if row['agree'] else 'NO':<6}  {'same' if row['agree_full'] else 'differ'}: "
            f"{fcounts}"
        )
    print()
    for note in (
        "grekko s = signals (sma_cross_signals_nb) + backtest; W2: one run_grid call (signals inside)",
        "compile = first call - warm median, on the verify prefix; with a warm numba cache Grekko's",
        "  is the cache load (--cold-cache: real JIT); vectorbt's from_signals is never cached",
        "g/ref = grekko / fused reference loop; vbt/g = vectorbt / grekko (above 1: Grekko faster)",
    ):
        print(note)
    for row in rows:
        if row["grekko_all_metrics_s"] == row["grekko_all_metrics_s"]:
            print(
                f"{row['workload']}: run_grid(metrics='trades') timed (final equity, trades, trade"
                f" statistics); with every metric (metrics='all'): {row['grekko_all_metrics_s']:.3f} s,"
                f" peak RSS {row['grekko_all_metrics_rss_mb']:.0f} MB"
            )
        print(
            f"{row['workload']}: Grekko's first call in a fresh process (numba cache as configured):"
            f" {row['grekko_first_call_s']:.2f} s"
        )
        if row["grid_api"] and row["grid_api"] != "run_grid":
            print(f"{row['workload']}: grid API missing, Grekko ran {row['grid_api']}")
        for system, error in row["errors"].items():
            print(f"{row['workload']} {system}: {error}")
    print(f"whole run: {seconds:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes)")
    parser.add_argument("--json", type=Path, help="write one object per workload to this file")
    parser.add_argument("--repeat", type=int, default=5, help="warm runs per system (median)")
    parser.add_argument("--workloads", default="W1,W2,W3,W4", help="comma-separated subset")
    parser.add_argument(
        "--cold-cache",
        action="store_true",
        help="give every process an empty numba cache (true compile times)",
    )
    parser.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help="comma-separated subset of reference,grekko,vectorbt (vectorbt is the slowest)",
    )
    parser.add_argument(
        "--tree",
        type=Path,
        default=ROOT,
        help="checkout whose grekko_research is measured (default: this one), e.g. main's",
    )
    args = parser.parse_args()
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if set(systems) - set(SYSTEMS):
        parser.error(
            f"unknown systems {sorted(set(systems) - set(SYSTEMS))}; choose from {SYSTEMS}"
        )
    if not (args.tree / "grekko_research").is_dir():
        parser.error(f"--tree {args.tree}: no grekko_research package there")
    if args.repeat < 5:
        parser.error("--repeat must be at least 5 (median of >= 5 warm runs)")
    chosen = [w.strip() for w in args.workloads.split(",") if w.strip()]
    unknown = set(chosen) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads {sorted(unknown)}; choose from {sorted(WORKLOADS)}")
    sizes = {w: (QUICK if args.quick else FULL)[w] for w in chosen}
    start = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="grekko-bench-") as tmp:
        data = Path(tmp)
        print(
            f"generating data: {', '.join(f'{w} {n:,} bars' for w, n in sizes.items())}", flush=True
        )
        write_data(data, sizes)
        step, total = 0, len(chosen) * len(systems)
        for workload in chosen:
            records: dict[str, dict[str, Any]] = {}
            for system in (s for s in SYSTEMS if s in systems):
                step += 1
                n = sizes[workload]
                need = VBT_GRID_BYTES * n * len(grid_params()) / 2**30
                if (
                    system == "vectorbt"
                    and WORKLOADS[workload].grid
                    and need * 1.5 > psutil.virtual_memory().available / 2**30
                ):
                    records[system] = {"skipped": f"skipped: needs ~{need:.0f} GB of memory"}
                    print(
                        f"[{step:>2}/{total}] {workload} {system:<9} {records[system]['skipped']}"
                    )
                    continue
                t = time.perf_counter()
                rec = run_worker(
                    system, workload, n, data, args.repeat, args.cold_cache, args.tree.resolve()
                )
                records[system] = rec
                if "error" in rec:
                    print(
                        f"[{step:>2}/{total}] {workload} {system:<9} FAILED: {rec['error']}",
                        flush=True,
                    )
                    continue
                print(
                    f"[{step:>2}/{total}] {workload} {system:<9} {rec['median_s']:9.4f} s  "
                    f"compile {rec['compile_s']:6.2f} s  RSS {rec['rss_mb']:7.0f} MB  "
                    f"({time.perf_counter() - t:.0f} s)",
                    flush=True,
                )
            rows.append(summarise(workload, records, args))
    print_tables(rows, args, time.perf_counter() - start)
    if args.json:
        args.json.write_text(json.dumps(_no_nan(rows), indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
