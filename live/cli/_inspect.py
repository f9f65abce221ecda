"""The read-only commands: ``status``, ``orders``, ``positions``, ``runs`` and ``verify`` read a
run's event log (never the venue) and print it as tables or JSON."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from live.cli._app import console
from live.cli._options import EventsOpt, JsonOpt, Overrides, RunOpt, StateDirOpt, VenueOpt
from live.cli._resolve import find_log, load_state, state_folder

__all__ = [
    "orders_command",
    "positions_command",
    "runs_command",
    "status_command",
    "verify_command",
]


def status_command(
    overrides: Overrides = None,
    run: RunOpt = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A run's state from its log: risk state and why, open orders, last refusals.

    Also what it trades and where, bars, equity, orders, positions and the last
    reconciliation. Times are UTC.
    """
    from live.events import load_log_key, verify
    from live.status_view import print_status

    path = find_log(overrides, events, venue, run, state_dir)
    state = load_state(path)
    log = verify(path, key=load_log_key(), incremental=True)  # what the next start checks
    if as_json:
        console.print_json(json.dumps({**state.summary(), "log_integrity": log.describe()}))
        return
    print_status(console, state)
    console.print(f"log integrity: {log.describe()}", soft_wrap=True)


def orders_command(
    overrides: Overrides = None,
    run: RunOpt = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
    open_only: Annotated[bool, typer.Option("--open", help="Only orders not yet final")] = False,
    parents: Annotated[
        bool, typer.Option("--parents", help="The execution algorithms' parent orders instead")
    ] = False,
) -> None:
    """Every order of a run with its state, fills and client id.

    With --parents: every parent order (TWAP, VWAP, iceberg, chase) with its children sent and
    filled and its state: working, done, cancelled or ended unfilled (cancel one with
    grekko-live order cancel --parent ID).
    """
    from live.orders import TERMINAL
    from live.status_view import order_row, print_orders, print_parents

    state = load_state(find_log(overrides, events, venue, run, state_dir))
    if parents:
        found = [r for r in state.parent_rows() if not open_only or r["state"] == "working"]
        if as_json:
            console.print_json(json.dumps(found))
        else:
            print_parents(console, found)
        return
    rows = [order_row(o) for o in state.orders if not open_only or o.state not in TERMINAL]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    print_orders(console, rows)


def positions_command(
    overrides: Overrides = None,
    run: RunOpt = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Net positions from the run's fills, fees paid, equity at the last close."""
    from live.state import dec_text
    from live.status_view import print_positions

    state = load_state(find_log(overrides, events, venue, run, state_dir))
    info = {
        "positions": {k: dec_text(v) for k, v in state.positions.items()},
        "fees": {k: dec_text(v) for k, v in state.fees.items()},
        "equity": state.equity,
        "closed_trades": state.closed_trades,
        "realised_pnl": state.realised_pnl,
        **(
            {"strategies": {s.id: s.summary() for s in state.sleeves.values()}}
            if state.sleeves
            else {}
        ),
    }
    if as_json:
        console.print_json(json.dumps(info))
        return
    print_positions(console, state)


def runs_command(
    overrides: Overrides = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the runs under the state folder, the most recently active first.

    Each with its id, venue and mode, strategy, start, last event (UTC) and risk state.
    """
    from dataclasses import asdict

    from live.runs import list_runs
    from live.status_view import print_runs

    folder = state_folder(state_dir, overrides)
    runs = list_runs(folder, venue=venue)
    if as_json:
        rows = [{k: v for k, v in asdict(r).items() if k != "started_payload"} for r in runs]
        console.print_json(json.dumps(rows))
        return
    print_runs(console, runs, folder)


def verify_command(
    overrides: Overrides = None,
    run: RunOpt = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Check the log's hash chain, MACs and last checkpoint; name the first bad event and why.

    MACs and the checkpoint's signature are checked when the log key is set (environment,
    keyring or key file; see the README).
    """
    from live.events import load_log_key, verify

    path = find_log(overrides, events, venue, run, state_dir)
    report = verify(path, key=load_log_key())
    console.print(report.describe(), soft_wrap=True)
    console.print(str(report))  # every field, for scripts
    if not report.ok:
        raise typer.Exit(4)
