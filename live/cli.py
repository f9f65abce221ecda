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
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from grekko_research.errors import ConfigError, GrekkoError

__all__ = ["app", "main"]

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="grekko-live",
    help="Grekko live bridge: the backtest's signal code and risk rules against real venues.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)

PortfolioOpt = Annotated[
    str | None,
    typer.Option(help="Several strategies in one run: a conf/portfolio option [portfolio]"),
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


def _print_summary(plan: Any, summary: Any) -> None:
    table = Table(title=f"{plan.spec.run_id} ({plan.venue_name}, {plan.mode})")
    table.add_column("bars", justify="right")
    table.add_column("decisions", justify="right")
    table.add_column("orders", justify="right")
    table.add_column("fills", justify="right")
    table.add_column("halted")
    table.add_row(
        str(summary.bars),
        str(summary.decisions),
        str(summary.orders),
        str(summary.fills),
        summary.halted or "no",
    )
    err_console.print(table)
    typer.echo(plan.events)


@app.command("run")
def run_command(
    overrides: Overrides = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy name [strategy]")] = None,
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
) -> None:
    """Trade a strategy: paper by default; --mode live sends real orders (after confirmation)."""
    from live.app import run_plan

    args = _overrides(
        overrides, strategy=strategy, params=params, venue=venue, symbols=symbols,
        timeframe=timeframe, mode=mode, venue_url=venue_url, state_dir=state_dir,
        max_bars=max_bars, run_id=run_id, portfolio=portfolio,
    )  # fmt: skip
    plan = _plan(args)
    _confirm_live(plan, confirm_live)
    err_console.print(
        f"[bold]{plan.spec.run_id}[/]: {plan.venue_name} ({plan.mode}), log {plan.events}"
    )
    _print_summary(plan, run_plan(plan))


@app.command("replay")
def replay_command(
    overrides: Overrides = None,
    strategy: Annotated[str | None, typer.Option(help="Strategy name [strategy]")] = None,
    params: Annotated[list[str] | None, typer.Option("--params", help="NAME=VALUE")] = None,
    symbols: Annotated[str | None, typer.Option(help="Comma-separated symbols")] = None,
    timeframe: Annotated[str | None, typer.Option(help="Bar length")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="Where run logs go")] = None,
    run_id: Annotated[str | None, typer.Option(help="Run id")] = None,
    portfolio: PortfolioOpt = None,
) -> None:
    """Drive the runner with stored history (data.start/data.end) on a paper account."""
    from live.app import run_plan

    args = _overrides(
        overrides, strategy=strategy, params=params, symbols=symbols, timeframe=timeframe,
        state_dir=state_dir, run_id=run_id, portfolio=portfolio,
    )  # fmt: skip
    plan = _plan(args, replay=True)
    _print_summary(plan, run_plan(plan))


def _events_path(overrides: list[str] | None, events: str | None, venue: str | None) -> str:
    if events is not None:
        return events
    return str(_plan(_overrides(overrides, venue=venue)).events)


def _load_state(path: str) -> Any:
    from live.events import EventStore
    from live.state import fold_run

    if "://" not in path and not Path(path).exists():
        raise ConfigError(f"no event log at {path} (run grekko-live run first, or pass --events)")
    with EventStore.open(path) as store:
        return fold_run(store.read())


