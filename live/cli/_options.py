"""Options several ``grekko-live`` commands share, each defined once (same flag, same help)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "AcceptLogOpt",
    "EventsOpt",
    "JsonOpt",
    "Overrides",
    "PortfolioOpt",
    "RunArg",
    "RunOpt",
    "ShowOpt",
    "StateDirOpt",
    "VenueOpt",
]

PortfolioOpt = Annotated[
    str | None,
    typer.Option(
        help="Several strategies in one run: a conf/portfolio option (the portfolio group)"
    ),
]
Overrides = Annotated[
    list[str] | None,
    typer.Argument(help="Hydra overrides, e.g. strategy.params.fast=5 risk=conservative"),
]
ShowOpt = Annotated[
    str,
    typer.Option(
        "--show",
        metavar="LEVEL",
        help="What to print as it happens: none | alerts (refusals, halts, reconnects) | "
        "trades (also decisions, orders, fills; bars summarised) | all (every event)",
    ),
]
AcceptLogOpt = Annotated[
    str | None,
    typer.Option(
        "--accept-log",
        metavar="REASON",
        help="Run even on an event log that fails verification (recorded in the log)",
    ),
]
EventsOpt = Annotated[
    str | None, typer.Option("--events", metavar="PATH|URL", help="The run's event log")
]
VenueOpt = Annotated[
    str | None, typer.Option(metavar="NAME", help="The run's venue (to find its log)")
]
RunOpt = Annotated[
    str | None,
    typer.Option("--run", metavar="ID", help="The run's id (grekko-live runs lists them)"),
]
RunArg = Annotated[
    str | None,
    typer.Argument(
        metavar="RUN",
        help="The run's id (grekko-live runs lists them) or its event log (path or URL)",
    ),
]
StateDirOpt = Annotated[
    Path | None, typer.Option(metavar="DIR", help="Where run logs are (default: live.state_dir)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
