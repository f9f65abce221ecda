"""Text a tearsheet shows: metric values with their units, and a configuration as rows."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from typing import Any

from grekko_research.data.timeframes import parse_timeframe
from grekko_research.errors import ConfigError
from grekko_research.metrics import METRIC_NAMES

__all__ = ["METRIC_LABELS", "config_rows", "format_metric", "metric_rows"]

METRIC_LABELS: dict[str, str] = {
    "total_return": "Total return",
    "annual_return": "Annual return (CAGR)",
    "annual_volatility": "Annual volatility",
    "sharpe_ratio": "Sharpe ratio",
    "sortino_ratio": "Sortino ratio",
    "calmar_ratio": "Calmar ratio",
    "max_drawdown": "Max drawdown",
    "max_drawdown_duration": "Max drawdown duration",
    "value_at_risk": "Value at risk (5 %, per bar)",
    "conditional_value_at_risk": "Conditional VaR (5 %, per bar)",
    "exposure": "Exposure (bars in the market)",
    "turnover": "Turnover",
    "annual_turnover": "Annual turnover",
    "trade_count": "Closed trades",
    "win_rate": "Win rate",
    "profit_factor": "Profit factor",
    "expectancy": "Expectancy (P&L per trade)",
    "average_win": "Average win",
    "average_loss": "Average loss",
    "best_trade": "Best trade",
    "worst_trade": "Worst trade",
    "average_trade_return": "Average trade return",
    "average_trade_duration": "Average trade duration",
}
"""Human label of each metric of :data:`grekko_research.metrics.METRIC_NAMES`."""

_PERCENT = frozenset(
    {
        "total_return",
        "annual_return",
        "annual_volatility",
        "max_drawdown",
        "value_at_risk",
        "conditional_value_at_risk",
        "exposure",
        "win_rate",
        "best_trade",
        "worst_trade",
        "average_trade_return",
    }
)
_RATIO = frozenset({"sharpe_ratio", "sortino_ratio", "calmar_ratio", "profit_factor"})
_TIMES = frozenset({"turnover", "annual_turnover"})
_COUNT = frozenset({"trade_count"})
_MONEY = frozenset({"expectancy", "average_win", "average_loss"})
_BARS = frozenset({"max_drawdown_duration", "average_trade_duration"})


def _duration(bars: float, timeframe: str | None) -> str:
    """Return ``bars`` of ``timeframe`` in days (or hours below two days), "" if unknown."""
    if timeframe is None:
        return ""
    tf = parse_timeframe(timeframe)
    if tf.is_calendar:
        return f" (≈ {bars * tf.count:,.1f} months)"
    hours = bars * tf.ms / 3_600_000
    return f" (≈ {hours:,.1f} hours)" if hours < 48 else f" (≈ {hours / 24:,.1f} days)"


def format_metric(
    name: str, value: float, *, timeframe: str | None = None, currency: str = ""
) -> str:
    """Return ``value`` of metric ``name`` as text, in the metric's unit.

    Returns and fractions as percentages with two decimals (``0.1234`` → ``"12.34%"``),
    ratios with two decimals, turnover as ``"56.96×"``, the trade count as an integer,
    P&L in the quote ``currency`` with two decimals and thousands separators, durations
    in bars (and, given the ``timeframe``, in days or hours). NaN shows as ``"n/a"``,
    infinities as ``"∞"`` / ``"-∞"``; an unknown name as four significant digits.
    """
    v = float(value)
    if math.isnan(v):
        return "n/a"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    if name in _PERCENT:
        return f"{v * 100:.2f}%"
    if name in _RATIO:
        return f"{v:.2f}"
    if name in _TIMES:
        return f"{v:,.2f}×"
    if name in _COUNT:
        return f"{v:,.0f}"
    if name in _MONEY:
        return f"{v:,.2f}" + (f" {currency}" if currency else "")
    if name in _BARS:
        return f"{v:,.1f} bars" + _duration(v, timeframe)
    return f"{v:.4g}"


def metric_rows(
    metrics: Mapping[str, float], *, timeframe: str | None = None, currency: str = ""
) -> list[tuple[str, str, str]]:
    """Return ``(name, label, formatted value)`` for every metric, known names first in order."""
    names = [n for n in METRIC_NAMES if n in metrics]
    names += [n for n in metrics if n not in METRIC_LABELS]
    return [
        (
            name,
            METRIC_LABELS.get(name, name.replace("_", " ").capitalize()),
            format_metric(name, metrics[name], timeframe=timeframe, currency=currency),
        )
        for name in names
    ]


def _plain(value: Any) -> Any:
    """Return ``value`` as a mapping, list or scalar (dataclasses and numpy scalars unwrapped)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if hasattr(value, "tolist") and not isinstance(value, str | bytes):
        return value.tolist()  # numpy scalar or array
    return value


def _text(value: Any) -> str:
    """Return a leaf value as text: strings as they are, the rest as JSON (None is null)."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):  # circular or otherwise not serialisable
        return repr(value)


def config_rows(config: Mapping[str, Any] | Any) -> list[tuple[str, str]]:
    """Flatten a configuration into ``(dotted key, value text)`` rows, in its own order.

    ``config`` is a mapping or a dataclass instance; nested mappings and dataclasses become
    dotted keys (``fees.taker``); lists, tuples and scalars are leaves, shown as JSON
    (strings as they are).
    """
    top = _plain(config)
    if not isinstance(top, Mapping):
        raise ConfigError(
            f"config must be a mapping or a dataclass instance, got {type(config).__name__}"
        )
    rows: list[tuple[str, str]] = []

    def walk(prefix: str, node: Mapping[Any, Any]) -> None:
        if not node and prefix:
            rows.append((prefix, "{}"))
        for key, raw in node.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            value = _plain(raw)
            if isinstance(value, Mapping):
                walk(path, value)
            else:
                rows.append((path, _text(value)))

    walk("", top)
    return rows
