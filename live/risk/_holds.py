"""The risk engine's holds (why it is not ACTIVE) and small helpers; private."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from live.risk.views import TradingState

__all__ = ["SEVERITY", "CheckFailed", "Hold", "failed_calls_text", "fmt", "level_of", "num"]

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


def failed_calls_text(
    calls: Sequence[tuple[int, str, str]], now_ms: int, window_s: float
) -> str | None:
    """Which calls failed in the error-rate window, most frequent first:
    ``create_order ×7 (RequestTimeout), fetch_balance ×4 (NetworkError ×3, ExchangeError)``
    (``None`` when the venue did not say)."""
    start = now_ms - window_s * 1000.0
    recent = [(str(call), str(err)) for ts, call, err in calls if start < ts <= now_ms]
    if not recent:
        return None
    per_call = Counter(call for call, _ in recent)
    parts = []
    for call, n in per_call.most_common():
        errors = Counter(err for c, err in recent if c == call).most_common()
        kinds = ", ".join(e if k == 1 or len(errors) == 1 else f"{e} ×{k}" for e, k in errors)
        parts.append(f"{call} ×{n} ({kinds})")
    return ", ".join(parts)
