"""Log one backtest run (and its run folder) to MLflow."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grekko_research.errors import ConfigError
from grekko_research.tracking import _client as mc
from grekko_research.tracking._provenance import data_hash, git_commit

if TYPE_CHECKING:
    from grekko_research.runs import BacktestRun

__all__ = ["DEFAULT_BACKTEST_EXPERIMENT", "log_backtest", "run_params", "run_tags"]

DEFAULT_BACKTEST_EXPERIMENT = "grekko-backtests"


def run_params(run: BacktestRun) -> dict[str, Any]:
    """Return the MLflow params of a backtest: strategy params, data, engine and risk settings."""
    from grekko_research.data.timeframes import iso
    from grekko_research.strategy import params_to_mapping

    bars, cfg = run.bars, run.config
    out: dict[str, Any] = {"strategy": run.strategy.name}
    out.update({f"params.{k}": v for k, v in params_to_mapping(run.params).items()})
    out.update(
        {
            "data.symbols": mc.as_strings(bars.symbols),
            "data.timeframe": bars.timeframe,
            "data.exchange": cfg.data.exchange,
            "data.market": cfg.data.market,
            "data.start": iso(int(bars.index[0])),  # the bars used, not the requested window
            "data.end": iso(int(bars.index[-1])),
            "data.bars": bars.n_bars,
            "data.gap_policy": cfg.data.gap_policy,
            "data.funding": cfg.data.funding,
        }
    )
    out.update({f"engine.{k}": v for k, v in asdict(cfg.engine).items()})
    # The backtest's risk spec, one scalar param per limit (old keys applied).
    out.update(mc.risk_params(cfg.risk.spec))
    return out


def run_tags(run: BacktestRun, extra: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Return the provenance tags of a backtest (``extra`` added last, so it may override)."""
    from grekko_research import __version__

    tags: dict[str, Any] = {
        "config_id": run.config_id,
        "data_hash": data_hash(run.bars),
        "strategy": run.strategy.name,
        "grekko_version": __version__,
    }
    commit = git_commit()
    if commit is not None:
        tags["git_commit"] = commit
        tags[mc.GIT_TAG] = commit  # what MLflow's UI shows as the source version
    if run.config.experiment.tags:
        tags["labels"] = mc.as_strings(run.config.experiment.tags)
    tags.update(extra or {})
    return {k: str(v) for k, v in tags.items() if v is not None}


def log_backtest(
    run: BacktestRun,
    run_dir: str | os.PathLike[str] | None = None,
    *,
    experiment: str | None = None,
    parent_run_id: str | None = None,
    tags: Mapping[str, Any] | None = None,
    uri: str | None = None,
    reuse: bool = False,
) -> str:
    """Log a backtest to MLflow as one finished run and return the MLflow run id.

    Params: the strategy's parameters as ``params.<name>``, ``strategy``, the
    data actually used (``data.symbols``, ``data.timeframe``, ``data.start``,
    ``data.end``, ...), the ``engine.*`` settings and the risk spec, one scalar
    param per limit (``risk.portfolio.drawdown.limit``; the deprecated keys
    applied, the live-only ``ops`` left out). Metrics:
    every finite metric of ``run.result.metrics`` plus ``final_equity`` and
    ``n_trades``. Tags: ``config_id``, ``data_hash``, ``strategy``,
    ``grekko_version``, ``git_commit`` (when the code runs from a git
    checkout), ``identity`` (config id, data hash and code version hashed:
    equal for an identical rerun), then ``tags`` (e.g. ``{"seed": 7}``).
    Artifacts: every file of ``run_dir`` (the folder
    :func:`grekko_research.runs.write_run` wrote) — hard links into a local
    artifact store, so the bytes are on disk once; without a folder, the
    resolved configuration and ``metrics.json`` only.

    Parameters
    ----------
    run
        The result of :func:`grekko_research.runs.run_backtest`.
    run_dir
        Its run folder, or ``None``.
    experiment
        MLflow experiment (created if new). Default: the parent run's
        experiment when ``parent_run_id`` is given (MLflow nests runs within
        one experiment only), else ``"grekko-backtests"``.
    parent_run_id
        Nest this run under another (e.g. a sweep's parent run).
    tags
        Further tags; they override the ones above on a name clash.
    uri
        Tracking URI; default :func:`tracking_uri` (``$MLFLOW_TRACKING_URI`` or ``./runs``).
    reuse
        Return the id of a finished top-level run of the experiment with the same
        ``identity`` instead of logging another (an identical rerun). Ignored for
        child runs and when the code version is unknown.

    Otherwise each call creates a new run. If logging fails half-way the run is
    marked FAILED (never left RUNNING) and the error propagates.
    """
    folder = Path(run_dir) if run_dir is not None else None
    if folder is not None and not folder.is_dir():
        raise ConfigError(f"run_dir {str(folder)!r} is not a folder")
    from grekko_research.runs.backtest import run_identity

    params = run_params(run)
    identity = run_identity(run)
    all_tags = run_tags(run, {mc.IDENTITY_TAG: identity, **(tags or {})})
    metrics = mc.finite_metrics(run.result.metrics)
    metrics.update(
        mc.finite_metrics(
            {"final_equity": run.result.final_equity, "n_trades": run.result.n_trades}
        )
    )
    mlc, uri = mc.client(uri)
    exp_id = None
    if parent_run_id is not None:
        with mc.translated(uri, f"reading parent run {parent_run_id!r}"):
            parent = mlc.get_run(parent_run_id)
        all_tags = {mc.PARENT_TAG: parent_run_id, **all_tags}
        if experiment is None:
            exp_id = parent.info.experiment_id
    name = experiment or DEFAULT_BACKTEST_EXPERIMENT
    if reuse and parent_run_id is None:
        found = mc.find_identical(mlc, uri, name, identity)
        if found is not None:
            return found
    run_name = f"{run.strategy.name}-{run.config_id}"
    with mc.open_run(mlc, uri, name, run_name=run_name, tags=all_tags, exp_id=exp_id) as run_id:
        mc.log_batch(mlc, run_id, params=params, metrics=metrics)
        if folder is not None:
            mc.log_folder(mlc, run_id, folder)
        else:
            from grekko_research.config import to_container

            mlc.log_dict(run_id, to_container(run.config), "config.yaml")
            mlc.log_dict(run_id, run.metrics_document(), "metrics.json")
    return run_id
