"""``grekko backtest`` returns after the summary; a detached child writes the tearsheet and the
MLflow run — the same run ``--wait`` records — and a failed or interrupted finish is reported."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from grekko_research.cli import app
from grekko_research.cli._finish import LEDGER_DIR, unfinished

RUN_FILES = sorted(
    ("config.yaml", "metrics.json", "trades.parquet", "equity.parquet", "tearsheet.html",
     "tearsheet.png", "provenance.json", "plotly.min.js")
)  # fmt: skip
CORE_FILES = sorted(("config.yaml", "metrics.json", "trades.parquet", "equity.parquet",
                     "provenance.json"))  # fmt: skip


def grekko(*args: str, store: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``grekko`` entry point (the only caller allowed to finish in the background)."""
    full = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "GREKKO_RUNS_DIR")
    }
    full.update(GREKKO_DATA_DIR=str(store), COLUMNS="100", **env)
    return subprocess.run(
        [sys.executable, "-m", "grekko_research.cli", *args],
        capture_output=True, text=True, env=full, timeout=600,
    )  # fmt: skip


def wait_ledger(root: Path, timeout: float = 300.0) -> list[dict[str, Any]]:
    """Wait until no entry is running; return the entries left (failed ones)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        docs = [json.loads(p.read_text()) for p in (root / LEDGER_DIR).glob("*.json")]
        if all(d["state"] != "running" for d in docs):
            return docs
        time.sleep(0.05)
    raise AssertionError(f"a background finish under {root} is still running")


def mlflow_runs(root: Path) -> list[tuple[Any, list[str]]]:
    """Each backtest run of the runs folder's MLflow store, oldest first, with its artifacts."""
    from mlflow.tracking import MlflowClient

    mlc = MlflowClient(tracking_uri=f"sqlite:///{root / 'mlruns.db'}")
    exp = mlc.get_experiment_by_name("grekko-backtests")
    runs = mlc.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])
    return [(r, sorted(f.path for f in mlc.list_artifacts(r.info.run_id))) for r in runs]


def test_background_finish_records_what_wait_records(research_store: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    waited = grekko("backtest", "--output-dir", str(root), "--wait", store=research_store)
    assert waited.returncode == 0, waited.stderr
    assert "MLflow run " in waited.stdout and "in the background" not in waited.stdout
    # Hold the MLflow database: the child cannot finish until the command has returned.
    lock = sqlite3.connect(root / "mlruns.db", timeout=0)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        quick = grekko("backtest", "--output-dir", str(root), store=research_store)
        assert quick.returncode == 0, quick.stderr
        lines = quick.stdout.strip().splitlines()
        folder = Path(lines[-1])
        assert "tearsheet and MLflow run: being written in the background" in " ".join(lines[-3:])
        assert "MLflow run " not in quick.stdout.replace("MLflow run:", "")
        # returned with its numbers written and the finish recorded as running
        assert all((folder / name).is_file() for name in CORE_FILES)
        (entry,) = (root / LEDGER_DIR).glob("*.json")
        doc = json.loads(entry.read_text())
        assert doc["state"] == "running" and doc["folder"] == str(folder)
        os.kill(doc["pid"], 0)  # alive
    finally:
        lock.rollback()
        lock.close()
    assert wait_ledger(root) == []
    assert sorted(p.name for p in folder.iterdir()) == RUN_FILES
    assert not [p for p in (root / LEDGER_DIR).iterdir() if p.suffix in (".json", ".log")]
    (first, first_files), (second, second_files) = mlflow_runs(root)
    assert first.info.run_id in waited.stdout
    assert first.info.status == second.info.status == "FINISHED"
    assert first.data.params == second.data.params
    assert first.data.metrics == second.data.metrics
    assert first.data.tags == second.data.tags
    assert first_files == second_files == RUN_FILES
    waited_folder = Path(waited.stdout.strip().splitlines()[-1])
    assert (waited_folder / "tearsheet.html").read_bytes() == (
        folder / "tearsheet.html"
    ).read_bytes()


def test_a_closed_output_pipe_loses_nothing(research_store: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    env = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "GREKKO_RUNS_DIR")
    }
    env["GREKKO_DATA_DIR"] = str(research_store)
    read_end, write_end = os.pipe()
    os.close(read_end)  # `grekko backtest | head -0`: every print fails
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "grekko_research.cli", "backtest", "--output-dir", str(root)],
            stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=600,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert proc.returncode != 0  # it could not print its summary
    (folder,) = (root / "sma_cross").iterdir()
    assert wait_ledger(root) == []
    assert sorted(p.name for p in folder.iterdir()) == RUN_FILES  # finished all the same
    ((run, files),) = mlflow_runs(root)
    assert run.info.status == "FINISHED" and files == RUN_FILES


