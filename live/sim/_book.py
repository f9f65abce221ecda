"""The simulated spot venue's state: clock, candles, orders, balances, matching and ledger.

No I/O here; ``server.py`` translates HTTP requests into calls on :class:`Book`, which
raises :class:`ApiError` exactly where Binance would answer ``{"code": ..., "msg": ...}``.

Matching model (documented in ``live/sim/__init__.py`` too):

- The market clock sits on bar opens. The *current bar* is the last bar whose open is at or
  before the clock; the *market price* is the current bar's **open** (a signal computed on
  the previous, closed bar executes at the next bar's open).
- MARKET orders fill at once at the market price (taker).
- LIMIT orders that are marketable at placement fill at once at the market price (taker);
  otherwise they rest and fill at their limit price (maker) on the first bar, from the current
  one on, that trades *through* the price (``low < price`` for a buy, ``high > price`` for a
  sell). A bar is matched when the clock reaches its close (the next bar's open).
- Fees (``fee_rate``, 0.1 % by default, maker and taker alike) are charged in the quote asset.

The rules both Binance books follow (symbol and order lookup, parameter errors, limit orders
traded through by a bar, trade-list filters, klines) are functions here that
``_usdm_book.py`` and ``usdm.py`` use too.

Observers: ``Book.order_listeners`` are called synchronously with an :class:`OrderEvent` on every
order change (new, fill, cancel), ``Book.clock_listeners`` with ``(before, now)`` after every
clock move; the simulator's websocket streams hang off these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
import pandas as pd

from live.sim._candles import bar_at, candle_arrays, dec
from live.sim._spot_types import (
    LIMIT_PRICED,
    STOP_TYPES,
    Placement,
    Refused,
    immediate_refusal,
    limit_fills_at,
    parse_placement,
    trigger_price,
)

__all__ = [
    "ApiError",
    "Book",
    "Fill",
    "Order",
    "OrderEvent",
    "Symbol",
    "cancel_client_id",
    "filter_trades",
    "find_open_order",
    "find_order",
    "fmt",
    "kline_rows",
    "limits_through",
    "listed",
    "missing",
    "number_param",
    "open_price",
    "split_symbol",
]

_MARKET_STOPS = ("STOP_LOSS", "TAKE_PROFIT")  # market orders once triggered
QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "BTC", "ETH")  # FDUSD before its suffix USD
STEP = Decimal("0.00001")  # LOT_SIZE stepSize and minQty
MIN_NOTIONAL = Decimal("5")
_EIGHT = Decimal("0.00000001")


class ApiError(Exception):
    """A request Binance refuses with ``{"code": code, "msg": msg}`` and HTTP ``status``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code, self.msg, self.status = code, msg, status


def missing(name: str) -> ApiError:
    """Binance's -1102 for a mandatory parameter ``name`` that is absent or empty."""
    return ApiError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def number_param(p: Mapping[str, str], name: str) -> Decimal:
    """The finite decimal parameter ``name``: -1102 if absent or empty, -1100 if not a number."""
    raw = p.get(name)
    if not raw:
        raise missing(name)
    try:
        value = Decimal(raw)
    except ArithmeticError:
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.") from None
    if not value.is_finite():
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


def fmt(value: Decimal) -> str:
    """Binance's eight-decimal string, e.g. ``"0.10000000"``."""
    return f"{value.quantize(_EIGHT):f}"


def split_symbol(symbol_id: str) -> tuple[str, str]:
    """Split a Binance id such as ``BTCUSDT`` into ``("BTC", "USDT")`` by its quote suffix."""
    for quote in QUOTES:
        if symbol_id.endswith(quote) and len(symbol_id) > len(quote):
            return symbol_id[: -len(quote)], quote
    raise ValueError(f"cannot split {symbol_id!r}: no known quote among {', '.join(QUOTES)}")


