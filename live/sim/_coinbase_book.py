"""The simulated Coinbase Advanced Trade account: clock, candles, orders, holds and fills.

No I/O here; ``coinbase.py`` turns HTTP requests into calls on :class:`CoinbaseBook`, which
raises :class:`OrderRejected` where Coinbase answers ``{"success": false, "error_response":
...}`` and :class:`CoinbaseApiError` where it answers ``{"error", "message"}`` with a 4xx.

Model (also in ``live/sim/coinbase.py``):

- The market clock sits on bar opens; the *market price* is the current bar's **open**.
- ``market_market_ioc`` fills at once, in full, at the market price (taker). ``quote_size``
  (what ccxt sends for a market buy) is what the order spends **including** the fee; the base
  size bought is rounded down to ``base_increment``.
- ``limit_limit_gtc`` fills at once at the market price when marketable (taker; refused when
  ``post_only``), else rests and fills at its price (maker) on the first bar that trades
  *through* it (``low < price`` to buy, ``high > price`` to sell), once the clock passes that
  bar's close. While open it holds ``size × price × (1 + taker fee)`` of the quote (buy) or
  ``size`` of the base (sell).
- Fees are charged in the quote currency: ``maker_fee_rate`` / ``taker_fee_rate`` of the
  fill's value, unrounded.
- ``stop_limit_stop_limit_gtc`` (``stop_price``, ``stop_direction``, ``limit_price``) rests
  untriggered (``trigger_status`` ``STOP_PENDING``) until the last trade price reaches its stop
  (``STOP_DIRECTION_STOP_DOWN``: at or below, ``..._STOP_UP``: at or above; a bar after the
  placement one whose open is past the stop triggers at the open), then is a limit order:
  filled at the trigger price when its limit allows, else resting from the next bar on (a
  stop-limit that triggers in a gap and does not fill). A stop the last price has already
  reached is refused (``INVALID_STOP_PRICE``, preview ``PREVIEW_STOP_PRICE_ABOVE_LAST_TRADE_PRICE``
  for a stop-down, ``..._BELOW_...`` for a stop-up). It holds funds like a limit order.
- ``trigger_bracket_gtc`` (``limit_price``, ``stop_trigger_price``; ``base_size`` only) is an
  exit pair in one order: a SELL's limit above the last price and its stop trigger below it (a
  BUY's the other way round). The limit leg rests like a limit order (filled at its price,
  maker, when a bar trades through it); the stop leg triggers as a stop-limit's stop does (a
  SELL at or below, a gapped open at the open) and then is a limit order 5 % beyond the
  trigger (lower for a SELL, higher for a BUY, on the price grid), as Coinbase places it:
  filled at the trigger price when that limit allows, else resting from the next bar. When one
  bar reaches both, the stop wins (the engine's both-touch pessimism: the order of the high and
  the low within a bar is unknown). Refusals (``error``, ``preview_failure_reason``): a limit
  at or through the last price ``INVALID_LIMIT_PRICE`` / ``PREVIEW_INVALID_BRACKET_LIMIT_PRICE``;
  a trigger already reached ``INVALID_STOP_PRICE`` /
  ``PREVIEW_INVALID_BRACKET_STOP_TRIGGER_PRICE``; a trigger not on the stop side of the limit
  ``INVALID_LIMIT_PRICE`` / ``PREVIEW_INVALID_BRACKET_PRICES``; off-grid prices
  ``INVALID_PRICE_PRECISION`` / ``PREVIEW_INVALID_BRACKET_LIMIT_PRICE_PRECISION`` or
  ``..._STOP_TRIGGER_PRICE_PRECISION``; a ``quote_size`` ``INVALID_ORDER_CONFIGURATION`` /
  ``PREVIEW_QUOTE_SIZE_NOT_ALLOWED_FOR_BRACKET``. A BUY bracket holds its size at the stop
  leg's limit (the dearer leg) plus the taker fee.
- A ``client_order_id`` already used returns the order created with it, whatever the new body
  says (Coinbase: "If the ID provided is not unique, the order will not be created and the
  order corresponding with that ID will be returned instead").
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

import numpy as np
import pandas as pd

from live.sim._candles import bar_at, candle_arrays, dec

__all__ = [
    "CbFill",
    "CbOrder",
    "CoinbaseApiError",
    "CoinbaseBook",
    "OrderRejected",
    "Product",
    "ProductSpec",
]

_ZERO = Decimal(0)
_NS = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")  # uuid's URL namespace
FIAT = ("USD", "EUR", "GBP")


class CoinbaseApiError(Exception):
    """A request Coinbase refuses with HTTP ``status`` and ``{"error", "message"}``."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(f"{status} {error} {message}")
        self.status, self.error, self.message = status, error, message


