"""Read, check and import candle and funding files (CSV, gzipped CSV, Parquet).

Layouts (one header line, comma-separated, or the same columns in Parquet):

* candles: ``timestamp,open,high,low,close,volume`` — ``timestamp`` is the bar
  *open* time in integer milliseconds since the Unix epoch, UTC;
* funding: ``timestamp,funding_rate`` — the funding time in ms and the rate as
  a fraction per funding interval.

Extra columns are ignored. File names of the form
``{exchange}-{market}[-markprice]_{BASE}-{QUOTE}[-PERP]_{timeframe|funding}__{source}.csv[.gz]``
(the layout of the shared data folder) let :func:`parse_data_filename` infer
the series, so the ``--exchange/--symbol/--timeframe`` options of
``grekko data import`` may be left out for such files.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.data.validate import (
    DataQualityReport,
    Plausibility,
    validate_frame,
)
from grekko_research.errors import ConfigError, DataError, DataValidationError, GapError

__all__ = [
    "DataFileName",
    "ImportResult",
    "find_data_files",
    "import_file",
    "import_files",
    "parse_data_filename",
    "read_data_file",
]

_NAME = re.compile(
    r"^(?P<exchange>[a-z0-9]+)-(?P<market>[a-z]+)(?P<mark>-markprice)?_"
    r"(?P<symbol>[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*)_(?P<what>[0-9]+[smhdwM]|funding)"
    r"(?:__(?P<source>[^.]+))?\.(?:csv(?:\.gz)?|parquet)$"
)
# Timestamps in ms lie between 1973 and 5138; smaller or larger ones are another unit.
_MS_LOW, _MS_HIGH = 1e11, 1e14


@dataclass(frozen=True, slots=True)
class DataFileName:
    """What a data file's name says about its contents."""

    key: SeriesKey
    source: str


def parse_data_filename(path: str | Path) -> DataFileName | None:
    """Return the series a file name describes, or None for other names.

    ``binance-spot_BTC-USDT_2h__sky1241.csv.gz`` is Binance spot BTC/USDT 2h
    candles; ``binance-usdm_BTC-USDT-PERP_funding__x.csv`` the USD-M
    perpetual's funding; ``binance-usdm-markprice_BTC-USDT-PERP_8h__x.csv``
    its mark-price candles.
    """
    match = _NAME.match(Path(path).name)
    if match is None:
        return None
    parts = match.group("symbol").split("-")
    if parts[-1] == "PERP":
        parts = parts[:-1]
    if len(parts) != 2:
        return None  # e.g. "BTCUSD-PERP": base and quote cannot be told apart
    what = match.group("what")
    kind = "funding" if what == "funding" else "markprice" if match.group("mark") else "ohlcv"
    market = match.group("market")
    if market == "perp":
        market = "usdm" if parts[1] in ("USDT", "USDC") else "perp"
    try:
        key = SeriesKey.make(
            match.group("exchange"),
            "/".join(parts),
            None if kind == "funding" else what,
            market=market,
            kind=kind,
        )
    except ConfigError:
        return None
    return DataFileName(key=key, source=match.group("source") or "")


def find_data_files(folder: str | Path, key: SeriesKey) -> list[Path]:
    """Return the files in ``folder`` (recursively) whose names describe ``key``, largest first."""
    root = Path(folder)
    if not root.is_dir():
        return []
    found = []
    for path in root.rglob("*"):
        parsed = parse_data_filename(path) if path.is_file() else None
        if parsed is not None and parsed.key == key:
            found.append(path)
    return sorted(found, key=lambda p: (-p.stat().st_size, p.name))


