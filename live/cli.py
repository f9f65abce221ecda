"""The ``grekko-live`` command line.

``run`` trades a strategy (paper by default), ``replay`` drives it from stored history as fast as
it can, ``status`` / ``orders`` / ``positions`` read a run's event log, ``reconcile`` compares
it with the venue, ``verify`` checks the log's hash chain, ``sim`` serves the local exchange
simulator. Every command takes Hydra overrides (``strategy.params.fast=5``, ``risk=conservative``,
``live.venue_url=http://127.0.0.1:8080`` …) after its options. Credentials come from the
environment (``GREKKO_<VENUE>_API_KEY`` / ``_API_SECRET``) or a keyring, never from options.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import signal
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from grekko_research.errors import ConfigError, GrekkoError

__all__ = ["app", "main"]

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


def _command(name: str) -> Any:
    return app.command(name, cls=_Command)


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


def _overrides(
    overrides: list[str] | None,
    *,
    strategy: str | None = None,
    params: list[str] | None = None,
    venue: str | None = None,
    symbols: str | None = None,
    timeframe: str | None = None,
    mode: str | None = None,
    venue_url: str | None = None,
    state_dir: Path | None = None,
    max_bars: int | None = None,
    run_id: str | None = None,
    portfolio: str | None = None,
) -> list[str]:
    out: list[str] = []
    if portfolio is not None:
        out.append(f"portfolio={portfolio}")
    if venue is not None:
        group = venue if venue in ("binance", "binanceusdm", "coinbase", "paper") else None
        out.append(f"live={group}" if group else f"live.venue={venue}")
        if group is None:
            out.append(f"live.feed={venue}")
    if strategy is not None and strategy.startswith("models:/"):
        out.append(f"live.model={strategy}")
    elif strategy is not None:
        out.append(f"strategy={strategy}")
    for item in params or []:
        if "=" not in item:
            raise ConfigError(f"--params takes NAME=VALUE, got {item!r}")
        out.append(f"strategy.params.{item}")
    if symbols is not None:
        listed = ",".join(s.strip() for s in symbols.split(",") if s.strip())
        out += [f"live.symbols=[{listed}]", f"data.symbols=[{listed}]"]
    if timeframe is not None:
        out += [f"live.timeframe={timeframe}", f"data.timeframe={timeframe}"]
    if mode is not None:
        out.append(f"live.mode={mode}")
    if venue_url is not None:
        out.append(f"live.venue_url={venue_url}")
    if state_dir is not None:
        out.append(f"live.state_dir={state_dir}")
    if max_bars is not None:
        out.append(f"live.max_bars={max_bars}")
    if run_id is not None:
        out.append(f"live.run_id={run_id}")
    return out + list(overrides or [])


def _plan(args: list[str], *, replay: bool = False) -> Any:
    from grekko_research.config import compose_config
    from live.app import plan_run

    return plan_run(compose_config(args), replay=replay)


def _confirm_live(plan: Any, confirm: str | None) -> None:
    if plan.mode != "live":
        return
    venue = plan.venue_name
    if confirm == venue:
        return
    if confirm is not None:
        raise ConfigError(f"--confirm-live {confirm!r} does not name the venue {venue!r}")
    if not sys.stdin.isatty():
        raise ConfigError(
            f"live trading on {venue}: pass --confirm-live {venue} (no terminal to ask on)"
        )
    answer = typer.prompt(f"LIVE orders with real money on {venue}. Type the venue name to go on")
    if answer.strip() != venue:
        raise ConfigError("live trading not confirmed")


_SUMMARY_KEYS = ("bars", "decisions", "orders", "fills", "halted")


def _print_summary(plan: Any, summary: Any) -> None:
    from live.console import table

    cols = ("bars", "decisions", "orders", "fills")
    t = table(err_console, *cols, "halted", right=cols,
              title=f"{plan.spec.run_id} ({plan.venue_name}, {plan.mode})")  # fmt: skip
    t.add_row(
        str(summary.bars),
        str(summary.decisions),
        str(summary.orders),
        str(summary.fills),
        summary.halted or "no",
    )
    err_console.print(t)
    typer.echo(plan.events)


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


def _run_and_show(plan: Any, show: str, accept_log: str | None = None) -> None:
    """Run the plan, printing each event of its log as the runner appends it."""
    from live.app import open_store, run_plan
    from live.console import LEVELS, EventLines, LogFollower

    if show not in LEVELS:
        raise ConfigError(f"--show must be one of {', '.join(LEVELS)}, got {show!r}")
    with open_store(plan) as store:  # a restarted run shows only what this process adds
        head = store.head()
    lines = EventLines(show, realtime=plan.feed != "replay")
    follower = LogFollower(plan.events, err_console, lines, after_seq=head.seq if head else 0)
    summary: Any
    stopped = False
    previous = _stop_on_sigterm()
    try:
        with follower:
            summary = run_plan(plan, accept_log=accept_log)
    except KeyboardInterrupt:
        # Ctrl-C (or SIGTERM) is how a run on a real-time feed stops: every step was logged
        # before it was acted on, so the log is whole and the same command restarts
        # (reconciling first).
        stopped = True
        state = _load_state(str(plan.events))
        summary = SimpleNamespace(**{k: state.summary()[k] for k in _SUMMARY_KEYS})
        err_console.print(
            f"stopped (Ctrl-C) after {state.bars} bars; the log is complete, and the same "
            "command resumes the run (it reconciles with the venue first)"
        )
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    _print_summary(plan, summary)
    if stopped and summary.halted:
        # A halted run keeps running (bars, reconciliation, the API's view) until it is asked
        # to stop; then its exit status says it was halted, for whatever supervises it.
        raise typer.Exit(3)


def _stop_on_sigterm() -> Any:
    """Make SIGTERM stop a run as Ctrl-C does (the log closed, the summary printed); return
    the previous handler (``None`` off the main thread, where signals cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    return signal.signal(signal.SIGTERM, stop)


@_command("run")
def run_command(
    overrides: Overrides = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy name (the strategy group)")] = None,
    params: Annotated[
        list[str] | None, typer.Option("--params", help="NAME=VALUE, repeatable")
    ] = None,
    venue: Annotated[
        str | None, typer.Option(help="paper | binance | binanceusdm | coinbase | <ccxt id>")
    ] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated, e.g. BTC/USDT")] = None,
    timeframe: Annotated[str | None, typer.Option(help="Bar length, e.g. 1h")] = None,
    mode: Annotated[str | None, typer.Option(help="paper (default) | live")] = None,
    venue_url: Annotated[str | None, typer.Option(help="Base URL of a local peer")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="Where run logs go")] = None,
    max_bars: Annotated[int | None, typer.Option(help="Stop after this many bars")] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Run id (default: strategy-config-venue)")
    ] = None,
    confirm_live: Annotated[
        str | None, typer.Option(help="With --mode live: the venue's name, to confirm")
    ] = None,
    portfolio: PortfolioOpt = None,
    show: ShowOpt = "trades",
    accept_log: AcceptLogOpt = None,
) -> None:
    """Trade a strategy: paper by default, --mode live for real orders (confirmed).

    Prints what happens as it happens (--show), then a summary; the last line of standard
    output is the run's event log.
    """
    args = _overrides(
        overrides, strategy=strategy, params=params, venue=venue, symbols=symbols,
        timeframe=timeframe, mode=mode, venue_url=venue_url, state_dir=state_dir,
        max_bars=max_bars, run_id=run_id, portfolio=portfolio,
    )  # fmt: skip
    plan = _plan(args)
    _confirm_live(plan, confirm_live)
    err_console.print(
        f"[bold]{plan.spec.run_id}[/]: {plan.venue_name} ({plan.mode}), log {plan.events}",
        soft_wrap=True,
    )
    _run_and_show(plan, show, accept_log)


