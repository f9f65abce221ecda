"""``grekko-live routes``: a run's routing decisions, each decided again from its log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from live.cli._app import console
from live.cli._options import EventsOpt, JsonOpt, RunArg, StateDirOpt, VenueOpt
from live.cli._resolve import run_log

__all__ = ["routes_command"]


def routes_command(
    run: RunArg = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Routing decisions of a run, each replayed: where every order went and why.

    Per routed order: the venues' children and expected all-in prices, what no venue could
    take, the saving against the best single venue and the reason; then the decision is taken
    again from the quotes, balances, health, spec and slippage model its event records, and
    must give the same result. Exits 1 when a replay differs (see docs/execution.md).
    """
    from live.events import EventStore

    path = run_log(run, events, venue, state_dir)
    rows: list[dict[str, Any]] = []
    logs: list[str | Path] = [path]
    routed = Path(str(path)).parent / "routes.db"  # a routed run's own (live.venues.routed)
    if "://" not in str(path) and routed.exists() and routed != Path(str(path)):
        logs.append(routed)
    for log in logs:
        with EventStore.open(log) as store:
            rows += _routes(store)
    differ = sum(r["replay"] == "differs" for r in rows)
    if as_json:
        import json

        console.print_json(json.dumps({"events": str(path), "routes": rows, "differ": differ}))
    else:
        _print(rows, path)
    if differ:
        raise typer.Exit(1)


def _routes(store: Any) -> list[dict[str, Any]]:
    """Each ``route_decision`` of a log, with its replay's verdict."""
    from live.routing import NotReplayable, route_differences

    rows: list[dict[str, Any]] = []
    for e in store.read():
        if e.kind != "route_decision":
            continue
        p = e.payload
        try:
            diffs, replay = route_differences(p), "same"
        except NotReplayable as err:
            diffs, replay = [], f"not replayable: {err}"
        if diffs:
            replay = "differs"
        rows.append({
            "route_id": e.stream,
            "symbol": p["symbol"],
            "side": p["side"],
            "qty": p["qty"],
            "children": [{k: c[k] for k in ("venue", "qty", "expected_price")}
                         for c in p["children"]],
            "unrouted_qty": p["unrouted_qty"],
            "saving_bps": p["saving_bps"],
            "reason": p["reason"],
            "replay": replay,
            "differences": diffs,
        })  # fmt: skip
    return rows


def _print(rows: list[dict[str, Any]], path: object) -> None:
    from rich.table import Table

    if not rows:
        console.print(f"no routed orders in {path}", soft_wrap=True)
        return
    table = Table(title=f"{len(rows)} routed orders ({path})", title_justify="left")
    for col in ("symbol", "side", "qty", "children", "unrouted", "saving bps", "replay", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        kids = "; ".join(f"{c['qty']:g} on {c['venue']} at {c['expected_price']:.2f}"
                         for c in r["children"])  # fmt: skip
        saving = "" if r["saving_bps"] is None else f"{r['saving_bps']:.2f}"
        table.add_row(r["symbol"], r["side"], f"{r['qty']:g}", kids or "-",
                      f"{r['unrouted_qty']:g}", saving, r["replay"], r["reason"])  # fmt: skip
    console.print(table)
    for r in rows:
        for d in r["differences"]:
            console.print(f"[red]{r['route_id']}[/red] {d}", soft_wrap=True)
