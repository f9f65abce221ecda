"""Load stored series as pandas frames or as :class:`~grekko_research.data.bars.Bars`, and describe them.

Every load validates what it reads (a store edited by hand, or written by an
older version, is caught here) and applies the gap policy:

* ``raise`` — a series with gaps raises :class:`~grekko_research.errors.GapError`;
* ``report`` — holes stay holes (the index skips the missing bars);
* ``fill`` — each missing bar is inserted at the previous close with zero
  volume and ``filled=True``, so kernels know not to trade on it.

When the requested timeframe is not stored but a finer one that divides it
is, the finer series is resampled exactly (incomplete bars are dropped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from grekko_research.data.bars import Bars
from grekko_research.data.resample import align, resample_frame
from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.data.timeframes import iso, parse_timeframe, to_ms
from grekko_research.data.validate import DataQualityReport, apply_gap_policy, validate_frame
from grekko_research.errors import DataNotFoundError

__all__ = ["SeriesInfo", "load_bars", "load_frame", "series_info"]


def _find_source(store: ParquetStore, key: SeriesKey) -> SeriesKey:
    """Return ``key`` if stored, else the coarsest stored timeframe that tiles it."""
    if store.exists(key) or key.timeframe is None:
        return key
    target = parse_timeframe(key.timeframe)
    finer = [
        k
        for k in store.series()
        if (k.kind, k.exchange, k.market, k.symbol)
        == (key.kind, key.exchange, key.market, key.symbol)
        and k.timeframe is not None
        and parse_timeframe(k.timeframe).divides(target)
        and k.timeframe != key.timeframe
    ]
    if not finer:
        return key  # store.read raises the "not found" error with its hint

    def length(k: SeriesKey) -> int:
        tf = parse_timeframe(k.timeframe or "")
        return tf.ms if not tf.is_calendar else 31 * 86_400_000 * tf.count

    return max(finer, key=length)


def load_frame(
    key: SeriesKey,
    *,
    store: ParquetStore | None = None,
    start: Any = None,
    end: Any = None,
    gap_policy: str = "report",
) -> tuple[pd.DataFrame, DataQualityReport]:
    """Return one series as a DataFrame (int64 ``timestamp`` column) and its quality report.

    ``start`` is inclusive and ``end`` exclusive; both accept dates, ISO
    times or epoch milliseconds. Candle frames carry a boolean ``filled``
    column (all False unless ``gap_policy="fill"`` inserted bars).
    """
    store = store or ParquetStore()
    start_ms, end_ms = to_ms(start), to_ms(end)
    source = _find_source(store, key)
    frame = store.read(source, start_ms=start_ms, end_ms=end_ms)
    report = validate_frame(frame, source, f"store {source.label()}")
    if source != key:
        frame, _ = resample_frame(frame, str(source.timeframe), str(key.timeframe), partial="drop")
        report = validate_frame(
            frame.drop(columns=["filled"], errors="ignore"),
            key,
            f"store {key.label()} (resampled from {source.timeframe})",
        )
    if key.kind == "funding":
        return frame, report
    return apply_gap_policy(frame, report, gap_policy)


def load_bars(
    symbols: str | Sequence[str],
    timeframe: str,
    *,
    exchange: str = "binance",
    market: str = "spot",
    kind: str = "ohlcv",
    start: Any = None,
    end: Any = None,
    gap_policy: str = "report",
    how: str = "outer",
    store: ParquetStore | None = None,
) -> Bars:
    """Load one or several symbols as :class:`Bars` on one shared index.

    Several symbols are aligned with :func:`~grekko_research.data.resample.align`
    (``how="outer"``: the union of timestamps, missing bars synthesised and
    flagged; ``"inner"``: only timestamps every symbol has).
    """
    names = [symbols] if isinstance(symbols, str) else list(symbols)
    parts = []
    for symbol in names:
        key = SeriesKey.make(exchange, symbol, timeframe, market=market, kind=kind)
        frame, _ = load_frame(key, store=store, start=start, end=end, gap_policy=gap_policy)
        parts.append(
            Bars.from_frame(
                frame, key.symbol, key.timeframe or "", exchange=exchange, market=market
            )
        )
    if len(parts) == 1:
        return parts[0]
    return align(parts, how=how)


@dataclass(frozen=True)
class SeriesInfo:
    """Facts about one stored series: its quality report plus price extremes."""

    key: SeriesKey
    path: str
    bytes: int
    source: str
    report: DataQualityReport
    extremes: dict[str, dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "kind": self.key.kind,
            "exchange": self.key.exchange,
            "market": self.key.market,
            "symbol": self.key.symbol,
            "timeframe": self.key.timeframe,
            "path": self.path,
            "bytes": self.bytes,
            "source": self.source,
            **{k: v for k, v in self.report.to_dict().items() if k not in ("source", "kind")},
            "extremes": self.extremes,
        }


def series_info(
    key: SeriesKey,
    *,
    store: ParquetStore | None = None,
    start: Any = None,
    end: Any = None,
) -> SeriesInfo:
    """Describe a stored series (optionally only ``[start, end)``).

    Raises
    ------
    DataNotFoundError
        If the store has no such series (or none in the window).
    """
    store = store or ParquetStore()
    frame = store.read(key, start_ms=to_ms(start), end_ms=to_ms(end))
    if frame.empty:
        raise DataNotFoundError(f"{key.label()} has no rows between {start} and {end}")
    report = validate_frame(frame, key, f"store {key.label()}")
    ts = frame["timestamp"].to_numpy(np.int64)

    def at(col: str, pick: str) -> dict[str, Any]:
        values = frame[col].to_numpy(np.float64)
        i = int(np.argmax(values) if pick == "max" else np.argmin(values))
        return {"value": float(values[i]), "timestamp_ms": int(ts[i]), "time": iso(int(ts[i]))}

    if key.kind == "funding":
        rates = frame["funding_rate"].to_numpy(np.float64)
        extremes = {
            "max_funding_rate": at("funding_rate", "max"),
            "min_funding_rate": at("funding_rate", "min"),
            "mean_funding_rate": {"value": float(rates.mean())},
        }
    else:
        extremes = {
            "max_high": at("high", "max"),
            "min_low": at("low", "min"),
            "last_close": {"value": float(frame["close"].iloc[-1]), "time": iso(int(ts[-1]))},
        }
    path = store.path(key)
    return SeriesInfo(
        key=key,
        path=str(path),
        bytes=path.stat().st_size,
        source=store.metadata(key).get("source", ""),
        report=report,
        extremes=extremes,
    )
