"""Log a live run's drift breakdown (``grekko-live drift``) to MLflow, beside its model."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grekko_research.tracking import _client as mc

__all__ = ["log_drift_breakdown"]


def log_drift_breakdown(
    metrics: Mapping[str, float],
    document: Mapping[str, Any],
    *,
    run_name: str,
    experiment: str,
    tags: Mapping[str, Any] | None = None,
    model: str | None = None,
    model_version: str | None = None,
    uri: str | None = None,
) -> str:
    """Log one drift breakdown as a finished run; return its MLflow run id.

    Metrics: ``metrics`` (``drift_<term>`` …, the finite ones); artifact ``drift.json``
    (``document``); tags: ``tags`` plus ``model`` / ``model_version`` when the live run traded
    a promoted model. That model version then gets the tag ``drift_run`` (this run's id), so
    the registry shows the latest breakdown beside the model it measures.
    """
    mlc, uri = mc.client(uri)
    all_tags = {k: str(v) for k, v in (tags or {}).items() if v is not None}
    name = None
    if model and model_version:
        name = model[len("models:/") :].split("@")[0].split("/")[0]
        all_tags |= {"model": model, "model_name": name, "model_version": model_version}
    with mc.open_run(mlc, uri, experiment, run_name=run_name, tags=all_tags) as run_id:
        mc.log_batch(mlc, run_id, metrics=mc.finite_metrics(metrics))
        with tempfile.TemporaryDirectory(prefix="grekko-drift-") as tmp:
            path = Path(tmp) / "drift.json"
            path.write_text(json.dumps(dict(document), indent=1, sort_keys=True, default=str))
            mlc.log_artifact(run_id, str(path))
    if name is not None and model_version is not None:
        with mc.translated(uri, f"tagging model {name!r} version {model_version}"):
            mlc.set_model_version_tag(name, model_version, "drift_run", run_id)
    return run_id