EventsOpt = Annotated[str | None, typer.Option("--events", help="Event log path or URL")]
VenueOpt = Annotated[str | None, typer.Option(help="The run's venue (to find its log)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]


@app.command("status")
def status_command(
    overrides: Overrides = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A run's state from its log: bars, equity, orders, positions, halts, last reconciliation."""
    state = _load_state(_events_path(overrides, events, venue))
    info = state.summary()
    if as_json:
        console.print_json(json.dumps(info))
        return
    table = Table(title=f"run {info['run_id']}", show_header=False)
    for key, value in info.items():
        table.add_row(key, json.dumps(value) if isinstance(value, dict | list) else str(value))
    console.print(table)


@app.command("orders")
def orders_command(
    overrides: Overrides = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    as_json: JsonOpt = False,
    open_only: Annotated[bool, typer.Option("--open", help="Only orders not yet final")] = False,
) -> None:
    """Every order of a run with its state, fills and client id."""
    from live.orders import TERMINAL

    state = _load_state(_events_path(overrides, events, venue))
    rows = [
        {
            "client_id": o.client_id,
            "symbol": o.symbol,
            "side": o.side,
            "qty": str(o.qty),
            "filled": str(o.filled_qty),
            "avg_price": None if o.avg_price is None else str(o.avg_price),
            "state": o.state.value,
            "decision_ts": o.decision_ts_ms,
            "venue_order_id": o.venue_order_id,
            "reason": o.reason,
        }
        for o in state.orders
        if not open_only or o.state not in TERMINAL
    ]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    table = Table(title=f"{len(rows)} orders")
    for col in ("client_id", "symbol", "side", "qty", "filled", "avg_price", "state", "reason"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r[c] or "") for c in ("client_id", "symbol", "side", "qty", "filled",
                                                   "avg_price", "state", "reason")))  # fmt: skip
    console.print(table)


@app.command("positions")
def positions_command(
    overrides: Overrides = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Net positions from the run's fills, fees paid, equity at the last close."""
    from live.state import dec_text

    state = _load_state(_events_path(overrides, events, venue))
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
    table = Table(title="positions")
    table.add_column("symbol")
    table.add_column("quantity", justify="right")
    for k, v in info["positions"].items():
        table.add_row(k, v)
    console.print(table)
    console.print(
        f"equity {info['equity']}, closed trades {info['closed_trades']}, "
        f"realised P&L {info['realised_pnl']:.6g}, fees {info['fees']}"
    )
    if state.sleeves:
        sleeves = Table(title="strategies (each on its own sleeve)")
        for col in ("id", "strategy", "state", "equity", "target", "trades", "realised P&L"):
            sleeves.add_column(col)
        for sl in state.sleeves.values():
            sleeves.add_row(
                sl.id, str(sl.strategy), sl.state, f"{sl.equity or 0:.6g}",
                json.dumps(sl.target), str(sl.closed_trades), f"{sl.realised_pnl:.6g}",
            )  # fmt: skip
        console.print(sleeves)


@app.command("reconcile")
def reconcile_command(
    overrides: Overrides = None,
    venue: VenueOpt = None,
    venue_url: Annotated[str | None, typer.Option(help="Base URL of a local peer")] = None,
    mode: Annotated[str | None, typer.Option(help="paper | live")] = None,
    state_dir: Annotated[Path | None, typer.Option(help="Where run logs go")] = None,
    strategy: Annotated[str | None, typer.Option(help="The run's strategy [strategy]")] = None,
    params: Annotated[list[str] | None, typer.Option("--params", help="NAME=VALUE")] = None,
) -> None:
    """Resolve open orders, fetch missing fills and compare positions with the venue."""
    from live.app import make_plan_venue, open_store
    from live.runner import Runner

    plan = _plan(
        _overrides(
            overrides,
            strategy=strategy,
            params=params,
            venue=venue,
            venue_url=venue_url,
            mode=mode,
            state_dir=state_dir,
        )
    )
    store = open_store(plan)

    async def main() -> tuple[bool, str | None, list[float]]:
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
    verdict = "books agree" if ok else f"HALTED: {halted}"
    typer.echo(f"reconciled in {ms[-1]:.1f} ms: {verdict}")
    if not ok:
        raise typer.Exit(3)


@app.command("kill")
def kill_command(
    reason: Annotated[str, typer.Option(help="Why (recorded in the log, sent with alerts)")],
    overrides: Overrides = None,
    venue: VenueOpt = None,
    flatten: Annotated[bool, typer.Option(help="Also close every position")] = False,
    state_dir: Annotated[Path | None, typer.Option(help="Where run logs go")] = None,
    run_id: Annotated[str | None, typer.Option(help="Run id")] = None,
) -> None:
    """Engage the kill switch of a run: the running process blocks new orders at once, cancels
    every open order (and flattens with --flatten); it stays engaged, across restarts, until
    ``grekko-live resume``."""
    import time

    from grekko_research._atomic import atomic_write_text
    from live.app import KILL_FILE

    plan = _plan(_overrides(overrides, venue=venue, state_dir=state_dir, run_id=run_id))
    flag = plan.state_dir / KILL_FILE
    flag.parent.mkdir(parents=True, exist_ok=True)
    body = {"reason": reason, "flatten": flatten, "ts_ms": int(time.time() * 1000)}
    atomic_write_text(flag, json.dumps(body))
    typer.echo(f"kill switch set for {plan.spec.run_id}: {flag}")


@app.command("resume")
def resume_command(
    reason: Annotated[str, typer.Option(help="Why trading may resume (recorded in the log)")],
    overrides: Overrides = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
) -> None:
    """Lift a halt or the kill switch (after the cause was fixed), recorded in the run's log: a
    running process follows within a second; a stopped one at its next start, which reconciles
    again before trading."""
    from live.app import KILL_FILE
    from live.events import EventStore

    path = _events_path(overrides, events, venue)
    flag = Path(path).parent / KILL_FILE
    if "://" not in path and flag.exists():
        flag.unlink()
    state = _load_state(path)
    held = [s.id for s in state.sleeves.values() if s.state != "ACTIVE"]
    if state.halted is None and not held:
        console.print("not halted")
        return
    with EventStore.open(path) as store:
        head = store.head()
        store.append(
            "resumed",
            "runner",
            {"reason": reason, "halt": state.halted, "by": "cli"},
            ts_ms=head.ts_ms if head is not None else 0,
        )
    strategies = f"; strategies {held}" if held else ""
    console.print(f"resumed (was halted: {state.halted}{strategies})")


@app.command("verify")
def verify_command(
    overrides: Overrides = None, events: EventsOpt = None, venue: VenueOpt = None
) -> None:
    """Check the log's hash chain; name the first bad event and why."""
    from live.events import verify

    path = _events_path(overrides, events, venue)
    report = verify(path)
    console.print(str(report))
    if not report.ok:
        raise typer.Exit(4)


@app.command("api")
def api_command(
    overrides: Overrides = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    host: Annotated[str, typer.Option(help="Bind address (loopback by default)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
) -> None:
    """Serve a run's status API (REST, websocket streams, /metrics) from its event log.

    Tokens: GREKKO_API_READ_TOKEN and GREKKO_API_CONTROL_TOKEN (kill / resume).
    """
    from live.api.server import serve

    path = _events_path(overrides, events, venue)
    serve(path, Path(path).parent, host=host, port=port)


@app.command("alerts")
def alerts_command(
    overrides: Overrides = None,
    events: EventsOpt = None,
    venue: VenueOpt = None,
    big_fill: Annotated[
        str | None, typer.Option(help="Alert on fills of at least this notional")
    ] = None,
) -> None:
    """Send alerts for a run's event log (risk breaches, kill switch, halts, errors, big fills)
    to the apprise URLs in GREKKO_ALERT_URLS."""
    from live.alerts.__main__ import main as alerts_main

    args = ["--events", _events_path(overrides, events, venue)]
    if big_fill is not None:
        args += ["--big-fill", big_fill]
    raise typer.Exit(alerts_main(args))


@app.command("sim")
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

    Keys: the simulator accepts GREKKO_BINANCE_API_KEY / _API_SECRET from the environment.
    """
    import os

    from live.sim.cli import run_sim

    key = os.environ.get("GREKKO_BINANCE_API_KEY")
    secret = os.environ.get("GREKKO_BINANCE_API_SECRET")
    if not key or not secret:
        raise ConfigError(
            "set GREKKO_BINANCE_API_KEY and GREKKO_BINANCE_API_SECRET for the simulator"
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
    )


def main() -> None:
    """Run the CLI, turning Grekko's errors into one-line messages (exit status 1).

    Secrets (API keys, tokens, alert URLs' credentials) are masked in every log record,
    traceback and ccxt's verbose output of this process.
    """
    from live.secrets import install_redaction

    install_redaction()
    try:
        app()
    except GrekkoError as exc:
        err_console.print(f"[red]error:[/] {exc}")
        sys.exit(1)
