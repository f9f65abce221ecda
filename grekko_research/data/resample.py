"""Exact OHLCV resampling to coarser timeframes, and aligning symbols on one index.

A target bar (stamped ``target.floor(ts)``: weeks start on Monday, months on
the 1st) takes the first constituent's open, the highest high, the lowest low,
the last close and the summed volume of the source bars it contains. It is
*complete* when every one of its constituents is present: ``target.ms //
source.ms`` of them for fixed timeframes, the number in that calendar month
for ``1M``. Flagged (``filled``) source bars count as present; a target bar
is ``filled`` only when every constituent present is. The ``partial`` policy
decides what happens to incomplete target bars:

=========  ===================================================================
``drop``   leave them out (the usual edge bars and bars over holes)
``keep``   keep them, aggregated from the constituents present
``raise``  raise :class:`DataError` naming the first one and its constituent count
=========  ===================================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import reduce

import numpy as np
import pandas as pd

from grekko_research.data.bars import FIELDS, Bars
from grekko_research.data.timeframes import Timeframe, parse_timeframe
from grekko_research.errors import ConfigError, DataError

__all__ = ["PARTIAL_POLICIES", "ResampleReport", "align", "resample_bars", "resample_frame"]

PARTIAL_POLICIES = ("drop", "keep", "raise")
_LISTED = 20


@dataclass(frozen=True, slots=True)
class ResampleReport:
    """What :func:`resample_frame` did.

    Attributes
    ----------
    source_tf, target_tf
        Timeframe names, e.g. ``"1h"`` and ``"4h"``.
    bars_in, bars_out
        Source rows read and target rows returned.
    incomplete
        Target bars missing at least one constituent.
    dropped
        Incomplete target bars left out (``partial="drop"``), else 0.
    incomplete_ms
        Open times (ms UTC) of the first 20 incomplete target bars.
    """

    source_tf: str
    target_tf: str
    bars_in: int
    bars_out: int
    incomplete: int
    dropped: int
    incomplete_ms: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class _Agg:
    index: np.ndarray  # (m,) target bar opens
    fields: dict[str, np.ndarray]  # (m, k) per field in FIELDS
    filled: np.ndarray  # (m, k) bool
    count: np.ndarray  # (m, k) constituents present
    expected: np.ndarray  # (m,) constituents of a complete bar


def _iso(ts_ms: int) -> str:
    return pd.Timestamp(int(ts_ms), unit="ms", tz="UTC").strftime("%Y-%m-%d %H:%M UTC")


def _pair(source_tf: str | Timeframe, target_tf: str | Timeframe) -> tuple[Timeframe, Timeframe]:
    src, tgt = parse_timeframe(source_tf), parse_timeframe(target_tf)
    if not src.divides(tgt):
        raise ConfigError(
            f"cannot resample {src.name} bars to {tgt.name}: a {tgt.name} bar is not made "
            f"of whole {src.name} bars on the same grid"
        )
    return src, tgt


def _choice(name: str, value: str, options: Sequence[str]) -> None:
    if value not in options:
        raise ConfigError(f"{name}={value!r}; expected one of {', '.join(map(repr, options))}")


def _check_index(ts: np.ndarray, src: Timeframe) -> None:
    if len(ts) > 1 and not np.all(np.diff(ts) > 0):
        row = int(np.flatnonzero(np.diff(ts) <= 0)[0]) + 1
        raise DataError(f"timestamps must be strictly increasing (row {row}: {_iso(ts[row])})")
    off = np.flatnonzero(~src.on_grid(ts))
    if len(off):
        raise DataError(f"timestamp {_iso(ts[off[0]])} (row {off[0]}) is not a {src.name} bar open")


def _expected(out_ts: np.ndarray, src: Timeframe, tgt: Timeframe) -> np.ndarray:
    if not tgt.is_calendar:
        return np.full(len(out_ts), tgt.ms // src.ms, dtype=np.int64)
    if src.is_calendar:
        return np.full(len(out_ts), tgt.count // src.count, dtype=np.int64)
    return (tgt.next_open(out_ts) - out_ts) // src.ms


def _aggregate(
    ts: np.ndarray,
    fields: dict[str, np.ndarray],
    filled: np.ndarray,
    src: Timeframe,
    tgt: Timeframe,
) -> _Agg:
    """Aggregate ``(n, k)`` source arrays into target bars; a row is present where close is not NaN."""
    n, k = filled.shape
    groups = tgt.floor(ts)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    present = ~np.isnan(fields["close"])
    rows = np.arange(n)[:, None]
    first = np.minimum.reduceat(np.where(present, rows, n), starts, axis=0)
    last = np.maximum.reduceat(np.where(present, rows, -1), starts, axis=0)  # -1 → NaN pad row
    cols = np.arange(k)[None, :]
    nan_row = np.full((1, k), np.nan)
    out = {
        "open": np.vstack([fields["open"], nan_row])[first, cols],
        # fmax/fmin skip NaN, so an asset without data stays NaN without a warning.
        "high": np.fmax.reduceat(np.where(present, fields["high"], np.nan), starts, axis=0),
        "low": np.fmin.reduceat(np.where(present, fields["low"], np.nan), starts, axis=0),
        "close": np.vstack([fields["close"], nan_row])[last, cols],
        "volume": np.add.reduceat(np.where(present, fields["volume"], 0.0), starts, axis=0),
    }
    return _Agg(
        index=groups[starts],
        fields=out,
        filled=np.logical_and.reduceat(filled | ~present, starts, axis=0),
        count=np.add.reduceat(present.astype(np.int64), starts, axis=0),
        expected=_expected(groups[starts], src, tgt),
    )


def resample_frame(
    frame: pd.DataFrame,
    source_tf: str | Timeframe,
    target_tf: str | Timeframe,
    *,
    partial: str = "drop",
) -> tuple[pd.DataFrame, ResampleReport]:
    """Resample one candle series to a coarser timeframe.

    Parameters
    ----------
    frame
        Columns ``timestamp open high low close volume`` and optionally a bool
        ``filled``; ``timestamp`` is the int64 ms UTC bar open, strictly
        increasing and on the ``source_tf`` grid.
    source_tf, target_tf
        The target must be made of whole source bars (``1h`` → ``4h``, ``1d`` → ``1w``).
    partial
        ``"drop"``, ``"keep"`` or ``"raise"`` for incomplete target bars.

    Returns
    -------
    tuple of (DataFrame, ResampleReport)
        The target bars, with the input's columns, and what happened.

    Raises
    ------
    ConfigError
        If the target is not a whole multiple of the source, or ``partial`` is unknown.
    DataError
        If timestamps are unsorted or off grid, or a target bar is incomplete
        under ``partial="raise"``.
    """
    src, tgt = _pair(source_tf, target_tf)
    _choice("partial", partial, PARTIAL_POLICIES)
    missing = [c for c in ("timestamp", *FIELDS) if c not in frame.columns]
    if missing:
        raise DataError(f"frame lacks columns {missing}")
    has_filled = "filled" in frame.columns
    ts = frame["timestamp"].to_numpy(np.int64)
    _check_index(ts, src)
    if len(ts) == 0:
        report = ResampleReport(src.name, tgt.name, 0, 0, 0, 0, ())
        return frame.iloc[:0].reset_index(drop=True), report
    fields = {c: frame[c].to_numpy(np.float64)[:, None] for c in FIELDS}
    filled = frame["filled"].to_numpy(bool)[:, None] if has_filled else np.zeros((len(ts), 1), bool)
    agg = _aggregate(ts, fields, filled, src, tgt)
    incomplete = agg.count[:, 0] != agg.expected
    bad = np.flatnonzero(incomplete)
    if partial == "raise" and len(bad):
        i = bad[0]
        raise DataError(
            f"{tgt.name} bar at {_iso(agg.index[i])} is incomplete: {agg.count[i, 0]} of "
            f"{agg.expected[i]} {src.name} bars present ({len(bad)} incomplete bars in all)"
        )
    keep = ~incomplete if partial == "drop" else np.ones(len(agg.index), bool)
    out = pd.DataFrame(
        {"timestamp": agg.index[keep], **{c: agg.fields[c][keep, 0] for c in FIELDS}}
    )
    if has_filled:
        out["filled"] = agg.filled[keep, 0]
    report = ResampleReport(
        source_tf=src.name,
        target_tf=tgt.name,
        bars_in=len(ts),
        bars_out=len(out),
        incomplete=len(bad),
        dropped=len(bad) if partial == "drop" else 0,
        incomplete_ms=tuple(int(t) for t in agg.index[bad[:_LISTED]]),
    )
    return out, report


def resample_bars(bars: Bars, target_tf: str | Timeframe, *, partial: str = "drop") -> Bars:
    """Resample multi-symbol ``Bars`` to a coarser timeframe.

    Each (target bar, symbol) cell is judged on its own. A source bar whose
    close is NaN (the symbol not listed yet) is absent; a cell with no present
    constituent is NaN with volume 0 and ``filled=True``, whatever the policy.
    A cell with some but not all constituents is *partial*:

    - ``"keep"`` aggregates what is present;
    - ``"drop"`` blanks the cell (NaN, volume 0, ``filled=True``, as if absent),
      then removes the rows where no symbol is complete — so a symbol listed in
      mid-bar never costs the others a bar, and one symbol gives exactly what
      :func:`resample_frame` gives;
    - ``"raise"`` raises :class:`DataError` naming the first partial cell.

    Parameters
    ----------
    bars
        Source bars; their index must lie on the ``bars.timeframe`` grid.
    target_tf
        A timeframe made of whole source bars.
    partial
        ``"drop"``, ``"keep"`` or ``"raise"``, as above.

    Raises
    ------
    ConfigError
        If the target is not a whole multiple of ``bars.timeframe``, or ``partial`` is unknown.
    DataError
        If ``bars.index`` is off the grid, or a cell is partial under ``"raise"``.
    """
    src, tgt = _pair(bars.timeframe, target_tf)
    _choice("partial", partial, PARTIAL_POLICIES)
    _check_index(bars.index, src)
    if bars.n_bars == 0:
        return replace(bars, timeframe=tgt.name)
    fields = {c: getattr(bars, c) for c in FIELDS}
    agg = _aggregate(bars.index, fields, bars.filled, src, tgt)
    complete = agg.count == agg.expected[:, None]
    part = (agg.count > 0) & ~complete
    out, filled, rows = agg.fields, agg.filled, slice(None)
    if partial == "raise" and part.any():
        i, j = np.argwhere(part)[0]
        raise DataError(
            f"{bars.symbols[j]} {tgt.name} bar at {_iso(agg.index[i])} is incomplete: "
            f"{agg.count[i, j]} of {agg.expected[i]} {src.name} bars present "
            f"({int(part.sum())} partial cells in all)"
        )
    if partial == "drop":
        for c in FIELDS:
            out[c] = np.where(part, 0.0 if c == "volume" else np.nan, out[c])
        filled = filled | part
        rows = complete.any(axis=1)
    fields = {c: out[c][rows] for c in FIELDS}
    return replace(bars, index=agg.index[rows], timeframe=tgt.name, filled=filled[rows], **fields)


def _place(part: Bars, index: np.ndarray, fill: str) -> dict[str, np.ndarray]:
    """Return the fields of ``part`` on ``index``, synthesising the bars it lacks."""
    shape = (len(index), part.n_assets)
    if part.n_bars == 0:
        out = {c: np.full(shape, 0.0 if c == "volume" else np.nan) for c in FIELDS}
        return {**out, "filled": np.ones(shape, bool)}
    pos = np.searchsorted(part.index, index, side="right") - 1  # last own bar at or before
    safe = np.clip(pos, 0, None)
    exact = ((pos >= 0) & (part.index[safe] == index))[:, None]
    # Before its first bar a symbol is not listed yet: NaN, whatever the fill.
    prev = np.where(((pos >= 0) & (fill == "ffill"))[:, None], part.close[safe], np.nan)
    out = {
        c: np.where(exact, getattr(part, c)[safe], prev) for c in ("open", "high", "low", "close")
    }
    out["volume"] = np.where(exact, part.volume[safe], 0.0)
    out["filled"] = np.where(exact, part.filled[safe], True)
    return out


def align(
    parts: Sequence[Bars],
    *,
    how: str = "outer",
    fill: str = "ffill",
    trim: bool = False,
) -> Bars:
    """Put several symbols of one timeframe on one shared index.

    Parameters
    ----------
    parts
        Single- or multi-symbol ``Bars``, all of the same timeframe, no symbol twice.
    how
        ``"inner"`` keeps the timestamps every part has; ``"outer"`` keeps the union.
    fill
        For ``"outer"``, what a symbol gets at a timestamp it lacks after its
        first bar (inside its span or after its last bar): ``"ffill"`` a bar
        with open = high = low = close = its previous close, or ``"nan"`` NaN
        prices; either way volume 0 and ``filled=True``. Before its first bar a
        symbol always gets NaN prices, volume 0 and ``filled=True`` (not listed yet).
    trim
        Cut the leading rows where any symbol's close is NaN.

    Raises
    ------
    ConfigError
        If ``parts`` is empty or ``how``/``fill`` is unknown.
    DataError
        If the timeframes differ or a symbol occurs twice.
    """
    if not parts:
        raise ConfigError("nothing to align")
    _choice("how", how, ("inner", "outer"))
    _choice("fill", fill, ("ffill", "nan"))
    timeframes = sorted({p.timeframe for p in parts})
    if len(timeframes) > 1:
        raise DataError(f"cannot align different timeframes {timeframes}; resample first")
    symbols = [s for p in parts for s in p.symbols]
    dupes = sorted({s for s in symbols if symbols.count(s) > 1})
    if dupes:
        raise DataError(f"cannot align: symbols {dupes} occur in more than one part")
    indexes = [p.index for p in parts]
    if how == "inner":
        index = reduce(np.intersect1d, indexes)
    else:
        index = np.unique(np.concatenate(indexes))
    placed = [_place(p, index, fill) for p in parts]
    exchanges = {p.exchange for p in parts}
    markets = {p.market for p in parts}
    out = Bars(
        index=index,
        symbols=tuple(symbols),
        timeframe=parts[0].timeframe,
        exchange=exchanges.pop() if len(exchanges) == 1 else "",
        market=markets.pop() if len(markets) == 1 else "",
        filled=np.concatenate([p["filled"] for p in placed], axis=1),
        open=np.concatenate([p["open"] for p in placed], axis=1),
        high=np.concatenate([p["high"] for p in placed], axis=1),
        low=np.concatenate([p["low"] for p in placed], axis=1),
        close=np.concatenate([p["close"] for p in placed], axis=1),
        volume=np.concatenate([p["volume"] for p in placed], axis=1),
    )
    if trim:
        ok = ~np.isnan(out.close).any(axis=1)
        out = out[int(np.argmax(ok)) if ok.any() else out.n_bars :]
    return out
