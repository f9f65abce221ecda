"""Which clock a run lives on: the wall clock (a real exchange), a replayed market's clock
(a simulator, which may run ``speed`` times faster than the wall clock), or a replay's data.

Every time the runner records (event stamps, the data's age, risk windows) is read from the
venue's clock. The status API and the operators reading ages need to know which clock that is
and how fast it runs, so the runner measures it from its own readings of the venue clock
against the local monotonic clock and records it as a ``run_clock`` event::

    run_clock  {clock: "wall" | "market" | "replay", rate, wall_ms, venue_ms}

``rate`` is venue milliseconds per wall millisecond (1 on a real exchange, 3600 on
``grekko-live sim --speed 3600``); ``(wall_ms, venue_ms)`` is one reading of both clocks, from
which the venue's time at any wall time follows (``venue_ms + rate × (wall − wall_ms)``) — also
while the runner is frozen, which is how the API tells a frozen run from a quiet one.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

__all__ = ["STALL_GRACE_S", "ClockWatch", "LoopStalls"]

ClockKind = Literal["wall", "market", "replay"]

STALL_GRACE_S = 5.0
"""Wall seconds a run on a faster clock may go without data beyond its data-age limit: at
3600× a second of the runner's own work (a decision, a reconciliation, a busy machine) is an
hour of market time, and processing does not speed up with the replay."""

_FOREIGN_SKEW_MS = 86_400_000  # a venue clock more than a day off ours is a replayed market's
_UNIT_RATE_TOLERANCE = 0.05
_MIN_BASE_S = 0.5
_WINDOW_S = 60.0  # a long base: one reading just after a venue clock re-read weighs little
_REANCHOR_S = 60.0  # a faster clock is recorded again this often (its rate is an estimate)


class ClockWatch:
    """The run's clock, measured from readings of the venue clock.

    Parameters
    ----------
    venue
        The venue's clock in ms (the runner's clock).
    wall, monotonic
        The local wall clock (seconds since the epoch) and a monotonic one (seconds).
    """

    def __init__(
        self,
        venue: Callable[[], int],
        *,
        wall: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._venue, self._wall, self._mono = venue, wall, monotonic
        self._samples: deque[tuple[float, int]] = deque()
        self.kind: ClockKind | None = None
        self.rate = 1.0
        self._recorded: tuple[ClockKind, float, float] | None = None  # kind, rate, monotonic

    def sample(self, *, realtime: bool) -> None:
        """Read the venue clock now (once per operational round) and update kind and rate."""
        mono, venue = self._mono(), self._venue()
        self._samples.append((mono, venue))
        while len(self._samples) > 2 and mono - self._samples[1][0] >= _WINDOW_S:
            self._samples.popleft()
        first = self._samples[0]
        if mono - first[0] >= _MIN_BASE_S:
            rate = (venue - first[1]) / ((mono - first[0]) * 1000)
            self.rate = 1.0 if abs(rate - 1.0) <= _UNIT_RATE_TOLERANCE else max(rate, 0.0)
        if not realtime:
            self.kind = "replay"
        elif self.rate != 1.0 or abs(venue - self._wall() * 1000) > _FOREIGN_SKEW_MS:
            self.kind = "market"
        else:
            self.kind = "wall"

    @property
    def faster(self) -> bool:
        """Whether the run's clock runs faster than the wall clock (an accelerated replay)."""
        return self.kind == "market" and self.rate > 1.0

    def record(self) -> dict[str, Any] | None:
        """The ``run_clock`` payload when there is something new to record: the first
        measurement, another kind, a rate more than 10 % off the recorded one, or (on a clock
        not running at ours) a minute since the last record; else ``None``."""
        if self.kind is None or (len(self._samples) < 2 and self.kind != "replay"):
            return None  # the rate needs two readings
        mono = self._mono()
        if self._recorded is not None:
            kind, rate, at = self._recorded
            same_rate = abs(self.rate - rate) <= 0.1 * max(rate, 1e-9)
            stale = self.rate != 1.0 and mono - at >= _REANCHOR_S
            if kind == self.kind and same_rate and not stale:
                return None
        self._recorded = (self.kind, self.rate, mono)
        return {
            "clock": self.kind,
            "rate": round(self.rate, 6),
            "wall_ms": int(self._wall() * 1000),
            "venue_ms": self._venue(),
        }


class LoopStalls:
    """When the runner's event loop was held up: the wall time by which its periodic sleeps
    overran (a sleep ends late only when the loop could not run — a long synchronous step such
    as a numba compile, or a starved process), kept for the last ``keep_s`` seconds."""

    def __init__(
        self, *, monotonic: Callable[[], float] = time.monotonic, keep_s: float = 3600.0
    ) -> None:
        self._mono, self._keep_s = monotonic, keep_s
        self._spans: deque[tuple[float, float]] = deque()  # (start, end) monotonic seconds

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep(seconds)``, noting by how much it overran."""
        due = self._mono() + seconds
        await asyncio.sleep(seconds)
        self.note(due, self._mono())

    def note(self, due: float, woke: float) -> None:
        """A wait due at ``due`` ended at ``woke`` (monotonic seconds)."""
        if woke > due + 0.05:  # scheduling jitter is not a stall
            self._spans.append((due, woke))
        while self._spans and woke - self._spans[0][1] > self._keep_s:
            self._spans.popleft()

    def within(self, last_s: float) -> float:
        """Seconds the loop was held up in the last ``last_s`` seconds."""
        start = self._mono() - last_s
        return sum(max(0.0, end - max(begin, start)) for begin, end in self._spans)
