"""A local Coinbase Advanced Trade peer: the REST API ``ccxt.coinbase`` uses, over a simulated
spot account, so venue adapters run the real ccxt client against a real protocol peer::

    key, secret = new_cdp_key()                      # or the "ed25519" kind
    sim = await start_coinbase_simulator(candles={"BTC-USD": frame}, api_key=key, api_secret=secret)
    ex = ccxt.async_support.coinbase({"apiKey": key, "secret": secret, "options": COINBASE_OPTIONS})
    ex.urls["api"] = rebase_urls(ex.urls["api"], sim.url)
    sim.advance_to(frame.timestamp[10])              # the market clock, on a bar open
    ...
    await sim.close()

Endpoints. Public: ``GET /api/v3/brokerage/time``, ``/market/products`` (``product_type=FUTURE``
answers an empty list), ``/market/products/{id}/candles``, ``/market/product_book`` (a synthetic book around the market
price), and the Coinbase App (v2) ones
ccxt reads while loading markets: ``GET /v2/currencies``, ``/v2/currencies/crypto``,
``/v2/exchange-rates``, ``/v2/time``. Private (``Authorization: Bearer <JWT>``, ES256 or EdDSA,
verified against the key, two-minute lifetime, URI bound; see ``_coinbase_auth``): ``GET
/api/v3/brokerage/products``, ``/products/{id}/candles``, ``/transaction_summary``,
``/accounts``; ``POST /orders`` (``market_market_ioc`` with ``base_size`` or ``quote_size``,
``limit_limit_gtc`` with ``post_only``); ``GET /orders/historical/{order_id}``,
``/orders/historical/batch`` (filters ``order_ids``, ``product_ids``/``product_id``,
``order_status``, ``order_side``, ``start_date``, ``end_date``, ``limit``, ``cursor``),
``/orders/historical/fills`` (``order_ids``, ``trade_ids``, ``product_ids``/``product_id``,
``start_sequence_timestamp``, ``end_sequence_timestamp``, ``limit``, ``cursor``); ``POST
/orders/batch_cancel``. A bad or missing JWT answers 401 ``Unauthorized`` (plain text), which
ccxt raises as ``AuthenticationError``.

What ccxt needs: ``options={"fetchBalance": "v3PrivateGetBrokerageAccounts"}``
(:data:`COINBASE_OPTIONS`), or ``fetch_balance`` reads the Coinbase App's ``/v2/accounts``
(not served). ``load_markets`` also calls ``/transaction_summary`` (fee tier) when keys are
set. ccxt ignores the unified ``clientOrderId`` param here: pass ``params={"client_order_id":
...}`` (it otherwise sends ``ccxt-<uuid>``). ``fetch_ohlcv`` without ``since`` asks for the
window before ccxt's own wall clock, where replayed history has no bars: pass ``since``.

Client order ids, as Coinbase documents them: "If the ID provided is not unique, the order will
not be created and the order corresponding with that ID will be returned instead" -- so a
repeated ``client_order_id`` answers ``success: true`` with the *original* order's id, whatever
the new body says, and nothing is booked. That replay is the way to find an order by client id:
Get Order needs the venue's ``order_id`` (its ``client_order_id`` query parameter is deprecated
and not served) and List Orders has no client-id filter (list and match locally).

Matching: see :mod:`live.sim._coinbase_book` -- market orders fill at the current bar's
**open**; limit orders fill at once (at that open) when marketable, else at their price on the
first bar that trades *through* it, once the clock passes that bar's close. Candle endpoints
serve only bars that have closed by the market clock, whose ``start`` falls in ``[start,
end]`` (seconds), newest first, at most 350, in the frame's own granularity only.

Errors: a rejected create answers HTTP 200 ``{"success": false, "error_response": {"error",
"message", "preview_failure_reason"}}`` (``INSUFFICIENT_FUND``/``PREVIEW_INSUFFICIENT_FUND``
→ ``ccxt.InsufficientFunds``; size/price precision, size bounds, post-only crossing → plain
``ExchangeError``); an unknown order answers 404 ``{"error": "NOT_FOUND", "message": "order
with this orderID was not found"}`` (``ExchangeError``: ccxt has no ``OrderNotFound`` mapping
that matches); a cancel that cannot happen answers ``success: false`` with
``UNKNOWN_CANCEL_ORDER``, ``ORDER_IS_FULLY_FILLED`` or ``DUPLICATE_CANCEL_REQUEST``
(``ccxt.BadRequest``); an unknown product answers 404 ``NOT_FOUND`` ("ProductID is
invalid"); malformed requests answer 400 ``INVALID_ARGUMENT``.

Stop-limit (``stop_limit_stop_limit_gtc``) and bracket (``trigger_bracket_gtc``, ``order_type``
``BRACKET``; ccxt 4.5 does not build it: pass ``params={"order_configuration":
{"trigger_bracket_gtc": {...}}}``, which replaces the one ccxt built) orders follow the trigger
rules of :mod:`live.sim._coinbase_book`.

Simplifications: spot only, one portfolio; no partial fills, GTD/IOC/FOK configurations, edits, previews, websockets or rate limits; ``/v2`` currencies and rates are
minimal (names = codes, rates from the current bar's open, fiat = USD, EUR, GBP); the
in-progress candle is not served (the real API includes it); ``user_id`` and portfolio ids are
constants; ids are deterministic UUIDs.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Any

import pandas as pd
from aiohttp import web
from multidict import MultiMapping

from live.sim._coinbase_auth import JwtVerifier, new_cdp_key
from live.sim._coinbase_book import (
    FIAT,
    CbFill,
    CbOrder,
    CoinbaseApiError,
    CoinbaseBook,
    OrderRejected,
    Product,
    ProductSpec,
)
from live.sim._http import HttpPeer, Request, dumps, json_response

__all__ = [
    "COINBASE_OPTIONS",
    "CbFill",
    "CbOrder",
    "CoinbaseRequest",
    "CoinbaseSimulator",
    "ProductSpec",
    "new_cdp_key",
    "start_coinbase_simulator",
]

COINBASE_OPTIONS: dict[str, Any] = {"fetchBalance": "v3PrivateGetBrokerageAccounts"}
"""ccxt ``coinbase`` options the peer needs: balances from Advanced Trade's ``/accounts``."""

