"""The risk engine's holds (why it is not ACTIVE) and small helpers; private."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from live.risk.views import TradingState

__all__ = ["SEVERITY", "CheckFailed", "Hold", "fmt", "level_of", "num"]

SEVERITY = {TradingState.ACTIVE: 0, TradingState.REDUCING: 1, TradingState.HALTED: 2}


class CheckFailed(Exception):
    """A check raised; the engine is halted and the order is rejected under this rule."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason


@dataclass
class Hold:
    """One reason the engine is not ACTIVE."""

    key: str
    rule: str
    state: TradingState
    reason: str
    until_ms: int | None  # None: until resume
    level: bool  # lifts only when an evaluation finds the rule clear (and until_ms has passed)
    value: float | None = None
    limit: float | None = None
    symbol: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "rule": self.rule,
            "state": self.state.value,
            "reason": self.reason,
            "until_ms": self.until_ms,
            "level": self.level,
            "value": num(self.value),
            "limit": num(self.limit),
            "symbol": self.symbol,
        }


def num(x: float | None) -> float | None:
    """JSON-safe number: NaN and infinities become None (the event store refuses them)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def fmt(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6g}"


def level_of(action: str) -> TradingState:
    return TradingState.HALTED if action == "halt" else TradingState.REDUCING
