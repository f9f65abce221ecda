"""The ``grekko`` console script, run as a user runs it (a subprocess of the installed entry point)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

GREKKO = str(Path(sys.executable).parent / "grekko")
BTC_2H = "ohlcv/binance-spot_BTC-USDT_2h__sky1241.csv.gz"


def grekko(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [GREKKO, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def test_help_answers() -> None:
    top = grekko("--help")
    assert top.returncode == 0, top.stderr
    assert "data" in top.stdout and "run" in top.stdout
    data = grekko("data", "--help")
    assert data.returncode == 0, data.stderr
    for command in ("download", "import", "validate", "list", "info", "resample"):
        assert command in data.stdout
    assert grekko("--version").stdout.startswith("grekko ")


def test_import_then_info_reports_the_2h_file_facts(shared_data: Path, store_dir: Path) -> None:
    dd = ["--data-dir", str(store_dir)]
    imported = grekko(
        "data", "import", str(shared_data / BTC_2H),
        "--exchange", "binance", "--symbol", "BTC/USDT", "--timeframe", "2h", *dd,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    assert "35,123 new rows" in imported.stdout

    text = grekko("data", "info", "binance", "BTC/USDT", "2h", *dd)
    assert text.returncode == 0, text.stderr
    assert "35,123" in text.stdout
    assert "2017-08-17" in text.stdout and "2025-08-26" in text.stdout
    assert "18 gaps, 53 missing bars" in text.stdout

    facts = json.loads(grekko("data", "info", "binance", "BTC/USDT", "2h", "--json", *dd).stdout)
    assert facts["rows"] == 35_123
    assert facts["start"].startswith("2017-08-17") and facts["end"].startswith("2025-08-26")
    assert (facts["n_gaps"], facts["missing_bars"]) == (18, 53)
    assert len(facts["gaps"]) == 18 and sum(g["missing"] for g in facts["gaps"]) == 53

    december = grekko(
        "data", "info", "binance", "BTC/USDT", "2h", "--json", *dd,
        "--start", "2017-12-01", "--end", "2018-01-01",
    )  # fmt: skip
    high = json.loads(december.stdout)["extremes"]["max_high"]
    assert high["value"] == 19_798.68

    listed = json.loads(grekko("data", "list", "--json", *dd).stdout)
    assert [(r["symbol"], r["timeframe"], r["rows"]) for r in listed] == [
        ("BTC/USDT", "2h", 35_123)
    ]


def test_bad_file_gives_one_line_error_naming_file_row_rule(
    shared_data: Path, store_dir: Path, tmp_path: Path
) -> None:
    import gzip

    with gzip.open(shared_data / BTC_2H, "rt") as handle:
        lines = handle.read().splitlines()
    cells = lines[7].split(",")
    cells[3] = "-5"
    lines[7] = ",".join(cells)
    bad = tmp_path / "broken.csv"
    bad.write_text("\n".join(lines) + "\n")
    out = grekko(
        "data", "import", str(bad), "--exchange", "binance", "--symbol", "BTC/USDT",
        "--timeframe", "2h", "--data-dir", str(store_dir),
    )  # fmt: skip
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    message = " ".join(out.stderr.split())
    assert "broken.csv, row 7 (line 8)" in message
    assert "non_positive_price" in message
    assert not any(store_dir.rglob("*.parquet"))
    checked = grekko(
        "data", "validate", str(bad), "--exchange", "binance", "--symbol", "BTC/USDT",
        "--timeframe", "2h", "--json",
    )  # fmt: skip
    assert checked.returncode == 1
    assert json.loads(checked.stdout)["violation_counts"] == {"non_positive_price": 1}


def test_unknown_series_and_bad_timeframe_are_clear(store_dir: Path) -> None:
    missing = grekko("data", "info", "binance", "DOGE/USDT", "1h", "--data-dir", str(store_dir))
    assert missing.returncode == 1
    assert "no data for binance spot DOGE/USDT 1h" in " ".join(missing.stderr.split())
    bad_tf = grekko("data", "info", "binance", "BTC/USDT", "1hour", "--data-dir", str(store_dir))
    assert bad_tf.returncode == 1
    assert "invalid timeframe '1hour'" in bad_tf.stderr


def _run_env(tmp_path: Path, sample: str) -> dict[str, str]:
    return {
        "GREKKO_DATA_DIR": str(tmp_path / "data"),
        "GREKKO_REPORTS_DIR": str(tmp_path / "reports"),
        "GREKKO_RUNS_DIR": str(tmp_path / "runs"),  # not the checkout's runs/ (the default)
        "GREKKO_SAMPLE_DATA": sample,
    }


def test_main_job_offline_uses_sample_then_store(shared_data: Path, tmp_path: Path) -> None:
    env = _run_env(tmp_path, str(shared_data / "ohlcv"))
    first = grekko("run", "--offline", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "sample binance-spot_BTC-USDT_1h__nfi.csv.gz" in first.stdout
    report = json.loads((tmp_path / "reports" / "data-quality.json").read_text())
    series = {s["series"]: s for s in report["series"]}
    assert series["BTC/USDT"]["rows"] == 5_482 and series["ETH/USDT"]["rows"] == 5_482
    assert series["BTC/USDT"]["n_gaps"] == 6 and series["BTC/USDT"]["missing_bars"] == 11
    assert report["bars"]["n_bars"] == 5_482
    # then the research run: backtest, walk-forward sweep, MLflow, tearsheet, gate verdict
    assert "promotion gates" in first.stdout and "mlflow ui --backend-store-uri" in first.stdout
    assert "optuna-dashboard" in first.stdout
    second = grekko("run", "--offline", "--json", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    doc = json.loads(second.stdout)
    assert {s["source"] for s in doc["series"]} == {"store"}
    research = doc["research"]
    assert Path(tmp_path / research["backtest"]["tearsheet"]).is_file()
    assert research["verdict"] in ("promotable", "not promotable")
    # issue 29: 8 gates (+ random-entry p-value, Monte Carlo drawdown, live parity check)
    assert len(research["gates"]) == 8 and research["sweep"]["out_of_sample"]["final_equity"] > 0
    assert (tmp_path / "runs" / "mlruns.db").is_file()
    # hints run as printed (the venv's scripts by path); promote only when every gate passes
    assert Path(research["commands"]["mlflow"].split()[0]).is_file()
    if research["verdict"] == "promotable":
        assert research["sweep"]["mlflow_run_id"] in research["commands"]["promote"]
    else:
        assert research["commands"]["promote"] is None
        assert "Not promotable" in first.stdout and "--name sma_cross_btc" not in first.stdout


def test_main_job_without_any_data_says_how_to_provide_it(tmp_path: Path) -> None:
    out = grekko("run", "--offline", env=_run_env(tmp_path, ""), cwd=tmp_path)
    assert out.returncode == 1
    message = " ".join(out.stderr.split())
    assert "no data for binance spot BTC/USDT 1h" in message
    assert "grekko data import" in message and "GREKKO_SAMPLE_DATA" in message
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("command", [["data", "list"], ["data", "info", "binance", "BTC/USDT"]])
def test_commands_never_print_tracebacks(command: list[str], store_dir: Path) -> None:
    out = grekko(*command, "--data-dir", str(store_dir))
    assert "Traceback" not in out.stderr
