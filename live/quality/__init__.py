"""Execution quality of a run, from its event log (paper, simulator or live alike).

:func:`quality_table` folds a run's events into one row per order: the arrival price (the
price the runner decided on), the fill price (VWAP of the fills), the cost in basis points
against the arrival, against the bar model (the next bar's open: where the backtest fills a
market order) and against the engine's own expected fill, fees, the latency of each step
(decision → submit → ack → first fill → last fill), fill ratio and time to fill, rejects.
:func:`summarize` aggregates it by venue, symbol, side, size bucket, hour of day, order kind.
:class:`QualityFold` is the same fold one event at a time (the API's Prometheus histograms,
:class:`QualityMetrics`, observe each order when it ends). ``grekko-live quality RUN`` prints
it, and writes a plotly page (``--html``) and every column (``--csv``).
:func:`calibration_rows` adds the bar features a cost model is fitted on (``grekko-live
calibrate``, ``grekko_research.costs``).

The columns are documented in :data:`COLUMNS` and ``docs/execution.md``. Pure functions over
events: nothing here reads a clock, a venue or a file.
"""

from __future__ import annotations

from live.quality._calibrate import CALIBRATION_COLUMNS, calibration_rows
from live.quality._fold import ORDER_KINDS, OrderRecord, QualityFold, order_kind
from live.quality._metrics import QUALITY_METRIC_NAMES, QualityMetrics
from live.quality._table import (
    COLUMNS,
    GROUPS,
    SUMMARY_COLUMNS,
    order_row,
    quality_table,
    size_bucket,
    summarize,
)

__all__ = [
    "CALIBRATION_COLUMNS",
    "COLUMNS",
    "GROUPS",
    "ORDER_KINDS",
    "QUALITY_METRIC_NAMES",
    "SUMMARY_COLUMNS",
    "OrderRecord",
    "QualityFold",
    "QualityMetrics",
    "calibration_rows",
    "order_kind",
    "order_row",
    "quality_table",
    "size_bucket",
    "summarize",
]
