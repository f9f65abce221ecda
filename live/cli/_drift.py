"""``grekko-live drift``: why a run's P&L differs from its backtest's, term by term."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from live.cli._app import console
from live.cli._options import EventsOpt, JsonOpt, Overrides, StateDirOpt, VenueOpt
from live.cli._resolve import find_log, to_overrides

__all__ = ["drift_command"]


def drift_command(
    run: Annotated[
        str,
        typer.Argument(
            metavar="RUN", help="The run's id (grekko-live runs lists them) or its event log"
        ),
    ],
    overrides: Overrides = None,
    strategy: Annotated[
        str | None, typer.Option(help="Strategy name (default: the one the log recorded)")
    ] = None,
    params: Annotated[list[str] | None, typer.Option("--params", help="NAME=VALUE")] = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
    orders: Annotated[int, typer.Option(metavar="N", help="Decisions listed (0: none)")] = 20,
    every: Annotated[
        str | None,
        typer.Option(
            metavar="PERIOD",
            help="Scheduled: log to MLflow and alert now, then every PERIOD (1d, 12h …)",
        ),
    ] = None,
    runs: Annotated[
        int, typer.Option(metavar="N", help="With --every: stop after N runs (0: never)")
    ] = 0,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            metavar="TERM=AMOUNT",
            help="With --every: alert when |term| exceeds AMOUNT (quote); TERM * for every term",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Explain the gap between a run's P&L and its backtest's: signal (data, missed bars),
    timing, fill price vs the model, fees, funding, partial or missed fills, refused orders,
    residual.

    Backtests the run's window on the stored bars with the run's configuration: the log's
    strategy and parameters, then the overrides (the run's config_id must match, see
    docs/execution.md). With --every, logs each breakdown to MLflow (metrics drift_TERM,
    artifact drift.json, beside the promoted model) and alerts (GREKKO_ALERT_URLS) on a term
    over its --threshold.
    """
    from grekko_research.config import compose_config
    from grekko_research.errors import ConfigError
    from live.drift import drift_of_run, run_drift_job
    from live.drift._table import print_drift
    from live.events import EventStore
    from live.runs import read_run

    if events is None and ("/" in run or run.endswith(".db")):
        events = run
    path = find_log(None, events, venue, None if events else run, state_dir)
    started = read_run(path)
    logged = started.started_payload
    if str(logged.get("strategy", "")).startswith("portfolio:"):
        raise ConfigError(f"run {started.run_id!r} trades a portfolio: drift compares one strategy")
    if strategy is None and params is None:  # the log's: its overrides win, as in the run
        strategy = str(logged.get("strategy") or "") or None
        params = [f"{k}={_override_value(v)}" for k, v in (logged.get("params") or {}).items()]
    cfg = compose_config(to_overrides(overrides, strategy=strategy, params=params))
    if every is None:
        with EventStore.open(path) as log:
            report = drift_of_run(log.read(), cfg)
        if as_json:
            console.print_json(json.dumps(report.as_dict()))
        else:
            console.print(f"drift of {started.run_id} ({path})", soft_wrap=True, highlight=False)
            print_drift(console, report, orders=orders)
        return
    limits = _thresholds(threshold or [])
    period_s = _period_s(every)
    done = 0
    while True:
        report, mlflow_run, alerts = run_drift_job(path, cfg, thresholds=limits)
        keys = [str(a.key) for a in alerts]
        line = {"run_id": started.run_id, "mlflow_run": mlflow_run, "gap": report.gap,
                "terms": report.terms, "alerts": keys}  # fmt: skip
        if as_json:
            typer.echo(json.dumps(line))
        else:
            console.print(
                f"drift of {started.run_id}: gap {report.gap:+,.4f}, logged to MLflow run "
                f"{mlflow_run}; alerts: {', '.join(keys) or 'none'}",
                soft_wrap=True,
                highlight=False,
            )
        done += 1
        if runs and done >= runs:
            return
        time.sleep(period_s)


def _override_value(value: object) -> str:
    return json.dumps(value) if isinstance(value, list | dict) else str(value)


def _thresholds(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items:
        term, sep, amount = item.partition("=")
        try:
            out[term.strip()] = float(amount)
        except ValueError:
            sep = ""
        if not sep or not term.strip():
            raise typer.BadParameter(f"{item!r}: give TERM=AMOUNT", param_hint="--threshold")
    return out


def _period_s(every: str) -> float:
    from grekko_research.data.timeframes import parse_timeframe

    try:
        return parse_timeframe(every).ms / 1000
    except ValueError as exc:
        raise typer.BadParameter(f"{every!r}: {exc}", param_hint="--every") from None
