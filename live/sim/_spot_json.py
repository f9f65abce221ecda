"""Binance spot's JSON shapes of the simulated book's orders, trades and user-data events."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from live.sim._book import Fill, Order, OrderEvent, fmt
from live.sim._spot_types import STOP_TYPES

if TYPE_CHECKING:
    from live.sim._book import Book

__all__ = ["account_position", "execution_report", "order_json", "trade_json"]


def order_json(
    order: Order, *, full: bool = False, fills: list[Fill] | None = None
) -> dict[str, Any]:
    """An order as ``GET /api/v3/order`` (or, with ``full``, ``POST`` FULL) reports it."""
    body: dict[str, Any] = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": order.list_id,
        "clientOrderId": order.client_order_id,
        "price": fmt(order.price),
        "origQty": fmt(order.qty),
        "executedQty": fmt(order.executed),
        "cummulativeQuoteQty": fmt(order.quote_executed),
        "status": order.status,
        "timeInForce": order.time_in_force,
        "type": order.type,
        "side": order.side,
        "workingTime": order.time,
        "selfTradePreventionMode": "EXPIRE_MAKER",
    }
    if full:
        body["transactTime"] = order.update_time
        body["fills"] = [
            {
                "price": fmt(f.price),
                "qty": fmt(f.qty),
                "commission": fmt(f.commission),
                "commissionAsset": f.commission_asset,
                "tradeId": f.trade_id,
            }
            for f in fills or []
        ]
    if order.type in STOP_TYPES:
        body["stopPrice"] = fmt(order.stop_price)
    if not full:
        body |= {
            "stopPrice": fmt(order.stop_price),
            "icebergQty": fmt(Decimal(0)),
            "time": order.time,
            "updateTime": order.update_time,
            "isWorking": order.working,
            "origQuoteOrderQty": fmt(Decimal(0)),
        }
    return body


def trade_json(f: Fill) -> dict[str, Any]:
    """A ``myTrades`` row."""
    return {
        "symbol": f.symbol,
        "id": f.trade_id,
        "orderId": f.order_id,
        "orderListId": -1,
        "price": fmt(f.price),
        "qty": fmt(f.qty),
        "quoteQty": fmt(f.quote_qty),
        "commission": fmt(f.commission),
        "commissionAsset": f.commission_asset,
        "time": f.time,
        "isBuyer": f.side == "BUY",
        "isMaker": f.is_maker,
        "isBestMatch": True,
    }


def execution_report(event: OrderEvent, now: int) -> dict[str, Any]:
    """The user-data ``executionReport`` of ``event`` (read while the order is in that state).

    As on Binance, a ``CANCELED`` report carries the cancel request's id in ``c`` and the
    order's own client id in ``C``; every other report has the order's client id in ``c``.
    """
    order, fill = event.order, event.fill
    canceled = event.kind == "CANCELED"
    zero = Decimal(0)
    return {
        "e": "executionReport",
        "E": now,
        "s": order.symbol,
        "c": event.cancel_client_id if canceled else order.client_order_id,
        "S": order.side,
        "o": order.type,
        "f": order.time_in_force,
        "q": fmt(order.qty),
        "p": fmt(order.price),
        "P": fmt(order.stop_price),
        "F": fmt(zero),
        "g": order.list_id,
        "C": order.client_order_id if canceled else "",
        "x": event.kind,
        "X": order.status,
        "r": "NONE",
        "i": order.order_id,
        "l": fmt(fill.qty if fill else zero),
        "z": fmt(order.executed),
        "L": fmt(fill.price if fill else zero),
        "n": fmt(fill.commission if fill else zero),
        "N": fill.commission_asset if fill else None,
        "T": fill.time if fill else order.update_time,
        "t": fill.trade_id if fill else -1,
        "I": 0,
        "w": order.working and order.type != "MARKET",
        "m": fill.is_maker if fill else False,
        "M": fill is not None,
        "O": order.time,
        "Z": fmt(order.quote_executed),
        "Y": fmt(fill.quote_qty if fill else zero),
        "Q": fmt(zero),
        "W": order.time,
        "V": "EXPIRE_MAKER",
    }


def account_position(book: Book, assets: list[str], now: int) -> dict[str, Any]:
    """The user-data ``outboundAccountPosition`` event: free and locked of ``assets``."""
    return {
        "e": "outboundAccountPosition",
        "E": now,
        "u": now,
        "B": [
            {
                "a": a,
                "f": fmt(book.free.get(a, Decimal(0))),
                "l": fmt(book.locked.get(a, Decimal(0))),
            }
            for a in assets
        ],
    }
