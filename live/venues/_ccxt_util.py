"""Shared parts of the ccxt adapters: client construction and ccxt-structure parsing."""

from __future__ import annotations

import itertools
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

import ccxt.async_support as ccxt_async
import ccxt.pro as ccxt_pro

from grekko_research.data.exchanges import rebase_urls
from grekko_research.errors import ConfigError
from live.orders import FillReport
from live.secrets import protect_ccxt
from live.venues.base import FailedCall, VenueFill, VenueHealth
from live.venues.credentials import Credentials
from live.venues.errors import scrub

__all__ = [
    "VERBOSE_ENV",
    "HealthLog",
    "brief",
    "build_client",
    "camel",
    "dec",
    "fee_of",
    "fill_report",
    "numeric_first",
    "rebase_api_urls",
    "redact_ccxt_logs",
    "side_of",
    "trade_key",
    "venue_fill",
]


def dec(value: Any) -> Decimal:
    """``value`` (a ccxt float, int or string) as a Decimal, through ``str``."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def rebase_api_urls(urls: Any, base_url: str) -> Any:
    """``urls`` with every host replaced by ``base_url``'s; websocket URLs keep a ws scheme.

    ``wss://stream.binance.com:9443/ws`` on ``http://127.0.0.1:8080`` becomes
    ``ws://127.0.0.1:8080/ws``; REST URLs as :func:`rebase_urls` does.
    """
    if isinstance(urls, str):
        rebased: str = rebase_urls(urls, base_url)
        if urls.startswith(("ws://", "wss://")):
            scheme = "wss" if base_url.startswith("https") else "ws"
            rebased = scheme + rebased[rebased.index(":") :]
        return rebased
    if isinstance(urls, Mapping):
        return {k: rebase_api_urls(v, base_url) for k, v in urls.items()}
    return urls


class _Redact(logging.Filter):
    """Scrub credentials out of ccxt's own debug log (it logs request headers, API key included)."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = f"{record.msg!s} {record.args!r}"
        # ccxt's records are never unpacked by a formatter: the masked text with empty args
        # (a tuple, never None, which formatters that unpack args would choke on).
        record.msg, record.args = scrub(message, self.secrets), ()
        return True


_REDACT = _Redact()


def redact_ccxt_logs(secrets: Iterable[str]) -> None:
    """Mask ``secrets`` (and credential-looking fields) in every record of ccxt's logger."""
    _REDACT.secrets.update(s for s in secrets if s)
    logger = logging.getLogger("ccxt.base.exchange")  # ccxt's only logger
    if _REDACT not in logger.filters:
        logger.addFilter(_REDACT)


VERBOSE_ENV = "GREKKO_CCXT_VERBOSE"
"""Set to ``1`` (``grekko-live --verbose`` does) for ccxt's verbose mode on every client built:
each request and response printed, secrets masked."""


def build_client(
    exchange_id: str,
    *,
    urls: str | None = None,
    credentials: Credentials | None = None,
    options: Mapping[str, Any] | None = None,
    timeout_ms: int = 10_000,
    rate_limit: bool = True,
) -> Any:
    """A ccxt client of ``exchange_id``: the ``ccxt.pro`` class when there is one, else REST only.

    ``urls`` sends every request (REST and websocket) to that base URL (a local peer, a
    testnet gateway or a proxy); ``options`` are merged over ccxt's. ``rate_limit`` keeps
    ccxt's client-side throttle (off only for a local peer, which has no limits). With
    ``GREKKO_CCXT_VERBOSE=1`` the client is verbose; its prints are masked either way
    (:func:`live.secrets.protect_ccxt`, applied here whatever the import order).
    """
    protect_ccxt()
    cls = getattr(ccxt_pro, exchange_id, None) or getattr(ccxt_async, exchange_id, None)
    if cls is None:
        raise ConfigError(f"ccxt has no exchange {exchange_id!r}")
    config: dict[str, Any] = {
        "enableRateLimit": rate_limit,
        "timeout": int(timeout_ms),
        "options": dict(options or {}),
    }
    if credentials is not None:
        config.update(credentials.ccxt_config())
        redact_ccxt_logs(credentials.secrets())
    if os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        config["verbose"] = True
    client = cls(config)
    if urls:
        client.urls["api"] = rebase_api_urls(client.urls["api"], urls)
    return client


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part.title() for part in rest).replace("Ohlcv", "OHLCV")


