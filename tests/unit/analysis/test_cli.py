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
