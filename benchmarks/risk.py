"""What the risk spec costs a backtest: the same run with no rules, with order checks only,
and with ``conf/risk/conservative.yaml`` (order checks, portfolio and market breakers).

Run: ``.venv/bin/python benchmarks/risk.py [--bars N] [--assets K] [--repeat R]``

Seeded synthetic hourly candles (a random walk), random entries and exits (about one order
per asset every ten bars), all-in per asset split by ``percent`` sizing, 0.1 % fee, the
general kernel. Prints the median of ``repeat`` warm runs of each and its ratio to the run
without rules (measured in the same process, after one compiling call each); then the VaR
estimator alone, the sorting one the breaker used before against the incremental one
(``risk/var.py``), over the same number of bar equities.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's library

from grekko_research.config import compose_config
from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Fees, Signals, Sizing, backtest
from grekko_research.risk.checks import historical_var_nb
from grekko_research.risk.spec import OrderRisk, RiskSpec
from grekko_research.risk.var import var_init_nb, var_push_nb, var_state_len, var_value_nb

HOUR = 3_600_000


def make_bars(n: int, k: int, seed: int = 7) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, k)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]])
    return Bars(
        index=1_600_000_000_000 - 1_600_000_000_000 % HOUR + HOUR * np.arange(n, dtype=np.int64),
        symbols=tuple(f"S{j}/USDT" for j in range(k)),
        timeframe="1h",
        open=open_,
        high=np.maximum(open_, close) * 1.002,
        low=np.minimum(open_, close) * 0.998,
        close=close,
        volume=np.full((n, k), 1e6),
    )


@njit(cache=True)
def _var_sorting(equity: np.ndarray, window: int, confidence: float) -> float:
    """The VaR breaker's estimator before: the window sorted again at every bar."""
    acc = 0.0
    for t in range(equity.shape[0]):
        v = historical_var_nb(equity[max(t - window, 0) : t + 1], window, confidence)
        acc += v if v == v else 0.0
    return acc


@njit(cache=True)
def _var_incremental(equity: np.ndarray, window: int, confidence: float) -> float:
    """The VaR breaker's estimator now (risk/var.py): the sorted window slides."""
    st = np.empty(var_state_len(window))
    var_init_nb(st, window)
    acc = 0.0
    for t in range(equity.shape[0]):
        var_push_nb(st, equity[t])
        v = var_value_nb(st, confidence)
        acc += v if v == v else 0.0
    return acc


def _best(fn: object, *args: object, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)  # type: ignore[operator]
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def var_estimators(n: int, repeat: int) -> None:
    """The VaR estimator alone over ``n`` bar equities (conservative: 500 returns, 99 %)."""
    rng = np.random.default_rng(3)
    equity = 1e4 * np.cumprod(1 + rng.normal(0, 0.01, n))
    assert _var_sorting(equity, 500, 0.99) == _var_incremental(equity, 500, 0.99)  # to the bit
    old = _best(_var_sorting, equity, 500, 0.99, repeat=repeat)
    new = _best(_var_incremental, equity, 500, 0.99, repeat=repeat)
    print(
        f"VaR estimator alone, {n:,} bars: sorting each bar {old * 1e3:.1f} ms, "
        f"incremental {new * 1e3:.1f} ms (x{old / new:.0f} faster, same values)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=200_000)
    parser.add_argument("--assets", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n, k = args.bars, args.assets
    bars = make_bars(n, k)
    rng = np.random.default_rng(11)
    signals = Signals(rng.random((n, k)) < 0.05, rng.random((n, k)) < 0.05)
    base = {"fees": Fees(taker=0.001), "sizing": Sizing("percent", 1.0 / k)}
    specs = {
        "no rules": RiskSpec(),
        "order checks": RiskSpec(order=OrderRisk(max_position=0.2, max_notional=5_000.0)),
        "conservative": compose_config(["risk=conservative"]).risk.spec,
        "  without VaR": compose_config(
            ["risk=conservative", "risk.portfolio.var.limit=null"]
        ).risk.spec,
    }
    times: dict[str, float] = {}
    for name, spec in specs.items():
        cfg = EngineConfig(risk=spec, **base)  # type: ignore[arg-type]
        backtest(bars, signals, cfg, kernel="general")  # compile / warm up
        runs = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = backtest(bars, signals, cfg, kernel="general")
            runs.append(time.perf_counter() - t0)
        times[name] = statistics.median(runs)
        print(
            f"{name:>14}: {times[name] * 1e3:9.2f} ms  "
            f"x{times[name] / times['no rules']:.2f}  "
            f"({len(res.order_records)} orders, {len(res.event_records)} events)",
            flush=True,
        )
    print(f"{n:,} bars × {k} assets, median of {args.repeat} warm runs, general kernel")
    var_estimators(n, args.repeat)


if __name__ == "__main__":
    main()
