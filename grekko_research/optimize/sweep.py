"""``grekko sweep``: an Optuna study over a strategy's declared search space, validated walk-forward.

A sweep runs

* one **full-sample study**: ``n_trials`` parameter sets, each backtested on
  all the bars. Its trials give the best in-sample parameters and, through
  each trial's daily returns (stored with the trial), the overfitting
  statistics: the Deflated Sharpe Ratio of the best trial given how many
  were tried, and the Probability of Backtest Overfitting by combinatorially
  symmetric cross-validation;
* with ``validation=walk_forward``, one **study per fold**: parameters are
  optimised on the fold's in-sample window only and the best are then
  backtested on the out-of-sample window that follows it; the out-of-sample
  windows are stitched into one equity curve. That out-of-sample result is
  what the summary leads with: it is the only number no parameter saw.

Studies live in an Optuna storage (default: a journal file
``runs/optuna.log``, readable by ``optuna-dashboard``; or any RDB URL such as
PostgreSQL) under names derived from the configuration, so rerunning the
same command continues them: each study runs until it holds ``n_trials``
finished (complete or pruned) trials. ``workers`` processes share a study
through the storage; other machines join by pointing at the same RDB URL.

A trial's window is backtested with the bars before it as warm-up: the
strategy sees them, but its signals before the window are dropped, so every
trade happens inside the window it is scored on.
"""

from __future__ import annotations

import base64
import importlib
import math
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from grekko_research.config import GrekkoConfig, config_id, engine_config
from grekko_research.data.bars import Bars
from grekko_research.data.store import ParquetStore
from grekko_research.engine import EngineConfig, Orders, Signals, TargetPositions, backtest
from grekko_research.engine import layout as L
from grekko_research.engine.api import BacktestResult
from grekko_research.errors import ConfigError, GrekkoError
from grekko_research.metrics import METRIC_NAMES, performance_summary, periods_per_year
from grekko_research.strategy import (
    SignalForm,
    Strategy,
    get_strategy,
    params_from_mapping,
    params_to_mapping,
    search_space,
)

__all__ = [
    "Fold",
    "SweepInterrupted",
    "SweepResult",
    "cv_splits",
    "evaluate_segments",
    "evaluate_window",
    "install_interrupt_handler",
    "make_sampler",
    "run_sweep",
    "suggest_params",
    "walk_forward_folds",
]

OBJECTIVES = (*METRIC_NAMES, "final_equity")
_STOP = threading.Event()  # set by Ctrl-C: finish the running trial, then stop


class SweepInterrupted(GrekkoError):
    """Ctrl-C stopped the sweep between trials; the finished trials are in the storage."""


def install_interrupt_handler() -> Any:
    """Make Ctrl-C stop the sweep after the running trial (a second Ctrl-C stops at once).

    Returns the handler it replaced (main thread only).

    Optuna marks a trial interrupted in the middle as failed, and an
    interrupt at the wrong moment inside its bookkeeping surfaces as an
    unrelated error; stopping between trials keeps the study clean.
    """

    def handler(signum: int, frame: Any) -> None:
        _STOP.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    _STOP.clear()
    return signal.signal(signal.SIGINT, handler)  # the previous handler, to restore


def _stop_if_requested(study: Any, trial: Any) -> None:
    if _STOP.is_set():
        study.stop()


TrialHook = Callable[[str, int, Any, Any], None]
_DAY_MS = 86_400_000


# -- search space ------------------------------------------------------------------------


def suggest_params(trial: Any, strategy: Strategy) -> Any:
    """Draw one parameter set from the strategy's declared search space.

    Parameter combinations the strategy refuses (e.g. ``fast >= slow``)
    prune the trial instead of failing it.
    """
    import optuna

    values: dict[str, Any] = {}
    for name, spec in search_space(strategy.Params).items():
        if spec.choices is not None:
            values[name] = trial.suggest_categorical(name, list(spec.choices))
        elif spec.kind == "int":
            step = int(spec.step or 1)
            values[name] = trial.suggest_int(
                name, int(spec.low or 0), int(spec.high or 0), step=step, log=spec.log
            )
        else:
            values[name] = trial.suggest_float(
                name, float(spec.low or 0.0), float(spec.high or 0.0), step=spec.step, log=spec.log
            )
    try:
        return params_from_mapping(strategy.Params, values)
    except ConfigError as exc:
        trial.set_user_attr("refused", str(exc))
        raise optuna.TrialPruned(str(exc)) from None


