"""Tearsheets of backtests: a plotly HTML page and a matplotlib PNG; a sweep's charts.

Pages open offline: plotly.js embedded, or one shared copy per runs folder
(:mod:`grekko_research.reports.plotlyjs`). :mod:`grekko_research.reports.sweep` draws a
sweep's out-of-sample equity chart and terminal sparkline.

>>> from grekko_research.reports import write_tearsheet
>>> paths = write_tearsheet(result, "reports/run.html", png_path="reports/run.png")

:func:`write_tearsheet` is the entry point; :func:`tearsheet_data` and
:func:`tearsheet_figures` give the numbers and the plotly figures it draws, for notebooks;
:mod:`grekko_research.reports.series` holds the pure computations (buy-and-hold, drawdown,
monthly returns, rolling Sharpe, downsampling).
"""

from grekko_research.reports.data import TearsheetData, tearsheet_data
from grekko_research.reports.figures import PANEL_TITLES
from grekko_research.reports.formatting import config_rows, format_metric, metric_rows
from grekko_research.reports.series import (
    buy_and_hold,
    downsample_indices,
    drawdown,
    monthly_return_table,
    monthly_returns,
    rolling_sharpe,
    rolling_window,
)
from grekko_research.reports.tearsheet import (
    SECTION_TITLES,
    TearsheetPaths,
    render_html,
    tearsheet_figures,
    write_tearsheet,
)

__all__ = [
    "PANEL_TITLES",
    "SECTION_TITLES",
    "TearsheetData",
    "TearsheetPaths",
    "buy_and_hold",
    "config_rows",
    "downsample_indices",
    "drawdown",
    "format_metric",
    "metric_rows",
    "monthly_return_table",
    "monthly_returns",
    "render_html",
    "rolling_sharpe",
    "rolling_window",
    "tearsheet_data",
    "tearsheet_figures",
    "write_tearsheet",
]
