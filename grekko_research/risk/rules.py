"""The backtest engine's own two rules, and the deprecated engine limits.

The risk spec (:class:`~grekko_research.risk.spec.RiskSpec`) is evaluated in backtests by the
live risk engine's functions (:mod:`grekko_research.risk.evaluate`,
:mod:`grekko_research.risk.breakers`, driven by ``engine/_risk.py``). Two rules of the spec
are the engine's, because they act on its account rather than on one order, and run in the
backtest kernel and the live book alike; their limits travel in one float64 vector (``LIM_*``
indices; NaN = off, :meth:`RiskSpec.to_array`):

=====================  ========================================================  ==========================
limit                  meaning                                                   on breach
=====================  ========================================================  ==========================
``max_drawdown``       ``portfolio.drawdown.flatten_at``: equity ≥ (1 − this) ×   flatten everything and halt
                       running peak equity
``max_orders_per_day`` ``order.max_orders_per_day``: orders in one UTC day       further orders that day are
                                                                                  rejected
=====================  ========================================================  ==========================

The vector keeps its five slots (``LIM_MAX_POSITION``, ``LIM_MAX_GROSS``, ``LIM_DAILY_LOSS`` are
always NaN now: ``order.max_position``, ``order.max_leverage`` and ``portfolio.daily_loss`` are
the spec's order checks and breaker). :class:`RiskLimits` is the shape before the spec,
accepted by :class:`~grekko_research.engine.EngineConfig` for one release and turned into a
spec (:meth:`RiskLimits.to_spec`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numba import njit

from grekko_research.errors import ConfigError
from grekko_research.risk.checks import drawdown_nb

if TYPE_CHECKING:
    from grekko_research.risk.spec import RiskSpec

__all__ = [
    "LIM_DAILY_LOSS",
    "LIM_MAX_DRAWDOWN",
    "LIM_MAX_GROSS",
    "LIM_MAX_ORDERS_PER_DAY",
    "LIM_MAX_POSITION",
    "N_LIMITS",
    "RULE_DAILY_LOSS",
    "RULE_LIQUIDATION",
    "RULE_MAX_DRAWDOWN",
    "RULE_MAX_GROSS",
    "RULE_MAX_ORDERS_PER_DAY",
    "RULE_MAX_POSITION",
    "RULE_NAMES",
    "RiskLimits",
    "drawdown_breached_nb",
    "orders_exhausted_nb",
]

LIM_MAX_POSITION = 0
LIM_MAX_GROSS = 1
LIM_MAX_DRAWDOWN = 2
LIM_DAILY_LOSS = 3
LIM_MAX_ORDERS_PER_DAY = 4
N_LIMITS = 5

RULE_MAX_POSITION = 1
RULE_MAX_GROSS = 2
RULE_MAX_DRAWDOWN = 3
RULE_DAILY_LOSS = 4
RULE_MAX_ORDERS_PER_DAY = 5
RULE_LIQUIDATION = 6
RULE_NAMES = {
    RULE_MAX_POSITION: "max_position",
    RULE_MAX_GROSS: "max_gross_exposure",
    RULE_MAX_DRAWDOWN: "max_drawdown",
    RULE_DAILY_LOSS: "daily_loss",
    RULE_MAX_ORDERS_PER_DAY: "max_orders_per_day",
    RULE_LIQUIDATION: "liquidation",
}


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Portfolio risk limits; ``None`` switches a rule off.

    Attributes
    ----------
    max_position
        Largest \\|value\\| of one asset's position as a multiple of equity (0.25 = 25 %).
    max_gross
        Largest gross exposure (Σ \\|position values\\|) as a multiple of equity.
    max_drawdown
        Largest fall from peak equity (0.2 = 20 %) before flattening and halting.
    daily_loss
        Largest fall from the equity at the first bar of a UTC day before new
        exposure is blocked for the rest of that day.
    max_orders_per_day
        Most orders submitted in one UTC day.
    """

    max_position: float | None = None
    max_gross: float | None = None
    max_drawdown: float | None = None
    daily_loss: float | None = None
    max_orders_per_day: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_position", "max_gross", "max_drawdown", "daily_loss"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"risk limit {name} must be a positive number, got {value!r}")
        for name in ("max_drawdown", "daily_loss"):
            value = getattr(self, name)
            if value is not None and value >= 1:
                raise ConfigError(f"risk limit {name} is a fraction below 1, got {value!r}")
        if self.max_orders_per_day is not None and self.max_orders_per_day < 1:
            raise ConfigError("risk limit max_orders_per_day must be at least 1")

    def to_spec(self) -> RiskSpec:
        """The :class:`~grekko_research.risk.spec.RiskSpec` these limits mean.

        ``max_position`` → ``order.max_position``, ``max_gross`` → ``order.max_leverage``,
        ``max_drawdown`` → ``portfolio.drawdown.flatten_at``, ``daily_loss`` →
        ``portfolio.daily_loss.limit`` (``action: reduce``: no new exposure until the next UTC
        day), ``max_orders_per_day`` → ``order.max_orders_per_day``.
        """
        from grekko_research.risk.spec import (
            DailyLossBreaker,
            DrawdownBreaker,
            OrderRisk,
            PortfolioRisk,
            RiskSpec,
        )

        return RiskSpec(
            order=OrderRisk(
                max_position=self.max_position,
                max_leverage=self.max_gross,
                max_orders_per_day=self.max_orders_per_day,
            ),
            portfolio=PortfolioRisk(
                drawdown=DrawdownBreaker(flatten_at=self.max_drawdown),
                daily_loss=DailyLossBreaker(limit=self.daily_loss, action="reduce"),
            ),
        )

    def to_array(self) -> np.ndarray:
        """Return the limits as the float64 vector kernels take (NaN = off)."""
        out = np.full(N_LIMITS, np.nan)
        for index, value in (
            (LIM_MAX_POSITION, self.max_position),
            (LIM_MAX_GROSS, self.max_gross),
            (LIM_MAX_DRAWDOWN, self.max_drawdown),
            (LIM_DAILY_LOSS, self.daily_loss),
            (LIM_MAX_ORDERS_PER_DAY, self.max_orders_per_day),
        ):
            if value is not None:
                out[index] = float(value)
        return out


@njit(cache=True, nogil=True)
def _on(limit: float) -> bool:
    return limit == limit and limit > 0.0  # not NaN and positive


@njit(cache=True, nogil=True)
def drawdown_breached_nb(equity: float, peak: float, limits: np.ndarray) -> bool:
    """Return True when equity has fallen from its peak by more than the limit (the spec's
    drawdown check, :func:`~grekko_research.risk.checks.drawdown_nb`)."""
    lim = limits[LIM_MAX_DRAWDOWN]
    return _on(lim) and peak > 0.0 and not drawdown_nb(equity, peak, lim)[0]


@njit(cache=True, nogil=True)
def orders_exhausted_nb(orders_today: int, limits: np.ndarray) -> bool:
    """Return True when no further order may be submitted today."""
    lim = limits[LIM_MAX_ORDERS_PER_DAY]
    return _on(lim) and orders_today >= lim
