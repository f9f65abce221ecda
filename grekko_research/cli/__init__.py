"""The ``grekko`` command line: ``grekko run`` (the main job), ``grekko backtest``, ``grekko data …``.

Errors Grekko raises on purpose are printed as one readable line and exit
with status 1; usage errors exit with status 2 (Click's convention).
Tracebacks never show local variables, so nothing secret can leak into them.

Subcommands are imported when they run, not to print ``grekko --help`` (their
modules pull in pandas, ccxt, optuna …): :data:`_COMMANDS` names each one's module
and its one-line help, which a test keeps equal to the command's own.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from grekko_research.errors import GrekkoError

__all__ = ["app", "main"]

# name: (module, attribute: a command function or a Typer group, one-line help)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": (
        "grekko_research.cli.run",
        "run_command",
        "Run the main job: real data into the store and its quality report, then the research run.",
    ),
    "backtest": (
        "grekko_research.cli.backtest",
        "backtest_command",
        "Backtest a strategy on stored data; write config, metrics, trades, equity and a "
        "tearsheet.",
    ),
    "sweep": (
        "grekko_research.cli.sweep",
        "sweep_command",
        "Search the strategy's parameters with Optuna; lead with the out-of-sample result.",
    ),
    "compare": (
        "grekko_research.cli.compare",
        "compare_command",
        "Compare backtests side by side: what they ran on, their metrics, their config "
        "differences.",
    ),
    "regress": (
        "grekko_research.cli.regress",
        "regress_command",
        "Re-run the pinned regression backtests in experiments/ and compare them with their "
        "baselines.",
    ),
    "promote": (
        "grekko_research.cli.promote",
        "promote_command",
        "Evaluate the promotion gates on a sweep; register its strategy as an MLflow model if "
        "all pass.",
    ),
    "strategies": (
        "grekko_research.cli.strategies",
        "app",
        "List the strategies Grekko can run, or start a package for a new one.",
    ),
    "data": (
        "grekko_research.cli.data",
        "app",
        "Download, import, check and describe market data in the local Parquet store.",
    ),
    "dex": (
        "grekko_research.cli.dex",
        "app",
        "Exact AMM quotes (Uniswap V3 and forks) and the replay of a pool's logs.",
    ),
    "alpha": (
        "grekko_research.cli.alpha",
        "app",
        "Alternative data: download news, social, developer, trends, DeFi and on-chain series;"
        " list, show, score sentiment, report yields.",
    ),
    "compliance": (
        "grekko_research.cli.compliance",
        "app",
        "Sanctions screening: refresh the OFAC list, show its status, check addresses.",
    ),
    "report": (
        "grekko_research.cli.report",
        "app",
        "Trade ledger, realised P&L (FIFO/LIFO/HIFO) and tax exports of a run.",
    ),
    "analyze": (
        "grekko_research.cli.analyze",
        "app",
        "Analyse markets: rebuild L2 order books, label regimes, traps and capitulations,"
        " find sandwiches, bot footprints and wash-trading candidates.",
    ),
}


def tidy_help(command: Any) -> Any:
    """Make ``command``'s help (and its subcommands') read cleanly; return it.

    Flags show no ``<bool>`` type; square brackets in help texts are text, not rich
    markup (``Store folder [env GREKKO_DATA_DIR; ./data]`` kept its words); a docstring's
    wrapped lines are joined into paragraphs and its reST double backquotes dropped.
    """
    from rich.markup import escape

    for param in command.params:
        # typer vendors its own click: test by duck type, not click.Option
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        text = getattr(param, "help", None)
        if text and "[" in text and "\\[" not in text:
            param.help = escape(text)
    if command.help:
        command.help = _reflow(command.help)
        if "[" in command.help and "\\[" not in command.help:
            command.help = escape(command.help)
    help_option = command.get_help_option(typer.Context(command))
    if help_option is not None:
        help_option.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        tidy_help(sub)
    return command


def _reflow(text: str) -> str:
    """Join a docstring's wrapped lines into paragraphs (rich help keeps every line break)."""
    paragraphs = inspect.cleandoc(text).replace("``", "").split("\n\n")
    return "\n\n".join(p if p.startswith("\b") else " ".join(p.split()) for p in paragraphs)


class _Placeholder(TyperCommand):
    """A subcommand as ``grekko --help`` lists it, before its module is imported."""


class _LazyGroup(TyperGroup):
    """The root group: imports a subcommand's module only when that subcommand runs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        tidy_help(self)

    def list_commands(self, ctx: Any) -> list[str]:
        return [*_COMMANDS, *(n for n in self.commands if n not in _COMMANDS)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in self.commands or cmd_name not in _COMMANDS:
            return self.commands.get(cmd_name)
        return _Placeholder(cmd_name, help=_COMMANDS[cmd_name][2])

    def resolve_command(self, ctx: Any, args: list[str]) -> tuple[str | None, Any, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if isinstance(command, _Placeholder) and name is not None:
            command = self.commands[name] = load_command(name)
        return name, command, rest


def load_command(name: str) -> Any:
    """Import subcommand ``name`` and build its Click command (help tidied)."""
    module_name, attribute, _ = _COMMANDS[name]
    target = getattr(importlib.import_module(module_name), attribute)
    if isinstance(target, typer.Typer):
        command = typer.main.get_command(target)
    else:
        single = typer.Typer(add_completion=False, rich_markup_mode="rich")
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return tidy_help(command)


app = typer.Typer(
    name="grekko",
    cls=_LazyGroup,
    help="Grekko: backtest-first crypto trading research.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        from grekko_research import __version__

        typer.echo(f"grekko {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Grekko: backtest-first crypto trading research."""


detach_allowed = False
"""Whether a command may fork work that outlives it (``grekko backtest``'s tearsheet and
MLflow record): only in :func:`main`, whose process exits after the command."""

skip_teardown = False
"""Set by a command that handed the rest of its work to a detached child: the process has
nothing left to do, so :func:`main` exits without tearing down the interpreter (pandas,
numba, pyarrow: 0.1-0.3 s of module teardown) once its output is flushed."""


def main() -> None:
    """Run the CLI, turning Grekko's errors into one-line messages."""
    global detach_allowed
    detach_allowed = True
    try:
        app()
    except GrekkoError as exc:
        from grekko_research.cli.render import err_console

        err_console.print(f"[bold red]error:[/bold red] {exc}", highlight=False)
        sys.exit(1)
    except SystemExit as exc:
        if skip_teardown and exc.code in (0, None):
            _exit_now()
        raise
    if skip_teardown:
        _exit_now()


def _exit_now() -> None:
    """Flush what was printed and end the process with status 0, skipping the teardown.

    Status 120 when the output cannot be flushed (a closed pipe), as Python's own exit does.
    """
    import logging
    import os

    code = 0
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = 120
    logging.shutdown()
    os._exit(code)
