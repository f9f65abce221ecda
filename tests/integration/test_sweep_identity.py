"""A study's name carries everything that defines it: changing the objective runs a new study."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.errors import ConfigError
from grekko_research.optimize import run_sweep
from grekko_research.optimize.studies import base_study_name

REPO = Path(__file__).resolve().parents[2]


def _trials(storage: Path, name: str) -> list[object]:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(
        study_name=name, storage=JournalStorage(JournalFileBackend(str(storage)))
    )
    return [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]


def _sweep(tmp_path: Path, store: Path, *extra: str) -> dict[str, object]:
    cmd = [
        sys.executable, "-m", "grekko_research.cli", "sweep", "--json",
        "optimize.validation=none", "optimize.pruner=none", "optimize.n_trials=5",
        "optimize.sampler=random", f"optimize.storage={tmp_path / 'optuna.log'}",
        f"experiment.output_dir={tmp_path / 'runs'}", "experiment.track=false",
        "optimize.parity=false",  # the live replay: tested with promotion (test_promote.py)
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "GREKKO_DATA_DIR": str(store)}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out: dict[str, object] = json.loads(done.stdout)
    return out


def test_another_objective_after_a_sweep_runs_a_new_study(
    research_store: Path, tmp_path: Path
) -> None:
    """The sequence that returned the previous study's results: Sharpe, then total return."""
    storage = tmp_path / "optuna.log"
    sharpe = _sweep(tmp_path, research_store, "optimize.objective=sharpe_ratio")
    again = _sweep(tmp_path, research_store, "optimize.objective=sharpe_ratio")
    assert again["study"] == sharpe["study"]  # the same command continues the same study
    assert len(_trials(storage, f"{sharpe['study']}/full")) == 5  # ... with nothing left to run

    ret = _sweep(tmp_path, research_store, "optimize.objective=total_return")
    assert ret["study"] != sharpe["study"] and ret["objective"] == ["total_return"]
    trials = _trials(storage, f"{ret['study']}/full")
    assert len(trials) == 5  # new trials ran for the new objective
    scored = [t for t in trials if t.state.name == "COMPLETE"]
    assert scored and all(t.value == t.user_attrs["result"]["total_return"] for t in scored)
    assert ret["in_sample"]["total_return"] == max(t.value for t in scored)
    assert len(_trials(storage, f"{sharpe['study']}/full")) == 5  # the Sharpe study untouched

    pareto = _sweep(tmp_path, research_store, "optimize=return_vs_drawdown")
    assert pareto["study"] not in (sharpe["study"], ret["study"])
    assert pareto["objective"] == ["total_return", "max_drawdown"]
    both = [t for t in _trials(storage, f"{pareto['study']}/full") if t.state.name == "COMPLETE"]
    assert both and all(len(t.values) == 2 for t in both)


def test_study_name_follows_what_the_study_searches() -> None:
    base = compose_config([])
    name = base_study_name(base)
    same = ["optimize.n_trials=500", "optimize.workers=3", "optimize.seed=9", "optimize.timeout=60"]
    assert base_study_name(compose_config(same)) == name  # size and speed: the same study
    for change in (
        "optimize.objective=sortino_ratio",
        "optimize.direction=minimize",
        "optimize.sampler=random",
        "optimize.pruner=none",
    ):
        assert base_study_name(compose_config([change])) != name, change
    assert "-sortino_ratio-" in base_study_name(
        compose_config(["optimize.objective=sortino_ratio"])
    )


def test_a_fixed_study_name_refuses_other_settings(research_store: Path, tmp_path: Path) -> None:
    common = [
        "optimize.validation=none", "optimize.pruner=none", "optimize.n_trials=3",
        f"optimize.storage={tmp_path / 'optuna.log'}", "optimize.study_name=mine",
    ]  # fmt: skip
    store = ParquetStore(research_store)
    run_sweep(compose_config(common), store=store)
    with pytest.raises(ConfigError, match=r"study 'mine/full'.*objectives.*total_return"):
        run_sweep(compose_config([*common, "optimize.objective=total_return"]), store=store)
    assert run_sweep(compose_config(common), store=store).n_trials == 3  # the same settings: fine


def test_walk_forward_windows_enter_the_fold_studies(research_store: Path, tmp_path: Path) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = tmp_path / "optuna.log"
    common = ["optimize=quick", "optimize.n_trials=3", "optimize.pruner=none",
              f"optimize.storage={storage}"]  # fmt: skip
    store = ParquetStore(research_store)
    run_sweep(compose_config(common), store=store)
    run_sweep(compose_config([*common, "optimize.oos_fraction=0.3"]), store=store)
    names = {
        s.study_name
        for s in optuna.get_all_study_summaries(JournalStorage(JournalFileBackend(str(storage))))
    }
    folds = sorted(n for n in names if "/wf" in n)
    assert len(folds) == 4, names  # 2 folds x 2 out-of-sample fractions: 4 distinct studies
