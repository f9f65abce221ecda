"""Peak memory of a large study's end-of-sweep reads and of its overfitting statistics.

A sweep ends by reading its full-sample study: the trial table, and every scored trial's
daily returns for the overfitting statistics. Before, each trial carried its series as an
Optuna user attribute, so loading the study loaded every series (base64 text) with it; now
the series live in ``grekko_trial_series`` (``grekko_research/optimize/series.py``) and are
read once, straight into the float matrix.

For each size (1k and 10k trials; ``--full`` adds 100k) and each layout, one process writes
a journal-file study of that many finished trials (two parameters, a value, the trial's
metrics, a year of daily returns: 365 values), and a fresh process then does what the end of
a sweep does and reports its peak RSS above the interpreter with its imports loaded:

* ``study``: load the study, list its trials, build the trial table;
* ``+ returns``: then the ``(365, N)`` returns matrix and every trial's Sharpe ratio (what
  DSR and PBO start from).

The second table is the statistics path itself (DSR, effective trials, PBO: what
``trial_statistics`` computes from the series table) on a series table of N trials: twenty
strategies, each trial a noisy copy of one (a sweep's neighbouring parameters), a year of
days. Each mode runs in a fresh process that has imported and warmed the statistics code
(numba kernel loaded, scipy/sklearn imported) before its baseline:

* ``before``: the whole ``(365, N)`` matrix read from the table and the exact clustering
  (``O(N^2)`` memory, about ``O(N^3)`` time: run only up to ``--before-max`` trials, 2,000);
* ``matrix``: the whole matrix read and only the Sharpe ratios and PBO computed from it (no
  clustering): what the matrix alone costs, at every size;
* ``streamed``: now: ``trial_statistics`` on ``TrialSeriesStore.columns`` (a chunk of 2,000
  trials at a time, effective trials exact up to 1,000 and sampled beyond).

    .venv/bin/python benchmarks/studies_memory.py            # 1k, 10k
    .venv/bin/python benchmarks/studies_memory.py --full     # + 100k (minutes; ~2 GB disk in tmp)
    .venv/bin/python benchmarks/studies_memory.py --part stats --full   # the statistics only
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAYS = 365
LAYOUTS = ("user_attrs", "series_table")


def build(folder: Path, n: int, layout: str) -> None:
    """Write a study of ``n`` complete trials in ``folder`` (the layout's way)."""
    import numpy as np
    import optuna
    from optuna.distributions import IntDistribution
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState, create_trial

    from grekko_research.optimize.evaluate import _pack
    from grekko_research.optimize.series import TrialSeriesStore, series_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = folder / "optuna.log"
    study = optuna.create_study(study_name="big/full", direction="maximize",
                                storage=JournalStorage(JournalFileBackend(str(path))))  # fmt: skip
    rng = np.random.default_rng(0)
    dist = {"fast": IntDistribution(2, 100), "slow": IntDistribution(5, 400)}
    series = (
        TrialSeriesStore(series_url(str(path), str(folder))) if layout != "user_attrs" else None
    )
    batch, pending = 5000, []
    for lo in range(0, n, batch):
        trials, blobs = [], []
        for i in range(lo, min(lo + batch, n)):
            returns = rng.normal(0.0005, 0.02, DAYS)
            result = {"sharpe_ratio": float(rng.normal()), "total_return": float(rng.normal()),
                      "max_drawdown": -abs(float(rng.normal())) / 4, "trade_count": 40.0}  # fmt: skip
            if series is None:
                result["daily_returns"] = _pack(returns)
            else:
                result["series"] = True
                blobs.append((i, returns))
            trials.append(create_trial(
                params={"fast": int(rng.integers(2, 100)), "slow": int(rng.integers(5, 400))},
                distributions=dist, value=result["sharpe_ratio"], state=TrialState.COMPLETE,
                user_attrs={"result": result},
            ))  # fmt: skip
        study.add_trials(trials)
        pending.extend(blobs)
        if series is not None:
            series.put_many("big/full", pending)
            pending.clear()


def measure(folder: Path) -> dict[str, float]:
    """Read the study as the end of a sweep does; peak RSS (MB) above the imports."""
    import resource

    import numpy as np
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    from grekko_research.optimize.evaluate import _unpack
    from grekko_research.optimize.series import open_series, series_url

    def peak() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = peak()
    t0 = time.perf_counter()
    path = folder / "optuna.log"
    study = optuna.load_study(study_name="big/full",
                              storage=JournalStorage(JournalFileBackend(str(path))))  # fmt: skip
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    frame = study.trials_dataframe(attrs=("number", "value", "params", "user_attrs"))
    del frame
    after_study = peak()
    numbers = [t.number for t in trials]
    if "daily_returns" in trials[0].user_attrs["result"]:
        matrix = np.column_stack([_unpack(t.user_attrs["result"]["daily_returns"]) for t in trials])
    else:
        store = open_series(series_url(str(path), str(folder)))
        matrix = store.matrix("big/full", numbers)
    sharpes = matrix.mean(axis=0) / matrix.std(axis=0, ddof=1)
    if matrix.shape != (DAYS, len(trials)) or not np.isfinite(sharpes).all():
        raise RuntimeError(f"unexpected returns matrix {matrix.shape}")
    return {"study_mb": after_study - base, "peak_mb": peak() - base, "imports_mb": base,
            "seconds": time.perf_counter() - t0}  # fmt: skip


STATS_MODES = ("before", "matrix", "streamed")
STUDY = "big/full"


def build_series(folder: Path, n: int) -> None:
    """Write a series table of ``n`` trials: noisy copies of 20 strategies, a year of days."""
    import numpy as np

    from grekko_research.optimize.series import TrialSeriesStore, series_url

    store = TrialSeriesStore(series_url(None, str(folder)))
    rng = np.random.default_rng(0)
    base = rng.normal(0.0002 * np.arange(20), 0.01, (DAYS, 20))
    for lo in range(0, n, 5000):
        cols = np.arange(lo, min(lo + 5000, n))
        block = base[:, cols % 20] + rng.normal(0, 0.006, (DAYS, cols.size))
        store.put_many(STUDY, [(int(i), block[:, j]) for j, i in enumerate(cols)])


def measure_stats(folder: Path, mode: str) -> dict[str, float]:
    """Compute the study's statistics the ``mode`` way; peak RSS (MB) above the warm imports."""
    import resource

    import numpy as np

    from grekko_research.metrics import probability_of_backtest_overfitting
    from grekko_research.optimize.series import open_series, series_url
    from grekko_research.optimize.trial_stats import trial_statistics

    def peak() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    warm = np.random.default_rng(1).normal(0, 0.01, (64, 6))
    trial_statistics(warm, 0)  # scipy, sklearn and the CSCV kernel loaded before the baseline
    base = peak()
    t0 = time.perf_counter()
    store = open_series(series_url(None, str(folder)))
    numbers = store.trials(STUDY)
    best = len(numbers) // 2
    if mode == "streamed":
        out = trial_statistics(store.columns(STUDY, numbers), best)
    else:
        matrix = store.matrix(STUDY, numbers)
        if mode == "before":
            out = trial_statistics(matrix, best, exact_up_to=matrix.shape[1])
        else:
            sharpes = matrix.mean(axis=0) / matrix.std(axis=0, ddof=1)
            pbo = probability_of_backtest_overfitting(matrix, n_splits=16)
            out = {"n_trials": float(matrix.shape[1]), "pbo": pbo.pbo,
                   "sharpe_variance": float(np.var(sharpes, ddof=1))}  # fmt: skip
    if out["n_trials"] != len(numbers) or not 0 <= out["pbo"] <= 1:
        raise RuntimeError(f"unexpected statistics {out}")
    return {"peak_mb": peak() - base, "imports_mb": base, "seconds": time.perf_counter() - t0,
            "n_eff": out.get("n_eff", float("nan")), "pbo": out["pbo"],
            "sharpe_variance_eff": out.get("sharpe_variance_eff", float("nan"))}  # fmt: skip


def _child(mode: str, folder: Path, n: int, layout: str) -> dict[str, float] | None:
    if mode == "build":
        args = f", {n}, {layout!r})"
    elif mode == "build_series":
        args = f", {n})"
    elif mode == "measure_stats":
        args = f", {layout!r})"
    else:
        args = ")"
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); "
            f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import studies_memory as m; "
            f"from pathlib import Path; r = m.{mode}(Path({str(folder)!r}){args}"
            "; print(json.dumps(r))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also 100,000 trials")
    parser.add_argument("--sizes", default=None, help="comma-separated trial counts")
    parser.add_argument("--part", choices=("reads", "stats", "all"), default="all")
    parser.add_argument("--before-max", type=int, default=2000,
                        help="largest study the exact O(N^2) clustering runs on")  # fmt: skip
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [1000, 10_000]
    if args.full and not args.sizes:
        sizes.append(100_000)
    if args.part in ("reads", "all"):
        reads(sizes)
    if args.part in ("stats", "all"):
        stats(sizes, args.before_max)


