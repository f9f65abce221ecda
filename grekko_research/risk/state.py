"""The trading state and the hold state machine, keyed on timestamps in milliseconds.

One trading state exists per run: ``ACTIVE`` (every order the checks pass), ``REDUCING`` (only
orders that reduce a position) or ``HALTED`` (nothing). It is the most severe of the *holds*:
each breach of a breaker, each operator command and each failed check adds one. A hold has a
level (``REDUCING`` or ``HALTED``), an ``until_ms`` (:data:`FOREVER`: only ``resume`` lifts it)
and a flag saying whether it is a *level* hold, which lifts only when an evaluation at or
after ``until_ms`` finds its rule clear.

The functions here are the whole state machine, pure and ``@njit`` so a backtest kernel can
keep holds in arrays (one slot per rule and symbol) and drive them with bar times, while the
live :class:`~live.risk.RiskEngine` keeps them in a dict:

- :func:`merge_hold_nb`: a rule breached again while held (severity raised, time extended);
- :func:`hold_lifts_nb`: whether a hold lifts at ``now_ms``;
- :func:`mark_nb`: the peak equity and the UTC day's starting equity after an equity mark;
- :func:`next_day_ms`: when a daily-loss hold ends.
"""

from __future__ import annotations

from enum import StrEnum

from numba import njit

__all__ = [
    "ACTIVE",
    "DAY_MS",
    "FOREVER",
    "HALTED",
    "REDUCING",
    "STATE_CODES",
    "TradingState",
    "hold_lifts_nb",
    "mark_nb",
    "merge_hold_nb",
    "next_day_ms",
]

DAY_MS = 86_400_000
FOREVER = -1
"""``until_ms`` of a hold that only ``resume`` lifts."""

# Integer codes for kernels, ordered by severity.
ACTIVE = 0
REDUCING = 1
HALTED = 2


class TradingState(StrEnum):
    """What the risk engine lets through."""

    ACTIVE = "ACTIVE"  # every order the checks pass
    REDUCING = "REDUCING"  # only orders that reduce exposure
    HALTED = "HALTED"  # nothing

    @property
    def code(self) -> int:
        """The integer code kernels use (severity order)."""
        return STATE_CODES[self]

    @classmethod
    def of(cls, code: int) -> TradingState:
        """The state of an integer code."""
        return _BY_CODE[int(code)]


STATE_CODES = {
    TradingState.ACTIVE: ACTIVE,
    TradingState.REDUCING: REDUCING,
    TradingState.HALTED: HALTED,
}
_BY_CODE = {v: k for k, v in STATE_CODES.items()}


@njit(cache=True, nogil=True)
def merge_hold_nb(
    old_state: int, old_until: int, new_state: int, new_until: int
) -> tuple[int, int]:
    """Return ``(state, until_ms)`` of a held rule found in breach again.

    The severity only rises; a hold until ``resume`` stays so; a timed hold lasts until the
    later of its end and the new breach's (or until ``resume`` if the new one says so).
    """
    state = max(old_state, new_state)
    if old_until == FOREVER:
        return state, FOREVER
    if new_until == FOREVER:
        return state, FOREVER
    return state, max(old_until, new_until)


@njit(cache=True, nogil=True)
def hold_lifts_nb(until_ms: int, level: bool, clear_now: bool, now_ms: int) -> bool:
    """Whether a hold lifts at ``now_ms``.

    Never before ``until_ms`` nor when it is :data:`FOREVER`; a level hold also needs its rule
    evaluated clear at this time (``clear_now``).
    """
    if until_ms == FOREVER or now_ms < until_ms:
        return False
    return clear_now or not level


@njit(cache=True, nogil=True)
def mark_nb(
    peak: float, day: int, day_start: float, equity: float, now_ms: int
) -> tuple[float, int, float]:
    """Return ``(peak, day, day_start)`` after marking ``equity`` at ``now_ms``.

    ``peak`` NaN: none yet. The first mark of a UTC day (``now_ms // DAY_MS``) sets the day's
    starting equity.
    """
    today = now_ms // DAY_MS
    if today != day:
        day = today
        day_start = equity
    if peak != peak or equity > peak:  # NaN: the first mark
        peak = equity
    return peak, day, day_start


@njit(cache=True, nogil=True)
def next_day_ms(now_ms: int) -> int:
    """The start of the UTC day after ``now_ms``."""
    return (now_ms // DAY_MS + 1) * DAY_MS
