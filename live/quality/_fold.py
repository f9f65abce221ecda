"""Events of a run's log → one execution-quality record per order (pure: no I/O, no clock).

:class:`QualityFold` reads events in log order and keeps, per order, the times of its life
(created, submitted, acknowledged, first and last fill, final), its fills and its reference
prices: the *arrival* price (the price the runner decided on) and the *model* price (what the
backtest would have filled a market order at). :meth:`QualityFold.add` returns the orders an
event ended, so a follower (the API's Prometheus metrics) can observe each order once, when it
ends; :meth:`QualityFold.records` gives every order, ended or not.

Where each price comes from (see ``docs/execution.md``):

- arrival: the ``decision`` of the order's bar records ``quotes`` (the book's best bid and ask
  per symbol at the decision, where the venue reads its book: the arrival is their mid) and
  ``prices`` (the venue's reference price per symbol at the decision: its ticker's last price,
  or the replayed bar's open; the arrival where no quote was read); a manual
  order's ``manual_order`` event records its own; any other order (a kill switch's flatten, a
  native stop, one whose decision is not in the log) takes the last close before it;
- model: the open of the bar after the decision's bar (the engine executes a decision of bar
  ``t`` at the open of bar ``t + 1``), from that bar's ``bar_closed``; and the engine book's
  own expected fill price at the decision (``planned[i].price``: the model's slippage
  included), found by the intent's ``seq`` (``100 × i`` for the i-th planned order).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = ["ORDER_KINDS", "OrderRecord", "QualityFold", "order_kind"]

# The seq ranges the runner gives its intents (live.runner.spec, _stops, _native, _manual).
_SEQ_KINDS = (
    (60_000, "algo"),
    (55_000, "routed"),
    (50_000, "manual"),
    (40_000, "native_stop"),
    (30_000, "stop"),
    (20_000, "kill_flatten"),
    (10_000, "risk_flatten"),
    (0, "strategy"),
)
ORDER_KINDS = tuple(k for _, k in reversed(_SEQ_KINDS))
"""What placed an order, from its intent's ``seq``: the strategy's decision, the book's risk
flatten, the kill switch's flatten, an emulated stop's exit, a native stop, a manual order, a
routed order's child (live.routing), an execution algorithm's child."""

_FINAL = {"FILLED", "CANCELLED", "REJECTED", "EXPIRED"}
# Orders the decision of their bar priced (a stop's exit fires at that bar's prices too); a
# kill switch's flatten or a native stop's placement comes later, at a price it did not record.
# An execution algorithm's children carry their parent's first decision (``decision_ts``): its
# price is their arrival, so their cost against it is the parent's implementation shortfall.
_DECIDED = ("strategy", "risk_flatten", "stop", "algo")
_KEPT = 50_000  # decisions and bar opens remembered by a follower (older orders: no prices)


def order_kind(seq: int, tag: str | None = None) -> str:
    """What placed an order whose intent has ``seq`` and exit ``tag`` (a stop's exit kind; see
    :data:`ORDER_KINDS`). A native stop's seq grows with its revisions: its tag tells it."""
    if seq < 0:
        raise ValueError(f"an intent's seq is >= 0, got {seq}")
    if tag is not None:
        return "native_stop" if seq >= 40_000 else "stop"
    for start, kind in _SEQ_KINDS:
        if seq >= start:
            return kind
    return "strategy"


@dataclass
class OrderRecord:
    """One order's execution, as the log tells it (times in ms on the run's clock)."""

    client_id: str
    run_id: str
    venue: str
    mode: str
    symbol: str
    side: str
    order_type: str
    kind: str
    qty: Decimal
    limit_price: Decimal | None
    decision_ts: int
    created_ms: int
    submitted_ms: int | None = None
    ack_ms: int | None = None
    first_fill_ms: int | None = None
    last_fill_ms: int | None = None
    final_ms: int | None = None
    state: str = "NEW"
    reason: str | None = None
    fills: list[tuple[Decimal, Decimal]] = field(default_factory=list)  # (qty, price)
    fee_quote: float = 0.0
    fee_unpriced: bool = False  # a fee in an asset that is neither base nor quote
    arrival_price: float = math.nan
    arrival_source: str = "none"
    spread_bps: float = math.nan  # the book's spread at the decision (arrival "mid")
    plan_price: float = math.nan
    model_price: float = math.nan
    retry_of: str | None = None

    @property
    def filled_qty(self) -> Decimal:
        return sum((q for q, _ in self.fills), Decimal(0))

    @property
    def vwap(self) -> float:
        """The fills' volume-weighted average price (NaN without fills)."""
        qty = self.filled_qty
        if qty == 0:
            return math.nan
        return float(sum((q * p for q, p in self.fills), Decimal(0)) / qty)

    @property
    def ended(self) -> bool:
        return self.state in _FINAL


