"""MLflow tracking against a real local SQLite store: backtests, sweeps, provenance, lookups.

Every test logs into its own SQLite file under ``tmp_path`` (a copy of an
empty, already migrated database, so MLflow's schema migrations run once per
module) and reads back through MLflow's own client, not through the module
under test.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from grekko_research.config import compose_config
from grekko_research.data.bars import Bars
from grekko_research.data.store import ParquetStore
from grekko_research.errors import ConfigError
from grekko_research.runs import BacktestRun, run_backtest, write_run
from grekko_research.tracking import (
    RunNotFoundError,
    data_hash,
    download_artifact,
    find_run,
    log_backtest,
    log_trials,
    start_study_run,
    tracking_uri,
)

REPO = Path(__file__).resolve().parents[3]
RUN_FILES = {
    "config.yaml",
    "metrics.json",
    "trades.parquet",
    "equity.parquet",
    "tearsheet.html",
    "tearsheet.png",
    "provenance.json",
    "plotly.min.js",
}


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite database with its tables created (migrations are the slow part)."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlruns.db"
    with warnings.catch_warnings():  # SQLAlchemy deprecations inside MLflow's store setup
        warnings.simplefilter("ignore", DeprecationWarning)
        MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store_uri(tmp_path: Path, empty_db: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh tracking store under ``tmp_path``, selected through ``MLFLOW_TRACKING_URI``."""
    shutil.copyfile(empty_db, tmp_path / "mlruns.db")
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


@pytest.fixture
def mlflow_client(store_uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=store_uri)


@pytest.fixture(scope="module")
def real_run(research_store: Path) -> BacktestRun:
    """A real two-month SMA-cross backtest on BTC/USDT 1h."""
    cfg = compose_config(["data.start=2021-01-01", "data.end=2021-03-01"])
    return run_backtest(cfg, store=ParquetStore(research_store))


def _head_commit() -> str | None:
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else None


def _children(mlflow_client: Any, parent_id: str) -> list[Any]:
    parent = mlflow_client.get_run(parent_id)
    return mlflow_client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'",
        max_results=10_000,
    )


# -- a backtest run -------------------------------------------------------------------------


