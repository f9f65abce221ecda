"""Data-layer throughput, as ratios against references measured in the same run.

Run: ``.venv/bin/python benchmarks/bench_data.py [--rows 1000000] [--repeat 5]``

Measured on 1-minute candles: the real ETH/USDT USD-M series from the shared
data folder (64k bars) tiled end to end up to ``--rows`` (prices rescaled per
tile so the series stays continuous), so the numbers come from real price
paths rather than noise.

* resample 1m → 1h: ``resample_frame`` vs pandas ``resample().agg()``;
* validation: ``check_frame`` (every rule, gaps) vs a bare pandas pass that
  checks only monotonic timestamps and NaNs (a floor, not a rival);
* store round trip: ``ParquetStore.write`` + ``read`` vs bare
  ``pyarrow.parquet.write_table`` + ``read_table`` of the same frame (the cost
  of atomicity, locking and metadata).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from grekko_research.data.resample import resample_frame
from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.data.validate import check_frame
from grekko_research.paths import shared_data_dir

SHARED = shared_data_dir() or Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCE = SHARED / "ohlcv" / "binance-usdm_ETH-USDT-PERP_1m__alpergulsen.csv.gz"
MINUTE = 60_000


def real_minutes(rows: int) -> pd.DataFrame:
    """Return ``rows`` contiguous 1m bars built by tiling the real series."""
    base = pd.read_csv(SOURCE)
    start = int(base["timestamp"].iloc[0])
    base = base[base["timestamp"] == start + MINUTE * np.arange(len(base))]  # gap-free prefix
    tiles, scale, last_close = [], 1.0, None
    while sum(len(t) for t in tiles) < rows:
        tile = base.copy()
        if last_close is not None:
            scale = last_close / float(base["open"].iloc[0])
        for col in ("open", "high", "low", "close"):
            tile[col] = tile[col] * scale
        last_close = float(tile["close"].iloc[-1])
        tiles.append(tile)
    frame = pd.concat(tiles, ignore_index=True).iloc[:rows].copy()
    first = start - start % 3_600_000
    frame["timestamp"] = first + MINUTE * np.arange(rows, dtype=np.int64)
    return frame.reset_index(drop=True)


def best_of(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) if repeat < 3 else statistics.median(sorted(times)[: max(1, repeat - 1)])


def pandas_resample(frame: pd.DataFrame) -> pd.DataFrame:
    indexed = frame.set_index(pd.to_datetime(frame["timestamp"], unit="ms"))
    agg = indexed.resample("1h").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    )
    return agg.dropna()


def pandas_floor_check(frame: pd.DataFrame) -> bool:
    return bool(frame["timestamp"].is_monotonic_increasing and not frame.isna().to_numpy().any())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    frame = real_minutes(args.rows)
    key = SeriesKey.make("binance", "ETH/USDT", "1m", market="usdm")
    ours_out, _ = resample_frame(frame, "1m", "1h", partial="keep")
    ref_out = pandas_resample(frame)
    np.testing.assert_allclose(ours_out["close"].to_numpy(), ref_out["close"].to_numpy())

    rows = []
    ours = best_of(lambda: resample_frame(frame, "1m", "1h", partial="keep"), args.repeat)
    ref = best_of(lambda: pandas_resample(frame), args.repeat)
    rows.append(("resample 1m→1h", ours, "pandas resample().agg()", ref))
    ours = best_of(lambda: check_frame(frame, key, "bench"), args.repeat)
    ref = best_of(lambda: pandas_floor_check(frame), args.repeat)
    rows.append(("validate (all rules + gaps)", ours, "pandas monotonic+NaN only", ref))
    with tempfile.TemporaryDirectory() as tmp:
        store = ParquetStore(Path(tmp) / "store")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        bare = Path(tmp) / "bare.parquet"

        def ours_roundtrip() -> None:
            store.write(key, frame, mode="replace")
            store.read(key)

        def bare_roundtrip() -> None:
            pq.write_table(table, bare, compression="zstd", row_group_size=1_000_000)
            pq.read_table(bare).to_pandas()

        ours = best_of(ours_roundtrip, args.repeat)
        ref = best_of(bare_roundtrip, args.repeat)
    rows.append(("store write+read (atomic)", ours, "bare pyarrow write+read", ref))

    print(f"{args.rows:,} one-minute bars (real ETH/USDT-PERP path), median of {args.repeat}")
    print(f"{'operation':<30}{'grekko':>12}{'reference':>12}  ratio  reference is")
    for name, a, reference, b in rows:
        print(f"{name:<30}{a * 1e3:>10.1f}ms{b * 1e3:>10.1f}ms  {a / b:5.2f}  {reference}")


if __name__ == "__main__":
    main()
