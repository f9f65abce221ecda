"""Walk-forward models logged in their MLflow flavours (keyed by config id and window end), and
MLflow's process-wide URI left as it was (``mlflow.set_tracking_uri`` writes os.environ)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from grekko_research.data.bars import Bars
from grekko_research.tracking import (
    log_window_models,
    register_strategy_model,
    tracking_uri,
)
from strategies.ml_lgbm import MlLgbm


@pytest.fixture
def no_uri(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        monkeypatch.delenv(key, raising=False)


@pytest.mark.parametrize("model", ["lgbm", "logistic"])
def test_window_models_reload_in_their_flavour(
    btc_1h: Bars, tmp_path: Path, model: str, no_uri: None
) -> None:
    import mlflow
    import mlflow.lightgbm
    import mlflow.sklearn

    s = MlLgbm()
    p = s.params(train=300, step=336, horizon=6, n_estimators=10, model=model)
    res = s.walk_forward(btc_1h, p, keep_models=True)[0]
    stamps = btc_1h.datetime_index
    windows = [(f"{stamps[w.fit_row]:%Y-%m-%d %H:%M}", w.model) for w in res.windows]
    assert len(windows) >= 2
    uri = tracking_uri(tmp_path)
    run_id, uris = log_window_models(windows, config_id="cfg123", uri=uri)
    assert len(uris) == len(windows)
    assert "MLFLOW_TRACKING_URI" not in os.environ
    mlflow.set_tracking_uri(uri)
    try:
        flavour = mlflow.lightgbm if model == "lgbm" else mlflow.sklearn
        x = np.random.default_rng(0).normal(size=(5, res.windows[0].model.n_features_in_))
        for (end, est), model_uri in zip(windows, uris, strict=True):
            back = flavour.load_model(model_uri)
            np.testing.assert_allclose(back.predict_proba(x), est.predict_proba(x))
            logged = mlflow.get_logged_model(model_uri.split("/")[-1])
            assert logged.tags["config_id"] == "cfg123" and logged.tags["window_end"] == end
        assert mlflow.get_run(run_id).data.tags["config_id"] == "cfg123"
    finally:
        mlflow.set_tracking_uri(None)


def test_registering_a_model_leaves_the_process_uri_alone(tmp_path: Path, no_uri: None) -> None:
    from grekko_research.tracking import _client as mc

    uri = tracking_uri(tmp_path)
    mlc, _ = mc.client(uri)
    exp = mc.experiment_id(mlc, uri, "t")
    run_id = mlc.create_run(exp).info.run_id
    spec = {"strategy": "sma_cross", "params": {"fast": 5, "slow": 20}, "config_id": "x"}
    register_strategy_model(run_id, "leak_probe", spec, alias="staging", uri=uri)
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert "MLFLOW_REGISTRY_URI" not in os.environ
