"""One plotly figure of a backtest for a notebook: the tearsheet's main panels stacked.

``result.plot()`` returns :func:`overview_figure`: equity against buy-and-hold, the
underwater curve, and (for a run on one symbol) the closes with the trades, on one shared
time axis. The traces are the tearsheet's own (:mod:`grekko_research.reports.figures`), so
the figure and the HTML tearsheet never disagree.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from grekko_research.reports import figures as F
from grekko_research.reports.data import TearsheetData
from grekko_research.reports.series import DEFAULT_MAX_POINTS

__all__ = ["overview_figure"]


def overview_figure(
    data: TearsheetData,
    *,
    title: str | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    max_trades: int = F.DEFAULT_MAX_TRADES,
) -> go.Figure:
    """Return equity vs buy-and-hold, drawdown and (one symbol) price with trades, stacked.

    Parameters
    ----------
    data
        :func:`~grekko_research.reports.tearsheet_data` of the result.
    title
        Figure title; default names the symbols, timeframe and final equity.
    max_points, max_trades
        Downsampling limits, as the tearsheet's.
    """
    panels = [
        (F.PANEL_TITLES["equity"], F.equity_figure(data, max_points), 0.45),
        (F.PANEL_TITLES["drawdown"], F.drawdown_figure(data, max_points), 0.2),
    ]
    if len(data.symbols) == 1:  # several symbols: the tearsheet's price panel has one each
        panels.append((F.PANEL_TITLES["price"], F.price_figure(data, max_points, max_trades), 0.35))
    heights = [h for _, _, h in panels]
    fig = make_subplots(
        rows=len(panels),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.05,
        row_heights=[h / sum(heights) for h in heights],
        subplot_titles=[name for name, _, _ in panels],
    )
    for row, (_, panel, _) in enumerate(panels, 1):
        for trace in panel.data:
            fig.add_trace(trace, row=row, col=1)
    fig.update_yaxes(title_text="equity" + (f" ({data.currency})" if data.currency else ""))
    fig.update_yaxes(ticksuffix="%", title_text="below peak", row=2, col=1)
    if len(panels) == 3:
        fig.update_yaxes(title_text=data.symbols[0], row=3, col=1)
    final = float(data.equity[-1])
    total = final / data.init_cash - 1.0
    default = (
        f"{', '.join(data.symbols)} {data.timeframe}: final equity {final:,.2f}"
        f"{' ' + data.currency if data.currency else ''} ({total:+.2%})"
    )
    fig.update_layout(
        title={"text": title or default, "x": 0.01, "xanchor": "left"},
        template="plotly_white",
        height=300 + 220 * len(panels),
        margin={"l": 70, "r": 20, "t": 80, "b": 40},
        hovermode="x unified",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1.0},
    )
    fig.update_xaxes(type="date")
    return fig
