"""``grekko sweep``: an Optuna study over a strategy's declared search space, validated walk-forward.

A sweep runs

* one **full-sample study**: ``n_trials`` parameter sets, each backtested on
  all the bars. Its trials give the best in-sample parameters and, through
  each trial's daily returns (in the trial series table), the overfitting
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

Layout: :mod:`~grekko_research.optimize.space` (search spaces, samplers,
objectives), :mod:`~grekko_research.optimize.splits` (walk-forward folds, CV
splits), :mod:`~grekko_research.optimize.evaluate` (scoring a parameter set on
windows), :mod:`~grekko_research.optimize.studies` (storage, trials, workers,
Ctrl-C). This module assembles the sweep and its result, and re-exports the
public names the others took over from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from grekko_research.config import GrekkoConfig
from grekko_research.data.bars import Bars
from grekko_research.data.store import ParquetStore
from grekko_research.engine import EngineConfig
from grekko_research.errors import ConfigError, WarmupError
from grekko_research.metrics import METRIC_NAMES, performance_summary, periods_per_year
from grekko_research.optimize.columns import ColumnSource
from grekko_research.optimize.evaluate import (
    _finite,
    _unpack,
    evaluate_segments,
    evaluate_window,
)
from grekko_research.optimize.robustness import RobustnessSettings, Segment, robustness
from grekko_research.optimize.series import TrialSeriesStore, open_series, series_url
from grekko_research.optimize.space import OBJECTIVES as OBJECTIVES
from grekko_research.optimize.space import (
    _directions,
    _upper_params,
    check_fixed,
    make_sampler,
    suggest_params,
)
from grekko_research.optimize.splits import Fold, _blocks, cv_splits, walk_forward_folds
from grekko_research.optimize.studies import (
    SweepInterrupted,
    TrialHook,
    _best,
    _Job,
    _load_bars,
    _run_study,
    base_study_name,
    install_interrupt_handler,
    storage_label,
    walk_forward_study_name,
)
from grekko_research.optimize.trial_stats import trial_statistics as trial_statistics
from grekko_research.strategy import (
    Strategy,
    get_strategy,
    params_from_mapping,
    params_to_mapping,
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
    trial_counts: dict[str, int] = field(default_factory=dict)
    robustness: dict[str, float] = field(default_factory=dict)
    robustness_draws: dict[str, list[float]] = field(default_factory=dict)
    # the parity check's window, and where its replay starts (the best parameters' warm-up)
    last_oos: dict[str, Any] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)  # optimize.fixed: pinned, not searched
    warmup: int = 0  # the longest warm-up the search space allows: where the windows start
    parity: dict[str, Any] | None = None  # set by the parity check (grekko sweep)

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
            "fixed": self.fixed,
            "warmup": self.warmup,
            "in_sample": self.in_sample,
            "n_trials": self.n_trials,
            "trials": self.trial_counts,
            "robustness": self.robustness,
            "last_oos": self.last_oos,
            "parity": self.parity,
            "parity_passed": None if self.parity is None else float(bool(self.parity["passed"])),
        }


def _overfitting(study: Any, best: Any, series: TrialSeriesStore | None = None) -> dict[str, float]:
    """Deflated Sharpe Ratios (raw and effective trials) of the best trial and PBO.

    The complete trials' daily returns come from ``series`` (optimize/series.py), read a
    chunk of trials at a time (:func:`trial_statistics`); studies written before the series
    moved out of Optuna keep them in the trials' user attributes.
    """
    from optuna.trial import TrialState

    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.user_attrs.get("result", {}).keys() & {"series", "daily_returns"}]  # fmt: skip
    out: dict[str, float] = {"n_trials": float(len(trials))}
    numbers = [t.number for t in trials]
    if len(trials) < 2 or best.number not in numbers:
        return out
    source: np.ndarray | ColumnSource
    if all("daily_returns" in t.user_attrs["result"] for t in trials):
        source = np.column_stack([_unpack(t.user_attrs["result"]["daily_returns"]) for t in trials])
    elif series is not None:
        source = series.columns(study.study_name, numbers)
    else:
        return out
    return {**out, **trial_statistics(source, numbers.index(best.number))}


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
    warm = _longest_warmup(strategy, bars, cfg.optimize.fixed)
    base = base_study_name(cfg, strategy)

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
                {k: v for k, v in (r or {}).items() if k not in ("daily_returns", "series")}
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
    counts = trial_counts(study)

    oos = None
    folds_out: list[dict[str, Any]] = []
    oos_curve = None
    segments: list[Segment] = []
    if cfg.optimize.validation == "walk_forward":
        o = cfg.optimize
        pieces = []
        for fold in walk_forward_folds(bars.n_bars, warm, o.folds, o.oos_fraction, o.anchored):
            say(f"walk-forward fold {fold.k + 1}/{o.folds}")
            fold_name = walk_forward_study_name(base, cfg, fold)
            job = _Job(cfg, fold_name, ((fold.is_start, fold.is_end),), root, False)
            fold_study = _run_study(job, (strategy, bars, engine), on_trial)
            chosen: Any = params_from_mapping(strategy.Params, _best(fold_study).params)
            _, fold_is, _ = evaluate_window(
                strategy, chosen, bars, engine, fold.is_start, fold.is_end
            )
            _, fold_oos, equity = evaluate_window(
                strategy, chosen, bars, engine, fold.is_end, fold.oos_end
            )
            growth = equity[1:] / equity[:-1]
            segments.append(Segment(chosen, fold.is_end, fold.oos_end))
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
        oos, folds_out, oos_curve, segments = _cross_validate(cfg, base, root, (strategy, bars, engine), warm, names, on_trial, say)  # fmt: skip
    elif cfg.optimize.validation != "none":
        raise ConfigError(
            f"optimize.validation {cfg.optimize.validation!r} is not one of none, walk_forward, "
            "purged_kfold, cpcv"
        )
    segments, robust = _robustness(cfg, (strategy, bars, engine), segments, params, warm, say)
    last = segments[-1]
    # The parity replay starts the best parameters' declared warm-up before the window, as
    # the window was scored (evaluate_window): a model whose warm-up exceeds the window
    # could not decide on it otherwise.
    lead = max(0, last.start - strategy.warmup(params))
    return SweepResult(
        study_name=base,
        storage=storage_label(cfg),
        strategy=strategy.name,
        objective=names,
        n_trials=finished,
        best_params=best_params,
        fixed=check_fixed(strategy, cfg.optimize.fixed),
        warmup=warm,
        in_sample={k: _finite(v) for k, v in in_sample.items()},
        oos=None if oos is None else {k: _finite(v) for k, v in oos.items()},
        folds=folds_out,
        oos_equity=oos_curve,
        overfitting=_overfitting(
            study, best, open_series(series_url(cfg.optimize.storage, cfg.experiment.output_dir))
        ),
        trials=frame,
        trial_counts=counts,
        robustness={} if robust is None else robust.summary,
        robustness_draws={} if robust is None else robust.distributions,
        last_oos={
            "start": _iso(bars, last.start),
            "end": _iso(bars, last.end - 1),
            "start_ms": int(bars.index[last.start]),
            "end_ms": int(bars.index[last.end - 1]),
            "bars": last.end - last.start,
            "warmup_start": _iso(bars, lead),
            "warmup_start_ms": int(bars.index[lead]),
            "warmup_bars": last.start - lead,
        },
    )


def _longest_warmup(strategy: Strategy, bars: Bars, fixed: dict[str, Any]) -> int:
    """The longest warm-up the search space (``fixed`` pinned) allows: every trial's windows
    start after it, so each trial is scored with its whole warm-up before it.

    Raises :class:`WarmupError` naming the parameters that need it when the data cannot
    hold it and a bar to score.
    """
    upper = _upper_params(strategy, fixed)
    params: Any = params_from_mapping(strategy.Params, upper)
    warm = max(int(strategy.warmup(params)), 1)
    if warm >= bars.n_bars:
        raise WarmupError(
            f"{strategy.name}: its search space allows parameters that need {warm} bars of "
            f"warm-up ({_culprits(strategy, upper, warm)}), but the data holds {bars.n_bars} bars "
            f"({bars.timeframe}): more data, or pin parameters with optimize.fixed.<name>=<value>"
        )
    return warm


def _culprits(strategy: Strategy, upper: dict[str, Any], warm: int) -> str:
    """The parameters of ``upper`` whose default would shorten its warm-up ``warm``."""
    defaults = params_to_mapping(strategy.Params())
    out = []
    for name, value in upper.items():
        if value == defaults[name]:
            continue
        try:
            shorter = strategy.warmup(
                params_from_mapping(strategy.Params, {**upper, name: defaults[name]})
            )
        except ConfigError:
            continue
        if shorter < warm:
            out.append(f"{name}={value!r}")
    return ", ".join(out) or ", ".join(f"{k}={v!r}" for k, v in upper.items())


def _robustness(
    cfg: GrekkoConfig,
    loaded: tuple[Strategy, Bars, EngineConfig],
    segments: list[Segment],
    params: Any,
    warm: int,
    say: Callable[[str], None],
) -> tuple[list[Segment], Any]:
    """The out-of-sample segments (a stand-in without a split) and their robustness result."""
    strategy, bars, engine = loaded
    if not segments:
        # No out-of-sample split (validation=none): the best parameters on the window the
        # last walk-forward fold would test, in sample here; it bounds the robustness re-runs
        # and the parity replay as a walk-forward sweep's last window does.
        o = cfg.optimize
        try:
            tail = walk_forward_folds(bars.n_bars, warm, o.folds, o.oos_fraction, o.anchored)[-1]
            segments = [Segment(params, tail.is_end, tail.oos_end)]
        except ConfigError:  # too few bars for folds: the whole sample
            segments = [Segment(params, warm, bars.n_bars)]
    if not cfg.optimize.robustness:
        return segments, None
    say("robustness: Monte Carlo over the out-of-sample trades and input")
    return segments, robustness(strategy, bars, engine, segments, robustness_settings(cfg))


def robustness_settings(cfg: GrekkoConfig) -> RobustnessSettings:
    """The Monte Carlo settings of ``cfg.optimize`` (seeded by ``optimize.seed``)."""
    o = cfg.optimize
    return RobustnessSettings(draws=o.mc_draws, input_draws=o.mc_input_draws,
                              price_noise=o.mc_price_noise, skip_fraction=o.mc_skip_fraction,
                              cost_stress=o.mc_cost_stress, seed=o.seed)  # fmt: skip


def _cross_validate(
    cfg: GrekkoConfig,
    base: str,
    root: str | None,
    loaded: tuple[Strategy, Bars, EngineConfig],
    warm: int,
    names: list[str],
    on_trial: TrialHook | None,
    say: Callable[[str], None],
) -> tuple[dict[str, float], list[dict[str, Any]], pd.Series, list[Segment]]:
    """Purged k-fold or CPCV: a study per split, then the out-of-sample paths.

    Every split's best parameters are scored on its test blocks. A path
    takes each block's out-of-sample growth from one split testing it (the
    ``j``-th such split for path ``j``), so CPCV yields
    ``C(N, k) * k / N`` full-length out-of-sample paths (purged k-fold: one).
    The summary reports the first path's metrics and every path's Sharpe
    ratio and total return; the first path's blocks, each with the parameters
    that traded it, are the out-of-sample segments.
    """
    strategy, bars, engine = loaded
    o = cfg.optimize
    k_test = 1 if o.validation == "purged_kfold" else o.test_groups
    purge = o.purge_bars if o.purge_bars is not None else warm
    embargo = round(o.embargo_fraction * (bars.n_bars - warm))
    splits = cv_splits(bars.n_bars, warm, o.folds, k_test, purge, embargo)
    blocks = _blocks(bars.n_bars, warm, o.folds)
    per_block: dict[int, list[np.ndarray]] = {g: [] for g in range(o.folds)}
    first: dict[int, Segment] = {}
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
            first.setdefault(g, Segment(chosen, *blocks[g]))
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
    return oos, out, curve, [first[g] for g in range(o.folds)]


def trial_counts(study: Any) -> dict[str, int]:
    """How the full-sample study's finished trials split: what each number in a summary counts.

    ``finished`` = ``scored`` + ``pruned`` + ``unscored`` + ``refused`` +
    ``too_short``: scored trials have an objective value (and, single-window,
    the daily returns the overfitting statistics use); ``pruned`` stopped early
    on the first half of the window; ``unscored`` had no defined objective
    (e.g. no trade); ``refused`` drew parameters the strategy rejects (e.g.
    fast >= slow); ``too_short`` drew parameters whose warm-up the data cannot
    hold (the trial's ``too_short`` attribute says by how much).
    """
    from optuna.trial import TrialState

    out = {"finished": 0, "scored": 0, "pruned": 0, "unscored": 0, "refused": 0, "too_short": 0}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        out["finished"] += 1
        if t.state == TrialState.COMPLETE:
            out["scored"] += 1
        elif "refused" in t.user_attrs:
            out["refused"] += 1
        elif "too_short" in t.user_attrs:
            out["too_short"] += 1
        elif "unscored" in t.user_attrs:
            out["unscored"] += 1
        else:
            out["pruned"] += 1
    return out


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