class OrderRejected(Exception):
    """A create-order request Coinbase answers ``{"success": false, "error_response": ...}``."""

    def __init__(self, error: str, message: str, preview: str) -> None:
        super().__init__(f"{error}: {message}")
        self.error, self.message, self.preview = error, message, preview


@dataclass(frozen=True)
class ProductSpec:
    """Size and price increments and bounds of one product."""

    base_increment: Decimal = Decimal("0.00000001")
    price_increment: Decimal = Decimal("0.01")
    base_min_size: Decimal = Decimal("0.00000001")
    base_max_size: Decimal = Decimal(3400)
    quote_min_size: Decimal = Decimal(1)
    quote_max_size: Decimal = Decimal(150_000_000)


@dataclass
class Product:
    """One listed spot product with its candles (``opens`` ms int64; ``ohlcv`` shape (n, 5))."""

    id: str
    base: str
    quote: str
    spec: ProductSpec
    opens: np.ndarray
    ohlcv: np.ndarray
    interval_ms: int
    matched: int = 0  # first bar not yet matched against resting orders


@dataclass
class CbOrder:
    """One order and its progress; ``status`` uses Coinbase's names."""

    order_id: str
    client_order_id: str
    product_id: str
    side: str  # BUY or SELL
    configuration: str  # market_market_ioc or limit_limit_gtc
    base_size: Decimal | None
    quote_size: Decimal | None
    limit_price: Decimal | None
    post_only: bool
    created: int  # ms
    status: str = "OPEN"
    filled_size: Decimal = _ZERO
    filled_value: Decimal = _ZERO
    total_fees: Decimal = _ZERO
    number_of_fills: int = 0
    hold: Decimal = _ZERO
    last_fill_time: int | None = None
    request: dict[str, Any] = field(default_factory=dict)  # the order_configuration sent
    stop_price: Decimal | None = None
    stop_down: bool = False  # STOP_DIRECTION_STOP_DOWN (else STOP_UP)
    triggered_bar: int = -1  # the bar that triggered the stop (-1: not yet)
    bracket: bool = False  # trigger_bracket_gtc: limit_price rests until the stop triggers

    @property
    def waiting_trigger(self) -> bool:
        return self.is_open and self.stop_price is not None and self.triggered_bar < 0

    @property
    def is_open(self) -> bool:
        return self.status == "OPEN"

    @property
    def average_price(self) -> Decimal:
        return self.filled_value / self.filled_size if self.filled_size else _ZERO


@dataclass(frozen=True)
class CbFill:
    """One execution as ``/orders/historical/fills`` reports it (quote-currency commission)."""

    entry_id: str
    trade_id: str
    order_id: str
    product_id: str
    side: str
    price: Decimal
    size: Decimal
    commission: Decimal
    time: int
    is_maker: bool


def _product(product_id: str, frame: pd.DataFrame, spec: ProductSpec) -> Product:
    base, dash, quote = product_id.partition("-")
    if not dash or not base or not quote:
        raise ValueError(f"{product_id!r}: a Coinbase product id looks like 'BTC-USD'")
    opens, ohlcv, interval = candle_arrays(product_id, frame)
    return Product(product_id, base, quote, spec, opens, ohlcv, interval)


def _positive(config: Mapping[str, Any], name: str) -> Decimal | None:
    raw = config.get(name)
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw))
    except ArithmeticError:
        raise CoinbaseApiError(400, "INVALID_ARGUMENT", f"invalid {name}: {raw!r}") from None
    if not value.is_finite() or value <= 0:
        raise CoinbaseApiError(400, "INVALID_ARGUMENT", f"invalid {name}: {raw!r}")
    return value