@dataclass
class Symbol:
    """One listed pair with its candles (``opens`` ms int64; ``ohlcv`` shape (n, 5) float64)."""

    id: str
    base: str
    quote: str
    tick: Decimal
    opens: np.ndarray
    ohlcv: np.ndarray
    interval_ms: int
    matched: int = 0  # index of the first bar not yet matched against resting orders

    @property
    def ohlc(self) -> np.ndarray:
        """Open, high, low, close per bar, shape (n, 4)."""
        return self.ohlcv[:, :4]

    @property
    def volume(self) -> np.ndarray:
        """Base volume per bar (zeros when the candles did not give it)."""
        return self.ohlcv[:, 4]

    @property
    def end_ms(self) -> int:
        """The close of the last bar (its open plus one interval)."""
        return int(self.opens[-1]) + self.interval_ms

    def index_at(self, ts_ms: int) -> int:
        """Index of the bar current at ``ts_ms``; -1 before the first open or after the end."""
        return bar_at(self.opens, self.interval_ms, ts_ms)


@dataclass(frozen=True)
class Fill:
    """One execution, as ``myTrades`` reports it (quote-asset commission)."""

    trade_id: int
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_maker: bool

    @property
    def quote_qty(self) -> Decimal:
        return self.price * self.qty


@dataclass
class Order:
    """One order and its progress; ``status`` uses Binance's names."""

    order_id: int
    client_order_id: str
    symbol: str
    side: str  # BUY or SELL
    type: str  # MARKET or LIMIT
    qty: Decimal
    price: Decimal  # 0 for MARKET
    time_in_force: str
    time: int
    update_time: int
    status: str = "NEW"
    executed: Decimal = Decimal(0)
    quote_executed: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)  # what the order still holds of its paying asset
    partial_next: list[float] = field(default_factory=list)  # fractions for the next fills
    expire_rest: bool = False  # a MARKET order's unfilled rest expires (partial_fill, expire)
    stop_price: Decimal = Decimal(0)  # the trigger of a STOP_LOSS* / TAKE_PROFIT* order
    triggered_bar: int = -1  # index of the bar that triggered it (-1: not yet)
    list_id: int = -1  # its OCO order list, if any

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def waiting_trigger(self) -> bool:
        """An open stop its trigger has not reached yet."""
        return self.is_open and self.type in STOP_TYPES and self.triggered_bar < 0

    @property
    def working(self) -> bool:
        """Whether Binance reports it as working (in the book): ``isWorking``."""
        return self.is_open and not self.waiting_trigger


@dataclass(frozen=True)
class OrderEvent:
    """One change of an order, as the user-data stream reports it.

    ``order`` is the live object: listeners read it synchronously, before the next change.
    ``kind`` is Binance's execution type; ``fill`` is set for ``TRADE``; ``cancel_client_id``
    is the id the cancel request carried (``newClientOrderId``) for ``CANCELED``.
    """

    kind: Literal["NEW", "TRADE", "CANCELED", "EXPIRED"]
    order: Order
    fill: Fill | None = None
    cancel_client_id: str = ""


def _symbol_from_frame(symbol_id: str, frame: pd.DataFrame) -> Symbol:
    base, quote = split_symbol(symbol_id)
    opens, ohlcv, interval = candle_arrays(symbol_id, frame)
    tick = Decimal("0.00000100") if quote in ("BTC", "ETH") else Decimal("0.01000000")
    return Symbol(symbol_id, base, quote, tick, opens, ohlcv, interval)


