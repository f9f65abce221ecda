"""What a ccxt adapter knows of the orders it sent or looked up, and how it reads ccxt orders.

:class:`OrderTracker` is the adapter's memory of client ids (the venue order id learnt for each,
whether the order has ended, when it was sent); the user-data stream reads and updates it
through its methods, never through the adapter's attributes. :func:`order_state`,
:func:`created_reports` and :func:`query_result` turn ccxt's unified orders into the order
manager's states and reports.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from live.orders import (
    Ack,
    Cancelled,
    Expired,
    FillReport,
    OrderState,
    QueryResult,
    Rejected,
    Report,
)
from live.venues._ccxt_util import dec, fee_of

__all__ = ["ENDED", "OrderTracker", "Tracked", "created_reports", "order_state", "query_result"]

S = OrderState
ENDED = frozenset({S.FILLED, S.CANCELLED, S.EXPIRED, S.REJECTED})
"""States after which an order changes no more."""
_STATUS = {
    "canceled": S.CANCELLED,
    "cancelled": S.CANCELLED,
    "expired": S.EXPIRED,
    "rejected": S.REJECTED,
}


@dataclass
class Tracked:
    """What the adapter knows of one order it sent or looked up."""

    symbol: str
    venue_order_id: str | None = None
    done: bool = False
    sent_ms: int | None = None


class OrderTracker:
    """Client ids an adapter sent or looked up: venue order ids, ended or not, send times.

    ``sent`` holds the client ids whose create may have landed (the adapter refuses to send one
    twice); a venue order id known to carry no client id is remembered so it is looked up once.
    """

    def __init__(self) -> None:
        self._orders: dict[str, Tracked] = {}  # client id -> what we know
        self._cid_by_oid: dict[str, str] = {}  # venue order id -> client id
        self._sent: set[str] = set()  # client ids whose create may have landed
        self._no_cid: set[str] = set()  # venue order ids known to carry no client id

    def track(
        self, client_id: str | None, symbol: str, venue_order_id: Any = None, *, done: bool = False
    ) -> None:
        """Note ``client_id`` on ``symbol`` (with its venue order id, and whether it ended)."""
        if not client_id:
            return
        tracked = self._orders.setdefault(client_id, Tracked(symbol))
        if venue_order_id is not None:
            tracked.venue_order_id = str(venue_order_id)
            self._cid_by_oid[str(venue_order_id)] = client_id
        tracked.done = tracked.done or done

    def get(self, client_id: str) -> Tracked | None:
        """What is known of ``client_id`` (``None``: nothing)."""
        return self._orders.get(client_id)

    def venue_order_id(self, client_id: str) -> str | None:
        """The venue order id learnt for ``client_id``, if any."""
        tracked = self._orders.get(client_id)
        return None if tracked is None else tracked.venue_order_id

    def symbol(self, client_id: str) -> str:
        """The symbol ``client_id`` was sent on (``""`` if unknown)."""
        tracked = self._orders.get(client_id)
        return "" if tracked is None else tracked.symbol

    def client_id(self, venue_order_id: Any) -> str | None:
        """The client id of a venue order id, when known."""
        return self._cid_by_oid.get(str(venue_order_id))

    def learn(self, venue_order_id: str, client_id: str | None) -> None:
        """A lookup told ``venue_order_id``'s client id (``None``: it carries none)."""
        if client_id:
            self._cid_by_oid[venue_order_id] = client_id
        else:
            self._no_cid.add(venue_order_id)

    def carries_no_client_id(self, venue_order_id: str) -> bool:
        """Whether a lookup found ``venue_order_id`` without a client id."""
        return venue_order_id in self._no_cid

    def unfinished(self) -> Iterator[tuple[str, str]]:
        """(client id, symbol) of every tracked order not known to have ended (a snapshot)."""
        for cid, tracked in list(self._orders.items()):
            if not tracked.done and tracked.symbol:
                yield cid, tracked.symbol

    def was_sent(self, client_id: str) -> bool:
        """Whether a create with ``client_id`` may have reached the venue."""
        return client_id in self._sent

    def sending(self, client_id: str, symbol: str, now_ms: int) -> None:
        """A create with ``client_id`` is about to be sent."""
        self._sent.add(client_id)
        self.track(client_id, symbol)
        self._orders[client_id].sent_ms = now_ms

    def forget(self, client_id: str) -> None:
        """The create was refused before acting: ``client_id`` may be sent again."""
        self._sent.discard(client_id)
        tracked = self._orders.pop(client_id, None)
        if tracked is not None and tracked.venue_order_id is not None:
            self._cid_by_oid.pop(tracked.venue_order_id, None)

    @property
    def client_ids(self) -> frozenset[str]:
        """Every client id tracked."""
        return frozenset(self._orders)


