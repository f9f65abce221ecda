"""The one protocol every venue adapter implements, and the plain data it speaks.

The runner talks to a venue only through :class:`Venue`. Adapters (``live/venues/<name>/``)
turn the venue's answers and websocket messages into the order manager's reports
(:mod:`live.orders`: :class:`~live.orders.Ack`, :class:`~live.orders.FillReport`,
:class:`~live.orders.QueryResult`, :class:`~live.orders.NotFound` …) and raise only the errors of
:mod:`live.venues.errors` (:class:`RetryLater`, :class:`GiveUp`, :class:`OutcomeUnknown`,
:class:`OrderMissing`): what the caller must do next, never a raw ccxt exception.

Quantities and prices are :class:`~decimal.Decimal`; symbols are ccxt's unified symbols
(``"BTC/USDT"`` spot, ``"BTC/USDT:USDT"`` USD-M perpetual); times are ms since the epoch.

What an adapter can do is declared, not probed (as NautilusTrader's ``adapters/_template``
does): every venue carries a :class:`VenueCapabilities`. The :data:`REQUIRED_CAPABILITIES` are
what a run cannot do without — :func:`missing_capabilities` names any an adapter lacks and
:func:`live.venues.registry.make_venue` refuses such a venue (fail closed); the rest are
optional, and a caller reads the flag before using the feature (``venue.execution_bar(s)``
only when ``venue.capabilities.execution_bar``), never ``getattr``/``hasattr`` on the venue.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Literal, NamedTuple, Protocol, runtime_checkable

from live.orders import OrderState, Report
from live.orders._model import OrderType, TimeInForce

__all__ = [
    "OPTIONAL_CAPABILITIES",
    "REQUIRED_CAPABILITIES",
    "TIME_IN_FORCE",
    "Bar",
    "BookVenue",
    "FailedCall",
    "FeeVenue",
    "FundingPayment",
    "FundingVenue",
    "MarketInfo",
    "OcoVenue",
    "OrderBook",
    "OrderRequest",
    "Venue",
    "VenueCapabilities",
    "VenueFill",
    "VenueHealth",
    "VenueOrder",
    "missing_capabilities",
    "no_reports",
    "unsupported_request",
]


@dataclass(frozen=True, slots=True)
class Bar:
    """One **closed** candle of one symbol; ``ts_ms`` is its open time.

    ``filled`` marks a bar without a market (a gap the data layer filled, or a symbol not yet
    listed): nothing can fill there, exactly as in the backtest.
    """

    symbol: str
    ts_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float
    filled: bool = False


@dataclass(frozen=True, slots=True)
class MarketInfo:
    """Trading rules of one market, as the venue publishes them.

    ``lot`` is the quantity step, ``tick`` the price step, ``min_qty`` / ``min_notional`` the
    smallest order accepted (0 when the venue sets none). ``contract`` is true for derivatives
    (a position is the venue's signed position, not a base-asset balance).
    """

    symbol: str
    base: str
    quote: str
    lot: Decimal
    tick: Decimal
    min_qty: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    contract: bool = False


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A create-order request: the order manager's order, as the adapter must send it.

    ``client_id`` is sent as the venue's client order id (Binance ``newClientOrderId``,
    Coinbase ``client_order_id``): it is what makes a retried create idempotent and what a
    query looks the order up by.
    """

    client_id: str
    symbol: str
    side: Literal["buy", "sell"]
    qty: Decimal
    order_type: OrderType = "market"
    limit_price: Decimal | None = None
    reduce_only: bool = False
    trigger_price: Decimal | None = None
    """An emulated stop's exit: the price that fired it. A live venue ignores it (the market
    fills the order now); a replayed venue, whose clock is past the trigger, fills there."""
    trigger_ts_ms: int | None = None
    """With ``trigger_price``: the open time of the bar the trigger happened in."""
    stop_price: Decimal | None = None
    """The venue-side trigger of a ``stop_*`` / ``take_profit_*`` order (its stop price)."""
    time_in_force: TimeInForce | None = None
    """``None``: the venue's default (GTC) for a limit-priced order."""
    post_only: bool = False
    trailing_pct: Decimal | None = None
    """A ``trailing_stop_market``'s distance behind the best price, in percent."""
    close_position: bool = False
    """A derivative stop that closes the whole position whatever its size (Binance USD-M
    ``closePosition``); ``qty`` is then informative."""


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """An order as the venue lists it (open orders, reconciliation)."""

    symbol: str
    client_id: str | None
    venue_order_id: str
    side: Literal["buy", "sell"]
    status: OrderState
    qty: Decimal
    filled_qty: Decimal
    avg_price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class VenueFill:
    """One execution of one of the account's orders, as the venue lists it.

    ``fee`` is in ``fee_asset``; ``client_id`` is ``None`` when the venue's trade list does not
    carry it and the adapter could not map the venue order id back to one.
    """

    symbol: str
    client_id: str | None
    venue_order_id: str
    trade_id: str
    side: Literal["buy", "sell"]
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str | None
    ts_ms: int


TIME_IN_FORCE = frozenset({"GTC", "IOC", "FOK", "GTX"})
"""Time-in-force values an adapter may declare: good till cancelled, immediate or cancel, fill
or kill, good till crossing (post only)."""


@dataclass(frozen=True, slots=True)
class VenueCapabilities:
    """What one venue adapter can do through :class:`Venue` (declared, never probed).

    A flag says what the *adapter* implements on this venue, not what the exchange offers
    beyond it: ``stop_orders`` is ``False`` on the generic ccxt adapter, which cannot know how
    an arbitrary exchange names its stops, although most have them. :data:`REQUIRED_CAPABILITIES` must all be
    ``True`` for a run to start; the others are optional features a caller checks first.

    Attributes
    ----------
    fetch_ohlcv
        Closed bars over REST (or from a replay): :meth:`Venue.history`, :meth:`Venue.bars`.
    market_orders, limit_orders, stop_orders, stop_limit_orders
        Order types :meth:`Venue.submit` sends (``OrderRequest.order_type``): ``stop_orders``
        covers ``stop_market`` and ``take_profit_market``, ``stop_limit_orders`` covers
        ``stop_limit`` and ``take_profit_limit`` (held by the venue until triggered).
    trailing_stop_orders
        ``trailing_stop_market`` orders (a venue-side trailing stop, in percent).
    query_orders
        An order is found by its client id (:meth:`Venue.query`), directly or by listing.
    cancel_orders
        One order is cancelled by its client id (:meth:`Venue.cancel`).
    fetch_balance
        :meth:`Venue.balances` and :meth:`Venue.positions` (spot: base-asset balances).
    fetch_fills
        The account's executions: :meth:`Venue.fills`, :meth:`Venue.order_fills`.
    stream_bars
        Bars arrive from a kline websocket (else :meth:`Venue.bars` polls REST).
    stream_orders
        :meth:`Venue.reports` pushes order updates (else it yields nothing and the runner
        polls :meth:`Venue.query`).
    stream_trades
        The user-data stream also pushes the account's trades (fills); without it, fills of
        a streamed order update are fetched over REST.
    reduce_only
        ``OrderRequest.reduce_only`` is sent to and enforced by the venue (derivatives);
        elsewhere the flag is not sent (a spot sell cannot exceed the balance anyway).
    post_only
        Limit orders can be sent post-only (maker only).
    time_in_force
        Time-in-force values a limit order can carry (subset of :data:`TIME_IN_FORCE`).
    oco
        One-cancels-the-other order pairs sent as one venue list (:class:`OcoVenue`).
    cancel_all
        Every open order of a symbol cancelled in one call.
    execution_bar
        :meth:`Venue.execution_bar` knows the bar a market order sent now executes on (a
        replay): the runner sizes with that bar's range and volume, as the backtest does.
    funding
        The venue trades perpetuals whose funding is settled into the account, and the
        adapter lists those settlements (:class:`FundingVenue`).
    contract_positions
        :meth:`Venue.positions` reads the venue's signed derivative positions.
    ticker
        :meth:`Venue.reference_price` reads a ticker (else the last closed bar's close).
    server_time
        The venue tells its clock (offset and rate measured, see :meth:`Venue.health`).
    order_book
        :meth:`BookVenue.order_book` reads the venue's order book (best bid and ask and the
        levels behind them): what smart order routing prices a size with (:mod:`live.routing`).
    trading_fees
        :meth:`FeeVenue.taker_fee_bps` reads the account's own taker fee rate for a symbol
        (what routing charges a venue whose ``live.routing`` fee says ``fee_from_venue``).
    """

    fetch_ohlcv: bool
    market_orders: bool
    query_orders: bool
    cancel_orders: bool
    fetch_balance: bool
    fetch_fills: bool
    limit_orders: bool = False
    stop_orders: bool = False
    stop_limit_orders: bool = False
    trailing_stop_orders: bool = False
    stream_bars: bool = False
    stream_orders: bool = False
    stream_trades: bool = False
    reduce_only: bool = False
    post_only: bool = False
    time_in_force: frozenset[str] = frozenset()
    oco: bool = False
    cancel_all: bool = False
    execution_bar: bool = False
    funding: bool = False
    contract_positions: bool = False
    ticker: bool = False
    server_time: bool = False
    order_book: bool = False
    trading_fees: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "time_in_force":
                if not isinstance(value, frozenset) or not value <= TIME_IN_FORCE:
                    raise TypeError(
                        f"VenueCapabilities.time_in_force must be a frozenset of "
                        f"{sorted(TIME_IN_FORCE)}, got {value!r}"
                    )
            elif not isinstance(value, bool):
                raise TypeError(f"VenueCapabilities.{f.name} must be a bool, got {value!r}")

    def enabled(self) -> list[str]:
        """The names of the flags that are on (for logs and ``grekko-live`` output)."""
        return [f.name for f in fields(self) if getattr(self, f.name) is True]


REQUIRED_CAPABILITIES: tuple[str, ...] = (
    "fetch_ohlcv",
    "market_orders",
    "query_orders",
    "cancel_orders",
    "fetch_balance",
    "fetch_fills",
)
"""What every adapter must have: warm up and follow bars, send a market order, find it again
by client id (the order manager's reconciliation), cancel it, read the account and its fills."""

OPTIONAL_CAPABILITIES: tuple[str, ...] = tuple(
    f.name for f in fields(VenueCapabilities) if f.name not in REQUIRED_CAPABILITIES
)
"""Everything else: features a caller checks for before using them."""


def missing_capabilities(
    capabilities: object, require: Iterable[str] = REQUIRED_CAPABILITIES
) -> list[str]:
    """The capabilities of ``require`` that ``capabilities`` does not declare ``True`` (all of
    them when it is not a :class:`VenueCapabilities`: the adapter declares nothing).

    Raises
    ------
    ValueError
        If ``require`` names a capability :class:`VenueCapabilities` does not have.
    """
    wanted = list(require)
    known = {f.name for f in fields(VenueCapabilities)}
    unknown = [c for c in wanted if c not in known]
    if unknown:
        raise ValueError(f"unknown venue capabilities {unknown}; known: {sorted(known)}")
    if not isinstance(capabilities, VenueCapabilities):
        return wanted
    return [c for c in wanted if getattr(capabilities, c) is not True]


def unsupported_request(request: OrderRequest, capabilities: VenueCapabilities) -> str | None:
    """Why ``request`` asks for something the venue's adapter does not declare, or ``None``."""
    kind = request.order_type
    sends = {
        "market": capabilities.market_orders,
        "limit": capabilities.limit_orders,
        "stop_market": capabilities.stop_orders,
        "take_profit_market": capabilities.stop_orders,
        "stop_limit": capabilities.stop_limit_orders,
        "take_profit_limit": capabilities.stop_limit_orders,
        "trailing_stop_market": capabilities.trailing_stop_orders,
    }
    if not sends.get(kind, False):
        return f"this venue's adapter sends no {kind} orders"
    if request.post_only and not capabilities.post_only:
        return "this venue's adapter sends no post-only orders"
    tif = request.time_in_force
    if tif is not None and tif not in capabilities.time_in_force:
        return f"this venue's adapter offers no time in force {tif}"
    if request.close_position and not (capabilities.reduce_only and capabilities.stop_orders):
        return "this venue's adapter sends no close-position stops"
    return None


@runtime_checkable
class OcoVenue(Protocol):
    """A venue whose adapter sends a one-cancels-the-other pair as one venue order list
    (``capabilities.oco``): the venue itself ends the other leg when one triggers or fills."""

    async def submit_oco(self, requests: Sequence[OrderRequest]) -> list[Report]:
        """Send two exits of one symbol and side as one list; the reports of both legs."""
        ...


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """One funding settlement of the account: ``amount`` received in ``asset`` (the quote;
    negative: paid) for its ``symbol``'s position at ``ts_ms``; ``id`` the venue's, unique."""

    symbol: str
    ts_ms: int
    amount: Decimal
    asset: str
    id: str


@runtime_checkable
class FundingVenue(Protocol):
    """A venue whose adapter lists the account's funding settlements (``capabilities.funding``)."""

    async def funding_payments(self, symbol: str, since_ms: int) -> list[FundingPayment]:
        """The settlements of ``symbol`` at or after ``since_ms``, oldest first."""
        ...


@dataclass(frozen=True, slots=True)
class OrderBook:
    """A venue's order book of one symbol as read now: ``(price, qty)`` levels, best first
    (``bids`` falling, ``asks`` rising); ``ts_ms`` on the venue clock."""

    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    ts_ms: int

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None


@runtime_checkable
class BookVenue(Protocol):
    """A venue whose adapter reads the order book (``capabilities.order_book``)."""

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        """The top ``depth`` levels a side of ``symbol``'s book."""
        ...


@runtime_checkable
class FeeVenue(Protocol):
    """A venue whose adapter reads the account's fee rates (``capabilities.trading_fees``)."""

    async def taker_fee_bps(self, symbol: str) -> float:
        """The account's taker fee for ``symbol``, in bps of the notional."""
        ...


class FailedCall(NamedTuple):
    """One failed venue call: when (venue clock), which call (``create_order``,
    ``fetch_balance`` …) and the error's class (``RequestTimeout``, ``NetworkError`` …), so a
    breaker tripped by the error rate can say which calls failed."""

    ts_ms: int
    call: str
    error: str


@dataclass(frozen=True, slots=True)
class VenueHealth:
    """The connection's state, as the runner's operational risk checks read it.

    ``realtime``: bars arrive in wall-clock time (``False`` for a replay, whose clock is the
    data's). ``ws_down_since_ms``: when the venue's streams (klines or user data) were lost and
    not yet back, on the venue clock (``None``: up, or the venue has no stream).
    ``reconnects``: stream reconnections since :meth:`Venue.start`, never decreasing.
    ``error_times_ms``: venue-clock times of recent failed calls (the last few hundred);
    ``failed_calls``: the same failures with the call and the error's class.
    ``clock_skew_ms``: the venue's clock minus the local one, as last measured (``None``:
    unknown).
    """

    realtime: bool = False
    ws_down_since_ms: int | None = None
    reconnects: int = 0
    error_times_ms: tuple[int, ...] = ()
    clock_skew_ms: float | None = None
    failed_calls: tuple[FailedCall, ...] = ()


@runtime_checkable
class Venue(Protocol):
    """What the runner needs from a venue (an exchange account, or the paper venue).

    Every method that reaches the venue raises only :mod:`live.venues.errors` exceptions.
    ``submit`` in particular raises :class:`~live.venues.OutcomeUnknown` when the request may
    have been accepted (timeout, 5xx, connection lost after sending): the caller must then
    resolve the order by :meth:`query`, never by sending it again.
    """

    name: str
    capabilities: VenueCapabilities
    """What this adapter can do here (see :class:`VenueCapabilities`); read it, never probe."""

    async def start(self) -> None:
        """Connect and load markets; called once before anything else."""
        ...

    async def close(self) -> None:
        """Release connections (idempotent)."""
        ...

    def now_ms(self) -> int:
        """The venue's clock in ms (the server time as last synchronised, or the replay clock)."""
        ...

    async def market(self, symbol: str) -> MarketInfo:
        """Trading rules of ``symbol``; :class:`GiveUp` if the venue does not list it."""
        ...

    async def reference_price(self, symbol: str) -> Decimal:
        """The price a market order sent now would be expected to execute at, before slippage
        (the last trade, or the replayed bar's open)."""
        ...

    async def submit(self, request: OrderRequest) -> list[Report]:
        """Send a create; return what the answer says (an :class:`~live.orders.Ack`, maybe
        fills, or a :class:`~live.orders.Rejected`)."""
        ...

    async def query(self, symbol: str, client_id: str) -> Report:
        """Look an order up by client id: a :class:`~live.orders.QueryResult`, or
        :class:`~live.orders.NotFound` when the venue does not know it."""
        ...

    async def cancel(self, symbol: str, client_id: str) -> list[Report]:
        """Cancel by client id; returns :class:`~live.orders.Cancelled` (or
        :class:`~live.orders.NotFound`, or the final state if it had already ended)."""
        ...

    async def open_orders(self, symbols: Sequence[str]) -> list[VenueOrder]:
        """The account's open orders on ``symbols``."""
        ...

    async def fills(self, symbol: str, since_ms: int | None = None) -> list[VenueFill]:
        """The account's executions on ``symbol`` from ``since_ms`` (all when ``None``), oldest
        first, each carrying its order's client id when it can be known."""
        ...

    async def order_fills(
        self, symbol: str, client_id: str, venue_order_id: str | None
    ) -> list[VenueFill]:
        """Every execution of one order (looked up by its venue id when given, which is what
        the venues' trade lists filter on), each trade once."""
        ...

    async def balances(self) -> dict[str, Decimal]:
        """Total balance (free + locked) of every asset held."""
        ...

    async def positions(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        """The signed position of each symbol: the base asset's total balance on spot, the
        venue's position on derivatives."""
        ...

    def reports(self) -> AsyncIterator[Report]:
        """Order updates pushed by the venue (user-data stream), as reports, forever; a venue
        without a stream yields nothing and the runner polls :meth:`query` instead."""
        ...

    async def history(self, symbols: Sequence[str], timeframe: str, count: int) -> list[Bar]:
        """The last ``count`` closed bars of each symbol (what a fresh run warms up on), in time
        order; empty for a replay, which starts with no history as a backtest does."""
        ...

    def bars(
        self, symbols: Sequence[str], timeframe: str, since_ms: int | None
    ) -> AsyncIterator[Bar]:
        """Closed bars of ``symbols`` from ``since_ms`` on (backfilled over REST, then live from
        the kline stream), in time order, each exactly once, forever (or until the replay ends)."""
        ...

    async def health(self) -> VenueHealth:
        """The connection's state (streams, reconnections, recent errors, clock skew); cheap
        enough to call every second (a clock re-measurement is rate-limited inside)."""
        ...

    def execution_bar(self, symbol: str) -> Bar | None:
        """Optional (``capabilities.execution_bar``): the bar a market order sent now executes
        on, when the venue knows it (a replay); ``None`` otherwise."""
        ...


async def no_reports() -> AsyncIterator[Report]:
    """:meth:`Venue.reports` of a venue without a user-data stream: it yields nothing (the
    runner then polls :meth:`Venue.query`)."""
    return
    yield  # an async generator that yields nothing
