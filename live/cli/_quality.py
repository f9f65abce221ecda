"""``grekko-live quality``: the execution quality of a run, from its event log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from live.cli._app import console
from live.cli._options import EventsOpt, JsonOpt, RunArg, StateDirOpt, VenueOpt
from live.cli._resolve import run_log

__all__ = ["quality_command"]

_BY = ("venue", "symbol", "side", "size_bucket", "hour")


def quality_command(
    run: RunArg = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            metavar="DIM",
            help=f"Aggregate by this (repeatable; default {', '.join(_BY)}): "
            "venue, symbol, side, size_bucket, hour, kind, order_type",
        ),
    ] = None,
    orders: Annotated[int, typer.Option(metavar="N", help="Orders listed (0: none)")] = 20,
    html: Annotated[
        Path | None, typer.Option("--html", metavar="PATH", help="Write a plotly report")
    ] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", metavar="PATH", help="Write every column, per order")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Execution quality per order and aggregated: slippage, fees, latency, fills, rejects.

    Per order: arrival price (the price decided on), fill price (VWAP), cost in bps against
    arrival and against the bar model (the next bar's open, where the backtest fills),
    fees, latency decision → submit → ack → fill, fill ratio, rejects; aggregated by venue,
    symbol, side, size bucket and hour of day. Reads the log only (see docs/execution.md).
    """
    from live.events import EventStore
    from live.quality import GROUPS, quality_table, summarize
    from live.quality._report import print_quality, write_csv, write_html
    from live.runs import read_run

    path = run_log(run, events, venue, state_dir)
    dims = list(by or _BY)
    bad = [d for d in dims if d not in GROUPS]
    if bad:
        raise typer.BadParameter(f"{bad}: choose from {', '.join(GROUPS)}", param_hint="--by")
    with EventStore.open(path) as store:
        table = quality_table(store.read())
    run_id = read_run(path).run_id
    if as_json:
        import json

        doc = {k: _records(summarize(table, k)) for k in dims}
        console.print_json(json.dumps({"run_id": run_id, "orders": len(table), "by": doc}))
    else:
        console.print(
            f"execution quality of {run_id}: {len(table)} orders ({path})", soft_wrap=True
        )
        print_quality(console, table, by=dims, orders=orders)
    if csv is not None:
        console.print(f"wrote {write_csv(table, csv)}", soft_wrap=True)
    if html is not None:
        page = write_html(table, html, title=f"Execution quality: {run_id}")
        console.print(f"wrote {page}", soft_wrap=True)


def _records(frame: object) -> list[dict[str, object]]:
    """Rows as JSON-ready dicts (NaN as null, numpy scalars as Python numbers)."""
    import math

    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    out = []
    for row in frame.to_dict(orient="records"):
        out.append(
            {
                str(k): None
                if isinstance(v, float) and math.isnan(v)
                else v.item()
                if hasattr(v, "item")
                else v
                for k, v in row.items()
            }
        )
    return out
