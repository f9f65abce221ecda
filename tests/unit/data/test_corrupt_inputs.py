"""A generated corpus of corrupt input files: each is refused with a clear message, store unchanged.

Every file starts from real Binance BTC/USDT hourly candles and breaks one thing: the gzip
stream, the layout, a value, a plausibility rule, or agreement with the stored series.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from grekko_research.data.files import import_file, import_files, read_data_file
from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.data.validate import Plausibility, check_frame
from grekko_research.errors import GrekkoError

SOURCE = "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz"
KEY = SeriesKey.make("binance", "BTC/USDT", "1h")
NAME = "binance-spot_BTC-USDT_1h__corrupt.csv.gz"
ROWS = 400  # data rows of each generated file
STORED = 200  # of which the store already holds the first ones


def _lines(shared_data: Path) -> list[str]:
    with gzip.open(shared_data / SOURCE, "rt") as handle:
        return handle.read().splitlines()[: ROWS + 1]


def _gz(lines: list[str]) -> bytes:
    return gzip.compress(("\n".join(lines) + "\n").encode())


def _cell(lines: list[str], row: int, column: int, value: str) -> list[str]:
    out = list(lines)
    cells = out[row].split(",")
    cells[column] = value
    out[row] = ",".join(cells)
    return out


def _scale_row(lines: list[str], row: int, factor: float) -> list[str]:
    out = list(lines)
    cells = out[row].split(",")
    cells[1:5] = [repr(float(c) * factor) for c in cells[1:5]]
    out[row] = ",".join(cells)
    return out


Corruption = Callable[[list[str]], bytes]
OPEN, H, L, C, V = 1, 2, 3, 4, 5
R = 300  # the data row that is broken (a new row, not in the store)

CORPUS: dict[str, tuple[Corruption, str]] = {
    # gzip and file layout
    "gzip truncated at half": (lambda x: _gz(x)[: len(_gz(x)) // 2], "truncated"),
    "gzip missing its last 9 bytes": (lambda x: _gz(x)[:-9], "truncated"),
    "gzip header only": (lambda x: _gz(x)[:10], "truncated"),
    "gzip with flipped bytes": (
        lambda x: (lambda b: b[:200] + bytes(255 - c for c in b[200:260]) + b[260:])(_gz(x)),
        "gzip",
    ),
    "gzip with a wrong CRC": (lambda x: _gz(x)[:-8] + b"\0\0\0\0" + _gz(x)[-4:], "gzip"),
    "plain text named .gz": (lambda x: ("\n".join(x) + "\n").encode(), "gzip"),
    "zero bytes": (lambda x: b"", "empty"),
    "empty gzip": (lambda x: gzip.compress(b""), "empty"),
    "header only": (lambda x: _gz(x[:1]), "no data rows"),
    "binary garbage": (lambda x: gzip.compress(bytes(range(256)) * 8), "unreadable"),
    "a ragged row": (lambda x: _gz([*x[:R], x[R] + ",1,2", *x[R + 1 :]]), "unreadable"),
    "volume column missing": (lambda x: _gz([",".join(r.split(",")[:5]) for r in x]), "schema"),
    # values
    "price 1e300": (lambda x: _gz(_cell(_cell(x, R, H, "1e300"), R, C, "1e300")), "plausib"),
    "high 1e300": (lambda x: _gz(_cell(x, R, H, "1e300")), "plausib"),
    "volume 1e300": (lambda x: _gz(_cell(x, R, V, "1e300")), "max_volume"),
    "price 1e13": (lambda x: _gz(_scale_row(x, R, 1e9)), "max_price"),
    "prices 1e-300": (lambda x: _gz(_scale_row(x, R, 1e-304)), "min_price"),
    "NaN close": (lambda x: _gz(_cell(x, R, C, "nan")), "nan_or_inf"),
    "inf volume": (lambda x: _gz(_cell(x, R, V, "inf")), "nan_or_inf"),
    "negative price": (lambda x: _gz(_cell(_cell(x, R, L, "-5.0"), R, OPEN, "-5.0")), "-5.0"),
    "zero close": (lambda x: _gz(_cell(x, R, C, "0")), "non_positive_price"),
    "negative volume": (lambda x: _gz(_cell(x, R, V, "-3.5")), "volume=-3.5"),
    "high below low": (lambda x: _gz(_cell(x, R, H, "1.0")), "high_low_inconsistent"),
    "a text cell": (lambda x: _gz(_cell(x, R, C, "abc")), "unparseable"),
    # plausibility against the neighbours
    "a high 50x the price": (
        lambda x: _gz(_cell(x, R, H, repr(float(x[R].split(",")[H]) * 50))),
        "range_outlier",
    ),
    "a bar 100x the price": (lambda x: _gz(_scale_row(x, R, 100.0)), "price_jump"),
    "a bar a 100th of the price": (lambda x: _gz(_scale_row(x, R, 0.01)), "price_jump"),
    # timestamps
    "duplicate timestamp": (lambda x: _gz([*x[: R + 1], x[R], *x[R + 1 :]]), "duplicate"),
    "timestamps out of order": (
        lambda x: _gz([*x[:R], x[R + 1], x[R], *x[R + 2 :]]),
        "non_increasing",
    ),
    "off-grid timestamp": (
        lambda x: _gz(_cell(x, R, 0, str(int(x[R].split(",")[0]) + 1_000))),
        "off_grid",
    ),
    "timestamps in seconds": (
        lambda x: _gz(
            [x[0], *(_cell([r], 0, 0, str(int(r.split(",")[0]) // 1000))[0] for r in x[1:])]
        ),
        "timestamp_unit",
    ),
    "a fractional timestamp": (
        lambda x: _gz(_cell(x, R, 0, x[R].split(",")[0] + ".5")),
        "whole number",
    ),
    # the stored series
    "a stored row with another close": (
        lambda x: _gz(_cell(x, 50, C, repr(float(x[50].split(",")[C]) + 1.0))),
        "conflicting close",
    ),
    "a stored row with another volume": (
        lambda x: _gz(_cell(x, 120, V, repr(float(x[120].split(",")[V]) * 2))),
        "conflicting volume",
    ),
}


def _digest(root: Path) -> str:
    """Hash every file of the store (names and bytes)."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".lock"):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture
