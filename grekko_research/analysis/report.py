"""Plotly HTML reports of the market analysis: the rebuilt book and the regimes of a price series.

Each page is self-contained HTML beside a shared ``plotly.min.js`` (see
:mod:`grekko_research.reports.plotlyjs`), written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from grekko_research._atomic import atomic_write_text
from grekko_research.analysis.book import BookReplay, TopOfBookCheck
from grekko_research.analysis.detectors import PHASE_NAMES

__all__ = ["activity_report", "book_report", "regimes_report"]

_PHASE_COLOURS = {
    "range": "rgba(150,150,150,0.12)",
    "accumulation": "rgba(0,150,0,0.12)",
    "markup": "rgba(0,90,255,0.12)",
    "distribution": "rgba(255,140,0,0.14)",
    "markdown": "rgba(220,0,0,0.12)",
}


def _write(path: Path, figures: list[object], title: str, summary: str) -> Path:
    from grekko_research.reports.plotlyjs import link_plotly_js, shared_plotly_js

    path.parent.mkdir(parents=True, exist_ok=True)
    link_plotly_js(shared_plotly_js(path.parent), path.parent)
    parts = [f.to_html(full_html=False, include_plotlyjs=False) for f in figures]  # type: ignore[attr-defined]
    html = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        "<script src='plotly.min.js'></script></head><body style='font-family:sans-serif'>"
        f"<h2>{title}</h2><pre>{summary}</pre>{''.join(parts)}</body></html>"
    )
    atomic_write_text(path, html)
    return path


def book_report(
    path: Path, name: str, replay: BookReplay, check: TopOfBookCheck | None, spoofs: pd.DataFrame
) -> Path:
    """Write the book page: mid and microprice with spoofing candidates, depth, imbalance and OFI."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    ev = replay.valid
    t = pd.to_datetime(ev["local_ts"], unit="ns", utc=True)
    fig = make_subplots(
        rows=3, cols=1, shared_xaxes=True, row_heights=[0.5, 0.25, 0.25], vertical_spacing=0.04
    )
    fig.add_trace(go.Scattergl(x=t, y=ev["bid_px"], name="best bid", line={"width": 1}), 1, 1)
    fig.add_trace(go.Scattergl(x=t, y=ev["ask_px"], name="best ask", line={"width": 1}), 1, 1)
    fig.add_trace(
        go.Scattergl(x=t, y=ev["microprice"], name="microprice", line={"width": 1, "dash": "dot"}),
        1,
        1,
    )
    for side, colour in (("bid", "green"), ("ask", "red")):
        s = spoofs[spoofs["side"] == side] if len(spoofs) else spoofs
        if len(s):
            fig.add_trace(
                go.Scattergl(
                    x=pd.to_datetime(s["place_ts"], unit="ns", utc=True),
                    y=s["price"],
                    mode="markers",
                    marker={"color": colour, "size": 5, "symbol": "x"},
                    name=f"spoofing candidate ({side})",
                    text=[
                        f"{q:g} placed, pulled after {life:.2f}s, traded {tr:g}"
                        for q, life, tr in zip(s["qty"], s["life_s"], s["traded_qty"], strict=True)
                    ],
                ),
                1,
                1,
            )
    fig.add_trace(
        go.Scattergl(x=t, y=ev["bid_depth"], name=f"bid depth (top {replay.depth_k})"), 2, 1
    )
    fig.add_trace(
        go.Scattergl(x=t, y=ev["ask_depth"], name=f"ask depth (top {replay.depth_k})"), 2, 1
    )
    fig.add_trace(go.Scattergl(x=t, y=ev["imbalance"], name="depth imbalance"), 3, 1)
    fig.add_trace(go.Scattergl(x=t, y=ev["ofi"].cumsum(), name="cumulative OFI", yaxis="y4"), 3, 1)
    fig.update_layout(height=900, title=name, template="plotly_white")
    lines = [
        f"events {len(replay.events)}, valid {len(ev)}, gaps {len(replay.gaps)}",
        f"spoofing candidates {len(spoofs)} (min size {replay.spoof_min_qty:g})",
    ]
    if check is not None:
        lines.append(
            f"top of book vs bookTicker: {check.price_matches}/{check.compared} prices, "
            f"{check.qty_matches}/{check.compared} prices and sizes equal"
        )
    return _write(path, [fig], f"Order book: {name}", "\n".join(lines))


