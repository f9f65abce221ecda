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
- Brackets (``capabilities.oco``, :meth:`CoinbaseVenue.submit_oco`): a stop-loss and a
  take-profit of one position go as **one** ``trigger_bracket_gtc`` order (the take-profit's
  ``limit_price``, the stop's ``stop_trigger_price``; ccxt 4.5 does not build it, so the
  adapter passes the ``order_configuration`` itself, which replaces the one ccxt built). It
  carries the stop leg's client id; the take-profit leg's id is remembered by the adapter
  (:mod:`live.venues.coinbase._bracket`): queries, cancels, fills, open orders and streamed
  updates of either leg are read off the bracket. Coinbase places a triggered stop leg as a
  limit 5 % beyond the trigger (the stop leg's own ``limit_price`` is not sent). After a
  restart the take-profit leg's id is unknown to the venue: it reads ``NotFound`` (after the
  order manager's grace period the leg is ``CANCELLED``; the runner's stop sync then finds
  the pair incomplete, cancels the bracket by the stop leg's id and places a new one).
  Bracket refusals (``PREVIEW_INVALID_BRACKET_*``, ``INVALID_STOP_PRICE`` for a trigger the
  last price has reached → ``would_trigger``) → ``Rejected`` for both legs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, ClassVar

import ccxt

from live.orders import (
    Ack,
    Cancelled,
    FillReport,
    NotFound,
    QueryResult,
    Rejected,
    Report,
)
from live.venues._ccxt_orders import ENDED, created_reports
from live.venues._ccxt_util import trade_key
from live.venues.base import OrderRequest, VenueFill, VenueOrder
from live.venues.ccxt_venue import CcxtVenue
from live.venues.coinbase._bracket import (
    BRACKET,
    BracketLegs,
    bracket_legs,
    leg_result,
    normalised,
    owner,
    take_price,
)
from live.venues.errors import GiveUp, OrderMissing, OutcomeUnknown, VenueError, refusal_kind

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
        "oco": True,  # an exit pair as one trigger_bracket_gtc order
    }

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        # A create refused with HTTP 200 and "success": false is recognised by its body.
        client.enableLastJsonResponse = True
        self._brackets: dict[str, BracketLegs] = {}  # either leg's client id -> both

    # -- brackets ----------------------------------------------------------------------------

    async def submit_oco(self, requests: Sequence[OrderRequest]) -> list[Report]:
        """Send a stop-loss and a take-profit of one position as one bracket order (see the
        module docstring); a refusal is ``Rejected`` for both legs."""
        await self.start()
        pair = bracket_legs(requests)
        if isinstance(pair, str):
            return [Rejected(r.client_id, reason=f"not sent: {pair}") for r in requests]
        stop, take = pair
        for r in requests:
            if self.tracker.was_sent(r.client_id):
                raise OutcomeUnknown(
                    "this client id was already sent by this adapter; query it, do not resend",
                    venue=self.name, operation="create_bracket", state_changing=True,
                    source="AlreadySent", client_id=r.client_id,
                )  # fmt: skip
        info = await self.market(stop.symbol)
        why = next((w for r in requests if (w := self._local_refusal(r, info)) is not None), None)
        if why is not None:
            return [Rejected(r.client_id, reason=f"not sent: {why}") for r in requests]
        c, symbol = self.client, stop.symbol
        limit = take_price(take)
        assert stop.stop_price is not None
        params = {
            self.client_id_param: stop.client_id,
            "order_configuration": {BRACKET: {
                "base_size": c.amount_to_precision(symbol, float(stop.qty)),
                "limit_price": c.price_to_precision(symbol, float(limit)),
                "stop_trigger_price": c.price_to_precision(symbol, float(stop.stop_price)),
            }},
        }  # fmt: skip
        legs = BracketLegs(stop.client_id, take.client_id)
        for r in requests:
            self.tracker.sending(r.client_id, symbol, self.now_ms())
        try:
            with self.calling(
                "create_order", state_changing=True, client_id=stop.client_id,
                normal=self._answered,
            ):  # fmt: skip
                order = await c.create_order(
                    symbol, "limit", stop.side, float(stop.qty), float(limit), params
                )
        except GiveUp as err:
            for r in requests:
                self.tracker.forget(r.client_id)
            if self._is_refusal(err.__cause__):
                reason = f"{refusal_kind(err.__cause__)}: {err.source}: {err.detail}"
                return [Rejected(r.client_id, reason=reason) for r in requests]
            raise
        self._brackets[stop.client_id] = self._brackets[take.client_id] = legs
        reports = created_reports(self.tracker, stop.client_id, symbol, order)
        oid = self.tracker.venue_order_id(stop.client_id)
        return [*reports, Ack(take.client_id, oid)]

    async def query(self, symbol: str, client_id: str) -> Report:
        legs = self._brackets.get(client_id)
        if legs is None:
            return await super().query(symbol, client_id)
        await self.start()
        try:
            order = await self._fetch_by_client_id(symbol, legs.stop)
        except OrderMissing:
            order = None
        if order is None:
            return NotFound(client_id)
        result = leg_result(client_id, legs, order)
        done = result.status in ENDED
        mine = owner(order, legs)  # the venue order id (its trades) maps to this leg
        for leg in sorted(legs, key=lambda c: c == mine):
            self.tracker.track(
                leg, symbol, result.venue_order_id if leg == mine else None, done=done
            )
        return result

    async def cancel(self, symbol: str, client_id: str) -> list[Report]:
        legs = self._brackets.get(client_id)
        if legs is None:
            return await super().cancel(symbol, client_id)
        reports = await super().cancel(symbol, legs.stop)  # the one order of both legs
        if any(isinstance(r, Cancelled) for r in reports):
            for leg in legs:
                self.tracker.track(leg, symbol, done=True)
            return [Cancelled(client_id)]
        return [await self.query(symbol, client_id)]

    async def order_fills(
        self, symbol: str, client_id: str, venue_order_id: str | None
    ) -> list[VenueFill]:
        legs = self._brackets.get(client_id)
        if legs is None:
            return await super().order_fills(symbol, client_id, venue_order_id)
        result = await self.query(symbol, client_id)
        if not isinstance(result, QueryResult) or Decimal(str(result.filled_qty)) <= 0:
            return []  # the sibling of the leg that fired: no fills of its own
        return await super().order_fills(symbol, client_id, result.venue_order_id)

    def _venue_order(self, order: Mapping[str, Any]) -> VenueOrder:
        return super()._venue_order(normalised(order))

    async def open_orders(self, symbols: Sequence[str]) -> list[VenueOrder]:
        out = await super().open_orders(symbols)
        aliases = [  # an open bracket is also its take-profit leg
            dataclasses.replace(o, client_id=legs.take)
            for o in out
            if o.client_id is not None
            and (legs := self._brackets.get(o.client_id)) is not None
            and o.client_id == legs.stop
        ]
        return out + aliases

    def reports(self) -> AsyncIterator[Report]:
        return self._leg_reports()

    async def _leg_reports(self) -> AsyncIterator[Report]:
        """The stream's reports, a bracket's update turned into each leg's state."""
        async for report in super().reports():
            legs = self._brackets.get(report.client_id)
            if legs is None or isinstance(report, Ack | FillReport):
                yield report
                continue
            for leg in legs:
                yield await self.query(self.tracker.symbol(legs.stop), leg)

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
