"""Trial return series live outside the Optuna study; the overfitting statistics read them back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.optimize import run_sweep
from grekko_research.optimize.series import TrialSeriesStore, open_series, series_url
from grekko_research.optimize.sweep import _overfitting, trial_statistics


def test_the_store_round_trips_replaces_and_refuses_gaps(tmp_path: Path) -> None:
    store = TrialSeriesStore(series_url(None, str(tmp_path)))
    assert store.url.endswith("/optuna.log.series.db")
    a, b = np.linspace(-0.01, 0.01, 30), np.full(30, 0.002)
    store.put("s/full", 3, a)
    store.put("s/full", 1, np.zeros(30))
    store.put("s/full", 1, b)  # a retried write replaces the row
    store.put("other/full", 1, a[:10])  # another study, another length
    assert store.trials("s/full") == [1, 3]
    m = store.matrix("s/full", [3, 1])  # in the order asked
    np.testing.assert_array_equal(m[:, 0], a.astype("<f4"))
    np.testing.assert_array_equal(m[:, 1], b.astype("<f4"))
    with pytest.raises(KeyError, match="1 of the trials"):
        store.matrix("s/full", [1, 2])


def test_a_sweep_keeps_the_series_out_of_the_study(research_store: Path, tmp_path: Path) -> None:
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    log = tmp_path / "optuna.log"
    cfg = compose_config(["optimize.validation=none", "optimize.sampler=random",
                          "optimize.pruner=none", "optimize.robustness=false",
                          "optimize.n_trials=12", f"optimize.storage={log}"])  # fmt: skip
    result = run_sweep(cfg, store=ParquetStore(research_store))
    name = f"{result.study_name}/full"
    study = optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(log))))
    scored = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(scored) >= 2
    for t in scored:  # the study holds the metrics, not the series
        assert "daily_returns" not in t.user_attrs["result"] and t.user_attrs["result"]["series"]
    store = open_series(series_url(str(log), str(tmp_path)))
    numbers = [t.number for t in scored]
    assert store.trials(name) == sorted(numbers)
    best = max(scored, key=lambda t: t.value)
    expected = trial_statistics(store.matrix(name, numbers), numbers.index(best.number))
    # read in chunks from the table vs from one matrix: the same numbers up to summation order
    assert result.overfitting == pytest.approx({"n_trials": float(len(scored)), **expected},
                                               rel=1e-12)  # fmt: skip
    assert "deflated_sharpe" in result.overfitting
    assert not any("series" in c or "daily_returns" in c for c in result.trials.columns)


def test_studies_with_series_in_their_trials_still_give_the_statistics(tmp_path: Path) -> None:
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    from grekko_research.optimize.evaluate import _pack

    rng = np.random.default_rng(1)
    study = optuna.create_study(direction="maximize")
    columns = [rng.normal(0.001, 0.02, 60) for _ in range(5)]
    for i, r in enumerate(columns):  # the layout before the series table
        study.add_trial(create_trial(
            params={"x": float(i)}, distributions={"x": FloatDistribution(0, 10)},
            value=float(r.mean() / r.std()), state=TrialState.COMPLETE,
            user_attrs={"result": {"daily_returns": _pack(r)}},
        ))  # fmt: skip
    best = study.best_trial
    out = _overfitting(study, best)
    matrix = np.column_stack([c.astype("<f4").astype(np.float64) for c in columns])
    assert out == {"n_trials": 5.0, **trial_statistics(matrix, best.number)}
