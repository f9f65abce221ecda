"""The sampled effective-trials estimate against the exact one on studies larger than the sample.

``cluster_trials_streamed`` clusters studies of more than ``m`` trials on ``m`` evenly spaced
trials and assigns the rest to the nearest cluster (CLARA); ``cluster_trials`` is the exact ONC
base step on every trial (``O(N^2)`` memory, about ``O(N^3)`` time). For studies of ``--trials``
trials (default 2,000) of two shapes, this prints both estimates (``n_eff``, ``V_eff``, the
selected trial's ``DSR_eff``), the adjusted Rand index of their partitions and their times:

* ``planted12``: twelve strategies, each trial a noisy copy of one (crisp clusters);
* ``smooth4``: a two-parameter sweep whose returns mix four latent strategies smoothly over the
  parameter plane (no crisp clusters: the case where ONC itself is least stable).

    .venv/bin/python benchmarks/effective_trials_scale.py                       # minutes
    .venv/bin/python benchmarks/effective_trials_scale.py --trials 1500 --samples 500,1000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np


def planted(seed: int, n: int, days: int = 365, k: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0002 * np.arange(k), 0.01, (days, k))
    return base[:, np.arange(n) % k] + rng.normal(0, 0.008, (days, n))


def smooth(seed: int, n: int, days: int = 365) -> np.ndarray:
    rng = np.random.default_rng(seed)
    latent = rng.normal(0.0003, 0.01, (days, 4))
    params = rng.uniform(0, 1, (n, 2))
    centres = np.array([[0.2, 0.2], [0.8, 0.2], [0.2, 0.8], [0.8, 0.8]])
    w = np.exp(-((params[:, None, :] - centres[None]) ** 2).sum(-1) / 0.05)
    return latent @ (w / w.sum(axis=1, keepdims=True)).T + rng.normal(0, 0.004, (days, n))


def main() -> None:
    from sklearn.metrics import adjusted_rand_score

    from grekko_research.optimize.columns import MatrixColumns
    from grekko_research.optimize.effective import (
        cluster_trials,
        cluster_trials_streamed,
        effective_dsr,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--samples", default="500,1000", help="sample sizes m")
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    shapes: dict[str, Callable[[int, int], np.ndarray]] = {"planted12": planted, "smooth4": smooth}
    print(f"{'study':>10} {'seed':>4} {'m':>6} {'n_eff':>5} {'V_eff':>10} {'DSR_eff':>7} "
          f"{'ARI':>5} {'s':>6}")  # fmt: skip
    for name, make in shapes.items():
        for seed in range(args.seeds):
            x = make(seed, args.trials)
            best = int(np.argmax(x.mean(axis=0) / x.std(axis=0, ddof=1)))
            t0 = time.perf_counter()
            exact = cluster_trials(x)
            seconds = time.perf_counter() - t0
            print(f"{name:>10} {seed:>4} {'exact':>6} {exact.n_clusters:>5} "
                  f"{exact.sharpe_variance:>10.3e} {effective_dsr(exact, best):>7.4f} "
                  f"{1.0:>5.2f} {seconds:>6.1f}", flush=True)  # fmt: skip
            for m in (int(v) for v in args.samples.split(",")):
                t0 = time.perf_counter()
                c = cluster_trials_streamed(MatrixColumns(x), exact_up_to=m)
                seconds = time.perf_counter() - t0
                print(f"{'':>10} {'':>4} {m:>6} {c.n_clusters:>5} {c.sharpe_variance:>10.3e} "
                      f"{effective_dsr(c, best):>7.4f} "
                      f"{adjusted_rand_score(exact.labels, c.labels):>5.2f} {seconds:>6.1f}",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
