"""Trades and L2 depth in the Parquet store: ``grekko data import`` of the shared captures, and
the stored capture rebuilds the same book as the files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from grekko_research.analysis.book import BookReplay, rebuild_book
from grekko_research.analysis.captures import OrderBookCapture
from grekko_research.analysis.tickdata import capture_file_key, capture_from_store
from grekko_research.cli import app
from grekko_research.data.ticks import TickKey, TickStore
from grekko_research.errors import ConfigError, DataError
from tests.unit.analysis.conftest import BTC_SPOT

ETH = "binance-spot_ETH-USDT_20240808T2354Z-20240809T0000Z__hftbacktest"


def files(shared: Path, name: str) -> list[Path]:
    return [
        shared / "orderbook" / f"{name}_depth_snapshot.csv",
        shared / "orderbook" / f"{name}_depth_diffs.csv.gz",
        shared / "trades" / f"{name}_trades.csv",
    ]


def grekko(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    return result.exit_code, result.stdout


@pytest.fixture(scope="module")
def stored(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ticks")
    code, out = grekko(["data", "import", *map(str, files(shared, ETH)), "--data-dir", str(root)])
    assert code == 0, out
    assert "binance spot ETH/USDT depth" in out and "binance spot ETH/USDT trades" in out
    return root


def test_capture_names_are_recognised(shared: Path) -> None:
    key, what = capture_file_key(files(shared, BTC_SPOT)[1])  # type: ignore[misc]
    assert (key, what) == (TickKey.make("depth", "binance", "BTC/USDT", "spot"), "depth_diffs")
    perp = "binance-usdm_BTC-USDT-PERP_20240808T2354Z-20240809T0000Z__hftbacktest_trades.csv"
    assert capture_file_key(perp) == (
        TickKey.make("trades", "binance", "BTC/USDT", "usdm"),
        "trades",
    )
    assert capture_file_key("binance-spot_BTC-USDT_1h__nfi.csv.gz") is None


def test_stored_capture_rebuilds_the_same_book(
    stored: Path, captures: dict[str, OrderBookCapture]
) -> None:
    cap = captures[ETH]
    back = capture_from_store(TickStore(stored), "binance", "ETH/USDT")
    np.testing.assert_array_equal(back.diffs.price, cap.diffs.price)
    np.testing.assert_array_equal(back.diffs.last_update_id, cap.diffs.last_update_id)
    np.testing.assert_array_equal(back.snapshots.qty, cap.snapshots.qty)
    assert back.trades is not None and cap.trades is not None
    np.testing.assert_array_equal(back.trades.local_ts, cap.trades.local_ts)
    a: BookReplay = rebuild_book(back)
    b: BookReplay = rebuild_book(cap)
    pd.testing.assert_frame_equal(a.events, b.events)
    assert len(a.valid) == 3432  # the docs' count for this capture


def test_import_again_adds_nothing_and_conflicts_are_refused(
    stored: Path, shared: Path, tmp_path: Path
) -> None:
    store = TickStore(stored)
    key = TickKey.make("trades", "binance", "ETH/USDT", "spot")
    before = store.read(key)
    code, out = grekko(["data", "import", str(files(shared, ETH)[2]), "--data-dir", str(stored)])
    assert code == 0 and "0 new rows" in out
    changed = before.copy()
    changed.loc[10, "qty"] += 1.0
    with pytest.raises(DataError, match="conflicting qty"):
        store.write(key, changed)
    pd.testing.assert_frame_equal(store.read(key), before)  # nothing written
    # a time window reads a part
    part = store.read(key, start_ms=int(before.timestamp[100]), end_ms=int(before.timestamp[200]))
    assert len(part) and part.timestamp.between(before.timestamp[100], before.timestamp[199]).all()


def test_import_is_all_or_nothing(shared: Path, tmp_path: Path) -> None:
    """A bad file among good ones: nothing is written, the bad one is named."""
    bad = tmp_path / "binance-spot_ETH-USDT_x__y_depth_diffs.csv"
    bad.write_text(
        "local_ts_ns,event_ts_ms,first_update_id,last_update_id,prev_last_update_id,"
        "side,price,qty\n1,1,1,1,-1,bid,-5,1\n"
    )
    store = tmp_path / "store"
    with pytest.raises(DataError, match=r"depth_diffs\.csv: row 2"):
        grekko(["data", "import", str(files(shared, ETH)[2]), str(bad), "--data-dir", str(store)])
    assert TickStore(store).series() == []


def test_mixed_import_and_bad_rows_are_refused(shared: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="separately"):
        grekko(
            [
                "data",
                "import",
                str(files(shared, ETH)[2]),
                str(shared / "ohlcv" / "binance-spot_BTC-USDT_1h__nfi.csv.gz"),
                "--data-dir",
                str(tmp_path),
            ]
        )
    bad = pd.DataFrame(
        {c: [1] for c in ("timestamp", "local_ts", "trade_id", "qty", "buyer_maker")}
        | {"price": [-1.0]}
    )
    with pytest.raises(DataError, match="row 0: non-positive price"):
        TickStore(tmp_path).write(TickKey.make("trades", "binance", "ETH/USDT"), bad)
    assert TickStore(tmp_path).series() == []
