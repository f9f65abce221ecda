"""Peak memory of a large study's end-of-sweep reads: trial series in the study vs in their table.

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

    .venv/bin/python benchmarks/studies_memory.py            # 1k, 10k
    .venv/bin/python benchmarks/studies_memory.py --full     # + 100k (minutes; ~2 GB disk in tmp)
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


def _child(mode: str, folder: Path, n: int, layout: str) -> dict[str, float] | None:
    code = (f"import sys, json; sys.path.insert(0, {str(ROOT)!r}); "
            f"sys.path.insert(0, {str(ROOT / 'benchmarks')!r}); import studies_memory as m; "
            f"from pathlib import Path; r = m.{mode}(Path({str(folder)!r})"
            + (f", {n}, {layout!r})" if mode == "build" else ")")
            + "; print(json.dumps(r))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="also 100,000 trials")
    parser.add_argument("--sizes", default=None, help="comma-separated trial counts")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [1000, 10_000]
    if args.full and not args.sizes:
        sizes.append(100_000)
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
