"""The strategy contract: parameters with search spaces, a registry, and the conformance suite.

* :class:`Strategy` — the base class every strategy subclasses;
* :func:`param` — declares a parameter field with its default and search space;
* :func:`get_strategy` / :func:`available_strategies` — lookup through entry points
  (group ``grekko.strategies``) and :func:`register_strategy`;
* :func:`check_strategy` — the conformance suite (causality, warm-up, determinism,
  no mutation, parameter round trip, search space, runs on real data).
"""

from grekko_research.strategy.base import FittedModel, SignalForm, Strategy
from grekko_research.strategy.conformance import (
    Check,
    ConformanceError,
    ConformanceReport,
    check_strategy,
)
from grekko_research.strategy.params import (
    ParamSpec,
    param,
    param_value,
    params_from_mapping,
    params_to_mapping,
    search_space,
    validate_params,
)
from grekko_research.strategy.registry import (
    available_strategies,
    get_strategy,
    register_strategy,
)

__all__ = [
    "Check",
    "ConformanceError",
    "ConformanceReport",
    "FittedModel",
    "ParamSpec",
    "SignalForm",
    "Strategy",
    "available_strategies",
    "check_strategy",
    "get_strategy",
    "param",
    "param_value",
    "params_from_mapping",
    "params_to_mapping",
    "register_strategy",
    "search_space",
    "validate_params",
]
