"""Terminal output: tables that fit 80 columns and pipes, numbers a person reads.

Tables are boxed on a terminal and plain aligned columns when piped (``| grep`` and
``| less`` see text, not box drawing). Numbers go through :func:`fmt_number` (plain
Python numbers at sensible precision, never ``np.float64(...)``); durations in bars get
their time unit from the timeframe (:func:`fmt_bars`).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # pandas-heavy modules: not imported for `grekko --help`
    from grekko_research.data.load import SeriesInfo
    from grekko_research.data.validate import DataQualityReport

__all__ = [
    "console",
    "err_console",
    "fmt_bars",
    "fmt_duration",
    "fmt_number",
    "fmt_params",
    "new_table",
    "print_json",
    "quality_table",
    "render_info",
    "render_report",
]

console = Console()
err_console = Console(stderr=True)


def print_json(payload: Any) -> None:
    """Write ``payload`` as indented JSON to standard output (no colour, no wrapping)."""
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def new_table(*, title: str | None = None, out: Console | None = None, **kw: Any) -> Table:
    """Return a table boxed on a terminal, plain aligned columns when ``out`` is piped."""
    tty = (out or console).is_terminal
    kw.setdefault("title_justify", "left")
    return Table(
        title=title,
        box=box.ROUNDED if tty else None,
        show_edge=tty,
        pad_edge=tty,
        **kw,
    )


def fmt_number(value: Any, *, digits: int = 4) -> str:
    """Return ``value`` at ``digits`` significant digits, thousands grouped; ints stay whole."""
    if value is None:
        return "—"
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return str(bool(value)).lower()
    if isinstance(value, str):
        return value
    if hasattr(value, "item"):  # numpy scalars print as plain Python numbers
        value = value.item()
    if isinstance(value, int):
        return f"{value:,}"
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if size == 0:
        return "0"
    if size < 1e-4 or size >= 1e15:
        return f"{value:.{digits - 1}e}"
    if size >= 10**digits:
        return f"{value:,.0f}"
    return f"{value:,.{digits}g}"


def fmt_params(params: Mapping[str, Any]) -> str:
    """Return ``fast=10, slow=50, atr_stop=2.357`` (no 16-digit floats, no numpy reprs)."""
    return ", ".join(f"{k}={fmt_number(v)}" for k, v in params.items())


def fmt_duration(seconds: float) -> str:
    """Return a duration with its unit: ``45 s``, ``12 min``, ``5.5 h``, ``3.2 d``."""
    if not math.isfinite(seconds):
        return "—"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:,.1f} {unit}".replace(".0 ", " ")
    return f"{seconds:.0f} s" if seconds >= 1 else f"{seconds * 1000:.0f} ms"


def fmt_bars(bars: float | None, timeframe: str | None) -> str:
    """Return a duration counted in bars with its time: ``3,019 bars (125.8 d)``."""
    if bars is None or not math.isfinite(float(bars)):
        return "—"
    count = f"{bars:,.0f}" if float(bars).is_integer() else f"{bars:,.1f}"
    if not timeframe:
        return f"{count} bars"
    from grekko_research.data.timeframes import parse_timeframe

    return f"{count} bars ({fmt_duration(float(bars) * parse_timeframe(timeframe).ms / 1000)})"


def _when(ts_ms: int | None) -> str:
    from grekko_research.data.timeframes import iso

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
    table = new_table(title=title)
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
