"""Position stops held by the venue: native stop orders placed, replaced, reconciled and
cancelled by the runner (``live.stop_policy`` ``auto`` or ``native``; see
:class:`~live.orders.StopPolicy` for which stop goes native on which venue).

The engine book stays the one source of the levels (armed at the fill that opens a position,
restored from the log after a restart, see :mod:`live.runner._stops`). This layer keeps the
venue's open stop orders equal to them (:meth:`NativeStops._sync_native`), at the start (after
reconciliation, before the strategy runs), before each bar's close and after each decision:

- a position with no native stop gets them: reduce-only exits, the stop-loss and the
  take-profit as one OCO list where the adapter sends one (Binance spot), else as two orders
  of one group (the runner cancels the sibling, :meth:`~live.orders.OrderManager.group_cancels`);
- a position whose size or levels changed gets them replaced (cancel, then create); a flat
  symbol gets its stops cancelled;
- a stop-limit leg that triggered (its list's other leg expired) but rests at its limit, for the
  position it was placed for, is left working: it is the exit (``Stops.stop_limit_offset``
  backtests it);
- an order of the runner's own on the stops' side (the strategy's exit, an emulated stop's
  exit, a flatten) cancels that symbol's native stops first: on spot they lock the balance the
  exit sells.

Client ids are deterministic: ``(run_id, symbol, bar of the placement, NATIVE_SEQ + 3 × revision
+ kind)``, the revision the first one free in the log. Every stop is ``order_created`` in the
log (with a ``stops_placed`` record) before it is sent, so a restart finds it by its client id
(queried by the reconciliation) and never sends a second; a crash before that leaves nothing on
the venue, and the restart places it.

While the kill switch is engaged nothing is placed: the switch cancels every open order, the
native stops included (with ``--flatten`` the positions are closed; without, they are left
unprotected until a resume, which places their stops again).

A venue that refuses a native stop (``order_rejected``, alerted): in ``auto`` mode the stop
falls back to the runner (emulated, a ``stop_fallback`` event; for this process's life, a
restart tries native again); in ``native`` mode the run fails closed: the position is
flattened and the run halts, naming the refusal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Literal, cast

from live.orders import (
    Cancelled,
    HaltedError,
    Intent,
    Order,
    OrderState,
    Rejected,
    Report,
    StopPlacement,
    Timeout,
    UnknownOrderError,
    client_order_id,
)
from live.runner._stops import EmulatedStops
from live.runner.spec import FLATTEN_SEQ, KILL_SEQ, MANUAL_SEQ, RETRYABLE_REJECT, lot_qty
from live.venues.base import OcoVenue, OrderRequest
from live.venues.errors import GiveUp, OrderMissing, OutcomeUnknown, RetryLater

__all__ = ["NATIVE_CRASH_POINTS", "NATIVE_SEQ", "NativeStops"]

NATIVE_SEQ = 40_000
"""Native stop orders take seq ``NATIVE_SEQ + 3 * revision + kind`` (see the module doc)."""
NATIVE_CRASH_POINTS = ("native_created",)
"""After a position's native stops are persisted (``order_created``), before they are sent."""
FALLBACK_FLATTEN_SEQ = KILL_SEQ + 5_000  # a native-mode refusal's flatten

_KIND_INDEX = {"stop_loss": 0, "take_profit": 1, "trailing_stop": 2}
_ENGINE_KIND = {"stop_loss": "stop_loss", "take_profit": "take_profit", "trailing": "trailing_stop"}
_OPEN_SENT = (OrderState.ACKNOWLEDGED, OrderState.PARTIALLY_FILLED)


def is_native(order: Order) -> bool:
    """Whether ``order`` is one of the runner's native position stops."""
    return order.tag in _KIND_INDEX and order.seq >= NATIVE_SEQ


