"""The local Parquet store of market data.

Layout (hive-style partitions, readable by ``pyarrow.dataset`` or
``pandas.read_parquet`` on any level)::

    <root>/<kind>/exchange=<exchange>/market=<market>/symbol=<BASE-QUOTE>/timeframe=<tf>/data.parquet
    <root>/funding/exchange=<exchange>/market=<market>/symbol=<BASE-QUOTE>/data.parquet

``kind`` is ``ohlcv`` (traded candles), ``markprice`` (mark-price candles of a
perpetual) or ``funding`` (funding-rate history). Each series is one Parquet
file sorted by ``timestamp`` (int64 ms UTC, bar open). Every write goes to a
temporary file in the same folder, is flushed to disk and then renamed over the
old file, so a reader (or a crash, or Ctrl-C) never sees a half-written series.
Concurrent writers of one series are serialised with an advisory file lock.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from grekko_research._atomic import folder_lock, write_parquet_atomic
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.errors import ConfigError, DataError, DataNotFoundError

__all__ = [
    "FUNDING_COLUMNS",
    "KINDS",
    "OHLCV_COLUMNS",
    "ParquetStore",
    "SeriesKey",
    "default_data_dir",
    "read_series_file",
]

OHLCV_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
FUNDING_COLUMNS = ("timestamp", "funding_rate")
KINDS = ("ohlcv", "markprice", "funding")
MARKETS = ("spot", "usdm", "coinm", "perp", "linear", "inverse", "futures")
_DATA_FILE = "data.parquet"


def default_data_dir() -> Path:
    """Return the store folder: ``$GREKKO_DATA_DIR``, else the checkout's ``data/``.

    See :mod:`grekko_research.paths` (outside a checkout: the user data folder).
    """
    from grekko_research.paths import data_dir

    return data_dir()


def _check_part(name: str, value: str) -> str:
    value = str(value).strip()
    if not value or any(c in value for c in "/\\=") or value.startswith("."):
        raise ConfigError(f"invalid {name} {value!r}: must be non-empty without '/', '\\' or '='")
    return value


def normalize_symbol(symbol: str) -> str:
    """Return the canonical ``BASE/QUOTE`` form of a symbol.

    Accepts ``BTC/USDT``, ``BTC-USDT``, ``btc/usdt`` and ccxt's perpetual form
    ``BTC/USDT:USDT`` (the settle currency is implied by the market).
    """
    raw = str(symbol).strip().upper()
    base_quote = raw.split(":", 1)[0]
    if "/" in base_quote:
        parts = base_quote.split("/")
    else:
        parts = base_quote.split("-")
    if len(parts) != 2 or not all(p.isalnum() for p in parts):
        raise ConfigError(
            f"invalid symbol {symbol!r}: expected BASE/QUOTE such as 'BTC/USDT' "
            "(letters and digits only on each side)"
        )
    return f"{parts[0]}/{parts[1]}"


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """Identify one stored series.

    Attributes
    ----------
    kind
        ``"ohlcv"``, ``"markprice"`` or ``"funding"``.
    exchange
        ccxt exchange id, e.g. ``"binance"``.
    market
        ``"spot"``, ``"usdm"``, ... (see ``MARKETS``).
    symbol
        Canonical ``BASE/QUOTE``.
    timeframe
        Bar length for candles; ``None`` for funding.
    """

    kind: str
    exchange: str
    market: str
    symbol: str
    timeframe: str | None

    @classmethod
    def make(
        cls,
        exchange: str,
        symbol: str,
        timeframe: str | None,
        *,
        market: str = "spot",
        kind: str = "ohlcv",
    ) -> SeriesKey:
        """Build a validated key, normalising the symbol and timeframe."""
        if kind not in KINDS:
            raise ConfigError(f"invalid data kind {kind!r}: expected one of {', '.join(KINDS)}")
        market = _check_part("market", market).lower()
        if market not in MARKETS:
            raise ConfigError(f"invalid market {market!r}: expected one of {', '.join(MARKETS)}")
        exchange = _check_part("exchange", exchange).lower()
        if kind == "funding":
            if timeframe is not None:
                raise ConfigError("funding series have no timeframe")
            tf = None
        else:
            if timeframe is None:
                raise ConfigError(f"{kind} series need a timeframe")
            tf = parse_timeframe(timeframe).name
        return cls(kind, exchange, market, normalize_symbol(symbol), tf)

    @property
    def columns(self) -> tuple[str, ...]:
        """Return the columns a series of this kind holds."""
        return FUNDING_COLUMNS if self.kind == "funding" else OHLCV_COLUMNS

    @property
    def symbol_dir(self) -> str:
        """Return the symbol as written in paths (``BTC-USDT``)."""
        return self.symbol.replace("/", "-")

    def relative_dir(self) -> Path:
        """Return the series folder relative to the store root."""
        parts = [
            self.kind,
            f"exchange={self.exchange}",
            f"market={self.market}",
            f"symbol={self.symbol_dir}",
        ]
        if self.timeframe is not None:
            parts.append(f"timeframe={self.timeframe}")
        return Path(*parts)

    def label(self) -> str:
        """Return a short human-readable label, e.g. ``binance spot BTC/USDT 1h``."""
        kind = "" if self.kind == "ohlcv" else f" {self.kind}"
        tf = f" {self.timeframe}" if self.timeframe else ""
        return f"{self.exchange} {self.market} {self.symbol}{tf}{kind}"


def read_series_file(
    path: Path,
    columns: tuple[str, ...],
    *,
    start_ms: int | None = None,
    end_ms: int | None = None,
    missing: str,
    hint: str,
) -> pd.DataFrame:
    """Read one series file's ``columns``, rows with ``start_ms <= timestamp < end_ms`` (the
    filter pushed down to Parquet), in stored order: the read path of every kind in the store
    (candles and funding here, trades and depth in :mod:`~grekko_research.data.ticks`).

    Raises DataNotFoundError (``missing``, the expected path, ``hint``) when there is no file
    and DataError when it cannot be read or lacks a column.
    """
    if not path.is_file():
        raise DataNotFoundError(f"{missing} (expected {path}); {hint}")
    filters = []
    if start_ms is not None:
        filters.append(("timestamp", ">=", int(start_ms)))
    if end_ms is not None:
        filters.append(("timestamp", "<", int(end_ms)))
    try:
        frame = pq.read_table(path, filters=filters or None).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc
    lacking = [c for c in columns if c not in frame.columns]
    if lacking:
        raise DataError(f"{path}: missing columns {lacking}")
    return frame.loc[:, list(columns)].reset_index(drop=True)


class ParquetStore:
    """A folder of Parquet series, one file per :class:`SeriesKey`.

    Parameters
    ----------
    root
        Store folder; defaults to :func:`default_data_dir`.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root) if root is not None else default_data_dir()

    def __repr__(self) -> str:
        return f"ParquetStore({str(self.root)!r})"

    def path(self, key: SeriesKey) -> Path:
        """Return the Parquet file of a series (it may not exist)."""
        return self.root / key.relative_dir() / _DATA_FILE

    def exists(self, key: SeriesKey) -> bool:
        """Return True when the store holds the series."""
        return self.path(key).is_file()

    def read(
        self, key: SeriesKey, *, start_ms: int | None = None, end_ms: int | None = None
    ) -> pd.DataFrame:
        """Read a series as a DataFrame with an int64 ``timestamp`` column.

        ``start_ms`` is inclusive and ``end_ms`` exclusive.

        Raises
        ------
        DataNotFoundError
            If the store has no such series.
        """
        return read_series_file(
            self.path(key),
            key.columns,
            start_ms=start_ms,
            end_ms=end_ms,
            missing=f"no data for {key.label()} in {self.root}",
            hint="run 'grekko data download' or 'grekko data import' first",
        )

    def span(self, key: SeriesKey) -> tuple[int, int, int] | None:
        """Return ``(first_ms, last_ms, rows)`` of a series, or None when absent or empty.

        Read from the Parquet footer's statistics, so it costs no data read.
        """
        path = self.path(key)
        if not path.is_file():
            return None
        meta = pq.read_metadata(path)
        if meta.num_rows == 0:
            return None
        stats = [meta.row_group(i).column(0).statistics for i in range(meta.num_row_groups)]
        if all(s is not None and s.has_min_max for s in stats):
            first, last = min(s.min for s in stats), max(s.max for s in stats)
        else:
            ts = pq.read_table(path, columns=["timestamp"]).column(0).to_numpy()
            first, last = ts.min(), ts.max()
        return int(first), int(last), int(meta.num_rows)

    def last_timestamp(self, key: SeriesKey) -> int | None:
        """Return the newest timestamp of a series, or None when it is absent or empty."""
        span = self.span(key)
        return None if span is None else span[1]

    def write(
        self,
        key: SeriesKey,
        frame: pd.DataFrame,
        *,
        mode: str = "merge",
        metadata: dict[str, str] | None = None,
    ) -> int:
        """Write rows into a series atomically and return the series' row count.

        Parameters
        ----------
        frame
            Rows with the key's columns; must already be validated.
        mode
            ``"merge"``: union with the stored rows; a timestamp present in
            both with different values raises :class:`DataError` (nothing is
            written). ``"replace"``: the frame becomes the whole series.
        metadata
            Extra key/value pairs stored in the Parquet footer (e.g. source).
        """
        if mode not in ("merge", "replace"):
            raise ConfigError(f"invalid write mode {mode!r}: expected 'merge' or 'replace'")
        if not len(frame):
            # No rows: nothing to write, and the stored series (footer included) stays as it is.
            if mode == "replace":
                raise DataError(f"{key.label()}: refusing to replace the series with no rows")
            span = self.span(key)
            return 0 if span is None else span[2]
        new = _coerce(frame, key)
        with self._locked(key):
            path = self.path(key)
            if mode == "merge" and path.is_file():
                old = self.read(key)
                new = _merge(old, new, key)
            else:
                new = new.sort_values("timestamp", kind="stable").reset_index(drop=True)
                dup = new["timestamp"].duplicated(keep=False)
                if dup.any():
                    ts = int(new.loc[dup, "timestamp"].iloc[0])
                    raise DataError(f"{key.label()}: duplicate timestamp {ts} in rows to write")
            self._atomic_write(path, new, key, metadata, keep_sources=mode == "merge")
            return len(new)

    def delete(self, key: SeriesKey) -> None:
        """Remove a series (no error when absent)."""
        with self._locked(key):
            self.path(key).unlink(missing_ok=True)

    def series(self) -> list[SeriesKey]:
        """Return every series in the store, sorted."""
        found: list[SeriesKey] = []
        if not self.root.is_dir():
            return found
        for kind in KINDS:
            base = self.root / kind
            if not base.is_dir():
                continue
            for path in sorted(base.rglob(_DATA_FILE)):
                parts = dict(
                    p.split("=", 1) for p in path.parent.relative_to(base).parts if "=" in p
                )
                try:
                    found.append(
                        SeriesKey.make(
                            parts["exchange"],
                            parts["symbol"],
                            parts.get("timeframe"),
                            market=parts["market"],
                            kind=kind,
                        )
                    )
                except (KeyError, ConfigError):
                    continue  # a foreign file: not ours to list
        return sorted(
            found, key=lambda k: (k.kind, k.exchange, k.market, k.symbol, k.timeframe or "")
        )

    def metadata(self, key: SeriesKey) -> dict[str, str]:
        """Return the ``grekko.*`` key/value pairs stored in a series' footer."""
        meta = pq.read_schema(self.path(key)).metadata or {}
        return {
            k.decode()[len("grekko.") :]: v.decode()
            for k, v in meta.items()
            if k.startswith(b"grekko.")
        }

    # -- internals -------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, key: SeriesKey) -> Iterator[None]:
        with folder_lock(self.root / key.relative_dir()):
            yield

    def _atomic_write(
        self,
        path: Path,
        frame: pd.DataFrame,
        key: SeriesKey,
        metadata: dict[str, str] | None,
        *,
        keep_sources: bool,
    ) -> None:
        fields = {
            "kind": key.kind,
            "exchange": key.exchange,
            "market": key.market,
            "symbol": key.symbol,
            "timeframe": key.timeframe or "",
        }
        earlier = self.metadata(key) if path.is_file() else {}
        # Keep footer fields from earlier writes; sources accumulate.
        fields = {**earlier, **fields, **(metadata or {})}
        sources = [s for s in earlier.get("source", "").split(", ") if s and keep_sources]
        new_source = (metadata or {}).get("source")
        if new_source and new_source not in sources:
            sources.append(new_source)
        if sources:
            fields["source"] = ", ".join(sources)
        write_parquet_atomic(path, frame, fields, row_group_size=1_000_000)


