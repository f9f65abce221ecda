"""The live risk engine's configuration: typed, validated, built from ``risk.live``."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

from grekko_research.config.schema import GrekkoConfig, LiveRiskSection, RiskSection
from grekko_research.errors import ConfigError

__all__ = ["Action", "LiveRiskConfig", "live_risk_config"]

Action = Literal["halt", "reduce"]

_PREFIX = "risk.live"
# limits that are positive numbers when set
_POSITIVE = (
    "min_order_notional",
    "max_order_notional",
    "max_position",
    "max_gross_exposure",
    "max_net_exposure",
    "max_leverage",
    "price_band",
    "var_limit",
    "vol_limit",
    "move_limit",
    "max_data_age_s",
    "max_ws_down_s",
    "max_clock_skew_ms",
)
_FRACTIONS = ("max_drawdown", "daily_loss")  # in (0, 1)
_WINDOWS_S = ("order_window_s", "error_window_s")  # positive
_BARS = {"var_window": 2, "vol_window": 2, "move_window": 1}  # integer, at least this
_COUNTS = ("max_orders",)  # positive integers when set
_ACTIONS = ("drawdown_action", "daily_loss_action", "var_action", "ops_action")


def _key(name: str) -> str:
    return f"{_PREFIX}.{name}"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class LiveRiskConfig:
    """Limits of :class:`~live.risk.RiskEngine`; ``None`` switches a check off.

    The fields mirror ``risk.live`` in the Hydra configuration (see
    :class:`~grekko_research.config.schema.LiveRiskSection` for units). Actions say what a
    breach does: ``"halt"`` (nothing passes) or ``"reduce"`` (only orders that reduce exposure
    pass). Drawdown stays until :meth:`~live.risk.RiskEngine.resume`; daily loss lifts at the
    next UTC day; VaR ``var_cooldown_s`` after it is back under the limit (``None``: at resume);
    the volatility and price-move breakers block new entries for ``breaker_cooldown_s`` and
    until the breaker is clear; operational checks lift when their condition clears.
    """

    check_precision: bool = False
    min_order_notional: float | None = None
    max_order_notional: float | None = None
    max_position: float | None = None
    max_gross_exposure: float | None = None
    max_net_exposure: float | None = None
    max_leverage: float | None = None
    max_orders: int | None = None
    order_window_s: float = 60.0
    price_band: float | None = None
    max_drawdown: float | None = None
    drawdown_action: Action = "halt"
    daily_loss: float | None = None
    daily_loss_action: Action = "halt"
    var_limit: float | None = None
    var_confidence: float = 0.99
    var_window: int = 500
    var_action: Action = "reduce"
    var_cooldown_s: float | None = 0.0
    vol_limit: float | None = None
    vol_window: int = 24
    move_limit: float | None = None
    move_window: int = 12
    breaker_cooldown_s: float = 3600.0
    max_data_age_s: float | None = None
    max_ws_down_s: float | None = None
    max_errors: int | None = None
    error_window_s: float = 300.0
    max_clock_skew_ms: float | None = None
    ops_action: Action = "halt"

    def __post_init__(self) -> None:
        if not isinstance(self.check_precision, bool):
            raise ConfigError(f"{_key('check_precision')} must be true or false")
        for name in _POSITIVE:
            value = getattr(self, name)
            if value is not None and not (_number(value) and value > 0):
                raise ConfigError(f"{_key(name)} must be a positive number or null, got {value!r}")
        for name in _FRACTIONS:
            value = getattr(self, name)
            if value is not None and not (_number(value) and 0 < value < 1):
                raise ConfigError(f"{_key(name)} is a fraction in (0, 1) or null, got {value!r}")
        for name in _WINDOWS_S:
            value = getattr(self, name)
            if not (_number(value) and value > 0):
                raise ConfigError(f"{_key(name)} must be a positive number, got {value!r}")
        for name, least in _BARS.items():
            value = getattr(self, name)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= least):
                raise ConfigError(
                    f"{_key(name)} must be an integer of at least {least}, got {value!r}"
                )
        for name in (*_COUNTS, "max_errors"):
            value = getattr(self, name)
            if value is not None and not (
                isinstance(value, int) and not isinstance(value, bool) and value >= 0
            ):
                raise ConfigError(
                    f"{_key(name)} must be a non-negative integer or null, got {value!r}"
                )
        if self.max_orders is not None and self.max_orders < 1:
            raise ConfigError(f"{_key('max_orders')} must be at least 1, got {self.max_orders!r}")
        if not (_number(self.var_confidence) and 0 < self.var_confidence < 1):
            raise ConfigError(
                f"{_key('var_confidence')} must be in (0, 1), got {self.var_confidence!r}"
            )
        for name in ("breaker_cooldown_s", "var_cooldown_s"):
            value = getattr(self, name)
            if (value is not None or name == "breaker_cooldown_s") and not (
                _number(value) and value >= 0
            ):
                raise ConfigError(f"{_key(name)} must be a non-negative number, got {value!r}")
        for name in _ACTIONS:
            value = getattr(self, name)
            if value not in ("halt", "reduce"):
                raise ConfigError(f"{_key(name)} must be 'halt' or 'reduce', got {value!r}")

    @property
    def enabled(self) -> list[str]:
        """Names of the limits that are switched on."""
        on = ["check_precision"] if self.check_precision else []
        skip = {"check_precision", *_WINDOWS_S, *_BARS, *_ACTIONS, "var_confidence"}
        skip |= {"var_cooldown_s", "breaker_cooldown_s"}
        return on + [
            f.name for f in fields(self) if f.name not in skip and getattr(self, f.name) is not None
        ]


def live_risk_config(cfg: GrekkoConfig | RiskSection | LiveRiskSection) -> LiveRiskConfig:
    """Build the validated :class:`LiveRiskConfig` from the composed config's ``risk.live``.

    Raises
    ------
    ConfigError
        Naming the key (``risk.live.<name>``) of the first invalid value.
    """
    if isinstance(cfg, GrekkoConfig):
        section: Any = cfg.risk.live
    elif isinstance(cfg, RiskSection):
        section = cfg.live
    else:
        section = cfg
    values = {f.name: getattr(section, f.name) for f in fields(LiveRiskConfig)}
    return LiveRiskConfig(**values)
