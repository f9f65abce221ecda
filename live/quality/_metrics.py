"""Prometheus histograms of execution quality, per venue and symbol, fed one ended order at a
time (the API's follower observes each order once, when its log says it ended)."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Histogram

from live.quality._fold import OrderRecord
from live.quality._table import order_row

__all__ = ["QUALITY_METRIC_NAMES", "SLIPPAGE_BUCKETS_BPS", "QualityMetrics"]

SLIPPAGE_BUCKETS_BPS = (-50.0, -20.0, -10.0, -5.0, -2.0, -1.0, 0.0, 1.0, 2.0, 5.0, 10.0, 20.0,
                        50.0, 100.0)  # fmt: skip
_LATENCY_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                      60.0, 300.0)  # fmt: skip

QUALITY_METRIC_NAMES = (
    "grekko_slippage_arrival_bps",
    "grekko_fee_bps",
    "grekko_order_latency_seconds",
)
"""The metric families :class:`QualityMetrics` registers."""


class QualityMetrics:
    """Histograms in ``registry``: cost vs arrival and fees (bps, notional-free: one
    observation per filled order), and each latency step (seconds on the run's clock)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.slippage = Histogram(
            "grekko_slippage_arrival_bps",
            "Cost of a filled order against its arrival price, bps (positive: paid).",
            ["venue", "symbol", "side"],
            buckets=SLIPPAGE_BUCKETS_BPS,
            registry=registry,
        )
        self.fees = Histogram(
            "grekko_fee_bps",
            "Fees of a filled order over its notional, bps.",
            ["venue", "symbol"],
            buckets=(0.0, 1.0, 2.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0, 50.0),
            registry=registry,
        )
        self.latency = Histogram(
            "grekko_order_latency_seconds",
            "An ended order's latency per step: decision_to_submit, submit_to_ack, "
            "submit_to_first_fill, decision_to_fill (run clock).",
            ["venue", "symbol", "step"],
            buckets=_LATENCY_BUCKETS_S,
            registry=registry,
        )

    def observe(self, order: OrderRecord) -> None:
        """Observe one ended order (its arrival, fills and times)."""
        row = order_row(order)
        venue, symbol = row["venue"] or "?", row["symbol"]
        if row["filled_qty"] > 0:
            if math.isfinite(row["slip_arrival_bps"]):
                self.slippage.labels(venue, symbol, row["side"]).observe(row["slip_arrival_bps"])
            if math.isfinite(row["fee_bps"]):
                self.fees.labels(venue, symbol).observe(row["fee_bps"])
        for step in ("decision_to_submit", "submit_to_ack", "submit_to_first_fill",
                     "decision_to_fill"):  # fmt: skip
            ms = row[f"{step}_ms"]
            if math.isfinite(ms):
                self.latency.labels(venue, symbol, step).observe(max(ms, 0.0) / 1000)
