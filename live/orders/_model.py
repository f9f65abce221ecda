"""Value objects of the order manager: intents, orders, fills and venue reports."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Literal, NamedTuple

from live.orders._errors import InvalidIntentError, InvalidReportError, OrderError
from live.orders._ids import client_order_id
from live.orders._states import OrderState

__all__ = [
    "LIMIT_TYPES",
    "ORDER_TYPES",
    "TIME_IN_FORCE_VALUES",
    "TRIGGERED_TYPES",
    "Ack",
    "Anomaly",
    "Cancelled",
    "Expired",
    "Fill",
    "FillReport",
    "Intent",
    "NotFound",
    "Order",
    "Pending",
    "QueryResult",
    "Rejected",
    "Report",
    "Timeout",
    "to_decimal",
]

Side = Literal["buy", "sell"]
OrderType = Literal[
    "market",
    "limit",
    "stop_market",
    "stop_limit",
    "take_profit_market",
    "take_profit_limit",
    "trailing_stop_market",
]
TimeInForce = Literal["GTC", "IOC", "FOK", "GTX"]

ORDER_TYPES: tuple[str, ...] = (
    "market",
    "limit",
    "stop_market",
    "stop_limit",
    "take_profit_market",
    "take_profit_limit",
    "trailing_stop_market",
)
"""Order types the manager holds. ``stop_*`` and ``take_profit_*`` rest untriggered until the
market trades at ``stop_price`` (a stop: through it against the position; a take-profit: in
its favour), then become a market or a limit order at ``limit_price``. A
``trailing_stop_market`` follows the best price since its activation (``stop_price``, optional:
at once) and triggers ``trailing_pct`` percent behind it."""
TRIGGERED_TYPES = frozenset(ORDER_TYPES[2:6])
"""The types that need a ``stop_price``."""
LIMIT_TYPES = frozenset({"limit", "stop_limit", "take_profit_limit"})
"""The types that carry a ``limit_price`` (and may carry a time in force)."""
TIME_IN_FORCE_VALUES: tuple[str, ...] = ("GTC", "IOC", "FOK", "GTX")
"""Good till cancelled, immediate or cancel, fill or kill, good till crossing (post only)."""


def to_decimal(
    value: object, name: str, error: type[OrderError] = InvalidReportError, *, positive: bool = True
) -> Decimal:
    """Return ``value`` as a finite :class:`Decimal` (``> 0`` if ``positive``, else ``>= 0``).

    Floats go through ``str`` so ``0.1`` becomes ``Decimal("0.1")``, not its binary expansion.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise error(f"{name} must be a number (Decimal, int, float or str), got {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise error(f"{name} is not a number: {value!r}") from None
    if not number.is_finite() or number < 0 or (positive and number == 0):
        raise error(f"{name} must be finite and {'> 0' if positive else '>= 0'}, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class Intent:
    """What a strategy wants to trade, as decided on one bar.

    ``(run_id, symbol, decision_ts_ms, seq)`` identifies the intent and gives its client id.
    Quantities and prices may be given as ``Decimal``, ``int``, ``str`` or ``float``; they are
    stored as ``Decimal``.
    """

    run_id: str
    symbol: str
    side: Side
    qty: Decimal
    decision_ts_ms: int
    seq: int = 0
    order_type: OrderType = "market"
    limit_price: Decimal | None = None
    reduce_only: bool = False
    tag: str | None = None
    """What the order is for when the runner made it on its own: a position stop's exit
    (``stop_loss``, ``take_profit``, ``trailing_stop``); ``None`` for the strategy's orders."""
    trigger_price: Decimal | None = None
    """An emulated stop's exit: the market price that fired it (a replay venue fills there)."""
    trigger_ts_ms: int | None = None
    """An emulated stop's exit: the open time of the bar whose price fired it."""
    stop_price: Decimal | None = None
    """The trigger of a ``stop_*`` / ``take_profit_*`` order (the venue's stop price)."""
    time_in_force: TimeInForce | None = None
    """A limit-priced order's time in force; ``None``: the venue's default (GTC)."""
    post_only: bool = False
    """A limit that must rest (maker only); the venue refuses it if it would take."""
    group: str | None = None
    """An OCO group: the orders sharing it are one unit (see :meth:`OrderManager.group_cancels`)."""
    trailing_pct: Decimal | None = None
    """A ``trailing_stop_market``'s distance behind the best price, in percent (Binance's
    ``callbackRate``)."""

    def __post_init__(self) -> None:
        self.client_id  # noqa: B018  (validates run_id, symbol, decision_ts_ms and seq)
        if self.trigger_price is not None:
            price = to_decimal(self.trigger_price, "intent trigger_price", InvalidIntentError)
            object.__setattr__(self, "trigger_price", price)
        if self.side not in ("buy", "sell"):
            raise InvalidIntentError(f"intent side must be 'buy' or 'sell', got {self.side!r}")
        if self.order_type not in ORDER_TYPES:
            raise InvalidIntentError(
                f"intent order_type must be one of {', '.join(ORDER_TYPES)}, "
                f"got {self.order_type!r}"
            )
        object.__setattr__(self, "qty", to_decimal(self.qty, "intent qty", InvalidIntentError))
        _check_prices(self)
        _check_execution(self.order_type, self.time_in_force, self.post_only, self.group)

    @property
    def client_id(self) -> str:
        """The intent's client order id, see :func:`client_order_id`."""
        return client_order_id(self.run_id, self.symbol, self.decision_ts_ms, self.seq)


def _check_prices(intent: Intent) -> None:
    """Check and store as decimals the limit, stop and trailing fields the type needs (and
    refuse those it takes none of)."""
    kind = intent.order_type
    if kind in LIMIT_TYPES:
        if intent.limit_price is None:
            raise InvalidIntentError(f"a {kind} intent needs a limit_price")
        price = to_decimal(intent.limit_price, "intent limit_price", InvalidIntentError)
        object.__setattr__(intent, "limit_price", price)
    elif intent.limit_price is not None:
        raise InvalidIntentError(
            f"a {kind} intent takes no limit_price, got {intent.limit_price!r}"
        )
    if kind in TRIGGERED_TYPES:
        if intent.stop_price is None:
            raise InvalidIntentError(f"a {kind} intent needs a stop_price")
        price = to_decimal(intent.stop_price, "intent stop_price", InvalidIntentError)
        object.__setattr__(intent, "stop_price", price)
    elif kind == "trailing_stop_market":
        if intent.stop_price is not None:  # the activation price
            price = to_decimal(intent.stop_price, "intent stop_price", InvalidIntentError)
            object.__setattr__(intent, "stop_price", price)
    elif intent.stop_price is not None:
        raise InvalidIntentError(f"a {kind} intent takes no stop_price, got {intent.stop_price!r}")
    if kind == "trailing_stop_market":
        if intent.trailing_pct is None:
            raise InvalidIntentError("a trailing_stop_market intent needs a trailing_pct")
        pct = to_decimal(intent.trailing_pct, "intent trailing_pct", InvalidIntentError)
        object.__setattr__(intent, "trailing_pct", pct)
    elif intent.trailing_pct is not None:
        raise InvalidIntentError(f"a {kind} intent takes no trailing_pct")


def _check_execution(
    kind: str, time_in_force: str | None, post_only: bool, group: str | None
) -> None:
    """Refuse a time in force, post-only flag or group the order type cannot carry."""
    if time_in_force is not None:
        if time_in_force not in TIME_IN_FORCE_VALUES:
            raise InvalidIntentError(
                f"intent time_in_force must be one of {', '.join(TIME_IN_FORCE_VALUES)}, "
                f"got {time_in_force!r}"
            )
        if kind not in LIMIT_TYPES:
            raise InvalidIntentError(
                f"a {kind} intent takes no time_in_force (only limit-priced orders rest), "
                f"got {time_in_force!r}"
            )
    if not isinstance(post_only, bool):
        raise InvalidIntentError(f"intent post_only must be a bool, got {post_only!r}")
    if post_only:
        if kind != "limit":
            raise InvalidIntentError(f"post_only applies to a limit intent, not a {kind} one")
        if time_in_force in ("IOC", "FOK"):
            raise InvalidIntentError(
                f"a post-only limit must rest: time_in_force {time_in_force} contradicts it"
            )
    if group is not None and (not isinstance(group, str) or not 0 < len(group) <= 64):
        raise InvalidIntentError(f"intent group must be a string of 1 to 64 characters: {group!r}")


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution (trade) of an order, as recorded by the manager."""

    client_id: str
    trade_id: str
    qty: Decimal
    price: Decimal
    ts_ms: int
    source: str
    fee: Decimal | None = None
    fee_asset: str | None = None


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the manager knows it (an immutable snapshot; the manager replaces it).

    ``filled_qty`` is the sum of the distinct fills received; ``venue_filled_qty`` the largest
    cumulative quantity a venue query reported (fills may lag behind it). ``not_found_since_ms``
    is set while the venue says it does not know an order that is still within its grace window.
    """

    client_id: str
    run_id: str
    symbol: str
    side: Side
    order_type: OrderType
    qty: Decimal
    limit_price: Decimal | None
    decision_ts_ms: int
    seq: int
    state: OrderState
    created_ms: int
    submitted_ms: int | None = None
    venue_order_id: str | None = None
    filled_qty: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    venue_filled_qty: Decimal = Decimal(0)
    not_found_since_ms: int | None = None
    reason: str | None = None
    reduce_only: bool = False
    tag: str | None = None
    trigger_price: Decimal | None = None
    trigger_ts_ms: int | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    post_only: bool = False
    group: str | None = None
    trailing_pct: Decimal | None = None

    @property
    def effective_filled_qty(self) -> Decimal:
        """Best knowledge of the filled quantity: our fills or the venue's cumulative figure."""
        return max(self.filled_qty, self.venue_filled_qty)

    @property
    def remaining_qty(self) -> Decimal:
        """Quantity still to fill (0 once over- or fully filled)."""
        return max(self.qty - self.effective_filled_qty, Decimal(0))

    @property
    def avg_price(self) -> Decimal | None:
        """Volume-weighted average price of the recorded fills; ``None`` before the first."""
        return self.notional / self.filled_qty if self.filled_qty else None

    @property
    def overfilled(self) -> bool:
        """Whether fills (ours or the venue's figure) exceed the order's quantity."""
        return self.effective_filled_qty > self.qty

    def matches(self, intent: Intent) -> bool:
        """Return whether this order was created from ``intent``."""
        return (
            self.run_id,
            self.symbol,
            self.side,
            self.order_type,
            self.qty,
            self.limit_price,
            self.decision_ts_ms,
            self.seq,
            self.reduce_only,
            self.tag,
            self.trigger_price,
            self.trigger_ts_ms,
            self.stop_price,
            self.time_in_force,
            self.post_only,
            self.group,
            self.trailing_pct,
        ) == (
            intent.run_id,
            intent.symbol,
            intent.side,
            intent.order_type,
            intent.qty,
            intent.limit_price,
            intent.decision_ts_ms,
            intent.seq,
            intent.reduce_only,
            intent.tag,
            intent.trigger_price,
            intent.trigger_ts_ms,
            intent.stop_price,
            intent.time_in_force,
            intent.post_only,
            intent.group,
            intent.trailing_pct,
        )


class Anomaly(NamedTuple):
    """Something that must not happen and halts the manager (fail closed)."""

    client_id: str
    kind: str
    """``"overfill"``, ``"fill_on_rejected"``, ``"ack_on_rejected"`` or ``"alive_on_rejected"``."""
    detail: str


class Pending(NamedTuple):
    """An order the runner must look at; see :meth:`OrderManager.needs_resolution`."""

    client_id: str
    reason: str
    """``"unknown_outcome"``, ``"not_found"``, ``"unacknowledged"`` or ``"missing_fills"``."""


# Venue reports: what adapters turn the venues' answers and websocket messages into.


@dataclass(frozen=True, slots=True)
class Ack:
    """The venue accepted the order."""

    client_id: str
    venue_order_id: str | None = None


@dataclass(frozen=True, slots=True)
class FillReport:
    """An execution of the order; ``trade_id`` is the venue's trade id (the de-duplication key).

    ``fee`` (in ``fee_asset``) is what the venue charged for it, when the report says.
    """

    client_id: str
    trade_id: str
    qty: Decimal | int | float | str
    price: Decimal | int | float | str
    source: str = "ws"
    fee: Decimal | int | float | str | None = None
    fee_asset: str | None = None


@dataclass(frozen=True, slots=True)
class Cancelled:
    """The venue cancelled the order (or it was withdrawn before being sent)."""

    client_id: str
    reason: str = "cancelled"


@dataclass(frozen=True, slots=True)
class Rejected:
    """The venue refused the create."""

    client_id: str
    reason: str = "rejected"


@dataclass(frozen=True, slots=True)
class Expired:
    """The order expired (time in force, IOC/FOK remainder, self-trade prevention ...)."""

    client_id: str
    reason: str = "expired"


@dataclass(frozen=True, slots=True)
class Timeout:
    """The create request timed out or got a 5xx: its outcome is unknown."""

    client_id: str
    reason: str = "timeout"


@dataclass(frozen=True, slots=True)
class NotFound:
    """The venue answered a query (or a cancel) with "order does not exist"."""

    client_id: str


@dataclass(frozen=True, slots=True)
class QueryResult:
    """The venue's answer to a query by client id.

    ``status`` is one of ACKNOWLEDGED (open), PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED,
    EXPIRED; ``filled_qty`` the venue's cumulative filled quantity.
    """

    client_id: str
    status: OrderState
    filled_qty: Decimal | int | float | str = 0
    venue_order_id: str | None = None


Report = Ack | FillReport | Cancelled | Rejected | Expired | Timeout | NotFound | QueryResult
"""Any venue report :meth:`OrderManager.apply` takes."""
