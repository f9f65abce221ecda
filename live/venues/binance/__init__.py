"""Binance spot through ccxt's ``binance`` (pro) client: what differs from the generic adapter.

- Client id: sent as ``newClientOrderId``; looked up and cancelled by ``origClientOrderId``
  (one request, no listing).
- Duplicate: ``-2010 "Duplicate order sent."`` (ccxt: ``InvalidOrder``) means the client id is
  taken → :class:`~live.venues.OutcomeUnknown` (query it). Binance checks uniqueness among
  *open* orders only; the adapter's own "already sent" guard covers orders that have ended.
- Refusals: besides ccxt's classes, ``-1013 "Filter failure: ..."`` (ccxt: ``BadRequest`` for
  NOTIONAL, MIN_NOTIONAL ...) refuses the order → ``Rejected``.
- Fills: the FULL create answer lists its fills (``tradeId``, ``commission``,
  ``commissionAsset``), reported with the Ack. ``myTrades`` rows carry the ``orderId`` only:
  client ids come from orders this adapter sent or looked up, else one ``fetch_order`` per
  unknown order. Trades are paged by ``fromId`` (after one ``startTime`` request, which Binance
  may bound to a 24 h window: empty windows are walked until the newest trade).
- Fees: each fill's ``commission`` in ``commissionAsset`` (BNB when paying fees in BNB).
- Position: spot has none; the base asset's total balance stands for it.
- Stream: ``watch_orders``/``watch_my_trades`` over the WebSocket API user-data subscription
  (``userDataStream.subscribe.signature``); stream trades carry the client id (``c``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from live.venues._ccxt_util import trade_key
from live.venues.ccxt_venue import CcxtVenue, not_cancellable

__all__ = ["DEFAULT_OPTIONS", "BinanceVenue"]

DEFAULT_OPTIONS: dict[str, Any] = {
    "fetchMarkets": {"types": ["spot"]},  # this adapter trades spot only
    "fetchMargins": False,  # margin pairs: not used
    "fetchCurrencies": False,  # /sapi capital config: not needed (market precision suffices)
    # Ping every 20 s (ccxt's default for Binance is 180 s): a dead link is noticed within
    # ~40 s, then the user-data stream reconnects and resyncs over REST.
    "ws": {"keepAlive": 20_000},
}


class BinanceVenue(CcxtVenue):
    """Binance spot (ccxt id ``binance``)."""

    client_id_param: ClassVar[str] = "newClientOrderId"
    duplicate_markers: ClassVar[tuple[str, ...]] = ("Duplicate order sent",)
    refusal_markers: ClassVar[tuple[str, ...]] = ("Filter failure",)  # -1013 NOTIONAL ...
    trades_page_limit: ClassVar[int | None] = 1000
    ohlcv_page_limit: ClassVar[int] = 1000
    trades_window_ms: ClassVar[int] = 24 * 3_600_000
    """How far one ``startTime`` request of ``myTrades`` may reach."""
    capability_overrides: ClassVar[Mapping[str, Any]] = {
        "reduce_only": False,  # spot: no reduce-only orders (a sell cannot exceed the balance)
        "funding": False,
        "contract_positions": False,
    }

    async def _fetch_by_client_id(self, symbol: str, client_id: str) -> dict[str, Any] | None:
        with self.calling("fetch_order", client_id=client_id):
            order: dict[str, Any] = await self.client.fetch_order(
                None, symbol, {"origClientOrderId": client_id}
            )
        return order

    async def _cancel_by_client_id(self, symbol: str, client_id: str) -> dict[str, Any] | None:
        with self.calling(
            "cancel_order", state_changing=True, client_id=client_id, normal=not_cancellable
        ):
            order: dict[str, Any] = await self.client.cancel_order(
                None, symbol, {"origClientOrderId": client_id}
            )
        return order

    def trade_client_id(self, trade: Mapping[str, Any]) -> str | None:
        info = trade.get("info") or {}
        cid = info.get("c") if isinstance(info, Mapping) else None
        return str(cid) if cid else None

    async def _page(self, symbol: str, since: int | None, limit: int, **params: Any) -> list[Any]:
        with self.calling("fetch_my_trades"):
            page: list[Any] = await self.client.fetch_my_trades(symbol, since, limit, params)
        return page

    async def _trades_since(self, symbol: str, since_ms: int | None) -> list[dict[str, Any]]:
        limit = self.trades_page_limit or 1000
        if since_ms is None:
            page = await self._page(symbol, None, limit, fromId=0)
        else:
            page = await self._page(symbol, since_ms, limit)
            start = since_ms
            while not page:  # the window after `start` is empty: is there anything later?
                newest = await self._page(symbol, None, 1)
                if not newest or int(newest[-1]["timestamp"]) < start:
                    return []
                start += self.trades_window_ms
                page = await self._page(symbol, start, limit)
        out: dict[str, dict[str, Any]] = {}
        while True:
            for trade in page:
                out.setdefault(trade_key(trade), trade)
            if len(page) < limit:
                break
            page = await self._page(symbol, None, limit, fromId=max(int(t["id"]) for t in page) + 1)
        trades = list(out.values())
        if since_ms is not None:
            trades = [t for t in trades if int(t["timestamp"]) >= since_ms]
        return trades

    async def _trades_of_order(
        self, symbol: str, venue_order_id: str, since: int | None
    ) -> list[Any]:
        # myTrades filtered by orderId (spot and futures alike; one request up to 1000 fills).
        return await self._page(symbol, None, 1000, orderId=venue_order_id)

    async def stream_ready(self, client: Any) -> None:
        # The user-data subscription is confirmed by the WebSocket API before updates flow.
        with self.calling("authenticate"):
            await client.authenticate()
