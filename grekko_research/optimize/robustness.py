"""Robustness of a sweep's out-of-sample result: Monte Carlo over its trades and its input.

The out-of-sample split says the chosen parameters earned money on bars no
parameter saw. It does not say how much of that was the order the trades came in,
a handful of lucky trades, prices a tick away from the recorded ones, or costs a bit
higher than assumed. This module measures each, as distributions (percentiles) and
one significance test, on the out-of-sample *segments* of a sweep: each
``(params, start, end)`` window with the parameters that traded it (walk-forward: each
fold's chosen parameters on its unseen window).

Trade-level (no engine run; vectorised over draws):

* **order shuffles**: the trades' account returns (P&L / equity before entry) in random
  order: the final equity is the same, the drawdown is not (path risk);
* **bootstrap**: the trades' account returns drawn with replacement: final equity,
  drawdown and per-trade Sharpe ratio vary (how much the result rests on few trades).

Input-level (re-running the engine backtest on perturbed bars):

* **price perturbation**: every open and close moved by up to ``price_noise`` of the
  way to the bar's high or low (uniform), high/low widened to keep the candle valid;
* **skipped bars**: a random ``skip_fraction`` of the bars dropped (a feed that misses
  candles);
* **cost stress**: fees times ``cost_stress`` and slippage times ``cost_stress`` (``bps``
  of ``10 * (cost_stress - 1)`` when the run had none); deterministic, one run.

Significance: **random entries with the same exposure** (Aronson, *Evidence-Based
Technical Analysis*, 2006, ch. 5; a Monte Carlo permutation test in the spirit of
White's 2000 reality check). The rule's trades keep their holding lengths and
directions but are placed at random, non-overlapping positions in their window; the
score is the sum over held bars of ``direction * log(close_t / close_{t-1})`` for the
rule and for every draw alike (costs are equal: same trades, same count). The p-value
is ``(1 + #{null >= rule}) / (draws + 1)``. A rule whose edge is one lucky trade
gets a large p-value: random entries with its exposure catch that move as often.

Everything is drawn from one ``numpy.random.Generator`` seeded by the sweep's seed:
the same sweep gives the same distributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig
from grekko_research.engine import layout as L
from grekko_research.errors import ConfigError
from grekko_research.metrics import performance_summary, periods_per_year
from grekko_research.strategy import Strategy

__all__ = [
    "RobustnessSettings",
    "Segment",
    "random_entry_pvalue",
    "robustness",
    "trade_monte_carlo",
]

PERCENTILES = (5, 25, 50, 75, 95)


@dataclass(frozen=True)
class RobustnessSettings:
    """How many draws and how hard to perturb (``optimize.mc_*`` in the configuration)."""

    draws: int = 1000  # trade shuffles, trade bootstraps and random-entry draws
    input_draws: int = 20  # engine re-runs per perturbation kind (each a full backtest)
    price_noise: float = 0.5  # share of the way to the bar's high/low a price may move
    skip_fraction: float = 0.02  # share of bars dropped per skipped-bars draw
    cost_stress: float = 2.0  # fee and slippage multiplier of the stress run
    seed: int = 0

    def __post_init__(self) -> None:
        if self.draws < 10 or self.input_draws < 0:
            raise ConfigError("optimize.mc_draws must be >= 10 and mc_input_draws >= 0")
        if not 0.0 <= self.price_noise <= 1.0:
            raise ConfigError(f"optimize.mc_price_noise must be in [0, 1], got {self.price_noise}")
        if not 0.0 <= self.skip_fraction < 0.5:
            raise ConfigError(
                f"optimize.mc_skip_fraction must be in [0, 0.5), got {self.skip_fraction}"
            )
        if self.cost_stress < 1.0:
            raise ConfigError(f"optimize.mc_cost_stress must be >= 1, got {self.cost_stress}")


@dataclass(frozen=True)
class Segment:
    """One out-of-sample window ``[start, end)`` of the bars and the parameters that traded it."""

    params: Any
    start: int
    end: int


@dataclass
class RobustnessResult:
    """Percentiles (flat, MLflow-ready ``summary``) and the raw draws (``distributions``)."""

    summary: dict[str, float]
    distributions: dict[str, list[float]] = field(default_factory=dict)


def _drawdown(paths: np.ndarray) -> np.ndarray:
    """Deepest drawdown (a negative fraction) of each row of equity paths starting at 1."""
    ones = np.ones((paths.shape[0], 1))
    full = np.concatenate([ones, paths], axis=1)
    peak = np.maximum.accumulate(full, axis=1)
    return (full / peak - 1.0).min(axis=1)


def _percentiles(prefix: str, values: np.ndarray, out: dict[str, float]) -> None:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return
    for p, v in zip(PERCENTILES, np.percentile(finite, PERCENTILES), strict=True):
        out[f"{prefix}.p{p}"] = float(v)


def _trade_sharpe(r: np.ndarray) -> np.ndarray:
    sd = r.std(axis=1, ddof=1)
    return np.where(sd > 0, r.mean(axis=1) / np.where(sd > 0, sd, 1.0), 0.0)


def trade_monte_carlo(
    returns: np.ndarray, draws: int, rng: np.random.Generator, init_cash: float = 1.0
) -> RobustnessResult:
    """Shuffle and bootstrap per-trade account returns; percentiles of drawdown, equity, Sharpe.

    ``returns`` : shape (n_trades,), each trade's P&L over the equity before it.
    """
    r = np.asarray(returns, dtype=np.float64)
    out: dict[str, float] = {"trades": float(r.size)}
    dist: dict[str, list[float]] = {}
    if r.size < 2:
        return RobustnessResult(out, dist)
    growth = np.log1p(np.maximum(r, -0.999999))
    shuffled = rng.permuted(np.tile(growth, (draws, 1)), axis=1)
    dd = _drawdown(np.exp(np.cumsum(shuffled, axis=1)))
    boot_idx = rng.integers(0, r.size, size=(draws, r.size))
    boot = growth[boot_idx]
    final = init_cash * np.exp(boot.sum(axis=1))
    boot_dd = _drawdown(np.exp(np.cumsum(boot, axis=1)))
    boot_sharpe = _trade_sharpe(r[boot_idx])
    for name, values in (
        ("shuffle.max_drawdown", dd),
        ("bootstrap.final_equity", final),
        ("bootstrap.max_drawdown", boot_dd),
        ("bootstrap.trade_sharpe", boot_sharpe),
    ):
        _percentiles(name, values, out)
        dist[name] = values.tolist()
    # Bootstrap p-value of a positive mean trade: resample the returns centred on 0.
    centred = r - r.mean()
    null_means = centred[rng.integers(0, r.size, size=(draws, r.size))].mean(axis=1)
    out["pvalue_mean_trade"] = float((1 + np.sum(null_means >= r.mean())) / (draws + 1))
    out["prob_loss"] = float(np.mean(final < init_cash))
    return RobustnessResult(out, dist)


def random_entry_pvalue(
    log_returns: Sequence[np.ndarray],
    trades: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    draws: int,
    rng: np.random.Generator,
) -> tuple[float, float, np.ndarray, float]:
    """The rule's score against random entries with the same exposure.

    Parameters
    ----------
    log_returns
        Per window and asset, ``log(close_t / close_{t-1})`` of shape (n_bars,) (the
        first value 0).
    trades
        Per window and asset (same order): ``(entry_bar, exit_bar, direction)`` arrays;
        a trade holds bars ``entry_bar + 1 .. exit_bar``.
    draws, rng
        Number of random placements, and the generator they come from.

    Returns
    -------
    (p_value, rule_score, null_scores, exposure)
        ``exposure``: share of the bars the rule held.
    """
    rule = 0.0
    null = np.zeros(draws)
    held = total = 0
    for r, (entry, exit_, direction) in zip(log_returns, trades, strict=True):
        n = r.size
        cum = np.concatenate(([0.0], np.cumsum(r)))  # cum[t + 1] = sum of r[0..t]
        total += n
        if entry.size == 0:
            continue
        lengths = np.clip(exit_ - entry, 0, None).astype(np.int64)
        rule += float(np.sum(direction * (cum[exit_ + 1] - cum[entry + 1])))
        held += int(lengths.sum())
        free = max(n - 1 - int(lengths.sum()), 0)  # bar 0 has no return to hold
        m = lengths.size
        order = rng.permuted(np.tile(np.arange(m), (draws, 1)), axis=1)
        gaps = np.sort(rng.integers(0, free + 1, size=(draws, m)), axis=1)
        lens = lengths[order]
        starts = 1 + gaps + np.cumsum(lens, axis=1) - lens  # first held bar of each trade
        ends = np.minimum(starts + lens, n)
        starts = np.minimum(starts, n)
        null += np.sum(direction[order] * (cum[ends] - cum[starts]), axis=1)
    p = float((1 + np.sum(null >= rule - 1e-12)) / (draws + 1))
    return p, rule, null, held / max(total, 1)


def _trades_of(result: Any) -> np.ndarray:
    rec = result.trade_records
    return rec[rec[:, L.T_IS_OPEN] == 0.0]


def _account_returns(result: Any, closed: np.ndarray) -> np.ndarray:
    equity = result.equity
    before = np.clip(closed[:, L.T_ENTRY_BAR].astype(np.int64) - 1, 0, None)
    base = equity[before]
    return np.where(base > 0, closed[:, L.T_PNL] / np.where(base > 0, base, 1.0), 0.0)


def _perturb_prices(bars: Bars, share: float, rng: np.random.Generator) -> Bars:
    def move(price: np.ndarray) -> np.ndarray:
        u = rng.uniform(-share, share, size=price.shape)
        room = np.where(u > 0, bars.high - price, price - bars.low)
        return price + u * room

    o, c = move(bars.open), move(bars.close)
    return replace(bars, open=o, close=c, high=np.maximum(bars.high, np.maximum(o, c)),
                   low=np.minimum(bars.low, np.minimum(o, c)))  # fmt: skip


def _skip_bars(bars: Bars, keep: np.ndarray) -> Bars:
    extras = {k: np.asarray(v)[keep] for k, v in bars.extras.items()}
    return replace(bars, index=bars.index[keep], open=bars.open[keep], high=bars.high[keep],
                   low=bars.low[keep], close=bars.close[keep], volume=bars.volume[keep],
                   filled=bars.filled[keep], extras=extras)  # fmt: skip


def _stressed(engine: EngineConfig, k: float) -> EngineConfig:
    fees = replace(engine.fees, taker=engine.fees.taker * k, maker=engine.fees.maker * k,
                   fixed=engine.fees.fixed * k)  # fmt: skip
    slip = engine.slippage
    if slip.kind == "none":
        slip = replace(slip, kind="bps", value=10.0 * (k - 1.0))
    else:
        slip = replace(slip, value=slip.value * k)
    return replace(engine, fees=fees, slippage=slip)


def _run_segments(
    strategy: Strategy,
    bars: Bars,
    engine: EngineConfig,
    segments: Sequence[Segment],
    keep: np.ndarray | None = None,
) -> dict[str, float]:
    """Chain the segments' backtests into one account; its final equity, Sharpe, drawdown."""
    from grekko_research.optimize.evaluate import evaluate_window

    growth = []
    for seg in segments:
        start, end, b = seg.start, seg.end, bars
        if keep is not None:  # rows kept, renumbered: the window keeps its kept rows
            rows = np.flatnonzero(keep)
            start, end = int(np.searchsorted(rows, start)), int(np.searchsorted(rows, end))
            b = _skip_bars(bars, keep)
        _, _, equity = evaluate_window(strategy, seg.params, b, engine, start, end)
        growth.append(equity[1:] / equity[:-1])
    curve = engine.init_cash * np.concatenate(([1.0], np.cumprod(np.concatenate(growth))))
    stats = performance_summary(curve, periods_per_year=periods_per_year(bars.timeframe))
    return {
        "final_equity": float(curve[-1]),
        "sharpe_ratio": float(stats["sharpe_ratio"]),
        "max_drawdown": float(stats["max_drawdown"]),
    }