def regimes_report(
    path: Path,
    name: str,
    frame: pd.DataFrame,
    phase: np.ndarray,
    events: dict[str, pd.DataFrame],
    hmm_label: np.ndarray | None = None,
) -> Path:
    """Write the regimes page: price with Wyckoff phases shaded, the events marked, HMM states."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    x = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
    rows = 2 if hmm_label is not None else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, row_heights=[0.8, 0.2][:rows])
    fig.add_trace(go.Scattergl(x=x, y=frame["close"], name="close", line={"width": 1}), 1, 1)
    codes = np.where(np.isfinite(phase), phase, -1).astype(int)
    shapes = []
    start = 0
    for i in range(1, len(codes) + 1):  # one shaded band per run of one phase
        if i == len(codes) or codes[i] != codes[start]:
            if codes[start] >= 0:
                shapes.append(
                    {
                        "type": "rect",
                        "xref": "x",
                        "yref": "paper",
                        "x0": x.iloc[start],
                        "x1": x.iloc[i - 1],
                        "y0": 0,
                        "y1": 1,
                        "fillcolor": _PHASE_COLOURS[PHASE_NAMES[codes[start]]],
                        "line": {"width": 0},
                        "layer": "below",
                    }
                )
            start = i
    fig.update_layout(shapes=shapes)  # all at once: add_vrect per band is quadratic
    marks = {"capitulation": ("triangle-up", "black"), "bull_trap": ("triangle-down", "purple")}
    for kind, ev in events.items():
        if ev.empty:
            continue
        symbol, colour = marks.get(kind, ("circle", "grey"))
        bar = ev["bar"].to_numpy()
        fig.add_trace(
            go.Scatter(
                x=x.iloc[bar],
                y=frame["close"].to_numpy()[bar],
                mode="markers",
                name=kind,
                marker={"symbol": symbol, "size": 9, "color": colour},
                text=[
                    ", ".join(f"{k}={v}" for k, v in r.items())
                    for r in ev.astype(str).to_dict("records")
                ],
            ),
            1,
            1,
        )
    if hmm_label is not None:
        fig.add_trace(go.Scattergl(x=x, y=hmm_label, name="HMM state", mode="lines"), 2, 1)
    fig.update_layout(height=750, title=name, template="plotly_white")
    counts = pd.Series([PHASE_NAMES[c] for c in codes if c >= 0]).value_counts().to_dict()
    summary = f"bars {len(frame)}; phases {counts}; " + ", ".join(
        f"{k}: {len(v)}" for k, v in events.items()
    )
    return _write(path, [fig], f"Regimes: {name}", summary)


def _table(frame: pd.DataFrame, title: str) -> object:
    import plotly.graph_objects as go

    cells = [
        [f"{v:.6g}" if isinstance(v, float) else str(v) for v in frame[c]] for c in frame.columns
    ]
    fig = go.Figure(go.Table(header={"values": list(frame.columns)}, cells={"values": cells}))
    fig.update_layout(title=title, height=120 + 28 * min(len(frame), 30), template="plotly_white")
    return fig


def activity_report(
    path: Path,
    swaps: pd.DataFrame,
    sandwiches: pd.DataFrame,
    flows: pd.DataFrame,
    footprints: pd.DataFrame,
    clips: pd.DataFrame,
) -> Path:
    """Write the activity page: pool prices with the sandwiches marked, profit by actor, and the
    evidence tables (sandwiches, circular flows, trade footprints, recurring clips)."""
    import plotly.graph_objects as go

    price = go.Figure()
    for pool, g in swaps.groupby("pool"):
        price.add_trace(
            go.Scattergl(x=g["time"], y=g["price"], name=f"{str(pool)[:10]} price", mode="lines")
        )
    if len(sandwiches):
        price.add_trace(
            go.Scatter(
                x=sandwiches["time"],
                y=[swaps.loc[swaps["tx"] == t, "price"].iloc[0] for t in sandwiches["front_tx"]],
                mode="markers",
                marker={"symbol": "x", "size": 10, "color": "red"},
                name="sandwich",
                text=[
                    f"{a[:10]} block {b}: profit {p:,.2f}"
                    for a, b, p in zip(
                        sandwiches["actor"], sandwiches["block"], sandwiches["profit0"], strict=True
                    )
                ],
            )
        )
    price.update_layout(
        title="Pool price (token1 in token0) and sandwiches", height=450, template="plotly_white"
    )
    by_actor = sandwiches.groupby("actor")["profit0"].agg(["size", "sum"]).reset_index()
    profit = go.Figure(
        go.Bar(x=by_actor["actor"].str.slice(0, 12), y=by_actor["sum"], text=by_actor["size"])
    )
    profit.update_layout(
        title="Gross sandwich profit by actor (token0; bar label = count)", height=350
    )
    figures: list[object] = [price, profit]
    for frame, title in (
        (sandwiches.drop(columns=["pool"]), "Sandwiches (gross of gas)"),
        (flows, "Circular flows (same actor, same size back and forth)"),
        (footprints, "Trade footprints"),
        (clips, "Recurring clips (bot candidates)"),
    ):
        if len(frame):
            figures.append(_table(frame, title))
    summary = (
        f"swaps {len(swaps)}; sandwiches {len(sandwiches)} "
        f"(gross profit {sandwiches['profit0'].sum():,.2f} token0); circular flows {len(flows)}; "
        f"bot clip runs {len(clips)}"
    )
    return _write(path, figures, "Algorithmic activity", summary)
