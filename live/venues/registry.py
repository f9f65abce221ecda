"""Venue construction by name: ``make_venue("binance", ...)``.

- ``"binance"``: :class:`~live.venues.binance.BinanceVenue` (``ccxt.pro.binance``, spot);
- ``"binanceusdm"``: :class:`~live.venues.binanceusdm.BinanceUsdmVenue` (USD-M futures);
- ``"coinbase"``: :class:`~live.venues.coinbase.CoinbaseVenue` (Advanced Trade);
- any other ccxt exchange id: the generic :class:`~live.venues.ccxt_venue.CcxtVenue`, best
  effort — unified calls only, orders looked up by client id by listing them, the ``ccxt.pro``
  class when ccxt has one (else REST only: no user-data stream, bars by polling).

Every venue built is checked against the capabilities the caller requires (by default
:data:`~live.venues.base.REQUIRED_CAPABILITIES`: what trading needs; a public data feed needs
only ``fetch_ohlcv``): a venue lacking one is refused here, naming what it lacks.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

import ccxt

from grekko_research.errors import ConfigError
from live.venues import binance, binanceusdm, coinbase
from live.venues.base import REQUIRED_CAPABILITIES, missing_capabilities
from live.venues.ccxt_venue import CcxtVenue, build_client
from live.venues.credentials import Credentials, load_credentials

__all__ = ["ADAPTERS", "check_capabilities", "load_credentials", "make_venue", "venue_names"]

ADAPTERS: dict[str, tuple[type[CcxtVenue], Mapping[str, Any]]] = {
    "binance": (binance.BinanceVenue, binance.DEFAULT_OPTIONS),
    "binanceusdm": (binanceusdm.BinanceUsdmVenue, binanceusdm.DEFAULT_OPTIONS),
    "coinbase": (coinbase.CoinbaseVenue, coinbase.DEFAULT_OPTIONS),
}
"""Venues with a dedicated adapter: name → (class, default ccxt options)."""


def venue_names() -> list[str]:
    """Every name :func:`make_venue` accepts: the dedicated adapters, then ccxt's ids."""
    return sorted(ADAPTERS) + sorted(set(ccxt.exchanges) - set(ADAPTERS))


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def make_venue(
    name: str,
    *,
    urls: str | None = None,
    credentials: Credentials | None = None,
    options: Mapping[str, Any] | None = None,
    timeout_ms: int = 10_000,
    rate_limit: bool = True,
    require: Iterable[str] = REQUIRED_CAPABILITIES,
    **venue_kwargs: Any,
) -> CcxtVenue:
    """Return the venue adapter called ``name`` (not started: ``await venue.start()``).

    Parameters
    ----------
    name
        ``"binance"``, ``"binanceusdm"``, ``"coinbase"``, or any other ccxt exchange id (served
        by the generic adapter, best effort).
    urls
        Base URL every REST and websocket request goes to instead of the exchange's hosts (a
        local peer such as :mod:`live.sim`, a testnet gateway, a proxy).
    credentials
        API credentials (see :func:`load_credentials`); ``None`` for public data only.
    options
        ccxt options merged over the adapter's defaults (e.g. ``{"fetchCurrencies": False}``).
    timeout_ms
        Per-request timeout; a create that outlasts it is an ``OutcomeUnknown``.
    rate_limit
        Keep ccxt's client-side request throttle (turn it off only for a local peer).
    require
        Capabilities (:class:`~live.venues.base.VenueCapabilities` field names) the venue
        must have; the default is what trading needs, a data feed asks for ``fetch_ohlcv``.
    venue_kwargs
        Passed to the adapter (``clock``, ``poll_interval_s``, ``reconnect_delays_s``).

    Raises
    ------
    ConfigError
        If ccxt knows no such exchange (close matches are named), or the venue lacks a
        required capability (named).
    """
    key = name.strip().lower()
    cls, defaults = ADAPTERS.get(key, (CcxtVenue, {}))
    if key not in ADAPTERS and key not in ccxt.exchanges:
        close = difflib.get_close_matches(key, venue_names(), n=5, cutoff=0.6)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise ConfigError(
            f"unknown venue {name!r}: not a Grekko adapter ({', '.join(sorted(ADAPTERS))}) "
            f"nor a ccxt exchange id{hint}"
        )

    def factory() -> Any:
        return build_client(
            key,
            urls=urls,
            credentials=credentials,
            options=_merge(defaults, options or {}),
            timeout_ms=timeout_ms,
            rate_limit=rate_limit,
        )

    venue = cls(factory(), name=key, client_factory=factory, **venue_kwargs)
    check_capabilities(key, venue.capabilities, require)
    return venue


def check_capabilities(
    name: str, capabilities: object, require: Iterable[str] = REQUIRED_CAPABILITIES
) -> None:
    """Raise :class:`ConfigError` naming every capability in ``require`` that venue ``name``
    does not declare (all of them when it declares no :class:`VenueCapabilities`)."""
    try:
        lacking = missing_capabilities(capabilities, require)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if lacking:
        raise ConfigError(
            f"venue {name!r} lacks required capabilities: {', '.join(lacking)} "
            "(see live.venues.base.VenueCapabilities)"
        )