def _grid(strategy: Strategy, points: int = 6) -> dict[str, list[Any]]:
    """A grid over the search space: every step for stepped ranges, ``points`` values otherwise."""
    grid: dict[str, list[Any]] = {}
    for name, spec in search_space(strategy.Params).items():
        if spec.choices is not None:
            grid[name] = list(spec.choices)
            continue
        low, high = float(spec.low or 0.0), float(spec.high or 0.0)
        if spec.kind == "int":
            step = int(spec.step or max(1, round((high - low) / (points - 1))))
            grid[name] = list(range(int(low), int(high) + 1, step))
        elif spec.step:
            grid[name] = [float(v) for v in np.arange(low, high + spec.step / 2, spec.step)]
        elif spec.log:
            grid[name] = [float(v) for v in np.geomspace(low, high, points)]
        else:
            grid[name] = [float(v) for v in np.linspace(low, high, points)]
    return grid


def make_sampler(kind: str, seed: int, strategy: Strategy, multi: bool) -> Any:
    """Return the Optuna sampler named by ``optimize.sampler``."""
    import optuna

    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "grid":
        return optuna.samplers.GridSampler(_grid(strategy), seed=seed)
    if kind == "cmaes":
        if multi:
            raise ConfigError("optimize.sampler=cmaes cannot run a multi-objective study")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    raise ConfigError(f"optimize.sampler {kind!r} is not one of tpe, random, grid, cmaes")


# -- objectives --------------------------------------------------------------------------


def _objective_fn(name: str) -> Callable[[BacktestResult | None, dict[str, float]], float]:
    """A metric by name, or a user function ``package.module:function(result, metrics) -> float``."""
    if name in OBJECTIVES:
        return lambda _result, metrics: float(metrics[name])
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"optimize.objective {name!r} cannot be imported: {exc}") from None
        return lambda result, metrics: float(fn(result, metrics))
    raise ConfigError(
        f"optimize.objective {name!r} is neither a metric ({', '.join(OBJECTIVES)}) "
        "nor package.module:function"
    )


# -- windows -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: in-sample rows ``[is_start, is_end)``, out-of-sample ``[is_end, oos_end)``."""

    k: int
    is_start: int
    is_end: int
    oos_end: int


def walk_forward_folds(
    n: int, warmup: int, folds: int, oos_fraction: float, anchored: bool
) -> list[Fold]:
    """Split ``n`` bars: the last ``oos_fraction`` into ``folds`` test windows, each after its training.

    Rolling (default): every in-sample window has the length of the first,
    which runs from the first bar after the warm-up to the first test window.
    Anchored: every in-sample window starts there.
    """
    if folds < 1:
        raise ConfigError(f"optimize.folds must be >= 1, got {folds}")
    if not 0.0 < oos_fraction < 1.0:
        raise ConfigError(f"optimize.oos_fraction must be in (0, 1), got {oos_fraction}")
    start = warmup
    usable = n - start
    test = int(usable * oos_fraction) // folds
    first_test = n - test * folds
    train = first_test - start
    if test < 2 or train < 2 * folds:
        raise ConfigError(
            f"{n} bars with a warm-up of {warmup} are too few for {folds} walk-forward folds"
        )
    out = []
    for k in range(folds):
        is_end = first_test + k * test
        is_start = start if anchored else is_end - train
        out.append(Fold(k, is_start, is_end, is_end + test))
    return out


def _from_row(form: SignalForm, row: int) -> SignalForm:
    """The signals with every decision before ``row`` dropped."""
    if row <= 0:
        return form

    def cut(values: Any, fill: Any) -> Any:
        if values is None:
            return None
        arr = np.array(values, copy=True)
        arr[:row] = fill
        return arr

    if isinstance(form, Signals):
        return Signals(
            cut(form.entries, False),
            cut(form.exits, False),
            cut(form.short_entries, False),
            cut(form.short_exits, False),
        )
    if isinstance(form, TargetPositions):
        return TargetPositions(cut(form.target, np.nan), form.kind)
    kind = np.array(form.kind, dtype=object, copy=True)
    kind[:row] = None
    return Orders(kind, form.size, form.price, form.stop)


