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

from grekko_research._atomic import atomic_dir, json_strict
from grekko_research.cli.render import console, err_console

__all__ = ["sweep_command", "track_sweep", "write_best", "write_sweep"]


def write_sweep(
    result: Any, root: Path, *, reuse: bool = False, gates: list[dict[str, Any]] | None = None
) -> Path:
    """Write a sweep's folder ``<root>/sweeps/<study>/<UTC time>``; return its path.

    Files: ``summary.json``, ``trials.parquet``, ``oos_equity.parquet``,
    ``robustness.json`` (the Monte Carlo draws), ``gates.json`` (``gates``: the gate
    table of :func:`~grekko_research.promote.gate_rows`) and the
    out-of-sample equity chart ``oos_equity.html`` / ``oos_equity.png`` (the page
    shares the runs folder's plotly.js). With ``reuse``, the newest folder of the
    same study holding the same summary from the same code is returned instead
    (an identical rerun: the study had nothing left to run).
    """
    from grekko_research.reports.plotlyjs import shared_plotly_js
    from grekko_research.reports.sweep import write_oos_chart

    summary_text = json.dumps(json_strict(result.summary()), indent=2) + "\n"
    identity = _sweep_identity(summary_text)
    if reuse:
        found = find_identical_sweep(root, result.study_name, identity)
        if found is not None:
            return found
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    final = root / "sweeps" / result.study_name / stamp
    with atomic_dir(final) as tmp:
        (tmp / "summary.json").write_text(summary_text, encoding="utf-8")
        (tmp / "provenance.json").write_text(
            json.dumps({"code_version": _code_version(), "identity": identity}, indent=2) + "\n",
            encoding="utf-8",
        )
        draws = getattr(result, "robustness_draws", None)
        if draws:  # the Monte Carlo distributions behind the summary's percentiles
            (tmp / "robustness.json").write_text(
                json.dumps(json_strict(draws)) + "\n", encoding="utf-8"
            )
        if gates is not None:
            (tmp / "gates.json").write_text(
                json.dumps(json_strict(gates), indent=2) + "\n", encoding="utf-8"
            )
        if result.trials is not None:
            frame = result.trials.copy()
            for col in frame.columns:
                if frame[col].dtype == object:
                    frame[col] = frame[col].astype(str)
            frame.to_parquet(tmp / "trials.parquet", index=False)
        if result.oos_equity is not None and len(result.oos_equity):
            result.oos_equity.rename("equity").to_frame().reset_index().to_parquet(
                tmp / "oos_equity.parquet", index=False
            )
            write_oos_chart(
                result.oos_equity,
                tmp,
                title=f"{result.strategy}: out-of-sample equity ({result.study_name})",
                folds=result.folds,
                plotly_js=shared_plotly_js(root),
            )
    return final


def _code_version() -> str | None:
    from grekko_research.tracking._provenance import code_version

    return code_version()


def _sweep_identity(summary_text: str) -> str | None:
    from grekko_research.tracking._provenance import identity_hash

    return identity_hash(summary_text, _code_version())


def find_identical_sweep(root: Path, study: str, identity: str | None) -> Path | None:
    """The newest folder of ``study`` under ``root`` written with ``identity``, if any."""
    from grekko_research.tracking._provenance import find_identity

    return find_identity(sorted((root / "sweeps" / study).glob("*"), reverse=True), identity)


def write_best(cfg: Any, result: Any, folder: Path, store: Any = None) -> tuple[Any, Path]:
    """Backtest the best parameters into ``folder`` (tearsheet included); return the run and its folder.

    Also writes ``study.html``, Optuna's optimisation history and parameter
    importances of the full-sample study, when it has enough trials. A folder
    that already holds them (a reused sweep folder) is left as it is.
    """
    from dataclasses import replace

    from grekko_research.runs import run_backtest, write_run

    best_cfg = replace(cfg, strategy=replace(cfg.strategy, params=dict(result.best_params)))
    best = run_backtest(best_cfg, store=store)
    existing = sorted((folder / best.strategy.name).glob(f"*-{best.config_id}*"))
    run_folder = existing[-1] if existing else write_run(best, folder)
    if not existing:
        _gate_tearsheet(cfg, result, best, run_folder, folder)
    if not (folder / "study.html").exists():
        _write_study_figures(cfg, result, folder)
    return best, run_folder


