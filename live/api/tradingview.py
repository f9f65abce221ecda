"""TradingView webhooks: authenticated alerts stored as point-in-time signals.

TradingView posts an alert's message to a URL; it cannot set headers, so the message itself
carries the shared secret. Configure the alert's message as JSON, e.g. for a strategy alert::

    {"secret": "<GREKKO_TV_SECRET>", "ticker": "{{ticker}}", "exchange": "{{exchange}}",
     "action": "{{strategy.order.action}}", "position": "{{strategy.market_position}}",
     "size": 1, "price": {{close}}, "time": "{{timenow}}", "interval": "{{interval}}"}

An accepted alert becomes a row of the alternative-data store (source ``tradingview``, entity
the ticker's base asset): ``target`` (+1 long, 0 flat, -1 short, from ``position`` when given,
else ``action``: buy +1, sell -1, or ``long``/``short``/``flat``/``exit``), ``size`` (0..1 of
equity), ``price``. Its knowable time is when it *arrived* (``published_ms``), never the time
the sender claims. A strategy reads it as the feature ``alpha.tv_target`` (see
``strategies/tradingview_alerts``) and the runner trades it at the next bar close through its
risk engine, exactly as a backtest of the recorded alerts does. The API still never trades
and never writes the run's event log.

Refused, before anything is stored: a body over ``max_body`` bytes (413); a sender outside
the IP allowlist when one is set (403); not JSON or not an object (400); a missing or wrong
secret (401, compared in constant time); an alert whose ``time`` is older than ``max_age_s``
or ahead of the clock (422: replayed or delayed); the same alert again (409: its id is the
digest of the body without the secret, so a replay of a captured request is a duplicate); an
unknown action or ticker (422). The secret is never logged or stored.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.errors import ConfigError

__all__ = ["SECRET_ENV", "TradingViewConfig", "TradingViewGate", "base_asset", "with_tradingview"]

SECRET_ENV = "GREKKO_TV_SECRET"
SOURCE = "tradingview"
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "BTC", "ETH")
_ACTIONS = {
    "buy": 1.0, "long": 1.0, "sell": -1.0, "short": -1.0,
    "flat": 0.0, "exit": 0.0, "close": 0.0,
}  # fmt: skip
_TICKER = re.compile(r"^(?:[A-Z0-9_]+:)?([A-Z0-9]{2,20}?)(?:\.P|PERP)?$")


@dataclass(frozen=True)
class TradingViewConfig:
    """How the webhook authenticates and where it stores alerts.

    ``allow_ips`` empty: any sender (the secret still applies). TradingView documents its
    senders (52.89.214.238, 34.212.75.30, 54.218.53.128, 52.32.178.7); behind a reverse proxy
    list the proxy in ``trusted_proxies`` so the sender is read from ``X-Forwarded-For``.
    """

    secret: str = field(repr=False)
    store_root: Path
    path: str = "/webhooks/tradingview"
    allow_ips: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    max_body: int = 4096
    max_age_s: float = 120.0
    max_ahead_s: float = 30.0
    strategy: str | None = None  # when set, an alert naming another strategy is refused
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if len(self.secret) < 16:
            raise ConfigError(f"{SECRET_ENV} must be at least 16 characters")
        for ip in (*self.allow_ips, *self.trusted_proxies):
            try:
                ipaddress.ip_network(ip, strict=False)
            except ValueError:
                raise ConfigError(
                    f"TradingView allowlist: {ip!r} is not an IP address or network"
                ) from None

    @classmethod
    def from_env(cls, store_root: str | Path | None = None) -> TradingViewConfig | None:
        """Return the configuration from the environment, or None when no secret is set.

        ``GREKKO_TV_SECRET`` (required), ``GREKKO_TV_ALLOW_IPS`` and
        ``GREKKO_TV_TRUSTED_PROXIES`` (comma-separated), ``GREKKO_TV_STRATEGY``; alerts go to
        the store at ``store_root`` (default: ``GREKKO_DATA_DIR`` / the checkout's ``data/``).
        """
        secret = os.environ.get(SECRET_ENV, "")
        if not secret:
            return None

        def listed(name: str) -> tuple[str, ...]:
            return tuple(x.strip() for x in os.environ.get(name, "").split(",") if x.strip())

        if store_root is None:
            from grekko_research.data.store import default_data_dir

            store_root = default_data_dir()
        return cls(
            secret=secret,
            store_root=Path(store_root),
            allow_ips=listed("GREKKO_TV_ALLOW_IPS"),
            trusted_proxies=listed("GREKKO_TV_TRUSTED_PROXIES"),
            strategy=os.environ.get("GREKKO_TV_STRATEGY") or None,
        )


class _Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def _in(ip: str, networks: tuple[str, ...]) -> bool:
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(n, strict=False) for n in networks)


def base_asset(ticker: str) -> str:
    """Return the base asset of a TradingView ticker (``BINANCE:BTCUSDT`` -> ``BTC``)."""
    m = _TICKER.match(ticker.strip().upper())
    if not m:
        raise _Refused(422, f"ticker {ticker!r} is not a TradingView ticker")
    pair = m.group(1)
    for quote in _QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return pair[: -len(quote)]
    raise _Refused(422, f"ticker {ticker!r}: no known quote currency ({', '.join(_QUOTES)})")


class TradingViewGate:
    """ASGI wrapper answering ``POST <path>`` itself and passing everything else to ``app``.

    It sits outside the status API's bearer-token gate (TradingView cannot send one): the
    secret in the body is this route's authentication.
    """

    def __init__(self, app: ASGIApp, config: TradingViewConfig) -> None:
        self.app, self.config = app, config
        self.store = AltStore(config.store_root)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != self.config.path:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            if request.method != "POST":
                raise _Refused(405, "POST only")
            self._check_sender(request)
            body = await self._body(request)
            alert = self._parse(body)
            row = self._row(alert, body)
            added, _ = self.store.write(AltKey(SOURCE, row.pop("entity")), pd.DataFrame([row]))
            if not added:
                raise _Refused(409, "duplicate alert (already received)")
            answer = JSONResponse({"accepted": True, "id": row["id"], "target": row["target"]})
        except _Refused as refused:
            answer = JSONResponse({"accepted": False, "detail": refused.detail}, refused.status)
        await answer(scope, receive, send)

    def _check_sender(self, request: Request) -> None:
        cfg = self.config
        if not cfg.allow_ips:
            return
        peer = request.client.host if request.client else ""
        sender = peer
        if cfg.trusted_proxies and _in(peer, cfg.trusted_proxies):
            hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",")]
            sender = next(
                (h for h in reversed(hops) if h and not _in(h, cfg.trusted_proxies)), peer
            )
        if not _in(sender, cfg.allow_ips):
            raise _Refused(403, "sender not allowed")

    async def _body(self, request: Request) -> bytes:
        limit = self.config.max_body
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise _Refused(413, f"body over {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:  # a chunked body has no length to check first
                raise _Refused(413, f"body over {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _parse(self, body: bytes) -> dict[str, Any]:
        try:
            alert = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise _Refused(400, "the alert message must be JSON (see docs/alpha.md)") from None
        if not isinstance(alert, dict):
            raise _Refused(400, "the alert message must be a JSON object")
        secret = alert.get("secret")
        if not isinstance(secret, str) or not hmac.compare_digest(
            secret.encode(), self.config.secret.encode()
        ):
            raise _Refused(401, "missing or wrong secret")
        return alert

    def _row(self, alert: dict[str, Any], body: bytes) -> dict[str, Any]:
        cfg = self.config
        now_ms = int(cfg.clock() * 1000)
        if cfg.strategy and str(alert.get("strategy") or cfg.strategy) != cfg.strategy:
            raise _Refused(
                422,
                f"alert for strategy {alert.get('strategy')!r}, this run trades {cfg.strategy!r}",
            )
        try:
            sent_ms = int(pd.Timestamp(str(alert["time"])).value // 1_000_000)
        except (KeyError, ValueError):
            raise _Refused(
                422, "alert needs a 'time' ({{timenow}}): it guards against replays"
            ) from None
        if sent_ms < now_ms - cfg.max_age_s * 1000 or sent_ms > now_ms + cfg.max_ahead_s * 1000:
            raise _Refused(422, "alert time outside the accepted window (replayed or delayed)")
        word = str(alert.get("position") or alert.get("action") or "").strip().lower()
        if word not in _ACTIONS:
            raise _Refused(422, f"unknown action {word!r} (buy, sell, long, short, flat, exit)")
        try:
            size = float(alert.get("size", 1.0))
            price = float(alert.get("price", "nan"))
        except (TypeError, ValueError):
            raise _Refused(422, "size and price must be numbers") from None
        if not 0.0 <= size <= 1.0:
            raise _Refused(422, f"size {size} outside [0, 1] (a fraction of equity)")
        ticker = str(alert.get("ticker") or "")
        unsigned = {k: v for k, v in alert.items() if k != "secret"}
        digest = hashlib.sha256(json.dumps(unsigned, sort_keys=True).encode()).hexdigest()[:32]
        return {
            "entity": base_asset(ticker),
            "id": digest,
            "event_ms": min(sent_ms, now_ms),
            "published_ms": now_ms,  # knowable when it arrived, whatever it claims
            "ingested_ms": now_ms,
            "target": _ACTIONS[word],
            "size": size,
            "price": price,
            "ticker": ticker,
            "action": word,
        }


def with_tradingview(app: ASGIApp, config: TradingViewConfig | None) -> ASGIApp:
    """Return ``app`` wrapped by the webhook when it is configured, else ``app`` itself."""
    return app if config is None else TradingViewGate(app, config)
