"""The venue's clock as the adapter knows it: its offset from the local clock, and its rate.

A real exchange's clock runs at ours: between two measurements the venue's time is the local
time plus the last offset. A simulator replaying history (``grekko-live sim --speed 3600``)
answers its *market* clock, which runs ``speed`` times faster; read as an offset only, the
venue clock would stand still between measurements and then jump hours ahead at each one (the
runner's data-age check saw the last bar 60 hours old every minute and halted). So each
measurement after the first also yields the rate (venue ms per local ms over the interval
since the previous one). A rate within 5 % of 1 is taken as exactly 1 — network jitter on a
real venue, whose clock never runs fast — so real venues keep today's behaviour; any other
rate is followed, and measured again sooner while the interval since the previous
measurement is short (every measurement refines it over a longer base). The clock never
goes back: a measurement behind what was already answered holds it still until caught up.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["MARKET_CLOCK_SKEW_MS", "VenueClock"]

MARKET_CLOCK_SKEW_MS = 86_400_000
"""A venue clock more than a day away from ours is a replayed market's (a simulator): its rate
is measured again at once, a moment after the first measurement."""

_UNIT_RATE_TOLERANCE = 0.05
_MIN_BASE_MS = 100  # shorter intervals say nothing of a rate


class VenueClock:
    """Offset and rate of a venue's clock from measurements of its time.

    Parameters
    ----------
    local
        The local wall clock in ms.
    check_s
        The longest a measurement may get before :attr:`due` asks for another.
    """

    def __init__(self, local: Callable[[], int], check_s: float) -> None:
        self._local = local
        self.check_s = check_s
        self.rate = 1.0  # venue ms per local ms
        self.skew_ms: float | None = None  # venue - local at the last measurement
        self.checked_ms: int | None = None  # local time of the last measurement (or try)
        self._anchor: tuple[float, int] | None = None  # (local mid, venue) of the last one
        self._interval_ms = check_s * 1000.0
        self._last_answer = -(2**62)

    def now(self) -> int:
        """The venue's time now (the local time before any measurement)."""
        local = self._local()
        if self._anchor is None:
            t = local
        else:
            mid, venue = self._anchor
            t = venue + int(self.rate * (local - mid))
        self._last_answer = max(self._last_answer, t)
        return self._last_answer

    @property
    def accelerated(self) -> bool:
        """Whether the venue's clock runs at another rate than ours (a replayed market)."""
        return self.rate != 1.0

    @property
    def due(self) -> bool:
        """Whether the last measurement (or try) is old enough to measure again."""
        return self.checked_ms is None or self._local() - self.checked_ms >= self._interval_ms

    def tried(self, at_ms: int) -> None:
        """A measurement was started at local ``at_ms`` (it may fail: retried after the interval)."""
        self.checked_ms = at_ms

    def measured(self, before_ms: int, after_ms: int, venue_ms: int) -> None:
        """The venue answered ``venue_ms`` to a request sent at local ``before_ms`` and answered
        at ``after_ms``: its time is taken at the midpoint."""
        mid = (before_ms + after_ms) / 2
        self.checked_ms = max(self.checked_ms or before_ms, before_ms)
        if self._anchor is not None and mid - self._anchor[0] >= _MIN_BASE_MS:
            base = mid - self._anchor[0]
            rate = (venue_ms - self._anchor[1]) / base
            self.rate = 1.0 if abs(rate - 1.0) <= _UNIT_RATE_TOLERANCE else max(rate, 0.0)
            # Following a foreign rate: measure again after twice this base (capped), so each
            # correction stays small against the base it was measured over.
            full = self.check_s * 1000.0
            self._interval_ms = full if self.rate == 1.0 else min(full, max(250.0, 2 * base))
        self._anchor = (mid, venue_ms)
        self.skew_ms = float(venue_ms - mid)
