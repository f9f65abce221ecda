"""``grekko-live feed``: the market-analysis feed on its own — the L2 book, order flow, spoofing
candidates and trades of a venue's public streams, with its Prometheus metrics served and a
summary printed (no account, no orders)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from grekko_research.errors import ConfigError

__all__ = ["feed_command"]

# ccxt venue id → (exchange, market) of the tick store series a recording goes to
_STORE_NAMES = {"binance": ("binance", "spot"), "binanceusdm": ("binance", "usdm")}


def feed_command(
    symbols: Annotated[list[str], typer.Argument(help="Symbols, e.g. BTC/USDT ETH/USDT")],
    venue: Annotated[str, typer.Option(help="ccxt venue id (binance, binanceusdm)")] = "binance",
    venue_url: Annotated[
        str | None, typer.Option(help="Base URL instead of the exchange's (e.g. grekko-live sim)")
    ] = None,
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C)")
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Bind address of /metrics")] = "127.0.0.1",
    metrics_port: Annotated[
        int | None, typer.Option(help="Port of /metrics (0: a free one; omit the option: 9464)")
    ] = 9464,
    no_metrics: Annotated[bool, typer.Option("--no-metrics", help="Serve no /metrics")] = False,
    record: Annotated[
        Path | None, typer.Option(help="Merge what was received into this tick store folder")
    ] = None,
    every: Annotated[float, typer.Option(help="Print a status line every this many s")] = 10.0,
) -> None:
    """Run the market-analysis feed on a venue's order-book and trade streams.

    The book is rebuilt with the research replay's kernels (update-id sequencing, gap →
    resync); /metrics serves grekko_book_*, grekko_trade*, grekko_spoof* and the processing time
    per message; a summary (book, flow, latency p50/p99) is printed at the end. Public data
    only: no credentials are read.
    """
    if not symbols:
        raise ConfigError("grekko-live feed: name at least one symbol, e.g. BTC/USDT")
    if seconds is not None and not seconds > 0:
        raise ConfigError(f"--seconds must be positive, got {seconds}")
    if record is not None and venue not in _STORE_NAMES:
        raise ConfigError(
            f"--record: recordings are stored for {sorted(_STORE_NAMES)}, not {venue!r}"
        )
    port = None if no_metrics else metrics_port
    summary = asyncio.run(
        _run(symbols, venue, venue_url, seconds, metrics_host, port, record, every)
    )
    _print_summary(summary)


async def _run(
    symbols: list[str],
    venue_name: str,
    venue_url: str | None,
    seconds: float | None,
    host: str,
    port: int | None,
    record: Path | None,
    every: float,
) -> dict[str, Any]:
    from prometheus_client import start_http_server

    from grekko_research.data.ticks import TickStore
    from live.market_feed import MarketAnalysisFeed
    from live.venues.registry import make_venue

    venue = make_venue(venue_name, urls=venue_url, credentials=None, require=())
    server = None
    try:
        await venue.start()
        feed = MarketAnalysisFeed(venue.client, symbols, record=record is not None)
        if port is not None:
            server, _ = start_http_server(port, addr=host, registry=feed.registry)
            typer.echo(f"metrics http://{host}:{server.server_port}/metrics", err=False)
        typer.echo(f"feed {venue_name} {' '.join(symbols)}: book and trades; Ctrl-C to stop")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await feed.start()
        t0 = time.monotonic()
        try:
            while not stop.is_set():
                left = every if seconds is None else min(every, seconds - (time.monotonic() - t0))
                if left <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=left)
                _print_status(feed, time.monotonic() - t0)
        finally:
            await feed.stop()
        out = feed.summary()
        out["seconds"] = time.monotonic() - t0
        if record is not None:
            exchange, market = _STORE_NAMES[venue_name]
            out["recorded"] = feed.write_recording(TickStore(record), exchange, market)
        return out
    finally:
        if server is not None:
            server.shutdown()
        await venue.close()


def _print_status(feed: Any, elapsed: float) -> None:
    s = feed.stats
    synced = sum(feed.synced(sym) for sym in feed.symbols)
    typer.echo(
        f"{elapsed:7.1f}s  depth {s.depth_events}  trades {s.trades}  gaps {s.gaps}  "
        f"synced {synced}/{len(feed.symbols)}"
    )


def _fmt(value: Any, spec: str = ",.2f") -> str:
    return "-" if value is None else format(value, spec)


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="market feed")
    for col in ("symbol", "synced", "bid", "ask", "spread bp", "imbalance", "book events",
                "trades", "spoof cand."):  # fmt: skip
        table.add_column(col, justify="left" if col == "symbol" else "right")
    for sym, r in summary["symbols"].items():
        table.add_row(
            sym,
            "yes" if r["synced"] else "no",
            _fmt(r.get("bid_px")),
            _fmt(r.get("ask_px")),
            _fmt(r.get("spread_bps"), ".3f"),
            _fmt(r.get("imbalance"), "+.3f"),
            f"{r['book_events']:,}",
            f"{r['trades']:,}",
            f"{r['spoof_candidates']:,}",
        )
    console = Console()
    console.print(table)
    n = summary["depth_events"] + summary["trades"]
    rate = n / summary["seconds"] if summary["seconds"] > 0 else 0.0
    console.print(
        f"{n:,} messages ({summary['depth_events']:,} depth, {summary['trades']:,} trades) in "
        f"{summary['seconds']:.1f} s, {rate:,.0f}/s; processing p50 {_fmt(summary['p50_us'])} µs"
        f", p99 {_fmt(summary['p99_us'])} µs; gaps {summary['gaps']}, snapshots "
        f"{summary['snapshots']}"
    )
    for label, rows in (summary.get("recorded") or {}).items():
        console.print(f"recorded {label}: {rows:,} new rows")
