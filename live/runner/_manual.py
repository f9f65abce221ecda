"""Manual orders: an operator's force entry, force exit and cancel (freqtrade's ``forceenter`` /
``forceexit``), always through the risk engine, recorded as manual in the log.

A request is a JSON file in the run's ``manual/`` folder (next to its ``KILL`` flag), written
atomically by the status API's ``POST /orders`` and ``POST /orders/{client_id}/cancel`` (control
scope) or by ``grekko-live order``; the running process takes them in name order::

    {"id": str, "action": "enter" | "exit" | "cancel", "symbol": str, "side": "buy" | "sell",
     "qty": str | null, "order_type": "market" | "limit", "limit_price": str | null,
     "client_id": str | null, "reason": str, "by": "api" | "cli", "ts_ms": int}

Each request is answered by one ``manual_order`` event (``source: "manual"``, the request, the
arrival price — the book's mid where the venue reads its book, its ``quote`` recorded — and the
``outcome``: ``sent``, ``refused`` with the rule and reason, or
``cancel_sent``), appended with the risk engine's events and the order's ``order_created`` in
one transaction, before anything is sent; the file is removed after. A request whose id the log
already answered is dropped (a crash between the two), so a request is acted on at most once.

The order: a market order of the run's account, booked in its engine book like the strategy's,
client id ``(run_id, symbol, last closed bar, MANUAL_SEQ + n)``. An entry is ``qty`` on
``side``; an exit closes the position (or ``qty`` of it). With ``order_type: "limit"`` it is a
limit order at ``limit_price`` rounded to the venue's tick away from the market (a buy down, a
sell up; :func:`~grekko_research.engine.algos.passive_price`), checked by the risk engine at
that price; it rests at the venue (GTC) until it fills, booked as its fills arrive like any
order's, or until a cancel. A limit takes no ``algo`` (an algorithm sets its own prices).

The risk engine decides as for the strategy's orders (no bypass: not protective, so a halted
run refuses it; ``grekko-live kill --flatten`` is the operator's exit while halted). A
malformed request is refused with the field it got wrong.
"""

from __future__ import annotations

import asyncio
import json
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import numpy as np

from grekko_research.engine.algos import passive_price
from grekko_research.errors import GrekkoError
from live.orders import Intent, NotFound, OrderState
from live.risk import ProposedOrder
from live.runner._native import NativeStops
from live.runner._quotes import read_quotes
from live.runner.spec import MANUAL_DIR, MANUAL_SEQ, lot_qty
from live.venues.errors import OrderMissing, VenueError

__all__ = ["ManualOrders", "manual_folder"]

ACTIONS = ("enter", "exit", "cancel")
ORDER_TYPES = ("market", "limit")


def request_record(request: dict[str, Any]) -> dict[str, Any]:
    """What a ``manual_order`` event records of a request (bounded text, decimals as strings)."""
    return {
        "source": "manual",
        "request_id": str(request.get("id")),
        "action": request.get("action"),
        "symbol": request.get("symbol"),
        "side": request.get("side"),
        "qty": None if request.get("qty") is None else str(request.get("qty")),
        "order_type": request.get("order_type") or "market",
        "limit_price": None if request.get("limit_price") is None
        else str(request.get("limit_price")),
        "reason": str(request.get("reason") or "")[:300],
        "by": str(request.get("by") or "?")[:40],
    }  # fmt: skip


def manual_folder(kill_file: Path) -> Path:
    """Where a run's manual-order requests wait: ``<state folder>/manual``."""
    return kill_file.parent / MANUAL_DIR


