"""Experiment tracking with MLflow: backtests, sweeps and the provenance of every run.

This is the only package of Grekko that imports mlflow, and it does so inside
functions: importing it is free, and its names load their module on first use.

Where runs go (:func:`tracking_uri`): ``$MLFLOW_TRACKING_URI`` when set,
otherwise the SQLite file ``runs/mlruns.db`` (``$GREKKO_RUNS_DIR`` moves it)
with artifacts in ``runs/mlartifacts/<experiment>/`` — no server needed;
``mlflow ui --backend-store-uri sqlite:///runs/mlruns.db`` browses it. Every
function takes ``uri=`` to log elsewhere.

What identifies a run: tags ``config_id`` (hash of the resolved
configuration), ``data_hash`` (:func:`data_hash` of the bars), ``git_commit``
(:func:`git_commit`), ``strategy`` and ``grekko_version``.

>>> from grekko_research.tracking import log_backtest, start_study_run, log_trials
>>> run_id = log_backtest(run, write_run(run))  # doctest: +SKIP
>>> with start_study_run(name, cfg) as parent:  # doctest: +SKIP
...     result = run_sweep(cfg)
...     log_trials(parent, result.trials, objective_name=cfg.optimize.objective)
>>> find_run(run_id)["metrics"]["sharpe_ratio"]  # doctest: +SKIP

Errors from the tracking store are raised as :class:`TrackingError`
(:class:`RunNotFoundError` for an unknown run or artifact), chained to
MLflow's exception.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grekko_research._lazy import lazy_exports

if TYPE_CHECKING:
    from grekko_research.tracking._backtest import DEFAULT_BACKTEST_EXPERIMENT, log_backtest
    from grekko_research.tracking._client import (
        RunNotFoundError,
        TrackingError,
        download_artifact,
        find_run,
        runs_table_url,
    )
    from grekko_research.tracking._drift import log_drift_breakdown
    from grekko_research.tracking._listing import list_tracked_runs
    from grekko_research.tracking._ml import (
        fluent_uri,
        load_window_models,
        log_fitted_models,
        log_window_models,
    )
    from grekko_research.tracking._model import (
        load_strategy,
        log_sweep_summary,
        model_version,
        register_strategy_model,
    )
    from grekko_research.tracking._provenance import data_hash, git_commit, tracking_uri
    from grekko_research.tracking._study import (
        DEFAULT_SWEEP_EXPERIMENT,
        log_trials,
        start_study_run,
    )

# name -> private module: imported on first use, so ``tracking._provenance`` (what every
# run folder needs) does not load the logging code with it
_LAZY = {
    "DEFAULT_BACKTEST_EXPERIMENT": "_backtest",
    "log_backtest": "_backtest",
    "RunNotFoundError": "_client",
    "TrackingError": "_client",
    "download_artifact": "_client",
    "find_run": "_client",
    "runs_table_url": "_client",
    "list_tracked_runs": "_listing",
    "log_drift_breakdown": "_drift",
    "fluent_uri": "_ml",
    "log_window_models": "_ml",
    "log_fitted_models": "_ml",
    "load_window_models": "_ml",
    "load_strategy": "_model",
    "log_sweep_summary": "_model",
    "model_version": "_model",
    "register_strategy_model": "_model",
    "data_hash": "_provenance",
    "git_commit": "_provenance",
    "tracking_uri": "_provenance",
    "DEFAULT_SWEEP_EXPERIMENT": "_study",
    "log_trials": "_study",
    "start_study_run": "_study",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "DEFAULT_BACKTEST_EXPERIMENT",
    "DEFAULT_SWEEP_EXPERIMENT",
    "RunNotFoundError",
    "TrackingError",
    "data_hash",
    "download_artifact",
    "find_run",
    "fluent_uri",
    "git_commit",
    "list_tracked_runs",
    "load_strategy",
    "load_window_models",
    "log_backtest",
    "log_drift_breakdown",
    "log_fitted_models",
    "log_sweep_summary",
    "log_trials",
    "log_window_models",
    "model_version",
    "register_strategy_model",
    "runs_table_url",
    "start_study_run",
    "tracking_uri",
]
