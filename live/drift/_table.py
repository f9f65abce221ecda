"""The drift breakdown as rich tables (``grekko-live drift``)."""

from __future__ import annotations

from typing import Any

from live.drift._attribute import TERMS, DriftReport

__all__ = ["print_drift"]

_WHAT = {
    "signal": "decisions and data (missed bars, other bars)",
    "timing": "fills at another bar than the model's",
    "slippage": "fill price vs the model's",
    "fees": "the venue's fees vs the engine's",
    "funding": "funding paid or received",
    "partial": "unfilled parts (partial or missed fills)",
    "refused": "orders refused live",
    "residual": "what the terms leave (orders outside the model)",
}


def print_drift(console: Any, report: DriftReport, *, orders: int = 20) -> None:
    """Print the terms (value and share of the gap), then the ``orders`` decisions that drift
    most (0: none)."""
    from rich.table import Table

    from grekko_research.data.timeframes import iso

    gap = report.gap
    terms = Table(title="drift: live − backtest P&L, by term", title_justify="left")
    for name, justify in (("term", "left"), ("value", "right"), ("of gap", "right"),
                          ("what", "left")):  # fmt: skip
        terms.add_column(name, justify=justify)  # type: ignore[arg-type]
    for term in TERMS:
        value = report.terms[term]
        share = f"{value / gap:.0%}" if abs(gap) > 1e-9 else "–"
        terms.add_row(term, f"{value:+,.4f}", share, _WHAT[term])
    terms.add_section()
    terms.add_row("gap", f"{gap:+,.4f}", "100%" if abs(gap) > 1e-9 else "–", "live − backtest")
    console.print(terms)
    console.print(
        f"live P&L {report.live_pnl:,.4f}, backtest P&L {report.backtest_pnl:,.4f} over "
        f"{iso(report.window[0])} … {iso(report.window[1])}",
        soft_wrap=True,
        highlight=False,
    )
    rows = sorted(report.orders, key=lambda r: -abs(r["total"]))
    rows = [r for r in rows if abs(r["total"]) > 1e-9][:orders]
    if not rows:
        return
    table = Table(title="decisions that drift most", title_justify="left")
    for name in ("decided", "symbol", "side", "cause", "bt qty", "live qty", "filled",
                 "main term", "total"):  # fmt: skip
        table.add_column(name)
    for r in rows:
        main = max(r["terms"], key=lambda t: abs(r["terms"][t]))
        table.add_row(
            iso(r["decision_ts"]), r["symbol"], r["side"], r["cause"], _num(r["backtest_qty"]),
            _num(r["live_qty"]), _num(r["filled_qty"]), f"{main} {r['terms'][main]:+,.4f}",
            f"{r['total']:+,.4f}",
        )  # fmt: skip
    console.print(table)


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:g}"