def evaluate_window(
    strategy: Strategy,
    params: Any,
    bars: Bars,
    engine: EngineConfig,
    start: int,
    end: int,
) -> tuple[BacktestResult, dict[str, float], np.ndarray]:
    """Backtest ``params`` on rows ``[start, end)`` (earlier rows as warm-up only).

    Returns the result, the metrics of the window (equity from the bar
    before ``start``, closed trades) and the window's equity.
    """
    lo = max(0, start - strategy.warmup(params))
    part = bars[lo:end]
    offset = start - lo
    cfg = strategy.configure(engine, params)
    form = _from_row(strategy.signals(part, params), offset)
    result = backtest(part, form, cfg)
    equity = result.equity[max(offset - 1, 0) :]
    pnl, ret, duration = _closed_trades(result)
    metrics = performance_summary(
        equity,
        periods_per_year=periods_per_year(bars.timeframe),
        pnl=pnl,
        ret=ret,
        duration=duration,
    )
    metrics["final_equity"] = float(equity[-1])
    return result, metrics, equity


def _closed_trades(result: BacktestResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P&L, return and bars held of the closed trades, from the raw records (no DataFrame per trial)."""
    rec = result.trade_records
    closed = rec[rec[:, L.T_IS_OPEN] == 0.0]
    duration = (closed[:, L.T_EXIT_BAR] - closed[:, L.T_ENTRY_BAR]).astype(np.int64)
    return closed[:, L.T_PNL], closed[:, L.T_RETURN], duration


def evaluate_segments(
    strategy: Strategy,
    params: Any,
    bars: Bars,
    engine: EngineConfig,
    segments: Sequence[tuple[int, int]],
) -> tuple[BacktestResult | None, dict[str, float], np.ndarray]:
    """Score ``params`` on several windows as if one account traded them back to back.

    Each window is backtested on its own (with its warm-up, see
    :func:`evaluate_window`); their bar-to-bar growth is chained into one
    equity curve starting at the initial cash and their closed trades are
    pooled. One window gives exactly :func:`evaluate_window`'s numbers (and
    its result; several give ``None`` as the result).
    """
    if len(segments) == 1:
        return evaluate_window(strategy, params, bars, engine, *segments[0])
    growth: list[np.ndarray] = []
    pnl: list[np.ndarray] = []
    ret: list[np.ndarray] = []
    duration: list[np.ndarray] = []
    for start, end in segments:
        result, _, equity = evaluate_window(strategy, params, bars, engine, start, end)
        growth.append(equity[1:] / equity[:-1])
        for pool, values in zip((pnl, ret, duration), _closed_trades(result), strict=True):
            pool.append(values)
    chained = engine.init_cash * np.concatenate(([1.0], np.cumprod(np.concatenate(growth))))
    metrics = performance_summary(
        chained,
        periods_per_year=periods_per_year(bars.timeframe),
        pnl=np.concatenate(pnl),
        ret=np.concatenate(ret),
        duration=np.concatenate(duration),
    )
    metrics["final_equity"] = float(chained[-1])
    return None, metrics, chained


def _first_half(segments: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    if len(segments) > 1:
        return tuple(segments[: max(len(segments) // 2, 1)])
    start, end = segments[0]
    return ((start, start + (end - start) // 2),)


def _blocks(n: int, start: int, k: int) -> list[tuple[int, int]]:
    """``k`` contiguous blocks of rows ``[start, n)`` (the first ones one row longer when uneven)."""
    edges = np.linspace(start, n, k + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in pairwise(edges)]


def _train_segments(
    blocks: Sequence[tuple[int, int]], test: Sequence[int], purge: int, embargo: int
) -> tuple[tuple[int, int], ...]:
    """The blocks not in ``test``, minus ``purge`` rows before and ``embargo`` rows after each test block."""
    out: list[tuple[int, int]] = []
    for i, (a, b) in enumerate(blocks):
        if i in test:
            continue
        if i + 1 in test:
            b -= purge  # rows just before a test block: their trades would run into it
        if i - 1 in test:
            a += embargo  # rows just after a test block: still correlated with it
        if b - a >= 2:
            if out and out[-1][1] == a:
                out[-1] = (out[-1][0], b)  # neighbours merge into one window
            else:
                out.append((a, b))
    return tuple(out)


def cv_splits(
    n: int, start: int, groups: int, test_groups: int, purge: int, embargo: int
) -> list[tuple[tuple[int, ...], tuple[tuple[int, int], ...]]]:
    """Combinatorial purged cross-validation splits (López de Prado): every choice of test blocks.

    Rows ``[start, n)`` are cut into ``groups`` blocks; each split tests
    ``test_groups`` of them and trains on the rest, purged and embargoed
    around every test block. ``test_groups=1`` is purged k-fold.
    Returns ``(test block ids, train segments)`` per split.
    """
    from itertools import combinations

    if not 1 <= test_groups < groups:
        raise ConfigError(
            f"optimize.test_groups must be between 1 and folds - 1, got {test_groups} of {groups}"
        )
    blocks = _blocks(n, start, groups)
    if min(b - a for a, b in blocks) < max(2 * purge, 4):
        raise ConfigError(
            f"{n - start} bars are too few for {groups} blocks with a purge of {purge}"
        )
    out = []
    for test in combinations(range(groups), test_groups):
        out.append((test, _train_segments(blocks, test, purge, embargo)))
    return out


def _daily_returns(index: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """Simple returns of the equity at each UTC day's last bar (the first day's from its first bar)."""
    day = index // _DAY_MS
    last = np.flatnonzero(np.diff(day) != 0)
    closes = np.concatenate(([equity[0]], equity[last], [equity[-1]]))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(closes[:-1] > 0, closes[1:] / closes[:-1] - 1.0, 0.0)
    return out


def _pack(values: np.ndarray) -> str:
    return base64.b64encode(values.astype("<f4").tobytes()).decode("ascii")


def _unpack(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float64)


# -- studies -----------------------------------------------------------------------------


def _storage(cfg: GrekkoConfig) -> Any:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    url = cfg.optimize.storage
    if url and "://" in url:
        return optuna.storages.RDBStorage(url, heartbeat_interval=60, grace_period=120)
    path = Path(url or Path(cfg.experiment.output_dir) / "optuna.log")
    path.parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(path)))


def storage_label(cfg: GrekkoConfig) -> str:
    """Where the studies live, as ``optuna-dashboard`` takes it."""
    url = cfg.optimize.storage
    if url and "://" in url:
        return url
    return str(Path(url or Path(cfg.experiment.output_dir) / "optuna.log"))


def base_study_name(cfg: GrekkoConfig) -> str:
    """``optimize.study_name``, or ``<strategy>-<id of the data, engine and risk settings>``.

    The strategy's parameters do not enter (they are what the study searches),
    and neither do the sweep settings, so rerunning continues the same study.
    """
    if cfg.optimize.study_name:
        return cfg.optimize.study_name
    bare = replace(cfg, strategy=replace(cfg.strategy, params={}))
    return f"{cfg.strategy.name}-{config_id(bare)}"


def _directions(cfg: GrekkoConfig) -> tuple[list[str], list[str]]:
    o = cfg.optimize
    names = list(o.objectives) or [o.objective]
    directions = list(o.directions) or [o.direction] * len(names)
    if len(directions) != len(names):
        raise ConfigError(
            f"optimize.directions has {len(directions)} entries for {len(names)} objectives"
        )
    bad = [d for d in directions if d not in ("maximize", "minimize")]
    if bad:
        raise ConfigError(f"optimize.directions must be maximize or minimize, got {bad}")
    for name in names:
        _objective_fn(name)  # fail early on an unknown objective
    return names, directions


@dataclass(frozen=True)
class _Job:
    """Everything a worker process needs to run trials of one study."""

    cfg: GrekkoConfig
    study_name: str
    segments: tuple[tuple[int, int], ...]  # the rows the trials are scored on, [start, end)
    store_root: str | None
    record_returns: bool


def _objective(
    job: _Job, strategy: Strategy, bars: Bars, engine: EngineConfig
) -> Callable[[Any], Any]:
    import optuna

    names, _ = _directions(job.cfg)
    fns = [_objective_fn(n) for n in names]
    prune = job.cfg.optimize.pruner == "median" and len(names) == 1

    def objective(trial: Any) -> Any:
        trial.set_user_attr("worker_pid", os.getpid())
        params = suggest_params(trial, strategy)
        if prune:  # the first half of the data first: hopeless parameters stop there
            result, metrics, _ = evaluate_segments(
                strategy, params, bars, engine, _first_half(job.segments)
            )
            early = _finite(fns[0](result, metrics))
            if early == early:  # undefined on the first half (no trade yet): no verdict
                trial.report(early, step=0)
                if trial.should_prune():
                    raise optuna.TrialPruned()
        result, metrics, equity = evaluate_segments(strategy, params, bars, engine, job.segments)
        # One storage write per trial for everything it measured (each write locks the storage).
        record: dict[str, Any] = {
            name: _finite(metrics[name])
            for name in ("sharpe_ratio", "total_return", "max_drawdown", "trade_count")
        }
        if job.record_returns and len(job.segments) == 1:
            start, end = job.segments[0]
            index = bars.index[max(start - 1, 0) : end]
            record["daily_returns"] = _pack(_daily_returns(index, equity))
        trial.set_user_attr("result", record)
        values = [_finite(fn(result, metrics)) for fn in fns]
        if any(v != v for v in values):  # e.g. no trade, flat equity: nothing to score
            trial.set_user_attr(
                "unscored", ", ".join(n for n, v in zip(names, values, strict=True) if v != v)
            )
            raise optuna.TrialPruned("objective undefined")
        return values[0] if len(values) == 1 else values

    return objective


def _finite(x: float) -> float:
    """The value as a float, NaN when it is not finite (JSON and Optuna take no infinities)."""
    return float(x) if math.isfinite(x) else float("nan")


def _load_bars(job: _Job) -> tuple[Strategy, Bars, EngineConfig]:
    from grekko_research.runs import load_run_bars

    strategy = get_strategy(job.cfg.strategy.name)
    store = ParquetStore(job.store_root) if job.store_root else None
    bars = load_run_bars(job.cfg, strategy, store)
    return strategy, bars, engine_config(job.cfg)


def _optimize(
    job: _Job,
    loaded: tuple[Strategy, Bars, EngineConfig] | None = None,
    worker: int = 0,
    on_trial: TrialHook | None = None,
) -> None:
    """Run trials of ``job``'s study until it holds ``n_trials`` finished ones (one process).

    Worker ``i`` seeds its sampler with ``optimize.seed + i``: one worker is
    reproducible, several do not draw the same parameters.
    """
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    strategy, bars, engine = loaded or _load_bars(job)
    multi = len(_directions(job.cfg)[0]) > 1
    sampler = make_sampler(
        job.cfg.optimize.sampler, job.cfg.optimize.seed + worker, strategy, multi
    )
    study = optuna.load_study(study_name=job.study_name, storage=_storage(job.cfg), sampler=sampler)
    n = job.cfg.optimize.n_trials
    done = (TrialState.COMPLETE, TrialState.PRUNED)
    if len(study.get_trials(deepcopy=False, states=done)) >= n or _STOP.is_set():
        return
    callbacks: list[Any] = [MaxTrialsCallback(n, states=done), _stop_if_requested]
    if on_trial is not None:
        callbacks.append(lambda st, trial: on_trial(job.study_name, n, st, trial))
    study.optimize(
        _objective(job, strategy, bars, engine),
        callbacks=callbacks,
        timeout=job.cfg.optimize.timeout,
        catch=(),
    )


def _worker(job: _Job, worker: int) -> None:
    install_interrupt_handler()  # Ctrl-C reaches the whole process group: stop between trials
    _optimize(job, worker=worker)


def _run_study(
    job: _Job, loaded: tuple[Strategy, Bars, EngineConfig], on_trial: TrialHook | None = None
) -> Any:
    """Create (or continue) the study and run it with ``optimize.workers`` processes."""
    import optuna

    strategy = loaded[0]
    names, directions = _directions(job.cfg)
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=5)
        if job.cfg.optimize.pruner == "median"
        else optuna.pruners.NopPruner()
    )
    if job.cfg.optimize.pruner not in ("median", "none"):
        raise ConfigError(f"optimize.pruner {job.cfg.optimize.pruner!r} is not median or none")
    study = optuna.create_study(
        study_name=job.study_name,
        storage=_storage(job.cfg),
        sampler=make_sampler(
            job.cfg.optimize.sampler, job.cfg.optimize.seed, strategy, len(names) > 1
        ),
        pruner=pruner,
        directions=directions,  # type: ignore[arg-type]
        load_if_exists=True,
    )
    study.set_user_attr("objectives", names)
    extra = max(job.cfg.optimize.workers, 1) - 1
    if extra:
        ctx = multiprocessing.get_context("spawn")
        procs = [ctx.Process(target=_worker, args=(job, i + 1)) for i in range(extra)]
        for p in procs:
            p.start()
        try:
            _optimize(job, loaded, on_trial=on_trial)
        finally:
            for p in procs:
                p.join()
        failed = [p.exitcode for p in procs if p.exitcode]
        if failed:
            raise RuntimeError(f"{len(failed)} sweep worker(s) failed (exit codes {failed})")
    else:
        _optimize(job, loaded, on_trial=on_trial)
    if _STOP.is_set():
        raise SweepInterrupted(
            f"interrupted during study {job.study_name}; rerun the same command to continue it"
        )
    return optuna.load_study(study_name=job.study_name, storage=_storage(job.cfg))


# -- the sweep ---------------------------------------------------------------------------


@dataclass
class SweepResult:
    """What a sweep found, out-of-sample first."""

    study_name: str
    storage: str
    strategy: str
    objective: list[str]
    n_trials: int
    best_params: dict[str, Any]
    in_sample: dict[str, float]
    oos: dict[str, float] | None
    folds: list[dict[str, Any]] = field(default_factory=list)
    oos_equity: pd.Series | None = None
    overfitting: dict[str, float] = field(default_factory=dict)
    trials: pd.DataFrame | None = None

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: the out-of-sample result leads."""
        return {
            "study": self.study_name,
            "storage": self.storage,
            "strategy": self.strategy,
            "objective": self.objective,
            "out_of_sample": self.oos,
            "folds": self.folds,
            "overfitting": self.overfitting,
            "best_params": self.best_params,
            "in_sample": self.in_sample,
            "n_trials": self.n_trials,
        }


