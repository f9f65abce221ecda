"""``grekko-live drift`` on a replay of stored history: a replay trades what the backtest tested,
so every term is 0; a configuration other than the run's is refused; the scheduled mode logs
the breakdown to MLflow (beside the promoted model) and alerts on a term over its threshold."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from grekko_research.errors import ConfigError
from live.drift import TERMS, run_drift_job

RANGE = ["data.start=2021-01-04", "data.end=2021-01-12"]


@pytest.fixture(scope="module")
def replay_log(research_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from live.cli import app

    folder = tmp_path_factory.mktemp("drift-replay")
    result = CliRunner().invoke(
        app, ["replay", "--strategy", "sma_cross", "--params", "fast=2", "--params", "slow=5",
              "--state-dir", str(folder), *RANGE],
        env={"GREKKO_DATA_DIR": str(research_store)}, catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip().splitlines()[-1])


def invoke(store: Path, *args: str, **env: str) -> Any:
    from live.cli import _app, app

    # Wide enough for the tables (rich may have fixed the width at import), and put back after:
    # a width left at 200 made a later test's 80-column check fail on the same worker.
    width, _app.console._width = _app.console._width, 200
    try:
        return CliRunner().invoke(app, ["drift", *args], env={"GREKKO_DATA_DIR": str(store), **env})
    finally:
        _app.console._width = width


def test_a_replay_has_no_drift(replay_log: Path, research_store: Path) -> None:
    result = invoke(research_store, str(replay_log), *RANGE)
    assert result.exit_code == 0, result.output
    assert "live − backtest P&L, by term" in result.stdout and "slippage" in result.stdout
    result = invoke(research_store, str(replay_log), "--json", *RANGE)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["orders"], "the replay must trade to prove anything"
    assert set(doc["terms"]) == set(TERMS)
    assert all(abs(v) < 1e-9 for v in doc["terms"].values()), doc["terms"]
    assert doc["live_pnl"] == pytest.approx(doc["backtest_pnl"], abs=1e-9) and doc["live_pnl"] != 0
    assert {r["cause"] for r in doc["orders"]} == {"both"}
    # The run's strategy and parameters come from its log; a different one is refused.
    result = invoke(research_store, str(replay_log), "strategy.params.fast=3", *RANGE)
    assert isinstance(result.exception, ConfigError) and "config_id" in str(result.exception)


def test_the_scheduled_mode_logs_to_mlflow_and_alerts(
    replay_log: Path, research_store: Path, tmp_path: Path
) -> None:
    from grekko_research.config import compose_config
    from grekko_research.data.store import ParquetStore
    from grekko_research.tracking import find_run
    from live.events import EventStore

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    # The run, with a funding payment the backtest did not have (the runner logs none yet).
    shutil.copytree(replay_log.parent, tmp_path / "run")  # the log and its checkpoints
    log = tmp_path / "run" / "events.db"
    with EventStore.open(log) as store:
        head = store.head()
        assert head is not None
        store.append("funding", "runner", {"symbol": "BTC/USDT", "amount": -5.0}, head.ts_ms)
    result = invoke(research_store, str(log), "--every", "1d", "--runs", "1", "--json",
                    "--threshold", "funding=1", "--threshold", "*=100", *RANGE,
                    MLFLOW_TRACKING_URI=uri)  # fmt: skip
    assert result.exit_code == 0, result.output
    line = json.loads(result.stdout.strip().splitlines()[-1])
    assert line["alerts"] == ["drift:funding"] and line["terms"]["funding"] == -5.0
    run = find_run(line["mlflow_run"], uri=uri)
    assert run["metrics"]["drift_funding"] == -5.0 and run["metrics"]["drift_slippage"] == 0
    assert run["tags"]["run_id"] == line["run_id"] and run["experiment_name"] == "grekko-drift"
    assert (Path(run["artifact_uri"].removeprefix("file://")) / "drift.json").is_file()
    # The job as a scheduler calls it, beside a promoted model: its version is tagged.
    sent: list[Any] = []
    cfg = compose_config(
        ["strategy=sma_cross", "strategy.params.fast=2", "strategy.params.slow=5", *RANGE]
    )
    from mlflow import MlflowClient  # (the test's own model version)

    mlc = MlflowClient(uri)
    mlc.create_registered_model("drift_model")
    version = str(mlc.create_model_version("drift_model", str(tmp_path), run_id=None).version)
    store = ParquetStore(research_store)
    report, mlflow_run, alerts = _job_beside_model(log, cfg, uri, version, sent, store)
    assert [a.key for a in alerts] == ["drift:funding"] and sent == alerts
    assert report.meta["model_version"] == version and report.terms["funding"] == -5.0
    assert "funding -5.00" in alerts[0].title
    tags = mlc.get_model_version("drift_model", version).tags
    assert tags["drift_run"] == mlflow_run
    assert find_run(mlflow_run, uri=uri)["tags"]["model_version"] == version
    with pytest.raises(ConfigError, match="unknown terms"):
        run_drift_job(log, cfg, thresholds={"colour": 1}, uri=uri, store=store)


def _job_beside_model(
    log: Path, cfg: Any, uri: str, version: str, sent: list[Any], store: Any
) -> Any:
    """``run_drift_job`` on a log whose ``run_started`` names a promoted model."""
    from live.events import EventStore

    copy = log.parent.parent / "model-run" / "events.db"
    copy.parent.mkdir()
    with EventStore.open(log) as src, EventStore.open(copy) as dst:
        for e in src.read():
            payload = dict(e.payload)
            if e.kind == "run_started":
                payload |= {"model": "models:/drift_model@live", "model_version": version}
            dst.append(e.kind, e.stream, payload, e.ts_ms)
    return run_drift_job(
        copy, cfg, thresholds={"funding": 1.0}, uri=uri, send=sent.append, store=store
    )
