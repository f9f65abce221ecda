"""Timeframe strings (``1m``, ``4h``, ``1d``, ``1w``, ``1M``) and their grids.

Bars are stamped with their *open* time in integer milliseconds since the Unix
epoch, UTC. A bar of timeframe ``tf`` sits on the grid when its timestamp is a
multiple of the timeframe's length, measured from the timeframe's anchor:
the epoch for minutes, hours and days, Monday 1970-01-05 for weeks (as Binance
and most exchanges do), and the first day of the month for ``1M``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from grekko_research.errors import ConfigError

if TYPE_CHECKING:  # pandas loads on first use: the engine's import chain stays without it
    import pandas as pd

__all__ = ["Timeframe", "iso", "parse_timeframe", "to_ms"]

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
# 1970-01-01 was a Thursday; exchanges start weeks on Monday 1970-01-05.
_WEEK_ANCHOR_MS = 4 * 86_400_000
_PATTERN = re.compile(r"^([1-9][0-9]*)([smhdwM])$")


@dataclass(frozen=True, slots=True)
class Timeframe:
    """A bar length such as ``1h``.

    Attributes
    ----------
    name
        Canonical string, e.g. ``"15m"``.
    count, unit
        ``15`` and ``"m"`` for ``"15m"``.
    """

    name: str
    count: int
    unit: str

    @property
    def is_calendar(self) -> bool:
        """Return True for month-based timeframes, whose length varies."""
        return self.unit == "M"

    @property
    def ms(self) -> int:
        """Length in milliseconds (fixed-length timeframes only)."""
        if self.is_calendar:
            raise ConfigError(f"timeframe {self.name!r} has no fixed length")
        return self.count * _UNIT_MS[self.unit]

    @property
    def anchor_ms(self) -> int:
        """Offset of the grid from the epoch, in milliseconds."""
        return _WEEK_ANCHOR_MS if self.unit == "w" else 0

    def floor(self, ts_ms: np.ndarray) -> np.ndarray:
        """Return the open time of the bar of this timeframe containing each timestamp."""
        ts = np.asarray(ts_ms, dtype=np.int64)
        if self.is_calendar:
            months = ts.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
            months = months - (months % self.count)
            return months.astype("datetime64[M]").astype("datetime64[ms]").astype(np.int64)
        step = self.ms
        return ts - (ts - self.anchor_ms) % step

    def on_grid(self, ts_ms: np.ndarray) -> np.ndarray:
        """Return a boolean mask: True where a timestamp is a bar open of this timeframe."""
        ts = np.asarray(ts_ms, dtype=np.int64)
        return self.floor(ts) == ts

    def next_open(self, ts_ms: np.ndarray) -> np.ndarray:
        """Return the open time of the bar after the one opening at each timestamp."""
        ts = np.asarray(ts_ms, dtype=np.int64)
        if self.is_calendar:
            months = ts.astype("datetime64[ms]").astype("datetime64[M]") + self.count
            return months.astype("datetime64[ms]").astype(np.int64)
        return ts + self.ms

    def divides(self, other: Timeframe) -> bool:
        """Return True when whole bars of ``self`` tile every bar of ``other`` exactly."""
        if other.is_calendar:
            # Any timeframe that tiles a day tiles a month.
            return (not self.is_calendar and 86_400_000 % self.ms == 0) or (
                self.is_calendar and other.count % self.count == 0
            )
        if self.is_calendar:
            return False
        if other.ms % self.ms != 0:
            return False
        # Weekly bars start on Monday: the source grid must contain that anchor.
        return (other.anchor_ms - self.anchor_ms) % self.ms == 0

    def __str__(self) -> str:
        return self.name


def parse_timeframe(value: str | Timeframe) -> Timeframe:
    """Parse ``value`` (``"1m"``, ``"4h"``, ``"1d"``, ``"1w"``, ``"1M"``) into a :class:`Timeframe`.

    Raises
    ------
    ConfigError
        If the string is not a positive count followed by one of ``s m h d w M``.
    """
    if isinstance(value, Timeframe):
        return value
    match = _PATTERN.match(str(value).strip())
    if match is None:
        raise ConfigError(
            f"invalid timeframe {value!r}: expected a count and a unit such as "
            "'1m', '15m', '1h', '4h', '1d', '1w' or '1M'"
        )
    count, unit = int(match.group(1)), match.group(2)
    return Timeframe(name=f"{count}{unit}", count=count, unit=unit)


def to_ms(value: int | float | str | np.datetime64 | pd.Timestamp | None) -> int | None:
    """Return epoch milliseconds (UTC) for a time given in any common form.

    Accepts integer milliseconds, ``"2021-01-01"``, ``"2021-01-01T12:00"``
    (naive strings are UTC), ``"2021-01-01T12:00+02:00"``, numpy datetimes
    and pandas Timestamps. ``None`` passes through.

    Raises
    ------
    ConfigError
        If the value cannot be read as a time.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"invalid time {value!r}")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    import pandas as pd

    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"invalid time {value!r}: expected a date such as 2021-01-01, an ISO time such as "
            "2021-01-01T12:00 (UTC unless an offset is given) or epoch milliseconds"
        ) from exc
    if stamp is pd.NaT:
        raise ConfigError(f"invalid time {value!r}")
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return int((stamp - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(1, "ms"))


def iso(ts_ms: int | None) -> str | None:
    """Return an ISO-8601 UTC string (``2021-01-01T00:00:00Z``) for epoch milliseconds."""
    if ts_ms is None:
        return None
    import pandas as pd

    return pd.Timestamp(int(ts_ms), unit="ms", tz="UTC").isoformat().replace("+00:00", "Z")
