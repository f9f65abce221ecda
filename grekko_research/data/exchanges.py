"""Build ccxt clients for market-data downloads.

Grekko names a series by ``exchange`` (a ccxt id such as ``binance``) and
``market`` (``spot``, ``usdm``, ``coinm``). ccxt splits Binance's derivatives
into their own classes and spells perpetual symbols with a settle currency
(``BTC/USDT:USDT``); this module is the one place that knows both.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import ccxt

from grekko_research.errors import ConfigError

__all__ = ["ccxt_symbol", "connect_public", "make_exchange", "rebase_urls"]

# (grekko exchange, grekko market) -> (ccxt class id, ccxt market types to load)
_CLASSES: dict[tuple[str, str], tuple[str, list[str]]] = {
    ("binance", "spot"): ("binance", ["spot"]),
    ("binance", "usdm"): ("binanceusdm", ["linear"]),
    ("binance", "coinm"): ("binancecoinm", ["inverse"]),
}
_DERIVATIVE_MARKETS = {"usdm", "coinm", "perp", "linear", "inverse", "futures"}


def ccxt_symbol(symbol: str, market: str) -> str:
    """Return ccxt's spelling of a canonical ``BASE/QUOTE`` symbol in a market.

    Perpetuals carry their settle currency: ``BTC/USDT`` on ``usdm`` is
    ``BTC/USDT:USDT`` and ``BTC/USD`` on ``coinm`` is ``BTC/USD:BTC``.
    """
    base, quote = symbol.split("/")
    if market in ("usdm", "linear", "perp"):
        return f"{base}/{quote}:{quote}"
    if market in ("coinm", "inverse"):
        return f"{base}/{quote}:{base}"
    return symbol


def rebase_urls(urls: Any, base_url: str) -> Any:
    """Return ``urls`` (a string or nested dict of strings) with scheme and host replaced.

    The path is kept, so ``https://fapi.binance.com/fapi/v1`` rebased on
    ``http://127.0.0.1:8080`` becomes ``http://127.0.0.1:8080/fapi/v1``. This
    points a ccxt client at a testnet, a recording proxy or a local peer.
    """
    target = urlsplit(base_url)
    if not target.scheme or not target.netloc:
        raise ConfigError(
            f"invalid REST base URL {base_url!r}: expected e.g. http://127.0.0.1:8080"
        )
    if isinstance(urls, str):
        parts = urlsplit(urls)
        return urlunsplit((target.scheme, target.netloc, parts.path, parts.query, parts.fragment))
    if isinstance(urls, Mapping):
        return {k: rebase_urls(v, base_url) for k, v in urls.items()}
    return urls


def make_exchange(
    exchange: str,
    market: str = "spot",
    *,
    rest_url: str | None = None,
    timeout_ms: int = 15_000,
    options: Mapping[str, Any] | None = None,
) -> ccxt.Exchange:
    """Return a keyless ccxt client for public market data.

    Parameters
    ----------
    exchange, market
        Grekko's names, e.g. ``("binance", "usdm")``.
    rest_url
        Send every REST call to this base URL instead of the exchange's own
        hosts (a local peer in tests, a testnet or proxy in production).
    timeout_ms
        Per-request timeout; a request that outlasts it raises
        ``ccxt.RequestTimeout``.
    options
        Extra ccxt options merged over Grekko's defaults.

    Raises
    ------
    ConfigError
        If ccxt has no such exchange (close matches are listed).
    """
    class_id, types = _CLASSES.get((exchange, market), (exchange, []))
    if class_id not in ccxt.exchanges:
        close = difflib.get_close_matches(exchange, ccxt.exchanges, n=5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise ConfigError(f"ccxt has no exchange {exchange!r}{hint}")
    opts: dict[str, Any] = {"fetchCurrencies": False}
    if types:
        opts["fetchMarkets"] = {"types": types}
    elif market in _DERIVATIVE_MARKETS:
        opts["defaultType"] = "swap"
    opts.update(options or {})
    client: ccxt.Exchange = getattr(ccxt, class_id)(
        {"enableRateLimit": True, "timeout": int(timeout_ms), "options": opts}
    )
    if rest_url:
        client.urls["api"] = rebase_urls(client.urls["api"], rest_url)
    return client


def connect_public(
    exchange: str,
    market: str = "spot",
    *,
    rest_url: str | None = None,
    timeout_ms: int = 10_000,
) -> tuple[ccxt.Exchange | None, str]:
    """Return a keyless client whose markets loaded and ``"online"``, or None and why not.

    The connectivity check of ``grekko run``: a network failure (no route, DNS, timeout)
    reads ``"<exchange> unreachable (<error class>)"`` and any other ccxt error (the
    exchange answered but refused) ``"<exchange> refused (<error class>: <message>)"``,
    so the caller can fall back to local data and say why. Unknown exchanges still raise
    ``ConfigError`` (a typo is not "offline").
    """
    client = make_exchange(exchange, market, rest_url=rest_url, timeout_ms=timeout_ms)
    try:
        client.load_markets()
    except ccxt.NetworkError as exc:
        return None, f"{exchange} unreachable ({type(exc).__name__})"
    except ccxt.BaseError as exc:
        return None, f"{exchange} refused ({type(exc).__name__}: {exc})"
    return client, "online"