def read_data_file(path: str | Path, key: SeriesKey) -> pd.DataFrame:
    """Read a CSV or Parquet file into the key's columns (int64 ``timestamp`` first).

    Only the file's structure is checked here (columns, numbers, timestamp
    unit); the row rules are :func:`~grekko_research.data.validate.validate_frame`'s.

    Raises
    ------
    DataValidationError
        Naming the file, and the row and line where one is at fault, with rule
        ``unreadable`` (a truncated or corrupt gzip stream, bytes that are not
        text, a malformed CSV or Parquet file), ``empty`` (no data rows: an
        empty file or a header alone), ``schema`` (missing columns),
        ``unparseable`` (a cell that is not a number, or a fractional
        timestamp) or ``timestamp_unit`` (timestamps in seconds,
        microseconds or nanoseconds instead of milliseconds).
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise DataError(f"no such file: {source}")
    columns = list(key.columns)
    is_parquet = path.suffix == ".parquet"
    try:
        raw = _read_parquet(path) if is_parquet else _read_csv(path)
    except pd.errors.EmptyDataError as exc:
        raise DataValidationError(
            source, None, "empty", "the file is empty (not even a header line)"
        ) from exc
    except (
        OSError,
        EOFError,
        zlib.error,
        ValueError,
        pa.ArrowException,
        UnicodeDecodeError,
    ) as exc:
        raise DataValidationError(source, None, "unreadable", _unreadable(path, exc)) from exc
    if len(raw) == 0:
        raise DataValidationError(
            source, None, "empty", "no data rows (a header line alone); nothing to import"
        )
    missing = [c for c in columns if c not in raw.columns]
    if missing:
        raise DataValidationError(
            source,
            None,
            "schema",
            f"missing columns {missing}; found {list(raw.columns)[:10]}, expected a header "
            f"line {','.join(columns)}",
        )
    header = None if is_parquet else 1
    out = {}
    for col in columns:
        values = raw[col]
        if pd.api.types.is_datetime64_any_dtype(values):
            values = values.dt.tz_localize(None) if values.dt.tz is not None else values
            parsed = values.astype("datetime64[ms]").astype(np.int64).astype(np.float64)
        else:
            parsed = pd.to_numeric(values, errors="coerce").to_numpy(np.float64, na_value=np.nan)
            bad = np.isnan(parsed) & _present(values)
            if bad.any():
                row = int(np.argmax(bad)) + 1
                raise DataValidationError(
                    source,
                    row,
                    "unparseable",
                    f"column {col!r} holds {values.iloc[row - 1]!r}, which is not a number "
                    f"({int(bad.sum())} such cells in the column)",
                    line=None if header is None else row + header,
                )
        out[col] = parsed
    ts = out["timestamp"]
    finite = _check_timestamps(source, ts, header)
    frame = pd.DataFrame(out)
    if finite.all():
        frame["timestamp"] = ts.astype(np.int64)
    return frame


def _check_timestamps(source: str, ts: np.ndarray | pd.Series, header: int | None) -> np.ndarray:
    """Refuse fractional timestamps and timestamps in another unit than ms; return the mask of
    the finite ones (the rest are the row rules' business)."""
    finite = np.isfinite(ts)
    fractional = finite & (ts != np.floor(np.where(finite, ts, 0)))
    if fractional.any():
        row = int(np.argmax(fractional)) + 1
        raise DataValidationError(
            source,
            row,
            "unparseable",
            f"timestamp {float(ts[row - 1])!r} is not a whole number of milliseconds",
            line=None if header is None else row + header,
        )
    if finite.any():
        hi = float(np.max(np.abs(ts[finite])))
        if hi < _MS_LOW or hi >= _MS_HIGH:
            unit = "seconds" if hi < _MS_LOW else "microseconds or nanoseconds"
            raise DataValidationError(
                source,
                None,
                "timestamp_unit",
                f"timestamps look like {unit} (largest {hi:.0f}); expected milliseconds "
                "since the Unix epoch (UTC)",
            )
    return finite


def _unreadable(path: Path, exc: BaseException) -> str:
    """Say what is wrong with a file the readers gave up on, in the user's words."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, EOFError):
        return (
            "the gzip stream is truncated (the file ends before its end-of-stream marker): "
            "the download or copy was cut short; fetch the file again"
        )
    if isinstance(exc, gzip.BadGzipFile):
        return f"not a valid gzip file ({text}); the file is corrupt or not gzip-compressed"
    if isinstance(exc, zlib.error):
        return f"the gzip data is corrupt ({text})"
    if isinstance(exc, UnicodeDecodeError):
        return f"not a text CSV file: bytes that are not UTF-8 at offset {exc.start}"
    if isinstance(exc, pa.ArrowException) or path.suffix == ".parquet":
        return f"not a readable Parquet file ({text})"
    return text


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        # Fast path: every cell is a number (or empty). Anything else falls back
        # to reading text so the offending row can be named.
        return pd.read_csv(path, dtype=np.float64, skipinitialspace=True)
    except ValueError:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)


def _read_parquet(path: Path) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def _present(values: pd.Series) -> np.ndarray:
    """Return True where a cell holds something (an empty cell is a NaN, not a parse error)."""
    if values.dtype == object or pd.api.types.is_string_dtype(values):
        text = values.astype(str).str.strip().str.lower()
        return ~text.isin(["", "nan", "inf", "-inf", "+inf", "infinity", "-infinity"]).to_numpy()
    return np.zeros(len(values), dtype=bool)


@dataclass(frozen=True)
class ImportResult:
    """What an import did.

    Attributes
    ----------
    file_report
        The data-quality report of the file itself.
    store_report
        The report of the whole stored series after the import.
    rows_added
        Rows the store did not hold before.
    """

    key: SeriesKey
    path: Path
    file_report: DataQualityReport
    store_report: DataQualityReport
    rows_added: int


def import_file(
    path: str | Path,
    key: SeriesKey | None = None,
    *,
    store: ParquetStore | None = None,
    replace: bool = False,
    gap_policy: str = "report",
    limits: Plausibility | None = None,
) -> ImportResult:
    """Check a file and merge it into the store (see :func:`import_files`)."""
    return import_files(
        [path], key, store=store, replace=replace, gap_policy=gap_policy, limits=limits
    )[0]


@dataclass
class _Planned:
    """One series of an import: the files that feed it and the series they make."""

    key: SeriesKey
    files: list[tuple[Path, pd.DataFrame, DataQualityReport, int]]  # path, rows, report, added
    merged: pd.DataFrame
    new_rows: pd.DataFrame


def import_files(
    paths: Sequence[str | Path],
    key: SeriesKey | None = None,
    *,
    store: ParquetStore | None = None,
    replace: bool = False,
    gap_policy: str = "report",
    limits: Plausibility | None = None,
) -> list[ImportResult]:
    """Check files and merge them into the store, all or nothing.

    Every file is read and checked — alone, then merged with the stored series
    and with the batch's other files of the same series — before anything is
    written; a file that breaks a rule leaves every series as it was. Each
    series is then written once, atomically.

    Parameters
    ----------
    key
        The series of every file; inferred from each file name when omitted.
    replace
        Make the batch's files the whole series instead of merging them in
        (merging refuses rows that contradict stored ones).
    gap_policy
        ``raise`` refuses a file with gaps; ``report`` and ``fill`` import it
        and list the gaps. The store always holds the data as traded:
        ``fill`` takes effect when the series is loaded.
    limits
        Thresholds of the plausibility rules (default :class:`Plausibility`).

    Raises
    ------
    DataValidationError
        Naming the file, the first row breaking a rule and the rule (rule
        ``conflicts_with_store`` for a row that contradicts the stored series or an
        earlier file); nothing is written.
    GapError
        With ``gap_policy="raise"`` when a file has gaps; nothing is written.
    DataError
        When writing fails part-way (a full disk): the message lists the
        series already committed and those left as they were.
    """
    if gap_policy not in ("raise", "report", "fill"):
        raise ConfigError(f"invalid gap policy {gap_policy!r}: expected raise, report or fill")
    if not paths:
        raise ConfigError("no files to import")
    store = store or ParquetStore()
    plans: dict[SeriesKey, _Planned] = {}
    order: list[tuple[SeriesKey, int]] = []
    for raw_path in paths:
        path = Path(raw_path)
        file_key = key or _key_from_name(path)
        frame, report = _checked_file(path, file_key, gap_policy, limits)
        plan = plans.get(file_key)
        if plan is None:
            stored = _empty(file_key)
            if not replace and store.exists(file_key):
                stored = store.read(file_key)
            plan = plans[file_key] = _Planned(file_key, [], stored, _empty(file_key))
        _refuse_conflicts(plan, path, frame)
        fresh = frame[~frame["timestamp"].isin(plan.merged["timestamp"])]
        plan.merged = _union(plan.merged, fresh)
        plan.new_rows = _union(plan.new_rows, fresh)
        order.append((file_key, len(plan.files)))
        plan.files.append((path, frame, report, len(fresh)))
    reports = {}
    for plan in plans.values():
        names = ", ".join(p.name for p, *_ in plan.files)
        # The series as it will be stored passes every rule, across file boundaries too.
        reports[plan.key] = validate_frame(
            plan.merged, plan.key, f"{plan.key.label()} with {names} merged in", limits=limits
        )
    committed: list[str] = []
    for plan in plans.values():
        names = ", ".join(p.name for p, *_ in plan.files)
        try:
            if replace:
                store.write(plan.key, plan.merged, mode="replace", metadata={"source": names})
            elif len(plan.new_rows):
                store.write(plan.key, plan.new_rows, mode="merge", metadata={"source": names})
        except Exception as exc:
            left = [p.key.label() for p in plans.values() if p.key.label() not in committed]
            done = "; ".join(committed) or "none"
            raise DataError(
                f"writing {plan.key.label()} failed: {exc}. Committed: {done}. "
                f"Left as they were: {', '.join(left)}"
            ) from exc
        committed.append(f"{plan.key.label()} ({names})")
    results = []
    for file_key, i in order:
        plan = plans[file_key]
        path, _, report, added = plan.files[i]
        results.append(ImportResult(file_key, path, report, reports[file_key], added))
    return results


def _key_from_name(path: Path) -> SeriesKey:
    parsed = parse_data_filename(path)
    if parsed is None:
        raise ConfigError(
            f"cannot tell the series from the name {path.name!r}: give --exchange, "
            "--symbol and --timeframe (or --kind funding)"
        )
    return parsed.key


def _checked_file(
    path: Path, key: SeriesKey, gap_policy: str, limits: Plausibility | None
) -> tuple[pd.DataFrame, DataQualityReport]:
    frame = read_data_file(path, key)
    header = None if path.suffix == ".parquet" else 1
    report = validate_frame(frame, key, str(path), header_lines=header, limits=limits)
    if gap_policy == "raise" and report.gaps:
        largest = report.largest_gap
        assert largest is not None
        raise GapError(
            f"{path}: {report.n_gaps} gaps, {report.missing_bars} missing bars (largest "
            f"{largest.missing} bars from {pd.Timestamp(largest.start_ms, unit='ms', tz='UTC')}); "
            "nothing was imported (use --gap-policy report to import and list them)"
        )
    return frame, report


def _empty(key: SeriesKey) -> pd.DataFrame:
    frame = pd.DataFrame({c: np.zeros(0) for c in key.columns})
    frame["timestamp"] = frame["timestamp"].astype(np.int64)
    return frame


def _union(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    if not len(b):
        return a
    out = pd.concat([a, b], ignore_index=True) if len(a) else b.reset_index(drop=True)
    return out.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _refuse_conflicts(plan: _Planned, path: Path, frame: pd.DataFrame) -> None:
    """Raise naming the file's first row whose values differ from the series' at its time."""
    if not len(plan.merged):
        return
    new = frame.reset_index(drop=True).reset_index(names="_row")
    both = plan.merged.merge(new, on="timestamp", how="inner", suffixes=("_old", "_new"))
    if not len(both):
        return
    both = both.sort_values("_row", kind="stable")
    for col in plan.key.columns[1:]:
        a = both[f"{col}_old"].to_numpy(np.float64)
        b = both[f"{col}_new"].to_numpy(np.float64)
        differs = ~np.isclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True)
        if differs.any():
            i = int(np.argmax(differs))
            ts = int(both["timestamp"].iloc[i])
            row = int(both["_row"].iloc[i]) + 1
            earlier = [p for p, f, *_ in plan.files if ts in set(f["timestamp"])]
            held = f"{earlier[0]}" if earlier else f"the store ({plan.key.label()})"
            stamp = pd.Timestamp(ts, unit="ms", tz="UTC").isoformat()
            raise DataValidationError(
                str(path),
                row,
                "conflicts_with_store",
                f"conflicting {col} at {stamp} ({ts}): this file has {float(b[i])!r}, {held} "
                f"has {float(a[i])!r}; nothing was written (delete the series or import with "
                "--replace to overwrite it)",
                line=None if path.suffix == ".parquet" else row + 1,
            )