def _best(study: Any) -> Any:
    if len(study.directions) == 1:
        return study.best_trial
    return max(
        study.best_trials,
        key=lambda t: t.values[0] if study.directions[0].name == "MAXIMIZE" else -t.values[0],
    )


def _overfitting(study: Any, best: Any) -> dict[str, float]:
    """Deflated Sharpe Ratio of the best trial and PBO over the trials' daily returns."""
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if "daily_returns" in t.user_attrs.get("result", {})]  # fmt: skip
    out: dict[str, float] = {"n_trials": float(len(trials))}
    if len(trials) < 2 or "daily_returns" not in best.user_attrs.get("result", {}):
        return out
    matrix = np.column_stack([_unpack(t.user_attrs["result"]["daily_returns"]) for t in trials])
    keep = np.isfinite(matrix).all(axis=1)
    matrix = matrix[keep]
    std = matrix.std(axis=0, ddof=1)
    sharpes = np.where(std > 0, matrix.mean(axis=0) / np.where(std > 0, std, 1.0), 0.0)
    try:
        from grekko_research.metrics.overfitting import (
            deflated_sharpe_ratio,
            probability_of_backtest_overfitting,
        )
    except ImportError:  # the statistics module is not there yet
        return out
    r = _unpack(best.user_attrs["result"]["daily_returns"])
    r = r[np.isfinite(r)]
    if len(r) > 3 and r.std(ddof=1) > 0:
        sr = r.mean() / r.std(ddof=1)
        z = (r - r.mean()) / r.std(ddof=0)
        out["sharpe_daily"] = float(sr)
        out["deflated_sharpe"] = float(
            deflated_sharpe_ratio(
                sr, len(r), float(np.mean(z**3)), float(np.mean(z**4)),
                len(trials), float(np.var(sharpes, ddof=1)),
            )
        )  # fmt: skip
    splits = 16 if matrix.shape[0] >= 64 else 8
    if matrix.shape[0] >= splits * 2:
        pbo = probability_of_backtest_overfitting(matrix, n_splits=splits)
        out["pbo"] = float(pbo.pbo)
        out["pbo_splits"] = float(splits)
    return out


