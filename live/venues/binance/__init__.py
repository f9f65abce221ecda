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
- Order types, through ccxt's unified params: ``stop_limit`` → ``STOP_LOSS_LIMIT``
  (``triggerPrice``), ``take_profit_limit`` → ``TAKE_PROFIT_LIMIT`` (``takeProfitPrice``),
  ``stop_market`` / ``take_profit_market`` → ``STOP_LOSS`` / ``TAKE_PROFIT``, a post-only
  limit → ``LIMIT_MAKER`` (``postOnly``), ``timeInForce`` GTC/IOC/FOK. A stop the market has
  already reached (``-2010 "Stop price would trigger immediately."``) and a post-only limit
  that would take (``-2010 "Order would immediately match and take."``) are ``Rejected``
  (reasons ``would_trigger`` / ``would_take``, see :func:`live.venues.errors.refusal_kind`).
- OCO (:meth:`BinanceVenue.submit_oco`): ccxt has no unified OCO for Binance spot, so the
  pair goes to ``POST /api/v3/orderList/oco`` through ccxt's implicit API
  (``private_post_orderlist_oco``), each leg with its own client id
  (``aboveClientOrderId``/``belowClientOrderId``); Binance expires the other leg when one
  triggers or fills.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from live.orders import Rejected, Report
from live.venues._ccxt_orders import created_reports
from live.venues._ccxt_util import trade_key
from live.venues.base import OrderRequest, unsupported_request
from live.venues.ccxt_venue import CcxtVenue, not_cancellable
from live.venues.errors import GiveUp, OutcomeUnknown, refusal_kind

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
        "stop_orders": True,
        "stop_limit_orders": True,
        "post_only": True,
        "time_in_force": frozenset({"GTC", "IOC", "FOK"}),
        "oco": True,
    }

    async def submit_oco(self, requests: Sequence[OrderRequest]) -> list[Report]:
        """Send two exits of one symbol and side as one Binance OCO list.

        The leg with the higher trigger (or limit) is Binance's ``above`` leg. A post-only
        limit goes as ``LIMIT_MAKER``; ``stop_*`` as ``STOP_LOSS(_LIMIT)``, ``take_profit_*`` as
        ``TAKE_PROFIT(_LIMIT)``. Refusals (the list as a whole) are ``Rejected`` for both legs.
        """
        await self.start()
        if len(requests) != 2 or len({(r.symbol, r.side, r.qty) for r in requests}) != 1:
            raise GiveUp(
                "an OCO is two exits of one symbol, side and quantity",
                venue=self.name, operation="create_oco", state_changing=False, source="BadOco",
            )  # fmt: skip
        for r in requests:
            if self.tracker.was_sent(r.client_id):
                raise OutcomeUnknown(
                    "this client id was already sent by this adapter; query it, do not resend",
                    venue=self.name, operation="create_oco", state_changing=True,
                    source="AlreadySent", client_id=r.client_id,
                )  # fmt: skip
        why = next((w for r in requests if (w := _oco_refusal(r, self)) is not None), None)
        if why is not None:
            return [Rejected(r.client_id, reason=f"not sent: {why}") for r in requests]
        above, below = sorted(requests, key=_leg_level, reverse=True)
        market = self._market(above.symbol)
        params: dict[str, Any] = {
            "symbol": market["id"],
            "side": above.side.upper(),
            "quantity": self.client.amount_to_precision(above.symbol, float(above.qty)),
            "listClientOrderId": f"l{above.client_id}"[:36],
            "newOrderRespType": "FULL",
        }
        for where, leg in (("above", above), ("below", below)):
            params |= _oco_leg(where, leg, self.client, above.symbol)
        for r in requests:
            self.tracker.sending(r.client_id, r.symbol, self.now_ms())
        try:
            with self.calling(
                "create_oco", state_changing=True, client_id=above.client_id,
                normal=self._answered,
            ):  # fmt: skip
                answer = await self.client.private_post_orderlist_oco(params)
        except GiveUp as err:
            for r in requests:
                self.tracker.forget(r.client_id)
            if self._is_refusal(err.__cause__):
                reason = f"{refusal_kind(err.__cause__)}: {err.source}: {err.detail}"
                return [Rejected(r.client_id, reason=reason) for r in requests]
            raise
        reports: list[Report] = []
        for raw in answer.get("orderReports") or []:
            order = self.client.parse_order(raw, market)
            cid = str(raw.get("clientOrderId"))
            reports += created_reports(self.tracker, cid, above.symbol, order)
        return reports

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


_OCO_TYPES = {
    "stop_market": "STOP_LOSS",
    "stop_limit": "STOP_LOSS_LIMIT",
    "take_profit_market": "TAKE_PROFIT",
    "take_profit_limit": "TAKE_PROFIT_LIMIT",
}


def _leg_level(request: OrderRequest) -> Decimal:
    level = request.stop_price if request.stop_price is not None else request.limit_price
    return level if level is not None else Decimal(0)


def _oco_refusal(request: OrderRequest, venue: BinanceVenue) -> str | None:
    if request.order_type == "limit" and not request.post_only:
        return "an OCO's limit leg must be post-only (Binance: LIMIT_MAKER)"
    if request.order_type == "market":
        return "an OCO takes no market leg"
    return unsupported_request(request, venue.capabilities)


def _oco_leg(where: str, leg: OrderRequest, client: Any, symbol: str) -> dict[str, Any]:
    """One leg's ``above*`` / ``below*`` params of ``orderList/oco``."""
    kind = "LIMIT_MAKER" if leg.order_type == "limit" else _OCO_TYPES[leg.order_type]
    out: dict[str, Any] = {f"{where}Type": kind, f"{where}ClientOrderId": leg.client_id}
    if leg.limit_price is not None:
        out[f"{where}Price"] = client.price_to_precision(symbol, float(leg.limit_price))
    if leg.stop_price is not None:
        out[f"{where}StopPrice"] = client.price_to_precision(symbol, float(leg.stop_price))
    if kind.endswith("_LIMIT"):
        out[f"{where}TimeInForce"] = leg.time_in_force or "GTC"
    return out
