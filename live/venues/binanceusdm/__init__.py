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
- Conditional orders (``stop_market`` → ``STOP_MARKET``, ``take_profit_market`` →
  ``TAKE_PROFIT_MARKET``, ``trailing_stop_market`` → ``TRAILING_STOP_MARKET`` with
  ``callbackRate``, ``stop_limit`` → ``STOP`` and ``take_profit_limit`` → ``TAKE_PROFIT``
  with a limit ``price``), with ``reduceOnly`` or ``closePosition``: ccxt sends them to Binance's
  algo order API (``/fapi/v1/algoOrder``, ``algoType=CONDITIONAL``, client id
  ``clientAlgoId``). The adapter remembers which client ids are algo orders (and, for one it
  does not know — a restart — looks among the algo orders when the plain order lookup says
  "not found"); a triggered algo order (``FINISHED``) is reported through its actual MARKET
  order (``actualOrderId``): its state, its filled quantity and its trades. A triggered STOP /
  TAKE_PROFIT whose LIMIT order rests is cancelled through that order (the algo order has
  finished and cannot be cancelled any more).
- ``GTX`` (post only) limits that would take are refused ``-5022`` → ``Rejected``
  (``would_take``); a stop the last price has already reached, ``-2021 "Order would
  immediately trigger."`` → ``Rejected`` (``would_trigger``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from live.orders import TRIGGERED_TYPES, Report
from live.venues._ccxt_util import dec
from live.venues.base import OrderRequest, VenueFill, VenueOrder
from live.venues.binance import BinanceVenue
from live.venues.ccxt_venue import not_cancellable
from live.venues.errors import GiveUp, OrderMissing

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
        -2019, -2022, -4164, -4003, -4005, -4014, -1111, -1013, -2021, -5022, -2007, -1106
    )
    trades_window_ms: ClassVar[int] = 7 * 24 * 3_600_000
    capability_overrides: ClassVar[Mapping[str, Any]] = {
        "reduce_only": True,  # sent as reduceOnly, enforced by the venue
        "funding": True,  # perpetuals: funding is settled into the wallet every 8 h
        "contract_positions": True,
        "stop_orders": True,  # STOP_MARKET / TAKE_PROFIT_MARKET (algo orders)
        "stop_limit_orders": True,  # STOP / TAKE_PROFIT with a limit price (algo orders)
        "trailing_stop_orders": True,
        "post_only": True,  # GTX
        "time_in_force": frozenset({"GTC", "IOC", "FOK", "GTX"}),
        "oco": False,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._algo: set[str] = set()  # client ids sent or found as algo (conditional) orders

    async def submit(self, request: OrderRequest) -> list[Report]:
        if request.order_type in TRIGGERED_TYPES or request.order_type == "trailing_stop_market":
            self._algo.add(request.client_id)
        return await super().submit(request)

    async def _algo_order(self, symbol: str, client_id: str) -> dict[str, Any]:
        with self.calling("fetch_order", client_id=client_id):
            algo: dict[str, Any] = await self.client.fetch_order(
                None, symbol, {"clientAlgoId": client_id, "trigger": True}
            )
        return algo

    async def _fetch_by_client_id(self, symbol: str, client_id: str) -> dict[str, Any] | None:
        if client_id not in self._algo:
            try:
                return await super()._fetch_by_client_id(symbol, client_id)
            except OrderMissing:
                pass  # maybe a conditional order this adapter has not sent (a restart)
        algo = await self._algo_order(symbol, client_id)
        self._algo.add(client_id)
        actual = (algo.get("info") or {}).get("actualOrderId")
        if not actual:
            return algo  # untriggered (open), cancelled or expired: as it stands
        with self.calling("fetch_order", client_id=client_id):
            order: dict[str, Any] = await self.client.fetch_order(str(actual), symbol)
        return {**order, "clientOrderId": client_id}

    async def _cancel_by_client_id(self, symbol: str, client_id: str) -> dict[str, Any] | None:
        if client_id not in self._algo:
            try:
                return await super()._cancel_by_client_id(symbol, client_id)
            except (OrderMissing, GiveUp) as err:
                if isinstance(err, GiveUp) and not not_cancellable(err):
                    raise
                # Not a plain open order: maybe a conditional one (a restarted adapter, a kill
                # switch cancelling everything by client id).
                try:
                    await self._algo_order(symbol, client_id)
                except OrderMissing:
                    raise err from None
                self._algo.add(client_id)
        algo = await self._algo_order(symbol, client_id)
        actual = (algo.get("info") or {}).get("actualOrderId")
        with self.calling(
            "cancel_order", state_changing=True, client_id=client_id, normal=not_cancellable
        ):
            if actual:  # triggered: what is left to cancel is its (resting) limit order
                order: dict[str, Any] = await self.client.cancel_order(str(actual), symbol)
                return {**order, "clientOrderId": client_id}
            order = await self.client.cancel_order(
                None, symbol, {"clientAlgoId": client_id, "trigger": True}
            )
        return order

    async def open_orders(self, symbols: Sequence[str]) -> list[VenueOrder]:
        """Open orders and open (untriggered) conditional orders on ``symbols``."""
        out = await super().open_orders(symbols)
        for symbol in symbols:
            with self.calling("fetch_open_orders"):
                algos = await self.client.fetch_open_orders(symbol, None, None, {"trigger": True})
            for a in algos:
                if a.get("clientOrderId"):
                    self._algo.add(str(a["clientOrderId"]))
            out.extend(self._venue_order(a) for a in algos)
        return out

    async def order_fills(
        self, symbol: str, client_id: str, venue_order_id: str | None
    ) -> list[VenueFill]:
        if client_id in self._algo:
            found = await self._fetch_by_client_id(symbol, client_id)
            actual = None if found is None else (found.get("info") or {}).get("orderId")
            if not actual:
                return []  # not triggered: no trades
            venue_order_id = str(actual)
        return await super().order_fills(symbol, client_id, venue_order_id)

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