def seeded(shared_data: Path, tmp_path: Path) -> tuple[ParquetStore, list[str]]:
    lines = _lines(shared_data)
    first = tmp_path / "binance-spot_BTC-USDT_1h__first.csv.gz"
    first.write_bytes(_gz(lines[: STORED + 1]))
    store = ParquetStore(tmp_path / "store")
    import_file(first, store=store)
    return store, lines


def test_every_corrupt_file_is_refused_clearly_and_leaves_the_store_unchanged(
    seeded: tuple[ParquetStore, list[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, lines = seeded
    folder = tmp_path / "corpus"
    folder.mkdir()
    before = _digest(store.root)
    tried = refused = unchanged = 0
    failures = []
    for i, (label, (make, expected)) in enumerate(CORPUS.items()):
        path = folder / f"{i:02d}" / NAME
        path.parent.mkdir()
        path.write_bytes(make(lines))
        tried += 1
        try:
            import_file(path, store=store)
        except Exception as exc:  # anything but a GrekkoError is a failure
            message = str(exc)
            clear = (
                isinstance(exc, GrekkoError)
                and str(path) in message
                and expected.lower() in message.lower()
                and "np.float64" not in message
                and "\n" not in message
            )
            refused += clear
            if not clear:
                failures.append(f"{label}: {type(exc).__name__}: {message}")
        else:
            failures.append(f"{label}: accepted")
        same = _digest(store.root) == before
        unchanged += same
        if not same:
            failures.append(f"{label}: the store changed")
    with capsys.disabled():
        print(
            f"\ncorrupt inputs tried {tried}, refused with a clear message {refused}, "
            f"store unchanged {unchanged}"
        )
    assert not failures, "\n".join(failures)
    assert tried == refused == unchanged >= 30


def test_the_uncorrupted_file_imports(seeded: tuple[ParquetStore, list[str]], tmp_path: Path):
    """The corpus's base is good: the refusals above are the corruptions' doing."""
    store, lines = seeded
    path = tmp_path / NAME
    path.write_bytes(_gz(lines))
    result = import_file(path, store=store)
    assert result.rows_added == ROWS - STORED
    assert result.store_report.rows == ROWS


def test_a_header_only_file_leaves_the_store_byte_identical(
    seeded: tuple[ParquetStore, list[str]], tmp_path: Path
) -> None:
    store, lines = seeded
    before = store.path(KEY).read_bytes()
    path = tmp_path / "binance-spot_BTC-USDT_1h__header.csv"
    path.write_text(lines[0] + "\n")
    with pytest.raises(GrekkoError, match="no data rows") as info:
        import_file(path, store=store)
    assert str(path) in str(info.value)
    assert store.path(KEY).read_bytes() == before
    assert store.write(KEY, store.read(KEY)[:0]) == STORED  # no rows: nothing rewritten
    assert store.path(KEY).read_bytes() == before


def test_a_multi_file_import_is_all_or_nothing(
    seeded: tuple[ParquetStore, list[str]], tmp_path: Path
) -> None:
    store, lines = seeded
    good = tmp_path / "binance-spot_ETH-USDT_1h__good.csv.gz"
    good.write_bytes(_gz(lines))
    bad = tmp_path / "bad" / NAME
    bad.parent.mkdir()
    bad.write_bytes(_gz(_cell(lines, R, V, "1e300")))
    before = _digest(store.root)
    with pytest.raises(GrekkoError, match="implausible_volume") as info:
        import_files([good, bad], store=store)
    assert f"{bad}, row {R}" in str(info.value)
    assert _digest(store.root) == before
    assert not store.exists(SeriesKey.make("binance", "ETH/USDT", "1h"))
    # without the bad file both series are written, each once
    results = import_files(
        [good, good.with_name("binance-spot_ETH-USDT_1h__good.csv.gz")], store=store
    )
    assert [r.rows_added for r in results] == [ROWS, 0]


def test_a_conflict_names_the_earlier_file_of_the_same_batch(
    seeded: tuple[ParquetStore, list[str]], tmp_path: Path
) -> None:
    store, lines = seeded
    a = tmp_path / "a" / NAME
    b = tmp_path / "b" / NAME
    a.parent.mkdir()
    b.parent.mkdir()
    a.write_bytes(_gz(lines))
    b.write_bytes(_gz(_cell(lines, R, V, "12345.0")))
    with pytest.raises(GrekkoError) as info:
        import_files([a, b], store=store)
    message = str(info.value)
    assert f"{b}, row {R} (line {R + 1})" in message
    assert f"{a} has" in message and "12345.0" in message


def test_plausibility_thresholds_are_configurable(
    seeded: tuple[ParquetStore, list[str]], tmp_path: Path
) -> None:
    store, lines = seeded
    path = tmp_path / NAME
    path.write_bytes(_gz(_scale_row(lines, R, 100.0)))
    with pytest.raises(GrekkoError, match="price_jump"):
        import_file(path, store=store)
    loose = Plausibility(max_jump=1_000.0, max_range_ratio=1e6)
    assert import_file(path, store=store, limits=loose).rows_added == ROWS - STORED
    with pytest.raises(Exception, match="max_jump"):
        Plausibility(max_jump=0.5)


def test_every_shared_ohlcv_file_passes_the_plausibility_rules(shared_data: Path) -> None:
    """Real crashes (March 2020, May 2021, 2011 Bitstamp, a one-cent Coinbase low) pass."""
    from grekko_research.data.files import parse_data_filename

    checked = 0
    for path in sorted((shared_data / "ohlcv").glob("*.csv.gz")):
        parsed = parse_data_filename(path)
        key = parsed.key if parsed else SeriesKey.make("ftx", "BTC/USD", "1m", market="perp")
        report = check_frame(read_data_file(path, key), key, str(path))
        assert report.ok, (path.name, report.violations[:3])
        checked += 1
    assert checked >= 40


def test_the_cli_names_a_truncated_gzip_instead_of_aborting(
    shared_data: Path, tmp_path: Path
) -> None:
    path = tmp_path / NAME
    path.write_bytes(_gz(_lines(shared_data))[:-20])
    env = {**os.environ, "GREKKO_DATA_DIR": str(tmp_path / "store"), "COLUMNS": "400"}
    proc = subprocess.run(
        [sys.executable, "-m", "grekko_research.cli", "data", "import", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1
    assert "Aborted" not in out
    assert NAME in out and "truncated" in out
    assert "Traceback" not in out