class CoinbaseBook:
    """Orders, balances, holds, fills and the market clock of one simulated Coinbase account.

    Parameters
    ----------
    candles
        Product id (``"BTC-USD"``) → frame with ``timestamp`` (bar open, ms), ``open, high,
        low, close`` and optionally ``volume`` columns.
    balances
        Starting available balances, e.g. ``{"USD": "10000"}``.
    maker_fee_rate, taker_fee_rate
        Fee per fill as a fraction of its value (Advanced 1 tier: 0.6 % and 1.2 %).
    start_ms
        Initial market clock; the first bar open of any product by default.
    specs
        Increments and bounds per product; :class:`ProductSpec` defaults (BTC-USD's) otherwise.
    """

    def __init__(
        self,
        candles: Mapping[str, pd.DataFrame],
        *,
        balances: Mapping[str, str | Decimal] | None = None,
        maker_fee_rate: str | Decimal = "0.006",
        taker_fee_rate: str | Decimal = "0.012",
        start_ms: int | None = None,
        specs: Mapping[str, ProductSpec] | None = None,
    ) -> None:
        if not candles:
            raise ValueError("candles: list at least one product")
        specs = specs or {}
        self.products = {
            pid: _product(pid, frame, specs.get(pid, ProductSpec()))
            for pid, frame in candles.items()
        }
        self.maker_fee_rate, self.taker_fee_rate = Decimal(maker_fee_rate), Decimal(taker_fee_rate)
        self.now = (
            min(int(p.opens[0]) for p in self.products.values()) if start_ms is None else start_ms
        )
        self.available: dict[str, Decimal] = {}
        self.holds: dict[str, Decimal] = {}
        for asset in sorted({a for p in self.products.values() for a in (p.base, p.quote)}):
            self.available[asset], self.holds[asset] = _ZERO, _ZERO
        for asset, amount in ({"USD": "10000"} if balances is None else balances).items():
            self.available[asset] = Decimal(amount)
            self.holds.setdefault(asset, _ZERO)
        self.orders: list[CbOrder] = []
        self.ledger: list[CbFill] = []
        self._serial = 0

    def new_id(self, kind: str) -> str:
        """A fresh, deterministic UUID-shaped id (``kind``: order, trade, account ...)."""
        self._serial += 1
        return str(uuid.uuid5(_NS, f"grekko-sim:{kind}:{self._serial}"))

    # -- clock and prices -------------------------------------------------------------------

    def product(self, product_id: str | None) -> Product:
        if not product_id or product_id not in self.products:
            raise CoinbaseApiError(404, "NOT_FOUND", "ProductID is invalid")
        return self.products[product_id]

    def _current(self, p: Product) -> int:
        i = bar_at(p.opens, p.interval_ms, self.now)
        if i < 0:
            raise CoinbaseApiError(503, "UNAVAILABLE", f"no market data for {p.id} at {self.now}")
        return i

    def price(self, product_id: str) -> Decimal:
        """The market price: the current bar's open."""
        p = self.product(product_id)
        return dec(p.ohlcv[self._current(p), 0])

    def advance_to(self, ts_ms: int) -> list[CbFill]:
        """Move the clock forward to ``ts_ms``; match every bar that closed; return new fills."""
        if ts_ms < self.now:
            raise ValueError(f"the clock only moves forward ({ts_ms} < {self.now})")
        self.now = ts_ms
        before = len(self.ledger)
        for p in self.products.values():
            while p.matched < len(p.opens) and p.opens[p.matched] + p.interval_ms <= ts_ms:
                high, low = dec(p.ohlcv[p.matched, 1]), dec(p.ohlcv[p.matched, 2])
                t = int(p.opens[p.matched]) + p.interval_ms - 1  # the bar's close time
                i = p.matched
                for o in self.orders:
                    if o.product_id != p.id or not o.is_open or o.limit_price is None:
                        continue
                    if o.stop_price is not None and not 0 <= o.triggered_bar < i:
                        continue  # untriggered, or triggered in this bar: from the next one
                    through = low < o.limit_price if o.side == "BUY" else high > o.limit_price
                    if through and o.created <= t:
                        assert o.base_size is not None
                        self._fill(o, o.limit_price, o.base_size, t, maker=True)
                self._trigger_stops(p, i, t)
                p.matched += 1
        return self.ledger[before:]

    def _trigger_stops(self, p: Product, i: int, t: int) -> None:
        o_, high, low = (dec(x) for x in p.ohlcv[i, :3])
        for o in self.orders:
            if o.product_id != p.id or not o.waiting_trigger or o.created > t:
                continue
            assert o.stop_price is not None
            assert o.limit_price is not None
            gap = i > bar_at(p.opens, p.interval_ms, o.created)
            stop = o.stop_price
            if o.stop_down:
                at = o_ if gap and o_ <= stop else (stop if low <= stop else None)
            else:
                at = o_ if gap and o_ >= stop else (stop if high >= stop else None)
            if at is None:
                if o.bracket:  # the limit leg, once the stop has not fired in this bar
                    through = high > o.limit_price if o.side == "SELL" else low < o.limit_price
                    if through:
                        assert o.base_size is not None
                        self._fill(o, o.limit_price, o.base_size, t, maker=True)
                continue
            o.triggered_bar = i
            if o.bracket:  # the stop leg is now a limit 5 % beyond its trigger
                o.limit_price = _bracket_stop_limit(o.side, stop, p.spec.price_increment)
            fills = at >= o.limit_price if o.side == "SELL" else at <= o.limit_price
            if fills:
                assert o.base_size is not None
                self._fill(o, at, o.base_size, t, maker=False)

    # -- orders -------------------------------------------------------------------------------

    def find_client_id(self, client_order_id: str) -> CbOrder | None:
        return next((o for o in self.orders if o.client_order_id == client_order_id), None)

    def new_order(self, body: Mapping[str, Any]) -> tuple[CbOrder, bool]:
        """Book an order from a create-order body; return ``(order, created)``.

        ``created`` is false when ``client_order_id`` was used before: that order is returned.
        """
        client_id = str(body.get("client_order_id") or "")
        if not client_id:
            raise CoinbaseApiError(400, "INVALID_ARGUMENT", "client_order_id is required")
        if (existing := self.find_client_id(client_id)) is not None:
            return existing, False
        p = self.product(str(body.get("product_id") or ""))
        side, kind, config, base_size, quote_size, limit_price = _order_terms(body)
        post_only = bool(config.get("post_only", False))
        market = self.price(p.id)
        if kind == "trigger_bracket_gtc":
            assert base_size is not None
            assert limit_price is not None
            return self._new_bracket(p, client_id, side, config, base_size, limit_price), True
        price = limit_price or market
        if limit_price is None:
            marketable = True
        else:
            marketable = limit_price >= market if side == "BUY" else limit_price <= market
        if base_size is None:
            assert quote_size is not None
            spend = quote_size / (1 + self.taker_fee_rate) if side == "BUY" else quote_size
            base_size = (spend / price).quantize(p.spec.base_increment, ROUND_DOWN)
        self._check(p, base_size, limit_price, quote_size or base_size * price)
        stop_price, stop_down = _stop_terms(kind, config, market)
        if stop_price is not None:
            marketable = False  # waits for its trigger
        if marketable and post_only:
            raise OrderRejected(
                "INVALID_LIMIT_PRICE_POST_ONLY",
                "Limit price too aggressive for a post-only order",
                "PREVIEW_INVALID_LIMIT_PRICE_POST_ONLY",
            )
        if side == "BUY":
            need = quote_size or base_size * price * (1 + self.taker_fee_rate)
            pay = p.quote
        else:
            need, pay = base_size, p.base
        if self.available.get(pay, _ZERO) < need:
            raise OrderRejected(
                "INSUFFICIENT_FUND",
                "Insufficient balance in source account",
                "PREVIEW_INSUFFICIENT_FUND",
            )
        order = CbOrder(
            self.new_id("order"), client_id, p.id, side, kind, base_size,
            quote_size if kind == "market_market_ioc" else None, limit_price, post_only,
            self.now, hold=need, request={kind: dict(config)}, stop_price=stop_price,
            stop_down=stop_down,
        )  # fmt: skip
        self.available[pay] -= need
        self.holds[pay] += need
        self.orders.append(order)
        if marketable:
            self._fill(order, market, base_size, self.now, maker=False)
        return order, True

    def _new_bracket(
        self,
        p: Product,
        client_id: str,
        side: str,
        config: Mapping[str, Any],
        base_size: Decimal,
        limit: Decimal,
    ) -> CbOrder:
        """Book a ``trigger_bracket_gtc`` exit pair (see the module docstring)."""
        stop = _positive(config, "stop_trigger_price")
        if stop is None:
            raise CoinbaseApiError(400, "INVALID_ARGUMENT", "invalid stop_trigger_price")
        tick = p.spec.price_increment
        if limit % tick:
            raise OrderRejected(
                "INVALID_PRICE_PRECISION",
                "Too many decimals in order price",
                "PREVIEW_INVALID_BRACKET_LIMIT_PRICE_PRECISION",
            )
        if stop % tick:
            raise OrderRejected(
                "INVALID_PRICE_PRECISION",
                "Too many decimals in stop trigger price",
                "PREVIEW_INVALID_STOP_TRIGGER_PRICE_PRECISION",
            )
        market = self.price(p.id)
        sell = side == "SELL"
        if (stop >= limit) if sell else (stop <= limit):
            raise OrderRejected(
                "INVALID_LIMIT_PRICE",
                f"Stop trigger price must be {'below' if sell else 'above'} the limit price",
                "PREVIEW_INVALID_BRACKET_PRICES",
            )
        if (limit <= market) if sell else (limit >= market):
            raise OrderRejected(
                "INVALID_LIMIT_PRICE",
                f"Bracket limit price must be {'above' if sell else 'below'} the last trade price",
                "PREVIEW_INVALID_BRACKET_LIMIT_PRICE",
            )
        if (stop >= market) if sell else (stop <= market):
            raise OrderRejected(
                "INVALID_STOP_PRICE",
                f"Stop trigger price must be {'below' if sell else 'above'} the last trade price",
                "PREVIEW_INVALID_BRACKET_STOP_TRIGGER_PRICE",
            )
        self._check(p, base_size, limit, base_size * limit)
        if sell:
            need, pay = base_size, p.base
        else:
            worst = _bracket_stop_limit(side, stop, tick)
            need, pay = base_size * worst * (1 + self.taker_fee_rate), p.quote
        if self.available.get(pay, _ZERO) < need:
            raise OrderRejected(
                "INSUFFICIENT_FUND",
                "Insufficient balance in source account",
                "PREVIEW_INSUFFICIENT_FUND",
            )
        order = CbOrder(
            self.new_id("order"), client_id, p.id, side, "trigger_bracket_gtc", base_size, None,
            limit, False, self.now, hold=need, request={"trigger_bracket_gtc": dict(config)},
            stop_price=stop, stop_down=sell, bracket=True,
        )  # fmt: skip
        self.available[pay] -= need
        self.holds[pay] += need
        self.orders.append(order)
        return order

    def _check(
        self, p: Product, base_size: Decimal, limit_price: Decimal | None, value: Decimal
    ) -> None:
        s = p.spec
        if base_size % s.base_increment:
            raise OrderRejected(
                "INVALID_SIZE_PRECISION",
                "Too many decimals in order amount",
                "PREVIEW_INVALID_SIZE_PRECISION",
            )
        if limit_price is not None and limit_price % s.price_increment:
            raise OrderRejected(
                "INVALID_PRICE_PRECISION",
                "Too many decimals in order price",
                "PREVIEW_INVALID_PRICE_PRECISION",
            )
        if base_size < s.base_min_size or value < s.quote_min_size:
            raise OrderRejected(
                "INVALID_ORDER_SIZE", "Order size is too small", "PREVIEW_INVALID_SIZE_TOO_SMALL"
            )
        if base_size > s.base_max_size or value > s.quote_max_size:
            raise OrderRejected(
                "INVALID_ORDER_SIZE", "Order size is too large", "PREVIEW_INVALID_SIZE_TOO_LARGE"
            )

    def _fill(self, o: CbOrder, price: Decimal, size: Decimal, t: int, *, maker: bool) -> None:
        p = self.products[o.product_id]
        value = size * price
        fee = value * (self.maker_fee_rate if maker else self.taker_fee_rate)
        if o.side == "BUY":
            self.holds[p.quote] -= o.hold
            self.available[p.quote] += o.hold - value - fee
            self.available[p.base] += size
        else:
            self.holds[p.base] -= o.hold
            self.available[p.base] += o.hold - size
            self.available[p.quote] += value - fee
        o.hold = _ZERO
        fill = CbFill(
            self.new_id("entry").replace("-", ""), self.new_id("trade"), o.order_id, p.id,
            o.side, price, size, fee, t, maker,
        )  # fmt: skip
        self.ledger.append(fill)
        o.filled_size += size
        o.filled_value += value
        o.total_fees += fee
        o.number_of_fills += 1
        o.last_fill_time = t
        o.status = "FILLED"

    def find(self, order_id: str) -> CbOrder:
        for o in self.orders:
            if o.order_id == order_id:
                return o
        raise CoinbaseApiError(404, "NOT_FOUND", "order with this orderID was not found")

    def cancel(self, order_id: str) -> str | None:
        """Cancel one order and release its hold; return the failure reason, if any."""
        try:
            o = self.find(order_id)
        except CoinbaseApiError:
            return "UNKNOWN_CANCEL_ORDER"
        if o.status == "FILLED":
            return "ORDER_IS_FULLY_FILLED"
        if not o.is_open:
            return "DUPLICATE_CANCEL_REQUEST"
        p = self.products[o.product_id]
        pay = p.quote if o.side == "BUY" else p.base
        self.holds[pay] -= o.hold
        self.available[pay] += o.hold
        o.hold = _ZERO
        o.status = "CANCELLED"
        return None


