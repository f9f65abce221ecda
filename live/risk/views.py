"""What the risk engine reads and what it answers: small frozen value objects."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from grekko_research.calendar import bars_per_year
from grekko_research.risk.state import TradingState  # the one trading state, re-exported
from live.orders import InvalidIntentError

__all__ = [
    "EventDraft",
    "MarketView",
    "OpsView",
    "PortfolioView",
    "ProposedOrder",
    "RiskDecision",
    "TradingState",
]

EventDraft = tuple[str, str, dict[str, Any]]
"""``(kind, stream, payload)``: an event for the caller to append to the event store."""


@dataclass(frozen=True, slots=True)
class ProposedOrder:
    """An order before it is sent.

    ``qty`` is positive; ``price`` is the limit price of a limit order, or for a market order
    the expected fill price (``None``: the market's last price). ``client_id`` names the
    decision's event stream. ``protective``: an exit of the risk system itself (the engine
    book's drawdown flatten, a kill switch's flatten), which passes in every trading state
    while it only reduces the position (:mod:`grekko_research.risk.evaluate`).
    """

    symbol: str
    side: Literal["buy", "sell"]
    qty: float
    price: float | None = None
    order_type: Literal["market", "limit"] = "market"
    client_id: str | None = None
    protective: bool = False

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise InvalidIntentError(f"order side must be 'buy' or 'sell', got {self.side!r}")
        if self.order_type not in ("market", "limit"):
            raise InvalidIntentError(
                f"order type must be 'market' or 'limit', got {self.order_type!r}"
            )
        if self.order_type == "limit" and self.price is None:
            raise InvalidIntentError("a limit order needs a price")

    @property
    def signed_qty(self) -> float:
        """``qty`` with the side's sign (+ buys)."""
        return float(self.qty) if self.side == "buy" else -float(self.qty)

    @classmethod
    def from_intent(cls, intent: Any, price: float | None = None) -> ProposedOrder:
        """Build from a :class:`live.orders.Intent` (its limit price, else ``price``)."""
        limit = intent.limit_price
        return cls(
            symbol=intent.symbol,
            side=intent.side,
            qty=float(intent.qty),
            price=float(limit) if limit is not None else price,
            order_type=intent.order_type,
            client_id=intent.client_id,
        )


@dataclass(frozen=True)
class PortfolioView:
    """The account as the risk engine sees it: equity and signed positions (units) per symbol."""

    equity: float
    positions: Mapping[str, float] = field(default_factory=dict)

    def position(self, symbol: str) -> float:
        return float(self.positions.get(symbol, 0.0))

    def after(self, symbol: str, signed_qty: float) -> PortfolioView:
        """The view once an order of ``signed_qty`` units of ``symbol`` (+ buys) has filled.

        The next order of the same decision is checked against it, as a backtest checks each
        order against the positions the orders before it at the same execution point left
        (the second leg of a reversal against the flat position the first leaves). The
        equity stays the last close's, as in the backtest.
        """
        positions = dict(self.positions)
        positions[symbol] = self.position(symbol) + float(signed_qty)
        return PortfolioView(equity=self.equity, positions=positions)


@dataclass(frozen=True)
class MarketView:
    """Market data for the checks.

    ``prices``: last trade (or mark) per symbol, values positions and bands orders;
    ``closes``: recent closes per symbol, oldest first (volatility and price-move breakers);
    ``periods_per_year``: bars per year (annualises volatility, 8760 for hourly bars);
    ``lot`` / ``tick`` / ``min_notional``: the venue's rules per symbol.
    """

    prices: Mapping[str, float] = field(default_factory=dict)
    closes: Mapping[str, Sequence[float] | np.ndarray] = field(default_factory=dict)
    periods_per_year: float = bars_per_year(3_600_000)  # hourly, by the one calendar
    lot: Mapping[str, float] = field(default_factory=dict)
    tick: Mapping[str, float] = field(default_factory=dict)
    min_notional: Mapping[str, float] = field(default_factory=dict)

    def price(self, symbol: str) -> float:
        """The symbol's last price, NaN when unknown."""
        value = self.prices.get(symbol)
        return math.nan if value is None else float(value)


@dataclass(frozen=True)
class OpsView:
    """Operational facts: time of the last bar or tick received, since when the websocket is
    down (``None``: up), recent error times, and the venue's clock minus ours (``None``:
    unknown). ``failed_calls``: the recent failures as ``(ts_ms, call, error class)``, which
    the error-rate breaker names (its count is of ``error_times_ms`` when given, else of
    these)."""

    last_data_ms: int | None = None
    ws_down_since_ms: int | None = None
    error_times_ms: Sequence[int] = ()
    clock_skew_ms: float | None = None
    failed_calls: Sequence[tuple[int, str, str]] = ()


@dataclass(frozen=True)
class RiskDecision:
    """The answer to :meth:`~live.risk.RiskEngine.check_order`.

    ``action``: ``"approve"`` (send ``qty`` = the order's), ``"shrink"`` (send the smaller
    ``qty``) or ``"reject"`` (``qty`` 0). ``rule``, ``value`` and ``limit`` name the check that
    shrank or rejected it and what it measured. ``events`` are the drafts to append.
    """

    action: Literal["approve", "shrink", "reject"]
    order: ProposedOrder
    qty: float
    state: TradingState
    rule: str | None = None
    value: float | None = None
    limit: float | None = None
    reason: str = ""
    events: tuple[EventDraft, ...] = ()

    @property
    def approved(self) -> bool:
        """Whether anything may be sent."""
        return self.action != "reject" and self.qty > 0
