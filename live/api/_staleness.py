"""How old a run's data is, on the clock the run lives on, as the API sees it from the log.

The runner records its clock (``run_clock``: ``wall``, ``market`` with its rate, or
``replay``; see :mod:`live.runner._clock`) with one reading of both clocks. From it the venue's
time now follows even while the runner is frozen or dead (``venue_ms + rate × (wall now −
wall_ms)``), and so do the age of the last event and of the last closed bar (its close, or the
run's (re)start when no bar closed since). The data is *stale* once that age passes
``stale_bars`` timeframes; ``/health`` then says ``degraded`` with the reason, ``/risk`` shows
the ``stale_data`` hold, and ``/metrics`` carries the same figures (``grekko_data_age_seconds``,
``grekko_data_stale_after_seconds``, ``grekko_data_stale``) for alert rules.

A log without ``run_clock`` (older runs) is read on the wall clock. A replay's clock is its
data's: it stops with the run, so a replay is never judged stale.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grekko_research.data.timeframes import parse_timeframe
from live.events import Event

__all__ = ["DEFAULT_STALE_BARS", "DataAge", "Staleness"]

DEFAULT_STALE_BARS = 2.0


@dataclass(frozen=True)
class DataAge:
    """The run's data age now (seconds on the run's clock; ``None`` where unknown)."""

    clock: str | None  # wall, market, replay (None: nothing recorded yet)
    rate: float
    last_event_age_s: float | None
    last_bar_age_s: float | None
    stale_after_s: float | None
    stale: bool

    @property
    def reason(self) -> str | None:
        """Why the data is stale, in the risk engine's words (``stale_data: …``)."""
        if not self.stale or self.last_bar_age_s is None or self.stale_after_s is None:
            return None
        return (
            f"stale_data: last bar closed {_duration(self.last_bar_age_s)} ago on the "
            f"{self.clock} clock (limit {_duration(self.stale_after_s)})"
        )

    def hold(self) -> dict[str, Any] | None:
        """The ``stale_data`` hold as ``/risk`` lists it, or ``None``."""
        if not self.stale:
            return None
        return {
            "rule": "stale_data",
            "state": "HALTED",
            "value": self.last_bar_age_s,
            "limit": self.stale_after_s,
            "reason": self.reason,
            "source": "api",
        }


class Staleness:
    """Follows the events the ages depend on (feed it every event, in order).

    Parameters
    ----------
    stale_bars
        How many timeframes the last bar may age before the data is stale.
    wall
        The local wall clock, seconds since the epoch.
    """

    def __init__(
        self, stale_bars: float = DEFAULT_STALE_BARS, *, wall: Callable[[], float] = time.time
    ) -> None:
        if not stale_bars > 0:
            raise ValueError(f"stale_bars must be positive, got {stale_bars}")
        self.stale_bars = stale_bars
        self._wall = wall
        self._clock: dict[str, Any] | None = None
        self._tf_ms: int | None = None
        self._last_ts: int | None = None
        self._data_since: int | None = None  # last bar close, or the run's (re)start
        self._replay = False  # run_started says the feed is a replay

    def observe(self, e: Event) -> None:
        """Take one event of the log into account (malformed payloads are skipped: the
        fold reports them)."""
        self._last_ts = e.ts_ms
        p = e.payload
        if e.kind == "run_clock":
            if all(isinstance(p.get(k), int | float) for k in ("rate", "wall_ms", "venue_ms")):
                self._clock = dict(p)
        elif e.kind == "run_started":
            tf = p.get("timeframe")
            try:
                self._tf_ms = parse_timeframe(str(tf)).ms if tf else None
            except ValueError:
                self._tf_ms = None
            self._replay = p.get("feed") == "replay"
            self._data_since = e.ts_ms
        elif e.kind == "run_resumed":
            self._data_since = e.ts_ms  # the clock recorded before goes on until a new record
        elif e.kind == "bar_closed" and self._tf_ms is not None:
            ts = p.get("ts")
            if isinstance(ts, int):
                self._data_since = max(self._data_since or 0, ts + self._tf_ms)

    def now(self) -> DataAge:
        """The ages at this moment."""
        wall_ms = self._wall() * 1000
        c = self._clock
        kind = ("replay" if self._replay else None) if c is None else str(c.get("clock"))
        rate = 1.0 if c is None else float(c.get("rate") or 0.0)
        if c is None:
            venue_now = wall_ms  # no record (yet): the wall clock
        else:
            venue_now = float(c["venue_ms"]) + rate * (wall_ms - float(c["wall_ms"]))
        event_age = None if self._last_ts is None else (venue_now - self._last_ts) / 1000
        bar_age = None if self._data_since is None else (venue_now - self._data_since) / 1000
        limit = None if self._tf_ms is None else self.stale_bars * self._tf_ms / 1000
        stale = kind != "replay" and bar_age is not None and limit is not None and bar_age > limit
        return DataAge(
            clock=kind,
            rate=rate,
            last_event_age_s=None if event_age is None else round(event_age, 3),
            last_bar_age_s=None if bar_age is None else round(bar_age, 3),
            stale_after_s=limit,
            stale=stale,
        )


def _duration(seconds: float) -> str:
    if abs(seconds) < 120:
        return f"{seconds:.1f} s"
    if abs(seconds) < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
