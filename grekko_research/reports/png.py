"""A static PNG of a tearsheet's main panels, drawn with matplotlib's Agg canvas.

No display and no browser are needed (plotly's own image export needs Chrome through
kaleido). The figure is built on a ``matplotlib.figure.Figure`` with an explicit Agg canvas
rather than through ``pyplot``, so no global backend or figure registry is touched.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from grekko_research._atomic import atomic_path
from grekko_research.reports.data import TearsheetData
from grekko_research.reports.figures import PANEL_TITLES, buy_and_hold_label
from grekko_research.reports.series import downsample_indices, trade_return_histogram

__all__ = ["PNG_MAX_POINTS", "write_png"]

PNG_MAX_POINTS = 2_000
"""Points per curve in the PNG: more than the pixels across a panel."""

_GREEN, _RED, _BLUE, _GREY = "#1a9850", "#d73027", "#3366cc", "#888888"
_MONTHS = "JFMAMJJASOND"


def _times(data: TearsheetData, idx: np.ndarray) -> np.ndarray:
    return data.index[idx].astype("datetime64[ms]")


def _date_axis(ax: Axes) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _equity(ax: Axes, data: TearsheetData) -> None:
    curves = [
        ("strategy", data.equity, _BLUE),
        (buy_and_hold_label(data), data.buy_and_hold, _GREY),
    ]
    if data.benchmark is not None:
        curves.append((data.benchmark_name, data.benchmark, "#333333"))
    for label, values, color in curves:
        idx = downsample_indices(values, PNG_MAX_POINTS)
        ax.plot(_times(data, idx), values[idx], label=label, color=color, linewidth=1.0)
    ax.set_title(PANEL_TITLES["equity"], loc="left", fontsize=10)
    ax.set_ylabel("equity" + (f" ({data.currency})" if data.currency else ""))
    ax.legend(loc="best", fontsize=8, framealpha=0.8)
    ax.grid(alpha=0.3)
    _date_axis(ax)


def _drawdown(ax: Axes, data: TearsheetData) -> None:
    dd = data.drawdown * 100.0
    idx = downsample_indices(dd, PNG_MAX_POINTS)
    times = _times(data, idx)
    ax.fill_between(times, dd[idx], 0.0, color=_RED, alpha=0.35, linewidth=0)
    ax.plot(times, dd[idx], color=_RED, linewidth=0.8)
    ax.set_title(f"{PANEL_TITLES['drawdown']}: deepest {dd.min():.2f}%", loc="left", fontsize=10)
    ax.set_ylabel("% below peak")
    ax.grid(alpha=0.3)
    _date_axis(ax)


def _monthly(fig: Figure, ax: Axes, data: TearsheetData) -> None:
    table = data.monthly_table() * 100.0
    z = table.to_numpy()
    finite = z[np.isfinite(z)]
    limit = float(np.max(np.abs(finite))) if finite.size else 1.0
    limit = limit if limit > 0 else 1.0
    image = ax.imshow(
        np.ma.masked_invalid(z), cmap="RdYlGn", vmin=-limit, vmax=limit, aspect="auto"
    )
    ax.set_xticks(range(12), list(_MONTHS))
    ax.set_yticks(range(len(table.index)), [str(y) for y in table.index])
    if z.size <= 12 * 12:  # annotate cells while they stay legible
        for (i, j), v in np.ndenumerate(z):
            if np.isfinite(v):
                label = f"{v:.0f}" if abs(v) >= 9.5 else f"{v:.1f}"
                ax.text(j, i, label, ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, format="%.0f%%", fraction=0.05)
    ax.set_title(f"{PANEL_TITLES['monthly']} (%)", loc="left", fontsize=10)


def _trade_returns(ax: Axes, data: TearsheetData) -> None:
    m = int(data.trade_returns.shape[0])
    ax.set_title(f"{PANEL_TITLES['trade_returns']} ({m:,} closed)", loc="left", fontsize=10)
    if m == 0:
        ax.text(0.5, 0.5, "no closed trades", ha="center", va="center", transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    counts, edges = trade_return_histogram(data.trade_returns)
    left = edges[:-1] * 100.0
    width = np.diff(edges) * 100.0
    colors = np.where(left + width / 2 >= 0.0, _GREEN, _RED).tolist()
    ax.bar(left, counts, width=width, align="edge", color=colors, edgecolor="white", linewidth=0.5)
    ax.axvline(0.0, color="#333333", linewidth=0.8)
    ax.set_xlabel("trade return (%)")
    ax.set_ylabel("trades")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3, axis="y")


def write_png(data: TearsheetData, path: str | os.PathLike[str], *, title: str) -> Path:
    """Draw equity vs buy-and-hold, drawdown, monthly returns and trade returns to ``path``.

    The file is written atomically (a temporary file beside it, then renamed over it).
    """
    fig = Figure(figsize=(13, 8.5), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(title, fontsize=12, x=0.01, ha="left")
    axes = fig.subplots(2, 2)
    _equity(axes[0, 0], data)
    _drawdown(axes[1, 0], data)
    _monthly(fig, axes[0, 1], data)
    _trade_returns(axes[1, 1], data)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", metadata={"Software": None})
    return Path(path)