@_command("replay")
def replay_command(
    overrides: Overrides = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy name (the strategy group)")] = None,
    params: Annotated[list[str] | None, typer.Option("--params", help="NAME=VALUE")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols")] = None,
    timeframe: Annotated[str | None, typer.Option(help="Bar length")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="Where run logs go")] = None,
    run_id: Annotated[str | None, typer.Option(help="Run id")] = None,
    portfolio: PortfolioOpt = None,
    show: ShowOpt = "trades",
    accept_log: AcceptLogOpt = None,
) -> None:
    """Drive the runner with stored history (data.start/data.end) on a paper account."""
    args = _overrides(
        overrides, strategy=strategy, params=params, symbols=symbols, timeframe=timeframe,
        state_dir=state_dir, run_id=run_id, portfolio=portfolio,
    )  # fmt: skip
    plan = _plan(args, replay=True)
    _run_and_show(plan, show, accept_log)


def _state_dir(state_dir: Path | None, overrides: list[str] | None) -> Path:
    """Where run logs are: --state-dir, else the configuration's ``live.state_dir``."""
    if state_dir is not None:
        return state_dir
    from grekko_research.config import compose_config

    return Path(compose_config(list(overrides or [])).live.state_dir)


def _find_log(
    overrides: list[str] | None,
    events: str | None,
    venue: str | None,
    run: str | None = None,
    state_dir: Path | None = None,
    *,
    configured: list[str] | None = None,
) -> str:
    """The log of an existing run (never created here): by --events, --run, the run the
    overrides (or ``configured``, complete overrides) configure, or the only run (of --venue)
    under the state folder."""
    from live.runs import find_run

    if events is not None:
        return find_run(Path(), events=events)
    planned = None
    if configured is None and overrides:
        configured = _overrides(overrides, venue=venue, state_dir=state_dir)
    if configured and run is None:  # a configuration names a run: its log, if it exists
        planned = str(_plan(configured).events)
    found = find_run(_state_dir(state_dir, overrides), run_id=run, venue=venue, planned=planned)
    if planned is not None and found != planned:  # say which run is read instead
        err_console.print(
            f"no run at {planned} (what the options configure); reading the only run"
            f"{f' of {venue}' if venue else ''} there: {Path(found).parent.name}",
            soft_wrap=True,
        )
    return found


