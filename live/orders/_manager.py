"""The order manager: a pure, synchronous, event-sourced book of orders, fills and positions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

from grekko_research.errors import ConfigError
from live.orders._errors import (
    HaltedError,
    IntentConflictError,
    InvalidReportError,
    OverfillError,
    ReplayError,
    UnknownOrderError,
)
from live.orders._model import (
    Ack,
    Anomaly,
    Cancelled,
    Expired,
    Fill,
    FillReport,
    Intent,
    NotFound,
    Order,
    Pending,
    QueryResult,
    Rejected,
    Report,
    Timeout,
    to_decimal,
)
from live.orders._states import TERMINAL, OrderState, check_transition, is_stale

__all__ = ["DEFAULT_GRACE_MS", "Event", "OrderManager"]

S = OrderState
Event = dict[str, Any]
"""``{"kind": str, "stream": client id, "payload": JSON object, "ts_ms": int}``."""

DEFAULT_GRACE_MS = 10_000
"""How long after submission "order not found" is tolerated before the order counts as lost."""

_QUERY_STATUSES = frozenset(
    {S.ACKNOWLEDGED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELLED, S.REJECTED, S.EXPIRED}
)
_STATE_EVENT = {
    S.CANCELLED: "order_cancelled",
    S.REJECTED: "order_rejected",
    S.EXPIRED: "order_expired",
    S.UNKNOWN: "order_unknown",
}


def _opt_str(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


class OrderManager:
    """Orders, fills and positions of one live run, driven by intents and venue reports.

    Every command (:meth:`create`, :meth:`mark_submitted`, :meth:`apply`) first decides, then
    records its decision as events and applies them through the same code :meth:`replay` uses,
    so the state rebuilt from the events is the state the commands built. A command that raises
    changes nothing and returns no events; a report that changes nothing (a duplicate fill, a
    late ack) returns ``[]``. The runner appends the returned events to the event store before
    acting on the new state.

    Merging of late, duplicate and out-of-order venue updates:

    - fills are facts: each ``(client id, venue trade id)`` counts once, whatever the source
      (websocket, REST) or the order's state, terminal states included (a fill that raced a
      cancel still moved money); ``filled_qty`` is the sum of the distinct fills;
    - state only moves forward: a terminal state is final (the first one wins) and an update
      behind the current state (an ack after a fill, a timeout after an ack) changes nothing
      but the data it brings (the venue order id);
    - a venue query's cumulative quantity only ever raises ``venue_filled_qty`` (max);
    - anything that contradicts a REJECTED order (an ack, a fill, a live query answer) and any
      overfill is recorded, then halts the manager: :meth:`create` refuses new orders until a
      human acknowledges the anomalies (:meth:`acknowledge`; a ``resumed`` event in the log,
      which the runner also turns into its trading state's resume).

    "Order not found" (:class:`NotFound`) is tolerated while ``now_ms - submitted_ms <
    grace_ms`` (the venue may not show an order it just accepted); afterwards an order the venue
    never acknowledged nor filled is REJECTED (its create never landed: the strategy may decide
    again), one it had acknowledged or filled is CANCELLED (it no longer works; its fills stay).

    Parameters
    ----------
    grace_ms
        Grace window for "not found" and for a missing ack, in ms (``>= 0``).
    """

    def __init__(self, *, grace_ms: int = DEFAULT_GRACE_MS) -> None:
        if isinstance(grace_ms, bool) or not isinstance(grace_ms, int) or grace_ms < 0:
            raise ConfigError(f"grace_ms must be an int >= 0, got {grace_ms!r}")
        self._grace_ms = grace_ms
        self._orders: dict[str, Order] = {}
        self._fills: dict[tuple[str, str], Fill] = {}
        self._positions: dict[str, Decimal] = {}
        self._anomalies: list[Anomaly] = []
        self._acknowledged = 0  # anomalies a human has seen (resumed after them)

    # -- reading ---------------------------------------------------------------------------

    @property
    def grace_ms(self) -> int:
        """Grace window in ms."""
        return self._grace_ms

    def order(self, client_id: str) -> Order:
        """Return the order with this client id; raise :class:`UnknownOrderError` if none."""
        try:
            return self._orders[client_id]
        except KeyError:
            raise UnknownOrderError(client_id, "lookup") from None

    def orders(self) -> list[Order]:
        """Return every order, in creation order."""
        return list(self._orders.values())

    def open_orders(self) -> list[Order]:
        """Return the orders not in a terminal state (UNKNOWN ones included: they may work)."""
        return [o for o in self._orders.values() if o.state not in TERMINAL]

    def fills(self, client_id: str | None = None) -> list[Fill]:
        """Return the distinct fills in arrival order, all or those of one order."""
        return [f for f in self._fills.values() if client_id is None or f.client_id == client_id]

    def position(self, symbol: str) -> Decimal:
        """Return the net quantity bought minus sold on ``symbol`` through the recorded fills."""
        return self._positions.get(symbol, Decimal(0))

    def positions(self) -> dict[str, Decimal]:
        """Return the net position of every symbol traded."""
        return dict(self._positions)

    @property
    def anomalies(self) -> list[Anomaly]:
        """Return the anomalies recorded so far (each halts the manager until acknowledged)."""
        return list(self._anomalies)

    @property
    def halted(self) -> bool:
        """Whether an anomaly not yet acknowledged halts the manager."""
        return len(self._anomalies) > self._acknowledged

    def acknowledge(self) -> None:
        """A human has seen the anomalies so far (the run was resumed): new orders are
        accepted again, until the next anomaly. What :meth:`replay` does on a ``resumed``."""
        self._acknowledged = len(self._anomalies)

    def ensure_healthy(self) -> None:
        """Raise :class:`OverfillError` (overfill) or :class:`HaltedError` while halted by
        anomalies not yet acknowledged."""
        pending = self._anomalies[self._acknowledged :]
        if not pending:
            return
        text = "; ".join(f"{a.client_id}: {a.kind}: {a.detail}" for a in pending)
        if any(a.kind == "overfill" for a in pending):
            raise OverfillError(f"order manager halted by an overfill: {text}")
        raise HaltedError(f"order manager halted: {text}")

    def needs_resolution(self, now_ms: int) -> list[Pending]:
        """Return the orders the runner must query by client id (one reason per order).

        Reasons, by priority: ``unknown_outcome`` (UNKNOWN), ``not_found`` (venue said not
        found, still within grace: query again), ``unacknowledged`` (SUBMITTED for at least
        ``grace_ms``), ``missing_fills`` (a venue query reported more filled quantity than the
        fills received: fetch the trades).
        """
        pending = []
        for o in self._orders.values():
            reason = None
            if o.state is S.UNKNOWN:
                reason = "unknown_outcome"
            elif o.state not in TERMINAL and o.not_found_since_ms is not None:
                reason = "not_found"
            elif (
                o.state is S.SUBMITTED
                and o.submitted_ms is not None
                and now_ms - o.submitted_ms >= self._grace_ms
            ):
                reason = "unacknowledged"
            elif o.venue_filled_qty > o.filled_qty:
                reason = "missing_fills"
            if reason is not None:
                pending.append(Pending(o.client_id, reason))
        return pending

    def snapshot(self) -> dict[str, Any]:
        """Return the whole state as JSON-compatible data (decimals as strings), for comparison."""
        return {
            "grace_ms": self._grace_ms,
            "orders": {
                cid: {
                    "run_id": o.run_id,
                    "symbol": o.symbol,
                    "side": o.side,
                    "order_type": o.order_type,
                    "qty": str(o.qty),
                    "limit_price": _opt_str(o.limit_price),
                    "decision_ts_ms": o.decision_ts_ms,
                    "seq": o.seq,
                    "state": o.state.value,
                    "created_ms": o.created_ms,
                    "submitted_ms": o.submitted_ms,
                    "venue_order_id": o.venue_order_id,
                    "filled_qty": str(o.filled_qty),
                    "notional": str(o.notional),
                    "venue_filled_qty": str(o.venue_filled_qty),
                    "not_found_since_ms": o.not_found_since_ms,
                    "reason": o.reason,
                    **_execution_snapshot(o),
                }
                for cid, o in self._orders.items()
            },
            "fills": [
                [f.client_id, f.trade_id, str(f.qty), str(f.price), f.ts_ms, f.source]
                + ([str(f.fee), f.fee_asset] if f.fee is not None else [])
                for f in self._fills.values()
            ],
            "positions": {sym: str(q) for sym, q in self._positions.items()},
            "anomalies": [list(a) for a in self._anomalies],
            "acknowledged": self._acknowledged,
        }

    # -- commands --------------------------------------------------------------------------

    def create(self, intent: Intent, now_ms: int) -> list[Event]:
        """Create the order of ``intent`` (state NEW) and return its ``order_created`` event.

        Idempotent: an intent whose order already exists returns ``[]``.

        Raises
        ------
        HaltedError, OverfillError
            If the manager is halted (fail closed: no new orders).
        IntentConflictError
            If the intent's client id belongs to an order created from a different intent.
        """
        _check_now(now_ms)
        self.ensure_healthy()
        cid = intent.client_id
        existing = self._orders.get(cid)
        if existing is not None:
            if existing.matches(intent):
                return []
            raise IntentConflictError(
                f"intent {intent} maps to client id {cid!r} of a different order {existing}"
            )
        if intent.group is not None:
            self._check_group(intent)
        payload = {
            "run_id": intent.run_id,
            "symbol": intent.symbol,
            "side": intent.side,
            "order_type": intent.order_type,
            "qty": str(intent.qty),
            "limit_price": _opt_str(intent.limit_price),
            "decision_ts_ms": intent.decision_ts_ms,
            "seq": intent.seq,
        }
        payload.update(_exit_fields(intent))
        return self._emit("order_created", cid, payload, now_ms)

    def group(self, group: str) -> list[Order]:
        """The orders of an OCO group, in creation order."""
        return [o for o in self._orders.values() if o.group == group]

    def group_cancels(self) -> list[str]:
        """Client ids of the open orders an OCO group must cancel now, in creation order.

        A group is one unit: once one of its orders has filled (even partly) or ended
        (cancelled, expired, rejected), every other open order of the group is to be cancelled
        (a NEW one withdrawn). A venue with native OCO does it itself and reports the
        cancellations (then this is empty); for any other venue the runner cancels these.
        """
        out: list[str] = []
        groups: dict[str, list[Order]] = {}
        for o in self._orders.values():
            if o.group is not None:
                groups.setdefault(o.group, []).append(o)
        for members in groups.values():
            done = [o for o in members if o.state in TERMINAL or o.effective_filled_qty > 0]
            if done:
                out += [o.client_id for o in members if o not in done and o.state not in TERMINAL]
        return out

    def _check_group(self, intent: Intent) -> None:
        members = self.group(str(intent.group))
        for o in members:
            if (o.symbol, o.side) != (intent.symbol, intent.side):
                raise IntentConflictError(
                    f"OCO group {intent.group!r} holds {o.side} {o.symbol} orders; "
                    f"{intent.client_id} is a {intent.side} {intent.symbol} order"
                )
        if any(o.state in TERMINAL or o.effective_filled_qty > 0 for o in members):
            raise IntentConflictError(
                f"OCO group {intent.group!r} has already been triggered or ended; start a new group"
            )

    def mark_submitted(self, client_id: str, now_ms: int) -> list[Event]:
        """Record that the create request of a NEW order is being sent (NEW -> SUBMITTED).

        Call it before sending. Any other state raises :class:`IllegalTransition`: in
        particular an UNKNOWN order is resolved by a query, never by sending it again.
        """
        _check_now(now_ms)
        order = self.order(client_id)
        check_transition(client_id, order.state, S.SUBMITTED, "submit")
        return self._emit("order_submitted", client_id, {"to": S.SUBMITTED.value}, now_ms)

    def apply(self, report: Report, now_ms: int) -> list[Event]:
        """Merge a venue report into the book and return the events it caused (maybe none).

        Raises
        ------
        UnknownOrderError
            If the report names an order the manager does not hold.
        IllegalTransition
            If the report contradicts the state machine (an ack or a fill for an order never
            submitted, a reject after an ack ...).
        InvalidReportError
            If a field of the report is unusable.
        """
        _check_now(now_ms)
        if not isinstance(report, Report):
            raise InvalidReportError(f"not a venue report: {report!r}")
        try:
            order = self._orders[report.client_id]
        except KeyError:
            raise UnknownOrderError(report.client_id, type(report).__name__) from None
        if isinstance(report, Ack):
            return self._on_ack(order, report, now_ms)
        if isinstance(report, FillReport):
            return self._on_fill(order, report, now_ms)
        if isinstance(report, NotFound):
            return self._on_not_found(order, now_ms)
        if isinstance(report, QueryResult):
            return self._on_query(order, report, now_ms)
        targets = {
            Cancelled: S.CANCELLED,
            Rejected: S.REJECTED,
            Expired: S.EXPIRED,
            Timeout: S.UNKNOWN,
        }
        target = targets[type(report)]
        reason = report.reason
        to = _target(order, target, type(report).__name__.lower())
        if to is None:
            return []
        return self._emit(
            _STATE_EVENT[to], order.client_id, {"to": to.value, "reason": reason}, now_ms
        )

    def _on_ack(self, order: Order, report: Ack, now_ms: int) -> list[Event]:
        to = _target(order, S.ACKNOWLEDGED, "ack")
        news = report.venue_order_id is not None and order.venue_order_id is None
        if to is None and not news and order.state is not S.REJECTED:
            return []
        payload = {"to": _opt_state(to), "venue_order_id": report.venue_order_id}
        return self._emit("order_acknowledged", order.client_id, payload, now_ms)

    def _on_fill(self, order: Order, report: FillReport, now_ms: int) -> list[Event]:
        if not isinstance(report.trade_id, str) or not report.trade_id:
            raise InvalidReportError(f"fill trade_id must be a non-empty string: {report!r}")
        qty = to_decimal(report.qty, f"fill {report.trade_id} qty")
        price = to_decimal(report.price, f"fill {report.trade_id} price")
        if (order.client_id, report.trade_id) in self._fills:
            return []  # the same trade, delivered again (websocket and REST)
        cum = max(order.filled_qty + qty, order.venue_filled_qty)
        to = _target(order, S.FILLED if cum >= order.qty else S.PARTIALLY_FILLED, "fill")
        payload = {
            "to": _opt_state(to),
            "trade_id": report.trade_id,
            "qty": str(qty),
            "price": str(price),
            "source": report.source,
        }
        if report.fee is not None:
            payload["fee"] = str(
                to_decimal(report.fee, f"fill {report.trade_id} fee", positive=False)
            )
            payload["fee_asset"] = report.fee_asset
        return self._emit("order_fill", order.client_id, payload, now_ms)

    def _on_not_found(self, order: Order, now_ms: int) -> list[Event]:
        if order.state in TERMINAL or order.state is S.NEW or order.submitted_ms is None:
            return []  # venues forget old orders; a NEW order was never sent
        age = now_ms - order.submitted_ms
        if age < self._grace_ms:
            if order.not_found_since_ms is not None:
                return []
            return self._emit("order_not_found", order.client_id, {"age_ms": age}, now_ms)
        never_seen = order.state in (S.SUBMITTED, S.UNKNOWN) and order.venue_order_id is None
        to = S.REJECTED if never_seen else S.CANCELLED
        check_transition(order.client_id, order.state, to, "not_found")
        reason = f"not found {age} ms after submission (grace {self._grace_ms} ms)"
        return self._emit(
            _STATE_EVENT[to], order.client_id, {"to": to.value, "reason": reason}, now_ms
        )

    def _on_query(self, order: Order, report: QueryResult, now_ms: int) -> list[Event]:
        status = report.status
        if status not in _QUERY_STATUSES:
            raise InvalidReportError(
                f"query status must be one of {sorted(_QUERY_STATUSES)}: {report!r}"
            )
        filled = to_decimal(report.filled_qty, "query filled_qty", positive=False)
        if status is S.REJECTED and filled > 0:
            raise InvalidReportError(f"a rejected order cannot have fills: {report!r}")
        if status is S.FILLED and filled < order.qty:
            raise InvalidReportError(
                f"a FILLED order must report its full quantity {order.qty}: {report!r}"
            )
        if status in (S.ACKNOWLEDGED, S.PARTIALLY_FILLED):
            # The quantity decides between open, partially and fully filled.
            cum = max(filled, order.venue_filled_qty, order.filled_qty)
            status = (
                S.FILLED if cum >= order.qty else S.PARTIALLY_FILLED if cum > 0 else S.ACKNOWLEDGED
            )
        to = _target(order, status, "query")
        changed = (
            to is not None
            or filled > order.venue_filled_qty
            or (report.venue_order_id is not None and order.venue_order_id is None)
            or order.not_found_since_ms is not None
            or (order.state is S.REJECTED and status is not S.REJECTED)
        )
        if not changed:
            return []
        payload = {
            "to": _opt_state(to),
            "status": status.value,
            "venue_filled_qty": str(filled),
            "venue_order_id": report.venue_order_id,
        }
        return self._emit("order_status", order.client_id, payload, now_ms)

    # -- events ----------------------------------------------------------------------------

    @classmethod
    def replay(
        cls, events: Iterable[Mapping[str, Any] | Any], *, grace_ms: int = DEFAULT_GRACE_MS
    ) -> OrderManager:
        """Rebuild a manager from the events its commands returned, in their order.

        ``events`` may be dicts (``kind``, ``stream``, ``payload``, ``ts_ms``) or objects with
        those attributes (the event store's ``Event``). Events of other kinds (not starting
        with ``order_``) are skipped, so a whole run's log can be passed.

        Raises
        ------
        ReplayError, IllegalTransition, UnknownOrderError
            If the log is inconsistent (a broken or tampered log must not yield a state).
        """
        manager = cls(grace_ms=grace_ms)
        for event in events:
            manager.apply_event(event)
        return manager

    def apply_event(self, event: Mapping[str, Any] | Any) -> None:
        """Apply one recorded event (see :meth:`replay`)."""
        if isinstance(event, Mapping):
            kind, stream, payload, ts = (
                event.get(k) for k in ("kind", "stream", "payload", "ts_ms")
            )
        else:
            kind, stream, payload, ts = (
                getattr(event, k, None) for k in ("kind", "stream", "payload", "ts_ms")
            )
        if kind == "resumed":
            self.acknowledge()
            return
        if not isinstance(kind, str) or not kind.startswith("order_"):
            return
        if not isinstance(stream, str) or not isinstance(payload, Mapping):
            raise ReplayError(f"event {kind!r} needs a str stream and a dict payload: {event!r}")
        if isinstance(ts, bool) or not isinstance(ts, int) or ts < 0:
            raise ReplayError(f"event {kind!r} of {stream!r} has a bad ts_ms: {ts!r}")
        try:
            self._apply(kind, stream, payload, ts)
        except (KeyError, TypeError, ValueError) as e:
            if isinstance(e, UnknownOrderError | ReplayError | InvalidReportError):
                raise
            raise ReplayError(f"event {kind!r} of {stream!r} is malformed: {e!r}") from e

    def _emit(self, kind: str, stream: str, payload: dict[str, Any], now_ms: int) -> list[Event]:
        event: Event = {"kind": kind, "stream": stream, "payload": payload, "ts_ms": now_ms}
        self._apply(kind, stream, payload, now_ms)
        return [event]

    def _apply(self, kind: str, stream: str, p: Mapping[str, Any], ts: int) -> None:
        # Validate everything first, mutate last: a raising event leaves the state untouched.
        if kind == "order_created":
            self._apply_created(stream, p, ts)
            return
        try:
            old = self._orders[stream]
        except KeyError:
            raise UnknownOrderError(stream, f"event {kind!r}") from None
        order = old
        to = p.get("to")
        if to is not None:
            target = OrderState(to)
            check_transition(stream, old.state, target, kind)
            order = replace(order, state=target)
        order, fill, new_anomalies = self._fold(kind, stream, order, old.state, p, ts)
        if order.overfilled and not old.overfilled:
            new_anomalies.append(
                Anomaly(stream, "overfill", f"filled {order.effective_filled_qty} of {order.qty}")
            )
        # Mutation starts here.
        self._orders[stream] = order
        self._anomalies.extend(new_anomalies)
        if fill is not None:
            self._fills[(stream, fill.trade_id)] = fill
            signed = fill.qty if order.side == "buy" else -fill.qty
            self._positions[order.symbol] = self.position(order.symbol) + signed

    def _fold(
        self,
        kind: str,
        stream: str,
        order: Order,
        before: OrderState,
        p: Mapping[str, Any],
        ts: int,
    ) -> tuple[Order, Fill | None, list[Anomaly]]:
        """``order`` (its transition applied) after one event of ``kind``, the fill it books
        and the anomalies it shows; ``before`` is the state the event found. Mutates nothing."""
        new_anomalies: list[Anomaly] = []
        fill: Fill | None = None
        if kind == "order_submitted":
            order = replace(order, submitted_ms=ts)
        elif kind == "order_acknowledged":
            order = replace(
                order,
                venue_order_id=order.venue_order_id or p["venue_order_id"],
                not_found_since_ms=None,
            )
            if before is S.REJECTED:
                new_anomalies.append(
                    Anomaly(stream, "ack_on_rejected", "the venue acknowledged a rejected order")
                )
        elif kind == "order_fill":
            order, fill = self._fold_fill(stream, order, p, ts)
            if before is S.REJECTED:
                new_anomalies.append(
                    Anomaly(
                        stream, "fill_on_rejected", f"trade {fill.trade_id} filled a rejected order"
                    )
                )
        elif kind == "order_status":
            status = OrderState(p["status"])
            order = replace(
                order,
                venue_filled_qty=max(order.venue_filled_qty, Decimal(p["venue_filled_qty"])),
                venue_order_id=order.venue_order_id or p["venue_order_id"],
                not_found_since_ms=None,
            )
            if before is S.REJECTED and status is not S.REJECTED:
                new_anomalies.append(
                    Anomaly(
                        stream,
                        "alive_on_rejected",
                        f"the venue reports a rejected order as {status}",
                    )
                )
        elif kind == "order_not_found":
            if order.not_found_since_ms is None:
                order = replace(order, not_found_since_ms=ts)
        elif kind in _STATE_EVENT.values():
            order = replace(order, reason=str(p["reason"]))
        else:
            raise ReplayError(f"unknown event kind {kind!r} for order {stream!r}")
        return order, fill, new_anomalies

    def _fold_fill(
        self, stream: str, order: Order, p: Mapping[str, Any], ts: int
    ) -> tuple[Order, Fill]:
        """``order`` after an ``order_fill`` event, and the fill (a repeated trade raises)."""
        fill = Fill(
            stream,
            str(p["trade_id"]),
            Decimal(p["qty"]),
            Decimal(p["price"]),
            ts,
            str(p["source"]),
            None if p.get("fee") is None else Decimal(p["fee"]),
            p.get("fee_asset"),
        )
        if (stream, fill.trade_id) in self._fills:
            raise ReplayError(f"event 'order_fill' of {stream!r} repeats trade {fill.trade_id!r}")
        order = replace(
            order,
            filled_qty=order.filled_qty + fill.qty,
            notional=order.notional + fill.qty * fill.price,
            not_found_since_ms=None,
        )
        return order, fill

    def _apply_created(self, stream: str, p: Mapping[str, Any], ts: int) -> None:
        if stream in self._orders:
            raise ReplayError(f"event 'order_created' repeats order {stream!r}")
        intent = Intent(
            run_id=p["run_id"],
            symbol=p["symbol"],
            side=p["side"],
            qty=p["qty"],
            decision_ts_ms=p["decision_ts_ms"],
            seq=p["seq"],
            order_type=p["order_type"],
            limit_price=p["limit_price"],
            reduce_only=bool(p.get("reduce_only", False)),
            tag=p.get("tag"),
            trigger_price=p.get("trigger_price"),
            trigger_ts_ms=p.get("trigger_ts_ms"),
            stop_price=p.get("stop_price"),
            time_in_force=p.get("time_in_force"),
            post_only=bool(p.get("post_only", False)),
            group=p.get("group"),
            trailing_pct=p.get("trailing_pct"),
        )
        cid = intent.client_id
        if cid != stream:
            raise ReplayError(f"event 'order_created' of {stream!r} holds the intent of {cid!r}")
        self._orders[stream] = Order(
            client_id=stream,
            run_id=intent.run_id,
            symbol=intent.symbol,
            side=intent.side,
            order_type=intent.order_type,
            qty=intent.qty,
            limit_price=intent.limit_price,
            decision_ts_ms=intent.decision_ts_ms,
            seq=intent.seq,
            state=S.NEW,
            created_ms=ts,
            reduce_only=intent.reduce_only,
            tag=intent.tag,
            trigger_price=intent.trigger_price,
            trigger_ts_ms=intent.trigger_ts_ms,
            stop_price=intent.stop_price,
            time_in_force=intent.time_in_force,
            post_only=intent.post_only,
            group=intent.group,
            trailing_pct=intent.trailing_pct,
        )


def _execution_snapshot(o: Order | Intent) -> dict[str, Any]:
    """The fields of an order's type extras, set ones only (absent for plain orders)."""
    out: dict[str, Any] = {}
    if o.stop_price is not None:
        out["stop_price"] = str(o.stop_price)
    if o.time_in_force is not None:
        out["time_in_force"] = o.time_in_force
    if o.post_only:
        out["post_only"] = True
    if o.group is not None:
        out["group"] = o.group
    if o.trailing_pct is not None:
        out["trailing_pct"] = str(o.trailing_pct)
    return out


def _exit_fields(intent: Intent) -> dict[str, Any]:
    """The ``order_created`` fields of a runner-made exit and of the order's type extras
    (absent for a strategy's plain order, so those events read as before)."""
    out: dict[str, Any] = {}
    if intent.reduce_only:
        out["reduce_only"] = True
    if intent.tag is not None:
        out["tag"] = intent.tag
    if intent.trigger_price is not None:
        out["trigger_price"] = str(intent.trigger_price)
    if intent.trigger_ts_ms is not None:
        out["trigger_ts_ms"] = intent.trigger_ts_ms
    out.update(_execution_snapshot(intent))
    return out


def _check_now(now_ms: int) -> None:
    if isinstance(now_ms, bool) or not isinstance(now_ms, int) or now_ms < 0:
        raise ConfigError(f"now_ms must be an int >= 0 (ms since the epoch), got {now_ms!r}")


def _opt_state(state: OrderState | None) -> str | None:
    return None if state is None else state.value


def _target(order: Order, target: OrderState, event: str) -> OrderState | None:
    """Return the state a venue update moves ``order`` to, ``None`` if it is stale or a repeat.

    Raise :class:`IllegalTransition` if the update is news the state machine does not allow.
    """
    if target is order.state or is_stale(order.state, target):
        return None
    check_transition(order.client_id, order.state, target, event)
    return target
