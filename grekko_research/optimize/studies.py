"""Optuna study plumbing: storage, study names, the trial objective, worker processes, Ctrl-C.

Studies live in an Optuna storage (a journal file by default, or any RDB URL)
under names derived from the configuration, so rerunning continues them.
:func:`_run_study` creates (or continues) a study and runs it until it holds
``optimize.n_trials`` finished trials, with ``optimize.workers`` processes
sharing it through the storage. Ctrl-C stops between trials
(:func:`install_interrupt_handler`, :class:`SweepInterrupted`).
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import re
import signal
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from grekko_research.config import GrekkoConfig, config_id, engine_config
from grekko_research.data.bars import Bars
from grekko_research.data.store import ParquetStore
from grekko_research.engine import EngineConfig
from grekko_research.errors import ConfigError, GrekkoError, WarmupError
from grekko_research.optimize.evaluate import (
    _daily_returns,
    _finite,
    evaluate_segments,
)
from grekko_research.optimize.series import open_series, series_url
from grekko_research.optimize.space import (
    _directions,
    _objective_fn,
    make_sampler,
    suggest_params,
    swept_space,
)
from grekko_research.optimize.splits import _first_half
from grekko_research.strategy import Strategy, get_strategy

__all__ = [
    "SweepInterrupted",
    "TrialHook",
    "base_study_name",
    "install_interrupt_handler",
    "storage_label",
    "study_identity",
    "walk_forward_study_name",
]

_SAFE = re.compile(r"[^A-Za-z0-9_.]+")
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


# -- storage and names -----------------------------------------------------------------


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


def study_identity(cfg: GrekkoConfig, strategy: Strategy | None = None) -> dict[str, Any]:
    """What a study searches and how: everything that makes two studies incomparable.

    The objective(s) and their directions, the sampler, the pruner and the
    strategy's declared search space with ``optimize.fixed``'s parameters pinned (one choice
    each), plus those values under ``fixed`` when there are any. Not the sweep's size or speed
    (``n_trials``, ``workers``, ``timeout``) nor the seed: rerunning with more
    trials or more workers continues the same study. The validation scheme and
    its windows enter the names of the fold studies (:func:`walk_forward_study_name`).
    """
    names, directions = _directions(cfg)
    strategy = strategy or get_strategy(cfg.strategy.name)
    swept = swept_space(strategy, cfg.optimize.fixed)
    space = {
        name: [spec.kind, spec.low, spec.high, spec.step, spec.log,
               None if spec.choices is None else list(spec.choices)]
        for name, spec in sorted(swept.items())
    }  # fmt: skip
    identity: dict[str, Any] = {
        "objectives": names,
        "directions": directions,
        "sampler": cfg.optimize.sampler,
        "pruner": cfg.optimize.pruner if len(names) == 1 else "none",  # never prunes multi
        "search_space": space,
    }
    if cfg.optimize.fixed:  # only then: a free sweep keeps the study it had before
        identity["fixed"] = {k: (swept[k].choices or ())[0] for k in sorted(cfg.optimize.fixed)}
    return identity


def _identity_id(identity: dict[str, Any]) -> str:
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def base_study_name(cfg: GrekkoConfig, strategy: Strategy | None = None) -> str:
    """``optimize.study_name``, or ``<strategy>-<config id>-<objective>-<search id>``.

    The config id covers the data, engine and risk settings (not the
    strategy's parameters: they are what the study searches); the objective
    is named for the reader; the search id hashes :func:`study_identity`
    (objectives, directions, sampler, pruner, search space). Rerunning the
    same command continues the same study; changing what the study optimises
    or how it searches starts a new one.
    """
    if cfg.optimize.study_name:
        return cfg.optimize.study_name
    identity = study_identity(cfg, strategy)
    bare = replace(cfg, strategy=replace(cfg.strategy, params={}))
    label = "+".join(_SAFE.sub("_", n.rpartition(":")[2]) for n in identity["objectives"])
    return f"{cfg.strategy.name}-{config_id(bare)}-{label}-{_identity_id(identity)}"


def walk_forward_study_name(base: str, cfg: GrekkoConfig, fold: Any) -> str:
    """The study of walk-forward fold ``fold``: its in-sample rows are part of its name."""
    o = cfg.optimize
    kind = "a" if o.anchored else "r"
    return f"{base}/wf{o.folds}{kind}{fold.k}@{fold.is_start}-{fold.is_end}"


def _check_identity(study: Any, cfg: GrekkoConfig, identity: dict[str, Any]) -> None:
    """Refuse to continue a study that searched something else (e.g. a fixed ``study_name``)."""
    stored = study.user_attrs.get("identity")
    if stored is None:  # a study from before identities were recorded: objectives at least
        stored_names = study.user_attrs.get("objectives")
        same = stored_names in (None, identity["objectives"]) and len(study.directions) == len(
            identity["directions"]
        )
        if same:
            return
        stored = {"objectives": stored_names, "directions": len(study.directions)}
    elif stored == json.loads(json.dumps(identity)):
        return
    diff = sorted(
        k for k in identity if k in stored and stored[k] != json.loads(json.dumps(identity[k]))
    )
    what = ", ".join(
        f"{k} {stored.get(k)!r} → {identity[k]!r}" for k in diff if k != "search_space"
    )
    if "search_space" in diff:
        what = (what + ", " if what else "") + "the strategy's search space"
    raise ConfigError(
        f"study {study.study_name!r} in {storage_label(cfg)} was run with other settings "
        f"({what}); its trials cannot be continued with these. Drop optimize.study_name "
        "to get a study named after the settings, or choose another name"
    )


# -- trials ----------------------------------------------------------------------------


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
        params = suggest_params(trial, strategy, job.cfg.optimize.fixed)
        try:
            if prune:  # the first half of the data first: hopeless parameters stop there
                result, metrics, _ = evaluate_segments(
                    strategy, params, bars, engine, _first_half(job.segments)
                )
                early = _finite(fns[0](result, metrics))
                if early == early:  # undefined on the first half (no trade yet): no verdict
                    trial.report(early, step=0)
                    if trial.should_prune():
                        raise optuna.TrialPruned()
            result, metrics, equity = evaluate_segments(
                strategy, params, bars, engine, job.segments
            )
        except WarmupError as exc:  # the data cannot hold this trial's warm-up: named, pruned
            trial.set_user_attr("too_short", str(exc))
            raise optuna.TrialPruned(str(exc)) from None
        # One storage write per trial for everything it measured (each write locks the storage).
        record: dict[str, Any] = {
            name: _finite(metrics[name])
            for name in ("sharpe_ratio", "total_return", "max_drawdown", "trade_count")
        }
        if job.record_returns and len(job.segments) == 1:
            # The series goes to its own table (optimize/series.py), not into the study:
            # studies of 100,000 trials would otherwise carry every series in every read.
            start, end = job.segments[0]
            index = bars.index[max(start - 1, 0) : end]
            series = open_series(
                series_url(job.cfg.optimize.storage, job.cfg.experiment.output_dir)
            )
            series.put(job.study_name, trial.number, _daily_returns(index, equity))
            record["series"] = True
        trial.set_user_attr("result", record)
        values = [_finite(fn(result, metrics)) for fn in fns]
        if any(v != v for v in values):  # e.g. no trade, flat equity: nothing to score
            trial.set_user_attr(
                "unscored", ", ".join(n for n, v in zip(names, values, strict=True) if v != v)
            )
            raise optuna.TrialPruned("objective undefined")
        return values[0] if len(values) == 1 else values

    return objective


def _load_bars(job: _Job) -> tuple[Strategy, Bars, EngineConfig]:
    from grekko_research.runs import load_run_bars

    if job.cfg.execution.algo != "none":
        raise ConfigError(
            f"execution.algo={job.cfg.execution.algo} is not swept: sweep with execution=none "
            "(the strategy's own book), then backtest the best parameters with the algorithm"
        )
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
    o = job.cfg.optimize
    sampler = make_sampler(o.sampler, o.seed + worker, strategy, multi, o.fixed)
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

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created" chatter
    if job.cfg.optimize.backend == "ray":
        from grekko_research.distributed.sweep import check_ray_storage

        check_ray_storage(job.cfg)  # before the study exists: nothing half-made
    elif job.cfg.optimize.backend != "local":
        raise ConfigError(f"optimize.backend {job.cfg.optimize.backend!r} is not local or ray")
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
            job.cfg.optimize.sampler,
            job.cfg.optimize.seed,
            strategy,
            len(names) > 1,
            job.cfg.optimize.fixed,
        ),
        pruner=pruner,
        directions=directions,  # type: ignore[arg-type]
        load_if_exists=True,
    )
    identity = study_identity(job.cfg, strategy)
    _check_identity(study, job.cfg, identity)
    if "identity" not in study.user_attrs:
        study.set_user_attr("identity", identity)
    study.set_user_attr("objectives", names)
    if not study.metric_names:  # optuna-dashboard then names the objectives, not "Objective 0"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(names)
    extra = max(job.cfg.optimize.workers, 1) - 1
    if job.cfg.optimize.backend == "ray":  # trials as Ray tasks (grekko_research/distributed)
        from grekko_research.distributed.sweep import run_study_on_ray

        run_study_on_ray(job, loaded, on_trial)
    elif extra:
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


def _best(study: Any) -> Any:
    """The best trial (multi-objective: the best first objective among the Pareto front).

    Raises :class:`WarmupError` when no trial was scored and some were too short for their
    warm-up (:class:`ConfigError` when none was), naming how many of each kind.
    """
    from optuna.trial import TrialState

    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        done = study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
        kinds = {k: [t.user_attrs[k] for t in done if k in t.user_attrs]
                 for k in ("too_short", "refused", "unscored")}  # fmt: skip
        counts = ", ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in kinds.items() if v)
        what = f"study {study.study_name!r} has no scored trial ({len(done)} pruned: {counts})"
        if kinds["too_short"]:
            raise WarmupError(f"{what}; too short, the first: {kinds['too_short'][0]}")
        raise ConfigError(what)
    if len(study.directions) == 1:
        return study.best_trial
    return max(
        study.best_trials,
        key=lambda t: t.values[0] if study.directions[0].name == "MAXIMIZE" else -t.values[0],
    )
