"""Execution algorithms in a live run: a parent order (TWAP, VWAP, iceberg, chaser) worked as
child orders on the bar clock, with the schedule of :mod:`grekko_research.engine.algos` (the
backtest simulates the same parent through ``schedule_orders``).

A parent comes from a manual request with an ``algo`` object (``POST /orders`` or
``grekko-live order enter --algo twap --slices 6 --over 6h``). It is recorded as
``algo_started`` (the request, its schedule, the bar of its first decision ``start_ts`` and its
ordinal ``n`` among the parents starting there) and answered by ``manual_order`` (outcome
``sent``, ``parent_id``) in one transaction, before anything is sent.

Children are created only inside a bar's decision, in the same transaction as the decision and
the strategy's intents (they are listed in its ``intents``), each checked by the risk engine
as the strategy's orders are; ``_execute_pending`` sends them after. A child's client id is
``(run_id, symbol, start_ts, ALGO_SEQ + 100_000 n + 100 i)``: the parent and the child's index, so
whatever a restart re-decides, a child is created and sent at most once (the venue refuses a
duplicate client id, and a created child is found in the replayed order manager and not
created again). After a SIGKILL the order manager is replayed and every child reconciled by
client id; a decision the log lacks is taken again, giving the same children.

What each parent creates at the decision on bar ``ts`` (all from the log and the order
manager, so a restart computes the same):

- twap / vwap: child ``i`` when ``ts == start_ts + i * every`` bars (sizes: ``child_sizes``).
- iceberg: the first clip at ``start_ts``; the next once the one before is FILLED (its state
  is asked from the venue first); a clip that ends unfilled ends the parent.
- chase: the passive limit at ``start_ts``; at ``start_ts + passive_bars`` bars, if it is not
  FILLED, it is cancelled (the cancel's answer recorded) and the remainder sent at market.

The limit price of an iceberg or a chase is :func:`passive_price` of the reference price at
its first decision, recorded in its first child's ``order_created``. A VWAP's weights are
:func:`volume_profile` of the research store's bars before its start (``spec.volume_history``),
or of the window's when the store holds less than a day; ``algo_started`` records them in its
spec and their ``profile`` (source, bars, days).

A cancel request with ``parent_id`` (``POST /orders/parents/{id}/cancel``, ``grekko-live order
cancel --parent``) is recorded as ``algo_cancelled`` (``at_ts``: the first decision not yet
begun, the reason and who) and answered (``cancel_sent``) in one transaction before anything is
sent; no decision from ``at_ts`` on creates a child of that parent (a restart reads it from the
log), and its resting children are cancelled at the venue (again at each later decision while
one rests: a crash between the two leaves none). Its state (:mod:`live.parents`) is listed by
``GET /orders/parents`` and ``grekko-live orders --parents``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import numpy as np

from grekko_research.engine.algos import (
    AlgoSpec,
    child_sizes,
    parse_algo,
    passive_price,
    volume_profile,
)
from grekko_research.engine.follow import stored_volumes
from grekko_research.errors import ConfigError
from live.orders import Intent, NotFound, Order, OrderState
from live.parents import MAX_CHILDREN, ParentBook, child_index, child_seq
from live.risk import EventDraft, MarketView, ProposedOrder
from live.runner._manual import ManualOrders, request_record
from live.runner.spec import lot_qty
from live.venues.errors import OrderMissing, VenueError

__all__ = ["ActiveParent", "AlgoOrders"]

_OPEN = (
    OrderState.SUBMITTED,
    OrderState.UNKNOWN,
    OrderState.ACKNOWLEDGED,
    OrderState.PARTIALLY_FILLED,
)


@dataclass(frozen=True)
class ActiveParent:
    """A parent as its ``algo_started`` event records it."""

    parent_id: str
    symbol: str
    side: Literal["buy", "sell"]
    qty: Decimal
    spec: AlgoSpec
    start_ts: int
    n: int
    raw: dict[str, Any] = field(compare=False, repr=False)
    """The ``algo_started`` payload."""

    @classmethod
    def of(cls, p: dict[str, Any], tf_ms: int) -> ActiveParent:
        return cls(
            str(p["parent_id"]), str(p["symbol"]), p["side"], Decimal(str(p["qty"])),
            parse_algo(p["spec"], tf_ms), int(p["start_ts"]), int(p["n"]), dict(p),
        )  # fmt: skip

    def seq(self, i: int) -> int:
        """Child ``i``'s seq; the 99 after it are its re-issues' (a create lost before it
        reached the venue is sent again under seq + 1, see ``_reissue_lost``)."""
        return child_seq(self.n, i)

    def child_index(self, seq: int) -> int | None:
        """The index of the child an order of ``seq`` is (or re-issues); None: not this one's."""
        return child_index(self.n, seq)

    def intent(self, run_id: str, i: int, qty: Decimal, limit: Decimal | None = None) -> Intent:
        kind: Literal["market", "limit"] = "market" if limit is None else "limit"
        return Intent(run_id, self.symbol, self.side, qty, self.start_ts, seq=self.seq(i),
                      order_type=kind, limit_price=limit)  # fmt: skip


