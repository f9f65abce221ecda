"""Binance USD-M futures through ccxt's ``binanceusdm`` (pro) client.

The Binance spot adapter with these differences:

- Symbols are perpetuals (``"BTC/USDT:USDT"``); :meth:`positions` is the venue's signed
  position (``fetch_positions``: ``positionAmt`` in one-way mode, long minus short in hedge
  mode), not a balance; ``reduce_only`` requests are sent with ``reduceOnly``.
- Duplicate client id: ``-4116 "ClientOrderId is duplicated."`` → ``OutcomeUnknown``.
- Refusals → ``Rejected``: ``-2019`` margin insufficient, ``-2022`` reduce-only rejected,
  ``-4164`` under the minimum notional, ``-4003``/``-4005`` quantity bounds, ``-4014`` tick,
  ``-1111`` precision. They are matched by code in the message because ccxt picks its futures
  error table by host and raises a plain ``ExchangeError`` against another host.
- ``userTrades`` windows reach 7 days; pages continue by ``fromId``.
- Fees are charged in the margin asset (USDT); balances are wallet totals of margin assets.
- Stream: ccxt's listen-key user-data stream (``POST /fapi/v1/listenKey``).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from live.venues._ccxt_util import dec
from live.venues.binance import BinanceVenue

__all__ = ["DEFAULT_OPTIONS", "BinanceUsdmVenue"]

DEFAULT_OPTIONS: dict[str, Any] = {
    "fetchMarkets": {"types": ["linear"]},  # USD-M perpetuals and deliveries
    "fetchCurrencies": False,  # the spot wallet's /sapi capital config: not needed
    # Ping every 20 s (ccxt's default for Binance is 180 s): a dead link is noticed within
    # ~40 s, then the user-data stream reconnects and resyncs over REST.
    "ws": {"keepAlive": 20_000},
}


def _codes(*codes: int) -> tuple[str, ...]:
    return tuple(f'"code":{code},' for code in codes)


class BinanceUsdmVenue(BinanceVenue):
    """Binance USD-M futures (ccxt id ``binanceusdm``)."""

    duplicate_markers: ClassVar[tuple[str, ...]] = (*_codes(-4116), "ClientOrderId is duplicated")
    refusal_markers: ClassVar[tuple[str, ...]] = _codes(
        -2019, -2022, -4164, -4003, -4005, -4014, -1111, -1013
    )
    trades_window_ms: ClassVar[int] = 7 * 24 * 3_600_000
    capability_overrides: ClassVar[Mapping[str, Any]] = {
        "reduce_only": True,  # sent as reduceOnly, enforced by the venue
        "funding": True,  # perpetuals: funding is settled into the wallet every 8 h
        "contract_positions": True,
    }

    def _signed_position(self, row: Mapping[str, Any]) -> Decimal:
        info = row.get("info") or {}
        amount = info.get("positionAmt") if isinstance(info, Mapping) else None
        side = str(info.get("positionSide", "BOTH")) if isinstance(info, Mapping) else "BOTH"
        if amount is not None and side == "BOTH":
            return dec(amount)  # one-way mode: already signed, exact
        return super()._signed_position(row)

    async def stream_ready(self, client: Any) -> None:
        # The listen key comes over REST; the stream is up once ccxt's client has connected.
        with self.calling("authenticate"):
            await client.authenticate()
        await super(BinanceVenue, self).stream_ready(client)
