"""Sweeps and grids on a real two-node Ray cluster equal the local backend's, worker deaths included."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from grekko_research.config import compose_config
from grekko_research.data.bars import Bars
from grekko_research.data.store import ParquetStore
from grekko_research.engine import EngineConfig, Stops
from grekko_research.engine.grid import run_grid
from grekko_research.errors import ConfigError
from grekko_research.optimize import run_sweep
from tests.distributed._workload import sma_kernel

# Random sampling and no pruner: which trials a median pruner stops depends on which others
# finished first, so with trials in flight (Ray, or --workers 2) pruning is order-dependent.
SWEEP = ["optimize.validation=none", "optimize.sampler=random", "optimize.pruner=none",
         "optimize.robustness=false", "optimize.n_trials=16", "optimize.seed=7"]  # fmt: skip


def _trials(cfg: Any, name: str) -> list[tuple[Any, ...]]:
    import optuna

    from grekko_research.optimize.studies import _storage

    study = optuna.load_study(study_name=name, storage=_storage(cfg))
    return [(t.number, t.state.name, t.params, t.values, t.user_attrs.get("result"))
            for t in study.trials]  # fmt: skip


def _comparable(summary: dict[str, Any]) -> str:
    """The summary without where the study lives, as JSON (NaN equals NaN there)."""
    return json.dumps({k: v for k, v in summary.items() if k != "storage"}, sort_keys=True,
                      indent=1)  # fmt: skip


def test_ray_sweep_equals_the_local_sweep(
    ray_cluster: Any, pg_url: str, research_store: Path, tmp_path: Path
) -> None:
    store = ParquetStore(research_store)
    local_cfg = compose_config([*SWEEP, f"optimize.storage={tmp_path / 'optuna.log'}"])
    local = run_sweep(local_cfg, store=store)
    seen: list[int] = []
    ray_cfg = compose_config([*SWEEP, f"optimize.storage={pg_url}", "optimize.backend=ray",
                              f"optimize.ray_address={ray_cluster.address}"])  # fmt: skip
    distributed = run_sweep(
        ray_cfg, store=store, on_trial=lambda n, total, s, t: seen.append(t.number)
    )
    assert _comparable(distributed.summary()) == _comparable(local.summary())
    assert distributed.overfitting["n_trials"] >= 2 and "deflated_sharpe" in distributed.overfitting
    name = f"{local.study_name}/full"
    ray_trials, local_trials = _trials(ray_cfg, name), _trials(local_cfg, name)
    strip = [(n, s, p, v, {k: x for k, x in (r or {}).items()}) for n, s, p, v, r in ray_trials]
    assert [t[:4] for t in strip] == [t[:4] for t in local_trials]  # same trials, same values
    assert sorted(seen) == list(range(16))  # progress: every trial reported once
    # The trials ran in Ray workers on both nodes, not in this process.
    import optuna

    from grekko_research.optimize.studies import _storage

    study = optuna.load_study(study_name=name, storage=_storage(ray_cfg))
    pids = {t.user_attrs.get("worker_pid") for t in study.trials if t.state.name == "COMPLETE"}
    assert len(pids) >= 2 and __import__("os").getpid() not in pids


def test_ray_sweep_needs_a_database_storage(research_store: Path, tmp_path: Path) -> None:
    store = ParquetStore(research_store)
    cfg = compose_config([*SWEEP, f"optimize.storage={tmp_path / 'optuna.log'}",
                          "optimize.backend=ray"])  # fmt: skip
    with pytest.raises(ConfigError, match=r"optimize\.backend=ray needs optimize\.storage"):
        run_sweep(cfg, store=store)
    assert not (tmp_path / "optuna.log").exists()  # refused before any study was made
    bad = compose_config([*SWEEP, "optimize.backend=dask"])
    with pytest.raises(ConfigError, match=r"optimize\.backend .dask. is not local or ray"):
        run_sweep(bad, store=store)


@pytest.mark.exhaustive  # ~15 s more on the session's cluster: a local and a Ray sweep again
def test_a_worker_killed_mid_trial_fails_the_trial_and_the_study_retries_it(
    ray_cluster: Any, pg_url: str, research_store: Path, tmp_path: Path
) -> None:
    from tests.distributed import _workload  # noqa: F401  (registers kill_once_sma here too)

    store = ParquetStore(research_store)
    args = [*SWEEP, "strategy=kill_once_sma",
            "optimize.study_name=kill-once"]  # fmt: skip
    local_cfg = compose_config([*args, f"optimize.storage={tmp_path / 'optuna.log'}"])
    local = run_sweep(local_cfg, store=store)
    (ray_cluster.kill_dir / "kill").touch()  # the next trial's worker SIGKILLs itself
    ray_cfg = compose_config([*args, f"optimize.storage={pg_url}", "optimize.backend=ray",
                              f"optimize.ray_address={ray_cluster.address}"])  # fmt: skip
    distributed = run_sweep(ray_cfg, store=store)
    assert not (ray_cluster.kill_dir / "kill").exists()  # a worker did die
    trials = _trials(ray_cfg, "kill-once/full")
    failed = [t for t in trials if t[1] == "FAIL"]
    finished = [t for t in trials if t[1] in ("COMPLETE", "PRUNED")]
    assert len(failed) == 1 and len(finished) == 16  # one failed trial, nothing lost
    # Its parameters ran again as a new trial; no parameter set counts twice.
    key = lambda p: tuple(sorted(p.items()))  # noqa: E731
    assert Counter(key(t[2]) for t in finished)[key(failed[0][2])] == 1
    local_finished = [t for t in _trials(local_cfg, "kill-once/full") if t[1] != "FAIL"]
    assert Counter(key(t[2]) for t in finished) == Counter(key(t[2]) for t in local_finished)
    # The retried trial has a later number, so the returns matrix holds the same columns in
    # another order: sums differ in the last bits.
    assert json.loads(_comparable(distributed.summary())) == _approx(
        json.loads(_comparable(local.summary()))
    )


def _approx(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {k: _approx(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_approx(v) for v in tree]
    if isinstance(tree, float):
        return pytest.approx(tree, rel=1e-9, nan_ok=True)
    return tree


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> Bars:
    frame = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz")
    return Bars.from_frame(frame, "BTC/USDT", "1h")


def test_ray_grid_equals_the_local_grid(ray_cluster: Any, btc: Bars) -> None:
    from grekko_research.distributed import run_grid_ray

    params = [[f, s] for f in (5, 10, 20, 30) for s in (40, 60, 90, 120, 200)]
    config = EngineConfig(stops=Stops(stop_loss=0.03, take_profit=0.06))
    local = run_grid(btc, sma_kernel, params, config, param_names=["fast", "slow"])
    steps: list[tuple[int, int]] = []
    distributed = run_grid_ray(btc, sma_kernel, params, config, param_names=["fast", "slow"],
                               address=ray_cluster.address, chunk_rows=3,
                               progress=lambda done, n: steps.append((done, n)))  # fmt: skip
    pd.testing.assert_frame_equal(distributed, local)
    assert len(steps) == 7 and steps[-1] == (20, 20)  # 7 chunks of at most 3 rows
    with pytest.raises(ConfigError, match="param_names"):
        run_grid_ray(btc, sma_kernel, params, param_names=["fast"], address=ray_cluster.address)
