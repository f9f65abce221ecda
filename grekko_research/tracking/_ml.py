"""Walk-forward models in MLflow: one logged model per window, in its native flavour.

:func:`log_window_models` logs every window's fitted estimator of a walk-forward run with
MLflow's ``lightgbm`` flavour (LightGBM) or ``sklearn`` flavour (scikit-learn), under one run
tagged with the configuration's ``config_id``; each model is named by its window end
(``window-<UTC time of the fit bar>``) and carries ``config_id``/``window_end`` tags, so
``mlflow.<flavour>.load_model`` reloads exactly the model that scored a given period.

:func:`fluent_uri` points MLflow's process-wide ("fluent") tracking and registry URIs at a
store for the duration of a block and restores them — and the ``MLFLOW_TRACKING_URI`` /
``MLFLOW_REGISTRY_URI`` environment variables that ``mlflow.set_tracking_uri`` writes — on
exit, so logging to one store does not redirect later code of the process (or its children).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from grekko_research.tracking import _client as mc

__all__ = [
    "DEFAULT_ML_EXPERIMENT",
    "fluent_uri",
    "load_window_models",
    "log_fitted_models",
    "log_window_models",
]

DEFAULT_ML_EXPERIMENT = "grekko-ml"
_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextlib.contextmanager
def fluent_uri(uri: str) -> Iterator[None]:
    """Set MLflow's fluent tracking and registry URIs to ``uri`` inside the block only."""
    import mlflow
    import mlflow.tracking._model_registry.utils as registry_utils
    import mlflow.tracking._tracking_service.utils as tracking_utils

    saved_env = {k: os.environ.get(k) for k in _ENV}
    saved = (tracking_utils._tracking_uri, registry_utils._registry_uri)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = saved
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _log_model(model: Any, flavour: str, name: str, tags: Mapping[str, str]) -> str:
    """Log ``model`` in its MLflow flavour under the active run; return its model URI.

    The requirements are explicit: inferring them imports the model in a subprocess."""
    if flavour == "lightgbm":
        import mlflow.lightgbm

        info = mlflow.lightgbm.log_model(
            model, name=name, tags=dict(tags), pip_requirements=["lightgbm"]
        )
    else:
        import mlflow.sklearn

        info = mlflow.sklearn.log_model(
            model, name=name, tags=dict(tags), pip_requirements=["scikit-learn"]
        )
    return str(info.model_uri)


def _flavour(model: Any) -> str:
    est = model.steps[-1][1] if hasattr(model, "steps") else model
    return "lightgbm" if type(est).__module__.startswith("lightgbm") else "sklearn"


def log_window_models(
    windows: Sequence[tuple[str, Any]],
    *,
    config_id: str,
    params: Mapping[str, Any] | None = None,
    metrics: Mapping[str, float] | None = None,
    experiment: str = DEFAULT_ML_EXPERIMENT,
    uri: str | None = None,
) -> tuple[str, list[str]]:
    """Log ``(window_end, estimator)`` pairs as MLflow models in one run; return
    ``(run_id, model URIs)``. Constant models (a one-class window) are skipped."""
    import mlflow

    mlc, uri = mc.client(uri)
    with mc.translated(uri, f"logging walk-forward models of {config_id}"):
        exp = mc.experiment_id(mlc, uri, experiment)
        run = mlc.create_run(exp, tags={"config_id": config_id, "kind": "walk_forward_models"})
        run_id = run.info.run_id
        for k, v in (params or {}).items():
            mlc.log_param(run_id, k, v)
        for k, v in mc.finite_metrics(dict(metrics or {})).items():
            mlc.log_metric(run_id, k, v)
        uris: list[str] = []
        with fluent_uri(uri), mlflow.start_run(run_id=run_id):
            for end, model in windows:
                if not hasattr(model, "predict_proba") and not hasattr(model, "steps"):
                    continue
                flavour = _flavour(model)
                name = "window-" + end.replace(":", "").replace("-", "").replace(" ", "T")
                tags = {"config_id": config_id, "window_end": end}
                uris.append(_log_model(model, flavour, name, tags))
        mlc.set_terminated(run_id)
    return run_id, uris


def log_fitted_models(
    run_id: str, fitted: Sequence[Any], *, config_id: str, uri: str | None = None
) -> list[dict[str, Any]]:
    """Log a strategy's fitted window models (:class:`~grekko_research.strategy.FittedModel`)
    into the run ``run_id`` in their MLflow flavours; return their index.

    Each entry is ``{"symbol", "fit_ms", "window_end", "model_uri"}`` (``window_end``: the
    fit bar's UTC time); a one-class window, which learned only its base rate, is not an
    estimator and is recorded as ``{"constant": value}`` instead of a model URI.
    :func:`load_window_models` reads the index back into the models.
    """
    import mlflow
    import pandas as pd

    out: list[dict[str, Any]] = []
    _, uri = mc.client(uri)
    with (
        mc.translated(uri, f"logging the window models of run {run_id}"),
        fluent_uri(uri),
        mlflow.start_run(run_id=run_id),
    ):
        for symbol, fit_ms, model in fitted:
            end = f"{pd.Timestamp(int(fit_ms), unit='ms'):%Y-%m-%d %H:%M}"
            entry: dict[str, Any] = {"symbol": symbol, "fit_ms": int(fit_ms), "window_end": end}
            if not hasattr(model, "predict_proba") and not hasattr(model, "steps"):
                entry["constant"] = float(model.value)
                out.append(entry)
                continue
            flavour = _flavour(model)
            safe = "".join(c if c.isalnum() else "-" for c in symbol)
            name = f"window-{safe}-{pd.Timestamp(int(fit_ms), unit='ms'):%Y%m%dT%H%M}"
            tags = {"config_id": config_id, "window_end": end, "symbol": symbol}
            out.append({**entry, "flavour": flavour,
                        "model_uri": _log_model(model, flavour, name, tags)})  # fmt: skip
    return out


def load_window_models(
    index: Sequence[Mapping[str, Any]], *, uri: str | None = None
) -> dict[str, dict[int, Any]]:
    """The models of a :func:`log_fitted_models` index, ``{symbol: {fit_ms: model}}``."""
    import mlflow.lightgbm
    import mlflow.sklearn

    from grekko_research.ml.models import ConstantModel

    out: dict[str, dict[int, Any]] = {}
    _, uri = mc.client(uri)
    with mc.translated(uri, "loading window models"), fluent_uri(uri):
        for e in index:
            if "constant" in e:
                model: Any = ConstantModel(float(e["constant"]))
            elif e["flavour"] == "lightgbm":
                model = mlflow.lightgbm.load_model(e["model_uri"])
            else:
                model = mlflow.sklearn.load_model(e["model_uri"])
            out.setdefault(str(e["symbol"]), {})[int(e["fit_ms"])] = model
    return out
