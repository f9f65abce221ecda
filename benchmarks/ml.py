"""Walk-forward training time: 5,000 real hourly bars x ~50 features (the ``wide`` set).

Run: ``.venv/bin/python benchmarks/ml.py [--repeat 3]``. Times, on the first 5,000 Binance
BTC/USDT hourly bars of the shared data:

* ``features``: the ``wide`` feature set (indicator library; ~50 columns);
* ``walk_forward[<model>]``: a full sliding-window walk-forward (train 1,000 rows, refit every
  168 bars, horizon 12) from an empty model cache, for LightGBM (100 trees), logistic
  regression and a random forest (100 trees);
* ``walk_forward[lgbm] cached``: the same run again (what a parameter sweep or the conformance
  suite's repeated runs pay: the features and predictions, no fit);
* ``online``: the online model (retrain + one SGD update per bar) over the same bars.

The reference measured in the same run is one LightGBM fit on one window (1,000 x 50): the
ratios say how many window fits a whole walk-forward costs. Prints a table, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grekko_research.ml import models  # noqa: E402
from grekko_research.ml.features import build_features  # noqa: E402
from strategies.ml_lgbm import MlLgbm  # noqa: E402
from strategies.ml_online import MlOnline  # noqa: E402
from tests.peers.frames import real_bars  # noqa: E402

BARS = 5000


def _time(fn: Callable[[], object], repeat: int, *, cold: bool = True) -> float:
    out = []
    for _ in range(repeat):
        if cold:
            models.clear_cache()
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    data = Path(os.environ.get("GREKKO_SHARED_DATA") or ROOT.parent / "shared" / "data")
    bars = real_bars(data, ["BTC-USDT"], BARS)
    s = MlLgbm()
    base = dict(feature_set="wide", window=12, lags=6, train=1000, step=168, horizon=12)
    p = s.params(**base, n_estimators=100)
    feats = build_features(bars, p)  # also compiles the indicator kernels
    n_feat = len(feats.names)
    x = np.nan_to_num(feats.values[-1000:, 0, :])
    y = (np.diff(np.log(bars.close[-1001:, 0])) > 0).astype(float)
    spec = models.ModelSpec(kind="lgbm", n_estimators=100)
    s.signals(bars[:2000], p)  # warm the imports and kernels once

    rows: dict[str, float] = {}
    rows[f"one lgbm fit (1000 x {n_feat})"] = _time(
        lambda: models.make_model(spec).fit(x, y), args.repeat
    )
    rows["features (wide)"] = _time(lambda: build_features(bars, p), args.repeat)
    for model in ("lgbm", "logistic", "forest"):
        q = s.params(**base, model=model, n_estimators=100)
        rows[f"walk_forward[{model}]"] = _time(lambda q=q: s.signals(bars, q), args.repeat)
    s.signals(bars, p)
    rows["walk_forward[lgbm] cached"] = _time(lambda: s.signals(bars, p), args.repeat, cold=False)
    o = MlOnline()
    op = o.params(feature_set="wide", window=12, lags=6, train=1000, cadence=168)
    o.signals(bars[:2000], op)
    rows["online (retrain + per-bar SGD)"] = _time(lambda: o.signals(bars, op), args.repeat)
    fits = len(s.walk_forward(bars, p)[0].windows)

    ref = rows[f"one lgbm fit (1000 x {n_feat})"]
    print(f"{BARS} bars x {n_feat} features, {fits} walk-forward windows, median of {args.repeat}")
    print(f"{'workload':40s} {'seconds':>9s} {'x one fit':>10s}")
    for name, sec in rows.items():
        print(f"{name:40s} {sec:9.3f} {sec / ref:10.1f}")
    print(json.dumps({"bars": BARS, "features": n_feat, "windows": fits, "seconds": rows}))


if __name__ == "__main__":
    main()
