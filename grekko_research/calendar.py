"""The one calendar: how long a bar lasts and how many bars make a year.

Every annualisation in Grekko goes through here — performance metrics (Sharpe, CAGR,
volatility), volatility-target sizing in a backtest, a grid and a live book, the live risk
engine's volatility breaker, the tearsheet's rolling windows — so a backtest and a live run
of the same bars annualise identically (bit for bit).

Convention: **a year is 365 days of 24 hours** (``YEAR_MS = 365 × 86 400 000``). Crypto markets
trade every hour of every day, so a year holds ``365 × 24 = 8 760`` hourly bars, ``365`` daily
bars, ``365 / 7`` weekly bars — no 252-trading-day year. 365 rather than the Julian 365.25:
it is what crypto research tools annualise with (vectorbt's default ``year_freq`` is
``365 days``), what every ``grekko regress`` baseline and parity reference has been computed
with (the backtest side has always used it; only the live runner used 365.25, a drift fixed
by routing it here), and it keeps the bars per year of every intraday timeframe an exact
integer (8 760, 525 600).
Calendar months (``1M``, ``3M``) are 12 per year whatever their length in days.

Timeframe strings are parsed by :func:`grekko_research.data.timeframes.parse_timeframe` (the
only parser); this module turns them into durations and yearly counts.
"""

from __future__ import annotations

from numbers import Integral

from grekko_research.data.timeframes import Timeframe, parse_timeframe
from grekko_research.errors import ConfigError

__all__ = [
    "DAYS_PER_YEAR",
    "DAY_MS",
    "YEAR_MS",
    "bar_ms",
    "bars_per_year",
    "periods_per_year",
]

DAY_MS = 86_400_000
"""One day in milliseconds (crypto days have 24 hours, every day)."""
DAYS_PER_YEAR = 365.0
"""Days in the year every annualisation uses (see the module docstring for why 365)."""
YEAR_MS = 365 * DAY_MS
"""That year in milliseconds."""


def bar_ms(timeframe: str | Timeframe) -> int:
    """Return the length of one bar of ``timeframe`` in milliseconds (``"1h"`` → 3 600 000).

    Raises
    ------
    ConfigError
        If ``timeframe`` is not a valid timeframe string, or is a calendar month (``1M``),
        whose length varies.
    """
    return parse_timeframe(timeframe).ms


def bars_per_year(bar_length_ms: int) -> float:
    """Return how many bars of ``bar_length_ms`` milliseconds fit in a year of 365 days.

    For a caller that holds a bar length rather than a timeframe string (the live runner).
    ``bars_per_year(bar_ms(tf)) == periods_per_year(tf)`` for every fixed-length timeframe.

    Raises
    ------
    ConfigError
        If ``bar_length_ms`` is not a positive integer.
    """
    if isinstance(bar_length_ms, bool) or not isinstance(bar_length_ms, Integral):
        raise ConfigError(f"a bar length must be an integer number of ms, got {bar_length_ms!r}")
    if bar_length_ms <= 0:
        raise ConfigError(f"a bar length must be positive, got {bar_length_ms} ms")
    return YEAR_MS / int(bar_length_ms)


def periods_per_year(timeframe: str | Timeframe) -> float:
    """Return how many bars of ``timeframe`` fit in a year of 365 days.

    Crypto trades every day, so ``1h`` gives 8760, ``1m`` 525 600, ``1d`` 365, ``1w`` 365 / 7;
    calendar months give 12 per year (``3M`` gives 4).

    Raises
    ------
    ConfigError
        If ``timeframe`` is not a valid timeframe string.
    """
    tf = parse_timeframe(timeframe)
    if tf.is_calendar:
        return 12.0 / tf.count
    return bars_per_year(tf.ms)
