"""Coinbase Advanced Trade bracket orders (``trigger_bracket_gtc``) as an exit pair.

The runner holds a position's stop-loss and take-profit as two orders of one group; Coinbase
holds them as **one** order: ``trigger_bracket_gtc`` with the take-profit's ``limit_price`` and
the stop-loss's ``stop_trigger_price`` (once triggered, Coinbase places the stop leg as a limit
5 % beyond the trigger). The bracket goes under the stop-loss leg's client id (the *primary*);
the take-profit leg's client id is an alias the adapter remembers. A leg's state is read off
the bracket: open → both ``ACKNOWLEDGED``; cancelled → both ``CANCELLED``; filled → the leg
that fired ``FILLED`` (the stop leg when ``trigger_status`` is ``STOP_TRIGGERED``, else the
limit leg) and its sibling ``EXPIRED``, as a venue OCO's other leg ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from live.orders import OrderState, QueryResult
from live.venues._ccxt_orders import order_state
from live.venues._ccxt_util import dec
from live.venues.base import OrderRequest

__all__ = [
    "BRACKET",
    "BracketLegs",
    "bracket_legs",
    "leg_result",
    "normalised",
    "owner",
    "take_price",
]

BRACKET = "trigger_bracket_gtc"
_STOP_LEGS = frozenset({"stop_limit", "stop_market"})
_TAKE_LEGS = frozenset({"take_profit_limit", "take_profit_market", "limit"})


class BracketLegs(NamedTuple):
    """The client ids of one bracket: ``stop`` (the order's own id) and ``take`` (an alias)."""

    stop: str
    take: str


def bracket_legs(requests: Sequence[OrderRequest]) -> tuple[OrderRequest, OrderRequest] | str:
    """``(stop leg, take-profit leg)`` of an exit pair, or why it cannot be one bracket."""
    if len(requests) != 2 or len({(r.symbol, r.side, r.qty) for r in requests}) != 1:
        return "a bracket is two exits of one symbol, side and quantity"
    stops = [r for r in requests if r.order_type in _STOP_LEGS]
    takes = [r for r in requests if r.order_type in _TAKE_LEGS]
    if len(stops) != 1 or len(takes) != 1:
        kinds = sorted(r.order_type for r in requests)
        return f"a bracket is one stop and one take-profit or limit leg, got {kinds}"
    stop, take = stops[0], takes[0]
    if any(r.post_only or r.time_in_force not in (None, "GTC") for r in requests):
        return "a bracket is GTC and cannot be post-only"
    level = take.limit_price if take.limit_price is not None else take.stop_price
    if stop.stop_price is None or level is None:
        return "a bracket needs the stop leg's stop_price and the take-profit's price"
    below = stop.side == "sell"
    if (stop.stop_price >= level) if below else (stop.stop_price <= level):
        where = "below" if below else "above"
        return f"a {stop.side} bracket's stop {stop.stop_price} must lie {where} its limit {level}"
    return stop, take


def take_price(take: OrderRequest) -> Decimal:
    """The bracket's ``limit_price``: the take-profit leg's limit (or its level)."""
    level = take.limit_price if take.limit_price is not None else take.stop_price
    assert level is not None
    return level


def normalised(order: Mapping[str, Any]) -> dict[str, Any]:
    """A ccxt order with a bracket's size, limit and trigger filled in (ccxt 4.5 parses
    ``trigger_bracket_gtc`` as a configuration it does not know: no amount, no price)."""
    out = dict(order)
    info = out.get("info") or {}
    config = (info.get("order_configuration") or {}) if isinstance(info, Mapping) else {}
    bracket = config.get(BRACKET) if isinstance(config, Mapping) else None
    if isinstance(bracket, Mapping):
        if out.get("amount") is None and bracket.get("base_size"):
            out["amount"] = float(bracket["base_size"])
        if out.get("price") is None and bracket.get("limit_price"):
            out["price"] = float(bracket["limit_price"])
        if out.get("triggerPrice") is None and bracket.get("stop_trigger_price"):
            out["triggerPrice"] = float(bracket["stop_trigger_price"])
    return out


def fired_leg(order: Mapping[str, Any], legs: BracketLegs) -> str:
    """The leg that filled a filled bracket."""
    info = order.get("info") or {}
    triggered = isinstance(info, Mapping) and info.get("trigger_status") == "STOP_TRIGGERED"
    return legs.stop if triggered else legs.take


def owner(order: Mapping[str, Any], legs: BracketLegs) -> str:
    """The leg the bracket's venue order id (and its trades) belong to: the one that fired a
    filled bracket, else the stop leg (the order's own client id)."""
    state = order_state(normalised(order))
    if state in (OrderState.FILLED, OrderState.PARTIALLY_FILLED):
        return fired_leg(order, legs)
    return legs.stop


def leg_result(client_id: str, legs: BracketLegs, order: Mapping[str, Any]) -> QueryResult:
    """One leg's :class:`~live.orders.QueryResult`, read off its bracket's ccxt order."""
    state = order_state(normalised(order)) or OrderState.ACKNOWLEDGED
    oid = None if order.get("id") in (None, "") else str(order["id"])
    filled = dec(order.get("filled") or 0)
    if state in (OrderState.FILLED, OrderState.PARTIALLY_FILLED):
        if client_id != fired_leg(order, legs):
            return QueryResult(client_id, OrderState.EXPIRED, Decimal(0), oid)
        return QueryResult(client_id, state, filled, oid)
    if state is OrderState.EXPIRED:  # ended short of its size: cancelled with what it filled
        state = OrderState.CANCELLED
    return QueryResult(client_id, state, Decimal(0) if filled == 0 else filled, oid)
