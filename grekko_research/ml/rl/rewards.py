"""Reward functions of the trading environment, computed from the engine's equity.

The equity is the engine book's, marked at each close after the bar's fills: fees, slippage,
stop exits and risk-rule flattening are already in it, so every reward here is net of costs.

``log_return``
    ``log(equity_t / equity_{t-1})``: maximising its sum maximises terminal wealth.
``diff_sharpe``
    Moody & Saffell's differential Sharpe ratio: the first-order change of an exponentially
    weighted Sharpe ratio (adaptation rate ``eta``) caused by this bar's return. Rewards
    return per unit of risk at each step instead of at the end of an episode.
``drawdown``
    The log return minus ``penalty`` times the *increase* in drawdown from the running peak
    (a bar that deepens a drawdown by 1 % costs ``penalty`` × 1 % on top of its loss).

A reward is a small stateful object (``reset`` at an episode's start, then one call per bar):
the environment owns one instance per episode. Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from grekko_research.errors import ConfigError

__all__ = ["REWARDS", "DiffSharpe", "DrawdownPenalised", "LogReturn", "Reward", "make_reward"]


class Reward:
    """Base class: ``reset(equity)`` at an episode's start, ``step(equity)`` after each bar."""

    name = ""

    def reset(self, equity: float) -> None:
        raise NotImplementedError

    def step(self, equity: float) -> float:
        raise NotImplementedError


def _log_growth(prev: float, now: float) -> float:
    """``log(now / prev)``; a wiped-out account (equity <= 0) is a large finite loss."""
    if prev <= 0.0:
        return 0.0  # nothing left to lose: the episode ends on the previous step
    if now <= 0.0:
        return -10.0  # log(1e-4 or so): finite, so the learner's value targets stay finite
    return math.log(now / prev)


@dataclass
class LogReturn(Reward):
    """Log return of the equity over the bar (net of costs)."""

    name = "log_return"
    _prev: float = field(default=math.nan, init=False)

    def reset(self, equity: float) -> None:
        self._prev = equity

    def step(self, equity: float) -> float:
        r = _log_growth(self._prev, equity)
        self._prev = equity
        return r


@dataclass
class DiffSharpe(Reward):
    """Moody & Saffell (1998) differential Sharpe ratio with adaptation rate ``eta``."""

    eta: float = 0.01
    name = "diff_sharpe"
    _prev: float = field(default=math.nan, init=False)
    _a: float = field(default=0.0, init=False)  # EW first moment of the returns
    _b: float = field(default=0.0, init=False)  # EW second moment

    def __post_init__(self) -> None:
        if not 0.0 < self.eta < 1.0:
            raise ConfigError(f"diff_sharpe eta must be in (0, 1), got {self.eta}")

    def reset(self, equity: float) -> None:
        self._prev, self._a, self._b = equity, 0.0, 0.0

    def step(self, equity: float) -> float:
        r = _log_growth(self._prev, equity)
        self._prev = equity
        da, db = r - self._a, r * r - self._b
        var = self._b - self._a * self._a
        # D_t = (B dA - A dB / 2) / (B - A^2)^(3/2); zero until the variance is known
        d = (self._b * da - 0.5 * self._a * db) / var**1.5 if var > 1e-12 else 0.0
        self._a += self.eta * da
        self._b += self.eta * db
        return float(max(-10.0, min(10.0, d)))  # early steps divide by a tiny variance


@dataclass
class DrawdownPenalised(Reward):
    """Log return minus ``penalty`` × the increase of the drawdown from the running peak."""

    penalty: float = 2.0
    name = "drawdown"
    _prev: float = field(default=math.nan, init=False)
    _peak: float = field(default=math.nan, init=False)
    _dd: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if self.penalty < 0.0:
            raise ConfigError(f"drawdown penalty must be >= 0, got {self.penalty}")

    def reset(self, equity: float) -> None:
        self._prev, self._peak, self._dd = equity, equity, 0.0

    def step(self, equity: float) -> float:
        r = _log_growth(self._prev, equity)
        self._prev = equity
        self._peak = max(self._peak, equity)
        dd = 1.0 - equity / self._peak if self._peak > 0 else 1.0
        worse = max(0.0, dd - self._dd)
        self._dd = dd
        return r - self.penalty * worse


REWARDS: dict[str, type[Reward]] = {
    "log_return": LogReturn,
    "diff_sharpe": DiffSharpe,
    "drawdown": DrawdownPenalised,
}


def make_reward(name: str, **options: float) -> Reward:
    """Build a reward by name (``log_return``, ``diff_sharpe``, ``drawdown``) with its options."""
    if name not in REWARDS:
        raise ConfigError(f"reward must be one of {list(REWARDS)}, got {name!r}")
    try:
        return REWARDS[name](**options)
    except TypeError as exc:
        raise ConfigError(f"reward {name!r}: bad options {sorted(options)} ({exc})") from exc
