"""A run's parent orders (execution algorithms, :mod:`live.runner._algos`) as its log tells
them: which orders are whose children, and each parent's progress and state.

The runner and the readers (the status API's ``GET /orders/parents``, ``grekko-live orders
--parents``) share the child numbering here: child ``i`` of the ``n``-th parent starting on bar
``start_ts`` has seq ``ALGO_SEQ + PARENT_STRIDE n + CHILD_STRIDE i`` on decision bar
``start_ts`` (the 99 seqs after it are its re-issues).

A parent's state:

- ``done``: its children filled its quantity;
- ``cancelled``: an ``algo_cancelled`` event stopped it (what filled before stays);
- ``working``: a child rests, or its schedule has decisions still to come;
- ``ended unfilled``: its schedule is over (the last slice placed, an iceberg clip or the
  chaser's remainder ended unfilled, a child refused) with quantity left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from live.events import Event
from live.orders import TERMINAL, Order, OrderManager, OrderState

__all__ = [
    "ALGO_SEQ",
    "CHILD_STRIDE",
    "MAX_CHILDREN",
    "PARENT_STRIDE",
    "ParentBook",
    "ParentState",
    "child_index",
    "child_seq",
]

ALGO_SEQ = 60_000
"""The seq of the first parent's first child on its start bar."""
MAX_CHILDREN = 999
CHILD_STRIDE = 100
PARENT_STRIDE = CHILD_STRIDE * (MAX_CHILDREN + 1)

ParentState = Literal["working", "done", "cancelled", "ended unfilled"]


def child_seq(n: int, i: int) -> int:
    """Child ``i``'s seq for the ``n``-th parent of its start bar."""
    return ALGO_SEQ + PARENT_STRIDE * n + CHILD_STRIDE * i


def child_index(n: int, seq: int) -> int | None:
    """The index of the child an order of ``seq`` is (or re-issues) for the ``n``-th parent of
    its start bar; None: not one of its children."""
    i, rest = divmod(seq - child_seq(n, 0), CHILD_STRIDE)
    return i if 0 <= i < MAX_CHILDREN and rest >= 0 else None


def _last_decision_bars(spec: dict[str, Any]) -> int | None:
    """Bars from the start to the parent's last scheduled decision (None: open-ended, an
    iceberg places clips as long as they fill)."""
    kind = spec.get("kind")
    if kind in ("twap", "vwap"):
        return (int(spec.get("slices") or 1) - 1) * int(spec.get("every") or 1)
    if kind == "chase":
        return int(spec.get("passive_bars") or 1)
    return None


@dataclass
class ParentBook:
    """The parents of a run, folded one event at a time (``algo_started``, ``algo_cancelled``,
    ``decision``); :meth:`rows` reads their children from an :class:`OrderManager`."""

    started: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancelled: dict[str, dict[str, Any]] = field(default_factory=dict)
    last_decision_ts: int | None = None

    def apply(self, e: Event) -> None:
        p = e.payload
        if e.kind == "algo_started":
            self.started[str(p["parent_id"])] = dict(p)
        elif e.kind == "algo_cancelled":
            self.cancelled.setdefault(str(p["parent_id"]), dict(p))
        elif e.kind == "decision":
            self.last_decision_ts = int(p["ts"])

    def children(self, parent_id: str, om: OrderManager) -> dict[int, list[Order]]:
        """Each child index of the parent with its orders (a lost create's re-issues last)."""
        p = self.started[parent_id]
        out: dict[int, list[Order]] = {}
        for o in om.orders():
            if o.decision_ts_ms != int(p["start_ts"]) or o.symbol != p["symbol"]:
                continue
            i = child_index(int(p["n"]), o.seq)
            if i is not None:
                out.setdefault(i, []).append(o)
        return {i: sorted(v, key=lambda o: o.seq) for i, v in sorted(out.items())}

    def state(self, parent_id: str, om: OrderManager, tf_ms: int) -> ParentState:
        p = self.started[parent_id]
        kids = self.children(parent_id, om)
        filled = sum((o.filled_qty for v in kids.values() for o in v), Decimal(0))
        if filled >= Decimal(str(p["qty"])):
            return "done"
        if parent_id in self.cancelled:
            return "cancelled"
        latest = [v[-1] for v in kids.values()]
        if any(o.state not in TERMINAL for o in latest):
            return "working"
        last = self.last_decision_ts
        start = int(p["start_ts"])
        if last is None or last < start:
            return "working"
        bars = _last_decision_bars(p["spec"])
        if bars is not None:
            return "working" if last < start + bars * tf_ms else "ended unfilled"
        # an iceberg: the next clip comes while the last one filled
        return "working" if latest and latest[-1].state is OrderState.FILLED else "ended unfilled"

    def rows(self, om: OrderManager, tf_ms: int) -> list[dict[str, Any]]:
        """One JSON-ready row per parent, oldest first: id, symbol, side, kind, qty, filled,
        children sent / filled, state, start bar, the request and the cancel (if any)."""
        out = []
        for pid, p in self.started.items():
            kids = self.children(pid, om)
            latest = [v[-1] for v in kids.values()]
            filled = sum((o.filled_qty for v in kids.values() for o in v), Decimal(0))
            cancel = self.cancelled.get(pid)
            out.append({
                "parent_id": pid, "symbol": p["symbol"], "side": p["side"],
                "kind": p["spec"]["kind"], "qty": str(p["qty"]), "filled": _text(filled),
                "children_sent": len(kids),
                "children_filled": sum(o.state is OrderState.FILLED for o in latest),
                "state": self.state(pid, om, tf_ms), "start_ts": int(p["start_ts"]),
                "request_id": p.get("request_id"),
                "cancelled_at_ts": None if cancel is None else cancel.get("at_ts"),
                "cancel_reason": None if cancel is None else cancel.get("reason"),
                "cancelled_by": None if cancel is None else cancel.get("by"),
            })  # fmt: skip
        return out


def _text(d: Decimal) -> str:
    return format(d.normalize(), "f") if d else "0"