_CONFIGS = (
    "market_market_ioc",
    "limit_limit_gtc",
    "stop_limit_stop_limit_gtc",
    "trigger_bracket_gtc",
)
BRACKET_STOP_SLIP = Decimal("0.05")
"""A triggered bracket's stop leg is a limit this fraction beyond the trigger (Coinbase: 5 %)."""


def _bracket_stop_limit(side: str, stop: Decimal, tick: Decimal) -> Decimal:
    """The limit of a bracket's triggered stop leg, on the price grid (towards the market's
    far side: down for a SELL, up for a BUY)."""
    if side == "SELL":
        return (stop * (1 - BRACKET_STOP_SLIP) / tick).to_integral_value(ROUND_DOWN) * tick
    return (stop * (1 + BRACKET_STOP_SLIP) / tick).to_integral_value(ROUND_UP) * tick


_DIRECTIONS = ("STOP_DIRECTION_STOP_UP", "STOP_DIRECTION_STOP_DOWN")


def _stop_terms(
    kind: str, config: Mapping[str, Any], market: Decimal
) -> tuple[Decimal | None, bool]:
    """``(stop_price, stop_down)`` of a stop-limit configuration (``(None, False)`` for the
    others), refused as Coinbase does when the last trade price has already reached it."""
    if kind != "stop_limit_stop_limit_gtc":
        return None, False
    stop = _positive(config, "stop_price")
    direction = config.get("stop_direction")
    if stop is None or direction not in _DIRECTIONS:
        raise CoinbaseApiError(400, "INVALID_ARGUMENT", "invalid stop_price or stop_direction")
    down = direction == "STOP_DIRECTION_STOP_DOWN"
    if (market <= stop) if down else (market >= stop):
        side = "ABOVE" if down else "BELOW"
        raise OrderRejected(
            "INVALID_STOP_PRICE",
            f"Stop price is {side.lower()} the last trade price",
            f"PREVIEW_STOP_PRICE_{side}_LAST_TRADE_PRICE",
        )
    return stop, down


