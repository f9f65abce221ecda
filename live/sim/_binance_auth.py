"""Binance's request authentication and endpoint security, shared by the spot and USD-M peers.

Three kinds of endpoint: *public* (``GET``, no key), *keyed* (the API key in ``X-MBX-APIKEY``
only, e.g. spot's listenKeys) and *signed*: the key, an HMAC-SHA256 ``signature`` (hex) of the
query string concatenated with the body (the ``signature`` parameter itself left out), and a
``timestamp`` no more than 1 s ahead of the server clock and within ``recvWindow`` (5000 ms by
default, at most 60 000) behind it. Refusals, as Binance answers them (``{"code", "msg"}``):
-2014 no key and -2015 an unknown one (HTTP 401), -1022 a bad signature, -1102 no timestamp,
-1131 a recvWindow too large, -1021 a timestamp out of the window; -1000 (404) an unknown
path or endpoint.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from live.sim._book import ApiError
from live.sim._http import dumps

__all__ = ["RECV_WINDOW_MAX", "BinanceAuth", "Endpoints", "Handler", "error_response"]

RECV_WINDOW_MAX = 60_000

Handler = Callable[[Mapping[str, str]], Any]


class BinanceAuth:
    """The one API key a peer accepts, its secret, and the server clock timestamps meet."""

    def __init__(self, api_key: str, api_secret: str, clock: Callable[[], int]) -> None:
        self._key, self._secret, self._clock = api_key, api_secret.encode(), clock

    def authenticate(self, request: web.Request, body: str) -> dict[str, str]:
        """Check key, signature and timestamp as Binance does; return the merged params."""
        self.check_key(request.headers.get("X-MBX-APIKEY", ""))
        query = request.query_string
        signature, unsigned = "", []
        for source in (query, body):
            kept = []
            for part in source.split("&") if source else []:
                if part.startswith("signature="):
                    signature = part[len("signature=") :]
                else:
                    kept.append(part)
            unsigned.append("&".join(kept))
        params = dict(parse_qsl(query)) | dict(parse_qsl(body))
        params.pop("signature", None)
        self.check_signature("".join(unsigned), signature)
        self.check_timestamp(params)
        return params

    def check_key(self, key: str) -> None:
        if not key:
            raise ApiError(-2014, "API-key format invalid.", 401)
        if not hmac.compare_digest(key, self._key):
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)

    def check_signature(self, payload: str, signature: str) -> None:
        expected = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()
        if not signature or not hmac.compare_digest(signature.lower(), expected):
            raise ApiError(-1022, "Signature for this request is not valid.")

    def check_timestamp(self, params: Mapping[str, str]) -> None:
        raw_ts, raw_window = params.get("timestamp", ""), params.get("recvWindow", "5000")
        if not raw_ts.isdigit():
            raise ApiError(
                -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
            )
        if not raw_window.isdigit() or int(raw_window) > RECV_WINDOW_MAX:
            raise ApiError(-1131, "recvWindow must be less than 60000")
        now, ts = self._clock(), int(raw_ts)
        if ts >= now + 1000:
            raise ApiError(
                -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if now - ts > int(raw_window):
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")


@dataclass
class Endpoints:
    """A Binance REST API below ``prefix`` (``"/api/v3/"``): handlers by path below it.

    ``public`` answers ``GET`` with the query's params; ``keyed`` and ``signed`` go by
    ``(method, name)`` and get the query's and the body's params merged.
    """

    prefix: str
    public: dict[str, Handler]
    signed: dict[tuple[str, str], Handler]
    keyed: dict[tuple[str, str], Handler] = field(default_factory=dict)

    def call(self, auth: BinanceAuth, request: web.Request, body: str) -> Any:
        """Run the handler of ``request`` once ``auth`` lets it through; what it returns."""
        method, path = request.method, request.path
        if not path.startswith(self.prefix):
            raise ApiError(-1000, f"Unknown path {path}.", 404)
        name = path[len(self.prefix) :]
        if method == "GET" and name in self.public:
            return self.public[name](dict(parse_qsl(request.query_string)))
        if (method, name) in self.keyed:
            auth.check_key(request.headers.get("X-MBX-APIKEY", ""))
            params = dict(parse_qsl(request.query_string)) | dict(parse_qsl(body))
            return self.keyed[(method, name)](params)
        handler = self.signed.get((method, name))
        if handler is None:
            raise ApiError(-1000, f"Unknown endpoint {method} {path}.", 404)
        return handler(auth.authenticate(request, body))


def error_response(
    status: int, code: int, msg: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """Binance's error answer: ``{"code": code, "msg": msg}`` with HTTP ``status``."""
    body = dumps({"code": code, "msg": msg})
    return web.Response(status=status, text=body, content_type="application/json", headers=headers)
