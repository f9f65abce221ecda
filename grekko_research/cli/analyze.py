"""``grekko analyze …``: rebuild order books and label regimes, with a summary and an HTML report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from grekko_research.cli.render import console, new_table
from grekko_research.errors import ConfigError, DataError

__all__ = ["app"]

app = typer.Typer(
    help="Analyse markets: rebuild L2 order books, label regimes, traps and capitulations.",
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