def test_log_backtest_records_params_metrics_tags_and_the_run_folder(
    real_run: BacktestRun, tmp_path: Path, store_uri: str, mlflow_client: Any
) -> None:
    run_dir = write_run(real_run, tmp_path / "runs")
    run_id = log_backtest(real_run, run_dir, tags={"seed": 7})

    got = mlflow_client.get_run(run_id)
    assert got.info.status == "FINISHED"
    exp = mlflow_client.get_experiment(got.info.experiment_id)
    assert exp.name == "grekko-backtests"
    assert exp.artifact_location.startswith((tmp_path.resolve() / "mlartifacts").as_uri())

    tags = got.data.tags
    assert tags["config_id"] == real_run.config_id
    assert tags["data_hash"] == data_hash(real_run.bars)
    assert len(tags["data_hash"]) == 16
    assert tags["strategy"] == "sma_cross"
    assert tags["seed"] == "7"
    assert tags.get("git_commit") == _head_commit()

    params = got.data.params
    assert params["params.fast"] == str(real_run.params.fast)
    assert params["params.slow"] == str(real_run.params.slow)
    assert params["data.symbols"] == "BTC/USDT"
    assert params["data.timeframe"] == "1h"
    assert params["data.start"].startswith("2021-01-01")
    assert params["data.end"].startswith("2021-02-28")
    assert float(params["engine.taker_fee"]) == real_run.config.engine.taker_fee
    assert params["risk.portfolio.drawdown.flatten_at"] == "None"  # one scalar per limit
    assert not [k for k in params if k.startswith(("risk.live", "risk.ops"))]  # live only

    metrics = got.data.metrics
    finite = {k: v for k, v in real_run.result.metrics.items() if math.isfinite(v)}
    assert finite, "the run has no finite metric: the comparison below would prove nothing"
    for name, value in finite.items():
        assert metrics[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name
    assert not set(metrics) - set(finite) - {"final_equity", "n_trades"}
    assert metrics["final_equity"] == pytest.approx(real_run.result.final_equity, rel=1e-12)
    assert metrics["n_trades"] == real_run.result.n_trades

    listed = {f.path for f in mlflow_client.list_artifacts(run_id)}
    assert listed == RUN_FILES
    local = mlflow_client.download_artifacts(run_id, "tearsheet.html", str(tmp_path / "dl"))
    assert Path(local).read_bytes() == (run_dir / "tearsheet.html").read_bytes()
    doc = json.loads((run_dir / "metrics.json").read_text())
    assert doc["config_id"] == real_run.config_id


# The same limits in the spec's shape and in the deprecated one (warned), drawdown changed.
NEW_RISK = ["risk=conservative", "risk.portfolio.drawdown.limit=0.15"]
OLD_RISK = ["risk=conservative", "risk.live.max_drawdown=0.15"]


def _risk_params(params: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in params.items() if k.startswith("risk.")}


def _check_risk_params(params: dict[str, str]) -> None:
    """Each limit of the conservative spec is its own scalar param, under its spec key."""
    assert params["risk.portfolio.drawdown.limit"] == "0.15"
    assert params["risk.portfolio.drawdown.flatten_at"] == "0.25"
    assert params["risk.portfolio.drawdown.action"] == "halt"
    assert params["risk.portfolio.var.window"] == "500"
    assert params["risk.order.max_position"] == "0.5"
    assert params["risk.order.max_notional"] == "None"  # off
    assert params["risk.market.price_move.cooldown_s"] == "3600.0"
    assert not [v for v in params.values() if v.startswith(("{", "["))]  # no dict strings
    # Nothing of the deprecated shape, nor the live-only operational checks.
    assert not [k for k in params if k.split(".")[1] not in ("order", "portfolio", "market", "dex")]
    assert all(len(k) <= 250 and len(v) <= 6000 for k, v in params.items())  # MLflow's limits


def test_the_risk_spec_is_logged_as_one_scalar_param_per_limit(
    real_run: BacktestRun, store_uri: str, mlflow_client: Any
) -> None:
    """``risk.portfolio.drawdown.limit = 0.15``, not ``risk.portfolio = "{'drawdown': ...}"``;
    a config in the deprecated shape logs the same params as the same limits in the new one."""
    from dataclasses import replace

    from grekko_research.risk.spec import RiskConfigDeprecationWarning

    with pytest.warns(RiskConfigDeprecationWarning, match=r"risk\.live\.max_drawdown"):
        old = compose_config(["data.start=2021-01-01", "data.end=2021-03-01", *OLD_RISK])
    new = compose_config(["data.start=2021-01-01", "data.end=2021-03-01", *NEW_RISK])
    logged = []
    for cfg in (new, old):
        run_id = log_backtest(replace(real_run, config=cfg), None, experiment="risk-params")
        logged.append(_risk_params(mlflow_client.get_run(run_id).data.params))
    _check_risk_params(logged[0])
    assert logged[1] == logged[0]


def test_a_study_run_logs_the_risk_spec_not_the_deprecated_keys(
    real_run: BacktestRun, store_uri: str, mlflow_client: Any
) -> None:
    from grekko_research.risk.spec import RiskConfigDeprecationWarning

    with pytest.warns(RiskConfigDeprecationWarning):
        old = compose_config(["data.start=2021-01-01", "data.end=2021-03-01", *OLD_RISK])
    with start_study_run("risk-study", old, experiment="sweeps-risk") as parent:
        pass
    params = mlflow_client.get_run(parent).data.params
    _check_risk_params(_risk_params(params))
    assert params["data.start"] == "2021-01-01"  # the rest of the tree as before


def test_log_backtest_without_folder_nests_under_a_parent(
    real_run: BacktestRun, store_uri: str, mlflow_client: Any
) -> None:
    cfg = real_run.config
    with start_study_run("nest", cfg, experiment="sweeps-nest") as parent:
        child = log_backtest(real_run, None, parent_run_id=parent)
    got = mlflow_client.get_run(child)
    assert got.data.tags["mlflow.parentRunId"] == parent
    # Same experiment as the parent (MLflow nests runs within one experiment only).
    assert got.info.experiment_id == mlflow_client.get_run(parent).info.experiment_id
    assert {f.path for f in mlflow_client.list_artifacts(child)} == {"config.yaml", "metrics.json"}


def test_a_failure_while_logging_a_backtest_marks_the_run_failed(
    real_run: BacktestRun,
    tmp_path: Path,
    store_uri: str,
    mlflow_client: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow.tracking import MlflowClient

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(MlflowClient, "log_artifacts", broken)  # a remote artifact store
    monkeypatch.setattr(os, "link", broken)  # a local one: hard links ...
    monkeypatch.setattr(shutil, "copyfile", broken)  # ... or copies
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "metrics.json").write_text("{}")
    with pytest.raises(OSError, match="disk full"):
        log_backtest(real_run, folder, experiment="broken")
    exp = mlflow_client.get_experiment_by_name("broken")
    runs = mlflow_client.search_runs([exp.experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]


def test_log_backtest_refuses_a_missing_run_folder(
    real_run: BacktestRun, tmp_path: Path, store_uri: str, mlflow_client: Any
) -> None:
    with pytest.raises(ConfigError, match="not a folder"):
        log_backtest(real_run, tmp_path / "nowhere", experiment="missing")
    assert mlflow_client.get_experiment_by_name("missing") is None  # nothing was created


# -- a sweep ----------------------------------------------------------------------------------


def _trial_table(n: int, seed: int = 0) -> pd.DataFrame:
    """A table shaped like ``optuna.Study.trials_dataframe()``, some trials failed or pruned."""
    rng = np.random.default_rng(seed)
    value = rng.normal(1.0, 0.5, n)
    state = np.array(["COMPLETE"] * n, dtype=object)
    state[rng.choice(n, n // 20, replace=False)] = "FAIL"
    state[rng.choice(n, n // 20, replace=False)] = "PRUNED"
    value[state == "FAIL"] = np.nan
    # A failed trial with a huge stale value must never be ranked.
    state[0], value[0] = "FAIL", 99.0
    return pd.DataFrame(
        {
            "number": np.arange(n),
            "value": value,
            "datetime_start": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n), "s"),
            "duration": pd.to_timedelta(rng.uniform(0.01, 2.0, n), unit="s"),
            "params_fast": rng.integers(2, 50, n),
            "params_slow": rng.integers(50, 300, n),
            "params_kind": rng.choice(["ema", "sma"], n),
            "user_attrs_total_return": rng.normal(0.1, 0.2, n),
            "state": state,
        }
    )


def test_log_trials_keeps_the_whole_table_and_only_the_top_k_as_runs(
    real_run: BacktestRun, tmp_path: Path, store_uri: str, mlflow_client: Any
) -> None:
    import plotly.graph_objects as go

    table = _trial_table(1000)
    complete = table[table["state"] == "COMPLETE"]
    expected = complete.sort_values(["value", "number"], ascending=[False, True]).head(10)
    figure = go.Figure(go.Scatter(x=table["number"], y=table["value"]))

    with start_study_run("sma-study", real_run.config, experiment="sweeps", tags={"seed": 3}) as p:
        child_ids = log_trials(p, table, top_k=10, figures={"optimization history": figure})

    parent = mlflow_client.get_run(p)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["seed"] == "3"
    assert parent.data.tags["config_id"] == real_run.config_id
    assert parent.data.params["strategy.name"] == "sma_cross"
    m = parent.data.metrics
    assert m["n_trials"] == 1000
    assert m["n_complete"] == len(complete)
    assert m["best_value"] == pytest.approx(expected["value"].iloc[0])
    assert parent.data.tags["best_trial_number"] == str(expected["number"].iloc[0])
    assert parent.data.tags["best_params.fast"] == str(expected["params_fast"].iloc[0])
    assert parent.data.tags["best_run_id"] == child_ids[0]

    children = _children(mlflow_client, p)
    assert len(children) == 10
    assert sorted(c.info.run_id for c in children) == sorted(child_ids)
    by_number = {int(c.data.tags["trial_number"]): c for c in children}
    assert set(by_number) == set(expected["number"])
    for _, row in expected.iterrows():
        child = by_number[int(row["number"])]
        assert child.info.status == "FINISHED"
        assert child.data.params["params.fast"] == str(row["params_fast"])
        assert child.data.params["params.kind"] == row["params_kind"]
        assert child.data.metrics["sharpe_ratio"] == pytest.approx(row["value"])
        assert child.data.metrics["total_return"] == pytest.approx(row["user_attrs_total_return"])
        assert child.data.metrics["duration_s"] == pytest.approx(row["duration"].total_seconds())

    listed = {f.path for f in mlflow_client.list_artifacts(p)}
    assert {"trials.parquet", "trials.csv", "config.yaml", "figures"} <= listed
    assert [f.path for f in mlflow_client.list_artifacts(p, "figures")] == [
        "figures/optimization_history.html"
    ]
    back = pd.read_parquet(download_artifact(p, "trials.parquet", tmp_path / "dl"))
    pd.testing.assert_frame_equal(back, table)
    csv = pd.read_csv(download_artifact(p, "trials.csv", tmp_path / "dl"))
    assert len(csv) == 1000
    assert list(csv.columns) == list(table.columns)


def test_log_trials_minimize_ranks_the_smallest_first(
    real_run: BacktestRun, store_uri: str, mlflow_client: Any
) -> None:
    table = pd.DataFrame(
        {
            "number": [0, 1, 2, 3, 4],
            "value": [0.5, -1.0, 2.0, -1.0, np.inf],
            "params_x": [1, 2, 3, 4, 5],
        }
    )
    with start_study_run("min", real_run.config, experiment="sweeps-min") as p:
        ids = log_trials(p, table, top_k=3, objective_name="max_drawdown", direction="minimize")
    numbers = [find_run(i)["tags"]["trial_number"] for i in ids]
    assert numbers == ["1", "3", "0"]  # ties by trial number; infinity never ranked
    assert find_run(p)["metrics"]["best_value"] == -1.0
    assert find_run(ids[0])["metrics"]["max_drawdown"] == -1.0


def test_a_failure_inside_a_study_run_marks_it_failed(
    real_run: BacktestRun, store_uri: str, mlflow_client: Any
) -> None:
    seen: list[str] = []

    def sweep() -> None:
        with start_study_run("crash", real_run.config, experiment="sweeps-crash") as parent:
            seen.append(parent)
            assert mlflow_client.get_run(parent).info.status == "RUNNING"
            raise RuntimeError("sweep crashed")

    with pytest.raises(RuntimeError, match="sweep crashed"):
        sweep()
    assert mlflow_client.get_run(seen[0]).info.status == "FAILED"


def test_log_trials_rejects_a_table_without_an_objective(
    real_run: BacktestRun, store_uri: str
) -> None:
    with (
        start_study_run("bad", real_run.config, experiment="sweeps-bad") as p,
        pytest.raises(ConfigError, match="objective column"),
    ):
        log_trials(p, pd.DataFrame({"number": [0], "params_x": [1]}))


# -- provenance, lookups, configuration -------------------------------------------------------


def test_data_hash_changes_when_one_price_changes(real_run: BacktestRun) -> None:
    bars = real_run.bars

    def rebuilt(**changes: np.ndarray) -> Bars:
        fields = {f: np.array(getattr(bars, f)) for f in ("open", "high", "low", "close", "volume")}
        fields.update(changes)
        return Bars(bars.index.copy(), bars.symbols, bars.timeframe, **fields)

    assert data_hash(rebuilt()) == data_hash(bars)  # equal data, fresh arrays: equal hash
    close = np.array(bars.close)
    close[len(close) // 2, 0] *= 1.0001
    assert data_hash(rebuilt(close=close)) != data_hash(bars)
    volume = np.array(bars.volume)
    volume[-1, 0] += 1.0
    assert data_hash(rebuilt(volume=volume)) != data_hash(bars)
    other_tf = Bars(bars.index, bars.symbols, "2h", bars.open, bars.high, bars.low, bars.close, bars.volume)  # fmt: skip
    assert data_hash(other_tf) != data_hash(bars)


def test_find_run_and_download_artifact(
    real_run: BacktestRun, tmp_path: Path, store_uri: str
) -> None:
    run_id = log_backtest(real_run, None, experiment="lookup")
    info = find_run(run_id)
    assert info["run_id"] == run_id
    assert info["experiment_name"] == "lookup"
    assert info["status"] == "FINISHED"
    assert info["tags"]["config_id"] == real_run.config_id
    assert info["metrics"]["n_trades"] == real_run.result.n_trades
    assert info["params"]["strategy"] == "sma_cross"
    assert info["artifact_uri"].startswith((tmp_path.resolve() / "mlartifacts").as_uri())
    path = download_artifact(run_id, "metrics.json", tmp_path / "dst")
    assert path == tmp_path / "dst" / "metrics.json"
    assert json.loads(path.read_text())["config_id"] == real_run.config_id
    with pytest.raises(RunNotFoundError, match="no artifact"):
        download_artifact(run_id, "tearsheet.html", tmp_path / "dst")
    with pytest.raises(RunNotFoundError):
        find_run("0" * 32)


def test_tracking_uri_honours_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert tracking_uri() == "http://127.0.0.1:5999"
    assert tracking_uri(tmp_path) == "http://127.0.0.1:5999"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.delenv("GREKKO_RUNS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # the default is the checkout's runs/, from any folder
    assert tracking_uri() == f"sqlite:///{REPO / 'runs' / 'mlruns.db'}"
    assert tracking_uri(tmp_path / "out") == f"sqlite:///{tmp_path.resolve()}/out/mlruns.db"
    monkeypatch.setenv("GREKKO_RUNS_DIR", str(tmp_path / "elsewhere"))
    assert tracking_uri("ignored") == f"sqlite:///{tmp_path.resolve()}/elsewhere/mlruns.db"
    assert not (tmp_path / "runs").exists()  # resolving a URI creates nothing


def test_importing_tracking_does_not_import_mlflow() -> None:
    code = "import sys, grekko_research.tracking\nprint('\\n'.join(sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    loaded = set(out.stdout.split())
    assert "grekko_research.tracking" in loaded
    assert not any(m == "mlflow" or m.startswith("mlflow.") for m in loaded)


def test_no_other_module_imports_mlflow() -> None:
    pattern = re.compile(r"^\s*(import|from)\s+mlflow\b", re.MULTILINE)
    offenders = [
        str(path.relative_to(REPO))
        for folder in ("grekko_research", "strategies", "live")
        for path in (REPO / folder).rglob("*.py")
        if pattern.search(path.read_text(encoding="utf-8"))
        and path.parent != REPO / "grekko_research" / "tracking"
    ]
    assert offenders == []
    assert pattern.search((REPO / "grekko_research/tracking/_client.py").read_text())
