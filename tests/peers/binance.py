"""A local HTTP peer that speaks Binance's public market-data REST API.

The unmodified ccxt clients (``ccxt.binance`` for spot, ``ccxt.binanceusdm`` for
USD-M perpetuals) run against it once their base URLs point here, see
``grekko_research.data.exchanges.make_exchange(..., rest_url=peer.url)``. It
serves ``ping``, ``time``, ``exchangeInfo`` and ``klines`` under ``/api/v3``
(spot) and ``/fapi/v1`` (USD-M), plus USD-M ``markPriceKlines`` and
``fundingRate``, with Binance's paging rules, limits, error bodies and weight
headers. Faults (HTTP errors, slow answers) are injected per request path, and
every request is recorded.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pandas as pd

__all__ = ["BinancePeer", "Request", "load_shared_funding", "load_shared_ohlcv", "split_symbol"]

OHLCV_COLUMNS = ["timestamp", "open", "high", "low", "close", "volume"]
QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "BTC", "ETH", "USD")  # FDUSD before its suffix USD
MARKETS = ("spot", "usdm")
INTERVALS_MS = {
    "1s": 1_000,
    **{f"{n}m": n * 60_000 for n in (1, 3, 5, 15, 30)},
    **{f"{n}h": n * 3_600_000 for n in (1, 2, 4, 6, 8, 12)},
    **{f"{n}d": n * 86_400_000 for n in (1, 3)},
    "1w": 7 * 86_400_000,
    "1M": 0,  # a calendar month, see _close_times
}
_SPOT, _USDM = "/api/v3/", "/fapi/v1/"
ROUTES = {  # path -> (market, endpoint)
    **{_SPOT + name: ("spot", name) for name in ("ping", "time", "exchangeInfo", "klines")},
    **{
        _USDM + name: ("usdm", name)
        for name in ("ping", "time", "exchangeInfo", "klines", "markPriceKlines", "fundingRate")
    },
}
DATA_ENDPOINTS = {"klines", "markPriceKlines", "fundingRate"}
KLINE_LIMITS = {"spot": (500, 1000), "usdm": (500, 1500)}  # (default, max)
FUNDING_LIMITS = (100, 1000)
TOO_MANY = "Too many requests; current limit of IP(127.0.0.1) is 6000 requests per minute."
# One listed symbol as exchangeInfo describes it (fields ccxt's parse_market reads, and more).
_SPOT_SYMBOL = Template("""{"symbol": "$symbol", "status": "TRADING", "baseAsset": "$base",
 "baseAssetPrecision": 8, "quoteAsset": "$quote", "quotePrecision": 8, "quoteAssetPrecision": 8,
 "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
 "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
 "icebergAllowed": true, "ocoAllowed": true, "otoAllowed": true, "quoteOrderQtyMarketAllowed": true,
 "allowTrailingStop": true, "cancelReplaceAllowed": true, "isSpotTradingAllowed": true,
 "isMarginTradingAllowed": true, "filters": [
  {"filterType": "PRICE_FILTER", "minPrice": "$tick", "maxPrice": "1000000.00000000", "tickSize": "$tick"},
  {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
  {"filterType": "ICEBERG_PARTS", "limit": 10},
  {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000", "stepSize": "0.00000000"},
  {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": true,
   "maxNotional": "9000000.00000000", "applyMaxToMarket": false, "avgPriceMins": 5},
  {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200}],
 "permissions": [], "permissionSets": [["SPOT", "MARGIN"]],
 "defaultSelfTradePreventionMode": "EXPIRE_MAKER"}""")
_USDM_SYMBOL = Template("""{"symbol": "$symbol", "pair": "$symbol", "contractType": "PERPETUAL",
 "deliveryDate": 4133404800000, "onboardDate": $onboard, "status": "TRADING",
 "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000", "baseAsset": "$base",
 "quoteAsset": "$quote", "marginAsset": "$quote", "pricePrecision": 2, "quantityPrecision": 3,
 "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
 "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05", "filters": [
  {"filterType": "PRICE_FILTER", "minPrice": "0.10", "maxPrice": "4529764", "tickSize": "0.10"},
  {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000", "stepSize": "0.001"},
  {"filterType": "MARKET_LOT_SIZE", "minQty": "0.001", "maxQty": "120", "stepSize": "0.001"},
  {"filterType": "MAX_NUM_ORDERS", "limit": 200}, {"filterType": "MIN_NOTIONAL", "notional": "100"},
  {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500"}],
 "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
 "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"]}""")
_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
]


@dataclass(frozen=True)
class Request:
    """One request the peer received.

    ``t`` is ``time.monotonic()`` at arrival; ``status`` is 0 while the answer
    is pending (e.g. in a delay), and stays 0 if the peer stopped first.
    """

    t: float
    method: str
    path: str
    params: dict[str, str]
    status: int


@dataclass
class _Fault:
    """An injected failure (``status``) or delay (``seconds``) for the next ``times`` requests."""

    times: int
    status: int = 0
    seconds: float = 0.0
    headers: dict[str, str] | None = None
    body: dict | None = None


@dataclass(frozen=True)
class _Series:
    """Strictly increasing int64 ms ``times`` and one row of float ``values`` per time."""

    times: np.ndarray
    values: np.ndarray


class _ApiError(Exception):
    """A request Binance rejects with HTTP 400 and ``{"code": ..., "msg": ...}``."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code, self.msg = code, msg


def load_shared_ohlcv(path: str | Path) -> pd.DataFrame:
    """Read a shared ``*.csv.gz`` candle file: int64 ``timestamp``, float OHLCV columns."""
    dtypes = dict.fromkeys(OHLCV_COLUMNS, np.float64) | {"timestamp": np.int64}
    return pd.read_csv(path, usecols=OHLCV_COLUMNS, dtype=dtypes)[OHLCV_COLUMNS]


def load_shared_funding(path: str | Path) -> pd.DataFrame:
    """Read a shared funding file: int64 ``timestamp``, float ``funding_rate``."""
    dtypes = {"timestamp": np.int64, "funding_rate": np.float64}
    return pd.read_csv(path, usecols=list(dtypes), dtype=dtypes)[list(dtypes)]


def split_symbol(symbol_id: str) -> tuple[str, str]:
    """Split a Binance id such as ``BTCUSDT`` into ``("BTC", "USDT")`` by its quote suffix."""
    for quote in QUOTES:
        if symbol_id.endswith(quote) and len(symbol_id) > len(quote):
            return symbol_id[: -len(quote)], quote
    raise ValueError(f"cannot split {symbol_id!r}: no known quote among {', '.join(QUOTES)}")


def _make_series(timestamps: Any, columns: list[np.ndarray]) -> _Series:
    times = np.asarray(timestamps, dtype=np.int64)
    order = np.argsort(times, kind="stable")
    if np.any(np.diff(times[order]) <= 0):
        raise ValueError("timestamps must be unique")
    return _Series(times[order], np.column_stack(columns).astype(np.float64)[order])


def _kline_series(frame: pd.DataFrame) -> _Series:
    """OHLCV plus estimates of what Grekko does not store: quote volume, trades, taker buys."""
    o, h, low, c, vol = (frame[k].to_numpy(np.float64) for k in OHLCV_COLUMNS[1:])
    quote_vol = vol * (h + low + c) / 3
    taker = [vol / 2, quote_vol / 2]
    return _make_series(frame["timestamp"], [o, h, low, c, vol, quote_vol, 0 * vol, *taker])


def _window(times: np.ndarray, start: int | None, end: int | None, limit: int) -> slice:
    """Rows with time in [start, end]: the first ``limit`` of them, or the last if no start."""
    lo = 0 if start is None else int(np.searchsorted(times, start, "left"))
    hi = len(times) if end is None else int(np.searchsorted(times, end, "right"))
    lo, hi = (max(lo, hi - limit), hi) if start is None else (lo, min(hi, lo + limit))
    return slice(lo, max(lo, hi))


def _close_times(opens: np.ndarray, interval: str) -> np.ndarray:
    """Each bar's close time: the next bar's open minus one millisecond."""
    if interval == "1M":
        months = opens.astype("datetime64[ms]").astype("datetime64[M]") + 1
        return months.astype("datetime64[ms]").astype(np.int64) - 1
    return opens + INTERVALS_MS[interval] - 1


def _fmt(x: float, pad: bool) -> str:
    """Binance's decimal string (spot pads to 8 places); it always parses back to ``x``."""
    if pad and float(text := f"{x:.8f}") == x:
        return text
    return np.format_float_positional(x, unique=True, trim="-")


def _int_param(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name) or None
    if raw is not None and not (raw.isdigit() and len(raw) <= 20):
        msg = f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
        raise _ApiError(-1100, msg)
    return None if raw is None else int(raw)


def _limit(params: dict[str, str], default: int, maximum: int) -> int:
    value = _int_param(params, "limit")
    return default if value is None else max(1, min(value, maximum))


def _required(params: dict[str, str], name: str) -> str:
    if not (value := params.get(name)):
        msg = f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        raise _ApiError(-1102, msg)
    return value


def _weight(market: str, endpoint: str, params: dict[str, str]) -> int:
    """Request weight as Binance documents it (USD-M klines weigh by ``limit``)."""
    if market == "usdm" and endpoint in ("klines", "markPriceKlines"):
        n = int(limit) if (limit := params.get("limit", "500")).isdigit() else 500
        return 1 if n < 100 else 2 if n < 500 else 5 if n <= 1000 else 10
    return {"exchangeInfo": 20 if market == "spot" else 1, "klines": 2}.get(endpoint, 1)


def _kline_row(t: int, close_t: int, v: list[float], pad: bool) -> list[Any]:
    """Binance's 12-field kline row, prices and volumes as strings."""
    o, h, low, c, vol, quote_vol, taker_base, taker_quote = (
        _fmt(v[i], pad) for i in (0, 1, 2, 3, 4, 5, 7, 8)
    )
    return [t, o, h, low, c, vol, close_t, quote_vol, int(v[6]), taker_base, taker_quote, "0"]


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, peer: BinancePeer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.peer = peer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hung up (e.g. on their timeout) before the answer was written."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like Binance
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.peer._track(self.connection, add=True)

    def finish(self) -> None:
        with suppress(OSError):
            super().finish()
        self.server.peer._track(self.connection, add=False)

    def do_GET(self) -> None:
        self.server.peer._serve(self)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet; ``BinancePeer.requests`` records every request."""


class BinancePeer:
    """Binance's public spot and USD-M market-data REST API, served on ``127.0.0.1``.

    Load series with the ``add_*`` methods (before or while running), point ccxt
    at ``url``, inject faults with ``fail_next``/``delay_next`` and inspect
    ``requests``. As a context manager it starts and stops itself. Each request
    uses up one pending delay and one pending failure of its path, so a delay and
    a failure queued together make one slow failure.

    Attributes
    ----------
    latency : float
        Seconds added to every data request (klines, markPriceKlines, fundingRate).
    requests : list[Request]
        Every request received, in arrival order.
    """

    def __init__(self) -> None:
        self.latency = 0.0
        self.requests: list[Request] = []
        self._symbols: dict[str, dict[str, tuple[str, str]]] = {m: {} for m in MARKETS}
        self._klines: dict[tuple[str, str, str], _Series] = {}  # (spot|usdm|mark, id, interval)
        self._funding: dict[str, _Series] = {}
        self._faults: dict[str, dict[str, list[_Fault]]] = {"fail": {}, "delay": {}}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._minute, self._used = 0, 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def add_symbol(self, market: str, symbol_id: str, base: str, quote: str) -> None:
        """List ``symbol_id`` (e.g. ``BTCUSDT``) on ``market`` (``spot`` or ``usdm``), no data."""
        if market not in MARKETS:
            raise ValueError(f"unknown market {market!r}; expected one of {MARKETS}")
        self._symbols[market][symbol_id] = (base, quote)

    def add_klines(self, market: str, symbol_id: str, interval: str, frame: pd.DataFrame) -> None:
        """Serve ``frame`` (``timestamp`` = bar open in ms, OHLCV floats) as ``market`` klines."""
        self._add(market, symbol_id, interval, frame)

    def add_mark_klines(self, symbol_id: str, interval: str, frame: pd.DataFrame) -> None:
        """Serve ``frame`` as USD-M mark-price klines (volume fields are zero, as on Binance)."""
        self._add("mark", symbol_id, interval, frame[OHLCV_COLUMNS[:5]].assign(volume=0.0))

    def add_funding(self, symbol_id: str, frame: pd.DataFrame) -> None:
        """Serve ``frame`` (``timestamp``, ``funding_rate``) as USD-M funding history."""
        self._list("usdm", symbol_id)
        rates = frame["funding_rate"].to_numpy(np.float64)
        self._funding[symbol_id] = _make_series(frame["timestamp"], [rates])

    def _add(self, kind: str, symbol_id: str, interval: str, frame: pd.DataFrame) -> None:
        if interval not in INTERVALS_MS:
            raise ValueError(f"unknown interval {interval!r}")
        self._list("usdm" if kind == "mark" else kind, symbol_id)
        self._klines[(kind, symbol_id, interval)] = _kline_series(frame)

    def _list(self, market: str, symbol_id: str) -> None:
        if symbol_id not in self._symbols.get(market, {}):
            self.add_symbol(market, symbol_id, *split_symbol(symbol_id))

    @property
    def url(self) -> str:
        """Base URL while running, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("BinancePeer is not running; call start()")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> BinancePeer:
        """Listen on a free port and serve from a daemon thread; return ``self``."""
        if self._server is not None:
            raise RuntimeError("BinancePeer already started")
        self._stopping.clear()
        self._server = server = _Server(self)
        kwargs = {"poll_interval": 0.05}
        self._thread = threading.Thread(target=server.serve_forever, kwargs=kwargs, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving at once: delayed answers are abandoned and connections closed."""
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> BinancePeer:
        return self if self._server is not None else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def fail_next(
        self,
        path: str,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: dict | None = None,
    ) -> None:
        """Answer the next ``times`` requests to ``path`` with HTTP ``status``.

        Parameters
        ----------
        path
            Request path, e.g. ``/api/v3/klines``.
        status, headers
            Status and extra response headers (e.g. ``{"Retry-After": "1"}``).
        body
            JSON body; by default Binance's ``{"code": -1003, ...}`` for 418/429
            and a plain-text error page otherwise.
        """
        with self._lock:
            self._faults["fail"].setdefault(path, []).append(
                _Fault(times, status, 0, headers, body)
            )

    def delay_next(self, path: str, seconds: float, *, times: int = 1) -> None:
        """Sleep ``seconds`` before answering the next ``times`` requests to ``path``."""
        with self._lock:
            self._faults["delay"].setdefault(path, []).append(_Fault(times, seconds=seconds))

    def count(self, path: str) -> int:
        """Number of requests received so far for ``path``."""
        with self._lock:
            return sum(r.path == path for r in self.requests)

    def _take(self, kind: str, path: str) -> _Fault | None:
        """Consume one use of the oldest pending fault of ``kind`` for ``path`` (lock held)."""
        if not (queue := self._faults[kind].get(path)):
            return None
        queue[0].times -= 1
        return queue.pop(0) if queue[0].times <= 0 else queue[0]

    def _serve(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        path, params = split.path, dict(parse_qsl(split.query, keep_blank_values=True))
        request = Request(time.monotonic(), handler.command, path, params, 0)
        with self._lock:
            self.requests.append(request)
            delay, fail = self._take("delay", path), self._take("fail", path)
        route = ROUTES.get(path)
        wait = delay.seconds if delay else 0.0
        wait += self.latency if route and route[1] in DATA_ENDPOINTS else 0.0
        if wait > 0 and self._stopping.wait(wait):
            handler.close_connection = True  # stopping: hang up without answering
            return
        headers = self._weigh(route, params)
        if fail is not None:
            status, payload = fail.status, fail.body
            headers.update(fail.headers or {})
            if payload is None and status in (418, 429):
                payload = {"code": -1003, "msg": TOO_MANY}
        elif route is None:
            status, payload = 404, None
        else:
            try:
                status, payload = 200, self._answer(*route, params)
            except _ApiError as exc:
                status, payload = 400, {"code": exc.code, "msg": exc.msg}
        if payload is None:
            reason = handler.responses.get(status, ("Error",))[0]
            headers["Content-Type"], body = "text/plain", f"{status} {reason}"
        else:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload, separators=(",", ":"))
        with self._lock:  # before sending, so a client that got the answer sees its status
            for i in range(len(self.requests) - 1, -1, -1):
                if self.requests[i] is request:
                    self.requests[i] = replace(request, status=status)
                    break
        self._send(handler, status, body.encode(), headers)

    @staticmethod
    def _send(handler: _Handler, status: int, body: bytes, headers: dict[str, str]) -> None:
        try:
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:  # the client gave up (timeout) or the peer is stopping
            handler.close_connection = True

    def _weigh(self, route: tuple[str, str] | None, params: dict[str, str]) -> dict[str, str]:
        """Add this request's weight to the current minute's; return Binance's weight headers."""
        market, endpoint = route or ("spot", "")
        minute = int(time.time() // 60)
        with self._lock:
            if minute != self._minute:
                self._minute, self._used = minute, 0
            self._used += _weight(market, endpoint, params)
            used = str(self._used)
        if market == "spot":
            return {"x-mbx-used-weight": used, "x-mbx-used-weight-1m": used}
        return {"X-MBX-USED-WEIGHT-1M": used}

    def _answer(self, market: str, endpoint: str, params: dict[str, str]) -> Any:
        """The JSON payload of a routed request; raises ``_ApiError`` as Binance would."""
        if endpoint == "ping":
            return {}
        if endpoint == "time":
            return {"serverTime": int(time.time() * 1000)}
        if endpoint == "exchangeInfo":
            return self._info(market)
        symbol = _required(params, "symbol")
        if symbol not in self._symbols[market]:
            raise _ApiError(-1121, "Invalid symbol.")
        start, end = _int_param(params, "startTime"), _int_param(params, "endTime")
        if endpoint == "fundingRate":
            if (series := self._funding.get(symbol)) is None:
                return []
            window = _window(series.times, start, end, _limit(params, *FUNDING_LIMITS))
            times = series.times[window]
            rates, marks = series.values[window, 0].tolist(), self._marks(symbol, times)
            rows = zip(times.tolist(), rates, marks, strict=True)
            return [
                {"symbol": symbol, "fundingTime": t, "fundingRate": _fmt(r, True), "markPrice": m}
                for t, r, m in rows
            ]
        interval = _required(params, "interval")
        if interval not in INTERVALS_MS or (market == "usdm" and interval == "1s"):
            raise _ApiError(-1120, "Invalid interval.")
        kind = "mark" if endpoint == "markPriceKlines" else market
        if (series := self._klines.get((kind, symbol, interval))) is None:
            return []
        window = _window(series.times, start, end, _limit(params, *KLINE_LIMITS[market]))
        opens, values = series.times[window], series.values[window].tolist()
        closes = _close_times(opens, interval).tolist()
        return [
            _kline_row(t, ct, v, market == "spot")
            for t, ct, v in zip(opens.tolist(), closes, values, strict=True)
        ]

    def _marks(self, symbol: str, times: np.ndarray) -> list[str]:
        """Mark price at each funding time (the open of a mark kline starting then), else ``""``."""
        marks = [""] * len(times)
        for (kind, sid, _), series in list(self._klines.items()):
            if kind == "mark" and sid == symbol and len(series.times):
                idx = np.searchsorted(series.times, times).clip(max=len(series.times) - 1)
                for i in np.flatnonzero(series.times[idx] == times):
                    marks[i] = marks[i] or _fmt(float(series.values[idx[i], 0]), True)
        return marks

    def _info(self, market: str) -> dict[str, Any]:
        """``exchangeInfo``: every listed symbol."""
        listed = dict(self._symbols[market])
        now = int(time.time() * 1000)
        info: dict[str, Any] = {"timezone": "UTC", "serverTime": now, "rateLimits": _RATE_LIMITS}
        info["exchangeFilters"] = []
        if market == "spot":
            ticks = {"BTC": "0.00000100", "ETH": "0.00000100"}
            symbols = [
                _SPOT_SYMBOL.substitute(symbol=s, base=b, quote=q, tick=ticks.get(q, "0.01000000"))
                for s, (b, q) in listed.items()
            ]
        else:
            symbols = [
                _USDM_SYMBOL.substitute(symbol=s, base=b, quote=q, onboard=self._onboard(s))
                for s, (b, q) in listed.items()
            ]
            assets = sorted({q for _, q in listed.values()})
            info["assets"] = [{"asset": a, "marginAvailable": True} for a in assets]
        return info | {"symbols": [json.loads(s) for s in symbols]}

    def _onboard(self, symbol_id: str) -> int:
        """USD-M listing time: the first timestamp served for the symbol (or BTCUSDT's)."""
        series = [
            s for (k, i, _), s in list(self._klines.items()) if i == symbol_id and k != "spot"
        ]
        series += [self._funding[symbol_id]] if symbol_id in self._funding else []
        return min((int(s.times[0]) for s in series if len(s.times)), default=1_569_398_400_000)
