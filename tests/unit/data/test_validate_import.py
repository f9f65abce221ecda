"""Import and validation of the real shared files, and one corrupted copy per rule."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grekko_research.data.files import import_file, parse_data_filename, read_data_file
from grekko_research.data.load import load_frame, series_info
from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.data.validate import RULES, check_frame, find_gaps, validate_frame
from grekko_research.errors import ConfigError, DataValidationError, GapError

BTC_2H = "ohlcv/binance-spot_BTC-USDT_2h__sky1241.csv.gz"
BTC_1H = "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz"
FUNDING = "funding/binance-usdm_BTC-USDT-PERP_funding__sky1241.csv"
KEY_1H = SeriesKey.make("binance", "BTC/USDT", "1h")


def _lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as handle:
        return handle.read().splitlines()


def _write(path: Path, lines: list[str]) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def _set(line: str, column: int, value: str) -> str:
    cells = line.split(",")
    cells[column] = value
    return ",".join(cells)


def test_real_2h_file_facts(shared_data: Path, store_dir: Path) -> None:
    store = ParquetStore(store_dir)
    key = SeriesKey.make("binance", "BTC/USDT", "2h")
    result = import_file(shared_data / BTC_2H, key, store=store)
    report = result.store_report
    assert result.rows_added == 35_123
    assert report.rows == 35_123
    assert (report.n_gaps, report.missing_bars) == (18, 53)
    assert report.expected_bars == 35_123 + 53
    assert pd.Timestamp(report.start_ms, unit="ms").date().isoformat() == "2017-08-17"
    assert pd.Timestamp(report.end_ms, unit="ms").date().isoformat() == "2025-08-26"
    dec = series_info(key, store=store, start="2017-12-01", end="2018-01-01")
    assert dec.extremes["max_high"]["value"] == 19_798.68
    assert dec.extremes["max_high"]["time"].startswith("2017-12-17")
    # The largest hole, 2018-02-08 02:00 → 2018-02-09 10:00, is 16 bars.
    largest = report.largest_gap
    assert largest is not None
    assert largest.missing == 16
    assert pd.Timestamp(largest.start_ms, unit="ms") == pd.Timestamp("2018-02-08 02:00")


def test_reimport_is_idempotent_and_conflicts_are_refused(
    shared_data: Path, store_dir: Path, tmp_path: Path
) -> None:
    store = ParquetStore(store_dir)
    first = import_file(shared_data / BTC_1H, KEY_1H, store=store)
    again = import_file(shared_data / BTC_1H, KEY_1H, store=store)
    assert first.rows_added == 5_482
    assert again.rows_added == 0
    lines = _lines(shared_data / BTC_1H)
    lines[10] = _set(lines[10], 4, str(float(lines[10].split(",")[4]) + 1.0))
    conflicting = _write(tmp_path / "binance-spot_BTC-USDT_1h__edited.csv.gz", lines)
    before = store.path(KEY_1H).read_bytes()
    with pytest.raises(Exception, match="conflicting close") as info:
        import_file(conflicting, KEY_1H, store=store)
    assert "nothing was written" in str(info.value)
    assert store.path(KEY_1H).read_bytes() == before


def test_every_shared_candle_and_funding_file_validates(shared_data: Path) -> None:
    checked = 0
    for path in sorted((shared_data / "ohlcv").glob("*.csv.gz")) + sorted(
        (shared_data / "funding").glob("*.csv")
    ):
        parsed = parse_data_filename(path)
        if parsed is None:
            continue
        frame = read_data_file(path, parsed.key)
        report = check_frame(frame, parsed.key, str(path))
        assert report.ok, (path.name, report.violation_counts)
        checked += 1
    assert checked >= 55


# rule -> (data row to corrupt, counted from 1 below the header; how to corrupt it)
CORRUPTIONS: dict[str, tuple] = {
    "nan_or_inf": (100, lambda ls, r: ls.__setitem__(r, _set(ls[r], 4, "nan"))),
    "non_positive_price": (101, lambda ls, r: ls.__setitem__(r, _set(ls[r], 3, "0"))),
    "negative_volume": (102, lambda ls, r: ls.__setitem__(r, _set(ls[r], 5, "-1.5"))),
    "high_low_inconsistent": (
        103,
        lambda ls, r: ls.__setitem__(r, _set(ls[r], 2, str(float(ls[r].split(",")[3]) - 1))),
    ),
    "duplicate_timestamp": (105, lambda ls, r: ls.__setitem__(r, ls[r - 1])),
    "non_increasing_timestamp": (
        106,
        # an on-grid time before the file's first bar: earlier, yet no duplicate
        lambda ls, r: ls.__setitem__(r, _set(ls[r], 0, str(int(ls[1].split(",")[0]) - 3_600_000))),
    ),
    "off_grid": (
        107,
        lambda ls, r: ls.__setitem__(r, _set(ls[r], 0, str(int(ls[r].split(",")[0]) + 60_000))),
    ),
    "unparseable": (108, lambda ls, r: ls.__setitem__(r, _set(ls[r], 1, "12.3.4"))),
}


@pytest.mark.parametrize("rule", list(CORRUPTIONS))
def test_each_broken_rule_is_named_with_file_row_and_line(
    rule: str, shared_data: Path, tmp_path: Path, store_dir: Path
) -> None:
    row, corrupt = CORRUPTIONS[rule]
    lines = _lines(shared_data / BTC_1H)
    corrupt(lines, row)  # lines[row] is data row `row` (line row + 1)
    bad = _write(tmp_path / f"binance-spot_BTC-USDT_1h__{rule}.csv.gz", lines)
    store = ParquetStore(store_dir)
    with pytest.raises(DataValidationError) as info:
        import_file(bad, KEY_1H, store=store)
    err = info.value
    assert err.rule == rule
    assert err.row == row
    assert err.line == row + 1
    assert bad.name in str(err) and f"row {row} (line {row + 1})" in str(err)
    assert rule in str(err)
    assert not store.exists(KEY_1H), "nothing may be written from a rejected file"


def test_funding_rate_rule_and_funding_import(
    shared_data: Path, tmp_path: Path, store_dir: Path
) -> None:
    store = ParquetStore(store_dir)
    good = import_file(shared_data / FUNDING, store=store)
    assert good.key == SeriesKey.make("binance", "BTC/USDT", None, market="usdm", kind="funding")
    assert good.store_report.rows == 7_028
    lines = _lines(shared_data / FUNDING)
    lines[42] = _set(lines[42], 1, "0.75")
    bad = _write(tmp_path / "binance-usdm_BTC-USDT-PERP_funding__bad.csv", lines)
    with pytest.raises(DataValidationError) as info:
        import_file(bad, store=ParquetStore(tmp_path / "other"))
    assert (info.value.rule, info.value.row) == ("funding_rate_out_of_range", 42)


def test_file_level_rules(shared_data: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(shared_data / BTC_1H)
    seconds = tmp_path / "seconds.csv"
    frame.assign(timestamp=frame["timestamp"] // 1000).to_csv(seconds, index=False)
    with pytest.raises(DataValidationError, match="look like seconds") as info:
        read_data_file(seconds, KEY_1H)
    assert info.value.rule == "timestamp_unit"
    no_volume = tmp_path / "novolume.csv"
    frame.drop(columns=["volume"]).to_csv(no_volume, index=False)
    with pytest.raises(DataValidationError, match=r"missing columns \['volume'\]") as info:
        read_data_file(no_volume, KEY_1H)
    assert info.value.rule == "schema"
    fractional = tmp_path / "fraction.csv"
    frame.assign(
        timestamp=frame["timestamp"].astype(float) + np.r_[0.0, 0.5, np.zeros(len(frame) - 2)]
    ).to_csv(fractional, index=False)
    with pytest.raises(DataValidationError, match="whole number") as info:
        read_data_file(fractional, KEY_1H)
    assert info.value.row == 2


def test_parquet_import_with_datetime_column(
    shared_data: Path, tmp_path: Path, store_dir: Path
) -> None:
    frame = pd.read_csv(shared_data / BTC_1H)
    as_dates = frame.assign(timestamp=pd.to_datetime(frame["timestamp"], unit="ms", utc=True))
    path = tmp_path / "btc.parquet"
    as_dates.to_parquet(path)
    result = import_file(path, KEY_1H, store=ParquetStore(store_dir))
    stored = ParquetStore(store_dir).read(KEY_1H)
    assert result.rows_added == len(frame)
    np.testing.assert_array_equal(stored["timestamp"].to_numpy(), frame["timestamp"].to_numpy())


def test_check_frame_counts_every_violation_without_raising(shared_data: Path) -> None:
    frame = pd.read_csv(shared_data / BTC_1H)
    frame.loc[[5, 9], "volume"] = -1.0
    frame.loc[20, "high"] = frame.loc[20, "low"] - 1.0
    report = check_frame(frame, KEY_1H, "edited")
    assert not report.ok
    assert report.violation_counts == {"negative_volume": 2, "high_low_inconsistent": 1}
    assert [v.row for v in report.violations] == [6, 10, 21]
    assert set(report.violation_counts) <= set(RULES)


def test_gap_policies(shared_data: Path, store_dir: Path) -> None:
    store = ParquetStore(store_dir)
    import_file(shared_data / BTC_1H, KEY_1H, store=store)
    holes, report = load_frame(KEY_1H, store=store, gap_policy="report")
    assert (report.n_gaps, report.missing_bars) == (6, 11)
    assert len(holes) == 5_482 and not holes["filled"].any()
    filled, freport = load_frame(KEY_1H, store=store, gap_policy="fill")
    assert len(filled) == 5_482 + 11 and int(filled["filled"].sum()) == 11
    assert freport.filled_bars == 11
    assert find_gaps(filled["timestamp"].to_numpy(), "1h") == ()
    synth = filled[filled["filled"]]
    assert (synth["volume"] == 0).all()
    prev_close = filled["close"].shift(1)[filled["filled"]]
    np.testing.assert_array_equal(synth["open"].to_numpy(), prev_close.to_numpy())
    with pytest.raises(GapError, match="6 gaps, 11 missing bars"):
        load_frame(KEY_1H, store=store, gap_policy="raise")
    with pytest.raises(GapError):
        import_file(
            shared_data / BTC_1H, KEY_1H, store=ParquetStore(store_dir / "x"), gap_policy="raise"
        )
    with pytest.raises(ConfigError, match="invalid gap policy"):
        load_frame(KEY_1H, store=store, gap_policy="smooth")


def test_validate_frame_reports_gaps_not_errors(shared_data: Path) -> None:
    frame = pd.read_csv(shared_data / BTC_1H)
    report = validate_frame(frame, KEY_1H, "btc")
    assert report.ok and report.n_gaps == 6
    assert report.to_dict()["n_gaps"] == 6