def stats(sizes: list[int], before_max: int) -> None:
    """The statistics path's table: peak RSS and time of each mode per size."""
    print(f"\n{'trials':>8} {'mode':>9} {'peak MB':>8} {'s':>7} {'n_eff':>6} {'pbo':>6}  "
          "(statistics path; RSS above the warm imports)")  # fmt: skip
    for n in sizes:
        rows = {}
        with tempfile.TemporaryDirectory(prefix="grekko-statsmem-") as tmp:
            _child("build_series", Path(tmp), n, "")
            for mode in STATS_MODES:
                if mode == "before" and n > before_max:
                    print(f"{n:>8} {mode:>9} {'-':>8} {'-':>7}  not run: O(N^2) = "
                          f"{4 * n * n * 8 / 2**30:,.1f} GiB of distance matrices", flush=True)  # fmt: skip
                    continue
                r = _child("measure_stats", Path(tmp), n, mode)
                assert r is not None
                rows[mode] = r
                print(f"{n:>8} {mode:>9} {r['peak_mb']:>8.0f} {r['seconds']:>7.1f} "
                      f"{r['n_eff']:>6.0f} {r['pbo']:>6.3f}", flush=True)  # fmt: skip
        new = rows["streamed"]
        for ref in ("before", "matrix"):
            if ref in rows:
                print(f"{'':>8} {'ratio':>9} {new['peak_mb'] / max(rows[ref]['peak_mb'], 1e-9):>8.2f} "
                      f"{new['seconds'] / max(rows[ref]['seconds'], 1e-9):>7.2f}  "
                      f"(streamed / {ref})")  # fmt: skip


def reads(sizes: list[int]) -> None:
    """The end-of-sweep reads' table: series in the trials against the series table."""
    print(f"{'trials':>8} {'layout':>13} {'study MB':>9} {'peak MB':>8} {'read s':>7}  "
          "(RSS above the interpreter with its imports)")  # fmt: skip
    rows = {}
    for n in sizes:
        for layout in LAYOUTS:
            with tempfile.TemporaryDirectory(prefix="grekko-studymem-") as tmp:
                _child("build", Path(tmp), n, layout)
                r = _child("measure", Path(tmp), n, layout)
            assert r is not None
            rows[(n, layout)] = r
            print(f"{n:>8} {layout:>13} {r['study_mb']:>9.0f} {r['peak_mb']:>8.0f} "
                  f"{r['seconds']:>7.1f}", flush=True)  # fmt: skip
        old, new = rows[(n, "user_attrs")], rows[(n, "series_table")]
        print(
            f"{'':>8} {'ratio':>13} {new['study_mb'] / max(old['study_mb'], 1e-9):>9.2f} "
            f"{new['peak_mb'] / max(old['peak_mb'], 1e-9):>8.2f}  (series table / in the study)"
        )


if __name__ == "__main__":
    main()
