"""The ``grekko-live`` typer application: its group, its command class and ``main``."""

from __future__ import annotations

import inspect
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from grekko_research.errors import GrekkoError

__all__ = ["app", "console", "err_console", "main", "register"]

console = Console()
err_console = Console(stderr=True)


class _Group(TyperGroup):
    """The command group, whose help shows no type for flags either."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


app = typer.Typer(
    name="grekko-live",
    cls=_Group,
    help="Grekko live bridge: the backtest's signal code and risk rules against real venues.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _global_options(
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            help="Debug logs and ccxt's requests and responses (secrets masked), to debug a venue",
        ),
    ] = False,
) -> None:
    """Grekko live bridge: the backtest's signal code and risk rules against real venues."""
    if verbose:
        import logging
        import os

        from live.venues._ccxt_util import VERBOSE_ENV

        os.environ[VERBOSE_ENV] = "1"  # every ccxt client built from here on is verbose
        logging.basicConfig(
            level=logging.DEBUG, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )


class _Command(TyperCommand):
    """A command whose help shows what a value is, not its Python type: no ``<bool>`` after a
    flag, ``STRATEGY`` rather than ``<str>``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.help:  # a docstring's paragraphs, each one line: the help text wraps them
            paragraphs = inspect.cleandoc(self.help).split("\n\n")
            self.help = "\n\n".join(" ".join(p.split()) for p in paragraphs)
        for param in self.params:
            if param.metavar is not None:
                continue
            if getattr(param, "is_flag", False):
                param.metavar = ""
            elif param.param_type_name == "option":
                param.metavar = str(param.name or "value").upper()
            else:  # the overrides: their help says what they are, the type column nothing
                param.display_type_rich = lambda ctx: None  # type: ignore[attr-defined]

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None:
            option.metavar = ""
        return option


def register(name: str, command: Any) -> None:
    """Add ``command`` to the app as ``name`` (help lists commands in the order added)."""
    app.command(name, cls=_Command)(command)


def main() -> None:
    """Run the CLI, turning Grekko's errors into one-line messages (exit status 1).

    Secrets (API keys, tokens, alert URLs' credentials) are masked in every log record,
    traceback and ccxt's verbose output of this process.
    """
    from live.secrets import install_redaction

    install_redaction(streams=True)  # stdout and stderr too: prints, banners, ccxt's verbose
    try:
        app()
    except GrekkoError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        sys.exit(1)
