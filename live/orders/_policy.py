"""Where a position stop lives: on the venue (a native order) or in the runner (emulated).

:class:`StopPolicy` is the typed form of a venue's ``stops`` setting (``conf/live/<venue>.yaml``,
key ``stop_policy``) and :meth:`StopPolicy.plan` decides, from the engine's stops and what the
venue's adapter declares (:class:`~live.venues.base.VenueCapabilities`), how each stop kind is
held:

- ``emulated`` mode: every stop is held by the runner (the engine's exact trigger rule, checked
  at the bar's open and close); what the paper venue and a replay always do.
- ``auto`` (the default): native where the adapter sends that order type, emulated otherwise.
  A stop-loss goes as ``stop_market`` (or ``stop_limit`` at ``stop_limit_offset`` beyond the
  stop, when the venue has no stop-market order: Coinbase, or when ``stop_limit`` asks for it:
  Binance spot ``STOP_LOSS_LIMIT``; a gap past its limit leaves it resting there, see
  ``Stops.stop_limit_offset`` for the backtest of it); a take-profit as
  ``take_profit_market`` (or ``take_profit_limit`` at its level); a trailing stop natively only
  as a percentage within the venue's range (Binance USD-M ``callbackRate`` 0.1 to 10 %). ATR
  and absolute trailing stops are always emulated (no venue trails by those).
- ``native``: like ``auto``, but a stop that cannot be native is a configuration error (fail
  closed: the run does not start) rather than silently emulated.

When both a stop-loss and a take-profit are native they form one OCO group: one venue unit
where the adapter sends one (``capabilities.oco``: a Binance spot OCO list, a Coinbase
``trigger_bracket_gtc`` bracket order), else two orders the runner ties together
(:meth:`~live.orders.OrderManager.group_cancels`). The plan says which (``why``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from grekko_research.errors import ConfigError

__all__ = ["STOP_POLICY_MODES", "StopPlacement", "StopPolicy"]

STOP_POLICY_MODES = ("auto", "native", "emulated")
_TRAIL_PCT = (0.001, 0.1)  # Binance USD-M callbackRate 0.1 % .. 10 %, as a fraction


class StopPlacement(NamedTuple):
    """How one stop kind is held: ``how`` is ``native`` or ``emulated``; ``order_type`` the
    native order's type (``None`` when emulated); ``why`` one line for the run's log."""

    kind: str
    how: Literal["native", "emulated"]
    order_type: str | None
    why: str


@dataclass(frozen=True)
class StopPolicy:
    """A venue's stop policy (see the module docstring).

    Parameters
    ----------
    mode
        ``auto``, ``native`` or ``emulated``.
    stop_limit_offset
        A native stop-loss sent as a stop-limit: its limit lies this fraction beyond the stop
        (a sell's below, a buy's above), so a fast market still fills it.
    stop_limit
        Send a native stop-loss as a stop-limit even where the venue has stop-market orders
        (a venue without stop-limit orders then cannot hold it natively).
    """

    mode: Literal["auto", "native", "emulated"] = "auto"
    stop_limit_offset: float = 0.005
    stop_limit: bool = False

    def __post_init__(self) -> None:
        if self.mode not in STOP_POLICY_MODES:
            raise ConfigError(
                f"stop_policy.mode must be one of {', '.join(STOP_POLICY_MODES)}, got {self.mode!r}"
            )
        offset = self.stop_limit_offset
        if isinstance(offset, bool) or not isinstance(offset, int | float) or not 0 <= offset < 1:
            raise ConfigError(
                f"stop_policy.stop_limit_offset must be a fraction in [0, 1), got {offset!r}"
            )
        if not isinstance(self.stop_limit, bool):
            raise ConfigError(
                f"stop_policy.stop_limit must be true or false, got {self.stop_limit!r}"
            )

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None, where: str = "stop_policy") -> StopPolicy:
        """The policy of a config mapping (``None``: the defaults); unknown keys are an error
        naming ``where``."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {raw!r}")
        known = ("mode", "stop_limit_offset", "stop_limit")
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown} (known: {', '.join(known)})")
        return cls(**dict(raw))

    def plan(self, stops: Any, capabilities: Any, venue: str = "venue") -> list[StopPlacement]:
        """How each stop the engine's ``stops`` sets is held on a venue with ``capabilities``.

        Raises
        ------
        ConfigError
            In ``native`` mode, naming the stop that the venue cannot hold natively.
        """
        out: list[StopPlacement] = []
        for kind in ("stop_loss", "take_profit", "trailing"):
            value = getattr(stops, kind)
            if value is None:
                continue
            measure = getattr(stops, f"{kind}_kind")
            placement = self._one(kind, float(value), measure, capabilities)
            if self.mode == "native" and placement.how == "emulated":
                raise ConfigError(
                    f"stop_policy.mode=native but {venue} cannot hold the {kind} "
                    f"({measure}) natively: {placement.why}; use mode auto or emulated"
                )
            out.append(placement)
        native = {p.kind for p in out if p.how == "native"}
        if {"stop_loss", "take_profit"} <= native and capabilities.oco:
            # One venue unit (Binance spot OCO list, Coinbase bracket): the venue ends the other.
            pair = ("stop_loss", "take_profit")
            out = [p._replace(why=f"{p.why}, paired in one venue OCO/bracket order")
                   if p.kind in pair else p for p in out]  # fmt: skip
        return out

    def _one(self, kind: str, value: float, measure: str, caps: Any) -> StopPlacement:
        if self.mode == "emulated":
            return StopPlacement(kind, "emulated", None, "stop_policy.mode=emulated")
        if kind == "trailing":
            if measure != "pct":
                return StopPlacement(kind, "emulated", None, f"no venue trails by {measure}")
            if not caps.trailing_stop_orders:
                return StopPlacement(kind, "emulated", None, "the adapter sends no trailing stop")
            lo, hi = _TRAIL_PCT
            if not lo <= value <= hi:
                why = f"trailing {value:.2%} outside the venue's {lo:.1%}..{hi:.0%}"
                return StopPlacement(kind, "emulated", None, why)
            return StopPlacement(kind, "native", "trailing_stop_market", "venue trailing stop")
        prefix = "stop" if kind == "stop_loss" else "take_profit"
        if kind == "stop_loss" and self.stop_limit:
            if caps.stop_limit_orders:
                return StopPlacement(kind, "native", "stop_limit", "venue stop-limit order")
            return StopPlacement(kind, "emulated", None, "the adapter sends no stop-limit order")
        if caps.stop_orders:
            return StopPlacement(kind, "native", f"{prefix}_market", "venue stop-market order")
        if caps.stop_limit_orders:
            return StopPlacement(kind, "native", f"{prefix}_limit", "venue stop-limit order")
        return StopPlacement(kind, "emulated", None, "the adapter sends no stop orders")
