"""Calibrated cost models: fit slippage and limit-fill probability from our own fills.

``docs/execution.md`` ("Calibrated cost models") is the guide. In short:

>>> rows = ...  # the quality rows of a run with bar features (grekko-live calibrate builds them)
>>> models = fit_cost_models(rows)  # doctest: +SKIP
>>> run_id = log_cost_models(models, name="binance-btc")  # doctest: +SKIP
>>> config = EngineConfig(sizing=Sizing("percent", 1.0), costs=models)  # doctest: +SKIP

The fitted model, :class:`~grekko_research.engine.costs.CostModel`, is what the engine's
``FILL_CALIBRATED`` fill model reads; :func:`book_walk_rows` gives rows from an L2 capture
for a cold start; :func:`log_cost_models` / :func:`load_cost_models` version it in MLflow.
Nothing here imports ``live``: the live side folds event logs into rows and calls
:func:`fit_cost_models`.
"""

from __future__ import annotations

from grekko_research.costs._coldstart import DEFAULT_SHARES, book_walk_rows
from grekko_research.costs._fit import (
    MIN_ORDERS,
    ROW_COLUMNS,
    bar_features,
    fit_cost_model,
    fit_cost_models,
    fit_fill_probability,
    fit_slippage,
)
from grekko_research.engine.costs import CostModel

__all__ = [
    "DEFAULT_SHARES",
    "MIN_ORDERS",
    "ROW_COLUMNS",
    "CostModel",
    "bar_features",
    "book_walk_rows",
    "fit_cost_model",
    "fit_cost_models",
    "fit_fill_probability",
    "fit_slippage",
    "load_cost_models",
    "log_cost_models",
]


def __getattr__(name: str) -> object:
    # The MLflow glue lives in grekko_research.tracking (the only package importing mlflow).
    if name in ("log_cost_models", "load_cost_models"):
        from grekko_research.tracking import _costs

        return getattr(_costs, name)
    raise AttributeError(name)
