"""``grekko analyze …``: rebuild order books, label regimes, find algorithmic activity; summary + HTML."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    import pandas as pd

from grekko_research.cli.render import console, new_table
from grekko_research.errors import ConfigError, DataError

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Analyse markets: rebuild L2 order books, label regimes, traps and capitulations,"
        " find sandwiches, bot footprints and wash-trading candidates."
    ),
    no_args_is_help=True,
)

SharedOpt = Annotated[
    Path | None,
    typer.Option("--shared", help="Real data folder (default: GREKKO_SHARED_DATA)."),
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Report folder (default: <reports folder>/analysis)."),
]


def _shared(shared: Path | None) -> Path:
    from grekko_research.paths import shared_data_dir

    path = shared or shared_data_dir()
    if path is None or not path.is_dir():
        raise ConfigError("no shared data folder: pass --shared or set GREKKO_SHARED_DATA")
    return path


def _out(out: Path | None) -> Path:
    from grekko_research.paths import reports_dir

    return out or reports_dir() / "analysis"


@app.command("book")
def book_command(
    capture: Annotated[
        str | None,
        typer.Argument(help="Capture name (default: every depth capture)."),
    ] = None,
    shared: SharedOpt = None,
    out: OutOpt = None,
) -> None:
    """Rebuild each depth capture, check it against its bookTicker, list spoofing candidates."""
    from grekko_research.analysis.book import compare_top_of_book, rebuild_book, spoofing_candidates
    from grekko_research.analysis.captures import find_captures, read_capture
    from grekko_research.analysis.report import book_report

    root = _shared(shared)
    names = [capture] if capture else find_captures(root)
    if not names:
        raise DataError(f"no depth captures in {root / 'orderbook'}")
    table = new_table(title="Order books rebuilt")
    for col in (
        "capture",
        "diff rows",
        "events",
        "gaps",
        "top of book equal",
        "spoof cand.",
        "rows/s",
    ):
        table.add_column(col, justify="left" if col == "capture" else "right")
    written = []
    for name in names:
        cap = read_capture(root, name)
        t0 = time.perf_counter()
        rep = rebuild_book(cap)
        seconds = time.perf_counter() - t0
        check = compare_top_of_book(rep, cap.bbo) if cap.bbo is not None else None
        spoofs = spoofing_candidates(rep, cap.trades)
        equal = f"{check.qty_matches}/{check.compared}" if check else "no ticker"
        table.add_row(
            name,
            f"{len(cap.diffs):,}",
            f"{len(rep.events):,}",
            str(len(rep.gaps)),
            equal,
            str(len(spoofs)),
            f"{len(cap.diffs) / seconds:,.0f}",
        )
        written.append(book_report(_out(out) / f"book_{name}.html", name, rep, check, spoofs))
    console.print(table)
    console.print("rows/s includes the first call's compilation; see benchmarks/analysis_book.py")
    for path in written:
        console.print(f"report: {path}")


@app.command("regimes")
def regimes_command(
    file: Annotated[
        Path, typer.Argument(help="Candles: CSV (timestamp,open,high,low,close,volume).")
    ],
    hmm: Annotated[
        bool, typer.Option("--hmm/--no-hmm", help="Also fit the walk-forward HMM.")
    ] = False,
    out: OutOpt = None,
) -> None:
    """Label Wyckoff phases, bull traps and capitulations (and HMM states) of one candle file."""
    import pandas as pd

    from grekko_research.analysis.detectors import bull_traps, capitulations, wyckoff_phases
    from grekko_research.analysis.regimes import hmm_regimes
    from grekko_research.analysis.report import regimes_report

    if not file.is_file():
        raise ConfigError(f"no such candle file: {file}")
    frame = pd.read_csv(file)
    missing = {"timestamp", "high", "low", "close", "volume"} - set(frame.columns)
    if missing:
        raise DataError(f"{file}: missing column(s) {sorted(missing)}")
    h, lo, c, v = (frame[k].to_numpy(float) for k in ("high", "low", "close", "volume"))
    ix = frame["timestamp"].to_numpy()
    phase, wy = wyckoff_phases(h, lo, c, v, index=ix)
    events: dict[str, pd.DataFrame] = {
        "capitulation": capitulations(c, lo, v, index=ix),
        "bull_trap": bull_traps(h, c, v, index=ix),
        **{str(k): g.reset_index(drop=True) for k, g in wy.groupby("kind")},
    }
    label = hmm_regimes(c).label if hmm else None
    table = new_table(title=f"Events in {file.name}")
    for col in ("event", "count", "latest"):
        table.add_column(col)
    for kind, ev in events.items():
        latest = str(ev["time"].iloc[-1])[:16] if len(ev) else "-"
        table.add_row(kind, str(len(ev)), latest)
    console.print(table)
    stem = file.name.split(".")[0]
    path = regimes_report(
        _out(out) / f"regimes_{stem}.html", file.name, frame, phase, events, label
    )
    console.print(f"report: {path}")


def _swap_files(root: Path, files: list[Path] | None) -> list[Path]:
    if files:
        for f in files:
            if not f.is_file():
                raise ConfigError(f"no such swap file: {f}")
        return files
    found = sorted((root / "uniswap").glob("*.raw.csv.gz"))
    if not found:
        raise DataError(f"no raw Uniswap logs (*.raw.csv.gz) in {root / 'uniswap'}")
    return found


def _trade_evidence(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Footprint, mirror prints and order-to-trade per depth capture with trades; the clips."""
    import pandas as pd

    from grekko_research.analysis.bots import (
        mirror_prints,
        order_to_trade,
        recurring_clips,
        trade_footprint,
    )
    from grekko_research.analysis.captures import find_captures, read_capture

    rows, clips = [], []
    for name in find_captures(root):
        cap = read_capture(root, name)
        if cap.trades is None or len(cap.trades) < 3:
            continue
        fp = trade_footprint(cap.trades)
        mirror = mirror_prints(cap.trades, shuffles=5)
        otr = order_to_trade(cap.diffs, cap.trades)
        found = recurring_clips(cap.trades).assign(capture=name.split("__")[0])
        clips.append(found)
        rows.append(
            {
                "capture": name.split("__")[0],
                "trades": fp.trades,
                "interval_cv": round(fp.interval_cv, 2),
                "same_ms": round(fp.same_ms_share, 3),
                "top_size": fp.top_size,
                "top_size_share": round(fp.top_size_share, 3),
                "clip_runs": len(found),
                "mirror_excess": round(mirror["excess"], 2),
                "updates_per_trade": round(otr["ratio"], 1),
            }
        )
    return pd.DataFrame(rows), (pd.concat(clips, ignore_index=True) if clips else pd.DataFrame())


