"""Rich rendering of data-quality reports and series facts for the terminal."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from grekko_research.data.load import SeriesInfo
from grekko_research.data.timeframes import iso
from grekko_research.data.validate import DataQualityReport

__all__ = ["console", "err_console", "print_json", "quality_table", "render_info", "render_report"]

console = Console()
err_console = Console(stderr=True)


def print_json(payload: Any) -> None:
    """Write ``payload`` as indented JSON to standard output (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def _when(ts_ms: int | None) -> str:
    text = iso(ts_ms)
    return "—" if text is None else text.replace("T", " ").replace(":00Z", "").replace("Z", "")


def render_report(
    report: DataQualityReport, *, max_gaps: int = 10, title: str | None = None
) -> None:
    """Print one series' data-quality report: facts, then the largest gaps and any violations."""
    table = Table(title=title or report.source, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("rows", f"{report.rows:,}")
    table.add_row("span", f"{_when(report.start_ms)} → {_when(report.end_ms)} UTC")
    if report.timeframe:
        table.add_row("timeframe", report.timeframe)
        if report.expected_bars is not None:
            table.add_row("expected bars", f"{report.expected_bars:,}")
        gaps = f"{report.n_gaps:,} gaps, {report.missing_bars:,} missing bars"
        largest = report.largest_gap
        if largest is not None:
            gaps += f" (largest {largest.missing:,} from {_when(largest.start_ms)})"
        table.add_row("gaps", gaps)
    if report.filled_bars:
        table.add_row("filled bars", f"{report.filled_bars:,}")
    status = "[green]ok[/green]" if report.ok else "[red]rule violations[/red]"
    table.add_row("rules", status)
    console.print(table)
    if report.gaps and max_gaps > 0:
        _gaps_only(report, max_gaps)
    if report.violations:
        vt = Table(title="rule violations (first rows)")
        vt.add_column("row", justify="right")
        vt.add_column("rule")
        vt.add_column("detail")
        for v in report.violations:
            vt.add_row(str(v.row), v.rule, v.detail)
        console.print(vt)


def render_info(info: SeriesInfo, *, max_gaps: int = 10) -> None:
    """Print a stored series' facts."""
    render_report(info.report, max_gaps=0, title=info.key.label())
    facts = Table(show_header=False)
    facts.add_column(style="bold")
    facts.add_column()
    for name, fact in info.extremes.items():
        value = fact["value"]
        when = f" at {_when(fact['timestamp_ms'])}" if "timestamp_ms" in fact else ""
        facts.add_row(name.replace("_", " "), f"{value:,.10g}{when}")
    facts.add_row("source", info.source or "—")
    facts.add_row("file", f"{info.path} ({info.bytes:,} bytes)")
    console.print(facts)
    if info.report.gaps and max_gaps > 0:
        _gaps_only(info.report, max_gaps)


def _gaps_only(report: DataQualityReport, max_gaps: int) -> None:
    gaps_table = Table(title=f"gaps (largest {min(max_gaps, report.n_gaps)} of {report.n_gaps})")
    for name in ("after bar", "first missing", "resumes at"):
        gaps_table.add_column(name)
    gaps_table.add_column("missing", justify="right")
    for gap in sorted(report.gaps, key=lambda g: (-g.missing, g.start_ms))[:max_gaps]:
        gaps_table.add_row(
            _when(gap.after_ms), _when(gap.start_ms), _when(gap.end_ms), f"{gap.missing:,}"
        )
    console.print(gaps_table)


def quality_table(rows: list[dict[str, Any]], title: str) -> Table:
    """Return a one-line-per-series summary table (the main job's data-quality report)."""
    table = Table(title=title, title_justify="left")
    table.add_column("series")
    table.add_column("source", overflow="fold")
    table.add_column("bars", justify="right")
    table.add_column("span (UTC)")
    table.add_column("gaps", justify="right")
    table.add_column("missing", justify="right")
    table.add_column("largest gap")
    table.add_column("rules")
    for row in rows:
        report: DataQualityReport = row["report"]
        largest = report.largest_gap
        table.add_row(
            row["series"],
            row["source"],
            f"{report.rows:,}",
            f"{_when(report.start_ms)} →\n{_when(report.end_ms)}",
            f"{report.n_gaps:,}",
            f"{report.missing_bars:,}",
            f"{largest.missing:,} bars from\n{_when(largest.start_ms)}" if largest else "—",
            "[green]ok[/green]" if report.ok else "[red]violations[/red]",
        )
    return table
