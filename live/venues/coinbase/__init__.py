"""Coinbase Advanced Trade through ccxt's ``coinbase`` (pro) client.

What it does, and what Coinbase (or ccxt's client for it) cannot:

- Client id: sent as ``client_order_id`` (ccxt drops the unified ``clientOrderId`` and would
  generate its own). Grekko's ids are UUIDs, valid here.
- Market buys are sent in base units (``market_market_ioc.base_size``) so the order's
  quantity is the requested one; ccxt alone would send a quote amount (``quote_size``) and
  the filled base quantity would drift from the order's.
- Duplicate client id: Coinbase books nothing and answers with the *original* order ("if the
  ID provided is not unique, the order will not be created and the order corresponding with
  that ID will be returned instead"), so a resent create is an ``Ack`` of the first order,
  idempotent by construction.
- Refusals: a create answered ``"success": false`` with an ``error_response`` booked nothing →
  ``Rejected`` (unless it is an authentication/permission failure: ``GiveUp``); a failure
  reason naming a duplicate client id → ``OutcomeUnknown`` (query it; defensive, Coinbase
  documents the replay above instead).
- No lookup by client id: :meth:`query` fetches by the venue order id when this adapter knows
  it (it learns it from the create answer), else searches the most recent orders of the
  product (``order_search_pages`` pages of 100, from the order's send time when known). An
  order older than that window reads as ``NotFound``, as does Coinbase's 404 ``NOT_FOUND``
  (ccxt raises a plain ``ExchangeError`` for it). Never found by resending the create: if the
  first create had not landed, that would place the order.
- Cancel goes by venue order id (found as for a query); Coinbase answers a cancel of an
  ended order with a failure, then the query tells its final state.
- Fills (``/orders/historical/fills``) carry the venue order id, not the client id: mapped
  through known orders, else one order lookup per unknown order. Paged by cursor.
- Fees: each fill's ``commission``, in the quote currency.
- Create answers list no fills: the Ack comes alone, fills arrive by :meth:`fills`.
- Stream: ccxt streams order updates (``user`` channel: status and cumulative quantity) but
  not trades, and no candles: :meth:`reports` yields order states (``QueryResult`` with the
  cumulative quantity, so the runner fetches the fills), :meth:`bars` polls REST.
- Positions: spot only (the base balance); Coinbase's derivatives are not covered.
- Stops: ``stop_limit`` and ``take_profit_limit`` go as ``stop_limit_stop_limit_gtc`` with an
  explicit ``stop_direction`` (a sell stop-loss triggers on the way down, a sell take-profit on
  the way up; ccxt's own default for a bare ``stopPrice`` is the opposite, an entry stop).
  Coinbase has no stop-market order. A stop the last trade price has already reached is
  refused (``INVALID_STOP_PRICE``) → ``Rejected`` (``would_trigger``); a post-only limit that
  would take (``INVALID_LIMIT_PRICE_POST_ONLY``) → ``Rejected`` (``would_take``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import ccxt

from live.venues._ccxt_util import trade_key
from live.venues.base import OrderRequest
from live.venues.ccxt_venue import CcxtVenue
from live.venues.errors import GiveUp, VenueError

__all__ = ["DEFAULT_OPTIONS", "CoinbaseVenue"]

DEFAULT_OPTIONS: dict[str, Any] = {
    # Advanced Trade's own accounts endpoint (ccxt's default reads the Coinbase App's).
    "fetchBalance": "v3PrivateGetBrokerageAccounts",
}


def _cursor(rows: list[Any]) -> str | None:
    """The next-page cursor ccxt stashes in the first raw row's ``info``."""
    for row in rows:
        info = row.get("info") if isinstance(row, Mapping) else None
        if isinstance(info, Mapping) and info.get("cursor"):
            return str(info["cursor"])
    return None


def _not_found(err: VenueError) -> bool:
    """Coinbase's 404 ``{"error": "NOT_FOUND", ...}``, which ccxt raises as a plain error."""
    return isinstance(err, GiveUp) and "NOT_FOUND" in str(err.__cause__)


