"""``run`` and ``replay``: drive a strategy, printing its events as they happen."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from grekko_research.errors import ConfigError
from live.cli._app import err_console
from live.cli._options import AcceptLogOpt, Overrides, PortfolioOpt, ShowOpt
from live.cli._resolve import load_state, make_plan, to_overrides

__all__ = ["replay_command", "run_command"]

_SUMMARY_KEYS = ("bars", "decisions", "orders", "fills", "halted")


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
    args = to_overrides(
        overrides, strategy=strategy, params=params, venue=venue, symbols=symbols,
        timeframe=timeframe, mode=mode, venue_url=venue_url, state_dir=state_dir,
        max_bars=max_bars, run_id=run_id, portfolio=portfolio,
    )  # fmt: skip
    plan = make_plan(args)
    _confirm_live(plan, confirm_live)
    err_console.print(
        f"[bold]{plan.spec.run_id}[/]: {plan.venue_name} ({plan.mode}), log {plan.events}",
        soft_wrap=True,
    )
    _run_and_show(plan, show, accept_log)


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
    args = to_overrides(
        overrides, strategy=strategy, params=params, symbols=symbols, timeframe=timeframe,
        state_dir=state_dir, run_id=run_id, portfolio=portfolio,
    )  # fmt: skip
    plan = make_plan(args, replay=True)
    _run_and_show(plan, show, accept_log)


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
        state = load_state(str(plan.events))
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