def robustness(
    strategy: Strategy,
    bars: Bars,
    engine: EngineConfig,
    segments: Sequence[Segment],
    settings: RobustnessSettings,
) -> RobustnessResult:
    """Every Monte Carlo and the random-entry test over the out-of-sample ``segments``."""
    from grekko_research.optimize.evaluate import evaluate_window

    if not segments:
        raise ConfigError("robustness needs at least one out-of-sample window")
    rng = np.random.default_rng(settings.seed)
    returns, log_returns, trades = [], [], []
    for seg in segments:
        result, _, _ = evaluate_window(strategy, seg.params, bars, engine, seg.start, seg.end)
        closed = _trades_of(result)
        returns.append(_account_returns(result, closed))
        lo = max(0, seg.start - strategy.warmup(seg.params))  # as evaluate_window slices
        close = bars.close[lo : seg.end]
        with np.errstate(divide="ignore", invalid="ignore"):
            lr = np.log(close[1:] / close[:-1])
        lr = np.concatenate([np.zeros((1, close.shape[1])), np.where(np.isfinite(lr), lr, 0.0)])
        for a in range(close.shape[1]):
            mine = closed[closed[:, L.T_ASSET] == a]
            log_returns.append(lr[:, a])
            trades.append((mine[:, L.T_ENTRY_BAR].astype(np.int64),
                           mine[:, L.T_EXIT_BAR].astype(np.int64), mine[:, L.T_DIRECTION]))  # fmt: skip
    mc = trade_monte_carlo(np.concatenate(returns), settings.draws, rng, engine.init_cash)
    out, dist = dict(mc.summary), dict(mc.distributions)
    p, score, null, exposure = random_entry_pvalue(log_returns, trades, settings.draws, rng)
    out.update(pvalue_random_entries=p, rule_log_return=score, exposure=exposure)
    _percentiles("random_entries.log_return", null, out)
    dist["random_entries.log_return"] = null.tolist()
    runs: dict[str, list[dict[str, float]]] = {"price": [], "skip": []}
    for _ in range(settings.input_draws):
        runs["price"].append(
            _run_segments(
                strategy, _perturb_prices(bars, settings.price_noise, rng), engine, segments
            )
        )
        keep = rng.random(bars.n_bars) >= settings.skip_fraction
        runs["skip"].append(_run_segments(strategy, bars, engine, segments, keep))
    for kind, rows in runs.items():
        for metric in ("final_equity", "sharpe_ratio", "max_drawdown"):
            values = np.array([row[metric] for row in rows])
            _percentiles(f"{kind}.{metric}", values, out)
            dist[f"{kind}.{metric}"] = values.tolist()
    stress = _run_segments(strategy, bars, _stressed(engine, settings.cost_stress), segments)
    out.update({f"stress.{k}": v for k, v in stress.items()})
    out.update(draws=float(settings.draws), input_draws=float(settings.input_draws),
               seed=float(settings.seed))  # fmt: skip
    return RobustnessResult(out, dist)
