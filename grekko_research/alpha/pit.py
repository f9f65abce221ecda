"""Point-in-time alignment of alternative rows to bars, and the check that proves it causal.

A bar ``t`` opens at ``index[t]`` and closes at ``index[t] + tf``; a strategy decides at its
close. A row is *visible* at bar ``t`` when its knowable time is ``<= index[t] + tf``, and it
*lands* in bar ``t`` when its knowable time falls in ``(index[t], index[t] + tf]``. Both depend
only on the bar's own timestamp, so a rolling live window and a full backtest compute the same
value for the same bar (parity by construction), and holes in the index drop the rows of the
missing bars the same way in both.

The knowable time is ``published_ms`` (``mode="published"``: history researched after the
fact) or ``max(published_ms, ingested_ms)`` (``mode="ingested"``: what this machine actually
had when it had it), plus an optional ``delay_ms`` (a pipeline's latency, to stay honest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from grekko_research.errors import ConfigError

__all__ = [
    "PointInTimeReport",
    "asof_last",
    "bar_distinct",
    "bar_last",
    "bar_of",
    "bar_sum",
    "check_alt_feature",
    "knowable_ms",
    "visible_rows",
]

MODES = ("published", "ingested")


def knowable_ms(rows: pd.DataFrame, *, mode: str = "published", delay_ms: int = 0) -> np.ndarray:
    """Return each row's knowable time (int64 ms) under ``mode`` plus ``delay_ms``."""
    if mode not in MODES:
        raise ConfigError(f"invalid point-in-time mode {mode!r}: expected one of {MODES}")
    if delay_ms < 0:
        raise ConfigError(f"delay_ms must be >= 0, got {delay_ms}")
    known = rows["published_ms"].to_numpy(np.int64)
    if mode == "ingested":
        known = np.maximum(known, rows["ingested_ms"].to_numpy(np.int64))
    return known + np.int64(delay_ms)


def visible_rows(rows: pd.DataFrame, at_ms: int, **how: object) -> pd.DataFrame:
    """Return the rows knowable at ``at_ms`` (inclusive): what a decision then may read."""
    return rows[knowable_ms(rows, **how) <= int(at_ms)]  # type: ignore[arg-type]


