"""``grekko promote RUN_ID --name NAME``: register a swept strategy only when every gate passes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from grekko_research.cli.render import console, err_console

__all__ = ["promote_command"]


def promote_command(
    run_id: Annotated[
        str, typer.Argument(help="The MLflow run id of a sweep (printed by grekko sweep).")
    ],
    name: Annotated[str, typer.Option("--name", help="Registered model name.")],
    alias: Annotated[
        str | None,
        typer.Option("--alias", help="Alias to point at the new version (staging, live)."),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Hydra overrides of the gates, e.g. promote.max_pbo=0.3", show_default=False
        ),
    ] = None,
    runs_dir: Annotated[
        Path | None,
        typer.Option(
            "--runs-dir", help="Runs folder of the local MLflow store [experiment.output_dir]."
        ),
    ] = None,
) -> None:
    """Evaluate the promotion gates on a sweep; register its strategy as an MLflow model if all pass.

    The model carries the strategy's name, its exact parameters, the resolved
    configuration and the code version; ``models:/NAME@ALIAS`` loads it.
    """
    from grekko_research.cli.sweep import render_gates
    from grekko_research.config import compose_config
    from grekko_research.promote import evaluate_gates, gate_rows, gate_tag
    from grekko_research.tracking import (
        download_artifact,
        find_run,
        register_strategy_model,
        tracking_uri,
    )

    if alias is not None and alias not in ("staging", "live"):
        raise typer.BadParameter("alias must be staging or live", param_hint="--alias")
    cfg = compose_config(overrides or [])
    uri = tracking_uri(runs_dir if runs_dir is not None else cfg.experiment.output_dir)
    info = find_run(run_id, uri=uri)
    with tempfile.TemporaryDirectory(prefix="grekko-promote-") as tmp:
        summary = json.loads(download_artifact(run_id, "summary.json", tmp, uri=uri).read_text())
        config_text = download_artifact(run_id, "config.yaml", tmp, uri=uri).read_text()
    gates = evaluate_gates(summary, cfg.promote)
    console.print(f"promotion gates for run {run_id} ({summary.get('strategy')})", highlight=False)
    render_gates(console, gate_rows(gates), summary)
    failed = [g.name for g in gates if not g.ok]
    if failed:
        err_console.print(
            f"[bold red]refused[/]: {len(failed)} gate(s) failed: {', '.join(failed)}"
        )
        raise typer.Exit(1)
    run_tags = info["tags"]
    spec = {
        "strategy": summary["strategy"],
        "params": summary["best_params"],
        "config_id": run_tags.get("config_id", ""),
        "code_version": run_tags.get("git_commit", ""),
        "grekko_version": run_tags.get("grekko_version", ""),
        "source_run": run_id,
        "config": config_text,
    }
    if summary.get("fixed"):  # pinned by the sweep (optimize.fixed): part of params, named
        spec["fixed"] = summary["fixed"]
    fitted = _log_fitted_models(summary, run_tags.get("config_id", ""), run_id, uri)
    tags = {gate_tag(g.name): "pass" for g in gates}
    if fitted:  # the trained models the signals came from: reproducible from the registry
        spec["window_models"] = fitted
        tags["window_models"] = str(len(fitted))
    tags["gates"] = ", ".join(g.name for g in gates)
    parity = summary.get("parity") or {}
    if parity.get("window"):  # what the parity gate replayed, on the model version
        tags["parity.window"] = f"{parity['window'].get('start')} -> {parity['window'].get('end')}"
    version = register_strategy_model(run_id, name, spec, alias=alias, uri=uri, tags=tags)
    where = f"models:/{name}@{alias}" if alias else f"models:/{name}/{version}"
    if fitted:
        console.print(f"logged {len(fitted)} window models with it (run {run_id})", highlight=False)
    console.print(f"registered {name} version {version}: {where}", highlight=False)


def _log_fitted_models(
    summary: dict[str, Any], config_id: str, run_id: str, uri: str
) -> list[dict[str, Any]]:
    """Refit the best parameters on the sweep's data and log the strategy's fitted window
    models into the sweep's run (none for a strategy that fits nothing).

    The configuration is recomposed from the sweep's overrides; it must give the sweep's
    config id, or the models would come from other data (refused, naming both ids).
    """
    from dataclasses import replace

    from grekko_research.config import compose_config
    from grekko_research.config import config_id as id_of
    from grekko_research.errors import ConfigError
    from grekko_research.runs import load_run_bars
    from grekko_research.strategy import get_strategy, params_from_mapping
    from grekko_research.tracking import log_fitted_models

    strategy = get_strategy(summary["strategy"])
    if not strategy.fits_models:  # nothing trained: the spec and the data reproduce it
        return []
    overrides = summary.get("overrides")
    if overrides is None:  # a sweep from before the overrides were recorded
        console.print("note: the sweep recorded no overrides; no window models logged")
        return []
    cfg = compose_config(list(overrides))
    if config_id and id_of(cfg) != config_id:
        raise ConfigError(
            f"the sweep's overrides now compose to config id {id_of(cfg)}, not the sweep's "
            f"{config_id} (conf/ or the data changed?): its window models cannot be refitted"
        )
    params: Any = params_from_mapping(strategy.Params, summary["best_params"])
    cfg = replace(cfg, strategy=replace(cfg.strategy, params=dict(summary["best_params"])))
    bars = load_run_bars(cfg, strategy, None)
    fitted = strategy.fitted_models(bars, params)
    if not fitted:
        return []
    return log_fitted_models(run_id, fitted, config_id=config_id, uri=uri)
