"""One account over several venues: every order of a run routed across them.

:class:`RoutedVenue` is the :class:`~live.venues.base.Venue` a run trades when ``live.routing``
names two or more venues (``docs/execution.md``, "Routing a run's orders"). To the runner it is
one account: its engine book, order manager, risk engine and reconciliation see one order per
decision, one position per symbol (the sum of the venues'), one balance per asset (the sum).
Underneath, each order the runner sends is routed by :class:`~live.routing.SmartRouter` —
every venue read (book, fee, balance, health), the split decided and logged as a
``route_decision`` with its reasons before any child is sent, each child sent to its venue and
followed by that venue's order manager — and the children's fills come back as the order's.

The routes and their children have their own log (``routes.db`` beside the run's): the run's
log keeps what the run decided (its orders, each with the route's id as its venue order id),
the routes log what the venues did, so neither reader counts a child as an order of the run.

The children of an order are found again from its client id alone (the route's stream is
``route:<client id>``; a child's id derives from it and its venue's place), so:

- a create sent again after a timeout resumes its route, never a second one;
- :meth:`query` finishes a route whose children a crash left unsent (the route was logged
  first) and asks the venues about the open ones; :meth:`start` finishes every route of the
  log (:meth:`SmartRouter.recover`).

Market data (bars, the reference price, the book's top, the clock) is the *primary* venue's
(``live.venue``). Routed orders are market orders; other types are refused by name. The run's
risk engine checks each order before it is sent; the router checks the children with its own
engine (``risk``: fail-closed by default), so an order-count limit is not spent twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, cast

from live.orders import (
    Ack,
    FillReport,
    NotFound,
    Order,
    OrderState,
    QueryResult,
    Rejected,
    Report,
)
from live.risk.views import PortfolioView
from live.routing import SmartRouter
from live.venues.base import (
    Bar,
    BookVenue,
    MarketInfo,
    OrderBook,
    OrderRequest,
    Venue,
    VenueCapabilities,
    VenueFill,
    VenueHealth,
    VenueOrder,
    no_reports,
)
from live.venues.errors import GiveUp, VenueError

__all__ = ["RoutedVenue"]

_OPEN = frozenset({OrderState.NEW, OrderState.SUBMITTED, OrderState.UNKNOWN,
                   OrderState.ACKNOWLEDGED, OrderState.PARTIALLY_FILLED})  # fmt: skip


class RoutedVenue:
    """The run's venue when its orders are routed (see the module doc).

    Parameters
    ----------
    primary
        The venue whose market data the run follows (one of the router's venues).
    router
        The router over every venue (its log is the routes log).
    owns_store
        Close the router's log with the venue.
    """

    def __init__(self, primary: str, router: SmartRouter, *, owns_store: bool = False) -> None:
        if primary not in router.venues:
            raise GiveUp(
                f"live.venue {primary!r} is not one of live.routing.venues "
                f"{list(router.venues)}: the run's bars come from one of them",
                venue=primary, operation="start", state_changing=False, source="Config",
            )  # fmt: skip
        self.router = router
        self._owns_store = owns_store
        self.primary: Venue = router.venues[primary]
        self.name = f"routed:{'+'.join(router.spec.venues)}"
        c = self.primary.capabilities
        self.capabilities = VenueCapabilities(
            fetch_ohlcv=c.fetch_ohlcv, market_orders=True, query_orders=True,
            cancel_orders=True, fetch_balance=True, fetch_fills=True, stream_bars=c.stream_bars,
            ticker=c.ticker, server_time=c.server_time, order_book=c.order_book,
        )  # fmt: skip

    # -- the connections ------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.gather(*(v.start() for v in self.router.venues.values()))
        await self.router.recover()  # routes a crash left unfinished

    async def close(self) -> None:
        for v in self.router.venues.values():
            await v.close()
        if self._owns_store:
            self.router.store.close()

    def now_ms(self) -> int:
        return self.primary.now_ms()

    async def health(self) -> VenueHealth:
        return await self.primary.health()

    # -- market data: the primary's ---------------------------------------------------------

    async def market(self, symbol: str) -> MarketInfo:
        return await self.primary.market(symbol)

    async def reference_price(self, symbol: str) -> Decimal:
        return await self.primary.reference_price(symbol)

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        return await cast(BookVenue, self.primary).order_book(symbol, depth)

    async def history(self, symbols: Sequence[str], timeframe: str, count: int) -> list[Bar]:
        return await self.primary.history(symbols, timeframe, count)

    def bars(
        self, symbols: Sequence[str], timeframe: str, since_ms: int | None
    ) -> AsyncIterator[Bar]:
        return self.primary.bars(symbols, timeframe, since_ms)

    def execution_bar(self, symbol: str) -> Bar | None:
        return None

    def reports(self) -> AsyncIterator[Report]:
        return no_reports()

    # -- orders: routed ---------------------------------------------------------------------

    def _route(self, client_id: str) -> dict[str, Any] | None:
        return self.router.routes.get(f"route:{client_id}")

    def _children(self, route: Mapping[str, Any]) -> list[tuple[str, Order]]:
        return [
            (c["venue"], self.router.managers[c["venue"]].order(c["client_id"]))
            for c in route["child_orders"]
            if c.get("sent")
        ]

    async def submit(self, request: OrderRequest) -> list[Report]:
        cid = request.client_id
        new = self._route(cid) is None  # else sent again (a lost answer): its route resumed
        if new and (request.order_type != "market" or request.reduce_only or request.post_only):
            return [Rejected(cid, f"a routed run sends market orders only, not "
                                  f"{request.order_type} (live.routing)")]  # fmt: skip
        # The run's risk engine checked the order; the router's checks each child.
        await self.router.route(
            request.symbol, request.side, request.qty, decision_ts_ms=self.now_ms(),
            parent=cid, portfolio=PortfolioView(equity=0.0),
        )  # fmt: skip
        return self._reports(cid, request.qty, final_only=False)

    def _reports(self, cid: str, qty: Decimal, *, final_only: bool) -> list[Report]:
        """The order as its route's children stand: an ack, their fills, its state."""
        route = self._route(cid)
        assert route is not None
        children = self._children(route)
        if not children:
            why = "; ".join(f"{c['venue']}: {c.get('refusal')}" for c in route["child_orders"])
            reason = route.get("reason") or why or "no venue could take it"
            return [Rejected(cid, f"routing: {str(reason)[:240]}")]
        out: list[Report] = [] if final_only else [Ack(cid, route["route_id"])]
        filled = Decimal(0)
        for venue, child in children:
            for f in self.router.managers[venue].fills(child.client_id):
                out.append(FillReport(cid, f"{venue}:{f.trade_id}", f.qty, f.price,
                                      source="route", fee=f.fee, fee_asset=f.fee_asset))  # fmt: skip
                filled += f.qty
        state = _state(children, filled, qty, cancelled=bool(route.get("cancelled")))
        out.append(QueryResult(cid, state, filled, route["route_id"]))
        return out

    async def query(self, symbol: str, client_id: str) -> Report:
        route = self._route(client_id)
        if route is None:
            return NotFound(client_id)
        await self.router.route(symbol, route["requested"]["side"], route["requested"]["qty"],
                                decision_ts_ms=0, parent=client_id,
                                portfolio=PortfolioView(equity=0.0))  # fmt: skip
        reports = self._reports(client_id, Decimal(str(route["requested"]["qty"])),
                                final_only=True)  # fmt: skip
        return reports[-1]

    async def order_fills(
        self, symbol: str, client_id: str, venue_order_id: str | None
    ) -> list[VenueFill]:
        route = self._route(client_id)
        if route is None:
            return []
        return self._venue_fills(client_id, route)

    def _venue_fills(self, cid: str, route: Mapping[str, Any]) -> list[VenueFill]:
        side = route["requested"]["side"]
        out = []
        for venue, child in self._children(route):
            for f in self.router.managers[venue].fills(child.client_id):
                out.append(VenueFill(route["requested"]["symbol"], cid, route["route_id"],
                                     f"{venue}:{f.trade_id}", side, f.qty, f.price,
                                     f.fee or Decimal(0), f.fee_asset, f.ts_ms))  # fmt: skip
        return out

    async def fills(self, symbol: str, since_ms: int | None = None) -> list[VenueFill]:
        out = []
        for rid, route in self.router.routes.items():
            cid = rid.removeprefix("route:")
            if route["requested"].get("parent") != cid or route["requested"]["symbol"] != symbol:
                continue
            out += [f for f in self._venue_fills(cid, route)
                    if since_ms is None or f.ts_ms >= since_ms]  # fmt: skip
        return sorted(out, key=lambda f: f.ts_ms)

    async def cancel(self, symbol: str, client_id: str) -> list[Report]:
        route = self._route(client_id)
        if route is None:
            return [NotFound(client_id)]
        self.router.cancel(route["route_id"])
        for venue, child in self._children(route):
            if child.state in _OPEN - {OrderState.NEW}:
                try:
                    reports = await self.router.venues[venue].cancel(child.symbol, child.client_id)
                except VenueError:
                    continue  # still open: the next query asks again
                self.router.apply(venue, list(reports))
        qty = Decimal(str(route["requested"]["qty"]))
        return self._reports(client_id, qty, final_only=True)[-1:]

    async def open_orders(self, symbols: Sequence[str]) -> list[VenueOrder]:
        out = []
        for rid, route in self.router.routes.items():
            req = route["requested"]
            if req.get("parent") is None or req["symbol"] not in symbols:
                continue
            children = self._children(route)
            if any(c.state in _OPEN for _, c in children):
                filled = sum((c.filled_qty for _, c in children), Decimal(0))
                state = OrderState.PARTIALLY_FILLED if filled else OrderState.ACKNOWLEDGED
                out.append(VenueOrder(req["symbol"], req["parent"], rid, req["side"], state,
                                      Decimal(str(req["qty"])), filled))  # fmt: skip
        return out

    # -- the account: the venues' sum -------------------------------------------------------

    async def balances(self) -> dict[str, Decimal]:
        total: dict[str, Decimal] = {}
        for v in self.router.venues.values():
            for asset, q in (await v.balances()).items():
                total[asset] = total.get(asset, Decimal(0)) + q
        return total

    async def positions(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        total = dict.fromkeys(symbols, Decimal(0))
        spec = self.router.spec
        for name, v in self.router.venues.items():
            own = {spec.symbol_on(s, name): s for s in symbols}
            for vs, q in (await v.positions(list(own))).items():
                total[own[vs]] += q
        return total


def _state(
    children: list[tuple[str, Order]], filled: Decimal, qty: Decimal, *, cancelled: bool
) -> OrderState:
    """The order's state from its children's: open while one is (a cancelled route's unsent
    children are not); then filled when all of it filled, cancelled, or expired with what
    filled (a market order the venues could not take whole; it was acknowledged, so never
    rejected)."""
    still = _OPEN - {OrderState.NEW} if cancelled else _OPEN
    if any(c.state in still for _, c in children):
        return OrderState.PARTIALLY_FILLED if filled else OrderState.ACKNOWLEDGED
    if filled >= qty:
        return OrderState.FILLED
    return OrderState.CANCELLED if cancelled else OrderState.EXPIRED
