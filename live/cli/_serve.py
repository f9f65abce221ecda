"""The long-running services: the status ``api`` of a run, its ``alerts``, and the local
exchange ``sim``ulator."""

from __future__ import annotations

from typing import Annotated

import typer

from grekko_research.errors import ConfigError
from live.cli._options import EventsOpt, Overrides, RunOpt, StateDirOpt, VenueOpt
from live.cli._resolve import find_log, run_folder

__all__ = ["alerts_command", "api_command", "sim_command"]


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

    path = find_log(overrides, events, venue, run, state_dir)
    serve(path, run_folder(path, state_dir, overrides), host=host, port=port,
          stale_bars=stale_bars)  # fmt: skip


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

    args = ["--events", find_log(overrides, events, venue, run, state_dir)]
    if big_fill is not None:
        args += ["--big-fill", big_fill]
    raise typer.Exit(alerts_main(args))


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
