"""The tearsheet of a backtest: one HTML file (plotly) and an optional PNG.

The page never reaches for a CDN: it opens offline. By default it embeds plotly.js
inline (4.8 MB, self-contained); given a shared copy (``plotly_js=``, see
:mod:`grekko_research.reports.plotlyjs`) it loads ``plotly.min.js`` from its own folder,
a hard link to one copy per runs folder, and weighs a few hundred kB. It holds, in order: a summary and the metrics table; equity against buy-and-hold; drawdown;
the monthly-returns heatmap; prices with trade markers; the distribution of trade returns;
the rolling Sharpe ratio; the configuration. Curves are downsampled to at most
``max_points`` points per trace and trade markers to ``max_trades`` (see
:mod:`grekko_research.reports.figures`), so the page stays under a MB (plus plotly.js when
embedded) whatever the length of the run.

The same input always gives the same bytes: plot ``div`` ids are fixed, the plotly theme
is explicit, and nothing depends on the clock.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from grekko_research._atomic import atomic_write_text
from grekko_research.engine import BacktestResult
from grekko_research.reports import figures as F
from grekko_research.reports.data import TearsheetData, default_config, tearsheet_data
from grekko_research.reports.formatting import config_rows, metric_rows
from grekko_research.reports.plotlyjs import link_plotly_js, plotly_script
from grekko_research.reports.series import DEFAULT_MAX_POINTS

__all__ = [
    "SECTION_TITLES",
    "TearsheetPaths",
    "render_html",
    "tearsheet_figures",
    "write_tearsheet",
]

SECTION_TITLES: dict[str, str] = {
    "metrics": "Metrics",
    **F.PANEL_TITLES,
    "config": "Configuration",
}
"""Heading of every section of the HTML tearsheet, by key, in page order (metrics first)."""

_FIGURE_ORDER = ("equity", "drawdown", "monthly", "price", "trade_returns", "rolling_sharpe")
_PLOTLY_CONFIG = {"displaylogo": False, "responsive": True}

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0;
       color: #222; background: #fafafa; }
main { max-width: 1200px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 1.5em; margin: 12px 0 4px; }
h2 { font-size: 1.15em; margin: 28px 0 6px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
p.sub { color: #555; margin: 0 0 12px; }
p.note { color: #a33; }
section.panel { background: #fff; border: 1px solid #e4e4e4; border-radius: 6px; padding: 4px 8px; }
.tables { display: flex; flex-wrap: wrap; gap: 24px; }
table { border-collapse: collapse; font-size: 0.92em; }
th, td { padding: 3px 12px 3px 4px; border-bottom: 1px solid #eee; text-align: left; }
td { font-variant-numeric: tabular-nums; text-align: right; }
table.config td { text-align: left; font-family: ui-monospace, Menlo, Consolas, monospace; }
"""


@dataclass(frozen=True)
class TearsheetPaths:
    """Files written by :func:`write_tearsheet`.

    Attributes
    ----------
    html
        The self-contained HTML tearsheet.
    png
        The static PNG of the main panels, or ``None`` when none was asked for.
    """

    html: Path
    png: Path | None = None


def tearsheet_figures(
    data: TearsheetData,
    *,
    max_points: int = DEFAULT_MAX_POINTS,
    max_trades: int = F.DEFAULT_MAX_TRADES,
) -> dict[str, go.Figure]:
    """Return the plotly figure of every panel, keyed as :data:`PANEL_TITLES`, in page order."""
    return {
        "equity": F.equity_figure(data, max_points),
        "drawdown": F.drawdown_figure(data, max_points),
        "monthly": F.monthly_figure(data),
        "price": F.price_figure(data, max_points, max_trades),
        "trade_returns": F.trade_returns_figure(data),
        "rolling_sharpe": F.rolling_sharpe_figure(data, max_points),
    }


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _iso(ms: int) -> str:
    return str(np.datetime64(int(ms), "ms").astype("datetime64[m]")).replace("T", " ") + " UTC"


