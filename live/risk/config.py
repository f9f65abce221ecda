"""The live risk engine's configuration: the run's :class:`~grekko_research.risk.spec.RiskSpec`.

:func:`risk_spec` returns the spec of a composed configuration (``risk``, see ``docs/risk.md``),
which :class:`~live.risk.RiskEngine` takes. :class:`LiveRiskConfig` is the flat shape of the
deprecated ``risk.live`` block, kept for one release: constructing it warns
(:class:`~grekko_research.risk.spec.RiskConfigDeprecationWarning`), the engine still accepts it
(it converts it to a spec), :func:`live_risk_config` still returns it, and a runner or sleeve
spec given one converts it (:func:`as_spec`, warning again).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields
from typing import Literal

from grekko_research.config.schema import GrekkoConfig, LiveRiskSection, RiskSection
from grekko_research.risk.spec import (
    LIVE_DEFAULTS,
    RiskConfigDeprecationWarning,
    RiskSpec,
    check_live_keys,
    spec_from_live_keys,
)

__all__ = ["Action", "LiveRiskConfig", "as_spec", "live_risk_config", "risk_spec"]

Action = Literal["halt", "reduce"]

_SETTINGS = {"check_precision", *LIVE_DEFAULTS}  # not limits: windows, actions, cool-downs
_REPLACEMENT = (
    "use grekko_research.risk.spec.RiskSpec (LiveRiskConfig.to_spec() converts one; "
    "live.risk.risk_spec(cfg) is a run's); see docs/risk.md"
)


def _deprecated(what: str, stacklevel: int) -> None:
    warnings.warn(
        f"{what} is deprecated and will be removed in the next release: {_REPLACEMENT}",
        RiskConfigDeprecationWarning,
        stacklevel=stacklevel + 1,
    )


@dataclass(frozen=True)
class LiveRiskConfig:
    """The deprecated flat limits of :class:`~live.risk.RiskEngine` (``risk.live``); ``None``
    switches a check off. Use :class:`~grekko_research.risk.spec.RiskSpec` instead: each field
    is a key of it (``max_drawdown`` is ``portfolio.drawdown.limit``; see ``docs/risk.md``).
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
        check_live_keys(asdict(self))  # names risk.live.<key>
        _deprecated("LiveRiskConfig", stacklevel=3)  # __post_init__ <- __init__ <- the caller

    @property
    def enabled(self) -> list[str]:
        """Names of the limits that are switched on."""
        on = ["check_precision"] if self.check_precision else []
        return on + [
            f.name
            for f in fields(self)
            if f.name not in _SETTINGS and getattr(self, f.name) is not None
        ]

    def to_spec(self) -> RiskSpec:
        """The same limits as a :class:`~grekko_research.risk.spec.RiskSpec`."""
        return spec_from_live_keys(asdict(self))

    @classmethod
    def from_spec(cls, spec: RiskSpec) -> LiveRiskConfig:
        """The flat view of ``spec`` (what it cannot say — a drawdown cool-down, market
        breakers with different cool-downs or a ``halt`` action — is left out: use the spec)."""
        o, p, m, x = spec.order, spec.portfolio, spec.market, spec.ops
        return cls(
            check_precision=o.precision,
            min_order_notional=o.min_notional,
            max_order_notional=o.max_notional,
            max_position=o.max_position,
            max_gross_exposure=o.max_gross_exposure,
            max_net_exposure=o.max_net_exposure,
            max_leverage=o.max_leverage,
            max_orders=o.max_orders,
            order_window_s=o.order_window_s,
            price_band=o.price_band,
            max_drawdown=p.drawdown.limit,
            drawdown_action=p.drawdown.action,  # type: ignore[arg-type]
            daily_loss=p.daily_loss.limit,
            daily_loss_action=p.daily_loss.action,  # type: ignore[arg-type]
            var_limit=p.var.limit,
            var_confidence=p.var.confidence,
            var_window=p.var.window,
            var_action=p.var.action,  # type: ignore[arg-type]
            var_cooldown_s=p.var.cooldown_s,
            vol_limit=m.volatility.limit,
            vol_window=m.volatility.window,
            move_limit=m.price_move.limit,
            move_window=m.price_move.window,
            breaker_cooldown_s=max(m.volatility.cooldown_s, m.price_move.cooldown_s),
            max_data_age_s=x.max_data_age_s,
            max_ws_down_s=x.max_ws_down_s,
            max_errors=x.max_errors,
            error_window_s=x.error_window_s,
            max_clock_skew_ms=x.max_clock_skew_ms,
            ops_action=x.action,  # type: ignore[arg-type]
        )


def risk_spec(cfg: GrekkoConfig | RiskSection | RiskSpec | LiveRiskConfig | None) -> RiskSpec:
    """The :class:`~grekko_research.risk.spec.RiskSpec` of a composed config (or its ``risk``
    section, or a :class:`LiveRiskConfig`); ``None``: everything off."""
    if cfg is None:
        return RiskSpec()
    if isinstance(cfg, RiskSpec):
        return cfg
    if isinstance(cfg, LiveRiskConfig):
        return cfg.to_spec()
    section = cfg.risk if isinstance(cfg, GrekkoConfig) else cfg
    return section.spec


def live_risk_config(cfg: GrekkoConfig | RiskSection | LiveRiskSection) -> LiveRiskConfig:
    """The flat :class:`LiveRiskConfig` view of the composed config's risk spec (deprecated:
    use :func:`risk_spec`).

    Raises
    ------
    ConfigError
        Naming the key of the first invalid value.
    """
    _deprecated("live_risk_config", stacklevel=2)
    with warnings.catch_warnings():  # one warning, naming what the caller called
        warnings.simplefilter("ignore", RiskConfigDeprecationWarning)
        if isinstance(cfg, LiveRiskSection):
            return LiveRiskConfig(**cfg.given())
        return LiveRiskConfig.from_spec(risk_spec(cfg))


def as_spec(risk: RiskSpec | LiveRiskConfig | None, where: str) -> RiskSpec | None:
    """``risk`` as a :class:`~grekko_research.risk.spec.RiskSpec` (``None`` stays ``None``):
    the one converting path of a deprecated :class:`LiveRiskConfig` into a runner or sleeve
    spec (``where`` names it in the warning).

    Raises
    ------
    TypeError
        For anything else.
    """
    if risk is None or isinstance(risk, RiskSpec):
        return risk
    if isinstance(risk, LiveRiskConfig):
        _deprecated(f"{where} given a LiveRiskConfig", stacklevel=4)  # <- __post_init__ <- init
        return risk.to_spec()
    raise TypeError(f"{where} must be a RiskSpec or None, got {type(risk).__name__}")
