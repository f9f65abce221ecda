"""Data validation and the data-quality report.

Row rules (a row breaking one is rejected with a :class:`DataValidationError`
naming the source, the 1-based data row and the rule):

=========================  ===============================================================
rule                       broken when
=========================  ===============================================================
``nan_or_inf``             a timestamp, price, volume or funding rate is NaN or infinite
``non_positive_price``     open, high, low or close is zero or negative
``negative_volume``        volume is negative
``high_low_inconsistent``  high is below open, close or low, or low is above open or close
``duplicate_timestamp``    a timestamp occurs more than once
``non_increasing_timestamp`` a timestamp is earlier than the row before it
``off_grid``               a candle's timestamp is not a bar open of its timeframe
``funding_rate_out_of_range`` a funding rate's magnitude exceeds 10 % per interval
``implausible_price``      a price is above ``Plausibility.max_price`` (1e12) or below
                           ``min_price`` (1e-12): a unit error or a corrupt cell
``implausible_volume``     volume is above ``Plausibility.max_volume`` (1e18)
``range_outlier``          a candle's range (high − low) / close is more than
                           ``max_range_ratio`` (500) times the median range of the bars
                           around it (``range_window`` = 25 on each side, itself included),
                           that median floored at ``range_floor`` (1 %)
``price_jump``             a candle opens more than ``max_jump`` (20) times above or below
                           the previous close
=========================  ===============================================================

The last four are *plausibility* rules: their thresholds live in :class:`Plausibility`
(``grekko data import --max-range-ratio …``; ``Plausibility.off()`` disables them). The
defaults are orders of magnitude beyond anything in real markets: every file in the shared
data folder passes, including the crashes of March 2020 and May 2021, the 2011 Bitstamp
bars and the April 2017 Coinbase bar whose low was one cent — the largest ratio measured
there is 75 for ``range_outlier`` and 5.6 for ``price_jump``.

Gaps (missing bars between two present ones) are not errors in themselves:
they are counted and listed in the report, and the gap policy decides what
happens next — ``raise`` (:class:`GapError`), ``report`` (keep the holes) or
``fill`` (insert flagged zero-volume bars at the previous close).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from grekko_research.data.store import SeriesKey
from grekko_research.data.timeframes import Timeframe, iso, parse_timeframe
from grekko_research.errors import ConfigError, DataValidationError, GapError

__all__ = [
    "GAP_POLICIES",
    "RULES",
    "DataQualityReport",
    "Gap",
    "Plausibility",
    "Violation",
    "apply_gap_policy",
    "check_frame",
    "find_gaps",
    "validate_frame",
]

RULES = (
    "nan_or_inf",
    "non_positive_price",
    "negative_volume",
    "high_low_inconsistent",
    "duplicate_timestamp",
    "non_increasing_timestamp",
    "off_grid",
    "funding_rate_out_of_range",
    "implausible_price",
    "implausible_volume",
    "range_outlier",
    "price_jump",
)
GAP_POLICIES = ("raise", "report", "fill")
MAX_FUNDING_RATE = 0.10
_LISTED_VIOLATIONS = 20


@dataclass(frozen=True, slots=True)
class Plausibility:
    """Thresholds of the plausibility rules (see the module docstring); ``inf`` turns one off.

    Attributes
    ----------
    max_price, min_price
        Bounds on open, high, low and close.
    max_volume
        Bound on volume.
    max_range_ratio
        How many times the neighbours' median range a bar's range may reach.
    range_window
        Neighbours on each side for that median.
    range_floor
        Smallest neighbour range (a fraction of the close) the ratio is taken against, so a
        quiet stretch of flat bars does not turn an ordinary bar into an outlier.
    max_jump
        Largest factor between a bar's open and the previous close, either way.
    """

    max_price: float = 1e12
    min_price: float = 1e-12
    max_volume: float = 1e18
    max_range_ratio: float = 500.0
    range_window: int = 25
    range_floor: float = 0.01
    max_jump: float = 20.0

    def __post_init__(self) -> None:
        for name in ("max_price", "max_volume", "max_range_ratio", "max_jump"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value > 0 and value == value):
                raise ConfigError(f"Plausibility.{name} must be positive, got {_num(value)}")
        if not 0 <= self.min_price < self.max_price:
            raise ConfigError(
                f"Plausibility.min_price must be in [0, max_price), got {_num(self.min_price)}"
            )
        if self.max_jump < 1:
            raise ConfigError(f"Plausibility.max_jump must be at least 1, got {self.max_jump}")
        if not (isinstance(self.range_window, int) and self.range_window >= 1):
            raise ConfigError(
                f"Plausibility.range_window must be a positive integer, got {self.range_window!r}"
            )
        if not (0 < self.range_floor < np.inf):
            raise ConfigError(
                f"Plausibility.range_floor must be positive, got {_num(self.range_floor)}"
            )

    @classmethod
    def off(cls) -> Plausibility:
        """Return thresholds that let every finite value through."""
        inf = float("inf")
        return cls(max_price=inf, min_price=0.0, max_volume=inf, max_range_ratio=inf, max_jump=inf)


def _num(value: Any) -> str:
    """Return a number as plain text (``-5.0``, never ``np.float64(-5.0)``)."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return repr(value)


