"""What the runner writes about a decision: JSON-ready signals and planned orders."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from grekko_research.engine.book import PlannedOrder

__all__ = ["json_floats", "planned_payload", "signal_payload"]


def json_floats(values: Iterable[Any]) -> list[Any]:
    """Nested lists of floats with every non-finite value as ``None`` (JSON has no NaN)."""
    out: list[Any] = []
    for v in values:
        if isinstance(v, list):
            out.append(json_floats(v))
        else:
            out.append(None if not math.isfinite(v) else v)
    return out


def signal_payload(row: Mapping[str, Any]) -> dict[str, Any]:
    """The strategy's decision row (:func:`~grekko_research.engine.book.decision_row`)."""
    out: dict[str, Any] = {"mode": int(row["mode"])}
    for name in (
        "entries",
        "exits",
        "short_entries",
        "short_exits",
        "target",
        "ord_kind",
        "ord_size",
    ):
        arr = row[name]
        if arr.shape[0]:
            out[name] = json_floats(arr[0].astype(float).tolist())
    return out


def planned_payload(p: PlannedOrder) -> dict[str, Any]:
    """One order the engine book planned, with its status and the refusing rule."""
    return {
        "symbol": p.symbol,
        "size": p.size,
        "price": p.price if math.isfinite(p.price) else None,
        "kind": p.kind,
        "status": p.status,
        "rule": p.rule,
    }