def run_sweep(
    cfg: GrekkoConfig,
    *,
    store: ParquetStore | None = None,
    progress: Callable[[str], None] | None = None,
    on_trial: TrialHook | None = None,
) -> SweepResult:
    """Run (or continue) the sweep ``cfg.optimize`` describes and return what it found.

    ``progress`` receives a line per stage; ``on_trial(study_name, n_trials,
    study, trial)`` is called after each trial this process runs.
    """
    from optuna.trial import TrialState

    say = progress or (lambda _msg: None)
    strategy = get_strategy(cfg.strategy.name)
    root = str(store.root) if store is not None else None
    probe = _Job(cfg, "", (), root, False)
    strategy, bars, engine = _load_bars(probe)
    names, _ = _directions(cfg)
    warm = max(strategy.warmup(strategy.Params(**_upper_params(strategy))), 1)
    base = base_study_name(cfg)

    say(f"full-sample study {base}/full")
    full_job = _Job(cfg, f"{base}/full", ((warm, bars.n_bars),), root, True)
    study = _run_study(full_job, (strategy, bars, engine), on_trial)
    best = _best(study)
    best_params = params_to_mapping(params_from_mapping(strategy.Params, best.params))
    params: Any = params_from_mapping(strategy.Params, best_params)
    _, in_sample, _ = evaluate_window(strategy, params, bars, engine, warm, bars.n_bars)
    value_attr = "value" if len(names) == 1 else "values"
    frame = study.trials_dataframe(
        attrs=("number", "state", value_attr, "params", "user_attrs", "duration")
    )
    if "user_attrs_result" in frame.columns:
        measured = pd.DataFrame(
            [
                {k: v for k, v in (r or {}).items() if k != "daily_returns"}
                if isinstance(r, dict)
                else {}
                for r in frame["user_attrs_result"]
            ],
            index=frame.index,
        ).add_prefix("metric_")
        frame = pd.concat([frame.drop(columns=["user_attrs_result"]), measured], axis=1)
    finished = len(
        study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    )

    oos = None
    folds_out: list[dict[str, Any]] = []
    oos_curve = None
    if cfg.optimize.validation == "walk_forward":
        o = cfg.optimize
        pieces = []
        for fold in walk_forward_folds(bars.n_bars, warm, o.folds, o.oos_fraction, o.anchored):
            say(f"walk-forward fold {fold.k + 1}/{o.folds}")
            job = _Job(cfg, f"{base}/wf{o.folds}{'a' if o.anchored else 'r'}{fold.k}", ((fold.is_start, fold.is_end),), root, False)  # fmt: skip
            fold_study = _run_study(job, (strategy, bars, engine), on_trial)
            chosen: Any = params_from_mapping(strategy.Params, _best(fold_study).params)
            _, fold_is, _ = evaluate_window(
                strategy, chosen, bars, engine, fold.is_start, fold.is_end
            )
            _, fold_oos, equity = evaluate_window(
                strategy, chosen, bars, engine, fold.is_end, fold.oos_end
            )
            growth = equity[1:] / equity[:-1]
            pieces.append(pd.Series(growth, index=bars.datetime_index[fold.is_end : fold.oos_end]))
            folds_out.append(
                {
                    "fold": fold.k,
                    "in_sample": [_iso(bars, fold.is_start), _iso(bars, fold.is_end - 1)],
                    "out_of_sample": [_iso(bars, fold.is_end), _iso(bars, fold.oos_end - 1)],
                    "params": params_to_mapping(chosen),
                    "is_" + names[0]: _finite(fold_is.get(names[0], float("nan"))),
                    "oos_" + names[0]: _finite(fold_oos.get(names[0], float("nan"))),
                    "oos_total_return": _finite(fold_oos["total_return"]),
                }
            )
        growth_all = pd.concat(pieces)
        oos_curve = engine.init_cash * growth_all.cumprod()
        stitched = np.concatenate(([engine.init_cash], oos_curve.to_numpy()))
        oos = performance_summary(stitched, periods_per_year=periods_per_year(bars.timeframe))
        oos = {k: v for k, v in oos.items() if k in METRIC_NAMES[:10]}
        oos["final_equity"] = float(stitched[-1])
    elif cfg.optimize.validation in ("purged_kfold", "cpcv"):
        oos, folds_out, oos_curve = _cross_validate(cfg, base, root, (strategy, bars, engine), warm, names, on_trial, say)  # fmt: skip
    elif cfg.optimize.validation != "none":
        raise ConfigError(
            f"optimize.validation {cfg.optimize.validation!r} is not one of none, walk_forward, "
            "purged_kfold, cpcv"
        )
    return SweepResult(
        study_name=base,
        storage=storage_label(cfg),
        strategy=strategy.name,
        objective=names,
        n_trials=finished,
        best_params=best_params,
        in_sample={k: _finite(v) for k, v in in_sample.items()},
        oos=None if oos is None else {k: _finite(v) for k, v in oos.items()},
        folds=folds_out,
        oos_equity=oos_curve,
        overfitting=_overfitting(study, best),
        trials=frame,
    )


