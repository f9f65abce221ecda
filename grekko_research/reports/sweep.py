"""A sweep's pictures: the out-of-sample equity chart (HTML and PNG), a page of figures, a sparkline.

The stitched out-of-sample equity is the sweep's headline (no parameter saw those
bars), so it gets its own chart: equity with each test window shaded, and the
drawdown below. Pages load plotly.js like tearsheets do (embedded, or a shared copy:
:mod:`grekko_research.reports.plotlyjs`).
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from grekko_research._atomic import atomic_path, atomic_write_text
from grekko_research.errors import ConfigError
from grekko_research.reports.plotlyjs import link_plotly_js, plotly_script
from grekko_research.reports.series import DEFAULT_MAX_POINTS, downsample_indices

__all__ = ["oos_figure", "sparkline", "write_figures_page", "write_oos_chart"]

_BLOCKS = "▁▂▃▄▅▆▇█"
_SHADE = "rgba(51, 102, 204, 0.07)"


def sparkline(values: Sequence[float] | np.ndarray, width: int = 60) -> str:
    """Return ``values`` as a line of ``width`` block characters (each the mean of its bucket)."""
    arr = np.asarray(values, dtype=float)
    arr = arr[np.isfinite(arr)]
    if arr.size == 0 or width < 1:
        return ""
    buckets = np.array_split(arr, min(width, arr.size))
    means = np.array([b.mean() for b in buckets])
    low, high = float(means.min()), float(means.max())
    if high <= low:
        return _BLOCKS[len(_BLOCKS) // 2] * len(means)
    levels = np.round((means - low) / (high - low) * (len(_BLOCKS) - 1)).astype(int)
    return "".join(_BLOCKS[i] for i in levels)


def _windows(folds: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The (start, end) of each walk-forward test window, as the summary writes them."""
    return [
        (str(f["out_of_sample"][0]), str(f["out_of_sample"][1]))
        for f in folds
        if isinstance(f.get("out_of_sample"), list | tuple) and len(f["out_of_sample"]) == 2
    ]


def oos_figure(
    equity: pd.Series,
    *,
    title: str,
    folds: Sequence[Mapping[str, Any]] = (),
    max_points: int = DEFAULT_MAX_POINTS,
) -> go.Figure:
    """Equity (top) and drawdown (bottom) of the stitched out-of-sample curve.

    ``equity`` is indexed by time; walk-forward ``folds`` (the summary's records)
    shade their test windows.
    """
    values = equity.to_numpy(dtype=float)
    if values.size == 0:
        raise ConfigError("the out-of-sample equity is empty: nothing to draw")
    peak = np.maximum.accumulate(values)
    dd = (values / peak - 1.0) * 100.0
    idx = downsample_indices(values, max_points)
    times = equity.index[idx]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3],
                        vertical_spacing=0.04)  # fmt: skip
    fig.add_trace(go.Scatter(x=times, y=values[idx], name="out-of-sample equity",
                             line={"color": "#3366cc", "width": 1.4}), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=times, y=dd[idx], name="drawdown %", fill="tozeroy",
                             line={"color": "#d73027", "width": 0.8}), row=2, col=1)  # fmt: skip
    for k, (start, end) in enumerate(_windows(folds)):
        fig.add_vrect(x0=start, x1=end, fillcolor=_SHADE if k % 2 == 0 else "rgba(0,0,0,0)",
                      line_width=0, annotation_text=f"fold {k + 1}",
                      annotation_position="top left", row=1, col=1)  # fmt: skip
    fig.update_layout(title=title, template="plotly_white", height=560, hovermode="x unified",
                      margin={"l": 60, "r": 20, "t": 60, "b": 40}, showlegend=False)  # fmt: skip
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="% below peak", row=2, col=1)
    return fig


def _page(title: str, body: str, shared_plotly: bool) -> str:
    t = html.escape(title)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{t}</title>\n<style>body {{ font-family: sans-serif; margin: 16px 24px; }}"
        " p.note { color: #a33; }</style>\n</head>\n<body>\n"
        + (plotly_script() if shared_plotly else "")
        + body
        + "\n</body>\n</html>\n"
    )


def write_figures_page(
    figures: Mapping[str, go.Figure],
    path: str | os.PathLike[str],
    *,
    title: str,
    plotly_js: str | os.PathLike[str] | None = None,
) -> Path:
    """Write several plotly figures into one HTML page (plotly.js once); return its path.

    ``plotly_js``: a shared copy to link beside the page (see
    :func:`~grekko_research.reports.plotlyjs.shared_plotly_js`); default: embedded.
    """
    target = Path(path)
    shared = plotly_js is not None
    divs = []
    for i, (name, fig) in enumerate(figures.items()):
        div = pio.to_html(fig, include_plotlyjs=(i == 0 and not shared), full_html=False,
                          include_mathjax=False, div_id=f"grekko-{name}",
                          config={"displaylogo": False, "responsive": True})  # fmt: skip
        divs.append(f'<section id="{html.escape(name)}">{div}</section>')
    if plotly_js is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        link_plotly_js(plotly_js, target.parent)
    return atomic_write_text(target, _page(title, "\n".join(divs), shared))


def write_oos_chart(
    equity: pd.Series,
    folder: str | os.PathLike[str],
    *,
    title: str,
    folds: Sequence[Mapping[str, Any]] = (),
    plotly_js: str | os.PathLike[str] | None = None,
) -> tuple[Path, Path]:
    """Write ``oos_equity.html`` (interactive) and ``oos_equity.png`` into ``folder``.

    Returns both paths.
    """
    out = Path(folder)
    page = write_figures_page({"oos_equity": oos_figure(equity, title=title, folds=folds)},
                              out / "oos_equity.html", title=title, plotly_js=plotly_js)  # fmt: skip
    return page, _write_png(equity, out / "oos_equity.png", title=title, folds=folds)


def _write_png(
    equity: pd.Series, path: Path, *, title: str, folds: Sequence[Mapping[str, Any]]
) -> Path:
    import matplotlib.dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = equity.to_numpy(dtype=float)
    idx = downsample_indices(values, 2_000)
    times = pd.DatetimeIndex(equity.index[idx]).tz_localize(None).to_numpy()
    dd = (values / np.maximum.accumulate(values) - 1.0) * 100.0
    fig = Figure(figsize=(11, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[0.7, 0.3])
    top.plot(times, values[idx], color="#3366cc", linewidth=1.0)
    for k, (start, end) in enumerate(_windows(folds)):
        if k % 2 == 0:
            top.axvspan(pd.Timestamp(start).to_numpy(), pd.Timestamp(end).to_numpy(),
                        color="#3366cc", alpha=0.07, linewidth=0)  # fmt: skip
    top.set_title(title, loc="left", fontsize=10)
    top.set_ylabel("equity")
    top.grid(alpha=0.3)
    bottom.fill_between(times, dd[idx], 0.0, color="#d73027", alpha=0.35, linewidth=0)
    bottom.set_ylabel("% below peak")
    bottom.grid(alpha=0.3)
    locator = mdates.AutoDateLocator()
    bottom.xaxis.set_major_locator(locator)
    bottom.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    return path