def sweep_gates(cfg: Any, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The promotion-gate table of a sweep's summary under ``cfg.promote``."""
    from grekko_research.promote import evaluate_gates, gate_rows

    return gate_rows(evaluate_gates(summary, cfg.promote))


def _gate_tearsheet(cfg: Any, result: Any, best: Any, run_folder: Path, folder: Path) -> None:
    """Rewrite the best run's tearsheet with the sweep's gates, robustness and parity on top."""
    from grekko_research.config.compose import to_container
    from grekko_research.reports import write_tearsheet
    from grekko_research.reports.gates import gate_sections
    from grekko_research.reports.plotlyjs import shared_plotly_js

    summary = json_strict(result.summary())
    sections = gate_sections(sweep_gates(cfg, summary), summary.get("robustness"),
                             summary.get("parity"))  # fmt: skip
    write_tearsheet(
        best.result,
        run_folder / "tearsheet.html",
        title=f"{best.strategy.name} {'/'.join(best.bars.symbols)} {best.bars.timeframe}"
        f" — {best.config_id} (best of sweep {result.study_name})",
        config=to_container(best.config),
        plotly_js=shared_plotly_js(Path(cfg.experiment.output_dir)),
        extra_sections=sections,
    )


def check_sweep_parity(cfg: Any, result: Any, overrides: list[str], say: Any = None) -> None:
    """Run the live-replay parity check of the best parameters (``optimize.parity``) into
    ``result.parity``: ``grekko-live parity`` on the last out-of-sample window."""
    from grekko_research.optimize.parity import run_parity_check

    if not cfg.optimize.parity or not result.last_oos:
        return
    if say is not None:
        w = result.last_oos
        lead = f" after {w['warmup_bars']} bars of warm-up" if w.get("warmup_bars") else ""
        say(f"live parity: replaying the best parameters from {w['start']}{lead} "
            "through grekko-live (runner + paper venue)")  # fmt: skip
    result.parity = run_parity_check(overrides, result.best_params, result.last_oos)


def _write_study_figures(cfg: Any, result: Any, folder: Path) -> None:
    import optuna

    from grekko_research.optimize.studies import _storage
    from grekko_research.reports.plotlyjs import shared_plotly_js
    from grekko_research.reports.sweep import write_figures_page

    figures: dict[str, Any] = {}
    try:
        study = optuna.load_study(study_name=f"{result.study_name}/full", storage=_storage(cfg))
        target = None if len(study.directions) == 1 else (lambda t: t.values[0])
        name = result.objective[0]
        figures["optimization_history"] = optuna.visualization.plot_optimization_history(
            study, target=target, target_name=name
        )
        figures["param_importances"] = optuna.visualization.plot_param_importances(
            study, target=target, target_name=name
        )
    except (ValueError, RuntimeError, ImportError):
        pass  # too few finished trials for a plot: the trial table still says everything
    if figures:
        root = Path(cfg.experiment.output_dir)
        write_figures_page(figures, folder / "study.html", title=f"study {result.study_name}",
                           plotly_js=shared_plotly_js(root))  # fmt: skip


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
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend",
            help="local (worker processes) or ray (trials as Ray tasks; needs "
            "optimize.storage=<database URL>) [optimize.backend].",
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option("--address", help="The Ray cluster's head, host:port [optimize.ray_address]."),
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
    if backend is not None:
        args.append(f"optimize.backend={backend}")
    if address is not None:
        args.append(f"optimize.ray_address={address}")
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
                if len(study.directions) == 1:  # the objective by name, as the summary calls it
                    best = f"{study.metric_names[0] if study.metric_names else 'value'} "
                    best += f"{study.best_value:.4g}"
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
    check_sweep_parity(cfg, result, args, say=lambda m: out.print(m, highlight=False))
    root = Path(cfg.experiment.output_dir)
    # the overrides: grekko promote recomposes the configuration to refit the window models
    summary = {**json_strict(result.summary()), "overrides": args}
    folder = write_sweep(result, root, gates=sweep_gates(cfg, summary))
    best, best_folder = write_best(cfg, result, folder)
    run_id = track_sweep(cfg, result, summary, folder, best=(best, best_folder))
    render_sweep(out, cfg, result, summary, folder, best_folder)
    if run_id:
        from grekko_research.tracking import runs_table_url, tracking_uri

        uri = tracking_uri(cfg.experiment.output_dir)
        out.print(f"MLflow run {run_id}; runs table (`mlflow ui --backend-store-uri {uri}`): "
                  f"{runs_table_url(run_id, uri=uri)}", highlight=False, soft_wrap=True)  # fmt: skip
        if promotable(summary, cfg):
            out.print(f"promote: grekko promote {run_id} --name <model name>", highlight=False)
    if as_json:
        payload = {**summary, "gates": sweep_gates(cfg, summary), "mlflow_run_id": run_id,
                   "folder": str(folder),
                   "tearsheet": str(best_folder / "tearsheet.html")}  # fmt: skip
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
        err_console.print(str(folder), highlight=False, soft_wrap=True)
    else:
        console.print(str(folder), highlight=False, soft_wrap=True)


def promotable(summary: dict[str, Any], cfg: Any) -> bool:
    """Whether the sweep passes the promotion gates (only then is ``promote`` suggested)."""
    from grekko_research.promote import evaluate_gates

    return all(g.ok for g in evaluate_gates(summary, cfg.promote))


def explain_trials(summary: dict[str, Any], cfg: Any) -> list[str]:
    """Sentences saying what each count of the summary counts (trials run, scored, used)."""
    counts = summary.get("trials") or {}
    o = cfg.optimize
    lines = []
    if counts:
        parts = [f"{counts.get('scored', 0)} scored"]
        why = {"pruned": "stopped early by the median pruner", "unscored": "no objective value "
               "(e.g. no trade)", "refused": "parameters the strategy rejects",
               "too_short": "warm-up longer than the data holds"}  # fmt: skip
        parts += [f"{counts[k]} {why[k]}" for k in why if counts.get(k)]
        lines.append(
            f"full-sample study: {counts.get('finished', 0)} finished trials ({', '.join(parts)})"
        )
    n_folds = len(summary.get("folds") or [])
    if n_folds and o.validation == "walk_forward":
        lines.append(
            f"{n_folds} walk-forward fold studies of {o.n_trials} trials each chose the parameters "
            "tested on the next, unseen window; the out-of-sample column stitches those windows"
        )
    elif n_folds:
        lines.append(f"{n_folds} {o.validation} split studies of {o.n_trials} trials each chose "
                     "the parameters tested on held-out blocks")  # fmt: skip
    over = summary.get("overfitting") or {}
    if over.get("n_trials") is not None:
        used = int(over["n_trials"])
        text = (f"overfitting statistics use the {used} scored trials of the full-sample study "
                "(their daily returns)")  # fmt: skip
        if counts and used != counts.get("finished"):
            text += "; pruned and unscored trials have no full return series"
        if over.get("pbo_splits") is not None:
            text += f"; PBO over {int(over['pbo_splits'])} blocks"
        lines.append(text)
    return lines


def render_sweep(
    out: Any,
    cfg: Any,
    result: Any,
    summary: dict[str, Any],
    folder: Path,
    best_folder: Path | None,
) -> None:
    """Print the sweep's result: metrics, what the counts mean, the charts and where files are."""
    from grekko_research.cli.render import fmt_number, fmt_params, new_table
    from grekko_research.reports.sweep import sparkline

    objective = ", ".join(result.objective)
    out.print(f"sweep {result.study_name}: {result.n_trials} trials, objective {objective}",
              highlight=False, soft_wrap=True)  # fmt: skip
    table = new_table(out=out)
    table.add_column("")
    table.add_column("out-of-sample", justify="right")
    table.add_column("in-sample (best)", justify="right")
    oos = summary["out_of_sample"] or {}
    for name in ("total_return", "sharpe_ratio", "sortino_ratio", "max_drawdown", "final_equity"):
        table.add_row(
            name.replace("_", " "),
            fmt_number(oos.get(name)),
            fmt_number(summary["in_sample"].get(name)),
        )
    out.print(table)
    out.print(f"best params: {fmt_params(summary['best_params'])}", highlight=False)
    if summary.get("fixed"):
        out.print(f"fixed (not searched): {fmt_params(summary['fixed'])}", highlight=False)
    over = summary["overfitting"] or {}
    shown = {"deflated_sharpe": "deflated Sharpe", "pbo": "PBO", "n_trials": "trials used"}
    stats = [
        f"{label} {fmt_number(over[k])}" for k, label in shown.items() if over.get(k) is not None
    ]
    if stats:
        out.print("overfitting: " + ", ".join(stats), highlight=False)
    for line in explain_trials(summary, cfg):
        out.print(f"  · {line}", highlight=False)
    eff = over.get("n_eff")
    if eff is not None:
        out.print(
            f"effective trials: N_eff {fmt_number(eff)} of N {fmt_number(over.get('n_trials'))}; "
            f"deflated Sharpe {fmt_number(over.get('deflated_sharpe_eff'))} with N_eff "
            f"(raw N: {fmt_number(over.get('deflated_sharpe'))})",
            highlight=False,
        )
    render_gates(out, sweep_gates(cfg, summary), summary)
    if result.oos_equity is not None and len(result.oos_equity):
        eq = result.oos_equity
        out.print(
            f"out-of-sample equity {fmt_number(float(eq.iloc[0]))} → "
            f"{fmt_number(float(eq.iloc[-1]))}: {sparkline(eq.to_numpy(), 48)}",
            highlight=False,
        )
    for label, path in (
        ("out-of-sample chart", folder / "oos_equity.html"),
        ("study charts", folder / "study.html"),
        ("best params' tearsheet", None if best_folder is None else best_folder / "tearsheet.html"),
    ):
        if path is not None and path.exists():
            out.print(f"{label}: {path}", highlight=False, soft_wrap=True)
    out.print(f"studies: optuna-dashboard {result.storage}", highlight=False, soft_wrap=True)


def render_gates(out: Any, gates: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """The gate table: each gate, its value, threshold, verdict and why it matters."""
    from grekko_research.cli.render import new_table

    verdict = "every gate passes" if all(g["ok"] for g in gates) else "not promotable"
    table = new_table(title=f"promotion gates: {verdict}", out=out)
    for col in ("gate", "value", "threshold", "", "why it matters"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for g in gates:
        value = "not measured" if g["value"] is None else f"{g['value']:.4g}"
        table.add_row(g["gate"], value, g["rule"], "[green]pass[/]" if g["ok"] else "[red]FAIL[/]",
                      g["why"])  # fmt: skip
    out.print(table)
    parity = summary.get("parity") or {}
    diff = parity.get("first_difference") or parity.get("error")
    if parity and diff:
        out.print(f"live parity: first difference {diff}", highlight=False, soft_wrap=True)


def track_sweep(
    cfg: Any,
    result: Any,
    summary: dict[str, Any],
    folder: Path,
    store: Any = None,
    *,
    best: tuple[Any, Path] | None = None,
    reuse: bool = False,
) -> str | None:
    """Log the sweep to MLflow (parent run, trial table, top trials, summary, best backtest).

    ``best``: the best parameters' run and folder from :func:`write_best` (computed
    here when not given). With ``reuse``, the parent run of an identical sweep
    (same study, summary and code: an identical rerun) is returned instead of
    logging another. Returns the parent run id, or ``None`` when tracking is off.
    """
    if not cfg.experiment.track:
        return None
    from grekko_research.cli._finish import tracking_lock
    from grekko_research.tracking import (
        log_backtest,
        log_sweep_summary,
        log_trials,
        start_study_run,
        tracking_uri,
    )
    from grekko_research.tracking._client import IDENTITY_TAG, client, find_identical
    from grekko_research.tracking._study import DEFAULT_SWEEP_EXPERIMENT

    uri = tracking_uri(cfg.experiment.output_dir)
    identity = _sweep_identity(json.dumps(json_strict(summary), indent=2) + "\n")
    if reuse:
        with tracking_lock(uri):  # a background finish of `grekko backtest` may be logging
            mlc, _ = client(uri)
            found = find_identical(mlc, uri, DEFAULT_SWEEP_EXPERIMENT, identity)
        if found is not None:
            return found
    if best is None:
        best = write_best(cfg, result, folder, store)
    names = list(result.objective)
    direction = (list(cfg.optimize.directions) or [cfg.optimize.direction])[0]
    tags = {"seed": cfg.optimize.seed, IDENTITY_TAG: identity}
    with (
        tracking_lock(uri),
        start_study_run(
            result.study_name, cfg, uri=uri, tags={k: v for k, v in tags.items() if v is not None}
        ) as run_id,
    ):
        # The trial table names its value columns after the objectives (a Pareto front is
        # ranked by the first).
        log_trials(run_id, result.trials, top_k=10, objective_name=names[0],
                   direction=direction, uri=uri)  # fmt: skip
        log_sweep_summary(run_id, summary, folder, uri=uri)
        _log_gates(run_id, cfg, summary, uri)
        # The best parameters' full backtest (tearsheet, trades) as a child of the sweep.
        log_backtest(best[0], best[1], parent_run_id=run_id, uri=uri,
                     tags={"role": "best_params"})  # fmt: skip
    return run_id


def _log_gates(run_id: str, cfg: Any, summary: dict[str, Any], uri: str) -> None:
    """Robustness percentiles and the gate table on the sweep's MLflow run.

    Metrics ``robustness.<distribution>.p<q>`` and ``gate.<gate>`` (its value), tags
    ``gate.<gate>`` = pass | fail, and the table as the artifact ``gates.json``.
    """
    from grekko_research.promote import gate_tag
    from grekko_research.tracking._client import client, finite_metrics, log_batch, translated

    gates = sweep_gates(cfg, summary)
    metrics = {f"robustness.{k}": v for k, v in (summary.get("robustness") or {}).items()}
    metrics.update({gate_tag(g["gate"]): g["value"] for g in gates})
    tags = {gate_tag(g["gate"]): "pass" if g["ok"] else "fail" for g in gates}
    parity = summary.get("parity")
    if parity is not None:
        tags["parity.first_difference"] = str(parity.get("first_difference") or
                                              parity.get("error") or "none")  # fmt: skip
    mlc, uri = client(uri)
    with translated(uri, f"logging the promotion gates on run {run_id}"):
        log_batch(mlc, run_id, metrics=finite_metrics(metrics), tags=tags)
        mlc.log_dict(run_id, {"gates": gates, "parity": parity}, "gates.json")
