"""Disk: one plotly.js per runs folder, MLflow holds run files once, identical reruns are reused."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.runs import BacktestRun, run_backtest, write_run
from grekko_research.tracking import find_run, log_backtest


@pytest.fixture(scope="module")
def real_run(research_store: Path) -> BacktestRun:
    """A real two-month SMA-cross backtest on BTC/USDT 1h."""
    cfg = compose_config(["data.start=2021-01-01", "data.end=2021-03-01"])
    return run_backtest(cfg, store=ParquetStore(research_store))


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlruns.db"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def store_uri(tmp_path: Path, empty_db: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "runs").mkdir()
    shutil.copyfile(empty_db, tmp_path / "runs" / "mlruns.db")
    uri = f"sqlite:///{tmp_path / 'runs' / 'mlruns.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def _disk(root: Path) -> int:
    """Bytes under ``root``, each file counted once however many names (hard links) it has."""
    seen: dict[tuple[int, int], int] = {}
    for path in root.rglob("*"):
        if path.is_file():
            st = path.stat()
            seen[(st.st_dev, st.st_ino)] = st.st_size
    return sum(seen.values())


def test_tearsheets_share_one_plotly_js_and_open_offline(
    real_run: BacktestRun, tmp_path: Path
) -> None:
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    runs = tmp_path / "runs"
    folders = [write_run(real_run, runs) for _ in range(3)]
    shared = runs / f"plotly-{get_plotlyjs_version()}.min.js"
    assert shared.read_text(encoding="utf-8") == get_plotlyjs()
    for folder in folders:
        page = (folder / "tearsheet.html").read_text(encoding="utf-8")
        assert '<script src="plotly.min.js"' in page  # beside the page: opens offline
        assert "cdn.plot.ly" not in page and "https://" not in page.split("<body>")[1][:2000]
        assert len(page) < 1_500_000  # plotly.js (4.8 MB) is not inside
        assert os.path.samefile(folder / "plotly.min.js", shared)  # one copy on disk
        assert (folder / "tearsheet.png").stat().st_size > 10_000
    per_run = (_disk(runs) - shared.stat().st_size) / 3
    assert per_run < 1_500_000, per_run  # it was ~5.5 MB per run with plotly.js embedded


def test_mlflow_holds_the_run_folder_files_once(
    real_run: BacktestRun, tmp_path: Path, store_uri: str
) -> None:
    folder = write_run(real_run, tmp_path / "runs")
    run_id = log_backtest(real_run, folder)
    art = Path(find_run(run_id)["artifact_uri"].removeprefix("file://"))
    names = sorted(p.name for p in folder.iterdir())
    assert sorted(p.name for p in art.iterdir()) == names
    for name in names:  # the same file under two names, not a second copy
        assert os.path.samefile(art / name, folder / name), name
    before = _disk(tmp_path / "runs")
    log_backtest(real_run, folder)  # another (non-reused) run of the same folder
    assert _disk(tmp_path / "runs") - before < 200_000  # database rows, no second tearsheet


def test_identical_rerun_reuses_the_run_folder_and_the_mlflow_run(
    real_run: BacktestRun,
    research_store: Path,
    tmp_path: Path,
    store_uri: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlflow.tracking import MlflowClient

    from grekko_research.tracking import _provenance

    # The same code for every call (the checkout may be edited while the test runs).
    monkeypatch.setattr(_provenance, "code_version", lambda: "c0ffee")

    runs = tmp_path / "runs"
    first = write_run(real_run, runs, reuse=True)
    first_id = log_backtest(real_run, first, reuse=True)
    again = write_run(real_run, runs, reuse=True)
    again_id = log_backtest(real_run, again, reuse=True)
    assert (again, again_id) == (first, first_id)
    assert len(list((runs / real_run.strategy.name).iterdir())) == 1
    mlc = MlflowClient(tracking_uri=store_uri)
    exp = mlc.get_experiment_by_name("grekko-backtests")
    assert len(mlc.search_runs([exp.experiment_id])) == 1
    # Another configuration is another folder and another run.
    cfg = compose_config(
        ["data.start=2021-01-01", "data.end=2021-03-01", "strategy.params.fast=12"]
    )
    other = run_backtest(cfg, store=ParquetStore(research_store))
    other_folder = write_run(other, runs, reuse=True)
    assert other_folder != first and log_backtest(other, other_folder, reuse=True) != first_id
    assert write_run(real_run, runs) != first  # reuse is asked for, never implied
    tags = find_run(first_id)["tags"]
    assert tags["identity"] and tags["config_id"] == real_run.config_id


def test_experiments_open_on_the_runs_table(
    real_run: BacktestRun, tmp_path: Path, store_uri: str
) -> None:
    from mlflow.tracking import MlflowClient

    mlc = MlflowClient(tracking_uri=store_uri)
    old = mlc.create_experiment("grekko-backtests")  # as an older Grekko created it: no tags
    log_backtest(real_run, None)
    exp: Any = mlc.get_experiment(old)
    # MLflow 3's UI opens an experiment without a kind on its GenAI (traces) page.
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert "sharpe_ratio" in exp.tags["mlflow.note.content"]
    # The key metrics as columns of the view the printed runs-table address opens.
    view = json.loads(exp.tags["mlflow.sharedViewState.grekko"])
    assert "metrics.`sharpe_ratio`" in view["selectedColumns"]
    from grekko_research.tracking import runs_table_url

    run_id = log_backtest(real_run, None)
    assert runs_table_url(run_id).endswith(f"/#/experiments/{old}/runs?viewStateShareKey=grekko")


def test_code_version_names_uncommitted_changes() -> None:
    from grekko_research.tracking._provenance import code_version, git_commit, identity_hash

    version = code_version()
    commit = git_commit()
    if commit is None:
        pytest.skip("not a git checkout")
    assert version is not None and version.split("+")[0] == commit
    assert identity_hash("a", "b") == identity_hash("a", "b") != identity_hash("a", "c")
    assert identity_hash("a", None) is None  # an unknown part: never called identical


def test_identical_sweep_rerun_reuses_its_folder_and_mlflow_runs(
    research_store: Path, tmp_path: Path, store_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `make run` does twice: the second sweep has nothing to run and adds nothing."""
    from mlflow.tracking import MlflowClient

    from grekko_research.cli.sweep import track_sweep, write_sweep
    from grekko_research.optimize import run_sweep
    from grekko_research.tracking import _provenance

    monkeypatch.setattr(_provenance, "code_version", lambda: "c0ffee")
    runs = tmp_path / "runs"
    overrides = ["optimize.validation=none", "optimize.pruner=none", "optimize.n_trials=4",
                 f"optimize.storage={tmp_path / 'optuna.log'}", f"experiment.output_dir={runs}"]  # fmt: skip
    cfg = compose_config(overrides)
    store = ParquetStore(research_store)
    ids, folders = [], []
    for _ in range(2):
        result = run_sweep(cfg, store=store)
        folders.append(write_sweep(result, runs, reuse=True))
        ids.append(track_sweep(cfg, result, result.summary(), folders[-1], store, reuse=True))
    assert folders[0] == folders[1] and ids[0] == ids[1]
    assert len(list(folders[0].parent.iterdir())) == 1
    mlc = MlflowClient(tracking_uri=store_uri)
    exp = mlc.get_experiment_by_name("grekko-sweeps")
    parents = [
        r for r in mlc.search_runs([exp.experiment_id]) if "mlflow.parentRunId" not in r.data.tags
    ]
    assert len(parents) == 1
    # More trials: another summary, another folder and run.
    more = run_sweep(compose_config([*overrides, "optimize.n_trials=6"]), store=store)
    assert write_sweep(more, runs, reuse=True) != folders[0]
