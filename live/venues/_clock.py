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
measurement is short. The rate is taken over the best base at hand — of the measurements of
the last ten minutes, the one whose round trip, with this one's, is shortest against the base
between them (in practice the oldest), not just the previous one: a 0.25 s first base is off by tens of percent once a request waits on a
busy machine, and the clock extrapolated at that rate through a long gap between two
measurements (the runner's loop busy compiling a strategy) drifts hours behind a fast market,
then jumps ahead at the next measurement. The clock never goes back: a measurement behind
what was already answered holds it still until caught up.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

__all__ = ["MARKET_CLOCK_SKEW_MS", "VenueClock"]

MARKET_CLOCK_SKEW_MS = 86_400_000
"""A venue clock more than a day away from ours is a replayed market's (a simulator): its rate
is measured again at once, a moment after the first measurement."""

_UNIT_RATE_TOLERANCE = 0.05
_MIN_BASE_MS = 100  # shorter intervals say nothing of a rate
_RATE_WINDOW_MS = 600_000  # the rate is taken over up to this base (ten minutes)


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
        # (local mid, venue, round trip) of the measurements the rate is taken over
        self._bases: deque[tuple[float, int, float]] = deque()
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
        trip = float(max(after_ms - before_ms, 0))
        self.checked_ms = max(self.checked_ms or before_ms, before_ms)
        if self._anchor is not None and mid - self._anchor[0] >= _MIN_BASE_MS:
            rate = self._rate_over_longest_base(mid, venue_ms, trip)
            if rate is not None:
                self.rate = 1.0 if abs(rate - 1.0) <= _UNIT_RATE_TOLERANCE else max(rate, 0.0)
            # Following a foreign rate (or none measured yet): measure again after twice the
            # interval since the previous measurement (capped), so each correction stays small.
            full = self.check_s * 1000.0
            since = mid - self._anchor[0]
            settled = self.rate == 1.0 and rate is not None
            self._interval_ms = full if settled else min(full, max(250.0, 2 * since))
        self._anchor = (mid, venue_ms)
        self.skew_ms = float(venue_ms - mid)
        self._bases.append((mid, venue_ms, trip))
        while len(self._bases) > 2 and mid - self._bases[1][0] >= _RATE_WINDOW_MS:
            self._bases.popleft()

    def _rate_over_longest_base(self, mid: float, venue_ms: int, trip: float) -> float | None:
        """Venue ms per local ms from the kept measurement whose base is longest against the
        uncertainty of both midpoints (their round trips); ``None`` if no base is long enough."""
        best: tuple[float, float] | None = None  # (relative uncertainty, rate)
        for m0, v0, trip0 in self._bases:
            base = mid - m0
            if base >= _MIN_BASE_MS:
                doubt = (trip + trip0) / base
                if best is None or doubt < best[0]:
                    best = (doubt, (venue_ms - v0) / base)
        return None if best is None else best[1]