class QualityFold:
    """Fold a run's events, in log order, into :class:`OrderRecord` s (see the module doc).

    Parameters
    ----------
    bounded
        Forget the oldest decisions and bar opens past 50,000 of each (a long-lived follower);
        an order whose decision was forgotten gets its arrival from the last close.
    """

    def __init__(self, *, bounded: bool = False) -> None:
        self._bounded = bounded
        self.run_id = ""
        self.venue = ""
        self.mode = ""
        self.symbols: list[str] = []
        self.tf_ms: int | None = None
        self._orders: dict[str, OrderRecord] = {}
        self._decisions: OrderedDict[int, dict[str, Any]] = OrderedDict()  # bar ts -> prices, plan
        self._opens: OrderedDict[int, list[float]] = OrderedDict()  # bar ts -> opens per symbol
        self._last_close: dict[str, float] = {}
        self._manual: dict[str, float] = {}  # client id -> arrival price of a manual order
        self._waiting_model: dict[int, list[str]] = {}  # next bar's ts -> orders

    # -- reading -----------------------------------------------------------------------------

    def records(self) -> list[OrderRecord]:
        """Every order so far, in creation order."""
        return list(self._orders.values())

    def add(self, e: Any) -> list[OrderRecord]:
        """Fold one event (an :class:`~live.events.Event` or anything with ``kind``,
        ``stream``, ``payload`` and ``ts_ms``); return the orders it ended."""
        kind, p, ts = e.kind, e.payload, int(e.ts_ms)
        if kind == "run_started":
            self.run_id = str(p.get("run_id") or "")
            self.venue = str(p.get("venue") or "")
            self.mode = str(p.get("mode") or "")
            self.symbols = [str(s) for s in p.get("symbols") or []]
            self.tf_ms = _timeframe_ms(p.get("timeframe"))
        elif kind == "bar_closed":
            self._on_bar(p)
        elif kind == "decision":
            self._remember(
                self._decisions,
                int(p["ts"]),
                {
                    "prices": p.get("prices") or [],
                    "quotes": p.get("quotes") or [],
                    "planned": p.get("planned") or [],
                },
            )
        elif kind == "manual_order" and p.get("client_id") and p.get("arrival_price"):
            self._manual[str(p["client_id"])] = float(p["arrival_price"])
        elif kind == "retry_created":
            retry = self._orders.get(str(p.get("retry")))
            if retry is not None:
                retry.retry_of = str(p.get("of"))
        elif kind == "order_created":
            self._on_created(e.stream, p, ts)
        elif kind.startswith("order_"):
            return self._on_order(kind, e.stream, p, ts)
        return []

    # -- events ------------------------------------------------------------------------------

    def _on_bar(self, p: dict[str, Any]) -> None:
        bar = p.get("bar") or []
        if len(bar) < 4:
            return
        ts = int(p["ts"])
        no_market = list(p.get("filled") or [])
        no_market += [False] * (len(bar[0]) - len(no_market))
        # A symbol without a market on this bar (its close repeated) has no open to fill at.
        opens = [
            math.nan if v is None or gone else float(v)
            for v, gone in zip(bar[0], no_market, strict=False)
        ]
        self._remember(self._opens, ts, opens)
        for j, close in enumerate(bar[3]):
            if close is not None and j < len(self.symbols) and not no_market[j]:
                self._last_close[self.symbols[j]] = float(close)
        for cid in self._waiting_model.pop(ts, []):
            self._set_model(self._orders[cid], opens)

    def _on_created(self, cid: str, p: dict[str, Any], ts: int) -> None:
        seq = int(p.get("seq", 0))
        o = OrderRecord(
            client_id=cid,
            run_id=str(p.get("run_id") or self.run_id),
            venue=self.venue,
            mode=self.mode,
            symbol=str(p["symbol"]),
            side=str(p["side"]),
            order_type=str(p.get("order_type") or "market"),
            kind=order_kind(seq, p.get("tag")),
            qty=Decimal(str(p["qty"])),
            limit_price=None if p.get("limit_price") is None else Decimal(str(p["limit_price"])),
            decision_ts=int(p.get("decision_ts_ms", 0)),
            created_ms=ts,
        )
        self._orders[cid] = o
        self._prices(o, seq)

    def _prices(self, o: OrderRecord, seq: int) -> None:
        """The order's arrival, plan and model prices (see the module doc)."""
        j = self.symbols.index(o.symbol) if o.symbol in self.symbols else -1
        decision = self._decisions.get(o.decision_ts)
        if o.kind == "manual" and o.client_id in self._manual:
            o.arrival_price, o.arrival_source = self._manual[o.client_id], "manual"
        elif decision is not None and o.kind in _DECIDED and 0 <= j < len(decision["prices"]):
            quote = decision["quotes"][j] if j < len(decision["quotes"]) else None
            price = decision["prices"][j]
            if quote:
                bid, ask = float(quote[0]), float(quote[1])
                o.arrival_price, o.arrival_source = (bid + ask) / 2, "mid"
                o.spread_bps = (ask - bid) / o.arrival_price * 1e4
            elif price is not None:
                o.arrival_price, o.arrival_source = float(price), "decision"
        if o.arrival_source == "none" and o.symbol in self._last_close:
            o.arrival_price, o.arrival_source = self._last_close[o.symbol], "last_close"
        if decision is not None and o.kind in ("strategy", "risk_flatten"):
            i = (seq % 10_000) // 100
            planned = decision["planned"]
            if i < len(planned) and planned[i].get("symbol") == o.symbol:
                price = planned[i].get("price")
                o.plan_price = math.nan if price is None else float(price)
        if o.kind in ("strategy", "risk_flatten") and self.tf_ms is not None and j >= 0:
            nxt = o.decision_ts + self.tf_ms
            if nxt in self._opens:
                self._set_model(o, self._opens[nxt])
            else:
                self._waiting_model.setdefault(nxt, []).append(o.client_id)

    def _set_model(self, o: OrderRecord, opens: list[float]) -> None:
        j = self.symbols.index(o.symbol)
        if j < len(opens):
            o.model_price = opens[j]

    def _on_order(self, kind: str, cid: str, p: dict[str, Any], ts: int) -> list[OrderRecord]:
        o = self._orders.get(cid)
        if o is None:
            return []  # an order created before the part of the log read (not ours to judge)
        if kind == "order_submitted":
            o.submitted_ms = ts if o.submitted_ms is None else o.submitted_ms
        elif kind == "order_acknowledged":
            o.ack_ms = ts if o.ack_ms is None else o.ack_ms
        elif kind == "order_fill":
            qty, price = Decimal(str(p["qty"])), Decimal(str(p["price"]))
            o.fills.append((qty, price))
            o.first_fill_ms = ts if o.first_fill_ms is None else o.first_fill_ms
            o.last_fill_ms = ts
            self._fee(o, p, qty, price)
        if kind in ("order_rejected", "order_cancelled", "order_expired") and p.get("reason"):
            o.reason = str(p["reason"])
        to = p.get("to")
        if not to:
            return []
        was_final = o.ended
        o.state = str(to)
        if o.ended and not was_final:
            o.final_ms = ts
            return [o]
        return []

    def _fee(self, o: OrderRecord, p: dict[str, Any], qty: Decimal, price: Decimal) -> None:
        """The fee in the quote currency: a base-asset fee (a spot buy's) at the fill price."""
        if p.get("fee") is None:
            return
        fee = float(Decimal(str(p["fee"])))
        asset = str(p.get("fee_asset") or "")
        base, _, quote = o.symbol.partition("/")
        quote = quote.split(":")[0]
        if asset in ("", quote):
            o.fee_quote += fee
        elif asset == base:
            o.fee_quote += fee * float(price)
        elif fee != 0:
            o.fee_unpriced = True

    def _remember(self, memo: OrderedDict[int, Any], key: int, value: Any) -> None:
        memo[key] = value
        if self._bounded:
            memo.move_to_end(key)
            while len(memo) > _KEPT:
                memo.popitem(last=False)


def _timeframe_ms(timeframe: Any) -> int | None:
    if not timeframe:
        return None
    from grekko_research.data.timeframes import parse_timeframe

    try:
        return int(parse_timeframe(str(timeframe)).ms)
    except (ValueError, InvalidOperation):
        return None
