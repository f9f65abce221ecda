"""``grekko analyze book|regimes`` on the real data: the summary and the report pages."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from grekko_research.cli import app
from grekko_research.errors import ConfigError

ETH = "binance-spot_ETH-USDT_20240808T2354Z-20240809T0000Z__hftbacktest"


def test_analyze_book(shared: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["analyze", "book", ETH, "--shared", str(shared), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "3432/3432" in result.output  # every valid event equals the bookTicker
    page = (tmp_path / f"book_{ETH}.html").read_text()
    assert "spoofing candidate" in page and (tmp_path / "plotly.min.js").is_file()


def test_analyze_regimes(shared: Path, tmp_path: Path) -> None:
    candles = shared / "ohlcv" / "binance-spot_BTC-USDT_1d__sky1241.csv.gz"
    result = CliRunner().invoke(app, ["analyze", "regimes", str(candles), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "capitulation" in result.output and "selling_climax" in result.output
    assert (tmp_path / "regimes_binance-spot_BTC-USDT_1d__sky1241.html").stat().st_size > 10_000


def test_analyze_names_a_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["analyze", "regimes", str(tmp_path / "nope.csv")])
    assert isinstance(result.exception, ConfigError)  # main() prints it; the app raises it
    assert "no such candle file" in str(result.exception)


def test_analyze_activity(shared: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["analyze", "activity", "--shared", str(shared), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    assert "sandwiches by" in result.output and "Trade footprints" in result.output
    page = (tmp_path / "activity.html").read_text()
    assert (
        "Sandwiches (gross of gas)" in page and "0x05656db19ec9ff8dfb437475b3d76ca9a29e968f" in page
    )


def test_analyze_activity_names_a_missing_swap_file(shared: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["analyze", "activity", str(tmp_path / "nope.csv.gz"), "--shared", str(shared)]
    )
    assert isinstance(result.exception, ConfigError)
    assert "no such swap file" in str(result.exception)


def test_analyze_scan(shared: Path, tmp_path: Path) -> None:
    import pandas as pd

    from grekko_research.data.store import ParquetStore, SeriesKey

    frame = pd.read_csv(shared / "ohlcv" / "binance-spot_BTC-USDT_1d__sky1241.csv.gz")
    crash = frame[frame["timestamp"] < 1584057600000]  # through 2020-03-12
    ParquetStore(tmp_path).write(SeriesKey.make("binance", "BTC/USDT", "1d"), crash)
    result = CliRunner().invoke(app, ["analyze", "scan", "--store", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "2020-03-12" in result.output and "down" in result.output
    assert "1 series broke out" in result.output
