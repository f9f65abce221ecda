"""The one calendar (:mod:`grekko_research.calendar`): its values, its errors, and a scan that
keeps it the only place a year's length is written down."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from grekko_research import calendar
from grekko_research.calendar import bar_ms, bars_per_year, periods_per_year
from grekko_research.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]

FIXED = ["1s", "1m", "5m", "15m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w"]


@pytest.mark.parametrize(
    ("timeframe", "expected"),
    [
        ("1m", 525_600.0),
        ("1h", 8_760.0),
        ("4h", 2_190.0),
        ("1d", 365.0),
        ("1w", 365.0 / 7.0),
        ("1M", 12.0),
        ("3M", 4.0),
    ],
)
def test_a_year_is_365_days_of_24_hours(timeframe: str, expected: float) -> None:
    assert periods_per_year(timeframe) == expected


@pytest.mark.parametrize("timeframe", FIXED)
def test_one_arithmetic_for_timeframes_and_bar_lengths(timeframe: str) -> None:
    """The live runner holds a bar length, the backtest a timeframe: the same float, exactly."""
    assert bars_per_year(bar_ms(timeframe)) == periods_per_year(timeframe)
    assert bars_per_year(np.int64(bar_ms(timeframe))) == periods_per_year(timeframe)
    assert bar_ms(timeframe) * periods_per_year(timeframe) == pytest.approx(calendar.YEAR_MS)


def test_public_aliases_are_the_calendar_itself() -> None:
    """``grekko_research.metrics.periods_per_year`` is a re-export, not a second copy."""
    from grekko_research.engine import api
    from grekko_research.metrics import periods_per_year as metrics_ppy
    from grekko_research.metrics.performance import periods_per_year as perf_ppy

    assert metrics_ppy is periods_per_year
    assert perf_ppy is periods_per_year
    assert api._periods_per_year("4h") == periods_per_year("4h")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: bar_ms("1M"), "no fixed length"),
        (lambda: bar_ms("1y"), "invalid timeframe '1y'"),
        (lambda: periods_per_year("h1"), "invalid timeframe 'h1'"),
        (lambda: bars_per_year(0), "must be positive, got 0 ms"),
        (lambda: bars_per_year(-60_000), "must be positive"),
        (lambda: bars_per_year(3.6e6), "integer number of ms, got 3600000.0"),
        (lambda: bars_per_year(True), "integer number of ms"),
    ],
)
def test_bad_input_is_named(call, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()


def test_volatility_indicators_take_a_timeframe() -> None:
    from grekko_research import indicators as ind

    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 300)))
    high, low = close * 1.01, close * 0.99
    np.testing.assert_array_equal(ind.volatility(close, 24, "1h"), ind.volatility(close, 24, 8760))
    np.testing.assert_array_equal(
        ind.parkinson(high, low, 24, "1d"), ind.parkinson(high, low, 24, 365)
    )
    np.testing.assert_array_equal(
        ind.garman_klass(close, high, low, close, 24, "4h"),
        ind.garman_klass(close, high, low, close, 24, 2190),
    )
    with pytest.raises(
        ConfigError, match="volatility: periods_per_year: invalid timeframe 'hourly'"
    ):
        ind.volatility(close, 24, "hourly")


# -- one place: no module but the calendar writes a year's length ---------------------------

# Numbers that are a year's length, or a bar count derived from one: a copy of the convention.
_YEAR_LITERALS = {365, 365.25, 365.2425, 8760, 8766, 525_600, 31_536_000_000, 31_557_600_000}
_SCANNED = ("grekko_research", "live", "strategies")


def year_literals(source: str) -> list[tuple[int, object]]:
    """(line, value) of every numeric literal in ``source`` that spells a year's length."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Constant)
            and type(node.value) in (int, float)
            and node.value in _YEAR_LITERALS
        ):
            out.append((node.lineno, node.value))
        # 365 * 86_400_000, 365.25 * 86_400_000 …: the product folded by hand is caught above
    return out


def test_no_second_calendar_in_the_code() -> None:
    found = []
    for package in _SCANNED:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path == ROOT / "grekko_research" / "calendar.py":
                continue
            try:
                source = path.read_text()
            except FileNotFoundError:  # removed while scanning (a refactor in progress)
                continue
            found += [
                f"{path.relative_to(ROOT)}:{line}: {value}" for line, value in year_literals(source)
            ]
    assert not found, "a year's length outside grekko_research/calendar.py:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "ppy = 365.25 * 86_400_000 / tf_ms",
        "YEAR = 365 * 86_400_000",
        "def f(tf):\n    return 8760.0 if tf == '1h' else None",
        "days = window * 365.0 / ppy",
    ],
)
def test_the_scan_sees_a_copy(source: str) -> None:
    """The scan above can fail: each of these (today's main had the first) is reported."""
    assert year_literals(source)


def test_the_scan_ignores_words_and_other_numbers() -> None:
    assert not year_literals('"""365 days a year"""\nx = 364 + 1\ny = 366.0\n# 365.25\n')