class CoinbaseVenue(CcxtVenue):
    """Coinbase Advanced Trade (ccxt id ``coinbase``)."""

    client_id_param: ClassVar[str] = "client_order_id"
    trades_page_limit: ClassVar[int | None] = 250
    ohlcv_page_limit: ClassVar[int] = 300
    order_search_pages: ClassVar[int] = 5
    market_buy_in_base: ClassVar[bool] = True
    capability_overrides: ClassVar[Mapping[str, Any]] = {
        # spot only: Coinbase's derivatives are not covered by this adapter
        "reduce_only": False,
        "funding": False,
        "contract_positions": False,
        "stop_limit_orders": True,  # stop_limit_stop_limit_gtc
        "post_only": True,  # limit_limit_gtc.post_only
    }

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        # A create refused with HTTP 200 and "success": false is recognised by its body.
        client.enableLastJsonResponse = True

    def _create_params(self, request: OrderRequest, market: dict[str, Any]) -> dict[str, Any]:
        params = super()._create_params(request, market)
        if request.order_type in ("stop_limit", "take_profit_limit"):
            params.pop("triggerPrice", None)
            params.pop("takeProfitPrice", None)
            params["stopPrice"] = float(request.stop_price or 0)
            falls = (request.order_type == "stop_limit") == (request.side == "sell")
            params["stop_direction"] = (
                "STOP_DIRECTION_STOP_DOWN" if falls else "STOP_DIRECTION_STOP_UP"
            )
        if (
            self.market_buy_in_base
            and request.order_type == "market"
            and request.side == "buy"
            and market.get("spot")
        ):
            size = self.client.amount_to_precision(request.symbol, float(request.qty))
            params["createMarketBuyOrderRequiresPrice"] = False
            params["order_configuration"] = {"market_market_ioc": {"base_size": size}}
        return params

    def _failed_create(self) -> Mapping[str, Any] | None:
        answer = self.client.last_json_response
        if isinstance(answer, Mapping) and answer.get("success") is False:
            error = answer.get("error_response")
            return error if isinstance(error, Mapping) else {}
        return None

    def _is_duplicate(self, exc: BaseException | None) -> bool:
        failed = self._failed_create()
        reasons = " ".join(str(v) for v in (failed or {}).values())
        return super()._is_duplicate(exc) or "DUPLICATE" in reasons.upper()

    def _is_refusal(self, exc: BaseException | None) -> bool:
        if isinstance(exc, ccxt.AuthenticationError | ccxt.PermissionDenied):
            return False
        return super()._is_refusal(exc) or self._failed_create() is not None

    async def _fetch_by_client_id(self, symbol: str, client_id: str) -> dict[str, Any] | None:
        tracked = self.tracker.get(client_id)
        if tracked is not None and tracked.venue_order_id is not None:
            try:
                with self.calling("fetch_order", client_id=client_id, normal=_not_found):
                    order: dict[str, Any] = await self.client.fetch_order(
                        tracked.venue_order_id, symbol
                    )
            except GiveUp as err:
                if _not_found(err):
                    return None
                raise
            return order
        since = None
        if tracked is not None and tracked.sent_ms is not None:
            since = tracked.sent_ms - 60_000
        params: dict[str, Any] = {}
        for _ in range(self.order_search_pages):
            with self.calling("fetch_orders", client_id=client_id):
                orders = await self.client.fetch_orders(symbol, since, 100, params)
            for candidate in orders:
                if candidate.get("clientOrderId") == client_id:
                    return dict(candidate)
            cursor = _cursor(orders)
            if not cursor:
                return None
            params = {"cursor": cursor}
        return None

    async def _trades_of_order(
        self, symbol: str, venue_order_id: str, since: int | None
    ) -> list[Any]:
        # The fills endpoint filters by order id.
        out: dict[str, dict[str, Any]] = {}
        params: dict[str, Any] = {"order_ids": [venue_order_id]}
        while True:
            with self.calling("fetch_my_trades"):
                page = await self.client.fetch_my_trades(
                    symbol, None, self.trades_page_limit, params
                )
            fresh = [t for t in page if trade_key(t) not in out]
            out.update((trade_key(t), t) for t in fresh)
            cursor = _cursor(page)
            if not fresh or not cursor:
                return [t for t in out.values() if str(t.get("order")) == venue_order_id]
            params = {"order_ids": [venue_order_id], "cursor": cursor}

    async def _trades_since(self, symbol: str, since_ms: int | None) -> list[dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        params: dict[str, Any] = {}
        while True:
            with self.calling("fetch_my_trades"):
                page = await self.client.fetch_my_trades(
                    symbol, since_ms, self.trades_page_limit, params
                )
            fresh = [t for t in page if trade_key(t) not in out]
            for trade in fresh:
                out[trade_key(trade)] = trade
            cursor = _cursor(page)
            if not fresh or not cursor:
                return list(out.values())
            params = {"cursor": cursor}
