"""The live side of routing: read every venue, decide, record, then send the children.

:class:`SmartRouter` holds the run's venues (adapters by name), its event store, its risk engine
and one :class:`~live.orders.OrderManager` per venue (each venue is its own account). One
:meth:`SmartRouter.route` call:

1. reads each venue at once: its market rules, its book (``capabilities.order_book``; else its
   reference price as a one-level quote), its balances and its health, timing the quote;
2. decides with :func:`~live.routing.decide` (pure);
3. checks each child with the risk engine, in turn, against the portfolio the children before
   it leave (a shrink floors it to the lot, a refusal drops it);
4. appends in one transaction the ``route_decision`` event (the quotes, fees, slippage
   estimates, balances, health, the split and each child's client id and risk verdict), the
   risk engine's events and every child's ``order_created`` — before anything is sent;
5. sends the children concurrently, each as the runner sends an order (``order_submitted``
   persisted first; a timeout is UNKNOWN and is resolved by query, never sent again).

A child's client id is ``(run_id, its symbol, decision_ts_ms, ROUTE_SEQ + seq × MAX_VENUES +
the venue's place in live.routing.venues)``: the same route asks the same ids, so a route the
log already holds is not decided again — :meth:`SmartRouter.route` resumes it (sends its NEW
children, resolves the others), and :meth:`SmartRouter.recover` does that for every route after
a crash (the managers are rebuilt from the log on construction).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, cast

from grekko_research.errors import ConfigError
from live.events import EventStore
from live.orders import (
    FillReport,
    Intent,
    NotFound,
    OrderManager,
    OrderState,
    Rejected,
    Report,
    Timeout,
    client_order_id,
)
from live.orders._manager import Event as OmEvent
from live.risk import ProposedOrder, RiskEngine
from live.risk.views import MarketView, PortfolioView
from live.routing._decide import (
    BookWalkSlippage,
    Levels,
    RouteDecision,
    SlippageEstimate,
    VenueInput,
    decide,
    venue_health,
)
from live.routing._replay import inputs_record, slippage_record, spec_record
from live.routing._spec import RoutingSpec
from live.runner.spec import ALGO_SEQ, lot_qty
from live.venues.base import BookVenue, FeeVenue, MarketInfo, OrderRequest, Venue
from live.venues.errors import GiveUp, OrderMissing, OutcomeUnknown, RetryLater, VenueError

__all__ = ["MAX_ROUTES", "MAX_VENUES", "ROUTE_SEQ", "RouteResult", "SmartRouter"]

FEE_TTL_S = 3_600.0
"""How long a fee read from a venue (``fee_from_venue``) is kept before it is read again."""
ROUTE_SEQ = 55_000  # between manual orders (MANUAL_SEQ) and the algorithms' children (ALGO_SEQ)
"""Routed children take intent seqs from here (past the manual orders' 50,000)."""
MAX_VENUES = 16
"""Seqs reserved per routed order: one per venue of ``live.routing.venues``."""
MAX_ROUTES = (ALGO_SEQ - ROUTE_SEQ) // MAX_VENUES
MAX_REISSUES = 3
"""How many times a routed child whose create was lost is created again (a run's orders)."""
"""Routes per symbol and decision bar (``seq``): their children's seqs stay below ALGO_SEQ."""
_OPEN = frozenset({OrderState.SUBMITTED, OrderState.UNKNOWN, OrderState.ACKNOWLEDGED,
                   OrderState.PARTIALLY_FILLED})  # fmt: skip


class RouteResult:
    """What one route did: its decision payload (as logged) and each child's order now."""

    def __init__(self, route_id: str, payload: Mapping[str, Any], router: SmartRouter) -> None:
        self.route_id = route_id
        self.payload = payload
        self.children = [
            (c["venue"], router.managers[c["venue"]].order(c["client_id"]))
            for c in payload["child_orders"]
            if c.get("sent")
        ]
        """``(venue, order)`` of each child sent (a child the risk engine refused is only in
        the payload's ``child_orders``, with its refusal)."""

    def filled(self) -> dict[str, Decimal]:
        """Filled quantity per venue."""
        return {v: o.filled_qty for v, o in self.children}


class SmartRouter:
    """Route orders across ``venues`` (see the module docstring).

    Parameters
    ----------
    spec
        The ``live.routing`` section.
    venues
        Adapter by venue name; every venue of ``spec.venues`` must be there.
    store, risk
        The run's event log and risk engine.
    run_id
        The run's id (the children's client ids).
    clock
        The run's clock in ms (event times, risk checks).
    slippage
        The expected-slippage model; ``None``: :class:`~live.routing.BookWalkSlippage` over the
        books read for each decision, with ``spec.slippage_bps``.
    hook
        Test hook called with ``"before_send"`` / ``"after_send"`` around each child's create.
    """

    def __init__(
        self,
        spec: RoutingSpec,
        venues: Mapping[str, Venue],
        store: EventStore,
        risk: RiskEngine,
        *,
        run_id: str,
        clock: Callable[[], int],
        slippage: SlippageEstimate | None = None,
        grace_ms: int = 10_000,
        hook: Callable[[str], None] | None = None,
        perf: Callable[[], float] = time.perf_counter,
    ) -> None:
        missing = [v for v in spec.venues if v not in venues]
        if missing:
            raise ConfigError(
                f"live.routing.venues names {missing}, which the run has no adapter for"
            )
        if len(spec.venues) > MAX_VENUES:
            raise ConfigError(f"live.routing.venues: at most {MAX_VENUES} venues")
        self.spec, self.venues, self.store, self.risk = spec, dict(venues), store, risk
        self.run_id, self.clock, self.slippage = run_id, clock, slippage
        self.hook = hook or (lambda point: None)
        self._perf = perf
        self.managers = {v: OrderManager(grace_ms=grace_ms) for v in spec.venues}
        self.routes: dict[str, dict[str, Any]] = {}
        self._fees: dict[tuple[str, str], tuple[float, float]] = {}  # fee, when read (perf s)
        self._restore()

    # -- the log ---------------------------------------------------------------------------

    def _restore(self) -> None:
        """Rebuild the routes and each venue's orders from the log."""
        owner: dict[str, str] = {}
        for e in self.store.read():
            if e.kind == "route_decision":
                self.routes[e.stream] = dict(e.payload)
                for c in e.payload.get("child_orders", []):
                    owner[c["client_id"]] = c["venue"]
            elif e.kind == "route_cancelled":  # its order cancelled: nothing more is sent
                self.routes[e.stream]["cancelled"] = True
            elif e.kind == "route_reissue":  # a child whose create never reached its venue
                self.routes[e.stream]["child_orders"].append(dict(e.payload))
                owner[e.payload["client_id"]] = e.payload["venue"]
            elif e.kind == "resumed":
                for om in self.managers.values():
                    om.apply_event(e)
            elif e.kind.startswith("order_") and e.stream in owner:
                self.managers[owner[e.stream]].apply_event(e)

    def _persist(self, events: list[OmEvent]) -> None:
        if events:
            self.store.append_many(
                [(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in events]
            )

    # -- reading the venues ----------------------------------------------------------------

    async def _read(self, name: str, symbol: str) -> tuple[VenueInput, MarketInfo | None]:
        venue, spec = self.venues[name], self.spec
        vs = spec.symbol_on(symbol, name)
        bids: Levels = ()
        asks: Levels = ()
        source, failure, latency = "none", None, None
        base = quote = 0.0
        fee = spec.taker_fee_bps.get(name, math.nan)  # NaN: read from the venue, not read yet
        info: MarketInfo | None = None
        step = "market"
        try:
            info = await venue.market(vs)
            if info.contract:  # a margin account's capacity is not its balance: not routed
                raise GiveUp(f"{vs} is a derivative; routing takes spot markets only",
                             venue=name, operation="route", state_changing=False,
                             source="NotSpot")  # fmt: skip
            step = "quote"
            t0 = self._perf()
            if venue.capabilities.order_book:
                book = await cast(BookVenue, venue).order_book(vs, spec.book_depth)
                bids = tuple((float(p), float(q)) for p, q in book.bids)
                asks = tuple((float(p), float(q)) for p, q in book.asks)
                source = "book"
            else:  # a one-level quote of unknown size: the fixed slippage only
                ref = float(await venue.reference_price(vs))
                bids = asks = ((ref, math.inf),)
                source = "reference"
            latency = (self._perf() - t0) * 1000
            step = "balances"
            held = await venue.balances()
            base, quote = float(held.get(info.base, 0)), float(held.get(info.quote, 0))
            step = "fee"
            fee = await self._fee(name, vs)
        except VenueError as e:  # fail closed: the venue is left out, and says why
            failure = f"{step} failed: {type(e).__name__}: {e}"[:240]
        health = None
        try:
            health = await venue.health()
        except VenueError as e:
            failure = failure or f"health failed: {e}"[:240]
        verdict = venue_health(
            health, quote_latency_ms=latency, now_ms=venue.now_ms(), spec=spec, failure=failure
        )
        return VenueInput(
            venue=name, symbol=vs, fee_bps=float(fee), bids=bids, asks=asks,
            quote_source=source, base_balance=base, quote_balance=quote, health=verdict,
            lot=float(info.lot) if info else 0.0, min_qty=float(info.min_qty) if info else 0.0,
            min_notional=float(info.min_notional) if info else 0.0,
        ), info  # fmt: skip

    async def _fee(self, name: str, symbol: str) -> float:
        """``name``'s taker fee for ``symbol`` (bps): configured, or read from the venue
        (``fee_from_venue``) and kept for :data:`FEE_TTL_S`. A venue that cannot tell it
        raises (the route leaves it out: an unknown fee never routes)."""
        if name not in self.spec.fee_from_venue:
            return float(self.spec.taker_fee_bps[name])
        venue = self.venues[name]
        now = self._perf()
        kept = self._fees.get((name, symbol))
        if kept is not None and now - kept[1] < FEE_TTL_S:
            return kept[0]
        if not venue.capabilities.trading_fees:
            raise GiveUp("the venue does not report its fee rates (set its taker_fee_bps)",
                         venue=name, operation="route", state_changing=False,
                         source="NoFeeCapability")  # fmt: skip
        fee = await cast(FeeVenue, venue).taker_fee_bps(symbol)
        self._fees[(name, symbol)] = (fee, now)
        return fee

    # -- routing ---------------------------------------------------------------------------

    def route_id(
        self, symbol: str, decision_ts_ms: int, seq: int, parent: str | None = None
    ) -> str:
        """The ``route_decision`` stream of one routed order (of ``parent``: an order of the
        run's own account routed by :class:`~live.venues.routed.RoutedVenue`)."""
        if parent is not None:
            return f"route:{parent}"
        return f"route:{client_order_id(self.run_id, symbol, decision_ts_ms, seq)}"

    async def route(
        self,
        symbol: str,
        side: str,
        qty: float | Decimal,
        *,
        decision_ts_ms: int,
        seq: int = 0,
        portfolio: PortfolioView,
        market: MarketView | None = None,
        parent: str | None = None,
    ) -> RouteResult:
        """Route a market order of ``qty`` ``symbol`` on ``side``; decide, record, send.

        ``portfolio`` is the run's account for the risk engine (positions by venue symbol);
        ``market`` its market view (``None``: one built from the quotes read). A route the log
        already holds (same symbol, decision bar and ``seq``; or same ``parent``) is resumed,
        not decided again. ``parent``: the client id of the run's order this route executes
        (its children's ids then derive from it: ``(run_id/parent, symbol, 0, ROUTE_SEQ + the
        venue's place)``).
        """
        if side not in ("buy", "sell"):
            raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
        if isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < MAX_ROUTES:
            raise ValueError(f"seq must be an int in [0, {MAX_ROUTES}), got {seq!r}")
        rid = self.route_id(symbol, decision_ts_ms, seq, parent)
        if rid not in self.routes:
            await self._decide(
                rid, symbol, side, float(qty), decision_ts_ms, seq, portfolio, market, parent=parent
            )
        await self._finish(rid)
        return RouteResult(rid, self.routes[rid], self)

    async def _decide(
        self,
        rid: str,
        symbol: str,
        side: str,
        qty: float,
        ts: int,
        seq: int,
        portfolio: PortfolioView,
        market: MarketView | None,
        *,
        parent: str | None = None,
    ) -> None:
        read = await asyncio.gather(*(self._read(v, symbol) for v in self.spec.venues))
        inputs = [r[0] for r in read]
        infos = {r[0].venue: r[1] for r in read}
        slippage = self.slippage or BookWalkSlippage(
            self.spec.slippage_bps,
            {(v.venue, v.symbol): (v.bids, v.asks) for v in inputs if v.quote_source == "book"},
            self.spec.beyond_book_bps,
        )
        decision = decide(symbol, side, qty, inputs, self.spec, slippage)  # type: ignore[arg-type]
        market = market or self._market(decision, infos)
        drafts, om_events, children = self._children(
            decision, infos, ts, seq, portfolio, market, parent
        )
        payload = {
            "route_id": rid,
            "requested": {
                "symbol": symbol,
                "side": side,
                "qty": qty,
                "decision_ts_ms": ts,
                "seq": seq,
                **({"parent": parent} if parent is not None else {}),
            },
            **decision.to_json(),
            "child_orders": children,
            "slippage_model": type(slippage).__name__,
            # Everything decide() read: the route can be decided again from the log.
            "inputs": inputs_record(inputs),
            "routing_spec": spec_record(self.spec),
            "slippage": slippage_record(slippage),
        }
        now = self.clock()
        self.store.append_many(
            [("route_decision", rid, payload, now)]
            + [(k, s, p, now) for k, s, p in drafts]
            + [(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in om_events]
        )
        self.routes[rid] = payload

    def _market(
        self, decision: RouteDecision, infos: Mapping[str, MarketInfo | None]
    ) -> MarketView:
        """A market view for the risk engine from the quotes read (the children's symbols)."""
        prices, lot, mn = {}, {}, {}
        for c in decision.candidates:
            mid = [p for p in (c.best_bid, c.best_ask) if p is not None and math.isfinite(p)]
            if mid:
                prices[c.symbol] = sum(mid) / len(mid)
            info = infos.get(c.venue)
            if info is not None:
                lot[c.symbol], mn[c.symbol] = float(info.lot), float(info.min_notional)
        return MarketView(prices=prices, lot=lot, min_notional=mn)

    def _children(
        self,
        decision: RouteDecision,
        infos: Mapping[str, MarketInfo | None],
        ts: int,
        seq: int,
        portfolio: PortfolioView,
        market: MarketView,
        parent: str | None = None,
    ) -> tuple[list[tuple[str, str, dict[str, Any]]], list[OmEvent], list[dict[str, Any]]]:
        """Risk-check and create each child; the risk drafts, the managers' events, and what
        the log records of each child."""
        run_id = self.run_id if parent is None else f"{self.run_id}/{parent}"
        drafts: list[tuple[str, str, dict[str, Any]]] = []
        om_events: list[OmEvent] = []
        children: list[dict[str, Any]] = []
        view = portfolio
        for child in decision.children:
            info = infos[child.venue]
            lot = info.lot if info is not None else Decimal(0)
            qty = lot_qty(child.qty, lot)
            side = cast(Any, decision.side)
            k = self.spec.venues.index(child.venue)
            child_seq = ROUTE_SEQ + (k if parent is not None else seq * MAX_VENUES + k)
            intent = Intent(run_id, child.symbol, side, qty, ts, seq=child_seq)
            fill_price = child.top * (1 + (1 if side == "buy" else -1) * child.slippage_bps / 1e4)
            verdict = self.risk.check_order(
                ProposedOrder(child.symbol, side, float(qty), fill_price, client_id=intent.client_id),
                view, market, now_ms=self.clock(),
            )  # fmt: skip
            drafts.extend(verdict.events)
            record = {"venue": child.venue, "symbol": child.symbol, "client_id": intent.client_id,
                      "planned_qty": str(qty), "risk": verdict.action, "risk_rule": verdict.rule}  # fmt: skip
            if verdict.action == "shrink":
                qty = lot_qty(verdict.qty, lot)
            if verdict.action == "reject" or qty <= 0:
                children.append(
                    {
                        **record,
                        "qty": "0",
                        "sent": False,
                        "refusal": verdict.reason or "below one lot",
                    }
                )
                continue
            intent = Intent(run_id, child.symbol, side, qty, ts, seq=intent.seq)
            om_events.extend(self.managers[child.venue].create(intent, self.clock()))
            children.append({**record, "qty": str(qty), "sent": True})
            view = view.after(child.symbol, float(qty) if side == "buy" else -float(qty))
        return drafts, om_events, children

    # -- sending and resolving -------------------------------------------------------------

    async def _finish(self, rid: str) -> None:
        """Send the route's NEW children and resolve the others still open (once each: a
        venue that answers a create with an ack only, such as Coinbase, is asked again; what
        is still open after that is the caller's reconciliation, or the next :meth:`recover`)."""
        route = self.routes[rid]

        async def each(names: list[tuple[str, str]], job: Any) -> None:
            # Every child runs to its end even when another fails; then the first failure.
            for outcome in await asyncio.gather(*(job(v, c) for v, c in names),
                                                return_exceptions=True):  # fmt: skip
                if isinstance(outcome, BaseException):
                    raise outcome

        def children(states: frozenset[OrderState]) -> list[tuple[str, str]]:
            return [(c["venue"], c["client_id"]) for c in route["child_orders"]
                    if c.get("sent")
                    and self.managers[c["venue"]].order(c["client_id"]).state in states]  # fmt: skip

        await each(children(_OPEN), self._resolve)
        if route.get("cancelled"):
            return  # its order was cancelled: no child is sent any more
        self._reissue_lost(rid)  # a create found lost just now goes again in this call
        await each(children(frozenset({OrderState.NEW})), self._send_then_resolve)

    def cancel(self, rid: str) -> None:
        """Mark a route cancelled (``route_cancelled``, logged first): no child of it is sent
        or re-issued from now on, after a restart too; the caller cancels the open ones."""
        if not self.routes[rid].get("cancelled"):
            self.store.append_many([("route_cancelled", rid, {"route_id": rid}, self.clock())])
            self.routes[rid]["cancelled"] = True

    def _reissue_lost(self, rid: str) -> None:
        """Create again, under a new client id, each child of a run's order (a ``parent``
        route) whose create never reached its venue (REJECTED as not found past the grace: a
        crash between ``order_submitted`` and the send). The ``route_reissue`` event (the new
        child, ``of`` the lost one) and its ``order_created`` are logged together; at most
        :data:`MAX_REISSUES` a child."""
        route = self.routes[rid]
        parent = route["requested"].get("parent")
        if parent is None:
            return  # a route of its own: its children's seqs leave no room for a re-issue
        done = {c.get("of") for c in route["child_orders"]}
        for c in list(route["child_orders"]):
            if not c.get("sent") or c["client_id"] in done:
                continue
            om = self.managers[c["venue"]]
            o = om.order(c["client_id"])
            lost = o.state is OrderState.REJECTED and (o.reason or "").startswith("not found")
            n = int(c.get("reissue", 0)) + 1
            if not lost or o.filled_qty or n > MAX_REISSUES:
                continue
            k = self.spec.venues.index(c["venue"])
            intent = Intent(f"{self.run_id}/{parent}", o.symbol, o.side, o.qty, o.decision_ts_ms,
                            seq=ROUTE_SEQ + k + MAX_VENUES * n)  # fmt: skip
            events = om.create(intent, self.clock())
            record = {**c, "client_id": intent.client_id, "of": c["client_id"], "reissue": n}
            self.store.append_many(
                [("route_reissue", rid, record, self.clock())]
                + [(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in events]
            )
            route["child_orders"].append(record)

    async def _send_then_resolve(self, name: str, cid: str) -> None:
        await self._send(name, cid)
        if self.managers[name].order(cid).state in _OPEN:
            await self._resolve(name, cid)

    async def recover(self) -> list[str]:
        """Finish every route of the log (after a restart); return their ids."""
        for rid in self.routes:
            await self._finish(rid)
        return list(self.routes)

    async def _send(self, name: str, cid: str) -> None:
        om, venue = self.managers[name], self.venues[name]
        order = om.order(cid)
        self._persist(om.mark_submitted(cid, self.clock()))
        self.hook("before_send")
        request = OrderRequest(cid, order.symbol, order.side, order.qty, order.order_type)
        try:
            reports: list[Report] = list(await venue.submit(request))
        except OutcomeUnknown as e:
            self.hook("after_send")
            self._persist(om.apply(Timeout(cid, str(e)[:200]), self.clock()))
            return
        except RetryLater as e:
            reports = [Rejected(cid, f"not accepted: {str(e)[:200]}")]
        except GiveUp as e:
            reports = [Rejected(cid, str(e)[:200])]
        self.hook("after_send")
        self._apply(name, reports)

    async def _resolve(self, name: str, cid: str) -> None:
        """Ask the venue about one child (by client id), then fetch its fills if the answer
        says more filled than the log holds (as the runner's reconciliation does)."""
        om, venue = self.managers[name], self.venues[name]
        order = om.order(cid)
        try:
            report: Report = await venue.query(order.symbol, cid)
        except OrderMissing:
            report = NotFound(cid)
        except VenueError:
            return  # still unknown: the next recover asks again
        self._apply(name, [report])
        order = om.order(cid)
        if order.venue_filled_qty > order.filled_qty:
            fills = await venue.order_fills(order.symbol, cid, order.venue_order_id)
            self._apply(name, [
                FillReport(cid, f.trade_id, f.qty, f.price, source="rest", fee=f.fee,
                           fee_asset=f.fee_asset)
                for f in fills
            ])  # fmt: skip

    def _apply(self, name: str, reports: list[Report]) -> None:
        om = self.managers[name]
        for r in reports:
            self._persist(om.apply(r, self.clock()))

    def apply(self, venue: str, reports: list[Report]) -> None:
        """Apply a venue's answers about its children (a cancel's, say) and log them."""
        self._apply(venue, reports)