def _neighbour_median(values: np.ndarray, window: int) -> np.ndarray:
    """Return the median of the ``2 × window + 1`` values centred on each (NaNs skipped).

    The bar itself counts as one of them, which moves the median by one rank at most, and
    keeps this a single O(n log window) pass (pandas' rolling median).
    """
    rolling = pd.Series(values).rolling(2 * window + 1, center=True, min_periods=1)
    return rolling.median().to_numpy(np.float64)


@dataclass(frozen=True, slots=True)
class Violation:
    """One row breaking one rule (``row`` counts data rows from 1)."""

    row: int
    rule: str
    detail: str


@dataclass(frozen=True, slots=True)
class Gap:
    """A run of missing bars.

    Attributes
    ----------
    after_ms
        Open time of the last bar before the hole.
    start_ms
        Open time of the first missing bar.
    end_ms
        Open time of the first bar after the hole (exclusive end).
    missing
        Number of missing bars.
    """

    after_ms: int
    start_ms: int
    end_ms: int
    missing: int

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with ISO times beside the millisecond stamps."""
        return {
            **asdict(self),
            "start": iso(self.start_ms),
            "end": iso(self.end_ms),
        }


@dataclass(frozen=True)
class DataQualityReport:
    """What validation found in one series or file."""

    source: str
    kind: str
    timeframe: str | None
    rows: int
    start_ms: int | None
    end_ms: int | None
    expected_bars: int | None
    gaps: tuple[Gap, ...] = ()
    violations: tuple[Violation, ...] = ()
    violation_counts: dict[str, int] = field(default_factory=dict)
    filled_bars: int = 0

    @property
    def ok(self) -> bool:
        """True when no row breaks a rule (gaps do not count)."""
        return not self.violation_counts

    @property
    def n_gaps(self) -> int:
        """Number of holes."""
        return len(self.gaps)

    @property
    def missing_bars(self) -> int:
        """Total number of missing bars over all holes."""
        return sum(g.missing for g in self.gaps)

    @property
    def largest_gap(self) -> Gap | None:
        """The hole with the most missing bars (the earliest on ties)."""
        return max(self.gaps, key=lambda g: g.missing, default=None)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of every fact in the report."""
        largest = self.largest_gap
        return {
            "source": self.source,
            "kind": self.kind,
            "timeframe": self.timeframe,
            "rows": self.rows,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "start": iso(self.start_ms),
            "end": iso(self.end_ms),
            "expected_bars": self.expected_bars,
            "n_gaps": self.n_gaps,
            "missing_bars": self.missing_bars,
            "largest_gap": largest.to_dict() if largest else None,
            "gaps": [g.to_dict() for g in self.gaps],
            "filled_bars": self.filled_bars,
            "ok": self.ok,
            "violation_counts": dict(self.violation_counts),
            "violations": [asdict(v) for v in self.violations],
        }


