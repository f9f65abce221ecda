"""The runner's reconciliation with the venue: resolving orders whose outcome is unknown,
fetching missing fills, re-issuing creates that never arrived, comparing positions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from live.orders import (
    FillReport,
    Intent,
    NotFound,
    OrderState,
    Report,
)
from live.runner._base import RunnerBase
from live.runner.spec import (
    MAX_RETRIES,
    RETRYABLE_REJECT,
)
from live.venues.base import VenueFill
from live.venues.errors import GiveUp, OrderMissing, OutcomeUnknown, RetryLater, VenueError

__all__ = ["Reconciliation"]


class Reconciliation(RunnerBase):
    """Resolving and reconciling orders and positions against the venue."""

    async def _load_market_rules(self) -> None:
        """The stricter of the engine's market rules and the venue's, per symbol."""
        lot, tick, mn = self.spec.engine.market.arrays(len(self.spec.symbols))
        for j, symbol in enumerate(self.spec.symbols):
            info = await self.venue.market(symbol)
            lot[j] = max(lot[j], float(info.lot))
            tick[j] = max(tick[j], float(info.tick))
            mn[j] = max(mn[j], float(info.min_notional))
        self._market_rules = (lot, tick, mn)
        self._lots = [Decimal(repr(float(x))) for x in lot]

    async def resolve(self, *, wait: bool) -> None:
        """Resolve every order the manager says needs it (query by client id, fetch fills).

        With ``wait``, keep going until nothing is pending (orders "not found" are re-queried
        until their grace window passes), or ``resolve_timeout_ms`` passes (then halt).
        """
        deadline = time.monotonic() + self.spec.resolve_timeout_ms / 1000
        while True:
            pending = self.om.needs_resolution(self.clock())
            waiting = [
                o
                for o in self.om.open_orders()
                if o.state is OrderState.SUBMITTED
                and not any(p.client_id == o.client_id for p in pending)
            ]
            if not pending and not (wait and waiting):
                return
            for p in pending:
                await self._resolve_one(p.client_id, p.reason)
            for o in waiting if wait else []:
                await self._resolve_one(o.client_id, "unacknowledged")
            await self._reissue_lost()
            if not wait:
                return
            if not self.om.needs_resolution(self.clock()) and not [
                o for o in self.om.open_orders() if o.state is OrderState.SUBMITTED
            ]:
                return
            if time.monotonic() > deadline:
                await self._halt(
                    "orders still unresolved after "
                    f"{self.spec.resolve_timeout_ms} ms: "
                    + ", ".join(p.client_id for p in self.om.needs_resolution(self.clock()))
                )
                return
            await asyncio.sleep(min(0.05, self.spec.grace_ms / 4000))

    async def _resolve_one(self, cid: str, reason: str) -> None:
        order = self.om.order(cid)
        try:
            report = await self.venue.query(order.symbol, cid)
        except (RetryLater, OutcomeUnknown) as e:
            await asyncio.sleep(min(getattr(e, "retry_after", None) or 0.2, 5.0))
            return
        except OrderMissing:
            report = NotFound(cid)
        self._persist_om(self.om.apply(report, self.clock()))
        order = self.om.order(cid)
        if order.venue_filled_qty > order.filled_qty or reason == "missing_fills":
            await self._fetch_order_fills(cid)

    async def _fetch_order_fills(self, cid: str) -> None:
        """Fetch one order's executions from the venue and merge the ones not yet recorded."""
        order = self.om.order(cid)
        for f in await self.venue.order_fills(order.symbol, cid, order.venue_order_id):
            self._merge_fill(cid, f)

    def _merge_fill(self, cid: str, f: VenueFill) -> None:
        report: Report = FillReport(
            cid, f.trade_id, f.qty, f.price, source="rest", fee=f.fee, fee_asset=f.fee_asset
        )
        self._persist_om(self.om.apply(report, self.clock()))

    async def _fetch_fills(self, symbol: str, since_ms: int | None) -> None:
        """Fetch the account's executions on ``symbol`` and merge those of this run's orders."""
        known = {o.client_id for o in self.om.orders()}
        for f in await self.venue.fills(symbol, since_ms=since_ms):
            if f.client_id in known:
                self._merge_fill(f.client_id, f)

    async def _reissue_lost(self) -> None:
        """Send again, under a new client id, the orders whose create never reached the venue."""
        drafts: list[tuple[str, str, dict[str, Any]]] = []
        events: list[Mapping[str, Any]] = []
        taken = {(o.symbol, o.decision_ts_ms, o.seq) for o in self.om.orders()}
        if self.halted:
            return
        for o in self.om.orders():
            if o.state is not OrderState.REJECTED or not (o.reason or "").startswith(
                RETRYABLE_REJECT
            ):
                continue
            if any(link["of"] == o.client_id for link in self._links):
                continue  # already re-issued
            if o.group is not None:
                continue  # an OCO leg: the refusal ended its group, a lone leg is no exit pair
            # Re-issues counted in this process: a create the venue keeps refusing gives up
            # here; one lost to our own crash is re-issued again after the restart.
            n = self._retries.get(o.client_id, 0)
            if n >= MAX_RETRIES:
                continue
            seq = o.seq + 1
            while (o.symbol, o.decision_ts_ms, seq) in taken:
                seq += 1
            intent = Intent(
                o.run_id, o.symbol, o.side, o.qty, o.decision_ts_ms, seq=seq,
                order_type=o.order_type, limit_price=o.limit_price, stop_price=o.stop_price,
                time_in_force=o.time_in_force, post_only=o.post_only, trailing_pct=o.trailing_pct,
                reduce_only=o.reduce_only, tag=o.tag, trigger_price=o.trigger_price,
                trigger_ts_ms=o.trigger_ts_ms,
            )  # fmt: skip
            new = self.om.create(intent, self.clock())
            events += new
            self._retries[intent.client_id] = n + 1
            drafts.append(
                ("retry_created", o.client_id, {"of": o.client_id, "retry": intent.client_id})
            )
            self._links.append({"of": o.client_id, "retry": intent.client_id})
            taken.add((o.symbol, o.decision_ts_ms, seq))
        if events:
            self.store.append_many(
                [(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in events]
                + [(k, s, p, self.clock()) for k, s, p in drafts]
            )
            for e in events:
                await self._send(e["stream"])

    async def reconcile(self) -> bool:
        """Query every order not known to be final, fetch missing fills, compare positions.

        Returns whether the books agree. Positions that differ get a second look with the
        account's whole trade list; a difference that survives it halts trading.
        """
        t0 = time.perf_counter()
        for o in self.om.open_orders():
            if o.state is not OrderState.NEW:  # a NEW order was never sent
                await self._resolve_one(o.client_id, "reconcile")
        await self.resolve(wait=True)
        diff = await self._position_diff()
        if diff:
            for symbol in self.spec.symbols:
                await self._fetch_fills(symbol, since_ms=None)
            diff = await self._position_diff()
        ms = (time.perf_counter() - t0) * 1000
        self.summary.reconcile_ms.append(ms)
        if diff:
            await self._halt("positions differ from the venue's: " + "; ".join(diff))
            return False
        try:
            balances = {a: str(q) for a, q in (await self.venue.balances()).items()}
        except VenueError as e:
            balances = {"error": str(e)[:200]}
        self._append(
            [("reconciled", "runner", {"ok": True, "ms": round(ms, 3), "balances": balances})]
        )
        return True

    async def _position_diff(self) -> list[str]:
        venue_pos = await self.venue.positions(self.spec.symbols)
        out = []
        for symbol in self.spec.symbols:
            base = symbol.split("/")[0]
            local = self.om.position(symbol)
            fees = sum(
                (f.fee for f in self.om.fills() if f.fee is not None and f.fee_asset == base
                 and self.om.order(f.client_id).symbol == symbol),
                Decimal(0),
            )  # fmt: skip
            expected = self.baseline.get(symbol, Decimal(0)) + local - fees
            have = venue_pos.get(symbol, Decimal(0))
            if abs(have - expected) > Decimal("1e-9") * max(Decimal(1), abs(expected)):
                out.append(
                    f"{symbol}: venue {have}, expected {expected} (baseline "
                    f"{self.baseline.get(symbol, Decimal(0))} + fills {local} - fees {fees})"
                )
        return out

    async def _cancel_stale_market_orders(self) -> None:
        """Cancel what is left of market orders from earlier bars (a market order should not
        rest; a venue that left part of one open would otherwise trade it behind the book's
        back). Their fills stay; the cancel's answer is recorded like any report."""
        for o in self.om.open_orders():
            if o.order_type != "market" or o.state not in (
                OrderState.ACKNOWLEDGED,
                OrderState.PARTIALLY_FILLED,
            ):
                continue
            try:
                reports = await self.venue.cancel(o.symbol, o.client_id)
            except (RetryLater, OutcomeUnknown, GiveUp) as e:
                self._append([("cancel_failed", o.client_id, {"reason": str(e)[:200]})])
                continue
            except OrderMissing:
                reports = [NotFound(o.client_id)]
            self._apply_reports(reports)
            if self.om.order(o.client_id).venue_filled_qty > self.om.order(o.client_id).filled_qty:
                await self._fetch_order_fills(o.client_id)

    async def _execute_pending(self) -> None:
        for o in self.om.orders():
            if o.state is OrderState.NEW:
                await self._send(o.client_id)
        await self.resolve(wait=False)
        await self._reissue_lost()
