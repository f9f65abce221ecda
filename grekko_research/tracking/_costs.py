"""Calibrated cost models in MLflow: one run per fit, its models as a small JSON artifact.

A fit is logged as a run of the ``cost_models`` experiment named after the model set
(``--name``): tags ``kind=cost_model``, ``cost_model_name``, ``venue`` and ``symbol`` (comma
lists), ``source``; params ``<venue>/<symbol>.<coefficient>``; metrics ``<venue>/<symbol>.r2``
and ``.n_orders``; the artifact ``cost_models.json`` (the models, read back by
:func:`load_cost_models`) and, when given, the fit rows as ``fit_rows.csv``. A backtest's
config points at it by run id or by name (the newest finished run of that name).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grekko_research.engine.costs import CostModel
from grekko_research.errors import ConfigError
from grekko_research.tracking import _client as mc

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["COST_EXPERIMENT", "COST_MODELS_ARTIFACT", "load_cost_models", "log_cost_models"]

COST_EXPERIMENT = "cost_models"
COST_MODELS_ARTIFACT = "cost_models.json"


def log_cost_models(
    models: Sequence[CostModel],
    *,
    name: str,
    rows: pd.DataFrame | None = None,
    tags: dict[str, Any] | None = None,
    experiment: str = COST_EXPERIMENT,
    uri: str | None = None,
) -> str:
    """Log fitted cost models as a run named ``name``; return its run id."""
    if not models:
        raise ConfigError("log_cost_models: no models to log")
    if not name:
        raise ConfigError("log_cost_models: a model set needs a name")
    mlc, uri = mc.client(uri)
    run_tags = {
        "kind": "cost_model",
        "cost_model_name": name,
        "venue": mc.as_strings(sorted({m.venue for m in models})),
        "symbol": mc.as_strings(m.symbol for m in models),
        "source": mc.as_strings(sorted({m.source for m in models if m.source})),
        **(tags or {}),
    }
    params: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    for m in models:
        key = f"{m.venue}/{m.symbol}" if m.venue else m.symbol
        for coef in ("a", "b", "c", "vol_window", "max_bps", "fill_a", "fill_b"):
            params[f"{key}.{coef}"] = getattr(m, coef)
        metrics[f"{key}.r2"] = m.r2
        metrics[f"{key}.n_orders"] = m.n_orders
    doc = {"name": name, "models": [m.to_dict() for m in models]}
    with mc.open_run(mlc, uri, experiment, run_name=name, tags=run_tags) as run_id:
        mc.log_batch(mlc, run_id, params=params, metrics=mc.finite_metrics(metrics))
        mlc.log_dict(run_id, doc, COST_MODELS_ARTIFACT)
        if rows is not None:
            with tempfile.TemporaryDirectory() as tmp:
                path = Path(tmp) / "fit_rows.csv"
                rows.to_csv(path, index=False)
                mlc.log_artifact(run_id, str(path))
    return run_id


def _run_by_name(mlc: Any, uri: str, name: str, experiment: str) -> str:
    found = mlc.get_experiment_by_name(experiment)
    runs = []
    if found is not None:
        runs = mlc.search_runs(
            [found.experiment_id],
            filter_string=f"tags.cost_model_name = '{name}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
    if not runs:
        raise ConfigError(
            f"no finished cost-model run named {name!r} in experiment {experiment!r} on {uri} "
            "(log one with `grekko-live calibrate RUN --name NAME`)"
        )
    return str(runs[0].info.run_id)


def load_cost_models(
    run: str,
    *,
    by: str = "id",
    symbols: Sequence[str] | None = None,
    experiment: str = COST_EXPERIMENT,
    uri: str | None = None,
) -> tuple[tuple[CostModel, ...], str]:
    """Return ``(models, run_id)`` of a logged fit, found by run ``id`` or by ``name`` (``by``);
    ``symbols``: keep those (each must be there)."""
    if by not in ("id", "name"):
        raise ConfigError(f"load_cost_models: by must be 'id' or 'name', not {by!r}")
    mlc, uri = mc.client(uri)
    with mc.translated(uri, f"finding cost-model run {run!r}"):
        run_id = _run_by_name(mlc, uri, run, experiment) if by == "name" else run
    with tempfile.TemporaryDirectory() as tmp:
        path = mc.download_artifact(run_id, COST_MODELS_ARTIFACT, tmp, uri=uri)
        doc = json.loads(path.read_text())
    where = f"cost-model run {run_id} ({COST_MODELS_ARTIFACT})"
    models = tuple(CostModel.from_dict(d, where=where) for d in doc.get("models", []))
    if symbols is not None:
        have = {m.symbol: m for m in models}
        missing = [s for s in symbols if s not in have]
        if missing:
            raise ConfigError(f"{where} has no model for {missing} (it has {sorted(have)})")
        models = tuple(have[s] for s in symbols)
    return models, run_id
