"""The simulator's HTTP face: Binance's spot REST API (the part ccxt's ``binance`` uses).

Public: ``GET /api/v3/ping``, ``time``, ``exchangeInfo``, ``klines``, ``depth``,
``ticker/24hr``, ``ticker/price``, ``ticker/bookTicker``. API key only
(``X-MBX-APIKEY``): ``POST|PUT|DELETE /api/v3/userDataStream`` (listenKeys). Signed (the key
plus an HMAC-SHA256 ``signature`` of the query string concatenated with the body, and a
``timestamp`` within ``recvWindow`` of the server clock): ``GET /api/v3/account``,
``POST|GET|DELETE /api/v3/order`` (MARKET, LIMIT, LIMIT_MAKER, STOP_LOSS(_LIMIT),
TAKE_PROFIT(_LIMIT); GTC/IOC/FOK: see :mod:`live.sim._spot_types`), ``POST
/api/v3/orderList/oco``, ``GET /api/v3/openOrders``, ``GET /api/v3/myTrades``, ``GET
/sapi/v1/asset/tradeFee`` (the account's fee rates).
Websockets (market streams, user-data stream, websocket API): see :mod:`live.sim._ws`.

Two clocks: the *server clock* (``clock``, wall time by default) checks request timestamps and
answers ``/api/v3/time``, because the real client signs with its own wall time; the *market
clock* (:meth:`Simulator.advance_to`, or :meth:`Simulator.run_clock` moving it with wall time)
picks the bar that prices orders, stamps fills and events, and bounds what is published.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import pandas as pd
from aiohttp import web

from live.sim._binance_auth import BinanceAuth, Endpoints, error_response
from live.sim._book import (
    ApiError,
    Book,
    Fill,
    Order,
    OrderEvent,
    cancel_client_id,
    fmt,
    kline_rows,
)
from live.sim._http import HttpPeer, Request, json_response
from live.sim._market import MarketFeed
from live.sim._spot_json import account_position, execution_report, order_json, trade_json
from live.sim._spot_types import SPOT_ORDER_TYPES
from live.sim._ticker import Tickers
from live.sim._ws import USER, WsHub

__all__ = ["FAULT_KINDS", "Request", "Simulator", "start_simulator"]

FAULT_KINDS = (
    "latency",  # seconds=, market_ms=0: delay every matching request (the market moving on)
    "timeout_after_accept",  # seconds=: book the order, answer only after `seconds`
    "error_after_accept",  # status=503: book the order, answer with that HTTP status
    "rate_limit",  # retry_after=: answer 429 + Retry-After; calls during the ban get 418
    "partial_fill",  # fraction=, expire=False: the next new order fills only that fraction
    # at first (with expire, a market order's rest expires at once instead of resting)
    "duplicate_trades",  # the next fill is listed twice by myTrades
    "ws_silent_drop",  # seconds=None, path=None: websockets stay open but send nothing
    "late_fill",  # seconds=1.0: the next fill reaches the user stream and myTrades late
    "refuse",  # code=-2010, msg=, status=400: refuse matching requests (nothing booked)
    "slippage",  # bps=: the next taker fills trade that far through the market price
)
_AFTER_ACCEPT = ("timeout_after_accept", "error_after_accept")
_TOO_MANY = "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute."
_BANNED = "Way too many requests; IP(127.0.0.1) banned until {until}. Please use the websocket."
_WS_PATHS = ("/ws", "/ws/{tail:.*}", "/stream", "/ws-api/v3")
_log = logging.getLogger(__name__)


@dataclass
class _Fault:
    kind: str
    times: int | None  # None: until cleared
    path: str | None
    method: str | None
    params: dict[str, Any]

    def applies(self, method: str, path: str) -> bool:
        return (self.path is None or self.path == path) and (
            self.method is None or self.method == method
        )


class Simulator(HttpPeer):
    """A running simulated Binance spot venue; create it with :func:`start_simulator`.

    Attributes
    ----------
    book : Book
        Orders, balances, ledger and market clock (inspect freely in tests).
    requests : list[Request]
        Every request answered, in order.
    """

    def __init__(
        self,
        book: Book,
        *,
        api_key: str,
        api_secret: str,
        clock: Callable[[], int] | None = None,
        trades: Mapping[str, pd.DataFrame] | None = None,
        market_time: bool = False,
    ) -> None:
        super().__init__(clock)
        self.book = book
        self.market_time = market_time
        self.requests: list[Request] = []
        self._auth = BinanceAuth(api_key, api_secret, self._clock)
        self.feed = MarketFeed(book, trades)
        tickers = Tickers(book, self.feed)
        self.hub = WsHub(self.feed, verify=self._verify_ws, server_time=self._clock)
        book.order_listeners.append(self._on_order)
        book.clock_listeners.append(self._on_clock)
        self._late: list[float] = []  # late_fill: delays (s) for the next fills
        self._late_handles: dict[int, asyncio.TimerHandle] = {}  # by trade id
        self._dirty_depth: set[str] = set()
        self._clock_task: asyncio.Task[None] | None = None
        self._faults: list[_Fault] = []
        self._banned_until = 0.0  # monotonic seconds
        self._closing = asyncio.Event()
        self._api = Endpoints(
            "/api/v3/",
            public={
                "ping": lambda p: {},
                "time": lambda p: {
                    "serverTime": int(self.book.now) if self.market_time else self._clock()
                },
                "exchangeInfo": self._exchange_info,
                "klines": self._klines,
                "depth": self._depth,
                "ticker/24hr": tickers.day,
                "ticker/price": tickers.price,
                "ticker/bookTicker": tickers.book_ticker,
            },
            signed={
                ("GET", "account"): self._account,
                ("POST", "order"): self._new_order,
                ("POST", "orderList/oco"): self._new_oco,
                ("GET", "order"): lambda p: order_json(self.book.find(p)),
                ("DELETE", "order"): self._cancel,
                ("GET", "openOrders"): self._open_orders,
                ("GET", "myTrades"): lambda p: [trade_json(f) for f in self.book.trades(p)],
            },
            keyed={
                ("POST", "userDataStream"): lambda p: {"listenKey": self.hub.new_listen_key()},
                ("PUT", "userDataStream"): self._keep_listen_key,
                ("DELETE", "userDataStream"): self._delete_listen_key,
            },
        )

        # The account's fee rates (ccxt's fetch_trading_fee): the book's, maker and taker alike.
        self._sapi = Endpoints(
            "/sapi/v1/", public={}, signed={("GET", "asset/tradeFee"): self._trade_fee}
        )

    # -- public surface -----------------------------------------------------------------------

    @property
    def ws_url(self) -> str:
        """Websocket base, e.g. ``ws://127.0.0.1:54321`` (``/ws``, ``/stream``, ``/ws-api/v3``)."""
        return self._url.replace("http://", "ws://", 1)

    @property
    def ledger(self) -> list[Fill]:
        """Every fill so far, oldest first (each once, whatever ``myTrades`` shows)."""
        return self.book.ledger

    @property
    def orders(self) -> list[Order]:
        """Every order booked so far, oldest first."""
        return self.book.orders

    def balance(self, asset: str) -> tuple[Decimal, Decimal]:
        """``(free, locked)`` of ``asset``."""
        return self.book.free.get(asset, Decimal(0)), self.book.locked.get(asset, Decimal(0))

    def advance_to(self, ts_ms: int) -> list[Fill]:
        """Move the market clock to ``ts_ms`` (a bar open); return the fills it caused.

        Subscribers get what the move published: closed klines (once each) and the newly
        forming one, replayed public trades, order-book updates, and user-data events of fills.
        """
        return self.book.advance_to(ts_ms)

    def run_clock(
        self, start_ms: int | None = None, speed: float = 3600.0, *, tick: float = 0.05
    ) -> asyncio.Task[None]:
        """Move the market clock at ``speed`` × wall time from ``start_ms`` (now by default).

        Every ``tick`` wall seconds the clock advances (as :meth:`advance_to` does, publishing
        as it goes); speed 3600 replays one hour a second. The task ends at the end of the data
        (the last candle's close) or on :meth:`stop_clock` / :meth:`close`; manual
        :meth:`advance_to` calls meanwhile are allowed (the clock never moves back).
        """
        if not speed > 0 or not tick > 0:
            raise ValueError("run_clock: speed and tick must be positive")
        if start_ms is not None and start_ms < self.book.now:
            raise ValueError(f"the clock only moves forward ({start_ms} < {self.book.now})")
        self.stop_clock()
        if start_ms is not None and start_ms > self.book.now:
            self.advance_to(start_ms)
        self._clock_task = asyncio.get_running_loop().create_task(
            self._run_clock(self.book.now, speed, tick), name="sim-market-clock"
        )
        return self._clock_task

    def stop_clock(self) -> None:
        """Stop the moving clock, if running."""
        if self._clock_task is not None:
            self._clock_task.cancel()
            self._clock_task = None

    @property
    def clock_running(self) -> bool:
        """Whether :meth:`run_clock` is moving the market clock."""
        return self._clock_task is not None and not self._clock_task.done()

    async def wait_subscribed(
        self, stream: str = USER, *, count: int = 1, timeout: float = 5.0
    ) -> None:
        """Wait until ``count`` websockets subscribe to ``stream`` (a stream name, or ``"user"``).

        Tests use it to place an order only once the watcher is listening.
        """
        deadline = time.monotonic() + timeout
        while self.hub.subscribers(stream) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no websocket subscribed to {stream!r} within {timeout} s")
            await asyncio.sleep(0.005)

    def set_fault(
        self,
        kind: str,
        *,
        times: int | None = 1,
        path: str | None = None,
        method: str | None = None,
        **params: Any,
    ) -> None:
        """Inject a fault of ``kind`` (see ``FAULT_KINDS``) for the next ``times`` uses.

        ``path``/``method`` restrict it to some requests; the ``*_after_accept`` kinds default
        to ``POST /api/v3/order``. ``times=None`` keeps it until :meth:`clear_faults`.
        ``partial_fill``, ``duplicate_trades``, ``late_fill`` and ``slippage`` act on the next
        ``times`` orders / fills. ``ws_silent_drop`` ignores ``times``: it lasts ``seconds`` (until
        cleared by default) on the websockets whose path is ``path`` or below it (all if
        ``None``; e.g. ``"/ws-api"`` for the user-data stream only, ``"/ws"`` for market streams).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if kind == "ws_silent_drop":
            seconds = params.get("seconds")
            self.hub.silence(path, None if seconds is None else float(seconds))
            return
        if kind == "late_fill":
            delay = float(params.get("seconds", 1.0))
            if delay <= 0:
                raise ValueError("late_fill: seconds must be positive")
            self._late.extend([delay] * (times or 1_000_000))
            return
        if kind == "partial_fill":
            fraction = float(params.get("fraction", 0.5))
            if not 0 < fraction < 1:
                raise ValueError("partial_fill: fraction must be in (0, 1)")
            self.book.partial_fractions.extend([fraction] * (times or 1))
            self.book.partial_expires.extend([bool(params.get("expire"))] * (times or 1))
            return
        if kind == "slippage":
            bps = Decimal(str(params.get("bps", 10)))
            if not 0 <= bps < 10_000:
                raise ValueError("slippage: bps must be in [0, 10000)")
            self.book.slippage_bps.extend([bps] * (times or 1_000_000))
            return
        if kind == "duplicate_trades":
            self.book.duplicate_next_fills += times or 1
            return
        if kind in _AFTER_ACCEPT:
            path, method = path or "/api/v3/order", method or "POST"
        self._faults.append(_Fault(kind, times, path, method, params))

    def clear_faults(self) -> None:
        """Remove every pending fault and lift any ban."""
        self._faults.clear()
        self.book.partial_fractions.clear()
        self.book.partial_expires.clear()
        self.book.slippage_bps.clear()
        self.book.duplicate_next_fills = 0
        self._banned_until = 0.0
        self._late.clear()
        self.hub.clear_silences()

    async def close(self) -> None:
        """Stop serving; delayed answers and late fills are abandoned, websockets closed."""
        self._closing.set()
        self.stop_clock()
        for handle in self._late_handles.values():
            handle.cancel()
        self._late_handles.clear()
        await self.hub.close()
        await super().close()

    async def wait_closed(self) -> None:
        """Wait until :meth:`close` is called."""
        await self._closing.wait()

    # -- plumbing ------------------------------------------------------------------------------

    async def _start(self, host: str, port: int) -> None:
        app = web.Application()
        for ws_path in _WS_PATHS:  # before the catch-all: the first matching route wins
            app.router.add_get(ws_path, self._websocket)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        await self._serve(app, host, port)

    def _take(self, kind: str, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.kind == kind and fault.applies(method, path):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None

    async def _sleep(self, seconds: float) -> bool:
        """Sleep; return ``True`` if the simulator is closing meanwhile."""
        try:
            await asyncio.wait_for(self._closing.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(Request("WS", request.path, 101))
        return await self.hub.handle(request)

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        response = await self._answer(request, method, path)
        self.requests.append(Request(method, path, response.status))
        return response

    async def _answer(self, request: web.Request, method: str, path: str) -> web.Response:
        latency = self._take("latency", method, path)
        if latency and await self._sleep(float(latency.params.get("seconds", 0.1))):
            return web.Response(status=503, text="closing")
        if latency and int(latency.params.get("market_ms", 0)) > 0:
            # A replayed market moves only when told: the request took that long in its time.
            self.advance_to(self.book.now + int(latency.params["market_ms"]))
        if (banned := self._ban_answer()) is not None:
            return banned
        if limit := self._take("rate_limit", method, path):
            retry = int(limit.params.get("retry_after", 1))
            self._banned_until = time.monotonic() + retry
            return error_response(429, -1003, _TOO_MANY, {"Retry-After": str(retry)})
        if refuse := self._take("refuse", method, path):
            p = refuse.params
            msg = str(p.get("msg", "Stop price would trigger immediately."))
            return error_response(int(p.get("status", 400)), int(p.get("code", -2010)), msg)
        body = await request.text()
        try:
            api = self._sapi if path.startswith("/sapi/") else self._api
            result = api.call(self._auth, request, body)
        except ApiError as exc:
            return error_response(exc.status, exc.code, exc.msg)
        if path == "/api/v3/order" and method == "POST":  # booked: now the after-accept faults
            if fault := self._take("error_after_accept", method, path):
                status = int(fault.params.get("status", 503))
                return web.Response(status=status, text=f"{status} Service Unavailable")
            if fault := self._take("timeout_after_accept", method, path):
                await self._sleep(float(fault.params.get("seconds", 5.0)))
        return json_response(result)

    def _ban_answer(self) -> web.Response | None:
        left = self._banned_until - time.monotonic()
        if left <= 0:
            return None
        until = self._clock() + int(left * 1000)
        retry = {"Retry-After": str(int(left) + 1)}
        return error_response(418, -1003, _BANNED.format(until=until), retry)

    def _verify_ws(self, params: Mapping[str, Any]) -> None:
        """Check a websocket-API signed request: ``apiKey``, ``timestamp``, ``signature``.

        The signed payload is the other params sorted by name, ``name=value`` joined by ``&``.
        """
        self._auth.check_key(str(params.get("apiKey", "")))
        payload = "&".join(
            f"{k}={_ws_value(v)}" for k, v in sorted(params.items()) if k != "signature"
        )
        self._auth.check_signature(payload, str(params.get("signature", "")))
        self._auth.check_timestamp({k: _ws_value(v) for k, v in params.items()})

    # -- streams -------------------------------------------------------------------------------

    def _on_order(self, event: OrderEvent) -> None:
        """Book hook: push the user-data events of an order change (a late fill later)."""
        order, fill = event.order, event.fill
        sym = self.book.symbols[order.symbol]
        now = self.book.now
        events = [
            execution_report(event, now),
            account_position(self.book, [sym.base, sym.quote], now),
        ]
        if fill is not None:
            for topic, payload in self.feed.own_trade(fill):
                self.hub.publish(topic, payload)
        loop = _running_loop()
        if fill is not None and self._late and loop is not None:
            self.book.withheld.add(fill.trade_id)
            self._late_handles[fill.trade_id] = loop.call_later(
                self._late.pop(0), self._release, fill.trade_id, events
            )
        else:
            self.hub.publish_user(events)
        if order.type == "LIMIT":  # resting limits are in the book: refresh it once settled
            self._dirty_depth.add(order.symbol)
            if loop is None:
                self._flush_depth()
            else:
                loop.call_soon(self._flush_depth)

    def _release(self, trade_id: int, events: list[dict[str, Any]]) -> None:
        self._late_handles.pop(trade_id, None)
        self.book.withheld.discard(trade_id)
        self.hub.publish_user(events)

    def _flush_depth(self) -> None:
        while self._dirty_depth:
            symbol_id = self._dirty_depth.pop()
            if (update := self.feed.refresh_depth(symbol_id)) is not None:
                self.hub.publish(f"{symbol_id.lower()}@depth", update)

    def _on_clock(self, before: int, now: int) -> None:
        """Book hook: publish the market data the clock move reached."""
        for topic, payload in self.feed.on_clock(before, now, self.hub.topics()):
            self.hub.publish(topic, payload)

    async def _run_clock(self, origin: int, speed: float, tick: float) -> None:
        started, end = time.monotonic(), self.book.end_ms
        while self.book.now < end:
            target = min(end, origin + int((time.monotonic() - started) * speed * 1000))
            if target > self.book.now:
                try:
                    self.advance_to(target)
                except Exception:  # a broken replay must not die silently in a task
                    _log.exception("market clock stopped at %s", self.book.now)
                    return
            if self.book.now >= end or await self._sleep(tick):
                return

    # -- endpoints -----------------------------------------------------------------------------

    def _depth(self, p: Mapping[str, str]) -> dict[str, Any]:
        raw = p.get("limit") or "100"
        if not raw.isdigit() or not 1 <= int(raw) <= 5000:
            raise ApiError(-1100, "Illegal characters found in parameter 'limit'.")
        return self.feed.depth_snapshot(self.book.symbol(p.get("symbol")).id, int(raw))

    def _keep_listen_key(self, p: Mapping[str, str]) -> dict[str, Any]:
        if p.get("listenKey") not in self.hub.listen_keys:
            raise ApiError(-1125, "This listenKey does not exist.")
        return {}

    def _delete_listen_key(self, p: Mapping[str, str]) -> dict[str, Any]:
        self._keep_listen_key(p)
        self.hub.listen_keys.discard(p["listenKey"])
        return {}

    def _exchange_info(self, p: Mapping[str, str]) -> dict[str, Any]:
        symbols = [
            {
                "symbol": s.id,
                "status": "TRADING",
                "baseAsset": s.base,
                "baseAssetPrecision": 8,
                "quoteAsset": s.quote,
                "quotePrecision": 8,
                "quoteAssetPrecision": 8,
                "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": list(SPOT_ORDER_TYPES),
                "icebergAllowed": False,
                "ocoAllowed": True,
                "quoteOrderQtyMarketAllowed": False,
                "allowTrailingStop": False,
                "cancelReplaceAllowed": False,
                "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": fmt(s.tick),
                        "maxPrice": "1000000.00000000",
                        "tickSize": fmt(s.tick),
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": "0.00001000",
                        "maxQty": "9000.00000000",
                        "stepSize": "0.00001000",
                    },
                    {
                        "filterType": "NOTIONAL",
                        "minNotional": "5.00000000",
                        "applyMinToMarket": True,
                        "maxNotional": "9000000.00000000",
                        "applyMaxToMarket": False,
                        "avgPriceMins": 5,
                    },
                ],
                "permissions": [],
                "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["EXPIRE_MAKER"],
            }
            for s in self.book.symbols.values()
        ]
        limits = [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        ]
        return {
            "timezone": "UTC",
            "serverTime": self._clock(),
            "rateLimits": limits,
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def _klines(self, p: Mapping[str, str]) -> list[list[Any]]:
        """Candles that have *closed* by the market clock (no peeking at the current bar)."""
        sym = self.book.symbol(p.get("symbol"))
        return kline_rows(sym.opens, sym.ohlcv, sym.interval_ms, self.book.now, p, max_limit=1000)

    def _trade_fee(self, p: Mapping[str, str]) -> list[dict[str, str]]:
        """``GET /sapi/v1/asset/tradeFee``: each symbol's (or ``symbol``'s) fee rates."""
        ids = [p["symbol"]] if p.get("symbol") else list(self.book.symbols)
        if any(i not in self.book.symbols for i in ids):
            raise ApiError(-1121, "Invalid symbol.")
        rate = fmt(self.book.fee_rate)
        return [{"symbol": i, "makerCommission": rate, "takerCommission": rate} for i in ids]

    def _account(self, p: Mapping[str, str]) -> dict[str, Any]:
        rate = fmt(self.book.fee_rate)
        bps = int(self.book.fee_rate * 10_000)
        balances = [
            {"asset": a, "free": fmt(self.book.free[a]), "locked": fmt(self.book.locked[a])}
            for a in sorted(self.book.free)
        ]
        if p.get("omitZeroBalances") == "true":
            balances = [b for b in balances if Decimal(b["free"]) or Decimal(b["locked"])]
        return {
            "makerCommission": bps,
            "takerCommission": bps,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {
                "maker": rate,
                "taker": rate,
                "buyer": fmt(Decimal(0)),
                "seller": fmt(Decimal(0)),
            },
            "canTrade": True,
            "canWithdraw": False,
            "canDeposit": False,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.book.now,
            "accountType": "SPOT",
            "balances": balances,
            "permissions": ["SPOT"],
            "uid": 1,
        }

    def _new_order(self, p: Mapping[str, str]) -> dict[str, Any]:
        before = len(self.book.ledger)
        order = self.book.new_order(p)
        kind = p.get("newOrderRespType") or "FULL"
        if kind == "ACK":
            return {
                "symbol": order.symbol,
                "orderId": order.order_id,
                "orderListId": -1,
                "clientOrderId": order.client_order_id,
                "transactTime": order.time,
            }
        fills = [f for f in self.book.ledger[before:] if f.trade_id not in self.book.withheld]
        return order_json(order, full=True, fills=fills if kind == "FULL" else [])

    def _new_oco(self, p: Mapping[str, str]) -> dict[str, Any]:
        """``POST /api/v3/orderList/oco``: the list, its legs and their reports (FULL)."""
        before = len(self.book.ledger)
        list_id, orders = self.book.new_oco(p)
        fills = [f for f in self.book.ledger[before:] if f.trade_id not in self.book.withheld]
        done = any(not o.is_open for o in orders)
        return {
            "orderListId": list_id,
            "contingencyType": "OCO",
            "listStatusType": "ALL_DONE" if done else "EXEC_STARTED",
            "listOrderStatus": "ALL_DONE" if done else "EXECUTING",
            "listClientOrderId": p.get("listClientOrderId") or f"list{list_id}",
            "transactionTime": self.book.now,
            "symbol": orders[0].symbol,
            "orders": [
                {"symbol": o.symbol, "orderId": o.order_id, "clientOrderId": o.client_order_id}
                for o in orders
            ],
            "orderReports": [
                order_json(o, full=True, fills=[f for f in fills if f.order_id == o.order_id])
                for o in orders
            ],
        }

    def _cancel(self, p: Mapping[str, str]) -> dict[str, Any]:
        order = self.book.cancel(p)
        body = order_json(order)
        body = {
            k: body[k]
            for k in ("symbol", "orderId", "orderListId", "price", "origQty", "executedQty")
        } | {
            "origClientOrderId": order.client_order_id,
            "clientOrderId": cancel_client_id(order, p),
            "transactTime": order.update_time,
            "cummulativeQuoteQty": body["cummulativeQuoteQty"],
            "status": order.status,
            "timeInForce": order.time_in_force,
            "type": order.type,
            "side": order.side,
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }
        return body

    def _open_orders(self, p: Mapping[str, str]) -> list[dict[str, Any]]:
        wanted = self.book.symbol(p["symbol"]).id if p.get("symbol") else None
        return [
            order_json(o)
            for o in self.book.orders
            if o.is_open and (wanted is None or o.symbol == wanted)
        ]


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:  # the book driven from synchronous code: publish at once
        return None


def _ws_value(value: Any) -> str:
    """A websocket-API param as it appears in the signed payload."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    candles: Mapping[str, pd.DataFrame],
    api_key: str,
    api_secret: str,
    faults: Mapping[str, Mapping[str, Any]] | None = None,
    balances: Mapping[str, str | Decimal] | None = None,
    fee_rate: str | Decimal = "0.001",
    start_ms: int | None = None,
    clock: Callable[[], int] | None = None,
    duplicate_scope: Literal["all", "open"] = "all",
    trades: Mapping[str, pd.DataFrame] | None = None,
    market_time: bool = False,
) -> Simulator:
    """Serve a simulated Binance spot account on ``host:port`` (0: a free port) in this loop.

    Parameters
    ----------
    candles
        Binance symbol id (``"BTCUSDT"``) → candle frame (``timestamp`` = bar open in ms,
        ``open, high, low, close``); each symbol is listed with LOT_SIZE step 0.00001,
        PRICE_FILTER tick 0.01 (0.000001 for BTC/ETH quotes) and a 5-unit NOTIONAL minimum.
    api_key, api_secret
        The only key accepted and the HMAC secret signatures must use.
    faults
        Faults active from the start, ``{kind: {param: value}}`` (see :meth:`Simulator.set_fault`).
    balances, fee_rate, start_ms, duplicate_scope
        See :class:`live.sim._book.Book`.
    clock
        Server clock in ms (wall time by default) used for ``/api/v3/time`` and timestamps.
    market_time
        Answer ``/api/v3/time`` with the market clock, so that a client syncing its clock with
        the venue (as the Grekko adapters do) sees the replayed time as "now" — what an offline
        rehearsal needs. Request timestamps are still checked against the server clock, which
        is what clients sign with.
    trades
        Binance symbol id → public trades (``timestamp`` ms, ``trade_id``, ``price``, ``qty``,
        ``is_buyer_maker``) replayed on the trade streams as the market clock passes them.
    """
    book = Book(
        candles,
        balances=balances,
        fee_rate=fee_rate,
        start_ms=start_ms,
        duplicate_scope=duplicate_scope,
    )
    sim = Simulator(
        book,
        api_key=api_key,
        api_secret=api_secret,
        clock=clock,
        trades=trades,
        market_time=market_time,
    )
    for kind, params in (faults or {}).items():
        sim.set_fault(kind, **dict(params))
    await sim._start(host, port)
    return sim


def serve_forever(
    host: str,
    port: int,
    *,
    candles: Mapping[str, pd.DataFrame],
    api_key: str,
    api_secret: str,
    bar_seconds: float = 0.0,
    on_ready: Callable[[Simulator], Awaitable[None] | None] | None = None,
) -> None:
    """Run a simulator until interrupted; with ``bar_seconds`` > 0, replay one bar per period."""

    async def main() -> None:
        sim = await start_simulator(
            host, port, candles=candles, api_key=api_key, api_secret=api_secret
        )
        try:
            if on_ready is not None and (waiting := on_ready(sim)) is not None:
                await waiting
            while True:
                await asyncio.sleep(bar_seconds or 3600)
                if bar_seconds:
                    sym = next(iter(sim.book.symbols.values()))
                    sim.advance_to(sim.book.now + sym.interval_ms)
        finally:
            await sim.close()

    asyncio.run(main())
