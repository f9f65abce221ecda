"""``grekko backtest``: every reference strategy on real stored data, its run folder, reproducibility."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from grekko_research.cli import app

RUN_FILES = (
    "config.yaml",
    "metrics.json",
    "trades.parquet",
    "equity.parquet",
    "tearsheet.html",
    "tearsheet.png",
    "provenance.json",
    "plotly.min.js",
)
STRATEGIES = (
    "sma_cross",
    "rsi_mean_reversion",
    "bollinger_breakout",
    "donchian_trend",
    "xs_momentum",
    "funding_carry",
)


def grekko(args: list[str], store: Path) -> tuple[int, str, str]:
    runner = CliRunner()
    result = runner.invoke(app, args, env={"GREKKO_DATA_DIR": str(store)}, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("name", STRATEGIES)
def test_backtest_writes_a_complete_run_folder(
    name: str, research_store: Path, tmp_path: Path
) -> None:
    code, out, err = grekko(
        ["backtest", f"strategy={name}", "--output-dir", str(tmp_path)], research_store
    )
    assert code == 0, err
    folder = Path(out.strip().splitlines()[-1])  # the last line is the run folder
    assert folder.is_dir() and folder.parent.parent == tmp_path
    assert sorted(p.name for p in folder.iterdir()) == sorted(RUN_FILES)
    doc = json.loads((folder / "metrics.json").read_text())
    assert doc["strategy"] == name and doc["config_id"] in folder.name
    assert "sharpe_ratio" in doc["metrics"] and doc["bars"] > 500
    trades = pd.read_parquet(folder / "trades.parquet")
    assert len(trades) == doc["n_trades"]
    equity = pd.read_parquet(folder / "equity.parquet")
    assert len(equity) == doc["bars"]
    assert equity["equity"].iloc[-1] == pytest.approx(doc["final_equity"], rel=1e-12)
    assert (folder / "tearsheet.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"config_id: {doc['config_id']}" in (folder / "config.yaml").read_text()


def test_same_config_same_metrics_and_id(research_store: Path, tmp_path: Path) -> None:
    args = ["backtest", "strategy=rsi_mean_reversion", "strategy.params.period=21"]
    runs = []
    for i in range(2):
        code, out, err = grekko([*args, "--output-dir", str(tmp_path / str(i))], research_store)
        assert code == 0, err
        runs.append(Path(out.strip().splitlines()[-1]))
    first, second = ((r / "metrics.json").read_bytes() for r in runs)
    assert first == second
    changed = tmp_path / "changed"
    code, out, err = grekko(
        ["backtest", "strategy=rsi_mean_reversion", "strategy.params.period=22",
         "--output-dir", str(changed)],
        research_store,
    )  # fmt: skip
    assert code == 0, err
    ids = {json.loads((r / "metrics.json").read_text())["config_id"] for r in runs}
    other = json.loads((Path(out.strip().splitlines()[-1]) / "metrics.json").read_text())
    assert len(ids) == 1 and other["config_id"] not in ids


def test_json_switch_prints_metrics_json(research_store: Path, tmp_path: Path) -> None:
    code, out, err = grekko(
        ["backtest", "--json", "--output-dir", str(tmp_path), "data.symbol=ETH/USDT"],
        research_store,
    )
    assert code == 0, err
    doc = json.loads(out)
    folder = Path(err.strip().splitlines()[-1])
    assert doc == json.loads((folder / "metrics.json").read_text())
    assert doc["symbols"] == ["ETH/USDT"]


def test_missing_data_and_bad_keys_fail_with_one_line(research_store: Path, tmp_path: Path) -> None:
    from grekko_research.cli import main  # noqa: F401  (the entry point wraps GrekkoError)

    runner = CliRunner()
    result = runner.invoke(
        app,
        ["backtest", "data.symbol=DOGE/USDT", "--output-dir", str(tmp_path)],
        env={"GREKKO_DATA_DIR": str(research_store)},
    )
    assert result.exit_code != 0
    assert "DOGE/USDT" in str(result.exception) and "grekko data import" in str(result.exception)
    result = runner.invoke(
        app, ["backtest", "data.symbl=X"], env={"GREKKO_DATA_DIR": str(research_store)}
    )
    assert "symbl" in str(result.exception)
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_funding_carry_is_short_and_collects_funding(research_store: Path) -> None:
    from grekko_research.config import compose_config
    from grekko_research.data.store import ParquetStore
    from grekko_research.engine import layout as L
    from grekko_research.runs import run_backtest

    run = run_backtest(
        compose_config(["strategy=funding_carry"]), store=ParquetStore(research_store)
    )
    rates = run.bars.extras["funding_rate"][:, 0]
    assert rates.sum() > 0  # longs paid over this span: the strategy should be short
    assert (run.result.positions[:, 0] <= 0).all() and (run.result.positions[:, 0] < 0).mean() > 0.8
    received = run.result.funding_records[:, L.F_AMOUNT]
    assert len(received) > 50 and received.sum() > 0