def _sorted(known: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(known, kind="stable")  # rows come sorted by (published, id): ties stay put
    return known[order], values[order]


def bar_sum(known: np.ndarray, values: np.ndarray, index: np.ndarray, tf_ms: int) -> np.ndarray:
    """Return, per bar, the sum of ``values`` whose knowable time lands in that bar.

    Shapes: ``known``, ``values`` ``(m,)``; ``index`` ``(n,)`` bar opens; result ``(n,)``,
    0 where nothing landed. Count rows by passing ones.
    """
    k, v = _sorted(np.asarray(known, np.int64), np.asarray(values, np.float64))
    csum = np.concatenate([[0.0], np.cumsum(v)])
    opens = np.asarray(index, np.int64)
    lo = np.searchsorted(k, opens, side="right")
    hi = np.searchsorted(k, opens + np.int64(tf_ms), side="right")
    out: np.ndarray = csum[hi] - csum[lo]
    return out


def bar_of(known: np.ndarray, index: np.ndarray, tf_ms: int) -> np.ndarray:
    """Return the bar each knowable time lands in (``-1``: before, between or after the bars)."""
    opens = np.asarray(index, np.int64)
    k = np.asarray(known, np.int64)
    t = np.searchsorted(opens + np.int64(tf_ms), k, side="left")
    ok = t < len(opens)
    ok[ok] &= opens[t[ok]] < k[ok]
    return np.where(ok, t, -1)


def bar_distinct(
    known: np.ndarray, labels: np.ndarray, index: np.ndarray, tf_ms: int
) -> np.ndarray:
    """Return, per bar, how many distinct ``labels`` (e.g. authors) landed in that bar."""
    t = bar_of(known, index, tf_ms)
    out = np.zeros(len(index))
    keep = t >= 0
    if keep.any():
        pairs = pd.DataFrame({"t": t[keep], "label": np.asarray(labels)[keep]})
        counts = pairs.drop_duplicates().groupby("t").size()
        out[counts.index.to_numpy()] = counts.to_numpy(np.float64)
    return out


def bar_last(known: np.ndarray, values: np.ndarray, index: np.ndarray, tf_ms: int) -> np.ndarray:
    """Return, per bar, the last value that landed in it (NaN where none did)."""
    k, v = _sorted(np.asarray(known, np.int64), np.asarray(values, np.float64))
    t = bar_of(k, index, tf_ms)
    out = np.full(len(index), np.nan)
    keep = t >= 0
    out[t[keep]] = v[keep]  # sorted by time: the last assignment of a bar wins
    return out


def asof_last(known: np.ndarray, values: np.ndarray, index: np.ndarray, tf_ms: int) -> np.ndarray:
    """Return, per bar, the latest value knowable at its close (NaN before the first one)."""
    k, v = _sorted(np.asarray(known, np.int64), np.asarray(values, np.float64))
    at = np.searchsorted(k, np.asarray(index, np.int64) + np.int64(tf_ms), side="right") - 1
    out = np.full(len(at), np.nan)
    ok = at >= 0
    out[ok] = v[at[ok]]
    return out


@dataclass(frozen=True)
class PointInTimeReport:
    """What :func:`check_alt_feature` found: an empty ``problems`` list means causal."""

    cuts: tuple[int, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        head = f"point-in-time check over cuts {list(self.cuts)}: "
        return head + ("ok" if self.ok else "; ".join(self.problems))


def check_alt_feature(
    feature: Callable[[np.ndarray, pd.DataFrame], np.ndarray],
    rows: pd.DataFrame,
    index: np.ndarray,
    tf_ms: int,
    *,
    cuts: int = 8,
    seed: int = 0,
    mode: str = "published",
) -> PointInTimeReport:
    """Prove an alternative-data feature never sees a row before the row's knowable time.

    ``feature(index, rows)`` returns one value (or a row of values) per bar. For each cut bar
    ``t`` the feature is recomputed (a) on ``index[: t + 1]`` with only the rows knowable at
    ``t``'s close, selected here by their times, independently of the feature's own
    alignment, and (b) on the full index with every row not yet knowable given a random
    value and shifted times. Values up to ``t`` must be identical in both: a feature that
    reads a row early (by its event time, by the bar's open, by a later bar) differs.
    """
    index = np.asarray(index, np.int64)
    n = len(index)
    if n < 2:
        raise ConfigError("check_alt_feature needs at least two bars")
    rng = np.random.default_rng(seed)
    full = np.asarray(feature(index, rows), np.float64)
    picks = sorted({int(c) for c in rng.integers(0, n - 1, size=cuts)} | {n // 2})
    known = knowable_ms(rows, mode=mode)
    numeric = [
        c for c in rows.columns if c not in ("id", "event_ms", "published_ms", "ingested_ms")
    ]
    numeric = [c for c in numeric if pd.api.types.is_numeric_dtype(rows[c])]
    problems: list[str] = []
    for t in picks:
        close = int(index[t]) + int(tf_ms)
        seen = rows[known <= close]
        cut = np.asarray(feature(index[: t + 1], seen), np.float64)
        if not np.array_equal(cut, full[: t + 1], equal_nan=True):
            bad = int(np.argmax(~_same(cut, full[: t + 1])))
            problems.append(
                f"truncated at bar {t}: bar {bad} is {cut[bad]!r} with only the rows knowable "
                f"then, {full[bad]!r} with all rows (the feature reads rows before their time)"
            )
            continue
        future = rows.copy()
        later = known > close
        for col in numeric:
            future.loc[later, col] = rng.normal(size=int(later.sum())) * 1e3
        jump = rng.integers(1, 10 * int(tf_ms), size=int(later.sum()))
        for col in ("event_ms", "published_ms"):
            future.loc[later, col] = future.loc[later, col].to_numpy(np.int64) + jump
        moved = np.asarray(feature(index, future), np.float64)
        if not np.array_equal(moved[: t + 1], full[: t + 1], equal_nan=True):
            bad = int(np.argmax(~_same(moved[: t + 1], full[: t + 1])))
            problems.append(
                f"future rows perturbed after bar {t}: bar {bad} changed "
                f"({full[bad]!r} -> {moved[bad]!r})"
            )
    return PointInTimeReport(tuple(picks), tuple(problems))


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return same.reshape(len(a), -1).all(axis=1)
