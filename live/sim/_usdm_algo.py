"""USD-M conditional (algo) orders in the simulator: STOP_MARKET, TAKE_PROFIT_MARKET,
TRAILING_STOP_MARKET and the limit-priced STOP / TAKE_PROFIT, as Binance's algo order API
(``/fapi/v1/algoOrder``) has them (ccxt 4.5 sends every USD-M conditional order there).

Rules (what the simulated book does, and Binance's codes where it refuses):

- ``algoType=CONDITIONAL``; ``type`` one of the five above (else ``-1116``). ``triggerPrice``
  is mandatory on the stops and take-profits (``-1102``), ``price`` on STOP / TAKE_PROFIT
  (``-1102``; off the tick grid ``-4014``), ``callbackRate`` (0.1 to 10, percent)
  on the trailing stop (``-2007 "Invalid callBack rate."`` out of range); ``activatePrice`` is
  optional (default: the mark price at placement).
- ``closePosition=true`` closes the whole position at the trigger and takes no ``quantity``
  and no ``reduceOnly`` (``-1106 "Parameter 'reduceOnly' sent when not required."``); else
  ``quantity`` is mandatory.
- A stop the price has already reached is refused: ``-2021 "Order would immediately
  trigger."`` (``workingType`` CONTRACT_PRICE: the last price, the current bar's open here).
- Triggers follow the last price bar by bar as on spot: a STOP_MARKET sell at or below its
  trigger, a buy at or above; a TAKE_PROFIT_MARKET the other way; a gapped open triggers at the
  open. A trailing sell stop triggers when the price falls ``callbackRate`` % below the highest
  price since activation (the highs of the bars *before* the one checked: within a bar the
  order of its high and low is unknown, and the trailing stop is not given the benefit).
- Once triggered, the algo order is ``FINISHED`` and a MARKET order (``actualOrderId``; its
  ``clientOrderId`` is the algo's ``clientAlgoId`` in this simulator) fills at the trigger
  price; a reduce-only one that would not reduce the position ends ``EXPIRED`` instead.
  STOP / TAKE_PROFIT place a LIMIT order at ``price`` instead: filled at the trigger price
  (taker) when its limit allows it there, else resting (GTC) and filled at its price from the
  next bar on, when a bar trades through it — a stop-limit that triggers in a gap and does not
  fill, as on spot and Coinbase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from live.sim._book import ApiError, missing, number_param
from live.sim._candles import dec
from live.sim._spot_types import trigger_price

__all__ = ["ALGO_TYPES", "LIMIT_ALGO_TYPES", "AlgoOrder", "algo_json", "algo_terms", "algo_trigger"]

ALGO_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET", "STOP", "TAKE_PROFIT")
LIMIT_ALGO_TYPES = ("STOP", "TAKE_PROFIT")  # a LIMIT order at ``price`` once triggered
_ZERO = Decimal(0)


@dataclass
class AlgoOrder:
    """One conditional order and its state (``algoStatus``: NEW, CANCELED, FINISHED, EXPIRED)."""

    algo_id: int
    client_algo_id: str
    symbol: str
    side: str
    type: str
    qty: Decimal  # 0 with close_position
    trigger: Decimal  # 0 for a trailing stop
    reduce_only: bool
    close_position: bool
    callback_rate: Decimal
    activate: Decimal
    time: int
    update_time: int
    placed_bar: int
    status: str = "NEW"
    actual_order_id: int = 0
    peak: Decimal = _ZERO  # trailing: the best price since activation
    active: bool = False  # trailing: activation price reached
    price: Decimal = _ZERO  # STOP / TAKE_PROFIT: the limit placed at the trigger

    @property
    def is_open(self) -> bool:
        return self.status == "NEW"


def algo_terms(p: Mapping[str, str], mark: Decimal, tick: Decimal) -> dict[str, object]:
    """The checked terms of a ``POST /fapi/v1/algoOrder`` (keyword arguments of
    :class:`AlgoOrder` but ids, times and bar), refused in Binance's order."""
    if p.get("algoType") != "CONDITIONAL":
        raise ApiError(
            -1102, "Mandatory parameter 'algoType' was not sent, was empty/null, or malformed."
        )
    side, kind = p.get("side", ""), p.get("type", "")
    if side not in ("BUY", "SELL"):
        raise ApiError(-1117, "Invalid side.") if side else missing("side")
    if kind not in ALGO_TYPES:
        raise ApiError(-1116, "Invalid orderType.")
    close, reduce_only, qty = _size_terms(p, kind)
    trigger, rate, activate, price = _ZERO, _ZERO, mark, _ZERO
    if kind == "TRAILING_STOP_MARKET":
        rate = number_param(p, "callbackRate")
        if not Decimal("0.1") <= rate <= 10:
            raise ApiError(-2007, "Invalid callBack rate.")
        if p.get("activatePrice"):
            activate = number_param(p, "activatePrice")
    else:
        trigger = _on_tick(p, "triggerPrice", tick)
        if kind in LIMIT_ALGO_TYPES:
            price = _on_tick(p, "price", tick)
        elif p.get("price"):
            raise ApiError(-1106, "Parameter 'price' sent when not required.")
        falls = kind.startswith("STOP") == (side == "SELL")
        if (mark <= trigger) if falls else (mark >= trigger):
            raise ApiError(-2021, "Order would immediately trigger.")
    return {
        "side": side, "type": kind, "qty": qty, "trigger": trigger, "reduce_only": reduce_only,
        "close_position": close, "callback_rate": rate, "activate": activate, "price": price,
    }  # fmt: skip


