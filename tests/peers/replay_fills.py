"""Fills of a backtest and of a live replay, in one comparable shape (live-parity tests)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from grekko_research.engine.layout import ORDER_FIELDS
from live.orders import OrderManager

Fill = tuple[int, str, str, float, float]
_O = {n: i for i, n in enumerate(ORDER_FIELDS)}


def backtest_fills(run: Any) -> list[Fill]:
    """(execution time, symbol, side, quantity, price) of every filled order of a backtest run."""
    rec = run.result.order_records
    bars = run.bars
    rows = rec[rec[:, _O["status"]] == 0]
    return [
        (
            int(bars.index[int(r[_O["bar"]])]),
            bars.symbols[int(r[_O["asset"]])],
            "buy" if r[_O["side"]] > 0 else "sell",
            float(r[_O["size"]]),
            float(r[_O["price"]]),
        )
        for r in rows
    ]


def live_fills(events: Iterable[Any]) -> list[Fill]:
    """The same tuples for every fill the order manager folds from a run's events."""
    om = OrderManager.replay(events)
    out = []
    for f in om.fills():
        order = om.order(f.client_id)
        out.append((f.ts_ms, order.symbol, order.side, float(f.qty), float(f.price)))
    return out