_GRANULARITY = {
    "ONE_MINUTE": 60,
    "FIVE_MINUTE": 300,
    "FIFTEEN_MINUTE": 900,
    "THIRTY_MINUTE": 1800,
    "ONE_HOUR": 3600,
    "TWO_HOUR": 7200,
    "SIX_HOUR": 21600,
    "ONE_DAY": 86400,
}
_MAX_CANDLES = 350
_USER_ID = "5c9d4b9e-5e8d-5a8b-9c51-1d0f3a2b7e10"
_PORTFOLIO_ID = "8f2b1c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d"
_ACCOUNT_NS = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")

Query = MultiMapping[str]
Handler = Callable[[web.Request, Query, Any], Any]


@dataclass(frozen=True)
class CoinbaseRequest(Request):
    """One request received: method, path, HTTP status answered."""


def _s(value: Decimal) -> str:
    """A decimal as Coinbase writes it: plain notation, no trailing zeros."""
    return f"{value.normalize():f}"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _ms(text: str, name: str) -> int:
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise CoinbaseApiError(400, "INVALID_ARGUMENT", f"invalid {name}: {text!r}") from None


def _int(q: Query, name: str, default: int) -> int:
    raw = q.get(name) or ""
    if not raw:
        return default
    if not raw.isdigit():
        raise CoinbaseApiError(400, "INVALID_ARGUMENT", f"invalid {name}: {raw!r}")
    return int(raw)


def _page(rows: list[Any], q: Query, default_limit: int) -> tuple[list[Any], bool, str]:
    """One page of ``rows``: ``cursor`` is the offset of the next page."""
    start = _int(q, "cursor", 0)
    limit = _int(q, "limit", default_limit) or default_limit
    end = start + limit
    return rows[start:end], end < len(rows), str(end) if end < len(rows) else ""