def _coerce(frame: pd.DataFrame, key: SeriesKey) -> pd.DataFrame:
    missing = [c for c in key.columns if c not in frame.columns]
    if missing:
        raise DataError(f"{key.label()}: rows to write lack columns {missing}")
    out = pd.DataFrame({"timestamp": frame["timestamp"].to_numpy(dtype=np.int64)})
    for col in key.columns[1:]:
        out[col] = frame[col].to_numpy(dtype=np.float64)
    return out


def _merge(old: pd.DataFrame, new: pd.DataFrame, key: SeriesKey) -> pd.DataFrame:
    both = old.merge(new, on="timestamp", how="inner", suffixes=("_old", "_new"))
    if len(both):
        for col in key.columns[1:]:
            a = both[f"{col}_old"].to_numpy()
            b = both[f"{col}_new"].to_numpy()
            differs = ~np.isclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True)
            if differs.any():
                i = int(np.argmax(differs))
                ts = int(both["timestamp"].iloc[i])
                stamp = pd.Timestamp(ts, unit="ms", tz="UTC")
                raise DataError(
                    f"{key.label()}: conflicting {col} at {stamp} ({ts}): store has {float(a[i])!r}, "
                    f"new data has {float(b[i])!r}; nothing was written (delete the series or "
                    "import with --replace to overwrite it)"
                )
    merged = pd.concat([old, new[~new["timestamp"].isin(old["timestamp"])]], ignore_index=True)
    return merged.sort_values("timestamp", kind="stable").reset_index(drop=True)