def _row_masks(
    frame: pd.DataFrame, kind: str, tf: Timeframe | None, limits: Plausibility
) -> dict[str, np.ndarray]:
    """Return, per rule, a boolean mask of the rows that break it."""
    n = len(frame)
    ts_raw = frame["timestamp"].to_numpy(dtype=np.float64, na_value=np.nan)
    masks: dict[str, np.ndarray] = {}
    value_cols = (
        ["funding_rate"] if kind == "funding" else ["open", "high", "low", "close", "volume"]
    )
    values = np.column_stack([frame[c].to_numpy(np.float64, na_value=np.nan) for c in value_cols])
    bad = ~np.isfinite(values).all(axis=1) | ~np.isfinite(ts_raw)
    masks["nan_or_inf"] = bad
    ts = np.where(np.isfinite(ts_raw), ts_raw, 0).astype(np.int64)
    if kind == "funding":
        rate = values[:, 0]
        with np.errstate(invalid="ignore"):
            masks["funding_rate_out_of_range"] = ~bad & (np.abs(rate) > MAX_FUNDING_RATE)
    else:
        o, h, lo, c, v = (values[:, i] for i in range(5))
        with np.errstate(invalid="ignore"):
            masks["non_positive_price"] = ~bad & ((o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0))
            masks["negative_volume"] = ~bad & (v < 0)
            masks["high_low_inconsistent"] = ~bad & (
                (h < np.maximum(o, c)) | (lo > np.minimum(o, c)) | (h < lo)
            )
            prices = values[:, :4]
            masks["implausible_price"] = ~bad & (
                (prices > limits.max_price).any(axis=1)
                | ((prices < limits.min_price) & (prices > 0)).any(axis=1)
            )
            masks["implausible_volume"] = ~bad & (v > limits.max_volume)
            sane = ~bad & (c > 0) & (lo > 0)
            rel = np.where(sane, (h - lo) / np.where(sane, c, 1.0), np.nan)
            if np.isfinite(limits.max_range_ratio) and n > 1:
                around = _neighbour_median(rel, limits.range_window)
                base = np.fmax(around, limits.range_floor)
                masks["range_outlier"] = sane & (rel > limits.max_range_ratio * base)
            else:
                masks["range_outlier"] = np.zeros(n, dtype=bool)
            jump = np.zeros(n, dtype=bool)
            if n > 1 and np.isfinite(limits.max_jump):
                prev_c = c[:-1]
                ok = sane[1:] & sane[:-1] & (o[1:] > 0)
                ratio = np.where(ok, o[1:] / np.where(ok, prev_c, 1.0), 1.0)
                jump[1:] = ok & ((ratio > limits.max_jump) | (ratio * limits.max_jump < 1.0))
            masks["price_jump"] = jump
    dup = np.zeros(n, dtype=bool)
    # Strictly increasing stamps cannot repeat: hash them only when they are not.
    if n > 1 and not np.all(ts[1:] > ts[:-1]):
        dup = pd.Series(ts).duplicated(keep="first").to_numpy() & np.isfinite(ts_raw)
    masks["duplicate_timestamp"] = dup
    dec = np.zeros(n, dtype=bool)
    if n > 1:
        dec[1:] = ts[1:] < ts[:-1]
    masks["non_increasing_timestamp"] = dec & np.isfinite(ts_raw)
    if tf is not None:
        masks["off_grid"] = np.isfinite(ts_raw) & ~tf.on_grid(ts)
    return masks