def brief(exc: BaseException) -> str:
    """One scrubbed line naming ``exc``'s class, for logs."""
    return f"{type(exc).__name__}: {scrub(str(exc))[:200]}"


def side_of(value: Any) -> Literal["buy", "sell"]:
    return "sell" if str(value).lower() == "sell" else "buy"


def trade_key(trade: Mapping[str, Any]) -> str:
    return f"{trade.get('order')}/{trade.get('id')}"


def numeric_first(text: str) -> tuple[int, int | str]:
    return (0, int(text)) if text.isdigit() else (1, text)


def fee_of(trade: Mapping[str, Any]) -> tuple[Decimal | None, str | None]:
    fee = trade.get("fee")
    if fee and fee.get("cost") is not None:
        return dec(fee["cost"]), fee.get("currency")
    fees = [f for f in trade.get("fees") or [] if f and f.get("cost") is not None]
    currencies = {f.get("currency") for f in fees}
    if fees and len(currencies) == 1:
        return sum((dec(f["cost"]) for f in fees), Decimal(0)), currencies.pop()
    return None, None


def venue_fill(trade: Mapping[str, Any], symbol: str, client_id: str | None) -> VenueFill:
    fee, fee_asset = fee_of(trade)
    return VenueFill(
        symbol=trade.get("symbol") or symbol,
        client_id=client_id,
        venue_order_id=str(trade.get("order")),
        trade_id=str(trade["id"]),
        side=side_of(trade.get("side")),
        qty=dec(trade["amount"]),
        price=dec(trade["price"]),
        fee=fee if fee is not None else Decimal(0),
        fee_asset=fee_asset,
        ts_ms=int(trade.get("timestamp") or 0),
    )


def fill_report(fill: VenueFill, client_id: str, source: str) -> FillReport:
    return FillReport(
        client_id,
        fill.trade_id,
        fill.qty,
        fill.price,
        source=source,
        fee=fill.fee,
        fee_asset=fill.fee_asset,
    )


class HealthLog:
    """What :meth:`CcxtVenue.health <live.venues.ccxt_venue.CcxtVenue.health>` reports, kept
    as the adapter works: which streams are lost since when, reconnections, failed calls.

    Every time is read from ``clock`` (the venue clock). A stream is one subscription (the
    user-data stream of one :meth:`reports` iteration, the klines of one symbol in one
    :meth:`bars` iteration), named by :meth:`stream`; each one lost and back again counts
    one reconnection.
    """

    def __init__(self, clock: Callable[[], int], max_errors: int = 500) -> None:
        self._clock = clock
        self._ids = itertools.count(1)
        self._down: dict[str, int] = {}  # stream -> when it was lost (venue clock)
        self.reconnects = 0
        self.errors: deque[FailedCall] = deque(maxlen=max_errors)

    def stream(self, kind: str) -> str:
        """A new stream's name (unique in this log)."""
        return f"{kind}#{next(self._ids)}"

    def lost(self, stream: str) -> None:
        """``stream`` failed; the first failure of an outage dates it."""
        self._down.setdefault(stream, self._clock())

    def back(self, stream: str) -> None:
        """``stream`` delivered: if it was lost, it has reconnected."""
        if self._down.pop(stream, None) is not None:
            self.reconnects += 1

    def ended(self, stream: str) -> None:
        """Nobody reads ``stream`` any more: it is neither up nor lost."""
        self._down.pop(stream, None)

    def error(self, call: str = "call", error: str = "Error") -> None:
        """A venue call (``call``: ``create_order`` …) failed now with ``error`` (its class)."""
        self.errors.append(FailedCall(self._clock(), call, error))

    @property
    def down_since_ms(self) -> int | None:
        """When the longest-lost stream still down was lost (``None``: none is)."""
        return min(self._down.values(), default=None)

    def snapshot(self, *, realtime: bool, clock_skew_ms: float | None) -> VenueHealth:
        return VenueHealth(
            realtime=realtime,
            ws_down_since_ms=self.down_since_ms,
            reconnects=self.reconnects,
            error_times_ms=tuple(f.ts_ms for f in self.errors),
            clock_skew_ms=clock_skew_ms,
            failed_calls=tuple(self.errors),
        )
