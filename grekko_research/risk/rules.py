"""Risk rules as pure functions: the backtest engine calls them inside its loop, the live bridge calls the same code.

Every rule is an ``@njit`` function of plain numbers (state, order, limits)
so it runs inside numba kernels and from Python alike. A limit that is NaN or
not positive is *off*.

Limits are packed into one float64 vector (see :class:`RiskLimits` and the
``LIM_*`` indices) so kernels can take them as a single argument:

=====================  ========================================================  ==========================
limit                  meaning                                                   on breach
=====================  ========================================================  ==========================
``max_position``       \\|position value\\| of one asset ≤ this × equity          the order is reduced to fit
``max_gross``          Σ \\|position values\\| ≤ this × equity                     the order is reduced to fit
``max_drawdown``       equity ≥ (1 − this) × running peak equity                 flatten everything and halt
``daily_loss``         equity ≥ (1 − this) × equity at the day's first bar       no new exposure until the next UTC day
``max_orders_per_day`` orders submitted in one UTC day ≤ this                    further orders that day are rejected
=====================  ========================================================  ==========================

Reducing orders (closing or shrinking a position) are never blocked: a risk
rule must not keep a position open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from grekko_research.errors import ConfigError

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
    "allowed_size_nb",
    "daily_loss_breached_nb",
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
def allowed_size_nb(
    size: float,
    price: float,
    position: float,
    asset_value: float,
    gross: float,
    equity: float,
    limits: np.ndarray,
) -> tuple[float, int]:
    """Return ``(allowed signed size, rule that reduced it or 0)`` for one order.

    Parameters
    ----------
    size
        Signed order size in units (+ buys, − sells).
    price
        Expected fill price.
    position, asset_value
        The asset's current position (units) and its value at ``price``.
    gross, equity
        Portfolio gross exposure and equity at current prices.
    limits
        Vector indexed by ``LIM_*``.

    Only the part of an order that *increases* \\|position\\| is limited; the
    part that reduces it always passes.
    """
    if size == 0.0 or price <= 0.0:
        return size, 0
    new_position = position + size
    if abs(new_position) <= abs(position) and new_position * position >= 0.0:
        return size, 0  # purely reducing
    rule = 0
    allowed_abs = abs(new_position)
    lim = limits[LIM_MAX_POSITION]
    if _on(lim):
        cap = lim * max(equity, 0.0) / price
        if allowed_abs > cap:
            allowed_abs = cap
            rule = 1
    lim = limits[LIM_MAX_GROSS]
    if _on(lim):
        other = gross - abs(asset_value)
        room = lim * max(equity, 0.0) - other
        cap = max(room, 0.0) / price
        if allowed_abs > cap:
            allowed_abs = cap
            rule = 2
    if rule == 0:
        return size, 0
    sign = 1.0 if new_position > 0.0 else -1.0
    if position * sign > 0.0:
        # Growing the same side: never below the current size (a limit does
        # not force a sale), never above the cap.
        allowed_abs = max(abs(position), allowed_abs)
    return sign * allowed_abs - position, rule


@njit(cache=True, nogil=True)
def drawdown_breached_nb(equity: float, peak: float, limits: np.ndarray) -> bool:
    """Return True when equity has fallen from its peak by more than the limit."""
    lim = limits[LIM_MAX_DRAWDOWN]
    return _on(lim) and peak > 0.0 and equity < (1.0 - lim) * peak


@njit(cache=True, nogil=True)
def daily_loss_breached_nb(equity: float, day_start_equity: float, limits: np.ndarray) -> bool:
    """Return True when equity has fallen since the day's first bar by more than the limit."""
    lim = limits[LIM_DAILY_LOSS]
    return _on(lim) and day_start_equity > 0.0 and equity < (1.0 - lim) * day_start_equity


@njit(cache=True, nogil=True)
def orders_exhausted_nb(orders_today: int, limits: np.ndarray) -> bool:
    """Return True when no further order may be submitted today."""
    lim = limits[LIM_MAX_ORDERS_PER_DAY]
    return _on(lim) and orders_today >= lim