def _describe(
    frame: pd.DataFrame, row: int, rule: str, tf: Timeframe | None, limits: Plausibility
) -> str:
    if rule in _TIME_RULES:
        return _describe_time(frame, row, rule, tf)
    rec = {c: frame[c].iloc[row] for c in frame.columns}
    cells = lambda *names: ", ".join(f"{c}={_num(rec[c])}" for c in names)  # noqa: E731
    prices = ("open", "high", "low", "close")
    if rule == "nan_or_inf":
        bad = [c for c in frame.columns if not np.isfinite(float(rec[c]))]
        return f"non-finite value in {', '.join(bad)}: " + cells(*bad)
    if rule == "non_positive_price":
        return "prices must be > 0: " + cells(*prices)
    if rule == "negative_volume":
        return f"volume={_num(rec['volume'])} is negative"
    if rule == "high_low_inconsistent":
        return f"{cells('high', 'low')} must bracket {cells('open', 'close')}"
    if rule == "implausible_price":
        return (
            f"{cells(*prices)}: outside the plausible range [{limits.min_price:g}, "
            f"{limits.max_price:g}] (Plausibility.min_price / max_price)"
        )
    if rule == "implausible_volume":
        return (
            f"volume={_num(rec['volume'])} is above the plausible {limits.max_volume:g} "
            "(Plausibility.max_volume)"
        )
    if rule == "range_outlier":
        rel = (float(rec["high"]) - float(rec["low"])) / float(rec["close"])
        return (
            f"{cells('high', 'low', 'close')}: range {rel:.4g} × close, more than "
            f"{limits.max_range_ratio:g} times the neighbouring bars' median range "
            f"(Plausibility.max_range_ratio)"
        )
    if rule == "price_jump":
        prev = float(frame["close"].iloc[row - 1])
        return (
            f"open={_num(rec['open'])} is more than {limits.max_jump:g} times away from the "
            f"previous close {_num(prev)} (Plausibility.max_jump)"
        )
    if rule == "funding_rate_out_of_range":
        return f"funding_rate={_num(rec['funding_rate'])} exceeds ±{MAX_FUNDING_RATE}"
    return rule


_TIME_RULES = ("duplicate_timestamp", "non_increasing_timestamp", "off_grid")


def _describe_time(frame: pd.DataFrame, row: int, rule: str, tf: Timeframe | None) -> str:
    """The message of a timestamp rule (``_TIME_RULES``) broken at ``row``."""
    ts = int(frame["timestamp"].iloc[row])
    if rule == "duplicate_timestamp":
        return f"timestamp {ts} ({iso(ts)}) already appeared in an earlier row"
    if rule == "non_increasing_timestamp":
        prev = int(frame["timestamp"].iloc[row - 1])
        return f"timestamp {ts} ({iso(ts)}) is earlier than the previous row's {prev}"
    assert tf is not None  # off_grid is checked only with a timeframe
    return (
        f"timestamp {ts} ({iso(ts)}) is not a {tf.name} bar open "
        "(timestamps must be bar open times in ms UTC)"
    )


def find_gaps(ts_ms: np.ndarray, timeframe: str | Timeframe) -> tuple[Gap, ...]:
    """Return the holes in a strictly increasing, on-grid series of bar opens."""
    tf = parse_timeframe(timeframe)
    ts = np.asarray(ts_ms, dtype=np.int64)
    if len(ts) < 2:
        return ()
    expected = tf.next_open(ts[:-1])
    holes = np.flatnonzero(ts[1:] > expected)
    gaps = []
    for i in holes:
        after, nxt, start = int(ts[i]), int(ts[i + 1]), int(expected[i])
        if tf.is_calendar:
            m = lambda x: int(np.datetime64(x, "ms").astype("datetime64[M]").astype(np.int64))  # noqa: E731
            missing = (m(nxt) - m(after)) // tf.count - 1
        else:
            missing = (nxt - after) // tf.ms - 1
        gaps.append(Gap(after_ms=after, start_ms=start, end_ms=nxt, missing=int(missing)))
    return tuple(gaps)


def check_frame(
    frame: pd.DataFrame,
    key: SeriesKey,
    source: str,
    *,
    limits: Plausibility | None = None,
) -> DataQualityReport:
    """Check every rule on ``frame`` and return the report without raising.

    ``frame`` has the key's columns (``timestamp`` first); ``source`` names
    the file or series in messages; ``limits`` sets the plausibility rules'
    thresholds (default :class:`Plausibility`).
    """
    limits = limits or Plausibility()
    missing = [c for c in key.columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            source, None, "schema", f"missing columns {missing}; expected {list(key.columns)}"
        )
    tf = parse_timeframe(key.timeframe) if key.timeframe else None
    masks = _row_masks(frame, key.kind, tf, limits)
    counts = {rule: int(m.sum()) for rule, m in masks.items() if m.any()}
    violations: list[Violation] = []
    if counts:
        flagged = np.column_stack([masks[r] for r in masks])
        rules = list(masks)
        for row in np.flatnonzero(flagged.any(axis=1))[:_LISTED_VIOLATIONS]:
            for j in np.flatnonzero(flagged[row]):
                violations.append(
                    Violation(
                        int(row) + 1, rules[j], _describe(frame, int(row), rules[j], tf, limits)
                    )
                )
    n = len(frame)
    ts = frame["timestamp"].to_numpy()
    start = int(np.nanmin(ts)) if n else None
    end = int(np.nanmax(ts)) if n else None
    gaps: tuple[Gap, ...] = ()
    expected = None
    if tf is not None and n and not counts:
        gaps = find_gaps(ts, tf)
        expected = n + sum(g.missing for g in gaps)
    return DataQualityReport(
        source=source,
        kind=key.kind,
        timeframe=key.timeframe,
        rows=n,
        start_ms=start,
        end_ms=end,
        expected_bars=expected,
        gaps=gaps,
        violations=tuple(violations),
        violation_counts=counts,
    )