def _load_state(path: str) -> Any:
    from live.events import EventStore
    from live.runs import events_exist
    from live.state import fold_run

    if not events_exist(path):
        raise ConfigError(f"no event log at {path} (run grekko-live run first, or pass --events)")
    with EventStore.open(path) as store:
        return fold_run(store.read())


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
StateDirOpt = Annotated[
    Path | None, typer.Option(metavar="DIR", help="Where run logs are (default: live.state_dir)")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


@_command("status")
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

    path = _find_log(overrides, events, venue, run, state_dir)
    state = _load_state(path)
    log = verify(path, key=load_log_key(), incremental=True)  # what the next start checks
    if as_json:
        console.print_json(json.dumps({**state.summary(), "log_integrity": log.describe()}))
        return
    print_status(console, state)
    console.print(f"log integrity: {log.describe()}", soft_wrap=True)


@_command("orders")
def orders_command(
    overrides: Overrides = None,
    run: RunOpt = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
    as_json: JsonOpt = False,
    open_only: Annotated[bool, typer.Option("--open", help="Only orders not yet final")] = False,
) -> None:
    """Every order of a run with its state, fills and client id."""
    from live.orders import TERMINAL
    from live.status_view import order_row, print_orders

    state = _load_state(_find_log(overrides, events, venue, run, state_dir))
    rows = [order_row(o) for o in state.orders if not open_only or o.state not in TERMINAL]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    print_orders(console, rows)


@_command("positions")
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

    state = _load_state(_find_log(overrides, events, venue, run, state_dir))
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


@_command("reconcile")
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

    given = _overrides(
        overrides, strategy=strategy, params=params, venue=venue, venue_url=venue_url,
        mode=mode, state_dir=state_dir, portfolio=portfolio,
    )  # fmt: skip
    asked = strategy is not None or params or mode is not None or portfolio is not None
    path = _find_log(
        overrides, events, venue, run, state_dir, configured=given if asked or overrides else []
    )
    info = read_run(path)
    if not info.started_payload:
        raise ConfigError(f"{path} records no run (no run_started event): nothing to reconcile")
    args = recorded_overrides(info, given, state_dir=state_dir, venue_url=venue_url)
    plan = _plan(args)
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


@_command("runs")
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

    folder = _state_dir(state_dir, overrides)
    runs = list_runs(folder, venue=venue)
    if as_json:
        rows = [{k: v for k, v in asdict(r).items() if k != "started_payload"} for r in runs]
        console.print_json(json.dumps(rows))
        return
    print_runs(console, runs, folder)


@_command("kill")
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

    path = _find_log(overrides, events, venue, run, state_dir)
    info = read_run(path)
    folder = (
        Path(path).parent if "://" not in path else _state_dir(state_dir, overrides) / info.run_id
    )
    flag = folder / KILL_FILE
    flag.parent.mkdir(parents=True, exist_ok=True)
    body = {"reason": reason, "flatten": flatten, "ts_ms": int(time.time() * 1000)}
    atomic_write_text(flag, json.dumps(body))
    typer.echo(f"kill switch set for {info.run_id}: {flag}")


@_command("resume")
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

    path = _find_log(overrides, events, venue, run, state_dir)
    flag = Path(path).parent / KILL_FILE
    removed = "://" not in path and flag.exists()
    if removed:
        flag.unlink()
    state = _load_state(path)
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


@_command("verify")
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

    path = _find_log(overrides, events, venue, run, state_dir)
    report = verify(path, key=load_log_key())
    console.print(report.describe(), soft_wrap=True)
    console.print(str(report))  # every field, for scripts
    if not report.ok:
        raise typer.Exit(4)


@_command("api")
def api_command(
    overrides: Overrides = None,
    run: RunOpt = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
    host: Annotated[str, typer.Option(help="Bind address (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
    stale_bars: Annotated[
        float, typer.Option(help="/health degrades once the last bar is this many bars old")
    ] = 2.0,
) -> None:
    """Serve a run's status API (REST, websocket streams, /metrics) from its event log.

    Tokens: GREKKO_API_READ_TOKEN and GREKKO_API_CONTROL_TOKEN (kill / resume).
    """
    from live.api.server import serve

    path = _find_log(overrides, events, venue, run, state_dir)
    serve(path, Path(path).parent, host=host, port=port, stale_bars=stale_bars)


@_command("alerts")
def alerts_command(
    overrides: Overrides = None,
    run: RunOpt = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    state_dir: StateDirOpt = None,
    big_fill: Annotated[
        str | None, typer.Option(help="Alert on fills of at least this notional")
    ] = None,
) -> None:
    """Send a run's alerts to the apprise URLs in GREKKO_ALERT_URLS.

    Risk breaches, kill switch, halts, errors and big fills, from the run's event log.
    """
    from live.alerts.__main__ import main as alerts_main

    args = ["--events", _find_log(overrides, events, venue, run, state_dir)]
    if big_fill is not None:
        args += ["--big-fill", big_fill]
    raise typer.Exit(alerts_main(args))


@_command("sim")
def sim_command(
    symbols: Annotated[
        str, typer.Option(help="Comma-separated, e.g. BTC/USDT,ETH/USDT")
    ] = "BTC/USDT",
    timeframe: Annotated[str, typer.Option(help="Candle length of the replayed data")] = "1h",
    start: Annotated[str | None, typer.Option(help="Market clock start (date or ms)")] = None,
    speed: Annotated[float, typer.Option(help="Market seconds per wall second")] = 3600.0,
    host: Annotated[str, typer.Option(help="Bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free one)")] = 8765,
) -> None:
    """Serve the local Binance spot simulator on replayed real data (offline rehearsal).

    Test credentials: it accepts the key and secret in GREKKO_BINANCE_API_KEY /
    GREKKO_BINANCE_API_SECRET, the variables `grekko-live run --venue binance` reads: export
    any test values (6+ characters, never real keys) once for both. It never prints them.
    """
    import os

    from live.secrets import MIN_SECRET_LENGTH
    from live.sim.cli import run_sim

    names = ("GREKKO_BINANCE_API_KEY", "GREKKO_BINANCE_API_SECRET")
    key, secret = (os.environ.get(n, "") for n in names)
    if len(key) < MIN_SECRET_LENGTH or len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError(
            f"the simulator's test credentials: export {names[0]} and {names[1]} with any "
            f"values of {MIN_SECRET_LENGTH}+ characters (test values such as sim-key and "
            "sim-secret, never real keys); `grekko-live run --venue binance` reads the same "
            "variables"
        )
    run_sim(
        symbols=[s.strip() for s in symbols.split(",") if s.strip()],
        timeframe=timeframe,
        start=start,
        speed=speed,
        host=host,
        port=port,
        api_key=key,
        api_secret=secret,
        credentials_from=f"{names[0]} / {names[1]}",
    )


# `grekko-live contracts build|check|deploy` (issue 17): the sub-app lives in live/chain/cli.py.
from live.chain.cli import contracts_app  # noqa: E402  (cheap: typer and rich only)

app.add_typer(contracts_app, name="contracts")


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