def _size_terms(p: Mapping[str, str], kind: str) -> tuple[bool, bool, Decimal]:
    """``(closePosition, reduceOnly, quantity)`` of an algo order, refused as Binance does."""
    close = p.get("closePosition", "false").lower() == "true"
    reduce_only = p.get("reduceOnly", "false").lower() == "true"
    if close and reduce_only:
        raise ApiError(-1106, "Parameter 'reduceOnly' sent when not required.")
    if close and kind in LIMIT_ALGO_TYPES:
        raise ApiError(-1106, "Parameter 'closePosition' sent when not required.")
    if close and p.get("quantity"):
        raise ApiError(-1106, "Parameter 'quantity' sent when not required.")
    qty = _ZERO if close else number_param(p, "quantity")
    if not close and qty <= 0:
        raise ApiError(-4003, "Quantity less than or equal to zero.")
    return close, reduce_only, qty


def _on_tick(p: Mapping[str, str], name: str, tick: Decimal) -> Decimal:
    """The price parameter ``name``: -1102 if absent, -4014 if not a positive tick multiple."""
    price = number_param(p, name)
    if price <= 0 or price % tick:
        raise ApiError(-4014, "Price not increased by tick size.")
    return price


def algo_trigger(
    order: AlgoOrder, bar: tuple[float, float, float], i: int, tick: Decimal
) -> Decimal | None:
    """The price at which bar ``i`` ``(open, high, low)`` triggers ``order``, or ``None``
    (a trailing stop's peak moves with the bar afterwards; its level is the first price on
    the ``tick`` grid at or beyond ``callbackRate`` from the peak)."""
    gap = i > order.placed_bar
    if order.type != "TRAILING_STOP_MARKET":
        kind = "STOP_LOSS" if order.type.startswith("STOP") else "TAKE_PROFIT"
        return trigger_price(kind, order.side, order.trigger, bar, gap=gap)
    o, high, low = (dec(x) for x in bar)
    sell = order.side == "SELL"
    if not order.active:
        reached = (high >= order.activate) if sell else (low <= order.activate)
        if reached:  # active from the activation price on; its bar only moves the peak
            order.active, order.peak = True, order.activate
            order.peak = max(order.peak, high) if sell else min(order.peak, low)
        return None
    rate = order.callback_rate / 100
    level = order.peak * (1 - rate) if sell else order.peak * (1 + rate)
    level = (level / tick).to_integral_value(ROUND_FLOOR if sell else ROUND_CEILING) * tick
    hit: Decimal | None = None
    if sell:
        hit = o if o <= level else (level if low <= level else None)
    else:
        hit = o if o >= level else (level if high >= level else None)
    if hit is None:
        order.peak = max(order.peak, high) if sell else min(order.peak, low)
    return hit


def algo_json(
    a: AlgoOrder, qty_text: str, price_text: str, limit_text: str = "0"
) -> dict[str, object]:
    """An algo order as ``/fapi/v1/algoOrder`` reports it."""
    return {
        "algoId": a.algo_id,
        "clientAlgoId": a.client_algo_id,
        "algoType": "CONDITIONAL",
        "orderType": a.type,
        "symbol": a.symbol,
        "side": a.side,
        "positionSide": "BOTH",
        "timeInForce": "GTC",
        "quantity": qty_text,
        "algoStatus": a.status,
        "actualOrderId": str(a.actual_order_id) if a.actual_order_id else "",
        "triggerPrice": price_text,
        "price": limit_text,
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "closePosition": a.close_position,
        "reduceOnly": a.reduce_only,
        "activatePrice": f"{a.activate:f}" if a.type == "TRAILING_STOP_MARKET" else "",
        "callbackRate": f"{a.callback_rate:f}" if a.type == "TRAILING_STOP_MARKET" else "",
        "createTime": a.time,
        "updateTime": a.update_time,
        "triggerTime": a.update_time if a.actual_order_id else 0,
        "goodTillDate": 0,
    }
