"""What the web console shows on opening a run: the latest events of each topic and the equity
curve, kept by the hub as it folds the log (so a page load never rereads the whole log).

The console loads these once (``GET /events``, ``GET /equity``), then follows the websockets
with ``after_seq`` set to the ``last_seq`` it was given: nothing is missed between the two.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from live.events import Event

__all__ = ["EQUITY_POINTS", "RECENT_EVENTS", "RUN_BARS", "Recent"]

RECENT_EVENTS = 500
"""Events kept per topic."""
EQUITY_POINTS = 4000
"""Most points kept of the equity curve: past that, every other point is dropped (the curve
keeps its shape and its first and last points; the drawdown's depth may lose a bar's detail)."""
RUN_BARS = 20_000
"""Closed bars kept for the market page's chart of the run (the latest; thinned when drawn)."""


class Recent:
    """The latest events per topic and the equity at each closed bar (thinned when long)."""

    def __init__(self, topics: tuple[str, ...], *, keep: int = RECENT_EVENTS) -> None:
        self.events: dict[str, deque[Event]] = {t: deque(maxlen=keep) for t in topics}
        self._curve: list[tuple[int, float]] = []
        self._stride = 1  # bars per kept point
        self._skipped = 0
        self._last: tuple[int, float] | None = None
        # (bar open ts, [open, high, low, close, volume] rows, one column per symbol)
        self._bars: deque[tuple[int, list[Any]]] = deque(maxlen=RUN_BARS)

    def observe(self, e: Event, topics: tuple[str, ...]) -> None:
        """Keep ``e`` under its ``topics``; a ``bar_closed`` with an equity adds a point."""
        for topic in topics:
            self.events[topic].append(e)
        if e.kind != "bar_closed":
            return
        ts, equity = e.payload.get("ts"), e.payload.get("equity")
        bar = e.payload.get("bar")
        if isinstance(ts, int) and isinstance(bar, list) and len(bar) >= 5:
            self._bars.append((ts, bar))
        if not isinstance(ts, int) or isinstance(equity, bool):
            return
        if not isinstance(equity, int | float):
            return
        self._last = (ts, float(equity))
        self._skipped += 1
        if self._skipped < self._stride and self._curve:
            return
        self._skipped = 0
        self._curve.append(self._last)
        if len(self._curve) > EQUITY_POINTS:
            self._curve = self._curve[::2]
            self._stride *= 2

    def bars(self, column: int) -> list[tuple[int, float, float, float, float, float]]:
        """The kept bars of the run's symbol number ``column`` (ts, o, h, l, c, v), oldest
        first; a bar whose row for it is missing or not a number is left out."""
        out = []
        for ts, rows in list(self._bars):  # one copy under the GIL: the hub appends meanwhile
            try:
                values = [rows[k][column] for k in range(5)]
            except (IndexError, TypeError):
                continue
            if all(isinstance(x, int | float) and not isinstance(x, bool) for x in values):
                o, h, lo, c, v = (float(x) for x in values)
                out.append((ts, o, h, lo, c, v))
        return out

    def latest(self, topic: str, limit: int) -> list[Event]:
        """The last ``limit`` events of ``topic``, oldest first."""
        kept = self.events[topic]
        return list(kept)[-limit:] if limit else []

    def curve(self) -> list[tuple[int, float]]:
        """(bar ts in ms, equity) points, oldest first, the latest bar always included."""
        if self._last is not None and (not self._curve or self._curve[-1] != self._last):
            return [*self._curve, self._last]
        return list(self._curve)
