"""``grekko-live calibrate``: fit cost models from runs' event logs and version them in MLflow."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from live.cli._app import console
from live.cli._options import EventsOpt, JsonOpt, StateDirOpt, VenueOpt
from live.cli._resolve import find_log

__all__ = ["calibrate_command"]


def calibrate_command(
    runs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="RUN...",
            help="Runs' ids (grekko-live runs lists them) or event logs (paths or URLs)",
        ),
    ] = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
    name: Annotated[
        str, typer.Option(metavar="NAME", help="The model set's name in MLflow")
    ] = "calibrated",
    vol_window: Annotated[
        int, typer.Option(metavar="N", help="Bars of returns in the volatility feature")
    ] = 20,
    log: Annotated[
        bool, typer.Option("--log/--no-log", help="Log the fit to MLflow (cost_models)")
    ] = True,
    tracking_uri: Annotated[
        str | None,
        typer.Option(metavar="URI", help="MLflow store (default: MLFLOW_TRACKING_URI or runs/)"),
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", metavar="PATH", help="Write the fit rows")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit per venue/symbol cost models from the runs' own fills (docs/execution.md).

    Slippage against the bar model, slippage_bps = a + b·sqrt(size / bar volume) + c·volatility
    (non-negative least squares), and the fill probability of resting limits; logged to MLflow
    as a run of the cost_models experiment (params, tags venue/symbol, cost_models.json), which
    a backtest selects with costs=calibrated costs.run_id=ID (or costs.name=NAME).
    """
    import pandas as pd

    from grekko_research.costs import fit_cost_models
    from grekko_research.errors import DataError
    from live.events import EventStore
    from live.quality._calibrate import calibration_rows

    logs = []
    given_runs: list[str | None] = list(runs) if runs else [None]
    for given in given_runs:
        ev: str | None = events
        run: str | None = given
        if given is not None and ev is None and ("/" in given or given.endswith(".db")):
            ev, run = given, None
        logs.append(find_log(None, ev, venue, run, state_dir))
    frames = []
    for path in logs:
        with EventStore.open(path) as store:
            frames.append(calibration_rows(store.read(), vol_window=vol_window))
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if csv is not None:
        rows.to_csv(csv, index=False)
        console.print(f"wrote {csv}", soft_wrap=True)
    try:
        models = fit_cost_models(rows, vol_window=vol_window, source="fills")
    except DataError as exc:
        raise typer.BadParameter(f"cannot fit from {', '.join(logs)}: {exc}") from None
    run_id = None
    if log:
        from grekko_research.tracking._costs import log_cost_models

        run_ids = sorted({r for r in rows["run_id"] if r})
        run_id = log_cost_models(
            models, name=name, rows=rows, tags={"runs": ",".join(run_ids)}, uri=tracking_uri
        )
    if as_json:
        import json

        doc = {"run_id": run_id, "name": name, "models": [m.to_dict() for m in models]}
        console.print_json(json.dumps(doc))
        return
    from rich.table import Table

    table = Table(title=f"cost models from {len(rows)} orders of {len(logs)} run(s)")
    for col in ("venue", "symbol", "orders", "a bps", "b bps/√share", "c bps/σbps", "R²",
                "fill P(0 bps)"):  # fmt: skip
        table.add_column(col, justify="right")
    for m in models:
        table.add_row(
            m.venue, m.symbol, str(m.n_orders), f"{m.a:.3f}", f"{m.b:.3f}", f"{m.c:.4f}",
            f"{m.r2:.3f}", f"{m.fill_probability(0.0):.2f}",
        )  # fmt: skip
    console.print(table)
    if run_id is not None:
        console.print(
            f"logged to MLflow: run {run_id} (name {name!r}); backtest with it: "
            f"grekko backtest costs=calibrated costs.run_id={run_id} engine.sizing=percent",
            soft_wrap=True,
        )