def validate_frame(
    frame: pd.DataFrame,
    key: SeriesKey,
    source: str,
    *,
    header_lines: int | None = None,
    limits: Plausibility | None = None,
) -> DataQualityReport:
    """Check ``frame`` and raise on the first row that breaks a rule.

    ``header_lines`` is the number of lines above data row 1 in a text file
    (1 for a CSV with a header); when given, errors also name the file line.

    Returns
    -------
    DataQualityReport
        The report (gaps listed, never raised here).

    Raises
    ------
    DataValidationError
        Naming ``source``, the first offending data row (from 1) and the rule;
        the message also counts the other violations.
    """
    report = check_frame(frame, key, source, limits=limits)
    if not report.ok:
        first = report.violations[0]
        total = sum(report.violation_counts.values())
        detail = first.detail
        if total > 1:
            others = ", ".join(f"{r}: {c}" for r, c in report.violation_counts.items())
            detail += f" ({total} violations in all — {others})"
        line = None if header_lines is None else first.row + header_lines
        raise DataValidationError(source, first.row, first.rule, detail, line=line)
    return report


def apply_gap_policy(
    frame: pd.DataFrame, report: DataQualityReport, policy: str
) -> tuple[pd.DataFrame, DataQualityReport]:
    """Apply a gap policy to a validated candle frame.

    Parameters
    ----------
    policy
        ``"raise"``: raise :class:`GapError` when there is any gap.
        ``"report"``: return the frame unchanged (holes stay holes).
        ``"fill"``: insert one bar per missing timestamp with open = high =
        low = close = the previous close, volume 0 and ``filled`` True.

    Returns
    -------
    tuple
        The frame, with a boolean ``filled`` column, and the report (its
        ``filled_bars`` set).
    """
    if policy not in GAP_POLICIES:
        raise ConfigError(
            f"invalid gap policy {policy!r}: expected one of {', '.join(GAP_POLICIES)}"
        )
    out = frame.copy()
    if "filled" not in out.columns:
        out["filled"] = False
    if not report.gaps or policy == "report":
        return out, report
    if policy == "raise":
        largest = report.largest_gap
        assert largest is not None
        raise GapError(
            f"{report.source}: {report.n_gaps} gaps, {report.missing_bars} missing bars "
            f"(largest: {largest.missing} bars from {iso(largest.start_ms)}); "
            "use gap policy 'report' to keep them or 'fill' to insert flagged bars"
        )
    tf = parse_timeframe(report.timeframe or "")
    stamps = []
    for gap in report.gaps:
        t = gap.start_ms
        while t < gap.end_ms:
            stamps.append(t)
            t = int(tf.next_open(np.array([t]))[0])
    ts = out["timestamp"].to_numpy(np.int64)
    new_ts = np.asarray(stamps, dtype=np.int64)
    prev_close = out["close"].to_numpy()[np.searchsorted(ts, new_ts, "right") - 1]
    fill = pd.DataFrame(
        {
            "timestamp": new_ts,
            "open": prev_close,
            "high": prev_close,
            "low": prev_close,
            "close": prev_close,
            "volume": 0.0,
            "filled": True,
        }
    )
    merged = pd.concat([out, fill], ignore_index=True)
    merged = merged.sort_values("timestamp", kind="stable").reset_index(drop=True)
    report = replace(report, filled_bars=len(fill))
    return merged, report
