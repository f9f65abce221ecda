"""What a study searches and what it scores: search spaces, samplers, objectives.

:func:`suggest_params` draws a parameter set from a strategy's declared search
space, :func:`make_sampler` builds the Optuna sampler ``optimize.sampler``
names, and the objectives (a metric of :data:`OBJECTIVES` or a user function
``package.module:function``) are resolved and checked against their
directions here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from grekko_research.config import GrekkoConfig
from grekko_research.engine.api import BacktestResult
from grekko_research.errors import ConfigError
from grekko_research.metrics import METRIC_NAMES
from grekko_research.strategy import Strategy, params_from_mapping, search_space

__all__ = ["OBJECTIVES", "make_sampler", "suggest_params"]

OBJECTIVES = (*METRIC_NAMES, "final_equity")


# -- search space ----------------------------------------------------------------------


def suggest_params(trial: Any, strategy: Strategy) -> Any:
    """Draw one parameter set from the strategy's declared search space.

    Parameter combinations the strategy refuses (e.g. ``fast >= slow``)
    prune the trial instead of failing it.
    """
    import optuna

    values: dict[str, Any] = {}
    for name, spec in search_space(strategy.Params).items():
        if spec.choices is not None:
            values[name] = trial.suggest_categorical(name, list(spec.choices))
        elif spec.kind == "int":
            step = int(spec.step or 1)
            values[name] = trial.suggest_int(
                name, int(spec.low or 0), int(spec.high or 0), step=step, log=spec.log
            )
        else:
            values[name] = trial.suggest_float(
                name, float(spec.low or 0.0), float(spec.high or 0.0), step=spec.step, log=spec.log
            )
    try:
        return params_from_mapping(strategy.Params, values)
    except ConfigError as exc:
        trial.set_user_attr("refused", str(exc))
        raise optuna.TrialPruned(str(exc)) from None


def _grid(strategy: Strategy, points: int = 6) -> dict[str, list[Any]]:
    """A grid over the search space: every step for stepped ranges, ``points`` values otherwise."""
    grid: dict[str, list[Any]] = {}
    for name, spec in search_space(strategy.Params).items():
        if spec.choices is not None:
            grid[name] = list(spec.choices)
            continue
        low, high = float(spec.low or 0.0), float(spec.high or 0.0)
        if spec.kind == "int":
            step = int(spec.step or max(1, round((high - low) / (points - 1))))
            grid[name] = list(range(int(low), int(high) + 1, step))
        elif spec.step:
            grid[name] = [float(v) for v in np.arange(low, high + spec.step / 2, spec.step)]
        elif spec.log:
            grid[name] = [float(v) for v in np.geomspace(low, high, points)]
        else:
            grid[name] = [float(v) for v in np.linspace(low, high, points)]
    return grid


def make_sampler(kind: str, seed: int, strategy: Strategy, multi: bool) -> Any:
    """Return the Optuna sampler named by ``optimize.sampler``."""
    import optuna

    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "grid":
        return optuna.samplers.GridSampler(_grid(strategy), seed=seed)
    if kind == "cmaes":
        if multi:
            raise ConfigError("optimize.sampler=cmaes cannot run a multi-objective study")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    raise ConfigError(f"optimize.sampler {kind!r} is not one of tpe, random, grid, cmaes")


def _upper_params(strategy: Strategy) -> dict[str, Any]:
    """The parameters with the longest warm-up the search space allows (ranges at their top)."""
    values: dict[str, Any] = {}
    for name, spec in search_space(strategy.Params).items():
        values[name] = spec.default if spec.choices is not None else spec.high
        if spec.kind == "int":
            values[name] = int(values[name])
    try:
        strategy.Params(**values)
        return values
    except ConfigError:
        return {}


# -- objectives ------------------------------------------------------------------------


def _objective_fn(name: str) -> Callable[[BacktestResult | None, dict[str, float]], float]:
    """A metric by name, or a user function ``package.module:function(result, metrics) -> float``."""
    if name in OBJECTIVES:
        return lambda _result, metrics: float(metrics[name])
    if ":" in name:
        module, _, attr = name.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"optimize.objective {name!r} cannot be imported: {exc}") from None
        return lambda result, metrics: float(fn(result, metrics))
    raise ConfigError(
        f"optimize.objective {name!r} is neither a metric ({', '.join(OBJECTIVES)}) "
        "nor package.module:function"
    )


def _directions(cfg: GrekkoConfig) -> tuple[list[str], list[str]]:
    o = cfg.optimize
    names = list(o.objectives) or [o.objective]
    directions = list(o.directions) or [o.direction] * len(names)
    if len(directions) != len(names):
        raise ConfigError(
            f"optimize.directions has {len(directions)} entries for {len(names)} objectives"
        )
    bad = [d for d in directions if d not in ("maximize", "minimize")]
    if bad:
        raise ConfigError(f"optimize.directions must be maximize or minimize, got {bad}")
    for name in names:
        _objective_fn(name)  # fail early on an unknown objective
    return names, directions
