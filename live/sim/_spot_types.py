"""Binance spot's order types in the simulator: parameters, placement refusals and triggers.

What Binance spot does, and so the simulated book (``_book.py``) does too:

- Types: ``MARKET``, ``LIMIT``, ``LIMIT_MAKER`` (post only), ``STOP_LOSS`` / ``TAKE_PROFIT``
  (a market order once triggered), ``STOP_LOSS_LIMIT`` / ``TAKE_PROFIT_LIMIT`` (a limit order
  at ``price`` once triggered). Anything else: ``-1116 "Invalid orderType."``.
- ``timeInForce`` (``GTC``, ``IOC``, ``FOK``) is mandatory on ``LIMIT`` and the ``*_LIMIT``
  stops (``-1102``), refused on the others (``-1106 "Parameter 'timeInForce' sent when not
  required."``); another value is ``-1115 "Invalid timeInForce."``.
- Triggers follow the last trade price: a ``STOP_LOSS*`` sell triggers at or below its
  ``stopPrice``, a buy at or above; a ``TAKE_PROFIT*`` sell at or above, a buy at or below.
  A stop that the market price has already reached is refused: ``-2010 "Stop price would
  trigger immediately."``; a ``LIMIT_MAKER`` that would take: ``-2010 "Order would immediately
  match and take."``.
- In the bar model the last trade price walks the bar's range: a bar whose open is already
  past the stop (a gap) triggers it at the open, else one whose range reaches it triggers it
  at the stop. Once triggered, a stop-market fills there; a stop-limit fills there when its
  limit allows (a sell's limit at or below the trigger price, a buy's at or above), else it
  rests as a limit from the next bar on: the stop-limit that triggers in a gap and does not
  fill.
- ``IOC`` fills what is marketable at placement and expires the rest; ``FOK`` fills all or
  expires (status ``EXPIRED``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from live.sim._candles import dec

__all__ = [
    "LIMIT_PRICED",
    "SPOT_ORDER_TYPES",
    "STOP_TYPES",
    "Placement",
    "Refused",
    "immediate_refusal",
    "limit_fills_at",
    "parse_placement",
    "trigger_price",
]

SPOT_ORDER_TYPES = (
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
)
STOP_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
LIMIT_PRICED = frozenset({"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
_TIF_REQUIRED = frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
_TIF = ("GTC", "IOC", "FOK")


class Refused(Exception):
    """A placement refusal: ``code`` and ``msg`` as Binance answers them."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(f"{code} {msg}")
        self.code, self.msg = code, msg


@dataclass(frozen=True)
class Placement:
    """The type-specific parameters of one new order."""

    kind: str
    price: Decimal  # 0 for MARKET, STOP_LOSS, TAKE_PROFIT
    stop_price: Decimal  # 0 for untriggered types
    time_in_force: str


def _number(p: Mapping[str, str], name: str) -> Decimal:
    raw = p.get(name)
    if not raw:
        raise Refused(
            -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
        )
    try:
        value = Decimal(raw)
    except ArithmeticError:
        raise Refused(-1100, f"Illegal characters found in parameter '{name}'.") from None
    if not value.is_finite() or value <= 0:
        raise Refused(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


def parse_placement(p: Mapping[str, str]) -> Placement:
    """Read ``type``, ``price``, ``stopPrice`` and ``timeInForce``; raise :class:`Refused`
    (the caller turns it into its ``ApiError``) where Binance refuses them."""
    kind = p.get("type", "")
    if kind not in SPOT_ORDER_TYPES:
        raise Refused(-1116, "Invalid orderType.")
    price = _number(p, "price") if kind in LIMIT_PRICED else Decimal(0)
    stop = _number(p, "stopPrice") if kind in STOP_TYPES else Decimal(0)
    tif = p.get("timeInForce")
    if kind in _TIF_REQUIRED:
        if not tif:
            raise Refused(
                -1102,
                "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.",
            )
        if tif not in _TIF:
            raise Refused(-1115, "Invalid timeInForce.")
    elif tif:
        raise Refused(-1106, "Parameter 'timeInForce' sent when not required.")
    return Placement(kind, price, stop, tif or "GTC")


def _fires_below(kind: str, side: str) -> bool:
    """Whether the stop triggers when the price falls to it (else when it rises to it)."""
    stop_loss = kind.startswith("STOP_LOSS")
    return stop_loss == (side == "SELL")


def immediate_refusal(placement: Placement, side: str, market: Decimal) -> tuple[int, str] | None:
    """Binance's refusal of an order the market price ``market`` would trigger or fill as a
    taker at once (a stop already reached; a post-only limit that would take), or ``None``."""
    kind = placement.kind
    if kind in STOP_TYPES:
        stop = placement.stop_price
        reached = market <= stop if _fires_below(kind, side) else market >= stop
        if reached:
            return -2010, "Stop price would trigger immediately."
    if kind == "LIMIT_MAKER":
        takes = placement.price >= market if side == "BUY" else placement.price <= market
        if takes:
            return -2010, "Order would immediately match and take."
    return None


def trigger_price(
    kind: str, side: str, stop: Decimal, bar: tuple[float, float, float], *, gap: bool
) -> Decimal | None:
    """The last trade price at which bar ``(open, high, low)`` triggers the stop, or ``None``.

    ``gap``: the open counts (a bar after the one the order was placed in; the placement bar's
    open was checked when the order was accepted).
    """
    o, high, low = (dec(x) for x in bar)
    if _fires_below(kind, side):
        if gap and o <= stop:
            return o
        return stop if low <= stop else None
    if gap and o >= stop:
        return o
    return stop if high >= stop else None


def limit_fills_at(side: str, limit: Decimal, price: Decimal) -> bool:
    """Whether a limit ``limit`` is marketable when the market trades at ``price``."""
    return price >= limit if side == "SELL" else price <= limit
