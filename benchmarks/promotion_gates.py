"""What the promotion gates add to a sweep, as ratios to work measured in the same run.

Run: ``.venv/bin/python benchmarks/promotion_gates.py [--bars 6000] [--trials 200]``.

* robustness (:func:`grekko_research.optimize.robustness.robustness`, default settings:
  1000 trade draws and random placements, 2 x 20 engine re-runs, one stress run) against
  one scoring of the same out-of-sample windows (:func:`evaluate_window`);
* the effective number of trials (:func:`cluster_trials` on ``--trials`` daily return
  series of a synthetic study) against the raw-N statistics it sits beside (the DSR and
  the trials' Sharpe variance);
* the parity check is a ``grekko-live parity`` subprocess: its cost is the live runner's
  replay of the last out-of-sample window (see benchmarks in docs/live.md), not measured here.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np


def _best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bars", type=int, default=6000)
    ap.add_argument("--trials", type=int, default=200)
    args = ap.parse_args()

    from grekko_research.data.bars import Bars
    from grekko_research.engine import EngineConfig
    from grekko_research.optimize.effective import cluster_trials
    from grekko_research.optimize.evaluate import evaluate_window
    from grekko_research.optimize.robustness import RobustnessSettings, Segment, robustness
    from grekko_research.optimize.sweep import trial_statistics
    from grekko_research.strategy import get_strategy

    rng = np.random.default_rng(0)
    n = args.bars
    t = np.arange(n)
    close = 100 * np.exp(0.03 * np.sin(2 * np.pi * t / 150) + np.cumsum(rng.normal(0, 0.004, n)))
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * 1.001
    low = np.minimum(open_, close) * 0.999
    col = lambda x: x.reshape(-1, 1)  # noqa: E731
    bars = Bars(index=1_609_459_200_000 + 3_600_000 * t, symbols=("WAVE/USDT",), timeframe="1h",
                open=col(open_), high=col(high), low=col(low), close=col(close),
                volume=col(np.ones(n)))  # fmt: skip
    strategy = get_strategy("sma_cross")
    params = strategy.Params(fast=8, slow=45)
    engine = EngineConfig()
    cut = int(n * 0.6)
    segments = [Segment(params, cut, (cut + n) // 2), Segment(params, (cut + n) // 2, n)]

    def score() -> None:
        for s in segments:
            evaluate_window(strategy, params, bars, engine, s.start, s.end)

    settings = RobustnessSettings()
    robustness(strategy, bars, engine, segments, settings)  # compile
    base = _best_of(score)
    rob = _best_of(lambda: robustness(strategy, bars, engine, segments, settings), repeat=1)
    print(f"robustness ({settings.draws} draws, {settings.input_draws} x 2 + 1 engine runs): "
          f"{rob:.3f} s = {rob / base:.0f}x one scoring of the OOS windows ({base * 1e3:.1f} ms)")  # fmt: skip

    days, k = 500, 5
    base_series = rng.normal(0, 0.01, (days, k))
    study = np.column_stack(
        [base_series[:, i % k] + rng.normal(0, 0.004, days) for i in range(args.trials)]
    )
    raw = _best_of(lambda: np.var(study.mean(0) / study.std(0, ddof=1), ddof=1))
    eff = _best_of(lambda: cluster_trials(study))
    full = _best_of(lambda: trial_statistics(study, 0), repeat=1)
    print(f"effective trials ({args.trials} trials x {days} days): clustering {eff:.3f} s "
          f"= {eff / max(raw, 1e-9):.0f}x the raw Sharpe variance; all overfitting statistics "
          f"(DSR raw and N_eff, PBO) {full:.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
