"""The quality table for people: rich tables on a console, a plotly HTML page, a CSV."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from live.quality._table import COLUMNS, SUMMARY_COLUMNS, summarize

__all__ = ["ORDER_VIEW", "print_quality", "write_csv", "write_html"]

ORDER_VIEW = (
    "symbol", "side", "order_type", "kind", "state", "filled_qty", "fill_ratio", "arrival_price",
    "fill_price", "model_price", "slip_arrival_bps", "slip_model_bps", "fee_bps",
    "submit_to_ack_ms", "decision_to_fill_ms",
)  # fmt: skip
"""The per-order columns the console shows (the CSV has them all)."""


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e12:
            return f"{value:,.0f}"
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.2f}"
    return str(value)


def _table(frame: pd.DataFrame, columns: Sequence[str], title: str) -> Table:
    t = Table(title=title, title_justify="left", header_style="bold")
    for c in columns:
        t.add_column(c, justify="left" if frame[c].dtype == object else "right", no_wrap=True)
    for row in frame[list(columns)].itertuples(index=False):
        t.add_row(*(_cell(v) for v in row))
    return t


def print_quality(
    console: Console,
    table: pd.DataFrame,
    *,
    by: Sequence[str] = ("venue", "symbol", "side", "size_bucket", "hour"),
    orders: int = 20,
) -> None:
    """Print the aggregates by each of ``by`` and the last ``orders`` orders."""
    if table.empty:
        console.print("no orders in this run's log: nothing to measure")
        return
    for key in by:
        frame = summarize(table, key)
        console.print(_table(frame, [key, *SUMMARY_COLUMNS], f"by {key}"))
    if orders:
        tail = table.tail(orders)
        title = f"last {len(tail)} of {len(table)} orders (every column: --csv)"
        console.print(_table(tail, ORDER_VIEW, title))


def write_csv(table: pd.DataFrame, path: Path) -> Path:
    """Write every column of the table, one row per order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)
    return path


def write_html(table: pd.DataFrame, path: Path, *, title: str) -> Path:
    """A self-contained page (plotly.js inline): slippage and latency distributions, slippage
    against size and hour, the aggregates and every order."""
    import plotly.express as px
    import plotly.io as pio

    figures = []
    filled = table[table["filled_qty"] > 0]
    if not filled.empty:
        long = filled.melt(
            id_vars=["symbol", "venue"],
            value_vars=["slip_arrival_bps", "slip_model_bps", "fee_bps"],
            var_name="measure",
            value_name="bps",
        ).dropna()
        figures.append(
            px.histogram(long, x="bps", color="measure", barmode="overlay", facet_row="symbol",
                         title="Cost per order (bps; positive: paid)", template="plotly_white")
        )  # fmt: skip
        lat = filled.melt(
            id_vars=["symbol"],
            value_vars=["decision_to_submit_ms", "submit_to_ack_ms", "submit_to_first_fill_ms"],
            var_name="step",
            value_name="ms",
        ).dropna()
        figures.append(
            px.box(lat, x="step", y="ms", color="symbol", points="all",
                   title="Latency per step (ms, run clock)", template="plotly_white")
        )  # fmt: skip
        figures.append(
            px.scatter(filled, x="notional", y="slip_arrival_bps", color="side",
                       symbol="symbol", log_x=True, hover_data=["client_id", "kind"],
                       title="Cost vs arrival against size", template="plotly_white")
        )  # fmt: skip
        by_hour = summarize(table, "hour")
        figures.append(
            px.bar(by_hour, x="hour", y="slip_arrival_bps", hover_data=["orders", "notional"],
                   title="Cost vs arrival by UTC hour (notional-weighted)",
                   template="plotly_white")
        )  # fmt: skip
    parts = [
        pio.to_html(f, full_html=False, include_plotlyjs=i == 0) for i, f in enumerate(figures)
    ]
    sums = "".join(
        f"<h2>By {k}</h2>"
        + summarize(table, k).to_html(index=False, na_rep="–", float_format="{:.4g}".format)
        for k in ("venue", "symbol", "side", "size_bucket", "hour", "kind")
        if not table.empty
    )
    legend = "".join(
        f"<tr><td><code>{html.escape(k)}</code></td><td>{html.escape(v)}</td></tr>"
        for k, v in COLUMNS.items()
    )
    body = (
        f"<h1>{html.escape(title)}</h1><p>{len(table)} orders.</p>"
        + "".join(parts)
        + sums
        + "<h2>Orders</h2>"
        + table.to_html(index=False, na_rep="–", float_format="{:.6g}".format)
        + f"<h2>Columns</h2><table>{legend}</table>"
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "font-size:12px}td,th{border:1px solid #ddd;padding:2px 6px}</style></head>"
        f"<body>{body}</body></html>"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    from grekko_research._atomic import atomic_write_text

    atomic_write_text(path, page)
    return path