class NativeStops(EmulatedStops):
    """Native position stops (see the module docstring)."""

    def _init_stops(self) -> None:
        super()._init_stops()
        self._native: dict[str, StopPlacement] = {}  # engine stop kind -> how it is placed
        self._fallback: set[tuple[str, str]] = set()  # (symbol, kind) emulated after a refusal
        if self._stops_on:
            # native mode: a stop the adapter cannot hold is a ConfigError here (no start).
            plan = self.spec.stop_policy.plan(
                self.spec.engine.stops, self.venue.capabilities, self.venue.name
            )
            self._native = {_ENGINE_KIND[p.kind]: p for p in plan if p.how == "native"}

    def _emulates(self, asset: int, kind: str) -> bool:
        return kind not in self._native or (self.spec.symbols[asset], kind) in self._fallback

    # -- the driver's points ----------------------------------------------------------------

    async def _execute_pending(self) -> None:
        await super()._execute_pending()
        await self._sync_native()

    async def _send(self, cid: str, *, force: bool = False) -> None:
        order = self.om.order(cid)
        if order.state is not OrderState.NEW:
            return
        if is_native(order):
            if order.group is not None and self.venue.capabilities.oco:
                await self._send_oco(order.group)
                return
            await super()._send(cid, force=True)  # protective: sent while halted too
            return
        if self.halted and not (force or FLATTEN_SEQ <= order.seq < MANUAL_SEQ):
            return  # stays NEW (see RunnerBase._send): its stops stay too
        await self._cancel_native(order.symbol, side=order.side)
        await super()._send(cid, force=force)

    # -- keeping the venue's stops equal to the book's --------------------------------------

    async def _sync_native(self) -> None:
        """Place, replace or cancel native stops so the venue holds the book's levels."""
        if not self._native or self.book is None or self._killed is not None:
            return
        natives = [o for o in self.om.open_orders() if is_native(o)]
        if any(o.state in (OrderState.SUBMITTED, OrderState.UNKNOWN) for o in natives):
            await self.resolve(wait=True)  # by client id: never a second stop for one
        if not self.venue.capabilities.stream_orders:
            for o in [o for o in self.om.open_orders() if is_native(o)]:
                if o.state in _OPEN_SENT:
                    await self._resolve_one(o.client_id, "reconcile")  # triggered meanwhile?
        wanted = self._wanted()
        for symbol in self.spec.symbols:
            have = [o for o in self.om.open_orders() if is_native(o) and o.symbol == symbol]
            legs = wanted.get(symbol, [])
            if self._resting_exit(have, legs):
                continue  # a triggered stop-limit works as the position's exit: left alone
            if _same_set(have, legs):
                for o in have:
                    if o.state is OrderState.NEW:  # persisted, never sent (a crash)
                        await self._send(o.client_id)
                continue
            await self._cancel_native(symbol)
            left = [o for o in self.om.open_orders() if is_native(o) and o.symbol == symbol]
            if legs and not left:  # a cancel that failed: never a second set beside it
                await self._place(symbol, legs)

    def _resting_exit(self, have: list[Order], legs: list[dict[str, Any]]) -> bool:
        """Whether ``have`` is one stop-limit leg of an OCO list whose other leg the venue
        ended unfilled (Binance expires it when this one triggers), at the book's levels and
        for what the position still holds (a part may have filled): triggered, it rests at its
        limit until the market comes back (a gap past the limit). A new list would be refused
        (its stop already passed) and, in native mode, flatten at market what the stop-limit
        was told not to sell beyond its limit."""
        if len(have) != 1 or not self.venue.capabilities.oco:
            return False
        o = have[0]
        if o.order_type != "stop_limit" or o.group is None or o.state not in _OPEN_SENT:
            return False
        others = [x for x in self.om.group(o.group) if x.client_id != o.client_id]
        ended = bool(others) and all(
            x.state in (OrderState.EXPIRED, OrderState.CANCELLED) and x.effective_filled_qty == 0
            for x in others
        )
        return ended and any(
            (leg["tag"], leg["side"], leg.get("stop_price"), leg.get("limit_price"), leg["qty"])
            == (o.tag, o.side, o.stop_price, o.limit_price, o.remaining_qty)
            for leg in legs
        )

    def _wanted(self) -> dict[str, list[dict[str, Any]]]:
        """The native stop orders each open position should have (``Intent`` fields)."""
        assert self.book is not None
        out: dict[str, list[dict[str, Any]]] = {}
        stops = self.spec.engine.stops
        for s in self.book.stop_levels():
            j = self.spec.symbols.index(s.symbol)
            qty = lot_qty(abs(s.position), self._lots[j])
            if qty <= 0:
                continue
            side: Literal["buy", "sell"] = "sell" if s.position > 0 else "buy"
            levels = {"stop_loss": s.stop_loss, "take_profit": s.take_profit,
                      "trailing_stop": s.trailing}  # fmt: skip
            legs = []
            for kind, placement in self._native.items():
                level = levels[kind]
                if (s.symbol, kind) in self._fallback or not math.isfinite(level):
                    continue
                leg: dict[str, Any] = {"order_type": placement.order_type, "side": side,
                                       "qty": qty, "tag": kind}  # fmt: skip
                if kind == "trailing_stop":  # the venue trails from now on
                    leg["trailing_pct"] = Decimal(repr(float(stops.trailing or 0) * 100))
                else:
                    stop = self._on_tick(j, level, side, kind)
                    leg["stop_price"] = stop
                    if placement.order_type == "stop_limit":
                        off = Decimal(repr(self.spec.stop_policy.stop_limit_offset))
                        limit = stop * (1 - off) if side == "sell" else stop * (1 + off)
                        leg["limit_price"] = self._on_tick(j, float(limit), side, "take_profit")
                    elif placement.order_type == "take_profit_limit":
                        leg["limit_price"] = stop
                legs.append(leg)
            out[s.symbol] = legs
        return out

    def _on_tick(self, j: int, level: float, side: str, kind: str) -> Decimal:
        """A level on the venue's tick grid, rounded towards the market (a stop-loss fires no
        later than the book's level, a take-profit's limit stays marketable)."""
        price = Decimal(repr(float(level)))
        ticks = self._market_rules[1] if self._market_rules is not None else None
        tick = Decimal(repr(float(ticks[j]))) if ticks is not None else Decimal(0)
        if tick <= 0:
            return price
        up = (side == "sell") == (kind != "take_profit")  # a sell's stop is below: round up
        steps = (price / tick).to_integral_value(ROUND_CEILING if up else ROUND_FLOOR)
        return (steps * tick).normalize()

    async def _place(self, symbol: str, legs: list[dict[str, Any]]) -> None:
        """Create a position's stops (persisted in one transaction), then send them."""
        ts = self.last_closed_ts or 0
        rev = 0
        while True:
            intents = [
                Intent(self.spec.run_id, symbol, decision_ts_ms=ts, reduce_only=True,
                       seq=NATIVE_SEQ + 3 * rev + _KIND_INDEX[leg["tag"]], **leg)
                for leg in legs
            ]  # fmt: skip
            if not any(self._known(i.client_id) for i in intents):
                break
            rev += 1
        pair = {leg["tag"] for leg in legs} == {"stop_loss", "take_profit"}
        if pair:  # one unit: the first leg's id names it
            group = intents[0].client_id
            intents = [_with_group(i, group) for i in intents]
        try:
            events = [e for i in intents for e in self.om.create(i, self.clock())]
        except HaltedError as e:
            await self._halt(f"position stops of {symbol} could not be placed: {e}")
            return
        placed = {"symbol": symbol, "ts": ts, "legs": [_leg_payload(i) for i in intents]}
        self.store.append_many(
            [("stops_placed", "runner", placed, self.clock())]
            + [(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in events]
        )
        self.summary.orders += len(events)
        self.hook("native_created")
        for i in intents:
            await self._send(i.client_id)
        refused = [self.om.order(i.client_id) for i in intents]
        refused = [o for o in refused if _refused(o)]
        if refused:
            await self._on_refused(symbol, refused)

    def _known(self, cid: str) -> bool:
        try:
            self.om.order(cid)
        except UnknownOrderError:
            return False
        return True

    async def _cancel_native(self, symbol: str, side: str | None = None) -> None:
        """Cancel ``symbol``'s open native stops (only those on ``side`` when given); a NEW one
        is withdrawn (never sent)."""
        for o in [o for o in self.om.open_orders() if is_native(o) and o.symbol == symbol]:
            if side is not None and o.side != side:
                continue
            if o.state is OrderState.NEW:
                self._persist_om(self.om.apply(Cancelled(o.client_id, "withdrawn"), self.clock()))
                continue
            try:
                reports = await self.venue.cancel(o.symbol, o.client_id)
            except OrderMissing:
                reports = [Cancelled(o.client_id, "not on the venue")]
                await self._resolve_one(o.client_id, "reconcile")
                continue
            except (RetryLater, OutcomeUnknown, GiveUp) as e:
                self._append([("cancel_failed", o.client_id, {"reason": str(e)[:200]})])
                continue
            self._apply_reports(reports)
            after = self.om.order(o.client_id)
            if after.venue_filled_qty > after.filled_qty:
                await self._fetch_order_fills(o.client_id)  # it fired before the cancel

    # -- sending an OCO ----------------------------------------------------------------------

    async def _send_oco(self, group: str) -> None:
        """Send a NEW stop-loss / take-profit pair as one venue OCO list."""
        legs = [o for o in self.om.group(group) if o.state is OrderState.NEW]
        if len(legs) != 2:  # a lone NEW leg is no exit pair: withdraw it, the sync re-places
            for o in legs:
                self._persist_om(self.om.apply(Cancelled(o.client_id, "withdrawn"), self.clock()))
            return
        for o in legs:
            self._persist_om(self.om.mark_submitted(o.client_id, self.clock()))
        self.hook("before_send")
        venue = cast(OcoVenue, self.venue)  # capabilities.oco: the adapter declares it
        try:
            reports: Sequence[Report] = await venue.submit_oco([_request(o) for o in legs])
        except OutcomeUnknown as e:
            self.hook("after_send")
            for o in legs:
                self._persist_om(self.om.apply(Timeout(o.client_id, str(e)[:200]), self.clock()))
            return
        except RetryLater as e:
            reports = [Rejected(o.client_id, f"not accepted: {str(e)[:200]}") for o in legs]
        except GiveUp as e:
            reports = [Rejected(o.client_id, str(e)[:200]) for o in legs]
        self.hook("after_send")
        self._apply_reports(reports)

    # -- refusals ---------------------------------------------------------------------------

    async def _on_refused(self, symbol: str, refused: list[Order]) -> None:
        """A venue refused native stops: emulate them (``auto``), or flatten and halt."""
        why = "; ".join(f"{o.tag}: {o.reason}" for o in refused)[:400]
        kinds = sorted({str(o.tag) for o in refused})
        if self.spec.stop_policy.mode == "native":
            self._append([("stop_fallback", "runner", {"symbol": symbol, "kinds": kinds,
                                                        "reason": why, "action": "flatten"})])  # fmt: skip
            await self._flatten_symbol(symbol)
            await self._halt(f"native stop refused by {self.venue.name} for {symbol}: {why}")
            return
        self._fallback.update((symbol, k) for k in kinds)
        self._append([("stop_fallback", "runner", {"symbol": symbol, "kinds": kinds,
                                                    "reason": why, "action": "emulated"})])  # fmt: skip
        legs = self._wanted().get(symbol, [])
        if legs:  # the kinds the venue did not refuse, alone (a pair's other leg)
            await self._cancel_native(symbol)
            await self._place(symbol, legs)

    async def _flatten_symbol(self, symbol: str) -> None:
        pos = self.om.position(symbol)
        if pos == 0:
            return
        ts = self.last_closed_ts or 0
        seq = FALLBACK_FLATTEN_SEQ
        while self._known(client_order_id(self.spec.run_id, symbol, ts, seq)):
            seq += 1
        side: Literal["buy", "sell"] = "sell" if pos > 0 else "buy"
        intent = Intent(self.spec.run_id, symbol, side, abs(pos), ts, seq=seq, reduce_only=True)
        self._persist_om(self.om.create(intent, self.clock()))
        await self._send(intent.client_id, force=True)


def _same_set(have: list[Order], legs: list[dict[str, Any]]) -> bool:
    """Whether the open native orders are exactly the wanted legs (any order)."""
    if len(have) != len(legs):
        return False
    left = list(legs)
    for o in have:
        match = next((leg for leg in left if _same(o, leg)), None)
        if match is None:
            return False
        left.remove(match)
    return True


def _same(o: Order, leg: Mapping[str, Any]) -> bool:
    return (o.order_type, o.side, o.qty, o.tag, o.stop_price, o.limit_price, o.trailing_pct) == (
        leg["order_type"], leg["side"], leg["qty"], leg["tag"], leg.get("stop_price"),
        leg.get("limit_price"), leg.get("trailing_pct"),
    )  # fmt: skip


def _refused(o: Order) -> bool:
    return o.state is OrderState.REJECTED and not (o.reason or "").startswith(RETRYABLE_REJECT)


def _with_group(i: Intent, group: str) -> Intent:
    from dataclasses import replace

    return replace(i, group=group)


def _leg_payload(i: Intent) -> dict[str, Any]:
    return {
        "kind": i.tag, "order_type": i.order_type, "client_id": i.client_id,
        "qty": str(i.qty), "stop_price": None if i.stop_price is None else str(i.stop_price),
        "limit_price": None if i.limit_price is None else str(i.limit_price),
        "trailing_pct": None if i.trailing_pct is None else str(i.trailing_pct),
        "group": i.group,
    }  # fmt: skip


def _request(o: Order) -> OrderRequest:
    return OrderRequest(
        o.client_id, o.symbol, o.side, o.qty, o.order_type, o.limit_price,
        reduce_only=o.reduce_only, stop_price=o.stop_price, time_in_force=o.time_in_force,
        post_only=o.post_only, trailing_pct=o.trailing_pct,
    )  # fmt: skip
