"""The Parquet store: layout, merge rules, atomic writes, and a writer killed mid-write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grekko_research.data.store import ParquetStore, SeriesKey, normalize_symbol
from grekko_research.data.timeframes import parse_timeframe, to_ms
from grekko_research.errors import ConfigError, DataError, DataNotFoundError

KEY = SeriesKey.make("binance", "BTC/USDT", "1h")


def candles(start_ms: int, n: int, step: int = 3_600_000, price: float = 100.0) -> pd.DataFrame:
    close = price + np.arange(n, dtype=float)
    return pd.DataFrame(
        {
            "timestamp": start_ms + step * np.arange(n, dtype=np.int64),
            "open": close - 0.5,
            "high": close + 1.0,
            "low": close - 1.0,
            "close": close,
            "volume": np.full(n, 2.0),
        }
    )


T0 = to_ms("2024-01-01")
assert T0 is not None


def test_layout_is_hive_partitioned(store_dir: Path) -> None:
    store = ParquetStore(store_dir)
    store.write(KEY, candles(T0, 3))
    expected = store_dir / "ohlcv/exchange=binance/market=spot/symbol=BTC-USDT/timeframe=1h"
    assert (expected / "data.parquet").is_file()
    funding = SeriesKey.make("binance", "BTC/USDT", None, market="usdm", kind="funding")
    store.write(funding, pd.DataFrame({"timestamp": [T0], "funding_rate": [0.0001]}))
    assert (
        store_dir / "funding/exchange=binance/market=usdm/symbol=BTC-USDT/data.parquet"
    ).is_file()
    assert store.series() == [funding, KEY]
    # Any Parquet reader sees the partitions as columns.
    whole = pd.read_parquet(store_dir / "ohlcv")
    assert set(whole["symbol"].astype(str)) == {"BTC-USDT"}
    assert set(whole["timeframe"].astype(str)) == {"1h"}


def test_merge_appends_and_keeps_order(store_dir: Path) -> None:
    store = ParquetStore(store_dir)
    whole = candles(T0, 10)
    assert store.write(KEY, whole.iloc[5:]) == 5
    assert store.write(KEY, whole.iloc[:7]) == 10  # 5 new before, 2 overlapping identical
    pd.testing.assert_frame_equal(store.read(KEY), whole)
    assert store.span(KEY) == (T0, T0 + 9 * 3_600_000, 10)
    window = store.read(KEY, start_ms=T0 + 3_600_000, end_ms=T0 + 3 * 3_600_000)
    assert len(window) == 2


def test_conflicting_rows_are_refused_and_nothing_written(store_dir: Path) -> None:
    store = ParquetStore(store_dir)
    store.write(KEY, candles(T0, 5))
    before = store.path(KEY).read_bytes()
    other = candles(T0 + 3 * 3_600_000, 4, price=500.0)
    with pytest.raises(DataError, match="conflicting open at 2024-01-01 03:00"):
        store.write(KEY, other)
    assert store.path(KEY).read_bytes() == before
    assert store.write(KEY, other, mode="replace") == 4


def test_missing_series_and_bad_keys(store_dir: Path) -> None:
    store = ParquetStore(store_dir)
    with pytest.raises(DataNotFoundError, match="grekko data download"):
        store.read(KEY)
    assert store.span(KEY) is None
    with pytest.raises(ConfigError, match="invalid market"):
        SeriesKey.make("binance", "BTC/USDT", "1h", market="moon")
    with pytest.raises(ConfigError, match="invalid timeframe"):
        SeriesKey.make("binance", "BTC/USDT", "7x")
    with pytest.raises(ConfigError, match="invalid symbol"):
        normalize_symbol("BTC/US/DT")
    assert normalize_symbol("btc-usdt") == normalize_symbol("BTC/USDT:USDT") == "BTC/USDT"


def test_source_metadata_accumulates(store_dir: Path) -> None:
    store = ParquetStore(store_dir)
    whole = candles(T0, 4)
    store.write(KEY, whole.iloc[:2], metadata={"source": "a.csv"})
    store.write(KEY, whole.iloc[2:], metadata={"source": "ccxt:binance"})
    assert store.metadata(KEY)["source"] == "a.csv, ccxt:binance"
    store.write(KEY, candles(T0, 1), mode="replace", metadata={"source": "b.csv"})
    assert store.metadata(KEY)["source"] == "b.csv"


_WRITER = textwrap.dedent(
    """
    import sys, numpy as np, pandas as pd, pyarrow.parquet as pq
    from grekko_research.data.store import ParquetStore, SeriesKey
    store = ParquetStore(sys.argv[1])
    key = SeriesKey.make("binance", "BTC/USDT", "1m")
    real_write = pq.write_table
    def slow_write(table, where, **kw):
        real_write(table, where, **kw)
        print("written-to-temp", flush=True)
        import time; time.sleep(60)  # killed here: after the temp file, before the rename
    pq.write_table = slow_write
    n = 200_000
    ts = 1_700_000_000_000 - 1_700_000_000_000 % 60_000 + 60_000 * np.arange(n, dtype=np.int64)
    c = np.linspace(100, 200, n)
    store.write(key, pd.DataFrame({"timestamp": ts, "open": c, "high": c, "low": c, "close": c,
                                   "volume": np.ones(n)}), mode="replace")
    """
)


def test_writer_killed_mid_write_leaves_old_series_readable(store_dir: Path) -> None:
    store = ParquetStore(store_dir)
    key = SeriesKey.make("binance", "BTC/USDT", "1m")
    start = 1_700_000_000_000 - 1_700_000_000_000 % 60_000
    store.write(key, candles(start, 10, step=60_000))
    before = store.read(key)
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(store_dir)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "written-to-temp"
        partials = list(store.path(key).parent.glob("*.partial"))
        assert partials, "the writer should be holding a temporary file"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    pd.testing.assert_frame_equal(store.read(key), before)
    # The next write cleans the stale temporary file up.
    store.write(key, candles(start + 600_000, 1, step=60_000))
    assert not list(store.path(key).parent.glob("*.partial"))
    assert len(store.read(key)) == 11


def test_timeframe_grid_and_time_parsing() -> None:
    week = parse_timeframe("1w")
    monday = to_ms("2024-01-01")  # a Monday
    assert week.on_grid(np.array([monday])).all()
    assert not week.on_grid(np.array([to_ms("2024-01-04")])).any()
    month = parse_timeframe("1M")
    assert month.floor(np.array([to_ms("2024-02-17T13:00")]))[0] == to_ms("2024-02-01")
    assert month.next_open(np.array([to_ms("2024-12-01")]))[0] == to_ms("2025-01-01")
    assert parse_timeframe("1h").divides(parse_timeframe("4h"))
    assert not parse_timeframe("1h").divides(parse_timeframe("90m"))
    assert parse_timeframe("1d").divides(parse_timeframe("1w"))
    assert parse_timeframe("1d").divides(parse_timeframe("1M"))
    assert not parse_timeframe("1w").divides(parse_timeframe("1M"))
    assert to_ms("2021-01-01T02:00+02:00") == to_ms("2021-01-01")
    assert to_ms("1609459200000") == 1_609_459_200_000
    with pytest.raises(ConfigError, match="invalid time"):
        to_ms("next tuesday")
    with pytest.raises(ConfigError, match="invalid timeframe"):
        parse_timeframe("h1")
