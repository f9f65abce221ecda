"""``grekko compare``: run folders and MLflow runs side by side — what they ran on, their
metrics and the config keys that differ — within 80 columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grekko_research.cli import app
from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.runs import run_backtest, write_run

DATA = ["data=btc_1h", "data.start=2021-01-01", "data.end=2021-04-01"]


@pytest.fixture(scope="module")
def runs(research_store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two run folders (fast 10 and 12) and the MLflow twin of the second."""
    from grekko_research.tracking import log_backtest, tracking_uri

    root = tmp_path_factory.mktemp("runs")
    store = ParquetStore(research_store)
    made = {}
    for fast in (12, 10):
        cfg = compose_config(["strategy=sma_cross", f"strategy.params.fast={fast}", *DATA])
        run = run_backtest(cfg, store=store)
        made[fast] = (run, write_run(run, root))
    run, folder = made[10]
    run_id = log_backtest(run, folder, uri=tracking_uri(root))
    return {"root": root, "a": made[12], "b": made[10], "mlflow": run_id}


def compare(*args: str, root: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["compare", *args, "--runs-dir", str(root)], env={"COLUMNS": "80"}
    )
    return result.exit_code, result.output


def test_folders_side_by_side(runs: dict) -> None:
    (run_a, folder_a), (run_b, folder_b) = runs["a"], runs["b"]
    code, out = compare(str(folder_a), folder_b.name, root=runs["root"])
    assert code == 0, out
    assert all(len(line) <= 80 for line in out.splitlines() if not line.startswith("#"))
    assert f"#1 {folder_a}" in out and f"#2 {folder_b}" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") >= 3}
    for name, key in (("sharpe ratio", "sharpe_ratio"), ("max drawdown", "max_drawdown")):
        a, b = run_a.result.metrics[key], run_b.result.metrics[key]
        fmt = "{:.2f}" if key == "sharpe_ratio" else "{:.2%}"
        assert fmt.format(a) in rows[name] and fmt.format(b) in rows[name]
    assert f"{run_a.result.final_equity:,.2f}" in rows["final equity"]
    assert f"{run_b.result.n_trades:,}" in rows["n trades"]
    assert run_a.config_id in rows["config_id"] and run_b.config_id in rows["config_id"]
    # the config diff: only the parameter that was changed
    assert "config: 1 keys differ" in out
    assert "12" in rows["params.fast"] and "10" in rows["params.fast"]


def test_a_folder_and_its_mlflow_run_are_identical(runs: dict) -> None:
    _, folder_b = runs["b"]
    code, out = compare(f"sma_cross/{folder_b.name}", runs["mlflow"], root=runs["root"])
    assert code == 0, out
    assert f"MLflow grekko-backtests/{runs['mlflow']}" in out
    assert "the configs are identical" in " ".join(out.split())


def test_json(runs: dict) -> None:
    (_, folder_a), (run_b, _) = runs["a"], runs["b"]
    result = CliRunner().invoke(
        app, ["compare", str(folder_a), runs["mlflow"], "--runs-dir", str(runs["root"]), "--json"]
    )
    doc = json.loads(result.output)
    assert doc["config_diff"] == {"params.fast": ["12", "10"]}
    assert doc["runs"][1]["metrics"]["final_equity"] == pytest.approx(run_b.result.final_equity)


def test_unknown_run_says_what_a_run_is(runs: dict, tmp_path: Path) -> None:
    code, out = compare("no-such-run", root=runs["root"])
    assert code == 1
    assert "no run 'no-such-run'" in out and "MLflow run id" in " ".join(out.split())
    (tmp_path / "empty").mkdir()
    code, out = compare(str(tmp_path / "empty"), root=runs["root"])
    assert code == 1 and "has no metrics.json" in out
    code, out = compare("0123456789abcdef0123456789abcdef", root=tmp_path / "empty")
    assert code == 1 and "there is no MLflow store" in " ".join(out.split())
    assert not (tmp_path / "empty" / "mlruns.db").exists()


def test_last_takes_the_newest_folders(runs: dict, tmp_path: Path) -> None:
    (_, folder_a), (_, folder_b) = runs["a"], runs["b"]
    code, out = compare("--last", "2", root=runs["root"])
    assert code == 0, out
    assert f"#1 {folder_a}" in out and f"#2 {folder_b}" in out  # written in that order
    code, out = compare("--last", "1", "--strategy", "sma_cross", root=runs["root"])
    assert code == 0 and f"#1 {folder_b}" in out and "#2" not in out
    code, out = compare("--last", "2", "--strategy", "rsi_mean_reversion", root=runs["root"])
    assert code == 1 and "no runs to compare of rsi_mean_reversion" in " ".join(out.split())
