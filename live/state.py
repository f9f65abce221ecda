"""Read a run's state from its event log (what ``grekko-live status|orders|positions`` show).

Folding the log needs no running process: SQLite in WAL mode lets readers see a live run's
log while it writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from live.events import Event
from live.orders import TERMINAL, Order, OrderManager

__all__ = ["RunState", "dec_text", "fold_run"]


@dataclass
class RunState:
    """A run as its log tells it."""

    run: dict[str, Any] = field(default_factory=dict)
    events: int = 0
    restarts: int = 0
    bars: int = 0
    last_bar_ts: int | None = None
    equity: float | None = None
    decisions: int = 0
    halted: str | None = None
    last_reconcile: dict[str, Any] | None = None
    trades: list[dict[str, Any]] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    positions: dict[str, Decimal] = field(default_factory=dict)
    fills: int = 0
    fees: dict[str, Decimal] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """JSON-ready status."""
        open_orders = [o for o in self.orders if o.state not in TERMINAL]
        return {
            "run_id": self.run.get("run_id"),
            "strategy": self.run.get("strategy"),
            "params": self.run.get("params"),
            "venue": self.run.get("venue"),
            "mode": self.run.get("mode"),
            "symbols": self.run.get("symbols"),
            "timeframe": self.run.get("timeframe"),
            "events": self.events,
            "restarts": self.restarts,
            "bars": self.bars,
            "last_bar_ts": self.last_bar_ts,
            "equity": self.equity,
            "decisions": self.decisions,
            "orders": len(self.orders),
            "open_orders": len(open_orders),
            "fills": self.fills,
            "closed_trades": len(self.trades),
            "positions": {k: dec_text(v) for k, v in self.positions.items()},
            "halted": self.halted,
            "last_reconcile": self.last_reconcile,
            "anomalies": self.anomalies,
        }


def dec_text(value: Decimal) -> str:
    """A decimal without exponent noise (``0E-17`` → ``0``)."""
    return "0" if value == 0 else format(value.normalize(), "f")


def fold_run(events: Iterable[Event]) -> RunState:
    """Fold a run's events into its state."""
    state = RunState()
    log = list(events)
    for e in log:
        state.events += 1
        if e.kind == "run_started":
            state.run = dict(e.payload)
        elif e.kind == "run_resumed":
            state.restarts += 1
        elif e.kind == "bar_closed":
            state.bars += 1
            state.last_bar_ts = int(e.payload["ts"])
            state.equity = e.payload.get("equity")
        elif e.kind == "decision":
            state.decisions += 1
        elif e.kind == "halted":
            state.halted = str(e.payload["reason"])
        elif e.kind == "resumed":
            state.halted = None
        elif e.kind == "reconciled":
            state.last_reconcile = {"ts_ms": e.ts_ms, **e.payload}
        elif e.kind == "trade_closed":
            state.trades.append(dict(e.payload))
    om = OrderManager.replay(log)
    state.orders = om.orders()
    state.positions = om.positions()
    fills = om.fills()
    state.fills = len(fills)
    for f in fills:
        if f.fee is not None and f.fee_asset:
            state.fees[f.fee_asset] = state.fees.get(f.fee_asset, Decimal(0)) + f.fee
    state.anomalies = [f"{a.client_id}: {a.kind}: {a.detail}" for a in om.anomalies]
    return state