def _money(value: float, currency: str) -> str:
    return f"{value:,.2f}" + (f" {currency}" if currency else "")


def _summary_rows(data: TearsheetData) -> list[tuple[str, str]]:
    trades = data.trades
    n_open = int(trades["is_open"].to_numpy(dtype=bool).sum())
    start = _iso(int(data.index[0]))
    end = _iso(int(data.index[-1]))
    bh_return = data.buy_and_hold[-1] / data.init_cash - 1.0
    rows = [
        ("Period (bar opens)", f"{start} → {end}"),
        ("Bars", f"{data.n_bars:,} × {data.timeframe}"),
        ("Symbols", ", ".join(data.symbols)),
        ("Initial equity", _money(data.init_cash, data.currency)),
        ("Final equity", _money(float(data.equity[-1]), data.currency)),
        ("Buy & hold, final", f"{_money(float(data.buy_and_hold[-1]), data.currency)}"
         f" ({bh_return * 100:+.2f}%)"),
        ("Trades", f"{len(trades) - n_open:,} closed, {n_open:,} open at the end"),
    ]  # fmt: skip
    if data.benchmark is not None:
        rows.append((f"{data.benchmark_name}, final", _money(float(data.benchmark[-1]), "")))
    return rows


def _table(rows: Sequence[tuple[str, ...]], css: str, attr: str | None = None) -> str:
    """Return rows ``(key, value)``, or ``(id, key, value)`` with ``data-<attr>="id"``, as a table."""
    body = []
    for row in rows:
        key, value = row[-2], row[-1]
        data_attr = f' data-{attr}="{_e(row[0])}"' if attr else ""
        body.append(f"<tr{data_attr}><th>{_e(key)}</th><td>{_e(value)}</td></tr>")
    return f'<table class="{css}"><tbody>\n' + "\n".join(body) + "\n</tbody></table>"


def _section(key: str, body: str) -> str:
    title = SECTION_TITLES[key]
    return (
        f'<section id="{key}">\n<h2>{_e(title)}</h2>\n'
        f'<div class="panel-body">{body}</div>\n</section>'
    )


def render_html(
    data: TearsheetData,
    *,
    title: str,
    config: Mapping[str, Any] | Any,
    max_points: int = DEFAULT_MAX_POINTS,
    max_trades: int = F.DEFAULT_MAX_TRADES,
    shared_plotly: bool = False,
    extra_sections: Sequence[tuple[str, str, str]] = (),
) -> str:
    """Return the tearsheet page as text (what :func:`write_tearsheet` writes).

    ``shared_plotly``: load ``plotly.min.js`` from the page's folder instead of
    embedding plotly.js. ``extra_sections``: ``(id, title, html)`` sections shown
    after the metrics (a sweep's promotion gates and robustness, see
    :mod:`grekko_research.reports.gates`); their HTML is trusted as given.
    """
    metrics = metric_rows(data.metrics, timeframe=data.timeframe, currency=data.currency)
    parts = [
        _section(
            "metrics",
            '<div class="tables">'
            + _table(_summary_rows(data), "summary")
            + _table(metrics, "metrics", "metric")
            + "</div>",
        )
    ]
    for key, heading, body in extra_sections:
        parts.append(
            f'<section id="{_e(key)}">\n<h2>{_e(heading)}</h2>\n'
            f'<div class="panel-body">{body}</div>\n</section>'
        )
    figures = tearsheet_figures(data, max_points=max_points, max_trades=max_trades)
    for i, key in enumerate(_FIGURE_ORDER):
        fig = figures[key]
        div = pio.to_html(
            fig,
            config=_PLOTLY_CONFIG,
            include_plotlyjs=i == 0 and not shared_plotly,  # inline once, before the first plot
            include_mathjax=False,
            full_html=False,
            div_id=f"grekko-{key}",
            default_width="100%",
            default_height=f"{fig.layout.height}px",
        )
        note = ""
        if key == "rolling_sharpe" and not data.enough_bars:
            note = (
                f'<p class="note">Not enough bars for the rolling Sharpe ratio: {data.n_bars:,} '
                f"bars, the window needs {data.window + 1:,}.</p>"
            )
        parts.append(_section(key, f'{note}<section class="panel">{div}</section>'))
    parts.append(_section("config", _table(config_rows(config), "config")))
    sub = (
        f"{', '.join(data.symbols)} · {data.timeframe} · {data.n_bars:,} bars · "
        f"{_iso(int(data.index[0]))} → {_iso(int(data.index[-1]))}"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        f'<h1>{_e(title)}</h1>\n<p class="sub">{_e(sub)}</p>\n'
        + (plotly_script() if shared_plotly else "")
        + "\n".join(parts)
        + "\n</main>\n</body>\n</html>\n"
    )


