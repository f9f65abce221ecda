"""``grekko backtest [OVERRIDES...]``: one backtest from the Hydra configuration in ``conf/``."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from grekko_research.cli._compile_notice import compile_notice
from grekko_research.cli.render import (
    console,
    err_console,
    fmt_bars,
    fmt_number,
    fmt_params,
    new_table,
)

if TYPE_CHECKING:
    from rich.console import Console

    from grekko_research.runs import BacktestRun

__all__ = ["backtest_command", "format_metric"]

_PERCENT = {
    "total_return",
    "annual_return",
    "annual_volatility",
    "max_drawdown",
    "value_at_risk",
    "conditional_value_at_risk",
    "exposure",
    "win_rate",
    "best_trade",
    "worst_trade",
    "average_trade_return",
}
_MONEY = {"expectancy", "average_win", "average_loss"}
_BARS = {"max_drawdown_duration", "average_trade_duration"}
_TIMES = {"turnover", "annual_turnover"}


def format_metric(name: str, value: float | None, timeframe: str | None = None) -> str:
    """Return one metric as a person reads it: percent, money, ×, counts, bars with time."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if name in _PERCENT:
        return f"{value:.2%}"
    if name in _MONEY:
        return f"{value:,.2f}"
    if name in _BARS:
        return fmt_bars(value, timeframe)
    if name in _TIMES:
        return f"{value:,.1f}×"
    if name == "trade_count":
        return f"{value:,.0f}"
    return fmt_number(value, digits=3)


def backtest_command(
    overrides: Annotated[
        list[str] | None,
        typer.Argument(
            help="Hydra overrides, e.g. strategy=rsi_mean_reversion strategy.params.period=21 "
            "data.symbol=ETH/USDT data.timeframe=1h",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print metrics.json to standard output (the table and the run folder go to "
            "standard error).",
        ),
    ] = False,
    output_dir: Annotated[
        Path | None,
        typer.Option(
            "--output-dir", help="Where run folders go (default: experiment.output_dir, runs/)."
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Write the tearsheet and the MLflow run before returning, and print the MLflow "
            "run id (default: in the background, after the summary).",
        ),
    ] = False,
) -> None:
    """Backtest a strategy on stored data; write config, metrics, trades, equity and a tearsheet.

    The numbers are written and summarised first; the tearsheet and the MLflow run follow
    in the background a few seconds later (a failure there is reported by the next
    grekko backtest or grekko compare) unless --wait is given. The last line printed is
    the run folder.
    """
    from grekko_research.cli._finish import can_detach, report_unfinished
    from grekko_research.config import compose_config
    from grekko_research.runs import run_backtest, write_run

    cfg = compose_config(overrides or [])
    out = err_console if as_json else console
    root = Path(output_dir if output_dir is not None else cfg.experiment.output_dir)
    report_unfinished(root)
    steps = [s for s, on in (("tearsheet", cfg.experiment.tearsheet),
                             ("MLflow run", cfg.experiment.track)) if on]  # fmt: skip
    background = bool(steps) and not wait and can_detach()
    with out.status(f"backtesting {cfg.strategy.name}…"), compile_notice(err_console):
        run = run_backtest(cfg)
        folder = write_run(run, output_dir, tearsheet=not background)
        run_id = None if background else _track(run, folder, output_dir)
    started = None
    if background:  # before anything is printed: a closed pipe must not lose the finish
        from grekko_research import cli
        from grekko_research.cli._finish import finish_in_background

        started = finish_in_background(
            folder, steps, lambda: _finish(run, folder, output_dir), sys.argv[1:]
        )
        if started is None:  # the child could not record itself: finish here, in full
            with out.status(f"writing the {' and '.join(steps)}…"):
                run_id = _finish(run, folder, output_dir)
        else:
            cli.skip_teardown = True
    _print_summary(run, out)
    if started is not None:
        out.print(
            f"{' and '.join(steps)}: being written in the background (pid {started[0]}; "
            "--wait waits for them)",
            highlight=False,
        )
    if run_id:
        out.print(f"MLflow run {run_id}", highlight=False)
    if as_json:
        sys.stdout.write(json.dumps(run.metrics_document(), indent=2) + "\n")
        sys.stdout.flush()
        err_console.print(str(folder), highlight=False, soft_wrap=True)
    else:
        console.print(str(folder), highlight=False, soft_wrap=True)


def _track(run: BacktestRun, folder: Path, output_dir: Path | None) -> str | None:
    """Log the run to MLflow when ``experiment.track`` is on; return the MLflow run id."""
    if not run.config.experiment.track:
        return None
    from grekko_research.cli._finish import tracking_lock
    from grekko_research.tracking import log_backtest, tracking_uri

    default = output_dir if output_dir is not None else run.config.experiment.output_dir
    uri = tracking_uri(default)
    with tracking_lock(uri):  # background finishes may be logging too
        return log_backtest(run, folder, uri=uri)


def _finish(run: BacktestRun, folder: Path, output_dir: Path | None) -> str | None:
    """Add what ``write_run(..., tearsheet=False)`` left out: the tearsheet, then the MLflow run."""
    from grekko_research.runs.backtest import write_run_tearsheet

    if run.config.experiment.tearsheet:
        write_run_tearsheet(run, folder, folder.parent.parent)
    return _track(run, folder, output_dir)  # last: its artifacts are the folder's files


def _print_summary(run: BacktestRun, out: Console) -> None:
    doc = run.metrics_document()
    tf = run.bars.timeframe
    out.print(
        f"[bold]{run.strategy.name}[/bold] on {', '.join(run.bars.symbols)} {tf}: "
        f"{doc['start'][:10]} → {doc['end'][:10]} UTC ({doc['bars']:,} bars)",
        highlight=False,
    )
    out.print(f"params {fmt_params(doc['params']) or '(none)'}", highlight=False)
    table = new_table(out=out)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("final equity", f"{doc['final_equity']:,.2f}")
    for name, value in doc["metrics"].items():
        table.add_row(name.replace("_", " "), format_metric(name, value, tf))
    out.print(table)
    out.print(f"config_id {run.config_id}", highlight=False)