class Book:
    """Orders, balances, ledger and the market clock of one simulated spot account.

    Parameters
    ----------
    candles
        Binance symbol id (``"BTCUSDT"``) → frame with ``timestamp`` (bar open, ms) and
        ``open, high, low, close`` columns.
    balances
        Starting free balances, e.g. ``{"USDT": "10000"}``.
    fee_rate
        Commission per fill, as a fraction of its quote amount.
    start_ms
        Initial market clock; the first bar open of any symbol by default.
    duplicate_scope
        ``"all"`` refuses a ``newClientOrderId`` already used on the symbol (stricter than
        Binance, whose ids are unique among *open* orders only: ``"open"``).
    """

    def __init__(
        self,
        candles: Mapping[str, pd.DataFrame],
        *,
        balances: Mapping[str, str | Decimal] | None = None,
        fee_rate: str | Decimal = "0.001",
        start_ms: int | None = None,
        duplicate_scope: Literal["all", "open"] = "all",
    ) -> None:
        if not candles:
            raise ValueError("candles: list at least one symbol")
        self.symbols = {sid: _symbol_from_frame(sid, frame) for sid, frame in candles.items()}
        self.fee_rate = Decimal(fee_rate)
        self.duplicate_scope = duplicate_scope
        self.now = (
            min(int(s.opens[0]) for s in self.symbols.values()) if start_ms is None else start_ms
        )
        self.free: dict[str, Decimal] = {}
        self.locked: dict[str, Decimal] = {}
        for asset in {a for s in self.symbols.values() for a in (s.base, s.quote)}:
            self.free[asset], self.locked[asset] = Decimal(0), Decimal(0)
        default = {"USDT": Decimal(10_000)}
        for asset, amount in (default if balances is None else balances).items():
            self.free[asset] = Decimal(amount)
            self.locked.setdefault(asset, Decimal(0))
        self.orders: list[Order] = []
        self.ledger: list[Fill] = []
        self.duplicated_trades: set[int] = set()  # trade ids myTrades lists twice (a fault)
        self.partial_fractions: list[float] = []  # fault: fractions for the next new orders
        self.partial_expires: list[bool] = []  # fault: ... and whether a market rest expires
        self.slippage_bps: list[Decimal] = []  # fault: the next taker fills' cost, in bps
        self.duplicate_next_fills = 0  # fault: how many next fills myTrades lists twice
        self.withheld: set[int] = set()  # trade ids myTrades does not list yet (a fault)
        self.order_listeners: list[Callable[[OrderEvent], None]] = []
        self.clock_listeners: list[Callable[[int, int], None]] = []
        self._next_order_id, self._next_trade_id = 1_000_001, 5_000_001
        self._next_list_id = 7_000_001

    # -- clock and prices -------------------------------------------------------------------

    def symbol(self, symbol_id: str | None) -> Symbol:
        return listed(self.symbols, symbol_id)

    def price(self, symbol_id: str) -> Decimal:
        """The market price: the current bar's open."""
        return open_price(self.symbol(symbol_id), self.now)

    @property
    def end_ms(self) -> int:
        """The end of the data: the latest last-bar close among the symbols."""
        return max(s.end_ms for s in self.symbols.values())

    def advance_to(self, ts_ms: int) -> list[Fill]:
        """Move the clock forward to ``ts_ms``; match every bar that closed; return new fills."""
        if ts_ms < self.now:
            raise ValueError(f"the clock only moves forward ({ts_ms} < {self.now})")
        before, self.now = self.now, ts_ms
        len_before = len(self.ledger)
        for sym in self.symbols.values():
            while (
                sym.matched < len(sym.opens) and sym.opens[sym.matched] + sym.interval_ms <= ts_ms
            ):
                self._match_bar(sym, sym.matched)
                sym.matched += 1
            self._fill_market_rests(sym)
        fills = self.ledger[len_before:]
        for listener in self.clock_listeners:
            listener(before, ts_ms)
        return fills

    def _match_bar(self, sym: Symbol, i: int) -> None:
        t = int(sym.opens[i]) + sym.interval_ms - 1  # the bar's close time
        high, low = dec(sym.ohlcv[i, 1]), dec(sym.ohlcv[i, 2])
        for order in list(self.orders):
            if order.symbol != sym.id or not order.is_open or order.time > t:
                continue
            resting = order.type in ("LIMIT", "LIMIT_MAKER") or (
                order.type in LIMIT_PRICED and 0 <= order.triggered_bar < i
            )
            through = low < order.price if order.side == "BUY" else high > order.price
            if resting and through:
                self._fill(order, order.price, t, maker=True)
        self._trigger_stops(sym, i, t)

    def _trigger_stops(self, sym: Symbol, i: int, t: int) -> None:
        """Trigger the stops bar ``i`` reaches (see :mod:`live.sim._spot_types`)."""
        bar = (float(sym.ohlcv[i, 0]), float(sym.ohlcv[i, 1]), float(sym.ohlcv[i, 2]))
        for order in list(self.orders):
            if order.symbol != sym.id or not order.waiting_trigger or order.time > t:
                continue
            placed = sym.index_at(order.time)
            at = trigger_price(order.type, order.side, order.stop_price, bar, gap=i > placed)
            if at is None:
                continue
            order.triggered_bar, order.update_time = i, t
            self._end_siblings(order, "EXPIRED")
            if order.type not in LIMIT_PRICED or limit_fills_at(order.side, order.price, at):
                self._fill(order, at, t, maker=False)
            # else: a limit its trigger price does not reach rests from the next bar on.

    def _end_siblings(self, order: Order, status: Literal["EXPIRED", "CANCELED"]) -> None:
        """End the other open legs of ``order``'s OCO list; their hold moves to ``order``."""
        if order.list_id < 0:
            return
        for other in self.orders:
            if other.list_id != order.list_id or other is order or not other.is_open:
                continue
            order.locked += other.locked
            other.locked = Decimal(0)
            other.status, other.update_time = status, self.now
            self._notify(OrderEvent(status, other))

    def _fill_market_rests(self, sym: Symbol) -> None:
        """Fill what partial fills left of MARKET orders at the new current bar's open."""
        rests = [
            o
            for o in self.orders
            if o.symbol == sym.id
            and o.is_open
            and (o.type == "MARKET" or (o.type in _MARKET_STOPS and o.triggered_bar >= 0))
        ]
        if not rests or sym.index_at(self.now) < 0:  # nothing to fill, or no price past the data
            return
        price = self.price(sym.id)
        for order in rests:
            if order.update_time < self.now:
                self._fill(order, price, self.now, maker=False)

    # -- orders -----------------------------------------------------------------------------

    def _check_filters(self, sym: Symbol, qty: Decimal, price: Decimal, notional: Decimal) -> None:
        if qty < STEP or qty % STEP != 0:
            raise ApiError(-1013, "Filter failure: LOT_SIZE")
        if price and price % sym.tick != 0:
            raise ApiError(-1013, "Filter failure: PRICE_FILTER")
        if notional < MIN_NOTIONAL:
            raise ApiError(-1013, "Filter failure: NOTIONAL")

    def new_order(self, p: Mapping[str, str]) -> Order:
        """Book an order from ``POST /api/v3/order`` params; fill what is marketable now."""
        sym = self.symbol(p.get("symbol"))
        side = p.get("side", "")
        if side not in ("BUY", "SELL"):
            raise missing("side")
        placement = _placement(p)
        qty = _decimal(p, "quantity")
        client_id = p.get("newClientOrderId") or f"sim{self._next_order_id}"
        self._check_client_id(sym, client_id)
        order = self._book_order(sym, side, qty, placement, client_id)
        self._notify(OrderEvent("NEW", order))
        self._execute_new(order)
        return order

    def _check_client_id(self, sym: Symbol, client_id: str) -> None:
        for o in self.orders:
            same = o.symbol == sym.id and o.client_order_id == client_id
            if same and (self.duplicate_scope == "all" or o.is_open):
                raise ApiError(-2010, "Duplicate order sent.")

    def _book_order(
        self,
        sym: Symbol,
        side: str,
        qty: Decimal,
        placement: Placement,
        client_id: str,
        *,
        hold: bool = True,
    ) -> Order:
        """Check filters, the immediate-trigger rules and the balance; hold the funds (unless
        ``hold`` is false: an OCO leg after the first shares its hold) and list the order."""
        market = self.price(sym.id)
        price = placement.price
        notional = qty * (price or placement.stop_price or market)
        self._check_filters(sym, qty, price, notional)
        if placement.stop_price and placement.stop_price % sym.tick != 0:
            raise ApiError(-1013, "Filter failure: PRICE_FILTER")
        refusal = immediate_refusal(placement, side, market)
        if refusal is not None:
            raise ApiError(*refusal)
        pay, need = (
            (sym.quote, notional * (1 + self.fee_rate)) if side == "BUY" else (sym.base, qty)
        )
        if not hold:
            need = Decimal(0)
        if self.free.get(pay, Decimal(0)) < need:
            raise ApiError(-2010, "Account has insufficient balance for requested action.")
        order = Order(
            self._next_order_id, client_id, sym.id, side, placement.kind, qty, price,
            placement.time_in_force, self.now, self.now, stop_price=placement.stop_price,
        )  # fmt: skip
        self._next_order_id += 1
        if self.partial_fractions:
            order.partial_next.append(self.partial_fractions.pop(0))
            order.expire_rest = bool(self.partial_expires.pop(0)) if self.partial_expires else False
        self.free[pay] -= need
        self.locked[pay] += need
        order.locked = need
        self.orders.append(order)
        return order

    def _execute_new(self, order: Order) -> None:
        """Fill a new order as far as it is marketable now; expire an IOC/FOK remainder."""
        if order.type in STOP_TYPES:
            return  # waits for its trigger
        market = self.price(order.symbol)
        marketable = order.type == "MARKET" or limit_fills_at(order.side, order.price, market)
        if marketable:
            if order.time_in_force == "FOK":
                order.partial_next.clear()  # all or nothing
            self._fill(order, self._slipped(order, market), self.now, maker=False)
        # IOC/FOK, or a market order that met too little book (Binance ends it EXPIRED).
        rest_expires = order.expire_rest and order.type == "MARKET"
        if order.is_open and (order.time_in_force in ("IOC", "FOK") or rest_expires):
            self._release(order)
            order.status, order.update_time = "EXPIRED", self.now
            self._notify(OrderEvent("EXPIRED", order))

    def _slipped(self, order: Order, market: Decimal) -> Decimal:
        """The taker price of a new order: the market price, moved against the taker by the
        next ``slippage`` fault's bps (rounded to the tick against the taker) if one waits."""
        if not self.slippage_bps:
            return market
        bps = self.slippage_bps.pop(0)
        tick = self.symbols[order.symbol].tick
        buy = order.side == "BUY"
        moved = market * (1 + (bps if buy else -bps) / 10_000)
        return (moved / tick).to_integral_value(ROUND_UP if buy else ROUND_DOWN) * tick

    def _release(self, order: Order) -> None:
        sym = self.symbols[order.symbol]
        pay = sym.quote if order.side == "BUY" else sym.base
        self.locked[pay] -= order.locked
        self.free[pay] += order.locked
        order.locked = Decimal(0)

    def new_oco(self, p: Mapping[str, str]) -> tuple[int, list[Order]]:
        """Book an OCO list from ``POST /api/v3/orderList/oco`` params: the ``above`` and
        ``below`` legs, one hold for both; return the list id and the legs (above first)."""
        sym = self.symbol(p.get("symbol"))
        side = p.get("side", "")
        if side not in ("BUY", "SELL"):
            raise missing("side")
        qty = _decimal(p, "quantity")
        legs = []
        for where in ("above", "below"):
            leg = {
                "type": p.get(f"{where}Type", ""),
                "price": p.get(f"{where}Price", ""),
                "stopPrice": p.get(f"{where}StopPrice", ""),
                "timeInForce": p.get(f"{where}TimeInForce", ""),
            }
            legs.append(_placement({k: v for k, v in leg.items() if v}))
        take = ("LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
        stop = ("STOP_LOSS", "STOP_LOSS_LIMIT")
        above_ok, below_ok = (take, stop) if side == "SELL" else (stop, take)
        if legs[0].kind not in above_ok or legs[1].kind not in below_ok:
            raise ApiError(-1158, "Order type not supported in OCO.")
        ids = [p.get("aboveClientOrderId"), p.get("belowClientOrderId")]
        for cid in ids:
            if cid:
                self._check_client_id(sym, cid)
        for placement in legs:  # refuse the list before booking any leg
            refusal = immediate_refusal(placement, side, self.price(sym.id))
            if refusal is not None:
                raise ApiError(*refusal)
        list_id, self._next_list_id = self._next_list_id, self._next_list_id + 1
        orders = []
        for n, (placement, cid) in enumerate(zip(legs, ids, strict=True)):
            order = self._book_order(
                sym, side, qty, placement, cid or f"sim{self._next_order_id}", hold=n == 0
            )
            order.list_id = list_id
            orders.append(order)
        for order in orders:
            self._notify(OrderEvent("NEW", order))
        for order in orders:
            if order.is_open:
                self._execute_new(order)
        return list_id, orders

    def _fill(self, order: Order, price: Decimal, t: int, *, maker: bool) -> None:
        sym = self.symbols[order.symbol]
        self._end_siblings(order, "EXPIRED")  # an OCO leg trading ends the other
        qty = order.remaining
        if order.partial_next:
            qty = max(
                STEP, (qty * Decimal(repr(order.partial_next.pop(0)))).quantize(STEP, ROUND_DOWN)
            )
        quote = qty * price
        fee = (quote * self.fee_rate).quantize(_EIGHT)
        if order.side == "BUY":
            # Release the hold at the order's own rate, then pay what the fill costs.
            held = order.locked if qty == order.remaining else order.locked * qty / order.remaining
            self.locked[sym.quote] -= held
            order.locked -= held
            self.free[sym.quote] += held - quote - fee
            self.free[sym.base] += qty
        else:
            self.locked[sym.base] -= qty
            order.locked -= qty
            self.free[sym.quote] += quote - fee
        fill = Fill(
            self._next_trade_id, order.order_id, order.client_order_id, sym.id, order.side,
            price, qty, fee, sym.quote, t, maker,
        )  # fmt: skip
        self._next_trade_id += 1
        self.ledger.append(fill)
        if self.duplicate_next_fills > 0:
            self.duplicate_next_fills -= 1
            self.duplicated_trades.add(fill.trade_id)
        order.executed += qty
        order.quote_executed += quote
        order.update_time = t
        order.status = "FILLED" if order.remaining == 0 else "PARTIALLY_FILLED"
        self._notify(OrderEvent("TRADE", order, fill))

    def _notify(self, event: OrderEvent) -> None:
        for listener in self.order_listeners:
            listener(event)

    def find(self, p: Mapping[str, str]) -> Order:
        """The order named by ``orderId`` or ``origClientOrderId`` (the latest of that id)."""
        return find_order(self.orders, self.symbol(p.get("symbol")).id, p)

    def cancel(self, p: Mapping[str, str]) -> Order:
        """Cancel an open order and release what it holds; -2011 if it is not open."""
        order = find_open_order(self.orders, self.symbol(p.get("symbol")).id, p)
        self._end_siblings(order, "CANCELED")  # cancelling one leg cancels the list
        self._release(order)
        order.status, order.update_time = "CANCELED", self.now
        self._notify(OrderEvent("CANCELED", order, cancel_client_id=cancel_client_id(order, p)))
        return order

    def trades(self, p: Mapping[str, str]) -> list[Fill]:
        """``myTrades`` rows: by symbol, optional ``orderId``/``startTime``/``endTime``/``fromId``."""
        sym = self.symbol(p.get("symbol"))
        rows = [f for f in self.ledger if f.symbol == sym.id and f.trade_id not in self.withheld]
        rows = filter_trades(rows, p)
        limit = min(int(p.get("limit") or 500), 1000)
        out: list[Fill] = []
        for f in rows:
            out.extend([f, f] if f.trade_id in self.duplicated_trades else [f])
        return out[:limit]


def cancel_client_id(order: Order, p: Mapping[str, str]) -> str:
    """The client id of a cancel request: its ``newClientOrderId``, else ``cancel<orderId>``."""
    return p.get("newClientOrderId") or f"cancel{order.order_id}"


def _placement(p: Mapping[str, str]) -> Placement:
    try:
        return parse_placement(p)
    except Refused as e:
        raise ApiError(e.code, e.msg) from None


def _decimal(p: Mapping[str, str], name: str) -> Decimal:
    value = number_param(p, name)
    if value <= 0:
        raise ApiError(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


# -- rules shared with the USD-M book ----------------------------------------------------------


class _BinanceOrder(Protocol):
    order_id: int
    client_order_id: str
    symbol: str
    side: str
    type: str
    price: Decimal
    time: int

    @property
    def is_open(self) -> bool: ...


class _Listing(Protocol):
    id: str
    opens: np.ndarray
    ohlcv: np.ndarray
    interval_ms: int


_O = TypeVar("_O", bound=_BinanceOrder)
_F = TypeVar("_F", bound=Fill)
_T = TypeVar("_T")


def listed(table: Mapping[str, _T], symbol_id: str | None) -> _T:
    """What ``table`` lists as ``symbol_id``: -1102 without a symbol, -1121 for an unknown one."""
    if not symbol_id:
        raise missing("symbol")
    if symbol_id not in table:
        raise ApiError(-1121, "Invalid symbol.")
    return table[symbol_id]


def open_price(listing: _Listing, now: int) -> Decimal:
    """The open of the bar current at ``now`` (the market price); -1013 when none is."""
    i = bar_at(listing.opens, listing.interval_ms, now)
    if i < 0:
        raise ApiError(-1013, f"No market data for {listing.id} at {now}.")
    return dec(listing.ohlcv[i, 0])


def limits_through(orders: list[_O], listing: _Listing, i: int, t: int) -> Iterator[_O]:
    """The open LIMIT orders on ``listing``, placed by ``t``, that its bar ``i`` trades
    *through* (``low < price`` to buy, ``high > price`` to sell), each checked when reached."""
    high, low = dec(listing.ohlcv[i, 1]), dec(listing.ohlcv[i, 2])
    for order in orders:
        if order.symbol != listing.id or not order.is_open or order.type != "LIMIT":
            continue
        through = low < order.price if order.side == "BUY" else high > order.price
        if through and order.time <= t:
            yield order


def find_order(orders: list[_O], symbol_id: str, p: Mapping[str, str]) -> _O:
    """The order on ``symbol_id`` named by ``orderId``, else ``origClientOrderId`` (the latest
    of that client id); -1102 if ``p`` names neither, -2013 if no order matches."""
    oid, cid = p.get("orderId"), p.get("origClientOrderId")
    if not oid and not cid:
        raise ApiError(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )
    for order in reversed(orders):
        if order.symbol != symbol_id:
            continue
        if (oid and str(order.order_id) == oid) or (not oid and order.client_order_id == cid):
            return order
    raise ApiError(-2013, "Order does not exist.")


def find_open_order(orders: list[_O], symbol_id: str, p: Mapping[str, str]) -> _O:
    """The order a cancel names (see :func:`find_order`); -2011 if unknown or no longer open."""
    try:
        order = find_order(orders, symbol_id, p)
    except ApiError as exc:
        if exc.code == -2013:
            raise ApiError(-2011, "Unknown order sent.") from None
        raise
    if not order.is_open:
        raise ApiError(-2011, "Unknown order sent.")
    return order


def filter_trades(rows: list[_F], p: Mapping[str, str]) -> list[_F]:
    """The fills of ``rows`` kept by the optional ``orderId``, ``startTime``, ``endTime`` and
    ``fromId`` of a trade-list request."""
    if oid := p.get("orderId"):
        rows = [f for f in rows if str(f.order_id) == oid]
    if start := p.get("startTime"):
        rows = [f for f in rows if f.time >= int(start)]
    if end := p.get("endTime"):
        rows = [f for f in rows if f.time <= int(end)]
    if from_id := p.get("fromId"):
        rows = [f for f in rows if f.trade_id >= int(from_id)]
    return rows


def kline_rows(
    opens: np.ndarray,
    ohlcv: np.ndarray,
    interval_ms: int,
    now: int,
    p: Mapping[str, str],
    *,
    max_limit: int,
) -> list[list[Any]]:
    """Binance's ``klines`` rows of the candles *closed* by ``now`` (no peeking at the current bar).

    ``startTime``/``endTime`` bound the bar opens; ``limit`` (500 by default, 1 to
    ``max_limit``) keeps the first rows from a ``startTime``, else the last ones.
    """
    limit = max(1, min(int(p.get("limit") or 500), max_limit))
    rows = []
    for t, (o, h, low, c, v) in zip(opens.tolist(), ohlcv.tolist(), strict=True):
        close_t = t + interval_ms - 1
        if close_t >= now:
            break
        if "startTime" in p and t < int(p["startTime"]):
            continue
        if "endTime" in p and t > int(p["endTime"]):
            break
        rows.append([t, *(f"{x:.8f}" for x in (o, h, low, c, v)), close_t, "0", 0, "0", "0", "0"])
    return rows[:limit] if "startTime" in p else rows[-limit:]