def write_tearsheet(
    result: BacktestResult,
    path_html: str | os.PathLike[str],
    *,
    png_path: str | os.PathLike[str] | None = None,
    title: str | None = None,
    config: Mapping[str, Any] | Any | None = None,
    benchmark: pd.Series | npt.ArrayLike | None = None,
    rolling_window: int | None = None,
    max_points: int = DEFAULT_MAX_POINTS,
    max_trades: int = F.DEFAULT_MAX_TRADES,
    plotly_js: str | os.PathLike[str] | None = None,
    extra_sections: Sequence[tuple[str, str, str]] = (),
) -> TearsheetPaths:
    """Write the HTML tearsheet of ``result`` (and, optionally, a PNG of its main panels).

    Parameters
    ----------
    result
        A backtest result (:func:`grekko_research.engine.backtest`).
    path_html
        Where to write the HTML page; folders are created. The write is atomic: a
        temporary file beside it is renamed over it, so a reader never sees half a page.
    png_path
        Where to write a PNG of equity vs buy-and-hold, drawdown, monthly returns and the
        trade-return histogram (matplotlib, no browser needed); also atomic.
    title
        Page title; default ``"Backtest tearsheet: <symbols> <timeframe>"``.
    config
        Configuration to show: a mapping or a dataclass instance, nested ones flattened
        to dotted keys; default ``dataclasses.asdict(result.config)``. Pass the strategy's
        parameters and the engine settings together to record both.
    benchmark : array-like or pandas.Series, shape (n,), optional
        Another curve (prices or values, one per bar), drawn rescaled to the initial
        equity beside the strategy and buy-and-hold.
    rolling_window
        Rolling Sharpe window in bars; default 90 days of the bars' timeframe.
    max_points
        Most points per plotted curve (extremes kept; see
        :func:`~grekko_research.reports.series.downsample_indices`).
    max_trades
        Most trades drawn as entry/exit markers (evenly spread over the run).
    plotly_js
        A shared plotly.js (:func:`~grekko_research.reports.plotlyjs.shared_plotly_js`):
        the page's folder gets ``plotly.min.js`` as a hard link to it and the page loads
        that. Default: plotly.js embedded in the page.
    extra_sections
        ``(id, title, html)`` sections shown after the metrics (see :func:`render_html`).

    Returns
    -------
    TearsheetPaths
        The paths written.

    Raises
    ------
    ConfigError
        When the result has no bars or inconsistent series, or an argument is malformed.
    """
    data = tearsheet_data(result, benchmark=benchmark, rolling_window=rolling_window)
    if title is None:
        title = f"Backtest tearsheet: {', '.join(data.symbols)} {data.timeframe}"
    shown = default_config(result) if config is None else config
    page = render_html(
        data,
        title=title,
        config=shown,
        max_points=max_points,
        max_trades=max_trades,
        shared_plotly=plotly_js is not None,
        extra_sections=extra_sections,
    )
    if plotly_js is not None:
        Path(path_html).parent.mkdir(parents=True, exist_ok=True)
        link_plotly_js(plotly_js, Path(path_html).parent)
    html_path = atomic_write_text(path_html, page)
    png = None
    if png_path is not None:
        from grekko_research.reports.png import write_png  # matplotlib only when asked

        png = write_png(data, png_path, title=title)
    return TearsheetPaths(html=html_path, png=png)