@app.command("activity")
def activity_command(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Uniswap V3 swap logs (default: <shared>/uniswap/*.raw.csv.gz)."),
    ] = None,
    router: Annotated[
        list[str] | None,
        typer.Option("--router", help="Another router/aggregator address (repeatable)."),
    ] = None,
    tol: Annotated[
        float, typer.Option("--tol", help="Back-run vs front-run amount tolerance.")
    ] = 0.05,
    shared: SharedOpt = None,
    out: OutOpt = None,
) -> None:
    """Find sandwiches and circular flows in swap logs, bot footprints in the shared trades."""
    import pandas as pd

    from grekko_research.analysis.mev import ROUTERS, circular_flows, read_swaps, sandwiches
    from grekko_research.analysis.report import activity_report

    root = _shared(shared)
    routers = {**ROUTERS, **{r.lower(): "user-given" for r in router or []}}
    pools = [read_swaps(f) for f in _swap_files(root, files)]
    sw = sandwiches(pools, routers, tol=tol)
    flows = circular_flows(pools, routers, exclude=sw)
    footprints, clips = _trade_evidence(root)
    table = new_table(title=f"Sandwiches in {sum(len(p) for p in pools):,} swaps")
    for col in ("block", "actor", "front tx", "back tx", "bought", "victims", "profit (token0)"):
        table.add_column(
            col, justify="left" if col in ("actor", "front tx", "back tx") else "right"
        )
    for r in sw.to_dict("records"):
        table.add_row(
            str(r["block"]),
            str(r["actor"])[:12],
            str(r["front_tx"])[:12],
            str(r["back_tx"])[:12],
            f"{r['bought_amount']:,.4g} t{str(r['bought'])[-1]}",
            str(str(r["victim_txs"]).count(",") + 1),
            f"{r['profit0']:,.2f}",
        )
    console.print(table)
    console.print(
        f"{len(sw)} sandwiches by {sw['actor'].nunique() if len(sw) else 0} actors, gross "
        f"{sw['profit0'].sum() if len(sw) else 0.0:,.2f} token0 (gas not in the logs); "
        f"{len(flows)} circular flows"
    )
    if len(footprints):
        ft = new_table(title="Trade footprints")
        for col in footprints.columns:
            ft.add_column(str(col), justify="left" if col == "capture" else "right")
        for rec in footprints.itertuples(index=False):
            ft.add_row(*(str(v) for v in rec))
        console.print(ft)
    swaps = pd.concat([p.frame.assign(pool=p.pool) for p in pools], ignore_index=True)
    path = activity_report(_out(out) / "activity.html", swaps, sw, flows, footprints, clips)
    console.print(f"report: {path}")


@app.command("scan")
def scan_command(
    timeframe: Annotated[
        str | None, typer.Option("--timeframe", help="Only series of this timeframe.")
    ] = None,
    store: Annotated[
        Path | None, typer.Option("--store", help="Bar store folder (default: GREKKO_DATA_DIR).")
    ] = None,
    window: Annotated[int, typer.Option("--window", help="Channel and ATR bars.")] = 20,
    k: Annotated[float, typer.Option("--k", help="True range / ATR to count as a break.")] = 2.0,
    recent: Annotated[
        int, typer.Option("--recent", help="List series that broke out in the last N bars.")
    ] = 5,
) -> None:
    """Scan the bar store for volatility breakouts (price leaves its channel on an expanded range)."""
    from grekko_research.analysis.scanners import vol_breakout_scan
    from grekko_research.data.store import ParquetStore

    found = vol_breakout_scan(ParquetStore(store), timeframe, window, k, recent)
    table = new_table(title=f"Volatility breakouts in the last {recent} bars")
    for col in found.columns:
        table.add_column(str(col), justify="left" if col in ("series", "time") else "right")
    for rec in found.to_dict("records"):
        table.add_row(*(f"{v:.3g}" if isinstance(v, float) else str(v) for v in rec.values()))
    console.print(table)
    console.print(f"{len(found)} series broke out")


def import_capture_files(
    paths: list[Path], data_dir: Path | None, *, replace: bool, as_json: bool
) -> bool:
    """``grekko data import`` of trades/depth captures (named like the shared data's): each
    into its ``trades``/``depth`` series of the store. False when no path is a capture; a mix
    of captures and candle files is refused (one kind of import per call)."""
    from grekko_research.analysis import tickdata
    from grekko_research.cli.render import print_json
    from grekko_research.data.ticks import TickStore

    found = [tickdata.capture_file_key(p) is not None for p in paths]
    if not any(found):
        return False
    if not all(found):
        others = [p.name for p, f in zip(paths, found, strict=True) if not f]
        raise ConfigError(f"import captures and candle files separately; not captures: {others}")
    store = TickStore(data_dir)
    done: list[dict[str, str | int]] = [
        {
            "file": str(path),
            "series": key.label(),
            "rows_added": added,
            "path": str(store.path(key)),
        }
        for path, key, added in tickdata.import_capture_files(list(paths), store, replace=replace)
    ]
    if as_json:
        print_json(done)
    else:
        for d in done:
            console.print(
                f"[bold]{Path(str(d['file'])).name}[/bold] → {d['series']}: "
                f"{d['rows_added']:,} new rows in {d['path']}"
            )
    return True
