"""The commands that act on a run: ``reconcile`` it with its venue, ``kill`` it (the kill
switch), ``resume`` it after a halt, send it a manual ``order``."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from grekko_research.errors import ConfigError
from live.cli._app import console
from live.cli._options import (
    EventsOpt,
    Overrides,
    PortfolioOpt,
    RunOpt,
    StateDirOpt,
    VenueOpt,
)
from live.cli._resolve import find_log, load_state, make_plan, run_folder, to_overrides

__all__ = ["kill_command", "order_command", "reconcile_command", "resume_command"]


def reconcile_command(
    overrides: Overrides = None,
    run: RunOpt = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    venue_url: Annotated[
        str | None, typer.Option(metavar="URL", help="Base URL of the venue (default: the run's)")
    ] = None,
    mode: Annotated[str | None, typer.Option(help="paper | live (default: the run's)")] = None,
    state_dir: StateDirOpt = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy name (default: the run's)")] = None,
    params: Annotated[list[str] | None, typer.Option("--params", help="NAME=VALUE")] = None,
    portfolio: PortfolioOpt = None,
    allow_real_venue: Annotated[
        bool,
        typer.Option(
            "--allow-real-venue",
            help="Reach the exchange's own host when the run recorded no local venue URL",
        ),
    ] = False,
) -> None:
    """Resolve open orders, fetch missing fills and compare positions with the venue.

    The run must exist (found like status). Its venue is reached where the run reached it
    (its recorded URL, e.g. the simulator's); the exchange's own host only with
    --allow-real-venue.
    """
    from live.events import open_run_log
    from live.runner import Runner
    from live.runs import check_venue_url, read_run, recorded_overrides

    given = to_overrides(
        overrides, strategy=strategy, params=params, venue=venue, venue_url=venue_url,
        mode=mode, state_dir=state_dir, portfolio=portfolio,
    )  # fmt: skip
    asked = strategy is not None or params or mode is not None or portfolio is not None
    path = find_log(
        overrides, events, venue, run, state_dir, configured=given if asked or overrides else []
    )
    info = read_run(path)
    if not info.started_payload:
        raise ConfigError(f"{path} records no run (no run_started event): nothing to reconcile")
    args = recorded_overrides(info, given, state_dir=state_dir, venue_url=venue_url)
    plan = make_plan(args)
    check_venue_url(plan, info, allow_real_venue=allow_real_venue)
    store = open_run_log(path)

    async def main() -> tuple[bool, str | None, list[float]]:
        from live.app import make_plan_venue

        v = make_plan_venue(plan)
        runner = Runner(plan.spec, v, store)
        try:
            await runner.start()
            return runner.halted is None, runner.halted, runner.summary.reconcile_ms
        finally:
            await v.close()

    try:
        ok, halted, ms = asyncio.run(main())
    finally:
        store.close()
    from live.console import duration

    verdict = "books agree" if ok else f"HALTED: {halted}"
    typer.echo(f"{info.run_id}: reconciled in {duration(ms[-1])}: {verdict}")
    if not ok:
        raise typer.Exit(3)


def kill_command(
    reason: Annotated[str, typer.Option(help="Why (recorded in the log, sent with alerts)")],
    overrides: Overrides = None,
    run: Annotated[
        str | None,
        typer.Option("--run", "--run-id", metavar="ID", help="The run's id (see grekko-live runs)"),
    ] = None,
    venue: VenueOpt = None,
    flatten: Annotated[bool, typer.Option("--flatten", help="Also close every position")] = False,
    state_dir: StateDirOpt = None,
    events: EventsOpt = None,
) -> None:
    """Engage the kill switch of a run: no new orders, open ones cancelled.

    The running process blocks new orders at once, cancels every open order (and flattens
    with --flatten); the switch stays engaged, across restarts, until grekko-live resume.
    """
    import time

    from grekko_research._atomic import atomic_write_text
    from live.app import KILL_FILE
    from live.runs import read_run

    path = find_log(overrides, events, venue, run, state_dir)
    info = read_run(path)
    flag = run_folder(path, state_dir, overrides) / KILL_FILE
    flag.parent.mkdir(parents=True, exist_ok=True)
    body = {"reason": reason, "flatten": flatten, "ts_ms": int(time.time() * 1000)}
    atomic_write_text(flag, json.dumps(body))
    typer.echo(f"kill switch set for {info.run_id}: {flag}")


def resume_command(
    reason: Annotated[str, typer.Option(help="Why trading may resume (recorded in the log)")],
    overrides: Overrides = None,
    run: RunOpt = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Lift a halt or the kill switch (after the cause was fixed).

    Recorded in the run's log: a running process follows within a second; a stopped one at
    its next start, which reconciles again before trading.
    """
    from live.app import KILL_FILE
    from live.events import open_run_log

    path = find_log(overrides, events, venue, run, state_dir)
    flag = run_folder(path, state_dir, overrides) / KILL_FILE  # where kill put it
    removed = flag.exists()
    if removed:
        flag.unlink()
    state = load_state(path)
    held = [s.id for s in state.sleeves.values() if s.state != "ACTIVE"]
    risk_state, why = state.risk()  # the run's one trading state (a drawdown's REDUCING too)
    if risk_state == "ACTIVE" and not held:
        console.print(f"kill flag {flag} removed; not halted" if removed else "not halted")
        return
    was = state.halted or (why if risk_state != "ACTIVE" else None)
    with open_run_log(path, follow_unkeyed=True) as store:  # keyed: the event gets its MAC
        head = store.head()
        store.append(
            "resumed",
            "runner",
            {"reason": reason, "halt": was, "by": "cli"},
            ts_ms=head.ts_ms if head is not None else 0,
        )
    parts = [f"was {risk_state.lower()}: {was}"] if was is not None else []
    parts += [f"strategies {held}"] if held else []
    console.print(f"resumed ({'; '.join(parts)})")


def order_command(
    action: Annotated[str, typer.Argument(metavar="ACTION", help="enter | exit | cancel")],
    symbol: Annotated[
        str | None, typer.Argument(metavar="SYMBOL", help="The market (enter, exit)")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded in the log)")] = "manual",
    side: Annotated[str | None, typer.Option(metavar="SIDE", help="buy | sell (enter)")] = None,
    qty: Annotated[
        str | None,
        typer.Option(metavar="QTY", help="Quantity (enter; exit: default the whole position)"),
    ] = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", metavar="ID", help="The order to cancel")
    ] = None,
    parent: Annotated[
        str | None,
        typer.Option(
            "--parent", metavar="ID", help="The parent order to cancel (orders --parents)"
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(metavar="SECONDS", help="Wait this long for the run's answer (0: do not)"),
    ] = 10.0,
    algo: Annotated[
        str | None,
        typer.Option(metavar="KIND", help="Work it as child orders: twap | vwap | iceberg | chase"),
    ] = None,
    slices: Annotated[int | None, typer.Option(help="twap/vwap: children")] = None,
    over: Annotated[
        str | None, typer.Option(metavar="DURATION", help="twap/vwap: spread over (e.g. 6h)")
    ] = None,
    clip: Annotated[str | None, typer.Option(metavar="QTY", help="iceberg: visible qty")] = None,
    offset_bps: Annotated[
        float | None, typer.Option(help="iceberg/chase: limit this far inside the price")
    ] = None,
    passive: Annotated[
        str | None, typer.Option(metavar="DURATION", help="chase: rest this long, then market")
    ] = None,
    limit: Annotated[
        str | None,
        typer.Option(metavar="PRICE", help="A limit order resting at PRICE (enter, exit)"),
    ] = None,
    run: RunOpt = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
) -> None:
    """Send a manual order to a running run: force an entry or an exit, or cancel an order
    (--client-id) or a parent order (--parent: no child after it, its resting child cancelled,
    what filled stays).

    With --algo the entry or exit is a parent order worked as child orders on the bar clock
    (TWAP, VWAP, iceberg, passive-then-market chaser; docs/execution.md), each child through the
    risk engine. With --limit it is a limit order at PRICE (rounded to the tick away from the
    market) resting until it fills or is cancelled; it takes no --algo.

    The request goes to the running process (like kill), which checks it with its risk
    engine and logs manual_order with the outcome: sent, or refused with the rule (exit
    code 3). The status API's POST /orders does the same.
    """
    import time
    import uuid

    from live.api.control import write_manual_request
    from live.events import EventStore

    if action not in ("enter", "exit", "cancel"):
        raise typer.BadParameter(f"{action!r}: enter, exit or cancel", param_hint="ACTION")
    if action == "cancel" and bool(client_id) == bool(parent):
        raise typer.BadParameter(
            "cancel needs the order's --client-id or a parent's --parent (one of them)",
            param_hint="--client-id",
        )
    if parent and action != "cancel":
        raise typer.BadParameter(f"{action} takes no --parent", param_hint="--parent")
    if action != "cancel" and not symbol:
        raise typer.BadParameter(f"{action} needs a SYMBOL", param_hint="SYMBOL")
    if action == "enter" and side not in ("buy", "sell"):
        raise typer.BadParameter("enter needs --side buy or sell", param_hint="--side")
    given = {"slices": slices, "over": over, "clip": clip, "offset_bps": offset_bps,
             "passive": passive}  # fmt: skip
    extras = _order_extras(action, algo, given, limit)
    path = find_log(None, events, venue, run, state_dir)
    rid = uuid.uuid4().hex
    body = {"action": action, "symbol": symbol, "side": side, "qty": qty,
            "client_id": client_id, "reason": reason, "by": "cli", "id": rid,
            "ts_ms": int(time.time() * 1000), **extras}  # fmt: skip
    if parent:
        body["parent_id"] = parent
    file = write_manual_request(run_folder(path, state_dir, None), body)
    console.print(f"manual {action} requested ({rid}): {file}", soft_wrap=True)
    if wait <= 0:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with EventStore.open(path) as store:
            answer = next(
                (e.payload for e in store.read(kinds=["manual_order"])
                 if e.payload.get("request_id") == rid),
                None,
            )  # fmt: skip
        if answer is not None:
            outcome = str(answer.get("outcome"))
            detail = (answer.get("refusal") or answer.get("client_id")
                      or answer.get("parent_id") or "")  # fmt: skip
            console.print(f"{outcome}: {detail}", soft_wrap=True)
            if outcome not in ("sent", "cancel_sent"):
                raise typer.Exit(3)
            return
        time.sleep(0.1)
    console.print(f"no answer within {wait:g} s: is the run running? (the request waits)")
    raise typer.Exit(4)


def _order_extras(
    action: str, algo: str | None, given: dict[str, Any], limit: str | None
) -> dict[str, Any]:
    """A request's ``algo`` object or its ``order_type: limit`` with ``limit_price`` (none: a
    plain market order); a bad combination is refused naming the option."""
    from decimal import Decimal, InvalidOperation

    if limit is not None:
        if action == "cancel":
            raise typer.BadParameter("a cancel takes no --limit", param_hint="--limit")
        if algo is not None:
            raise typer.BadParameter("--limit takes no --algo", param_hint="--limit")
        try:
            price = Decimal(limit)
        except InvalidOperation:
            price = Decimal("NaN")
        if not (price.is_finite() and price > 0):
            raise typer.BadParameter(f"{limit!r}: a positive price", param_hint="--limit")
        return {"order_type": "limit", "limit_price": limit}
    if algo is None:
        return {}
    if action == "cancel":
        raise typer.BadParameter("a cancel takes no --algo", param_hint="--algo")
    if algo not in ("twap", "vwap", "iceberg", "chase"):
        raise typer.BadParameter(f"{algo!r}: twap, vwap, iceberg or chase", param_hint="--algo")
    return {"algo": {"kind": algo, **{k: v for k, v in given.items() if v is not None}}}
