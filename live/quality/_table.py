"""Order records → the per-order quality table (pandas) and its aggregates.

Sign convention: a slippage is a *cost* in basis points, positive when the order paid more
than the reference on a buy or received less on a sell (``side × (fill − ref) / ref × 10⁴``).
Latencies are in ms on the run's clock (a simulator's market clock runs at its ``--speed``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from live.quality._fold import OrderRecord, QualityFold

__all__ = [
    "COLUMNS",
    "GROUPS",
    "SUMMARY_COLUMNS",
    "order_row",
    "quality_table",
    "size_bucket",
    "summarize",
]

COLUMNS: dict[str, str] = {
    "client_id": "the order's client id (its intent's, deterministic)",
    "venue": "the venue the run traded on (run_started)",
    "symbol": "market symbol",
    "side": "buy or sell",
    "order_type": "market, limit, stop_market …",
    "kind": "what placed it: strategy, risk_flatten, kill_flatten, stop, native_stop, manual",
    "state": "its last state (FILLED, PARTIALLY_FILLED, CANCELLED, REJECTED …)",
    "reason": "why it was rejected, cancelled or expired (the venue's or the runner's words)",
    "qty": "quantity asked (base units)",
    "filled_qty": "quantity filled",
    "fill_ratio": "filled_qty / qty",
    "notional": "filled_qty × fill_price (quote currency)",
    "size_bucket": "decade of the order's size in quote currency (qty × arrival price)",
    "hour": "UTC hour of day the order was created",
    "decision_ts": "open time of the bar the order was decided on (ms)",
    "created_ms": "when the order was created: the decision (ms, run clock)",
    "arrival_price": "reference price at the decision (see arrival_source)",
    "arrival_source": "mid (the book's at the decision), decision (its reference price), manual "
    "(the request's), last_close, none",
    "spread_bps": "the book's bid-ask spread at the decision, bps of the mid (arrival_source mid)",
    "fill_price": "volume-weighted average price of the fills",
    "plan_price": "the engine book's expected fill at the decision (its slippage model in)",
    "model_price": "the bar model's fill: the next bar's open (market orders of a decision)",
    "slip_arrival_bps": "cost vs arrival: side × (fill_price − arrival) / arrival × 1e4",
    "slip_model_bps": "cost vs the bar model: side × (fill_price − model) / model × 1e4",
    "slip_plan_bps": "cost vs the engine's expected fill: side × (fill − plan) / plan × 1e4",
    "fee_quote": "fees in quote currency (a base-asset fee valued at its fill's price)",
    "fee_bps": "fee_quote / notional × 1e4",
    "decision_to_submit_ms": "created → order_submitted",
    "submit_to_ack_ms": "order_submitted → order_acknowledged",
    "submit_to_first_fill_ms": "order_submitted → first order_fill",
    "submit_to_last_fill_ms": "order_submitted → last order_fill",
    "decision_to_fill_ms": "created → first order_fill",
    "time_to_fill_ms": "limit orders: acknowledged → last fill of a filled order",
    "rejected": "the order ended REJECTED",
    "retry_of": "the order this one retries (a venue's retryable refusal)",
}
"""Every column of :func:`quality_table`, with what it means (``docs/execution.md``)."""

GROUPS = ("venue", "symbol", "side", "size_bucket", "hour", "kind", "order_type")
"""The dimensions :func:`summarize` groups by."""

SUMMARY_COLUMNS: dict[str, str] = {
    "orders": "orders created",
    "filled": "orders with at least one fill",
    "rejects": "orders rejected",
    "reject_rate": "rejects / orders",
    "fill_ratio": "filled quantity / asked quantity, summed over the group",
    "notional": "filled notional (quote currency)",
    "slip_arrival_bps": "notional-weighted mean cost vs arrival",
    "slip_model_bps": "notional-weighted mean cost vs the bar model",
    "slip_arrival_p95_bps": "95th percentile of the orders' cost vs arrival",
    "fee_bps": "fees / notional",
    "ack_p50_ms": "median submit → ack",
    "ack_p95_ms": "95th percentile submit → ack",
    "fill_p50_ms": "median decision → first fill",
}
"""Every column of :func:`summarize`."""

_BUCKETS = (0.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, math.inf)
_BUCKET_LABELS = ("<10", "10-100", "100-1k", "1k-10k", "10k-100k", "100k-1M", ">=1M")


def _bps(side: str, price: float, ref: float) -> float:
    if not (math.isfinite(price) and math.isfinite(ref)) or ref <= 0:
        return math.nan
    sign = 1.0 if side == "buy" else -1.0
    return sign * (price - ref) / ref * 1e4


def _ms(start: int | None, end: int | None) -> float:
    return math.nan if start is None or end is None else float(end - start)


def size_bucket(notional: float) -> str:
    """The decade of ``notional`` (quote currency), e.g. ``"1k-10k"``; ``"?"`` if unknown."""
    if not math.isfinite(notional) or notional < 0:
        return "?"
    i = int(np.searchsorted(_BUCKETS, notional, side="right")) - 1
    return _BUCKET_LABELS[min(i, len(_BUCKET_LABELS) - 1)]


def order_row(o: OrderRecord) -> dict[str, Any]:
    """One order's row of the quality table (see :data:`COLUMNS`)."""
    fill = o.vwap
    filled = float(o.filled_qty)
    qty = float(o.qty)
    notional = filled * fill if filled else 0.0
    size_ref = o.arrival_price if math.isfinite(o.arrival_price) else fill
    return {
        "client_id": o.client_id,
        "venue": o.venue,
        "symbol": o.symbol,
        "side": o.side,
        "order_type": o.order_type,
        "kind": o.kind,
        "state": o.state,
        "reason": o.reason,
        "qty": qty,
        "filled_qty": filled,
        "fill_ratio": filled / qty if qty else math.nan,
        "notional": notional,
        "size_bucket": size_bucket(qty * size_ref),
        "hour": int(o.created_ms // 3_600_000 % 24),
        "decision_ts": o.decision_ts,
        "created_ms": o.created_ms,
        "arrival_price": o.arrival_price,
        "arrival_source": o.arrival_source,
        "spread_bps": o.spread_bps,
        "fill_price": fill,
        "plan_price": o.plan_price,
        "model_price": o.model_price if o.order_type == "market" else math.nan,
        "slip_arrival_bps": _bps(o.side, fill, o.arrival_price),
        "slip_model_bps": _bps(o.side, fill, o.model_price)
        if o.order_type == "market"
        else math.nan,
        "slip_plan_bps": _bps(o.side, fill, o.plan_price),
        "fee_quote": math.nan if o.fee_unpriced else o.fee_quote,
        "fee_bps": o.fee_quote / notional * 1e4 if notional and not o.fee_unpriced else math.nan,
        "decision_to_submit_ms": _ms(o.created_ms, o.submitted_ms),
        "submit_to_ack_ms": _ms(o.submitted_ms, o.ack_ms),
        "submit_to_first_fill_ms": _ms(o.submitted_ms, o.first_fill_ms),
        "submit_to_last_fill_ms": _ms(o.submitted_ms, o.last_fill_ms),
        "decision_to_fill_ms": _ms(o.created_ms, o.first_fill_ms),
        "time_to_fill_ms": _ms(o.ack_ms or o.submitted_ms, o.last_fill_ms)
        if o.order_type != "market" and o.state == "FILLED"
        else math.nan,
        "rejected": o.state == "REJECTED",
        "retry_of": o.retry_of,
    }


def quality_table(events: Iterable[Any]) -> pd.DataFrame:
    """The per-order execution-quality table of a run's events (columns: :data:`COLUMNS`,
    one row per order in creation order)."""
    fold = QualityFold()
    for e in events:
        fold.add(e)
    rows = [order_row(o) for o in fold.records()]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _weighted(values: pd.Series, weights: pd.Series) -> float:
    ok = values.notna() & (weights > 0)
    if not ok.any():
        return math.nan
    return float(np.average(values[ok], weights=weights[ok]))


def _quantile(values: pd.Series, q: float) -> float:
    v = values.dropna()
    return float(v.quantile(q)) if len(v) else math.nan


def summarize(table: pd.DataFrame, by: str | Sequence[str] = "venue") -> pd.DataFrame:
    """Aggregate the quality table by one or more of :data:`GROUPS` (columns:
    :data:`SUMMARY_COLUMNS`; one row per group, sorted by the group's keys)."""
    keys = [by] if isinstance(by, str) else list(by)
    unknown = [k for k in keys if k not in GROUPS]
    if unknown:
        raise ValueError(f"cannot group the quality table by {unknown}; choose from {GROUPS}")
    out = []
    for key, g in table.groupby(keys, sort=True, dropna=False):
        values = key if isinstance(key, tuple) else (key,)
        asked = g["qty"].sum()
        out.append(
            {
                **dict(zip(keys, values, strict=True)),
                "orders": len(g),
                "filled": int((g["filled_qty"] > 0).sum()),
                "rejects": int(g["rejected"].sum()),
                "reject_rate": float(g["rejected"].mean()),
                "fill_ratio": float(g["filled_qty"].sum() / asked) if asked else math.nan,
                "notional": float(g["notional"].sum()),
                "slip_arrival_bps": _weighted(g["slip_arrival_bps"], g["notional"]),
                "slip_model_bps": _weighted(g["slip_model_bps"], g["notional"]),
                "slip_arrival_p95_bps": _quantile(g["slip_arrival_bps"], 0.95),
                "fee_bps": float(g["fee_quote"].sum() / g["notional"].sum() * 1e4)
                if g["notional"].sum() > 0
                else math.nan,
                "ack_p50_ms": _quantile(g["submit_to_ack_ms"], 0.5),
                "ack_p95_ms": _quantile(g["submit_to_ack_ms"], 0.95),
                "fill_p50_ms": _quantile(g["decision_to_fill_ms"], 0.5),
            }
        )
    return pd.DataFrame(out, columns=[*keys, *SUMMARY_COLUMNS])