class CoinbaseSimulator(HttpPeer):
    """A running simulated Coinbase Advanced Trade account (see :func:`start_coinbase_simulator`).

    Attributes
    ----------
    book : CoinbaseBook
        Orders, balances, holds, fills and market clock (inspect freely in tests).
    requests : list[CoinbaseRequest]
        Every request answered, in order.
    """

    def __init__(
        self,
        book: CoinbaseBook,
        *,
        api_key: str,
        api_secret: str,
        clock: Callable[[], int] | None = None,
    ) -> None:
        super().__init__(clock)
        self.book = book
        self.book_levels, self.level_notional = 20, Decimal(5_000)
        """The public book's levels a side and the quote value of its first level."""
        self.requests: list[CoinbaseRequest] = []
        self._verifier = JwtVerifier(api_key, api_secret)

    # -- public surface -----------------------------------------------------------------------

    @property
    def ledger(self) -> list[CbFill]:
        """Every fill so far, oldest first."""
        return self.book.ledger

    @property
    def orders(self) -> list[CbOrder]:
        """Every order booked so far, oldest first."""
        return self.book.orders

    def balance(self, currency: str) -> tuple[Decimal, Decimal]:
        """``(available, hold)`` of ``currency``."""
        return self.book.available.get(currency, Decimal(0)), self.book.holds.get(
            currency, Decimal(0)
        )

    def advance_to(self, ts_ms: int) -> list[CbFill]:
        """Move the market clock to ``ts_ms`` (a bar open); return the fills it caused."""
        return self.book.advance_to(ts_ms)

    # -- plumbing ------------------------------------------------------------------------------

    async def _start(self, host: str, port: int) -> None:
        app = web.Application()
        bk = "/api/v3/brokerage"
        routes: list[tuple[str, str, Handler, bool]] = [
            ("GET", "/v2/time", lambda r, q, b: self._v2_time(), False),
            ("GET", "/v2/currencies", lambda r, q, b: self._v2_currencies(fiat=True), False),
            ("GET", "/v2/currencies/crypto", lambda r, q, b: self._v2_currencies(fiat=False), False),
            ("GET", "/v2/exchange-rates", lambda r, q, b: self._v2_rates(q), False),
            ("GET", f"{bk}/time", lambda r, q, b: self._time(), False),
            ("GET", f"{bk}/market/products", lambda r, q, b: self._products(q), False),
            ("GET", f"{bk}/market/products/{{product_id}}/candles", self._candles, False),
            ("GET", f"{bk}/market/product_book", lambda r, q, b: self._product_book(q), False),
            ("GET", f"{bk}/products", lambda r, q, b: self._products(q), True),
            ("GET", f"{bk}/products/{{product_id}}/candles", self._candles, True),
            ("GET", f"{bk}/transaction_summary", lambda r, q, b: self._summary(), True),
            ("GET", f"{bk}/accounts", lambda r, q, b: self._accounts(q), True),
            ("POST", f"{bk}/orders", lambda r, q, b: self._create(b), True),
            ("POST", f"{bk}/orders/batch_cancel", lambda r, q, b: self._cancel(b), True),
            ("GET", f"{bk}/orders/historical/batch", lambda r, q, b: self._list(q), True),
            ("GET", f"{bk}/orders/historical/fills", lambda r, q, b: self._fills(q), True),
            ("GET", f"{bk}/orders/historical/{{order_id}}", self._get_order, True),
        ]  # fmt: skip
        for method, path, handler, private in routes:
            app.router.add_route(method, path, self._endpoint(handler, private=private))
        app.router.add_route("*", "/{tail:.*}", self._endpoint(self._not_found, private=False))
        await self._serve(app, host, port)

    def _endpoint(
        self, handler: Handler, *, private: bool
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            response = await self._answer(request, handler, private=private)
            self.requests.append(CoinbaseRequest(request.method, request.path, response.status))
            return response

        return serve

    async def _answer(
        self, request: web.Request, handler: Handler, *, private: bool
    ) -> web.Response:
        if private:
            why = self._verifier.check(
                request.headers.get("Authorization", ""),
                request.method,
                request.host,
                request.path,
                self._clock() // 1000,
            )
            if why is not None:
                return web.Response(status=401, text="Unauthorized\n", reason="Unauthorized")
        try:
            body = await request.json() if request.can_read_body else None
        except json.JSONDecodeError:
            return _error(CoinbaseApiError(400, "INVALID_ARGUMENT", "request body is not JSON"))
        try:
            result = handler(request, request.query, body)
        except CoinbaseApiError as exc:
            return _error(exc)
        return json_response(result)

    def _not_found(self, request: web.Request, q: Query, body: Any) -> Any:
        raise CoinbaseApiError(
            404, "NOT_FOUND", f"unknown endpoint {request.method} {request.path}"
        )

    # -- public data ---------------------------------------------------------------------------

    def _time(self) -> dict[str, str]:
        now = self._clock()
        return {"iso": _iso(now), "epochSeconds": str(now // 1000), "epochMillis": str(now)}

    def _v2_time(self) -> dict[str, Any]:
        now = self._clock()
        return {"data": {"iso": _iso(now)[:19] + "Z", "epoch": now // 1000}}

    def _currencies(self) -> list[str]:
        return sorted({a for p in self.book.products.values() for a in (p.base, p.quote)})

    def _v2_currencies(self, *, fiat: bool) -> dict[str, Any]:
        if fiat:
            data = [
                {"id": c, "name": c, "min_size": "0.01"} for c in self._currencies() if c in FIAT
            ]
            return {"data": data}
        crypto: list[dict[str, Any]] = [
            {
                "asset_id": str(uuid.uuid5(_ACCOUNT_NS, f"asset:{c}")),
                "code": c,
                "name": c,
                "color": "#000000",
                "sort_index": i,
                "exponent": 8,
                "type": "crypto",
                "address_regex": "",
            }
            for i, c in enumerate(c for c in self._currencies() if c not in FIAT)
        ]
        return {"data": crypto}

    def _v2_rates(self, q: Query) -> dict[str, Any]:
        base = q.get("currency") or "USD"
        rates = {base: "1"}
        for p in self.book.products.values():
            if p.quote == base:
                try:
                    rates[p.base] = _s(1 / self.book.price(p.id))
                except CoinbaseApiError:
                    continue
        return {"data": {"currency": base, "rates": rates}}

    def _products(self, q: Query) -> dict[str, Any]:
        if (q.get("product_type") or "SPOT") != "SPOT":
            return {"products": [], "num_products": 0}
        wanted = set(q.getall("product_ids", []))
        rows = [
            self._product_json(p)
            for p in self.book.products.values()
            if not wanted or p.id in wanted
        ]
        return {"products": rows, "num_products": len(rows)}

    def _product_json(self, p: Product) -> dict[str, Any]:
        s = p.spec
        try:
            price = _s(self.book.price(p.id))
        except CoinbaseApiError:
            price = ""
        return {
            "product_id": p.id,
            "price": price,
            "price_percentage_change_24h": "0",
            "volume_24h": "0",
            "volume_percentage_change_24h": "0",
            "base_increment": _s(s.base_increment),
            "quote_increment": _s(s.price_increment),
            "quote_min_size": _s(s.quote_min_size),
            "quote_max_size": _s(s.quote_max_size),
            "base_min_size": _s(s.base_min_size),
            "base_max_size": _s(s.base_max_size),
            "base_name": p.base,
            "quote_name": p.quote,
            "watched": False,
            "is_disabled": False,
            "new": False,
            "status": "online",
            "cancel_only": False,
            "limit_only": False,
            "post_only": False,
            "trading_disabled": False,
            "auction_mode": False,
            "product_type": "SPOT",
            "quote_currency_id": p.quote,
            "base_currency_id": p.base,
            "fcm_trading_session_details": None,
            "mid_market_price": "",
            "alias": "",
            "alias_to": [],
            "base_display_symbol": p.base,
            "quote_display_symbol": p.quote,
            "view_only": False,
            "price_increment": _s(s.price_increment),
            "display_name": p.id,
            "product_venue": "CBE",
            "approximate_quote_24h_volume": "0",
        }

    def _product_book(self, q: Query) -> dict[str, Any]:
        """``GET /market/product_book``: a synthetic book around the market price (levels ~1 bp
        apart on the price increment, the first worth ``level_notional``, each next a quarter
        more); what a market order fills at stays the bar's open (the book only quotes)."""
        p = self.book.product(q.get("product_id"))
        mid = self.book.price(p.id)
        tick = p.spec.price_increment
        step = max(1, int(mid / 10_000 / tick)) * tick
        best_bid = (mid / step).to_integral_value(rounding=ROUND_FLOOR) * step
        if best_bid >= mid:
            best_bid -= step
        limit = min(_int(q, "limit", self.book_levels), self.book_levels)
        bids, asks = [], []
        for k in range(limit):
            size = (self.level_notional / mid * Decimal(1 + k / 4)).quantize(p.spec.base_increment)
            bids.append({"price": _s(best_bid - k * step), "size": _s(size)})
            asks.append({"price": _s(best_bid + (k + 1) * step), "size": _s(size)})
        return {"pricebook": {"product_id": p.id, "bids": bids, "asks": asks,
                              "time": _iso(self.book.now)}}  # fmt: skip

    def _candles(self, request: web.Request, q: Query, body: Any) -> dict[str, Any]:
        """Candles that have *closed* by the market clock, newest first."""
        p = self.book.product(request.match_info["product_id"])
        granularity = q.get("granularity") or ""
        if _GRANULARITY.get(granularity, 0) * 1000 != p.interval_ms:
            raise CoinbaseApiError(
                400, "INVALID_ARGUMENT", f"granularity {granularity!r} is not served for {p.id}"
            )
        start, end = _int(q, "start", -1), _int(q, "end", -1)
        if start < 0 or end < 0:
            raise CoinbaseApiError(400, "INVALID_ARGUMENT", "start and end are required")
        step = p.interval_ms // 1000
        if (end - start) // step > _MAX_CANDLES:
            raise CoinbaseApiError(
                400,
                "INVALID_ARGUMENT",
                f"number of candles requested should be less than {_MAX_CANDLES}",
            )
        rows = []
        for t, (o, h, low, c, v) in zip(p.opens.tolist(), p.ohlcv.tolist(), strict=True):
            if t + p.interval_ms > self.book.now:
                break
            if start <= t // 1000 <= end:
                rows.append(
                    {
                        "start": str(t // 1000),
                        "low": repr(low),
                        "high": repr(h),
                        "open": repr(o),
                        "close": repr(c),
                        "volume": repr(v),
                    }
                )
        limit = _int(q, "limit", _MAX_CANDLES)
        return {"candles": rows[::-1][:limit]}

    # -- account -------------------------------------------------------------------------------

    def _summary(self) -> dict[str, Any]:
        volume = sum((f.price * f.size for f in self.book.ledger), Decimal(0))
        fees = sum((f.commission for f in self.book.ledger), Decimal(0))
        return {
            "total_volume": float(volume),
            "total_fees": float(fees),
            "fee_tier": {
                "pricing_tier": "Advanced 1",
                "usd_from": "0",
                "usd_to": "10000",
                "taker_fee_rate": _s(self.book.taker_fee_rate),
                "maker_fee_rate": _s(self.book.maker_fee_rate),
                "aop_from": "",
                "aop_to": "",
            },
            "margin_rate": None,
            "goods_and_services_tax": None,
            "advanced_trade_only_volume": float(volume),
            "advanced_trade_only_fees": float(fees),
            "coinbase_pro_volume": 0,
            "coinbase_pro_fees": 0,
            "total_balance": "",
            "has_promo_fee": False,
        }

    def _accounts(self, q: Query) -> dict[str, Any]:
        created = _iso(int(min(p.opens[0] for p in self.book.products.values())))
        rows = [
            {
                "uuid": str(uuid.uuid5(_ACCOUNT_NS, f"account:{c}")),
                "name": f"{c} Wallet",
                "currency": c,
                "available_balance": {"value": _s(self.book.available[c]), "currency": c},
                "default": True,
                "active": True,
                "created_at": created,
                "updated_at": _iso(self.book.now),
                "deleted_at": None,
                "type": "ACCOUNT_TYPE_FIAT" if c in FIAT else "ACCOUNT_TYPE_CRYPTO",
                "ready": True,
                "hold": {"value": _s(self.book.holds[c]), "currency": c},
                "retail_portfolio_id": _PORTFOLIO_ID,
                "platform": "ACCOUNT_PLATFORM_CONSUMER",
            }
            for c in sorted(self.book.available)
        ]
        page, has_next, cursor = _page(rows, q, 49)
        return {"accounts": page, "has_next": has_next, "cursor": cursor, "size": len(page)}

    # -- orders --------------------------------------------------------------------------------

    def _create(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise CoinbaseApiError(400, "INVALID_ARGUMENT", "a JSON object body is required")
        try:
            order, _ = self.book.new_order(body)
        except OrderRejected as exc:
            return {
                "success": False,
                "failure_reason": "UNKNOWN_FAILURE_REASON",
                "order_id": "",
                "error_response": {
                    "error": exc.error,
                    "message": exc.message,
                    "error_details": "",
                    "preview_failure_reason": exc.preview,
                    "new_order_failure_reason": exc.error,
                },
                "order_configuration": body.get("order_configuration"),
            }
        return {
            "success": True,
            "success_response": {
                "order_id": order.order_id,
                "product_id": order.product_id,
                "side": order.side,
                "client_order_id": order.client_order_id,
                "attached_order_id": "",
            },
            "order_configuration": order.request,
        }

    def _cancel(self, body: Any) -> dict[str, Any]:
        ids = body.get("order_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids:
            raise CoinbaseApiError(400, "INVALID_ARGUMENT", "order_ids is required")
        results = []
        for oid in ids:
            reason = self.book.cancel(str(oid))
            results.append(
                {
                    "success": reason is None,
                    "failure_reason": reason or "UNKNOWN_CANCEL_FAILURE_REASON",
                    "order_id": str(oid),
                }
            )
        return {"results": results}

    def _get_order(self, request: web.Request, q: Query, body: Any) -> dict[str, Any]:
        return {"order": self._order_json(self.book.find(request.match_info["order_id"]))}

    def _list(self, q: Query) -> dict[str, Any]:
        rows = self._filtered(self.book.orders, q, time_key="date")
        rows = [o for o in rows if not (s := q.getall("order_status", [])) or o.status in s]
        if side := q.get("order_side"):
            rows = [o for o in rows if o.side == side]
        rows.sort(key=lambda o: o.created, reverse=True)
        page, has_next, cursor = _page(rows, q, 100)
        return {
            "orders": [self._order_json(o) for o in page],
            "sequence": "0",
            "has_next": has_next,
            "cursor": cursor,
        }

    def _fills(self, q: Query) -> dict[str, Any]:
        rows = self._filtered(self.book.ledger, q, time_key="sequence_timestamp")
        if trade_ids := q.getall("trade_ids", []):
            rows = [f for f in rows if f.trade_id in trade_ids]
        rows.sort(key=lambda f: f.time, reverse=True)
        page, _, cursor = _page(rows, q, 100)
        return {"fills": [self._fill_json(f) for f in page], "cursor": cursor}

    def _filtered(self, rows: list[Any], q: Query, *, time_key: str) -> list[Any]:
        """Rows (orders or fills) kept by ``order_ids``, ``product_ids`` and a time window."""
        out = list(rows)
        if order_ids := q.getall("order_ids", []):
            out = [r for r in out if r.order_id in order_ids]
        if products := [*q.getall("product_ids", []), *q.getall("product_id", [])]:
            out = [r for r in out if r.product_id in products]
        stamp = (lambda r: r.created) if time_key == "date" else (lambda r: r.time)
        if raw := q.get(f"start_{time_key}"):
            start = _ms(raw, f"start_{time_key}")
            out = [r for r in out if stamp(r) >= start]
        if raw := q.get(f"end_{time_key}"):
            end = _ms(raw, f"end_{time_key}")
            out = [r for r in out if stamp(r) <= end]
        return out

    def _order_json(self, o: CbOrder) -> dict[str, Any]:
        done = not o.is_open
        buy = o.side == "BUY"
        after_fees = o.filled_value + o.total_fees if buy else o.filled_value - o.total_fees
        completion = o.filled_size / o.base_size * 100 if o.base_size else Decimal(0)
        return {
            "order_id": o.order_id,
            "product_id": o.product_id,
            "user_id": _USER_ID,
            "order_configuration": o.request,
            "side": o.side,
            "client_order_id": o.client_order_id,
            "status": o.status,
            "time_in_force": (
                "IMMEDIATE_OR_CANCEL"
                if o.configuration == "market_market_ioc"
                else "GOOD_UNTIL_CANCELLED"
            ),
            "created_time": _iso(o.created),
            "completion_percentage": _s(completion),
            "filled_size": _s(o.filled_size),
            "average_filled_price": _s(o.average_price),
            "fee": "",
            "number_of_fills": str(o.number_of_fills),
            "filled_value": _s(o.filled_value),
            "pending_cancel": False,
            "size_in_quote": o.quote_size is not None,
            "total_fees": _s(o.total_fees),
            "size_inclusive_of_fees": o.quote_size is not None and buy,
            "total_value_after_fees": _s(after_fees),
            "trigger_status": _trigger_status(o),
            "order_type": _ORDER_TYPES[o.configuration],
            "reject_reason": "REJECT_REASON_UNSPECIFIED",
            "settled": done,
            "product_type": "SPOT",
            "reject_message": "",
            "cancel_message": "User requested cancel" if o.status == "CANCELLED" else "",
            "order_placement_source": "RETAIL_ADVANCED",
            "outstanding_hold_amount": _s(o.hold),
            "is_liquidation": False,
            "last_fill_time": None if o.last_fill_time is None else _iso(o.last_fill_time),
            "edit_history": [],
            "leverage": "",
            "margin_type": "UNKNOWN_MARGIN_TYPE",
            "retail_portfolio_id": _PORTFOLIO_ID,
            "originating_order_id": "",
            "attached_order_id": "",
        }

    def _fill_json(self, f: CbFill) -> dict[str, Any]:
        return {
            "entry_id": f.entry_id,
            "trade_id": f.trade_id,
            "order_id": f.order_id,
            "trade_time": _iso(f.time),
            "trade_type": "FILL",
            "price": _s(f.price),
            "size": _s(f.size),
            "commission": _s(f.commission),
            "product_id": f.product_id,
            "sequence_timestamp": _iso(f.time),
            "liquidity_indicator": "MAKER" if f.is_maker else "TAKER",
            "size_in_quote": False,
            "user_id": _USER_ID,
            "side": f.side,
            "retail_portfolio_id": _PORTFOLIO_ID,
        }


def _error(exc: CoinbaseApiError) -> web.Response:
    body = {"error": exc.error, "error_details": exc.message, "message": exc.message}
    return web.Response(status=exc.status, text=dumps(body), content_type="application/json")


async def start_coinbase_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    candles: Mapping[str, pd.DataFrame],
    api_key: str,
    api_secret: str,
    balances: Mapping[str, str | Decimal] | None = None,
    maker_fee_rate: str | Decimal = "0.006",
    taker_fee_rate: str | Decimal = "0.012",
    start_ms: int | None = None,
    specs: Mapping[str, ProductSpec] | None = None,
    clock: Callable[[], int] | None = None,
) -> CoinbaseSimulator:
    """Serve a simulated Coinbase Advanced Trade account on ``host:port`` (0: a free port).

    Parameters
    ----------
    candles
        Product id (``"BTC-USD"``) → candle frame (``timestamp`` = bar open in ms, ``open,
        high, low, close``, optional ``volume``) in one of Coinbase's granularities; each is
        listed as a spot product with :class:`ProductSpec` increments (BTC-USD's by default:
        size 0.00000001, price 0.01, minimum 1 quote unit) unless ``specs`` says otherwise.
    api_key, api_secret
        The CDP key name and its private key (PEM EC for ES256, or base64 Ed25519), as given
        to ccxt; :func:`new_cdp_key` makes a pair. Only the public half is used to verify.
    balances
        Starting available balances, ``{"USD": "10000"}`` by default.
    maker_fee_rate, taker_fee_rate
        Fees per fill as a fraction of its value (Advanced 1 tier: 0.6 % and 1.2 %).
    start_ms
        Initial market clock; the first bar open of any product by default.
    clock
        Server clock in ms (wall time by default) for the time endpoints and the JWT lifetime.
    """
    book = CoinbaseBook(
        candles,
        balances=balances,
        maker_fee_rate=maker_fee_rate,
        taker_fee_rate=taker_fee_rate,
        start_ms=start_ms,
        specs=specs,
    )
    sim = CoinbaseSimulator(book, api_key=api_key, api_secret=api_secret, clock=clock)
    await sim._start(host, port)
    return sim


_ORDER_TYPES = {
    "market_market_ioc": "MARKET",
    "limit_limit_gtc": "LIMIT",
    "stop_limit_stop_limit_gtc": "STOP_LIMIT",
    "trigger_bracket_gtc": "BRACKET",
}


def _trigger_status(o: CbOrder) -> str:
    if o.stop_price is None:
        return "INVALID_ORDER_TYPE"
    return "STOP_PENDING" if o.triggered_bar < 0 else "STOP_TRIGGERED"
