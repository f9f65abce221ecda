"""``grekko data …``: download, import, validate, list, describe and resample market data."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from grekko_research.cli.render import console, print_json, render_info, render_report
from grekko_research.data.download import Downloader, DownloadProgress, RetryPolicy
from grekko_research.data.exchanges import make_exchange
from grekko_research.data.files import (
    import_files,
    parse_data_filename,
    read_data_file,
)
from grekko_research.data.load import series_info
from grekko_research.data.resample import resample_frame
from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.data.timeframes import iso, to_ms
from grekko_research.data.validate import Plausibility, check_frame, validate_frame
from grekko_research.errors import ConfigError

__all__ = ["app"]

app = typer.Typer(
    help="Download, import, check and describe market data in the local Parquet store.",
    no_args_is_help=True,
)


class Market(StrEnum):
    """Markets Grekko stores."""

    spot = "spot"
    usdm = "usdm"
    coinm = "coinm"


class Kind(StrEnum):
    """Kinds of stored series."""

    ohlcv = "ohlcv"
    markprice = "markprice"
    funding = "funding"


class GapPolicy(StrEnum):
    """What to do with gaps."""

    raise_ = "raise"
    report = "report"
    fill = "fill"


DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Store folder [env GREKKO_DATA_DIR; default the checkout's data/].",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead.")]
MarketOpt = Annotated[Market, typer.Option("--market", help="spot, usdm (USD-M perpetual), coinm.")]
KindOpt = Annotated[Kind, typer.Option("--kind", help="ohlcv, markprice or funding.")]
_PL = Plausibility()
MaxPrice = Annotated[
    float, typer.Option("--max-price", help="Plausibility: highest price accepted.")
]
MaxVolume = Annotated[
    float, typer.Option("--max-volume", help="Plausibility: highest volume accepted.")
]
MaxRangeRatio = Annotated[
    float,
    typer.Option(
        "--max-range-ratio",
        help="Plausibility: a bar's range may be at most this many times its neighbours' "
        "median range.",
    ),
]
MaxJump = Annotated[
    float,
    typer.Option(
        "--max-jump", help="Plausibility: largest factor between an open and the previous close."
    ),
]
NoPlausibility = Annotated[
    bool,
    typer.Option(
        "--no-plausibility", help="Skip the plausibility rules (non-finite values still fail)."
    ),
]


def _limits(
    max_price: float, max_volume: float, max_range_ratio: float, max_jump: float, off: bool
) -> Plausibility:
    if off:
        return Plausibility.off()
    return Plausibility(
        max_price=max_price,
        max_volume=max_volume,
        max_range_ratio=max_range_ratio,
        max_jump=max_jump,
    )


def _store(data_dir: Path | None) -> ParquetStore:
    return ParquetStore(data_dir) if data_dir is not None else ParquetStore()


def _key(
    exchange: str, symbol: str, timeframe: str | None, market: Market, kind: Kind
) -> SeriesKey:
    if kind is Kind.funding:
        timeframe = None
    elif timeframe is None:
        raise ConfigError(f"{kind.value} series need a timeframe (e.g. 1h)")
    return SeriesKey.make(exchange, symbol, timeframe, market=market.value, kind=kind.value)


@app.command()
def download(
    symbol: Annotated[
        list[str] | None, typer.Option("--symbol", "-s", help="BASE/QUOTE; repeat for several.")
    ] = None,
    exchange: Annotated[
        str, typer.Option("--exchange", "-e", help="ccxt exchange id.")
    ] = "binance",
    timeframe: Annotated[str, typer.Option("--timeframe", "-t", help="Bar length.")] = "1h",
    since: Annotated[
        str | None,
        typer.Option(help="First bar wanted (date, ISO time or epoch ms). Needed for new series."),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Stop before this time (default: the last closed bar).")
    ] = None,
    market: MarketOpt = Market.spot,
    kind: KindOpt = Kind.ohlcv,
    data_dir: DataDir = None,
    rest_url: Annotated[
        str | None,
        typer.Option(
            "--rest-url",
            envvar="GREKKO_REST_URL",
            help="Send REST calls to this base URL (a testnet, proxy or local peer).",
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Per-request timeout in seconds.")] = 15.0,
    max_retries: Annotated[int, typer.Option(help="Retries of a transient failure.")] = 5,
    checkpoint_rows: Annotated[
        int, typer.Option(help="Write to the store after this many new rows.", hidden=True)
    ] = 50_000,
    as_json: JsonFlag = False,
    chain: Annotated[str, typer.Option(help="DEX logs: the pool's chain.")] = "ethereum",
    pool: Annotated[
        str | None, typer.Option(help="DEX logs: a pool's address (eth_getLogs via web3).")
    ] = None,
    rpc_url: Annotated[
        str | None, typer.Option(envvar="GREKKO_RPC_URL", help="DEX logs: the node's JSON-RPC URL.")
    ] = None,
    from_block: Annotated[
        int | None, typer.Option(help="DEX logs: first block (default: after the checkpoint).")
    ] = None,
    to_block: Annotated[
        int | None, typer.Option(help="DEX logs: last block (default: the latest).")
    ] = None,
) -> None:
    """Download candles, mark-price candles or funding history through ccxt (incremental), or
    with --pool a DEX pool's event logs through a node (resumable)."""
    if pool is not None:
        from grekko_research.cli.dex import download_pool

        download_pool(chain, pool, rpc_url, from_block, to_block, data_dir, max_retries, as_json)
        return
    if not symbol:
        raise ConfigError("give --symbol (candles) or --pool (a DEX pool's logs)")
    store = _store(data_dir)
    client = make_exchange(
        exchange, market.value, rest_url=rest_url, timeout_ms=int(timeout * 1000)
    )
    tf = None if kind is Kind.funding else timeframe
    results = []
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:>9,} rows"),
        TimeRemainingColumn(),
        console=console,
        disable=as_json,
        transient=False,
    ) as progress:
        tasks: dict[SeriesKey, TaskID] = {}

        def on_progress(event: DownloadProgress) -> None:
            if event.key not in tasks:
                tasks[event.key] = progress.add_task(event.key.label(), total=1.0, rows=0)
            progress.update(tasks[event.key], completed=event.fraction, rows=event.rows)

        downloader = Downloader(
            client,
            store,
            exchange=exchange,
            market=market.value,
            retry=RetryPolicy(max_retries=max_retries),
            checkpoint_rows=checkpoint_rows,
            on_progress=on_progress,
        )
        for sym in symbol:
            result = downloader.download(
                sym, tf, kind=kind.value, since_ms=to_ms(since), until_ms=to_ms(until)
            )
            if result.key in tasks:
                progress.update(tasks[result.key], completed=1.0)
            results.append(result)
    if as_json:
        print_json(
            [
                {
                    "series": r.key.label(),
                    "fetched": r.fetched,
                    "rows": r.rows,
                    "requests": r.requests,
                    "retries": r.retries,
                    "path": str(store.path(r.key)),
                    "report": r.report.to_dict(),
                }
                for r in results
            ]
        )
        return
    for r in results:
        state = "already up to date" if r.up_to_date else f"{r.fetched:,} new rows"
        console.print(
            f"[bold]{r.key.label()}[/bold]: {state}; {r.rows:,} rows in "
            f"{store.path(r.key)} ({r.requests} requests, {r.retries} retries)"
        )
        render_report(r.report, max_gaps=5, title=f"data quality: {r.key.label()}")


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="CSV, CSV.gz or Parquet files.")],
    exchange: Annotated[str | None, typer.Option("--exchange", "-e")] = None,
    symbol: Annotated[str | None, typer.Option("--symbol", "-s")] = None,
    timeframe: Annotated[str | None, typer.Option("--timeframe", "-t")] = None,
    market: MarketOpt = Market.spot,
    kind: KindOpt = Kind.ohlcv,
    replace: Annotated[
        bool, typer.Option(help="Make the file the whole series instead of merging.")
    ] = False,
    gap_policy: Annotated[
        GapPolicy, typer.Option(help="raise refuses files with gaps; report/fill import them.")
    ] = GapPolicy.report,
    data_dir: DataDir = None,
    max_price: MaxPrice = _PL.max_price,
    max_volume: MaxVolume = _PL.max_volume,
    max_range_ratio: MaxRangeRatio = _PL.max_range_ratio,
    max_jump: MaxJump = _PL.max_jump,
    no_plausibility: NoPlausibility = False,
    as_json: JsonFlag = False,
) -> None:
    """Import candle or funding files (timestamp,open,high,low,close,volume in ms UTC).

    Without --exchange/--symbol/--timeframe the series is read from file names
    like binance-spot_BTC-USDT_1h__source.csv.gz. All or nothing: every file
    is checked (alone and merged with the store) before any is written. Raw
    eth_getLogs files and per-minute pool-state files of a DEX pool (named
    <chain>-…0x<pool>…) go to the pool's logs / pool state in the store; trades
    and depth captures (<exchange>-<market>_<BASE>-<QUOTE>_…_trades.csv,
    …_depth_snapshot.csv, …_depth_diffs.csv.gz) go to the store's trades/depth.
    """
    from grekko_research.cli.analyze import import_capture_files
    from grekko_research.cli.dex import import_pool_files

    if import_pool_files(paths, data_dir, replace=replace, as_json=as_json):
        return
    if import_capture_files(paths, data_dir, replace=replace, as_json=as_json):
        return
    store = _store(data_dir)
    explicit = exchange is not None or symbol is not None or timeframe is not None
    key = None
    if explicit:
        if exchange is None or symbol is None:
            raise ConfigError("give both --exchange and --symbol (or neither, to use the name)")
        key = _key(exchange, symbol, timeframe, market, kind)
    limits = _limits(max_price, max_volume, max_range_ratio, max_jump, no_plausibility)
    results = import_files(
        paths, key, store=store, replace=replace, gap_policy=gap_policy.value, limits=limits
    )
    if as_json:
        print_json(
            [
                {
                    "file": str(r.path),
                    "series": r.key.label(),
                    "rows_added": r.rows_added,
                    "path": str(store.path(r.key)),
                    "file_report": r.file_report.to_dict(),
                    "store_report": r.store_report.to_dict(),
                }
                for r in results
            ]
        )
        return
    for r in results:
        console.print(
            f"[bold]{r.path.name}[/bold] → {r.key.label()}: {r.rows_added:,} new rows, "
            f"{r.store_report.rows:,} in {store.path(r.key)}"
        )
        render_report(r.store_report, max_gaps=5, title=f"data quality: {r.key.label()}")


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="A CSV, CSV.gz or Parquet file.")],
    exchange: Annotated[str | None, typer.Option("--exchange", "-e")] = None,
    symbol: Annotated[str | None, typer.Option("--symbol", "-s")] = None,
    timeframe: Annotated[str | None, typer.Option("--timeframe", "-t")] = None,
    market: MarketOpt = Market.spot,
    kind: KindOpt = Kind.ohlcv,
    max_price: MaxPrice = _PL.max_price,
    max_volume: MaxVolume = _PL.max_volume,
    max_range_ratio: MaxRangeRatio = _PL.max_range_ratio,
    max_jump: MaxJump = _PL.max_jump,
    no_plausibility: NoPlausibility = False,
    as_json: JsonFlag = False,
) -> None:
    """Check a file against every data rule without importing it (exit 1 on violations)."""
    if exchange is not None and symbol is not None:
        key = _key(exchange, symbol, timeframe, market, kind)
    else:
        parsed = parse_data_filename(path)
        if parsed is None:
            raise ConfigError(f"cannot tell the series from {path.name!r}: give --exchange etc.")
        key = parsed.key
    limits = _limits(max_price, max_volume, max_range_ratio, max_jump, no_plausibility)
    report = check_frame(read_data_file(path, key), key, str(path), limits=limits)
    if as_json:
        print_json(report.to_dict())
    else:
        render_report(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command("list")
def list_(data_dir: DataDir = None, as_json: JsonFlag = False) -> None:
    """List the series in the store."""
    store = _store(data_dir)
    rows = []
    for key in store.series():
        span = store.span(key)
        first, last, n = span if span else (None, None, 0)
        rows.append(
            {
                "kind": key.kind,
                "exchange": key.exchange,
                "market": key.market,
                "symbol": key.symbol,
                "timeframe": key.timeframe,
                "rows": n,
                "start": iso(first),
                "end": iso(last),
                "path": str(store.path(key)),
            }
        )
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print(
            f"The store at {store.root} is empty: use 'grekko data download' or 'import'."
        )
        return
    table = Table(title=f"series in {store.root}", title_justify="left")
    columns = ("kind", "exchange", "market", "symbol", "timeframe", "rows", "start", "end")
    for name in columns:
        table.add_column(name, justify="right" if name == "rows" else "left")
    for row in rows:
        cells = {**row, "rows": f"{row['rows']:,}"}
        table.add_row(*(str(cells[name] or "—") for name in columns))
    console.print(table)


@app.command()
def info(
    exchange: Annotated[str, typer.Argument(help="e.g. binance")],
    symbol: Annotated[str, typer.Argument(help="e.g. BTC/USDT")],
    timeframe: Annotated[str | None, typer.Argument(help="e.g. 2h (none for funding)")] = None,
    market: MarketOpt = Market.spot,
    kind: KindOpt = Kind.ohlcv,
    start: Annotated[str | None, typer.Option(help="Only from this time (inclusive).")] = None,
    end: Annotated[str | None, typer.Option(help="Only before this time (exclusive).")] = None,
    gaps: Annotated[int, typer.Option(help="How many of the largest gaps to list.")] = 20,
    data_dir: DataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Describe a stored series: span, bar count, gaps, price extremes."""
    key = _key(exchange, symbol, timeframe, market, kind)
    facts = series_info(key, store=_store(data_dir), start=start, end=end)
    if as_json:
        print_json(facts.to_dict())
    else:
        render_info(facts, max_gaps=gaps)


@app.command()
def resample(
    exchange: Annotated[str, typer.Argument()],
    symbol: Annotated[str, typer.Argument()],
    source: Annotated[str, typer.Option("--from", help="Stored timeframe, e.g. 1h.")],
    target: Annotated[str, typer.Option("--to", help="Higher timeframe, e.g. 4h.")],
    market: MarketOpt = Market.spot,
    kind: KindOpt = Kind.ohlcv,
    data_dir: DataDir = None,
) -> None:
    """Resample a stored series exactly to a higher timeframe and store the result.

    Only complete bars are written (every constituent bar present).
    """
    store = _store(data_dir)
    src = _key(exchange, symbol, source, market, kind)
    dst = _key(exchange, symbol, target, market, kind)
    if store.exists(dst):
        raise ConfigError(f"{dst.label()} is already stored; delete it first to rebuild it")
    if not store.exists(src):
        raise ConfigError(f"{src.label()} is not in the store at {store.root}")
    frame, summary = resample_frame(store.read(src), src.timeframe or "", dst.timeframe or "")
    frame = frame.drop(columns=["filled"], errors="ignore")
    report = validate_frame(frame, dst, f"{src.label()} resampled to {dst.timeframe}")
    store.write(dst, frame, metadata={"source": f"resampled:{src.timeframe}"})
    console.print(
        f"{dst.label()}: {report.rows:,} bars written to {store.path(dst)} "
        f"({summary.dropped:,} incomplete bars left out)"
    )
    render_report(report, max_gaps=5)
