"""The ``grekko`` command line: ``grekko run`` (the main job), ``grekko backtest``, ``grekko data …``.

Errors Grekko raises on purpose are printed as one readable line and exit
with status 1; usage errors exit with status 2 (Click's convention).
Tracebacks never show local variables, so nothing secret can leak into them.
"""

from __future__ import annotations

import sys

import typer

from grekko_research import __version__
from grekko_research.cli.backtest import backtest_command
from grekko_research.cli.data import app as data_app
from grekko_research.cli.promote import promote_command
from grekko_research.cli.regress import regress_command
from grekko_research.cli.render import err_console
from grekko_research.cli.run import run_command
from grekko_research.cli.sweep import sweep_command
from grekko_research.errors import GrekkoError

__all__ = ["app", "main"]

app = typer.Typer(
    name="grekko",
    help="Grekko: backtest-first crypto trading research.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)
app.add_typer(data_app, name="data")
app.command("run")(run_command)
app.command("backtest")(backtest_command)
app.command("sweep")(sweep_command)
app.command("regress")(regress_command)
app.command("promote")(promote_command)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"grekko {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Grekko: backtest-first crypto trading research."""


def main() -> None:
    """Run the CLI, turning Grekko's errors into one-line messages."""
    try:
        app()
    except GrekkoError as exc:
        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(1)