def test_concurrent_background_finishes_share_a_new_store(
    research_store: Path, tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    env = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "GREKKO_RUNS_DIR")
    }
    env["GREKKO_DATA_DIR"] = str(research_store)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "grekko_research.cli", "backtest", "--output-dir", str(root),
             "experiment.tearsheet=false", "strategy=rsi_mean_reversion",
             f"strategy.params.period={period}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
        )
        for period in (14, 21, 28)
    ]  # fmt: skip
    for proc in procs:  # three children creating and writing one new store at once
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    assert wait_ledger(root) == []
    runs = mlflow_runs(root)
    assert [r.info.status for r, _ in runs] == ["FINISHED"] * 3
    assert sorted(r.data.params["params.period"] for r, _ in runs) == ["14", "21", "28"]


def test_failed_finish_is_reported_until_dismissed(research_store: Path, tmp_path: Path) -> None:
    root = tmp_path / "runs"
    bad = tmp_path / "not-a-database.db"
    bad.write_text("this is not an SQLite file\n" * 100)
    quick = grekko(
        "backtest", "--output-dir", str(root), "experiment.tearsheet=false",
        store=research_store, MLFLOW_TRACKING_URI=f"sqlite:///{bad}",
    )  # fmt: skip
    assert quick.returncode == 0, quick.stderr
    folder = Path(quick.stdout.strip().splitlines()[-1])
    (doc,) = wait_ledger(root)
    assert doc["state"] == "failed" and doc["folder"] == str(folder)
    assert "not a database" in doc["error"] or "file is not" in doc["error"], doc["error"]
    assert "Traceback" in Path(doc["log"]).read_text()

    def next_backtest() -> str:
        result = CliRunner().invoke(
            app,
            ["backtest", "--output-dir", str(root), "experiment.track=false",
             "experiment.tearsheet=false"],
            env={"GREKKO_DATA_DIR": str(research_store), "COLUMNS": "400"},
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        return " ".join(result.stderr.split())

    said = next_backtest()
    assert f"warning: run {folder} is incomplete: writing its MLflow run in the background " in said
    assert doc["error"].split(":")[0] in said
    assert "experiment.tearsheet=false --wait`" in said  # the command that redoes it
    assert next_backtest().count(f"run {folder} is incomplete") == 1  # again, until dismissed
    entry = next((root / LEDGER_DIR).glob("*.json"))
    entry.unlink()
    assert "incomplete" not in next_backtest()


def test_a_dead_child_is_reported_as_interrupted(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    zombie = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    zombie.kill()  # killed and not reaped yet: its pid still answers kill(pid, 0)
    while Path(f"/proc/{zombie.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
        time.sleep(0.01)
    ledger = tmp_path / LEDGER_DIR
    ledger.mkdir()
    try:
        for name, pid in (("dead", dead.pid), ("live", live.pid), ("zombie", zombie.pid)):
            doc = {"folder": f"/runs/s/{name}", "steps": ["tearsheet"], "state": "running",
                   "pid": pid, "command": ["backtest"], "log": str(ledger / f"{name}.log")}  # fmt: skip
            (ledger / f"s--{name}.json").write_text(json.dumps(doc))
        found = unfinished(tmp_path)
        assert [(u.folder, u.state) for u in found] == [
            ("/runs/s/dead", "interrupted"),
            ("/runs/s/zombie", "interrupted"),
        ]
        assert "writing its tearsheet in the background was interrupted" in found[0].message()
        live_doc = json.loads((ledger / "s--live.json").read_text())
        live_doc["boot_id"] = "another-boot"  # the live pid, recorded before a reboot: not ours
        (ledger / "s--live.json").write_text(json.dumps(live_doc))
        assert len(unfinished(tmp_path)) == 3
    finally:
        for proc in (live, zombie):
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("wait", [False, True])
def test_in_process_callers_finish_before_returning(
    wait: bool, research_store: Path, tmp_path: Path
) -> None:
    args = ["backtest", "--output-dir", str(tmp_path), "experiment.track=false"]
    result = CliRunner().invoke(
        app, args + (["--wait"] if wait else []), env={"GREKKO_DATA_DIR": str(research_store)}
    )
    assert result.exit_code == 0, result.output
    folder = Path(result.stdout.strip().splitlines()[-1])
    assert "tearsheet.html" in {p.name for p in folder.iterdir()}
    assert not (tmp_path / LEDGER_DIR).exists()
