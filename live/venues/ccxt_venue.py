"""A :class:`~live.venues.base.Venue` on top of a ccxt client (``ccxt.pro``: REST and websockets).

:class:`CcxtVenue` holds everything venues share; the per-exchange modules
(``live/venues/binance``, ``binanceusdm``, ``coinbase``) subclass it and override only what
differs: the client-id parameter, how an order is looked up by client id, how trades are
paginated, what a "duplicate client id" refusal looks like. Any other ccxt exchange id works,
best effort, through the generic class (see :func:`live.venues.registry.make_venue`).

Every ccxt call is translated into :mod:`live.venues.errors` (the original stays ``__cause__``).
Decisions on a create (:meth:`CcxtVenue.submit`):

- answer → ``Ack`` + one ``FillReport`` per fill the answer lists (+ ``Cancelled``/``Expired``
  if the order already ended, e.g. an IOC remainder), or ``Rejected`` if the venue rejected it;
- ``OutcomeUnknown`` (timeout, 5xx, lost connection) propagates: reconcile by :meth:`query`;
- a refusal of *this* order — insufficient funds, invalid order (filters, precision, min
  notional), operation rejected, market closed — is a definitive ``Rejected``: nothing was booked;
- "duplicate client order id" means an order with that id already exists: ``OutcomeUnknown``
  (query it), never ``Rejected``; the adapter also refuses locally to send a client id it has
  already sent (Binance only checks uniqueness among *open* orders, so a filled order's id
  would be accepted again and trade twice);
- any other refusal (authentication, permission, bad request, unsupported) raises ``GiveUp``:
  it concerns the setup, not the order, and must halt rather than look like a rejected order;
- ``RetryLater`` (rate limit, clock skew) propagates: nothing was booked, resend after
  ``retry_after``.

Capabilities (:attr:`CcxtVenue.capabilities`, see :class:`~live.venues.base.VenueCapabilities`):
what the adapter implements where ccxt's client offers it (``client.has``), then what each
adapter class declares (:attr:`CcxtVenue.capability_overrides`).

The stream and bar helpers (:mod:`live.venues._ccxt_stream`, :mod:`live.venues._ccxt_bars`) use
the adapter through small protocols of public members (``StreamHost``, ``BarHost``): ``client``,
``tracker`` (:class:`~live.venues._ccxt_orders.OrderTracker`, the client ids sent),
``health_log``, ``capabilities``, ``calling``, ``closed_bars``, ``note_close`` and the per-venue
hooks ``stream_ready`` and ``trade_client_id`` — never its private attributes.

Health (:meth:`CcxtVenue.health`): a stream (the user-data stream, see
:mod:`live.venues._ccxt_stream`; the klines of one symbol) is down from its first failure until
it delivers again (a kline), each return counting one reconnection; a call failing inside
``calling`` is dated, unless its error is an answer the adapter acts on (order not found, order
refused, cancel of an ended order).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import ccxt

from live.orders import (
    LIMIT_TYPES,
    TRIGGERED_TYPES,
    Cancelled,
    NotFound,
    OrderState,
    Rejected,
    Report,
)
from live.venues._ccxt_bars import BarStream, rest_closed_bars, rest_history
from live.venues._ccxt_fees import read_taker_fee_bps
from live.venues._ccxt_funding import FundingHistory
from live.venues._ccxt_orders import OrderTracker, created_reports, order_state, query_result
from live.venues._ccxt_stream import UserStream
from live.venues._ccxt_util import (
    HealthLog,
    build_client,
    camel,
    dec,
    numeric_first,
    rebase_api_urls,
    side_of,
    trade_key,
    venue_fill,
)
from live.venues._clock import MARKET_CLOCK_SKEW_MS, VenueClock
from live.venues.base import (
    Bar,
    MarketInfo,
    OrderBook,
    OrderRequest,
    VenueCapabilities,
    VenueFill,
    VenueHealth,
    VenueOrder,
    unsupported_request,
)
from live.venues.errors import (
    GiveUp,
    OrderMissing,
    OutcomeUnknown,
    RetryLater,
    VenueError,
    refusal_kind,
    translating,
)

__all__ = ["CcxtVenue", "build_client", "dec", "rebase_api_urls"]

log = logging.getLogger(__name__)

S = OrderState
_REFUSALS = (ccxt.InsufficientFunds, ccxt.InvalidOrder, ccxt.OperationRejected, ccxt.MarketClosed)
# A cancel refused with these: the order is not open (ended, unknown); a query says which.
_NOT_CANCELLABLE = (ccxt.InvalidOrder, ccxt.BadRequest, ccxt.OperationRejected)


def not_cancellable(err: VenueError) -> bool:
    """Whether a cancel error says the order is not open (an answer: a query follows)."""
    return isinstance(err, GiveUp) and isinstance(err.__cause__, _NOT_CANCELLABLE)


class CcxtVenue(FundingHistory):
    """A venue backed by a ccxt client; see the module docstring for the create decisions.

    Parameters
    ----------
    client
        A ccxt async client (``ccxt.pro`` class for websockets); see :func:`build_client`.
    name
        The venue's name (default: the client's id).
    clock
        Local wall clock in ms (tests inject one); :meth:`now_ms` adds the venue's offset.
    poll_interval_s
        How often :meth:`bars` polls REST when the websocket is quiet or unavailable.
    reconnect_delays_s
        Back-off between websocket reconnection attempts (the last one repeats).
    price_timeframe
        Bars read by :meth:`reference_price` when the venue has no ticker.
    client_factory
        Builds another client like ``client``: :meth:`reports` then streams on its own client,
        thrown away after a failure (ccxt can leave a failed subscription half-done), so the
        REST calls and :meth:`bars` are not disturbed. Without it, everything shares ``client``.
    clock_check_s
        How old the clock measurement may get before :meth:`health` measures it again.
    """

    client_id_param: ClassVar[str] = "clientOrderId"
    """The create parameter carrying the client order id."""
    duplicate_markers: ClassVar[tuple[str, ...]] = ()
    """Substrings of an error message meaning "this client order id already exists"."""
    refusal_markers: ClassVar[tuple[str, ...]] = ()
    """Substrings of a create error meaning "this order is refused" beyond ccxt's classes."""
    trades_page_limit: ClassVar[int | None] = None
    ohlcv_page_limit: ClassVar[int] = 500
    capability_overrides: ClassVar[Mapping[str, Any]] = {}
    """Capabilities this adapter class declares whatever ccxt's ``has`` says (e.g. the spot
    Binance adapter trades no perpetuals although ccxt's ``binance`` client could)."""

    def __init__(
        self,
        client: Any,
        *,
        name: str | None = None,
        clock: Callable[[], int] | None = None,
        poll_interval_s: float = 5.0,
        reconnect_delays_s: Sequence[float] = (0.5, 1.0, 2.0, 5.0, 15.0, 30.0),
        price_timeframe: str = "1m",
        client_factory: Callable[[], Any] | None = None,
        clock_check_s: float = 60.0,
    ) -> None:
        self.client = client
        self.name: str = name or str(client.id)
        self._clock = clock or (lambda: int(time.time() * 1000))
        self._venue_clock = VenueClock(self._clock, clock_check_s)
        self.poll_interval_s = poll_interval_s
        self.reconnect_delays_s = tuple(reconnect_delays_s) or (1.0,)
        self.price_timeframe = price_timeframe
        self._user_stream = UserStream(self, client_factory)
        self._last_close: dict[str, Decimal] = {}  # symbol -> close of the newest closed bar seen
        self._started = False
        self.tracker = OrderTracker()
        """Client ids sent or looked up (read and updated by the user-data stream too)."""
        self.health_log = HealthLog(self.now_ms)
        """Streams lost and back, failed calls: what :meth:`health` reports."""
        self.capabilities = self._capabilities()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def _capabilities(self) -> VenueCapabilities:
        """What this adapter does on this venue: its own features where the client offers them
        (``client.has``), then the class's :attr:`capability_overrides`.

        The generic adapter declares market and limit orders with the venue's default time in
        force (GTC) only: how an arbitrary exchange names its stops, post-only flag and time in
        force is not known, so the dedicated adapters declare those (their
        :attr:`capability_overrides`; the params are ccxt's unified ones, see
        :meth:`_create_params`); ``reduceOnly`` is sent on contract markets only.
        """
        has = self.client.has

        def on(*calls: str) -> bool:
            return all(bool(has.get(c)) for c in calls)

        ordering = on("createOrder")
        contracts = on("swap") or on("future")
        streams = self.stream_methods()
        caps = VenueCapabilities(
            fetch_ohlcv=on("fetchOHLCV"),
            market_orders=ordering and has.get("createMarketOrder") is not False,
            limit_orders=ordering and has.get("createLimitOrder") is not False,
            query_orders=on("fetchOrder") or on("fetchOrders") or on("fetchOpenOrders"),
            cancel_orders=on("cancelOrder"),
            fetch_balance=on("fetchBalance"),
            fetch_fills=on("fetchMyTrades"),
            stream_bars=on("watchOHLCV"),
            stream_orders="watch_orders" in streams,
            stream_trades="watch_orders" in streams and "watch_my_trades" in streams,
            reduce_only=contracts and on("createReduceOnlyOrder"),
            time_in_force=frozenset({"GTC"}) if ordering else frozenset(),
            funding=on("swap", "fetchFundingHistory"),
            contract_positions=contracts and on("fetchPositions"),
            ticker=on("fetchTicker"),
            server_time=on("fetchTime"),
            order_book=on("fetchOrderBook"),
            trading_fees=on("fetchTradingFee"),
        )
        return dataclasses.replace(caps, **self.capability_overrides)

    def execution_bar(self, symbol: str) -> Bar | None:
        """``None``: a live venue does not know the bar an order sent now executes on
        (``capabilities.execution_bar`` is ``False``)."""
        return None

    @property
    def clock_check_s(self) -> float:
        """How old the clock measurement may get before :meth:`health` measures it again."""
        return self._venue_clock.check_s

    # -- plumbing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def calling(
        self,
        operation: str,
        *,
        state_changing: bool = False,
        client_id: str | None = None,
        normal: Callable[[VenueError], bool] | None = None,
    ) -> Iterator[None]:
        """Translate the block's errors (:func:`translating`) and note each failure in the
        health log, unless it is one the caller takes as an answer: ``OrderMissing``, or what
        ``normal`` accepts (a refused order, a cancel of an ended one)."""
        raised_here = False
        try:
            with translating(
                operation=operation,
                state_changing=state_changing,
                venue=self.name,
                client_id=client_id,
                client=self.client,
            ):
                try:
                    yield
                except VenueError:
                    raise  # an inner call's, noted there (or the adapter's own verdict)
                except Exception:
                    raised_here = True
                    raise
        except VenueError as err:
            answer = isinstance(err, OrderMissing) or (normal is not None and normal(err))
            if raised_here and not answer:
                cause = err.__cause__ if err.__cause__ is not None else err
                self.health_log.error(operation, type(cause).__name__)
            raise

    @property
    def known_client_ids(self) -> frozenset[str]:
        """Client ids this adapter has sent or looked up (the ones a resync covers)."""
        return self.tracker.client_ids

    def note_close(self, symbol: str, close: Decimal) -> None:
        """The close of the newest closed bar of ``symbol`` seen (a reference price of last
        resort, see :meth:`reference_price`)."""
        self._last_close[symbol] = close

    # -- lifecycle and reference data ----------------------------------------------------------

    async def start(self) -> None:
        """Load markets and synchronise the clock with the venue's (idempotent)."""
        if self._started:
            return
        with self.calling("load_markets"):
            await self.client.load_markets()
        await self.sync_clock()
        skew = self._venue_clock.skew_ms
        if skew is not None and abs(skew) > MARKET_CLOCK_SKEW_MS:
            # A replayed market's clock (a simulator): learn its rate before anything is timed.
            await asyncio.sleep(0.25)
            await self.sync_clock()
        self._started = True

    async def close(self) -> None:
        """Close the client's HTTP session and websockets (idempotent)."""
        await self._user_stream.close()
        with contextlib.suppress(Exception):
            await self.client.close()

    async def sync_clock(self) -> None:
        """Measure the venue clock's offset from the local one, and its rate (when the venue
        tells its time; see :mod:`live.venues._clock`)."""
        before = self._clock()
        self._venue_clock.tried(before)
        if not self.client.has.get("fetchTime"):
            return
        with self.calling("fetch_time"):
            server = await self.client.fetch_time()
            after = self._clock()
            if server is not None:
                self._venue_clock.measured(before, after, int(server))

    async def health(self) -> VenueHealth:
        """Streams, reconnections, failed calls and the clock offset (measured again by
        :meth:`sync_clock` once ``clock_check_s`` old; a failed measurement keeps the last one,
        and is retried ``clock_check_s`` later). Never raises a venue error."""
        if self._started and self._venue_clock.due:
            try:
                await self.sync_clock()
            except VenueError as err:  # noted by calling
                log.info("%s: clock not measured (%s)", self.name, err)
        return self.health_log.snapshot(realtime=True, clock_skew_ms=self._venue_clock.skew_ms)

    def now_ms(self) -> int:
        """The venue's clock: the local clock plus the offset measured by :meth:`sync_clock`,
        running at the venue clock's measured rate (a simulator's market clock may run faster)."""
        return self._venue_clock.now()

    def _market(self, symbol: str) -> dict[str, Any]:
        with self.calling("market"):
            market: dict[str, Any] = self.client.market(symbol)
        return market

    async def market(self, symbol: str) -> MarketInfo:
        """Trading rules of ``symbol`` from ccxt's market (steps honour ``precisionMode``)."""
        await self.start()
        m = self._market(symbol)
        limits = m.get("limits") or {}
        return MarketInfo(
            symbol=m["symbol"],
            base=m["base"],
            quote=m["quote"],
            lot=self._step(m["precision"].get("amount")),
            tick=self._step(m["precision"].get("price")),
            min_qty=dec((limits.get("amount") or {}).get("min") or 0),
            min_notional=dec((limits.get("cost") or {}).get("min") or 0),
            contract=bool(m.get("contract")),
        )

    def _step(self, precision: Any) -> Decimal:
        """A quantity/price step from a ccxt precision (a step in TICK_SIZE mode, else decimals)."""
        if precision is None:
            return Decimal(0)
        if self.client.precisionMode == ccxt.TICK_SIZE:
            return dec(precision)
        if self.client.precisionMode == ccxt.DECIMAL_PLACES:
            return Decimal(1).scaleb(-int(precision))
        return Decimal(0)  # SIGNIFICANT_DIGITS: no fixed step

    async def reference_price(self, symbol: str) -> Decimal:
        """The ticker's last price; without a ticker, the close of the newest closed bar (read
        over REST in ``price_timeframe``, or the newest one :meth:`bars` has seen)."""
        await self.start()
        if self.client.has.get("fetchTicker"):
            try:
                # No ticker for this symbol (GiveUp) is an answer: the last bar stands in.
                with self.calling("fetch_ticker", normal=lambda e: isinstance(e, GiveUp)):
                    ticker = await self.client.fetch_ticker(symbol)
                last = ticker.get("last") or ticker.get("close")
                if last:
                    return dec(last)
            except (RetryLater, GiveUp) as err:
                log.info(
                    "%s: no ticker for %s (%s); using the last closed bar", self.name, symbol, err
                )
        try:
            bars = await self.closed_bars(symbol, self.price_timeframe, None, limit=5)
        except (RetryLater, GiveUp):
            if symbol in self._last_close:
                return self._last_close[symbol]
            raise
        if bars:
            return dec(bars[-1].close)
        if symbol in self._last_close:
            return self._last_close[symbol]
        raise GiveUp(f"no ticker and no closed bar for {symbol}", venue=self.name,
                     operation="reference_price", state_changing=False, source="NoPrice")  # fmt: skip

    async def taker_fee_bps(self, symbol: str) -> float:
        """The account's taker fee (bps; capability ``trading_fees``): ``_ccxt_fees``."""
        return await read_taker_fee_bps(self, symbol)

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        """The top ``depth`` levels a side of ``symbol``'s book (``fetch_order_book``; the
        capability ``order_book``); a level is ``(price, qty)``, best first."""
        await self.start()
        with self.calling("fetch_order_book"):
            book = await self.client.fetch_order_book(symbol, depth)

        def side(rows: Any) -> tuple[tuple[Decimal, Decimal], ...]:
            levels = ((dec(r[0]), dec(r[1])) for r in (rows or [])[:depth])
            return tuple((p, q) for p, q in levels if q > 0)

        ts = book.get("timestamp")
        return OrderBook(
            symbol, side(book.get("bids")), side(book.get("asks")),
            int(ts) if ts is not None else self.now_ms(),
        )  # fmt: skip

    # -- orders --------------------------------------------------------------------------------

    def _create_params(self, request: OrderRequest, market: dict[str, Any]) -> dict[str, Any]:
        """ccxt's unified create params of ``request``: the client id, ``reduceOnly``
        (contracts), the trigger (``triggerPrice`` for a stop, ``takeProfitPrice`` for a
        take-profit), ``postOnly`` (also for GTX), ``timeInForce``, ``closePosition``."""
        params: dict[str, Any] = {self.client_id_param: request.client_id}
        if request.reduce_only and market.get("contract"):
            params["reduceOnly"] = True
        if request.order_type == "trailing_stop_market":
            params["trailingPercent"] = float(request.trailing_pct or 0)
            if request.stop_price is not None:
                params["trailingTriggerPrice"] = float(request.stop_price)
        elif request.stop_price is not None:
            take = request.order_type.startswith("take_profit")
            params["takeProfitPrice" if take else "triggerPrice"] = float(request.stop_price)
        tif = request.time_in_force
        if request.post_only or tif == "GTX":
            params["postOnly"] = True
        elif tif is not None:
            params["timeInForce"] = tif
        if request.close_position:
            params["closePosition"] = True
        return params

    def _is_duplicate(self, exc: BaseException | None) -> bool:
        if isinstance(exc, ccxt.DuplicateOrderId):
            return True
        text = str(exc) if exc is not None else ""
        return any(marker in text for marker in self.duplicate_markers)

    def _is_refusal(self, exc: BaseException | None) -> bool:
        """Whether a create error refuses this order for good (so: ``Rejected``)."""
        if isinstance(exc, _REFUSALS):
            return True
        text = str(exc) if exc is not None else ""
        return any(marker in text for marker in self.refusal_markers)

    def _answered(self, err: VenueError) -> bool:
        """Whether a create error is the venue's answer about this order (refused, or its
        client id taken), not a failure of the venue."""
        cause = err.__cause__
        return isinstance(err, GiveUp) and (self._is_refusal(cause) or self._is_duplicate(cause))

    def _local_refusal(self, request: OrderRequest, info: MarketInfo) -> str | None:
        """Why ``request`` cannot be sent as is (ccxt would silently round it), or ``None``."""
        if info.lot and request.qty % info.lot:
            return f"qty {request.qty} is not a multiple of the lot {info.lot}"
        price = request.limit_price
        if request.order_type in LIMIT_TYPES and price is None:
            return f"a {request.order_type} order needs a limit_price"
        if request.order_type in TRIGGERED_TYPES and request.stop_price is None:
            return f"a {request.order_type} order needs a stop_price"
        for name, value in (("limit price", price), ("stop price", request.stop_price)):
            if value is not None and info.tick and value % info.tick:
                return f"{name} {value} is not a multiple of the tick {info.tick}"
        return None

    async def submit(self, request: OrderRequest) -> list[Report]:
        """Send a create with the client id; see the module docstring for every outcome."""
        await self.start()
        cid = request.client_id
        if self.tracker.was_sent(cid):
            raise OutcomeUnknown(
                "this client id was already sent by this adapter; query it, do not resend",
                venue=self.name,
                operation="create_order",
                state_changing=True,
                source="AlreadySent",
                client_id=cid,
            )
        market = self._market(request.symbol)
        info = await self.market(request.symbol)
        why = unsupported_request(request, self.capabilities) or self._local_refusal(request, info)
        if why is not None:
            return [Rejected(cid, reason=f"not sent: {why}")]
        price = float(request.limit_price) if request.limit_price is not None else None
        self.tracker.sending(cid, request.symbol, self.now_ms())
        try:
            with self.calling(
                "create_order", state_changing=True, client_id=cid, normal=self._answered
            ):
                order = await self.client.create_order(
                    request.symbol,
                    "limit" if request.order_type in LIMIT_TYPES else "market",
                    request.side,
                    float(request.qty),
                    price,
                    self._create_params(request, market),
                )
        except GiveUp as err:
            if self._is_duplicate(err.__cause__):
                raise OutcomeUnknown(
                    f"the venue says the client id exists already: query it [{err.detail}]",
                    venue=self.name,
                    operation="create_order",
                    state_changing=True,
                    source=err.source,
                    client_id=cid,
                ) from err.__cause__
            self.tracker.forget(cid)
            if self._is_refusal(err.__cause__):
                kind = refusal_kind(err.__cause__)
                return [Rejected(cid, reason=f"{kind}: {err.source}: {err.detail}")]
            raise
        except RetryLater:
            self.tracker.forget(cid)  # refused before acting: the caller may resend
            raise
        return created_reports(self.tracker, cid, request.symbol, order)

    async def _fetch_by_client_id(self, symbol: str, client_id: str) -> dict[str, Any] | None:
        """The venue's order of ``client_id``; ``None`` (or ``OrderMissing``) if unknown.

        Generic: by the venue order id when known, else among open then closed orders.
        """
        tracked = self.tracker.get(client_id)
        if tracked is not None and tracked.venue_order_id is not None:
            with self.calling("fetch_order", client_id=client_id):
                order: dict[str, Any] = await self.client.fetch_order(
                    tracked.venue_order_id, symbol
                )
            return order
        for method in ("fetch_open_orders", "fetch_closed_orders", "fetch_orders"):
            if not self.client.has.get(camel(method)):
                continue
            with self.calling(method, client_id=client_id):
                orders = await getattr(self.client, method)(symbol)
            for candidate in orders:
                if candidate.get("clientOrderId") == client_id:
                    return dict(candidate)
        return None

    async def query(self, symbol: str, client_id: str) -> Report:
        """QueryResult (status, cumulative filled, venue id) or NotFound."""
        await self.start()
        try:
            order = await self._fetch_by_client_id(symbol, client_id)
        except OrderMissing:
            return NotFound(client_id)
        if order is None:
            return NotFound(client_id)
        return query_result(self.tracker, client_id, order)

    async def _cancel_by_client_id(self, symbol: str, client_id: str) -> dict[str, Any] | None:
        """Send the cancel; ``None`` if the venue does not know the order."""
        tracked = self.tracker.get(client_id)
        oid = tracked.venue_order_id if tracked is not None else None
        if oid is None:
            found = await self._fetch_by_client_id(symbol, client_id)
            if found is None:
                return None
            oid = str(found["id"])
            self.tracker.track(client_id, symbol, oid)
        with self.calling(
            "cancel_order", state_changing=True, client_id=client_id, normal=not_cancellable
        ):
            order: dict[str, Any] = await self.client.cancel_order(oid, symbol)
        return order

    async def cancel(self, symbol: str, client_id: str) -> list[Report]:
        """Cancelled; or, if the order had already ended or is unknown, what a query says."""
        await self.start()
        try:
            order = await self._cancel_by_client_id(symbol, client_id)
        except (OrderMissing, GiveUp) as err:
            if isinstance(err, GiveUp) and not not_cancellable(err):
                raise
            # Not cancellable: it ended (filled, cancelled) or never existed; ask.
            return [await self.query(symbol, client_id)]
        if order is None:
            return [NotFound(client_id)]
        state = order_state(order)
        if state in (None, S.CANCELLED, S.ACKNOWLEDGED, S.PARTIALLY_FILLED):
            self.tracker.track(client_id, symbol, order.get("id"), done=True)
            return [Cancelled(client_id)]
        return [query_result(self.tracker, client_id, order)]

    def _venue_order(self, order: Mapping[str, Any]) -> VenueOrder:
        cid = order.get("clientOrderId") or self.tracker.client_id(order.get("id"))
        self.tracker.track(cid, order["symbol"], order.get("id"))
        average = order.get("average")
        return VenueOrder(
            symbol=order["symbol"],
            client_id=cid,
            venue_order_id=str(order["id"]),
            side=side_of(order.get("side")),
            status=order_state(order) or S.ACKNOWLEDGED,
            qty=dec(order.get("amount") or 0),
            filled_qty=dec(order.get("filled") or 0),
            avg_price=dec(average) if average else None,
        )

    async def open_orders(self, symbols: Sequence[str]) -> list[VenueOrder]:
        """The account's open orders on ``symbols`` (one request per symbol)."""
        await self.start()
        out: list[VenueOrder] = []
        for symbol in symbols:
            with self.calling("fetch_open_orders"):
                orders = await self.client.fetch_open_orders(symbol)
            out.extend(self._venue_order(o) for o in orders)
        return out

    # -- fills ---------------------------------------------------------------------------------

    async def _trades_since(self, symbol: str, since_ms: int | None) -> list[dict[str, Any]]:
        """Every trade of the account on ``symbol`` from ``since_ms`` (paged by time)."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        since = since_ms
        while True:
            with self.calling("fetch_my_trades"):
                page = await self.client.fetch_my_trades(symbol, since, self.trades_page_limit)
            fresh = [t for t in page if trade_key(t) not in seen]
            for t in fresh:
                seen.add(trade_key(t))
            out.extend(fresh)
            full = self.trades_page_limit is not None and len(page) >= self.trades_page_limit
            if not fresh or not full or (since is None and not page):
                return out
            since = max(int(t["timestamp"]) for t in page)

    async def _client_id_of_order(self, symbol: str, venue_order_id: str) -> str | None:
        """The client id of an order known only by its venue id (one lookup, then cached)."""
        known = self.tracker.client_id(venue_order_id)
        if known is not None:
            return known
        if self.tracker.carries_no_client_id(venue_order_id) or not self.client.has.get(
            "fetchOrder"
        ):
            return None
        try:
            with self.calling("fetch_order"):
                order = await self.client.fetch_order(venue_order_id, symbol)
        except (OrderMissing, GiveUp):
            order = {}
        cid = order.get("clientOrderId") or None
        self.tracker.learn(venue_order_id, cid)
        return cid

    def trade_client_id(self, trade: Mapping[str, Any]) -> str | None:
        """A client id the trade itself carries (none in ccxt's unified trade)."""
        return None

    async def fills(self, symbol: str, since_ms: int | None = None) -> list[VenueFill]:
        """The account's executions on ``symbol`` from ``since_ms``, oldest first, each trade once
        (a trade the venue lists twice is reported once), with its order's client id."""
        await self.start()
        out: list[VenueFill] = []
        for trade in await self._trades_since(symbol, since_ms):
            oid = str(trade.get("order"))
            cid = self.trade_client_id(trade) or await self._client_id_of_order(symbol, oid)
            out.append(venue_fill(trade, symbol, cid))
        out.sort(key=lambda f: (f.ts_ms, numeric_first(f.trade_id)))
        return out

    async def _trades_of_order(
        self, symbol: str, venue_order_id: str, since: int | None
    ) -> list[Any]:
        """The venue's trades of one order (generic: the account's trades, filtered)."""
        if self.client.has.get("fetchOrderTrades"):
            with self.calling("fetch_order_trades"):
                trades: list[Any] = await self.client.fetch_order_trades(venue_order_id, symbol)
            return trades
        return [
            t
            for t in await self._trades_since(symbol, since)
            if str(t.get("order")) == venue_order_id
        ]

    async def order_fills(
        self, symbol: str, client_id: str, venue_order_id: str | None
    ) -> list[VenueFill]:
        """Every execution of one order, each trade once, oldest first.

        The venue order id is ``venue_order_id``, or the one this adapter knows, or (failing
        both) looked up by client id; an order the venue does not know has no fills.
        """
        await self.start()
        tracked = self.tracker.get(client_id)
        oid = venue_order_id or (tracked.venue_order_id if tracked is not None else None)
        if oid is None:
            try:
                found = await self._fetch_by_client_id(symbol, client_id)
            except OrderMissing:
                found = None
            if found is None or found.get("id") in (None, ""):
                return []
            oid = str(found["id"])
        self.tracker.track(client_id, symbol, oid)
        since = None if tracked is None or tracked.sent_ms is None else tracked.sent_ms - 60_000
        unique = {trade_key(t): t for t in await self._trades_of_order(symbol, oid, since)}
        out = [venue_fill(t, symbol, client_id) for t in unique.values()]
        out.sort(key=lambda f: (f.ts_ms, numeric_first(f.trade_id)))
        return out

    # -- account -------------------------------------------------------------------------------

    async def balances(self) -> dict[str, Decimal]:
        """Total (free + locked) of every asset with a non-zero balance."""
        await self.start()
        with self.calling("fetch_balance"):
            balance = await self.client.fetch_balance()
        totals = balance.get("total") or {}
        return {asset: dec(v) for asset, v in totals.items() if v not in (None, 0, 0.0)}

    async def positions(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        """Spot: each symbol's base-asset total balance. Derivatives: the signed position."""
        await self.start()
        spot = [s for s in symbols if not self._market(s).get("contract")]
        out: dict[str, Decimal] = {}
        if spot:
            held = await self.balances()
            for s in spot:
                out[s] = held.get(self._market(s)["base"], Decimal(0))
        contracts = [s for s in symbols if s not in spot]
        if contracts:
            out.update(await self._contract_positions(contracts))
        return {s: out[s] for s in symbols}

    async def _contract_positions(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        with self.calling("fetch_positions"):
            rows = await self.client.fetch_positions(list(symbols))
        out = dict.fromkeys(symbols, Decimal(0))
        for row in rows:
            if row.get("symbol") in out:
                out[row["symbol"]] += self._signed_position(row)
        return out

    def _signed_position(self, row: Mapping[str, Any]) -> Decimal:
        size = dec(row.get("contracts") or 0) * dec(
            self._market(row["symbol"]).get("contractSize") or 1
        )
        return -size if row.get("side") == "short" else size

    # -- user-data stream ----------------------------------------------------------------------

    def stream_methods(self) -> list[str]:
        """The user-data watchers the client has (orders first; trades when it streams them)."""
        return [m for m in ("watch_orders", "watch_my_trades") if self.client.has.get(camel(m))]

    async def stream_ready(self, client: Any) -> None:
        """Wait until ``client``'s user-data subscription is in place (before the resync)."""
        await asyncio.sleep(0.5)

    def reports(self) -> AsyncIterator[Report]:
        """Order updates from the user-data stream (``watch_orders`` + ``watch_my_trades``).

        After every (re)connection the orders this adapter sent and has not seen end are
        queried over REST (``QueryResult``/``NotFound`` + their fills as ``FillReport`` with
        ``source="rest"``), so an update missed while disconnected is not lost. Reconnects with
        back-off; raises :class:`GiveUp` on authentication/permission failures (when the
        stream keeps failing for another reason than the network, a REST call is made to tell
        them). Without a stream, yields nothing (the runner polls :meth:`query`).
        """
        return self._user_stream.run()

    # -- bars ----------------------------------------------------------------------------------

    async def closed_bars(
        self, symbol: str, timeframe: str, since_ms: int | None, *, limit: int | None = None
    ) -> list[Bar]:
        """Closed bars of ``symbol`` from ``since_ms`` (the latest ``limit`` if ``None``) over REST.

        A candle is closed when its period is over by the venue clock or a later one is listed.
        """
        return await rest_closed_bars(self, symbol, timeframe, since_ms, limit)

    async def history(self, symbols: Sequence[str], timeframe: str, count: int) -> list[Bar]:
        """The last ``count`` closed bars of each symbol over REST, in time order."""
        return await rest_history(self, symbols, timeframe, count)

    def bars(
        self, symbols: Sequence[str], timeframe: str, since_ms: int | None
    ) -> AsyncIterator[Bar]:
        """Closed bars of ``symbols`` from ``since_ms`` on (from now on if ``None``).

        REST backfill, then the kline stream (``watch_ohlcv``): a candle closes when a later one
        appears, or when the clock passes its end (then it is read over REST, as are gaps after
        a stream error). Bars come in time order, each once; bar ``t`` of every symbol is yielded
        only once all symbols have closed ``t`` (a symbol the venue publishes no candles for
        holds the others back). Without websockets, polls REST every ``poll_interval_s``.
        """
        return BarStream(self, list(dict.fromkeys(symbols)), timeframe, since_ms).run()
