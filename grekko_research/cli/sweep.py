"""``grekko sweep [OVERRIDES...]``: an Optuna sweep with walk-forward validation."""

from __future__ import annotations

import json
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from grekko_research._atomic import atomic_dir, json_strict
from grekko_research.cli.render import console, err_console

__all__ = ["sweep_command", "write_sweep"]


def write_sweep(result: Any, root: Path) -> Path:
    """Write ``summary.json``, ``trials.parquet`` and ``oos_equity.parquet`` into a new folder."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    final = root / "sweeps" / result.study_name / stamp
    with atomic_dir(final) as tmp:
        (tmp / "summary.json").write_text(
            json.dumps(json_strict(result.summary()), indent=2) + "\n", encoding="utf-8"
        )
        if result.trials is not None:
            frame = result.trials.copy()
            for col in frame.columns:
                if frame[col].dtype == object:
                    frame[col] = frame[col].astype(str)
            frame.to_parquet(tmp / "trials.parquet", index=False)
        if result.oos_equity is not None:
            result.oos_equity.rename("equity").to_frame().reset_index().to_parquet(
                tmp / "oos_equity.parquet", index=False
            )
    return final


def sweep_command(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Hydra overrides, e.g. strategy=rsi_mean_reversion optimize.n_trials=200 "
            "optimize.sampler=random optimize.workers=2",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="Processes sharing the study [optimize.workers]."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON on standard output.")
    ] = False,
) -> None:
    """Search the strategy's parameters with Optuna; lead with the out-of-sample result.

    Rerunning the same command continues the same studies. The last line
    printed is the sweep's folder.
    """
    from grekko_research.config import compose_config
    from grekko_research.optimize import run_sweep

    args = list(overrides or [])
    if workers is not None:
        args.append(f"optimize.workers={workers}")
    cfg = compose_config(args)
    out = err_console if as_json else console
    bars: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}"),
        TimeElapsedColumn(),
        console=out,
        transient=False,
    ) as progress:

        def on_trial(name: str, total: int, study: Any, trial: Any) -> None:
            task = bars.get(name)
            if task is None:
                task = bars[name] = progress.add_task(name, total=total, best="—")
            done = sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished()
                       and t.state.name in ("COMPLETE", "PRUNED"))  # fmt: skip
            best = "—"
            try:
                if len(study.directions) == 1:
                    best = f"{study.best_value:.4g}"
            except ValueError:
                pass
            progress.update(task, completed=min(done, total), best=best)

        from grekko_research.optimize.sweep import SweepInterrupted, install_interrupt_handler

        previous = install_interrupt_handler()
        try:
            result = run_sweep(cfg, on_trial=on_trial)
        except (KeyboardInterrupt, SweepInterrupted):
            err_console.print(
                "[yellow]interrupted[/yellow]: the finished trials are in the study; "
                "rerun the same command to continue it"
            )
            raise typer.Exit(130) from None
        finally:
            signal.signal(signal.SIGINT, previous)
    folder = write_sweep(result, Path(cfg.experiment.output_dir))
    summary = json_strict(result.summary())
    run_id = track_sweep(cfg, result, summary, folder)
    table = Table(
        title=f"sweep {result.study_name}: {result.n_trials} trials, {', '.join(result.objective)}"
    )
    table.add_column("")
    table.add_column("out-of-sample", justify="right")
    table.add_column("in-sample (best)", justify="right")
    oos = summary["out_of_sample"] or {}
    for name in ("total_return", "sharpe_ratio", "sortino_ratio", "max_drawdown", "final_equity"):
        table.add_row(
            name.replace("_", " "), _fmt(oos.get(name)), _fmt(summary["in_sample"].get(name))
        )
    out.print(table)
    out.print(f"best params: {json.dumps(summary['best_params'])}")
    if summary["overfitting"]:
        out.print(
            "overfitting: "
            + ", ".join(f"{k} {v:.4g}" for k, v in summary["overfitting"].items() if v is not None)
        )
    out.print(f"studies in {result.storage} (optuna-dashboard {result.storage})")
    if run_id:
        out.print(f"MLflow run {run_id}: grekko promote {run_id} --name <model name>")
    if as_json:
        sys.stdout.write(json.dumps({**summary, "mlflow_run_id": run_id}, indent=2) + "\n")
        err_console.print(str(folder), highlight=False, soft_wrap=True)
    else:
        console.print(str(folder), highlight=False, soft_wrap=True)


def track_sweep(
    cfg: Any, result: Any, summary: dict[str, Any], folder: Path, store: Any = None
) -> str | None:
    """Log the sweep to MLflow (parent run, trial table, top trials, plots, summary); return the run id."""
    if not cfg.experiment.track:
        return None
    from dataclasses import replace

    import optuna

    from grekko_research.optimize.studies import _storage
    from grekko_research.runs import run_backtest, write_run
    from grekko_research.tracking import (
        log_backtest,
        log_sweep_summary,
        log_trials,
        start_study_run,
        tracking_uri,
    )

    uri = tracking_uri(cfg.experiment.output_dir)
    figures: dict[str, Any] = {}
    try:
        study = optuna.load_study(study_name=f"{result.study_name}/full", storage=_storage(cfg))
        if len(study.directions) == 1:
            figures["optimization_history"] = optuna.visualization.plot_optimization_history(study)
            figures["param_importances"] = optuna.visualization.plot_param_importances(study)
    except (ValueError, RuntimeError, ImportError):
        pass  # too few finished trials for a plot: the table still says everything
    objective = cfg.optimize.objective if not cfg.optimize.objectives else "values_0"
    direction = (list(cfg.optimize.directions) or [cfg.optimize.direction])[0]
    with start_study_run(
        result.study_name, cfg, uri=uri, tags={"seed": cfg.optimize.seed}
    ) as run_id:
        log_trials(run_id, result.trials, top_k=10, objective_name=objective,
                   direction=direction, figures=figures, uri=uri)  # fmt: skip
        log_sweep_summary(run_id, summary, folder, uri=uri)
        # The best parameters' full backtest (tearsheet, trades) as a child of the sweep.
        best_cfg = replace(cfg, strategy=replace(cfg.strategy, params=dict(result.best_params)))
        best = run_backtest(best_cfg, store=store)
        log_backtest(best, write_run(best, folder), parent_run_id=run_id, uri=uri,
                     tags={"role": "best_params"})  # fmt: skip
    return run_id


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:,.4g}"