class AlgoOrders(ManualOrders):
    """Parents from manual requests, children at each decision (see the module doc)."""

    _parents: list[ActiveParent] | None = None
    _cancelled: dict[str, int] | None = None
    _algo_at: int | None = None
    _settled: frozenset[str] = frozenset()  # cancelled parents with no child resting any more

    def parents(self) -> list[ActiveParent]:
        """Every parent of the run, from the log (read once, then kept)."""
        if self._parents is None:
            self._parents = [
                ActiveParent.of(e.payload, self.tf_ms)
                for e in self.store.read(kinds=["algo_started"])
            ]
        return self._parents

    # -- the request ----------------------------------------------------------------------

    def cancelled(self) -> dict[str, int]:
        """The run's cancelled parents: the bar of the first decision that creates none of
        their children (``at_ts``), by parent id, from the log (read once, then kept)."""
        if self._cancelled is None:
            self._cancelled = {
                str(e.payload["parent_id"]): int(e.payload["at_ts"])
                for e in self.store.read(kinds=["algo_cancelled"])
            }
        return self._cancelled

    async def manual_order(self, request: dict[str, Any]) -> dict[str, Any]:
        """A request with ``algo`` starts a parent, a cancel with ``parent_id`` cancels one;
        any other is a plain manual order."""
        r = request
        if (
            r.get("action") == "cancel"
            and r.get("parent_id")
            and not r.get("client_id")
            and not r.get("error")
        ):
            return await self._cancel_parent(r)
        if request.get("algo") is None or request.get("error"):
            return await super().manual_order(request)
        record = {**request_record(request), "algo": request.get("algo")}
        problem = self._malformed(request)
        if problem is None and request.get("action") == "cancel":
            problem = "a cancel takes no algo"
        if problem is not None:
            return self._refuse(record, "request", str(problem))
        try:
            spec = parse_algo(request["algo"], self.tf_ms)
        except ConfigError as e:
            return self._refuse(record, "algo", str(e))
        return self._start_parent(record, request, spec)

    def _start_parent(
        self, record: dict[str, Any], r: dict[str, Any], spec: AlgoSpec
    ) -> dict[str, Any]:
        sized = self._sized(record, r)
        if isinstance(sized, dict):
            return sized
        side, qty = sized
        symbol = str(r["symbol"])
        j = self.spec.symbols.index(symbol)
        n_children = spec.slices
        if spec.kind == "iceberg":
            assert spec.clip is not None
            n_children = int(-(-qty // spec.clip))
        if n_children > MAX_CHILDREN:
            return self._refuse(record, "algo", f"{n_children} children: at most {MAX_CHILDREN}")
        # The first decision still to come: the one on the last closed bar if it is not taken
        # yet (a restart), else the next bar's.
        start = self.last_closed_ts
        assert start is not None  # _sized refuses a request before the first close
        if self.last_decided_ts == start:
            start += self.tf_ms
        profile: dict[str, Any] | None = None
        if spec.kind == "vwap" and r["algo"].get("weights") is None:
            spec, profile = self._vwap_profile(symbol, j, start, spec)
        n = sum(p.start_ts == start for p in self.parents())
        parent_id = f"algo-{start}-{n}"
        payload = {
            "parent_id": parent_id, "request_id": record["request_id"], "symbol": symbol,
            "side": side, "qty": str(qty), "spec": spec.payload(), "start_ts": start, "n": n,
            **({"profile": profile} if profile is not None else {}),
        }  # fmt: skip
        answer = {**record, "side": side, "qty": str(qty), "outcome": "sent",
                  "parent_id": parent_id, "rule": None}  # fmt: skip
        self._append([("algo_started", parent_id, payload), ("manual_order", parent_id, answer)])
        self.parents().append(ActiveParent.of(payload, self.tf_ms))
        return answer

    async def _cancel_parent(self, r: dict[str, Any]) -> dict[str, Any]:
        """Cancel a working parent: ``algo_cancelled`` and the answer logged in one
        transaction before anything is sent, then its resting child cancelled at the venue.
        Its decisions from ``at_ts`` on create no child (a restart reads it from the log);
        what filled stays."""
        pid = str(r["parent_id"])
        record: dict[str, Any] = {
            "source": "manual", "request_id": str(r.get("id")), "action": "cancel",
            "parent_id": pid, "reason": str(r.get("reason") or "")[:300],
            "by": str(r.get("by") or "?")[:40],
        }  # fmt: skip
        p = next((q for q in self.parents() if q.parent_id == pid), None)
        if p is None:
            return self._refuse(record, "unknown_parent", f"no parent {pid!r} in this run")
        if p.raw.get("source") == "strategy":  # live.runner._follow: its strategy cancels it
            return self._refuse(record, "strategy_parent",
                                f"parent {pid} works the strategy's orders: only its strategy "
                                "cancels it (stop the run, or the kill switch, to stop it)")  # fmt: skip
        record.update(symbol=p.symbol, side=p.side)
        await self._children(p)  # a resting child's fills first: a done parent is not working
        book = ParentBook(started={pid: p.raw}, last_decision_ts=self.last_decided_ts)
        book.cancelled = {q: {} for q in self.cancelled() if q == pid}
        state = book.state(pid, self.om, self.tf_ms)
        if state != "working":
            return self._refuse(record, "not_working", f"parent {pid} is {state}")
        # The first decision still to begin: later ones create none of its children.
        assert self.last_closed_ts is not None  # a parent starts after a bar closed
        at = self.last_closed_ts
        if at in (self.last_decided_ts, self._algo_at):
            at += self.tf_ms
        filled = sum((o.filled_qty for v in book.children(pid, self.om).values() for o in v),
                     Decimal(0))  # fmt: skip
        payload = {"parent_id": pid, "request_id": record["request_id"], "at_ts": at,
                   "filled": str(filled), "reason": record["reason"], "by": record["by"]}  # fmt: skip
        answer = {**record, "outcome": "cancel_sent", "rule": None, "at_ts": at}
        self._append([("algo_cancelled", pid, payload), ("manual_order", pid, answer)])
        self.cancelled()[pid] = at
        self.hook("after_algo_cancel")
        await self._cancel_resting(p)
        return answer

    async def _cancel_resting(self, p: ActiveParent) -> bool:
        """Cancel the parent's children still resting at the venue (an iceberg's clip, the
        chaser's limit); True once none rests."""
        settled = True
        for o in await self._children(p):
            if o.state in _OPEN:
                settled = await self._cancel_child(o.client_id) and settled
        return settled

    def _vwap_profile(
        self, symbol: str, j: int, start: int, spec: AlgoSpec, days: int | None = None
    ) -> tuple[AlgoSpec, dict[str, Any]]:
        """A VWAP parent starting on bar ``start``: its spec with the weights of
        :func:`volume_profile`, from the store's ``days`` before it (default
        ``spec.volume_history.days``; given: only those days of the window's too), else the
        window's bars; and the profile's record (source, bars, calendar days)."""
        stored = self._stored_volumes(symbol, start, days)
        if stored is not None:
            (index, volume), source = stored, "store"
        else:
            bars = self.window.bars()
            index, volume, source = bars.index, bars.volume[:, j], "window"
        if days is not None:
            keep = index >= start - days * 86_400_000
            index, volume = index[keep], volume[keep]
        weights = volume_profile(index, volume, self.tf_ms, start, spec.slices, spec.every)
        past = index[index < start]
        profile = {"source": source, "bars": len(past),
                   "days": len(set((past // 86_400_000).tolist()))}  # fmt: skip
        return AlgoSpec(**{**spec.__dict__, "weights": weights}), profile

    def _stored_volumes(
        self, symbol: str, start: int, days: int | None = None
    ) -> tuple[np.ndarray, np.ndarray] | None:
        """The research store's bars (open times, volumes) of the ``days`` before ``start``
        (default ``spec.volume_history.days``); None without a store, or when it holds less
        than a day."""
        h = self.spec.volume_history
        if h is None:
            return None
        from grekko_research.data.store import ParquetStore

        rows = stored_volumes(ParquetStore(h.root), h.exchange, h.market, symbol,
                              self.spec.timeframe, start, h.days if days is None else days)  # fmt: skip
        if rows is None or len(rows[0]) < 86_400_000 // self.tf_ms:
            return None
        return rows

    # -- the children ---------------------------------------------------------------------

    async def _algo_children(
        self,
        ts: int,
        prices: np.ndarray,
        market: MarketView,
        drafts: list[EventDraft],
        refused: list[dict[str, Any]],
    ) -> list[Intent]:
        """The children every parent creates at the decision on bar ``ts``, each passed by the
        risk engine (refusals to ``refused``, its events to ``drafts``)."""
        out: list[Intent] = []
        self._algo_at = ts  # a cancel from now on stops its parent from the next decision
        for p in self.parents():
            if ts < p.start_ts:
                continue
            at = self.cancelled().get(p.parent_id)
            if at is not None and ts >= at:
                # after a restart too: none is left resting
                if p.parent_id not in self._settled and await self._cancel_resting(p):
                    self._settled |= {p.parent_id}
                continue
            for intent in await self._due(p, ts, prices):
                if intent.client_id in self._known_ids():
                    continue
                checked = self._risk_child(p, intent, prices, market, drafts, refused)
                if checked is not None:
                    out.append(checked)
        return out

    def _known_ids(self) -> set[str]:
        return {o.client_id for o in self.om.orders()}

    async def _due(self, p: ActiveParent, ts: int, prices: np.ndarray) -> list[Intent]:
        s = p.spec
        j = self.spec.symbols.index(p.symbol)
        if s.kind in ("twap", "vwap"):
            step = (ts - p.start_ts) // self.tf_ms
            if (ts - p.start_ts) % self.tf_ms or step % s.every or step // s.every >= s.slices:
                return []
            i = step // s.every
            weights = s.weights if s.kind == "vwap" and s.weights else (1.0,) * s.slices
            qty = child_sizes(p.qty, weights, self._lots[j])[i]
            return [p.intent(self.spec.run_id, i, qty)] if qty > 0 else []
        children = await self._children(p)
        if not children:
            if ts != p.start_ts:
                return []  # its first decision passed without it (halted): nothing late
            limit = passive_price(p.side, prices[j], s.offset_bps, self._tick_size(j))
            first = s.clip if s.kind == "iceberg" and s.clip is not None else p.qty
            return [p.intent(self.spec.run_id, 0, min(first, p.qty), limit)]
        if s.kind == "iceberg":
            return self._next_clip(p, children)
        return await self._chase(p, children, ts)

    async def _children(self, p: ActiveParent) -> list[Order]:
        """The parent's children so far, each as its latest order (a create re-issued after it
        was lost: the re-issue), resting ones asked from the venue first."""
        latest: dict[int, Order] = {}
        for o in self.om.orders():
            i = p.child_index(o.seq) if o.decision_ts_ms == p.start_ts else None
            if i is not None and o.symbol == p.symbol and (i not in latest
                                                          or o.seq > latest[i].seq):  # fmt: skip
                latest[i] = o
        for o in latest.values():
            if o.state in _OPEN:  # learn of a resting child's fills before deciding on them
                await self._resolve_one(o.client_id, "algo")
        return [self.om.order(latest[i].client_id) for i in sorted(latest)]

    def _next_clip(self, p: ActiveParent, children: list[Order]) -> list[Intent]:
        """An iceberg's next clip, once the last one filled."""
        assert p.spec.clip is not None
        last = children[-1]
        done = sum((o.qty for o in children), Decimal(0))
        if last.state is not OrderState.FILLED or done >= p.qty:
            return []
        qty = min(p.spec.clip, p.qty - done)
        return [p.intent(self.spec.run_id, len(children), qty, last.limit_price)]

    async def _chase(self, p: ActiveParent, children: list[Order], ts: int) -> list[Intent]:
        """A chaser's market remainder, once its limit rested ``passive_bars`` unfilled."""
        last = children[-1]
        if len(children) > 1 or last.state is OrderState.FILLED:
            return []
        if ts < p.start_ts + p.spec.passive_bars * self.tf_ms:
            return []
        if last.state in _OPEN and not await self._cancel_child(last.client_id):
            return []  # try again on the next bar; never two working at once
        rest = p.qty - self.om.order(last.client_id).effective_filled_qty
        return [p.intent(self.spec.run_id, 1, rest)] if rest > 0 else []

    async def _cancel_child(self, cid: str) -> bool:
        """Cancel a resting child; True once the order manager holds it final."""
        order = self.om.order(cid)
        try:
            reports = await self.venue.cancel(order.symbol, cid)
        except OrderMissing:
            reports = [NotFound(cid)]
        except VenueError as e:
            self._append([("cancel_failed", cid, {"reason": str(e)[:200], "algo": True})])
            return False
        self._apply_reports(reports)
        if self.om.order(cid).state in _OPEN:
            await self._resolve_one(cid, "algo")
        order = self.om.order(cid)
        if order.venue_filled_qty > order.filled_qty:
            await self._fetch_order_fills(cid)
        return self.om.order(cid).state not in _OPEN

    def _risk_child(
        self,
        p: ActiveParent,
        intent: Intent,
        prices: np.ndarray,
        market: MarketView,
        drafts: list[EventDraft],
        refused: list[dict[str, Any]],
    ) -> Intent | None:
        """The risk engine's verdict on one child, as on any order of the run."""
        j = self.spec.symbols.index(p.symbol)
        price = float(prices[j]) if np.isfinite(prices[j]) else None
        kind: Literal["market", "limit"] = "market"
        if intent.limit_price is not None:  # a resting child is checked at its own price
            price, kind = float(intent.limit_price), "limit"
        verdict = self.risk.check_order(
            ProposedOrder(p.symbol, intent.side, float(intent.qty), price, order_type=kind,
                          client_id=intent.client_id),
            self._portfolio_view(), market, now_ms=self.clock(),
        )  # fmt: skip
        drafts += list(verdict.events)
        if verdict.action == "reject":
            refused.append({"symbol": p.symbol, "size": str(intent.qty), "parent": p.parent_id,
                            "rule": verdict.rule, "reason": f"risk engine: {verdict.reason}"})  # fmt: skip
            return None
        if verdict.action == "shrink":
            qty = lot_qty(verdict.qty, self._lots[j])
            if qty <= 0:
                refused.append({"symbol": p.symbol, "size": str(intent.qty),
                                "parent": p.parent_id, "rule": verdict.rule,
                                "reason": "shrunk below one lot"})  # fmt: skip
                return None
            i = p.child_index(intent.seq)
            assert i is not None
            intent = p.intent(self.spec.run_id, i, qty, intent.limit_price)
        return intent
