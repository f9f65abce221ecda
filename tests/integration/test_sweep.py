"""``grekko sweep``: resuming after Ctrl-C, several workers, PostgreSQL, walk-forward summaries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.errors import ConfigError
from grekko_research.optimize import run_sweep, walk_forward_folds
from grekko_research.optimize.sweep import cv_splits
from tests.peers.postgres import postgres_server

REPO = Path(__file__).resolve().parents[2]


def _finished(storage: str, name: str) -> tuple[int, set[int]]:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    store = storage if "://" in storage else JournalStorage(JournalFileBackend(storage))
    study = optuna.load_study(study_name=name, storage=store)
    done = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    return len(done), {t.user_attrs.get("worker_pid") for t in done}


def test_walk_forward_folds_tile_the_out_of_sample_part() -> None:
    folds = walk_forward_folds(1000, 50, 4, 0.4, anchored=False)
    assert [f.is_end for f in folds] == [620, 715, 810, 905] and folds[-1].oos_end == 1000
    assert all(f.is_end - f.is_start == 570 for f in folds)  # rolling: same length
    anchored = walk_forward_folds(1000, 50, 4, 0.4, anchored=True)
    assert {f.is_start for f in anchored} == {50}
    with pytest.raises(Exception, match="too few"):
        walk_forward_folds(60, 50, 4, 0.4, anchored=False)


def test_cv_splits_purge_and_embargo_around_every_test_block() -> None:
    splits = cv_splits(1000, 100, groups=6, test_groups=2, purge=20, embargo=10)
    assert len(splits) == 15  # C(6, 2)
    blocks = [(100, 250), (250, 400), (400, 550), (550, 700), (700, 850), (850, 1000)]
    test, train = splits[[s[0] for s in splits].index((1, 3))]
    # block 0 purged before block 1; block 2 embargoed after 1 and purged before 3; 4 embargoed
    assert train == ((100, 230), (410, 530), (710, 1000))
    for test, train in splits:
        for g in test:
            a, b = blocks[g]
            assert all(e <= a - 20 or s >= b + 10 for s, e in train)  # nothing near a test block
    kfold = cv_splits(1000, 100, groups=4, test_groups=1, purge=0, embargo=0)
    assert [t for t, _ in kfold] == [(0,), (1,), (2,), (3,)]
    assert kfold[0][1] == ((325, 1000),)
    with pytest.raises(ConfigError, match="test_groups"):
        cv_splits(1000, 100, groups=4, test_groups=4, purge=0, embargo=0)


def test_cpcv_sweep_builds_every_path(research_store: Path, tmp_path: Path) -> None:
    cfg = compose_config(
        ["optimize.validation=cpcv", "optimize.folds=4", "optimize.test_groups=2",
         "optimize.n_trials=6", f"optimize.storage={tmp_path / 'optuna.log'}"]
    )  # fmt: skip
    result = run_sweep(cfg, store=ParquetStore(research_store))
    assert len(result.folds) == 6 and result.oos["paths"] == 3  # C(4,2) splits, 6 * 2 / 4 paths
    assert result.oos["path_sharpe_min"] <= result.oos["path_sharpe_mean"]
    assert result.oos_equity.iloc[-1] == pytest.approx(result.oos["final_equity"])


def test_sweep_summary_leads_with_out_of_sample(research_store: Path, tmp_path: Path) -> None:
    cfg = compose_config(
        ["optimize=quick", f"optimize.storage={tmp_path / 'optuna.log'}", "optimize.seed=3"]
    )
    result = run_sweep(cfg, store=ParquetStore(research_store))
    summary = result.summary()
    assert list(summary)[:5] == ["study", "storage", "strategy", "objective", "out_of_sample"]
    assert summary["out_of_sample"]["final_equity"] > 0 and len(summary["folds"]) == 2
    first, second = summary["folds"]
    assert first["out_of_sample"][1] < second["out_of_sample"][0]  # test windows do not overlap
    assert result.n_trials == 12
    assert len(result.oos_equity) == sum(1 for _ in result.oos_equity)  # stitched, one curve
    again = run_sweep(cfg, store=ParquetStore(research_store))  # the same command continues
    assert again.n_trials == 12 and again.best_params == result.best_params


def _sweep_cmd(storage: Path, out: Path, n: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "grekko_research.cli", "sweep",
        "optimize.validation=none", "optimize.pruner=none", f"optimize.n_trials={n}",
        f"optimize.storage={storage}", f"experiment.output_dir={out}",
        "optimize.parity=false",  # the live replay: tested with promotion (test_promote.py)
        *extra,
    ]  # fmt: skip


def test_ctrl_c_then_rerun_continues_the_study(research_store: Path, tmp_path: Path) -> None:
    storage = tmp_path / "optuna.log"
    env = {**os.environ, "GREKKO_DATA_DIR": str(research_store)}
    n = 1200  # long enough that the interrupt lands mid-study even on a busy machine
    cmd = _sweep_cmd(storage, tmp_path, n)
    # Output to files, not pipes: a full pipe would stall the sweep while nobody reads it.
    out_file, err_file = tmp_path / "first.out", tmp_path / "first.err"
    with out_file.open("wb") as out, err_file.open("wb") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=err)
        name = _study_name("optimize.validation=none", "optimize.pruner=none")
        deadline, reached = time.monotonic() + 240, 0
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.3)
            try:
                reached = _finished(str(storage), f"{name}/full")[0]
            except Exception:  # not created yet, or a line being written
                continue
            if reached >= 20:
                break
        assert proc.poll() is None and reached >= 20, err_file.read_text()[-2000:]
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    stderr = err_file.read_text()
    assert proc.returncode == 130, stderr[-2000:]
    assert "rerun the same command" in stderr
    first, _ = _finished(str(storage), f"{name}/full")
    assert 20 <= first < n
    assert _states(str(storage), f"{name}/full") <= {"COMPLETE", "PRUNED"}  # stopped between trials
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    total, _ = _finished(str(storage), f"{name}/full")
    assert total == n  # the rerun added exactly the missing trials
    folder = Path(done.stdout.strip().splitlines()[-1])
    assert json.loads((folder / "summary.json").read_text())["n_trials"] == n


def _states(storage: str, name: str) -> set[str]:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(storage)))
    return {t.state.name for t in study.trials}


def _study_name(*overrides: str) -> str:
    from grekko_research.optimize.studies import base_study_name

    return base_study_name(compose_config(list(overrides)))


@pytest.mark.parametrize("backend", ["journal", "postgresql"])
def test_two_workers_complete_one_study(backend: str, research_store: Path, tmp_path: Path) -> None:
    env = {**os.environ, "GREKKO_DATA_DIR": str(research_store)}
    n = 400

    def run(storage: str) -> None:
        cmd = _sweep_cmd(Path(storage), tmp_path, n, "--workers", "2", "optimize.sampler=random")
        done = subprocess.run(
            [c if not c.startswith("optimize.storage=") else f"optimize.storage={storage}" for c in cmd],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        name = _study_name(
            "optimize.validation=none", "optimize.pruner=none", "optimize.sampler=random"
        )
        total, pids = _finished(storage, name + "/full")
        assert n <= total <= n + 1  # a worker may finish one trial past the target
        assert len(pids) == 2  # both processes ran trials of the one study

    if backend == "journal":
        run(str(tmp_path / "optuna.log"))
    else:
        with postgres_server() as url:
            run(url)