class ManualOrders(NativeStops):
    """Take manual-order requests from the run's ``manual/`` folder (see the module doc)."""

    _manual_task: asyncio.Task[None] | None = None
    _manual_answered: set[str] | None = None

    async def _watch_manual(self) -> None:
        """Take waiting requests every ``kill_poll_s`` (none without a state folder)."""
        if self.spec.kill_file is None:
            return
        folder = manual_folder(self.spec.kill_file)
        while True:
            for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
                await self.take_manual(path)
            await asyncio.sleep(self.spec.kill_poll_s)

    async def take_manual(self, path: Path) -> dict[str, Any] | None:
        """Answer the request in ``path`` (unless the log answered it already), then remove the
        file; return the ``manual_order`` payload logged (``None``: answered before)."""
        try:
            request = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            request = {"id": path.stem, "error": f"unreadable request {path.name}: {e}"[:300]}
        if not isinstance(request, dict):
            request = {"id": path.stem, "error": f"request {path.name} is not a JSON object"}
        rid = str(request.get("id") or path.stem)
        if self._manual_answered is None:
            self._manual_answered = {
                str(e.payload.get("request_id")) for e in self.store.read(kinds=["manual_order"])
            }
        if rid in self._manual_answered:
            path.unlink(missing_ok=True)
            return None
        try:
            payload = await self.manual_order({**request, "id": rid})
        except (GrekkoError, VenueError) as e:  # fail closed: nothing more is sent for it
            base = {"source": "manual", "request_id": rid, "action": request.get("action")}
            payload = self._refuse(base, "error", f"{type(e).__name__}: {e}")
        self._manual_answered.add(rid)
        path.unlink(missing_ok=True)
        return payload

    async def manual_order(self, request: dict[str, Any]) -> dict[str, Any]:
        """Check, record and act on one request; return the ``manual_order`` payload."""
        record = request_record(request)
        problem = request.get("error") or self._malformed(request)
        if problem is not None:
            return self._refuse(record, "request", str(problem))
        if request["action"] == "cancel":
            return await self._manual_cancel(record, str(request.get("client_id") or ""))
        return await self._manual_trade(record, request)

    def _malformed(self, r: dict[str, Any]) -> str | None:
        action = r.get("action")
        if action not in ACTIONS:
            return f"action must be one of {list(ACTIONS)}, got {action!r}"
        if action == "cancel":
            if r.get("client_id") and r.get("parent_id"):
                return "a cancel takes the order's client_id or a parent's parent_id, not both"
            if r.get("client_id") or r.get("parent_id"):
                return None
            return "a cancel needs the order's client_id (or a parent's parent_id)"
        if r.get("symbol") not in self.spec.symbols:
            return f"symbol must be one of the run's {list(self.spec.symbols)}, got {r.get('symbol')!r}"
        if action == "enter" and r.get("side") not in ("buy", "sell"):
            return f"an entry needs side buy or sell, got {r.get('side')!r}"
        problem = _malformed_limit(r)
        if problem is not None:
            return problem
        if r.get("qty") is None:
            return None if action == "exit" else "an entry needs qty"
        try:
            qty = Decimal(str(r["qty"]))
        except InvalidOperation:
            return f"qty must be a number, got {r['qty']!r}"
        return None if qty.is_finite() and qty > 0 else f"qty must be > 0, got {r['qty']!r}"

    def _refuse(
        self, record: dict[str, Any], rule: str, reason: str, drafts: list[Any] | None = None
    ) -> dict[str, Any]:
        payload = {**record, "outcome": "refused", "rule": rule, "refusal": reason[:300]}
        self._append([("manual_order", "runner", payload), *(drafts or [])])
        return payload

    def _sized(
        self, record: dict[str, Any], r: dict[str, Any]
    ) -> tuple[Literal["buy", "sell"], Decimal] | dict[str, Any]:
        """The side and lot-floored quantity of an entry or exit request (an exit closes the
        position, or ``qty`` of it), or the payload of its refusal (logged)."""
        symbol = str(r["symbol"])
        j = self.spec.symbols.index(symbol)
        if self.book is None or self.last_closed_ts is None:
            return self._refuse(record, "not_ready", "no bar closed yet: the run has no book")
        held = self.om.position(symbol)
        want = None if r.get("qty") is None else Decimal(str(r["qty"]))
        side: Literal["buy", "sell"]
        if r["action"] == "exit":
            if held == 0:
                return self._refuse(record, "no_position", f"no {symbol} position to exit")
            side = "sell" if held > 0 else "buy"
            want = abs(held) if want is None else min(want, abs(held))
        else:
            side = "buy" if r["side"] == "buy" else "sell"
        assert want is not None
        qty = lot_qty(float(want), self._lots[j])
        if qty <= 0:
            return self._refuse(record, "lot", f"{want} is below one lot ({self._lots[j]})")
        return side, qty

    async def _arrival(self, symbol: str, record: dict[str, Any]) -> float:
        """The order's arrival price: the book's mid where the venue reads its book (as for
        the strategy's orders, ``live.runner._quotes``; recorded as ``quote``), else the
        venue's reference price (which a quote that fails or is late falls back to)."""
        price = float(await self.venue.reference_price(symbol))
        if self.venue.capabilities.order_book and self.spec.quote_timeout_ms > 0:
            (quote,), _ = await read_quotes(self.venue, [symbol], self.spec.quote_timeout_ms)
            if quote is not None:
                record["quote"] = quote
                price = (quote[0] + quote[1]) / 2
        return price

    async def _manual_trade(self, record: dict[str, Any], r: dict[str, Any]) -> dict[str, Any]:
        sized = self._sized(record, r)
        if isinstance(sized, dict):
            return sized
        side, qty = sized
        symbol = str(r["symbol"])
        j = self.spec.symbols.index(symbol)
        try:
            price = await self._arrival(symbol, record)
        except VenueError as e:
            return self._refuse(record, "price", f"no price for {symbol}: {e}"[:300])
        ts = self.last_closed_ts or 0
        seq = MANUAL_SEQ
        taken = {(o.symbol, o.decision_ts_ms, o.seq) for o in self.om.orders()}
        while (symbol, ts, seq) in taken:
            seq += 1
        limit = None
        if r.get("order_type") == "limit":
            rounded = passive_price(side, Decimal(str(r["limit_price"])), 0.0, self._tick_size(j))
            limit = Decimal(format(rounded, "f"))  # 19480, not 1.948E+4
            if limit <= 0:
                return self._refuse(record, "request", f"limit_price {r['limit_price']} rounds "
                                    f"to {limit} at the tick ({self._tick_size(j)})")  # fmt: skip
        kind: Literal["market", "limit"] = "market" if limit is None else "limit"
        intent = Intent(self.spec.run_id, symbol, side, qty, ts, seq=seq, order_type=kind,
                        limit_price=limit)  # fmt: skip
        record.update(client_id=intent.client_id, side=side, arrival_price=price,
                      limit_price=None if limit is None else str(limit))  # fmt: skip
        checked = float(limit) if limit is not None else price if math.isfinite(price) else None
        verdict = self.risk.check_order(
            ProposedOrder(symbol, side, float(qty), checked, order_type=kind,
                          client_id=intent.client_id),
            self._portfolio_view(), self._market_view(), now_ms=self.clock(),
        )  # fmt: skip
        if verdict.action == "reject":
            why = f"risk engine: {verdict.reason}" if verdict.reason else "risk engine"
            return self._refuse(record, str(verdict.rule), why, list(verdict.events))
        if verdict.action == "shrink":
            qty = lot_qty(verdict.qty, self._lots[j])
            if qty <= 0:
                return self._refuse(record, str(verdict.rule), "shrunk below one lot",
                                    list(verdict.events))  # fmt: skip
            intent = Intent(self.spec.run_id, symbol, side, qty, ts, seq=seq, order_type=kind,
                            limit_price=limit)  # fmt: skip
        payload = {**record, "qty": str(qty), "outcome": "sent", "rule": verdict.rule}
        events = self.om.create(intent, self.clock())  # raises while the manager is halted
        now = self.clock()
        self.store.append_many(
            [("manual_order", intent.client_id, payload, now)]
            + [(k, s, p, now) for k, s, p in verdict.events]
            + [(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in events]
        )
        await self._send(intent.client_id)
        return payload

    def _tick_size(self, j: int) -> Decimal | None:
        """Symbol ``j``'s price tick (the venue's rules, else the engine's); None: none."""
        rules = self._market_rules or self.spec.engine.market.arrays(len(self.spec.symbols))
        tick = float(rules[1][j])
        return Decimal(repr(tick)) if np.isfinite(tick) and tick > 0 else None

    async def _manual_cancel(self, record: dict[str, Any], cid: str) -> dict[str, Any]:
        record["client_id"] = cid
        known = {o.client_id: o for o in self.om.orders()}
        order = known.get(cid)
        if order is None:
            return self._refuse(record, "unknown_order", f"no order {cid!r} in this run")
        if order.state not in (OrderState.ACKNOWLEDGED, OrderState.PARTIALLY_FILLED,
                               OrderState.SUBMITTED, OrderState.UNKNOWN):  # fmt: skip
            return self._refuse(record, "not_open", f"order {cid} is {order.state.value}")
        record.update(symbol=order.symbol, side=order.side)
        self._append([("manual_order", cid, {**record, "outcome": "cancel_sent"})])
        try:
            reports = await self.venue.cancel(order.symbol, cid)
        except OrderMissing:
            reports = [NotFound(cid)]
        except VenueError as e:
            failed = {**record, "outcome": "cancel_failed", "refusal": str(e)[:300]}
            self._append([("manual_order", cid, failed)])
            return failed
        self._apply_reports(reports)
        return {**record, "outcome": "cancel_sent"}


def _malformed_limit(r: dict[str, Any]) -> str | None:
    """What is wrong with a request's ``order_type`` / ``limit_price`` (None: nothing)."""
    kind = r.get("order_type") or "market"
    if kind not in ORDER_TYPES:
        return f"order_type must be one of {list(ORDER_TYPES)}, got {kind!r}"
    if kind == "market":
        return None if r.get("limit_price") is None else "limit_price needs order_type limit"
    if r.get("algo") is not None:
        return "order_type limit takes no algo (an algorithm sets its own prices)"
    if r.get("limit_price") is None:
        return "order_type limit needs limit_price"
    try:
        price = Decimal(str(r["limit_price"]))
    except InvalidOperation:
        return f"limit_price must be a number, got {r['limit_price']!r}"
    if not (price.is_finite() and price > 0):
        return f"limit_price must be > 0 and finite, got {r['limit_price']!r}"
    return None
