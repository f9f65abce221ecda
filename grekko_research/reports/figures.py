"""Plotly figures of a tearsheet, one per panel, built from :class:`TearsheetData`.

Every curve is downsampled with :func:`~grekko_research.reports.series.downsample_indices`
(at most ``max_points`` points per trace, extremes kept) and trade markers are capped with
:func:`~grekko_research.reports.series.even_subset`, so a million-bar run embeds a few
thousand points per trace. Times go to plotly as float milliseconds on date axes, which
plotly encodes as compact binary arrays.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from grekko_research.errors import ConfigError
from grekko_research.reports.data import TearsheetData, describe_window
from grekko_research.reports.series import (
    DEFAULT_MAX_POINTS,
    downsample_indices,
    even_subset,
    trade_return_histogram,
)

__all__ = [
    "DEFAULT_MAX_TRADES",
    "MAX_PRICE_PANELS",
    "PANEL_TITLES",
    "buy_and_hold_label",
    "drawdown_figure",
    "equity_figure",
    "monthly_figure",
    "price_figure",
    "rolling_sharpe_figure",
    "trade_returns_figure",
]

PANEL_TITLES: dict[str, str] = {
    "equity": "Equity vs buy-and-hold",
    "drawdown": "Drawdown (underwater)",
    "monthly": "Monthly returns",
    "price": "Price and trades",
    "trade_returns": "Distribution of trade returns",
    "rolling_sharpe": "Rolling Sharpe ratio",
}
"""Heading of each plotted panel, by key (figure titles add details such as counts)."""

MAX_PRICE_PANELS = 4
"""Most symbols drawn in the price panel (one subplot each); the rest are left out."""

DEFAULT_MAX_TRADES = 2_000
"""Most trades whose entry and exit markers the price panel draws (shared by its subplots)."""

_TEMPLATE = "plotly_white"  # explicit, so the global plotly default cannot change the output
_GREEN, _RED, _BLUE, _GREY, _DARK = "#1a9850", "#d73027", "#3366cc", "#888888", "#333333"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _x(index: np.ndarray) -> np.ndarray:
    """Return ms timestamps as float64, which a plotly date axis reads as UTC times."""
    return np.asarray(index, dtype=np.float64)


def _layout(fig: go.Figure, title: str, height: int, **kwargs: object) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left"},
        template=_TEMPLATE,
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 40},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
        **kwargs,
    )
    return fig


def _note(fig: go.Figure, text: str) -> None:
    """Write ``text`` in the middle of an otherwise empty figure."""
    fig.add_annotation(
        text=text, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False, font={"size": 16}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)


def _line(
    data: TearsheetData, values: np.ndarray, name: str, max_points: int, **line: object
) -> go.Scatter:
    idx = downsample_indices(values, max_points)
    return go.Scatter(
        x=_x(data.index[idx]), y=values[idx], mode="lines", name=name, line=line or None
    )


def buy_and_hold_label(data: TearsheetData) -> str:
    """Return the legend label of the buy-and-hold curve."""
    if len(data.symbols) == 1:
        return f"buy & hold {data.symbols[0]}"
    return f"buy & hold, equal weight ({len(data.symbols)} symbols)"


def equity_figure(data: TearsheetData, max_points: int = DEFAULT_MAX_POINTS) -> go.Figure:
    """Return the equity curve against buy-and-hold (and the benchmark, if any)."""
    fig = go.Figure()
    fig.add_trace(_line(data, data.equity, "strategy", max_points, color=_BLUE, width=1.6))
    fig.add_trace(
        _line(data, data.buy_and_hold, buy_and_hold_label(data), max_points, color=_GREY, width=1.2)
    )
    if data.benchmark is not None:
        fig.add_trace(
            _line(data, data.benchmark, data.benchmark_name, max_points, color=_DARK, dash="dot")
        )
    unit = f" ({data.currency})" if data.currency else ""
    _layout(fig, PANEL_TITLES["equity"], 420, hovermode="x unified", yaxis_title="equity" + unit)
    fig.update_xaxes(type="date")
    return fig


def drawdown_figure(data: TearsheetData, max_points: int = DEFAULT_MAX_POINTS) -> go.Figure:
    """Return the underwater curve in percent."""
    dd = data.drawdown * 100.0
    idx = downsample_indices(dd, max_points)
    fig = go.Figure(
        go.Scatter(
            x=_x(data.index[idx]),
            y=dd[idx],
            mode="lines",
            name="drawdown",
            fill="tozeroy",
            line={"color": _RED, "width": 1.0},
        )
    )
    title = f"{PANEL_TITLES['drawdown']}: deepest {dd.min():.2f}%"
    _layout(fig, title, 300, hovermode="x unified", showlegend=False)
    fig.update_yaxes(ticksuffix="%", title="below peak")
    fig.update_xaxes(type="date")
    return fig


def monthly_figure(data: TearsheetData) -> go.Figure:
    """Return the year × month heatmap of monthly returns, in percent."""
    table = data.monthly_table() * 100.0
    z = table.to_numpy()
    text = [[f"{v:+.1f}%" if np.isfinite(v) else "" for v in row] for row in z]
    years = [str(y) for y in table.index]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(_MONTHS),
            y=years,
            text=text,
            texttemplate="%{text}",
            hovertemplate="%{y} %{x}: %{text}<extra></extra>",
            colorscale="RdYlGn",
            zmid=0.0,
            colorbar={"ticksuffix": "%"},
            xgap=2,
            ygap=2,
        )
    )
    _layout(fig, f"{PANEL_TITLES['monthly']} (%, from the equity curve)", 140 + 36 * len(years))
    fig.update_yaxes(type="category", autorange="reversed")
    fig.update_xaxes(type="category", side="top")
    return fig


def _markers(data: TearsheetData, j: int, limit: int) -> tuple[list[go.Scatter], int, int]:
    """Return entry/exit marker traces of symbol ``j``, how many trades they show, and of how many."""
    trades = data.trades
    mine = trades[trades["symbol"].to_numpy() == data.symbols[j]]
    total = len(mine)
    mine = mine.iloc[even_subset(total, max(limit, 2))]  # at least the first and last
    traces: list[go.Scatter] = []
    for side, sign, symbol, color in (
        ("long", 1, "triangle-up", _GREEN),
        ("short", -1, "triangle-down", _RED),
    ):
        rows = mine[mine["direction"].to_numpy() == sign]
        if len(rows):
            bars = rows["entry_bar"].to_numpy(np.int64)
            traces.append(
                go.Scatter(
                    x=_x(data.index[bars]),
                    y=rows["entry_price"].to_numpy(np.float64),
                    mode="markers",
                    name=f"{side} entry",
                    legendgroup=f"{side} entry",
                    showlegend=j == 0,
                    marker={"symbol": symbol, "size": 9, "color": color},
                    hovertemplate=f"{side} entry %{{y:,.2f}}<extra></extra>",
                )
            )
    done = mine[~mine["is_open"].to_numpy(dtype=bool)]
    if len(done):
        bars = done["exit_bar"].to_numpy(np.int64)
        traces.append(
            go.Scatter(
                x=_x(data.index[bars]),
                y=done["exit_price"].to_numpy(np.float64),
                customdata=done["return"].to_numpy(np.float64) * 100.0,
                mode="markers",
                name="exit",
                legendgroup="exit",
                showlegend=j == 0,
                marker={"symbol": "x", "size": 8, "color": _DARK},
                hovertemplate="exit %{y:,.2f}, trade %{customdata:+.2f}%<extra></extra>",
            )
        )
    return traces, len(mine), total


def price_figure(
    data: TearsheetData,
    max_points: int = DEFAULT_MAX_POINTS,
    max_trades: int = DEFAULT_MAX_TRADES,
) -> go.Figure:
    """Return the closes with trade entries and exits, one subplot per symbol (up to four)."""
    if not isinstance(max_trades, int | np.integer) or max_trades < 2:
        raise ConfigError(f"max_trades must be an integer >= 2, got {max_trades!r}")
    k = min(len(data.symbols), MAX_PRICE_PANELS)
    fig = make_subplots(
        rows=k, cols=1, shared_xaxes=True, vertical_spacing=0.06, subplot_titles=data.symbols[:k]
    )
    shown = total = 0
    for j in range(k):
        close = data.close[:, j]
        fig.add_trace(
            _line(data, close, data.symbols[j], max_points, color=_GREY, width=1.0),
            row=j + 1,
            col=1,
        )
        traces, n_shown, n_total = _markers(data, j, max_trades // k)
        shown, total = shown + n_shown, total + n_total
        for trace in traces:
            fig.add_trace(trace, row=j + 1, col=1)
    title = PANEL_TITLES["price"]
    if shown < total:
        title += f" (markers of {shown:,} of {total:,} trades, evenly spread)"
    if len(data.symbols) > k:
        title += f" — first {k} of {len(data.symbols)} symbols"
    _layout(fig, title, 160 + 260 * k, hovermode="closest")
    fig.update_xaxes(type="date")
    return fig


def trade_returns_figure(data: TearsheetData) -> go.Figure:
    """Return the histogram of closed trades' returns, in percent."""
    counts, edges = trade_return_histogram(data.trade_returns)
    m = int(data.trade_returns.shape[0])
    title = f"{PANEL_TITLES['trade_returns']} ({m:,} closed trades)"
    fig = go.Figure()
    if m == 0:
        _note(fig, "no closed trades")
        return _layout(fig, title, 320)
    centers = (edges[:-1] + edges[1:]) * 50.0
    widths = np.diff(edges) * 100.0
    fig.add_trace(
        go.Bar(
            x=centers,
            y=counts,
            width=widths,
            marker={"color": np.where(centers >= 0.0, _GREEN, _RED).tolist()},
            hovertemplate="%{x:.2f}%: %{y} trades<extra></extra>",
            name="trades",
        )
    )
    mean = float(np.mean(data.trade_returns)) * 100.0
    fig.add_vline(x=0.0, line={"color": _DARK, "width": 1})
    fig.add_vline(x=mean, line={"color": _BLUE, "dash": "dash", "width": 1})
    fig.add_annotation(x=mean, y=1.0, yref="paper", text=f"mean {mean:+.2f}%", showarrow=False)
    _layout(fig, title, 320, showlegend=False, bargap=0.05)
    fig.update_xaxes(ticksuffix="%", title="trade return")
    fig.update_yaxes(title="trades")
    return fig