def _order_terms(
    body: Mapping[str, Any],
) -> tuple[str, str, dict[str, Any], Decimal | None, Decimal | None, Decimal | None]:
    """``(side, kind, config, base_size, quote_size, limit_price)`` of a create-order body,
    checked in Coinbase's order (the first wrong field is the one its error names)."""
    side = body.get("side")
    if side not in ("BUY", "SELL"):
        raise CoinbaseApiError(400, "INVALID_ARGUMENT", f"invalid side: {side!r}")
    configs = body.get("order_configuration")
    if not isinstance(configs, dict) or len(configs) != 1:
        raise CoinbaseApiError(400, "INVALID_ARGUMENT", "order_configuration needs one entry")
    (kind, config), = configs.items()  # fmt: skip
    if kind not in _CONFIGS or not isinstance(config, dict):
        raise OrderRejected(
            "UNSUPPORTED_ORDER_CONFIGURATION",
            f"the simulator does not support {kind}",
            "PREVIEW_INVALID_ORDER_CONFIG",
        )
    base_size, quote_size = _positive(config, "base_size"), _positive(config, "quote_size")
    if kind == "trigger_bracket_gtc" and quote_size is not None:
        raise OrderRejected(
            "INVALID_ORDER_CONFIGURATION",
            "quote_size is not allowed for a bracket order",
            "PREVIEW_QUOTE_SIZE_NOT_ALLOWED_FOR_BRACKET",
        )
    limit_price = _positive(config, "limit_price") if kind != "market_market_ioc" else None
    if kind == "market_market_ioc":
        ok = (base_size is None) != (quote_size is None)
    else:
        ok = base_size is not None and limit_price is not None and quote_size is None
    if not ok:
        raise CoinbaseApiError(400, "INVALID_ARGUMENT", f"invalid {kind} sizes or price")
    return side, kind, config, base_size, quote_size, limit_price
