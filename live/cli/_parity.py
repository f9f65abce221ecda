"""``grekko-live parity``: backtest a configuration and replay it through the runner; compare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from live.cli._app import console, err_console
from live.cli._options import JsonOpt, Overrides
from live.cli._resolve import to_overrides

__all__ = ["parity_command"]

DIFFERS = 3  # exit status when the replay differs (1: an error, 2: a usage error)


def parity_command(
    overrides: Overrides = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy name (the strategy group)")] = None,
    params: Annotated[list[str] | None, typer.Option("--params", help="NAME=VALUE")] = None,
    state_dir: Annotated[
        Path | None, typer.Option(help="Where the replay's log goes (use a fresh folder)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check live trades what was tested: backtest, replay on a paper account, compare exactly.

    Compares every fill, closed trade and the final equity of ``grekko backtest`` and
    ``grekko-live replay`` on the same configuration (data.start/data.end). Exit status 0
    when they agree, 3 when they differ (the first difference is printed).
    """
    from grekko_research.config import compose_config
    from live.parity import check_parity

    args = to_overrides(overrides, strategy=strategy, params=params, state_dir=state_dir)
    report = check_parity(compose_config(args))
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    else:
        verdict = "[green]same[/]" if report.passed else "[red]DIFFERENT[/]"
        console.print(
            f"parity {verdict}: {report.fills} fills, {report.trades} trades, {report.bars} bars",
            highlight=False,
        )
        if report.first_difference is not None:
            err_console.print(f"first difference: {report.first_difference}", soft_wrap=True)
    if not report.passed:
        raise typer.Exit(DIFFERS)