def order_state(order: Mapping[str, Any]) -> OrderState | None:
    """The order manager's state for a ccxt order, ``None`` if the status is unknown."""
    status = order.get("status")
    filled = dec(order.get("filled") or 0)
    amount = order.get("amount")
    if status == "open":
        return S.PARTIALLY_FILLED if filled > 0 else S.ACKNOWLEDGED
    if status == "closed":
        # "closed" short of the amount: ended without filling (an exchange's IOC remainder).
        return S.FILLED if amount is None or filled >= dec(amount) else S.EXPIRED
    return _STATUS.get(str(status)) if status is not None else None


def _venue_id(order: Mapping[str, Any]) -> str | None:
    return None if order.get("id") in (None, "") else str(order["id"])


def query_result(tracker: OrderTracker, cid: str, order: Mapping[str, Any]) -> Report:
    """A looked-up order as a :class:`~live.orders.QueryResult` (noted in ``tracker``)."""
    state = order_state(order) or S.ACKNOWLEDGED
    oid = _venue_id(order)
    symbol = order.get("symbol") or tracker.symbol(cid)
    tracker.track(cid, symbol, oid, done=state in ENDED)
    filled = Decimal(0) if state is S.REJECTED else dec(order.get("filled") or 0)
    return QueryResult(cid, state, filled, oid)


def created_reports(
    tracker: OrderTracker, cid: str, symbol: str, order: Mapping[str, Any]
) -> list[Report]:
    """The reports of a create answer: ``Ack`` + one ``FillReport`` per listed fill (+ the
    cumulative quantity when fills are missing, + ``Cancelled``/``Expired`` when it ended), or
    ``Rejected``."""
    oid = _venue_id(order)
    state = order_state(order)
    if state is S.REJECTED:
        tracker.track(cid, symbol, oid, done=True)
        return [Rejected(cid, reason=f"venue status {order.get('status')}")]
    tracker.track(cid, symbol, oid, done=state in (S.FILLED, S.CANCELLED, S.EXPIRED))
    reports: list[Report] = [Ack(cid, oid)]
    listed = Decimal(0)
    for trade in order.get("trades") or []:
        if trade.get("id") is None:
            continue
        fee, fee_asset = fee_of(trade)
        listed += dec(trade["amount"])
        reports.append(
            FillReport(
                cid,
                str(trade["id"]),
                dec(trade["amount"]),
                dec(trade["price"]),
                source="rest",
                fee=fee,
                fee_asset=fee_asset,
            )
        )
    filled = dec(order.get("filled") or 0)
    if state in (S.PARTIALLY_FILLED, S.FILLED) and filled > listed:
        # The answer says it filled without listing the fills (e.g. a RESULT answer): tell
        # the manager the cumulative quantity so it fetches the missing fills.
        reports.append(QueryResult(cid, state, filled, oid))
    if state is S.CANCELLED:
        reports.append(Cancelled(cid, reason="ended on creation"))
    elif state is S.EXPIRED:
        reports.append(Expired(cid, reason="ended on creation"))
    return reports
