"""Folders resolve the same way from any current folder: the checkout's data/ and runs/ by
default, the environment when set, the user data folder outside a checkout; a missing series
is imported from the shared data folder or the error names the command that imports it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grekko_research import paths
from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.errors import DataNotFoundError

REPO = Path(__file__).resolve().parents[2]
BTC_1H = "ohlcv/binance-spot_BTC-USDT_1h__lean.csv.gz"  # the smallest real BTC/USDT 1h file
_ENV = (
    "GREKKO_DATA_DIR",
    "GREKKO_RUNS_DIR",
    "GREKKO_REPORTS_DIR",
    "GREKKO_SHARED_DATA",
    "GREKKO_SAMPLE_DATA",
    "GREKKO_HOME",
)


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from a folder outside the checkout with none of Grekko's variables set."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    cwd = tmp_path / "somewhere"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_checkout_is_found() -> None:
    assert paths.checkout_root() == REPO


def test_store_and_runs_default_to_the_checkout_from_any_folder(elsewhere: Path) -> None:
    assert ParquetStore().root == REPO / "data"
    assert paths.data_dir() == REPO / "data"
    assert paths.runs_dir() == REPO / "runs"
    assert paths.reports_dir() == REPO / "reports"


def test_composed_config_writes_runs_into_the_checkout_from_any_folder(elsewhere: Path) -> None:
    from grekko_research.config import compose_config

    cfg = compose_config()
    assert Path(cfg.experiment.output_dir) == REPO / "runs"
    assert Path(cfg.live.state_dir) == REPO / "runs" / "live"


def test_environment_wins_and_relative_values_are_from_the_current_folder(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grekko_research.config import compose_config
    from grekko_research.tracking import tracking_uri

    monkeypatch.setenv("GREKKO_DATA_DIR", "store")
    monkeypatch.setenv("GREKKO_RUNS_DIR", str(elsewhere / "my-runs"))
    assert ParquetStore().root == elsewhere / "store"
    assert paths.runs_dir() == elsewhere / "my-runs"
    assert Path(compose_config().experiment.output_dir) == elsewhere / "my-runs"
    assert tracking_uri() == f"sqlite:///{elsewhere / 'my-runs' / 'mlruns.db'}"
    # An explicit override is the user's own path, taken as given.
    assert compose_config(["experiment.output_dir=out"]).experiment.output_dir == "out"


def test_outside_a_checkout_the_user_data_folder_is_used(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    monkeypatch.setenv("XDG_DATA_HOME", str(elsewhere / "xdg"))
    assert paths.data_dir() == elsewhere / "xdg" / "grekko" / "data"
    assert paths.runs_dir() == elsewhere / "xdg" / "grekko" / "runs"
    assert paths.shared_data_dir() is None
    assert paths.sample_data_dir() is None
    monkeypatch.setenv("GREKKO_HOME", str(elsewhere / "home"))
    assert paths.data_dir() == elsewhere / "home" / "data"


def test_shared_and_sample_folders(elsewhere: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    beside = REPO.parent / "shared" / "data"
    if beside.is_dir():
        assert paths.shared_data_dir() == beside.resolve()
        assert paths.sample_data_dir() == beside.resolve() / "ohlcv"
    monkeypatch.setenv("GREKKO_SHARED_DATA", str(elsewhere / "shared"))
    assert paths.shared_data_dir() == elsewhere / "shared"
    assert paths.sample_data_dir() == elsewhere / "shared" / "ohlcv"
    monkeypatch.setenv("GREKKO_SAMPLE_DATA", "candles")
    assert paths.sample_data_dir() == elsewhere / "candles"


def test_ensure_series_imports_from_the_shared_folder_once(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREKKO_SHARED_DATA", str(shared_data))
    store = ParquetStore(tmp_path / "store")
    key = SeriesKey.make("binance", "BTC/USDT", "1h", market="spot")
    got = paths.ensure_series(key, store, files=[BTC_1H])
    assert got == str(shared_data / BTC_1H)
    assert len(store.read(key)) == 120
    assert paths.ensure_series(key, store, files=[BTC_1H]) is None  # already there


def test_ensure_series_without_the_file_names_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREKKO_SHARED_DATA", str(tmp_path / "empty"))
    monkeypatch.delenv("GREKKO_SAMPLE_DATA", raising=False)  # `make test` exports one
    store = ParquetStore(tmp_path / "store")
    key = SeriesKey.make("binance", "BTC/USDT", "1h", market="spot")
    with pytest.raises(DataNotFoundError) as err:
        paths.ensure_series(key, store, files=[BTC_1H])
    text = str(err.value)
    assert f'grekko data import "$GREKKO_SHARED_DATA"/{BTC_1H}' in text
    assert str(tmp_path / "empty") in text
    assert not store.exists(key)
    with pytest.raises(DataNotFoundError, match="grekko data download --exchange binance"):
        paths.ensure_series(key, store)  # no file named, no sample folder: download it


def test_cli_from_another_folder_uses_the_checkout_store(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in _ENV}
    env["COLUMNS"] = "300"  # no wrapping of the path
    out = subprocess.run(
        [sys.executable, "-m", "grekko_research.cli", "data", "list"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert str(REPO / "data") in out
    assert not (tmp_path / "data").exists()
