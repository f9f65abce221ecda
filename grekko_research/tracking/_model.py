"""Sweep summaries on the parent run, and registered strategy models (MLflow pyfunc).

A promoted strategy is registered as an MLflow model whose artifact is a
small JSON document: the strategy's registry name, its exact parameters, the
resolved configuration, ``config_id`` and the code version. Loading it with
``mlflow.pyfunc.load_model("models:/NAME@ALIAS")`` gives a model whose
``predict`` computes the strategy's signals for given bars; :func:`load_strategy`
returns the strategy object and its parameters directly.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from grekko_research.tracking import _client as mc
from grekko_research.tracking._ml import fluent_uri

__all__ = ["load_strategy", "log_sweep_summary", "register_strategy_model"]

_SPEC = "strategy.json"


def _flat(prefix: str, values: Mapping[str, Any] | None) -> dict[str, Any]:
    return {f"{prefix}{k}": v for k, v in (values or {}).items()}


def log_sweep_summary(
    run_id: str, summary: Mapping[str, Any], folder: Path | None = None, *, uri: str | None = None
) -> None:
    """Put a sweep's headline numbers on its parent run, and its folder's files as artifacts.

    Metrics: ``oos.<metric>`` (the stitched out-of-sample equity),
    ``is.<metric>`` (the best parameters in sample), ``overfitting.<stat>``;
    the summary itself as ``summary.json``.
    """
    mlc, uri = mc.client(uri)
    metrics = {
        **_flat("oos.", summary.get("out_of_sample")),
        **_flat("is.", summary.get("in_sample")),
        **_flat("overfitting.", summary.get("overfitting")),
    }
    with mc.translated(uri, f"logging the sweep summary on run {run_id}"):
        mc.log_batch(mlc, run_id, metrics=mc.finite_metrics(metrics),
                     tags=_flat("best_params.", summary.get("best_params")))  # fmt: skip
        mlc.log_dict(run_id, dict(summary), "summary.json")
        if folder is not None:  # the folder's own files (hard links into a local store)
            mc.log_folder(mlc, run_id, Path(folder), "sweep", recursive=False)


def _model_class() -> type:
    import mlflow.pyfunc

    class StrategyModel(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
        """Signals of a registered strategy with its exact parameters."""

        def load_context(self, context: Any) -> None:
            self.spec = json.loads(Path(context.artifacts["spec"]).read_text())

        def predict(
            self, context, model_input, params=None
        ):  # untyped: MLflow reads hints as a schema
            """``model_input``: a candle frame (timestamp, open, high, low, close, volume) or Bars."""
            import numpy as np
            import pandas as pd

            from grekko_research.data.bars import Bars
            from grekko_research.engine.api import _kernel_inputs
            from grekko_research.strategy import get_strategy, params_from_mapping

            strategy = get_strategy(self.spec["strategy"])
            chosen: Any = params_from_mapping(strategy.Params, self.spec["params"])
            bars = model_input
            if not isinstance(bars, Bars):
                frame = pd.DataFrame(model_input)
                bars = Bars.from_frame(frame, self.spec.get("symbol", "ASSET/QUOTE"),
                                       self.spec.get("timeframe", "1h"))  # fmt: skip
            inputs = _kernel_inputs(bars, strategy.signals(bars, chosen))
            columns = {
                name: np.asarray(value)[:, 0]
                for name, value in inputs.items()
                if isinstance(value, np.ndarray)
                and value.ndim == 2
                and value.shape[0] == bars.n_bars
            }
            return pd.DataFrame(columns, index=bars.datetime_index)

    return StrategyModel


def register_strategy_model(
    run_id: str,
    name: str,
    spec: Mapping[str, Any],
    *,
    alias: str | None = None,
    uri: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> str:
    """Log the strategy model under ``run_id``, register it as ``name``, set ``alias``; return the version.

    ``tags`` are set on the model version (``grekko promote`` records every gate it passed,
    ``gate:<name>=pass``, which ``grekko-live`` checks before trading the model).
    """
    import mlflow
    import mlflow.pyfunc

    mlc, uri = mc.client(uri)
    with tempfile.TemporaryDirectory(prefix="grekko-model-") as tmp:
        spec_path = Path(tmp) / _SPEC
        spec_path.write_text(json.dumps(dict(spec), indent=2, sort_keys=True))
        with (
            mc.translated(uri, f"logging the strategy model on run {run_id}"),
            fluent_uri(uri),  # not mlflow.set_tracking_uri: it leaks into os.environ
            mlflow.start_run(run_id=run_id),
        ):
            info = mlflow.pyfunc.log_model(
                name="strategy_model",
                python_model=_model_class()(),
                artifacts={"spec": str(spec_path)},
                pip_requirements=[],
            )
    with mc.translated(uri, f"registering model {name!r}"), fluent_uri(uri):
        version = mlflow.register_model(info.model_uri, name)
        if alias:
            mlc.set_registered_model_alias(name, alias, version.version)
        mlc.set_model_version_tag(name, version.version, "strategy", str(spec["strategy"]))
        mlc.set_model_version_tag(
            name, version.version, "config_id", str(spec.get("config_id", ""))
        )
        for tag, value in (tags or {}).items():
            mlc.set_model_version_tag(name, version.version, tag, str(value))
    return str(version.version)


def model_version(model_uri: str, *, uri: str | None = None) -> dict[str, Any]:
    """Return ``{"name", "version", "tags"}`` of ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""
    from grekko_research.errors import ConfigError

    if not model_uri.startswith("models:/"):
        raise ConfigError(f"not a registered model URI (models:/NAME@ALIAS): {model_uri!r}")
    ref = model_uri[len("models:/") :]
    mlc, uri = mc.client(uri)
    with mc.translated(uri, f"looking up {model_uri}"):
        if "@" in ref:
            name, alias = ref.split("@", 1)
            mv = mlc.get_model_version_by_alias(name, alias)
        elif "/" in ref:
            name, number = ref.split("/", 1)
            mv = mlc.get_model_version(name, number)
        else:
            raise ConfigError(f"{model_uri!r} names no version: use models:/NAME@ALIAS")
    return {"name": mv.name, "version": str(mv.version), "tags": dict(mv.tags or {})}


def load_strategy(model_uri: str, *, uri: str | None = None) -> tuple[Any, Any, dict[str, Any]]:
    """Return ``(strategy, params, spec)`` of a registered model, e.g. ``models:/NAME@live``."""
    import mlflow
    import mlflow.pyfunc

    from grekko_research.strategy import get_strategy, params_from_mapping

    _, uri = mc.client(uri)
    with mc.translated(uri, f"loading {model_uri}"), fluent_uri(uri):
        model = mlflow.pyfunc.load_model(model_uri)
    spec: dict[str, Any] = model.unwrap_python_model().spec
    strategy = get_strategy(spec["strategy"])
    return strategy, params_from_mapping(strategy.Params, spec["params"]), spec