def _cross_validate(
    cfg: GrekkoConfig,
    base: str,
    root: str | None,
    loaded: tuple[Strategy, Bars, EngineConfig],
    warm: int,
    names: list[str],
    on_trial: TrialHook | None,
    say: Callable[[str], None],
) -> tuple[dict[str, float], list[dict[str, Any]], pd.Series]:
    """Purged k-fold or CPCV: a study per split, then the out-of-sample paths.

    Every split's best parameters are scored on its test blocks. A path
    takes each block's out-of-sample growth from one split testing it (the
    ``j``-th such split for path ``j``), so CPCV yields
    ``C(N, k) * k / N`` full-length out-of-sample paths (purged k-fold: one).
    The summary reports the first path's metrics and every path's Sharpe
    ratio and total return.
    """
    strategy, bars, engine = loaded
    o = cfg.optimize
    k_test = 1 if o.validation == "purged_kfold" else o.test_groups
    purge = o.purge_bars if o.purge_bars is not None else warm
    embargo = round(o.embargo_fraction * (bars.n_bars - warm))
    splits = cv_splits(bars.n_bars, warm, o.folds, k_test, purge, embargo)
    blocks = _blocks(bars.n_bars, warm, o.folds)
    per_block: dict[int, list[np.ndarray]] = {g: [] for g in range(o.folds)}
    out: list[dict[str, Any]] = []
    tag = f"{'pkf' if k_test == 1 else 'cpcv'}{o.folds}x{k_test}p{purge}e{embargo}"
    for i, (test, train) in enumerate(splits):
        say(f"{o.validation} split {i + 1}/{len(splits)}: test blocks {list(test)}")
        job = _Job(cfg, f"{base}/{tag}s{i}", train, root, False)
        split_study = _run_study(job, loaded, on_trial)
        chosen: Any = params_from_mapping(strategy.Params, _best(split_study).params)
        _, train_metrics, _ = evaluate_segments(strategy, chosen, bars, engine, train)
        record: dict[str, Any] = {"split": i, "test_blocks": list(test), "params": params_to_mapping(chosen),
                                  "is_" + names[0]: _finite(train_metrics.get(names[0], float("nan")))}  # fmt: skip
        for g in test:
            _, test_metrics, equity = evaluate_window(strategy, chosen, bars, engine, *blocks[g])
            per_block[g].append(equity[1:] / equity[:-1])
            record[f"oos_{names[0]}[{g}]"] = _finite(test_metrics.get(names[0], float("nan")))
        out.append(record)
    n_paths = len(per_block[0])
    ppy = periods_per_year(bars.timeframe)
    paths = []
    for j in range(n_paths):
        growth = np.concatenate([per_block[g][j] for g in range(o.folds)])
        paths.append(engine.init_cash * np.concatenate(([1.0], np.cumprod(growth))))
    stats = [performance_summary(p, periods_per_year=ppy) for p in paths]
    oos = {k: v for k, v in stats[0].items() if k in METRIC_NAMES[:10]}
    oos["final_equity"] = float(paths[0][-1])
    sharpes = np.array([st["sharpe_ratio"] for st in stats], dtype=float)
    oos["paths"] = float(n_paths)
    oos["path_sharpe_mean"] = float(np.nanmean(sharpes))
    oos["path_sharpe_std"] = float(np.nanstd(sharpes, ddof=1)) if n_paths > 1 else 0.0
    oos["path_sharpe_min"] = float(np.nanmin(sharpes))
    index = bars.datetime_index[blocks[0][0] : blocks[-1][1]]
    curve = pd.Series(paths[0][1:], index=index)
    return oos, out, curve


def _upper_params(strategy: Strategy) -> dict[str, Any]:
    """The parameters with the longest warm-up the search space allows (ranges at their top)."""
    values: dict[str, Any] = {}
    for name, spec in search_space(strategy.Params).items():
        values[name] = spec.default if spec.choices is not None else spec.high
        if spec.kind == "int":
            values[name] = int(values[name])
    try:
        strategy.Params(**values)
        return values
    except ConfigError:
        return {}


def _iso(bars: Bars, row: int) -> str:
    return f"{bars.datetime_index[row]:%Y-%m-%d %H:%M}"


def trial_sequence(values: Sequence[float]) -> list[float]:
    """Best-so-far of a sequence of objective values (maximising), for progress displays."""
    out, best = [], -math.inf
    for v in values:
        if v == v:
            best = max(best, v)
        out.append(best)
    return out