def rolling_sharpe_figure(data: TearsheetData, max_points: int = DEFAULT_MAX_POINTS) -> go.Figure:
    """Return the rolling annualised Sharpe ratio; says "not enough bars" on short runs."""
    title = (
        f"{PANEL_TITLES['rolling_sharpe']}, window {describe_window(data)}, "
        f"annualised with √{data.periods_per_year:,.6g} (bars per year)"
    )
    fig = go.Figure()
    if not data.enough_bars:
        _note(fig, f"not enough bars: {data.n_bars:,} bars, the window needs {data.window + 1:,}")
        return _layout(fig, title + " — not enough bars", 300)
    sharpe = data.rolling_sharpe
    if not np.isfinite(sharpe).any():
        _note(fig, "no value: the returns never vary over a whole window (flat equity)")
        return _layout(fig, title, 300)
    idx = downsample_indices(sharpe, max_points)  # keeps a NaN in each gap: the line breaks
    fig.add_trace(
        go.Scatter(
            x=_x(data.index[idx]),
            y=sharpe[idx],
            mode="lines",
            name="rolling Sharpe",
            line={"color": _BLUE, "width": 1.2},
            connectgaps=False,
        )
    )
    fig.add_hline(y=0.0, line={"color": _DARK, "width": 1})
    _layout(fig, title, 300, hovermode="x unified", showlegend=False)
    fig.update_xaxes(type="date")
    return fig
