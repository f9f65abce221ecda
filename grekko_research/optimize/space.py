"""What a study searches and what it scores: search spaces, samplers, objectives.

:func:`suggest_params` draws a parameter set from a strategy's declared search
space (:func:`swept_space`: with ``optimize.fixed``'s parameters pinned), :func:`make_sampler` builds the Optuna sampler ``optimize.sampler``
names, and the objectives (a metric of :data:`OBJECTIVES` or a user function
``package.module:function``) are resolved and checked against their
directions here.
"""

from __future__ import annotations

import importlib
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from grekko_research.config import GrekkoConfig
from grekko_research.engine.api import BacktestResult
from grekko_research.errors import ConfigError
from grekko_research.metrics import METRIC_NAMES
from grekko_research.strategy import (
    ParamSpec,
    Strategy,
    param_value,
    params_from_mapping,
    search_space,
)

__all__ = ["OBJECTIVES", "check_fixed", "make_sampler", "suggest_params", "swept_space"]

OBJECTIVES = (*METRIC_NAMES, "final_equity")


# -- search space ----------------------------------------------------------------------


def check_fixed(strategy: Strategy, fixed: Mapping[str, Any] | None) -> dict[str, Any]:
    """``optimize.fixed`` checked against the strategy's search space, its values typed.

    Raises
    ------
    ConfigError
        Naming ``optimize.fixed.<name>``: a name the strategy does not declare, or a value
        of the wrong type or outside the parameter's choices or range.
    """
    out: dict[str, Any] = {}
    known = search_space(strategy.Params)
    for name, value in (fixed or {}).items():
        where = f"optimize.fixed.{name}"
        if name not in known:
            raise ConfigError(
                f"{where}: {strategy.name} has no parameter {name!r}; its parameters: "
                f"{', '.join(sorted(known))}"
            )
        try:
            out[name] = param_value(strategy.Params, name, value)
        except ConfigError as exc:
            raise ConfigError(
                f"{where}: {exc} (a fixed value must lie in {strategy.name}'s search space)"
            ) from None
    return out


def swept_space(strategy: Strategy, fixed: Mapping[str, Any] | None = None) -> dict[str, ParamSpec]:
    """The space a sweep draws from: the declared one, each ``fixed`` parameter one choice.

    A pinned parameter is still drawn (its only choice), so every trial records the full
    parameter set, the best parameters carry the pinned values, and the study's identity
    (its name) tells a pinned sweep from a free one.
    """
    space = search_space(strategy.Params)
    for name, value in check_fixed(strategy, fixed).items():
        space[name] = replace(space[name], kind="categorical", low=None, high=None, step=None,
                              log=False, choices=(value,))  # fmt: skip
    return space


def suggest_params(trial: Any, strategy: Strategy, fixed: Mapping[str, Any] | None = None) -> Any:
    """Draw one parameter set from the strategy's search space (``fixed`` ones pinned).

    Parameter combinations the strategy refuses (e.g. ``fast >= slow``)
    prune the trial instead of failing it.
    """
    import optuna

    values: dict[str, Any] = {}
    for name, spec in swept_space(strategy, fixed).items():
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


def _grid(
    strategy: Strategy, points: int = 6, fixed: Mapping[str, Any] | None = None
) -> dict[str, list[Any]]:
    """A grid over the search space: every step for stepped ranges, ``points`` values otherwise."""
    grid: dict[str, list[Any]] = {}
    for name, spec in swept_space(strategy, fixed).items():
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


def make_sampler(
    kind: str, seed: int, strategy: Strategy, multi: bool, fixed: Mapping[str, Any] | None = None
) -> Any:
    """Return the Optuna sampler named by ``optimize.sampler`` (a grid: over ``fixed`` pinned)."""
    import optuna

    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "grid":
        return optuna.samplers.GridSampler(_grid(strategy, fixed=fixed), seed=seed)
    if kind == "cmaes":
        if multi:
            raise ConfigError("optimize.sampler=cmaes cannot run a multi-objective study")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    raise ConfigError(f"optimize.sampler {kind!r} is not one of tpe, random, grid, cmaes")


_EXHAUSTIVE = 512  # candidate combinations tried all; beyond, a coordinate ascent


def _upper_params(strategy: Strategy, fixed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameters with the longest warm-up the search space (``fixed`` pinned) allows.

    Each parameter's candidates are its choices (every one: a choice such as a wider feature
    set can need more history than the default) or its range's bounds. Every combination is
    tried when there are at most ``_EXHAUSTIVE``; otherwise a coordinate ascent from the
    ranges at their top and the choices at their default moves one parameter at a time while
    the warm-up grows. Combinations the strategy refuses are skipped ({} when all are).
    """
    space = swept_space(strategy, fixed)
    candidates: dict[str, list[Any]] = {}
    for name, spec in space.items():
        if spec.choices is not None:
            candidates[name] = list(spec.choices)
        elif spec.kind == "int":
            candidates[name] = [int(spec.high or 0), int(spec.low or 0)]
        else:
            candidates[name] = [float(spec.high or 0.0), float(spec.low or 0.0)]

    def warmup(values: dict[str, Any]) -> int:
        try:
            return int(strategy.warmup(params_from_mapping(strategy.Params, values)))
        except ConfigError:  # a combination the strategy refuses (e.g. fast >= slow)
            return -1

    if math.prod(len(v) for v in candidates.values()) <= _EXHAUSTIVE:
        names = list(candidates)
        combos = (dict(zip(names, c, strict=True)) for c in itertools.product(*candidates.values()))
        best, most = max(((c, warmup(c)) for c in combos), key=lambda cw: cw[1])
    else:
        best, most = _ascend(space, candidates, warmup)
    return best if most >= 0 else {}


def _ascend(
    space: Mapping[str, ParamSpec],
    candidates: Mapping[str, list[Any]],
    warmup: Callable[[dict[str, Any]], int],
) -> tuple[dict[str, Any], int]:
    """Coordinate ascent of ``warmup`` over ``candidates`` (see :func:`_upper_params`)."""
    best = {n: s.default if s.choices is not None and s.default in s.choices else candidates[n][0]
            for n, s in space.items()}  # fmt: skip
    most = warmup(best)
    if most < 0:  # the top of the ranges refused: start from the defaults (pinned: pinned)
        best = {n: v[0] if len(v) == 1 else space[n].default for n, v in candidates.items()}
        most = warmup(best)
    grew = True
    while grew:
        grew = False
        for name, values in candidates.items():
            for value in values:
                w = warmup({**best, name: value})
                if w > most:
                    best, most, grew = {**best, name: value}, w, True
    return best, most


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
