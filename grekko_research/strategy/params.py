"""Strategy parameters: a frozen dataclass whose fields carry their search space.

A strategy's parameters are one ``@dataclass(frozen=True)`` class. Each field
is declared with :func:`param`, which records its default and either bounds
(``low``/``high``, optional ``step`` and ``log``) or ``choices``. That
declaration *is* the Optuna search space (:func:`search_space`), the Hydra
schema (the dataclass itself) and the validation rule
(:func:`validate_params`)::

    @dataclass(frozen=True)
    class SmaCrossParams:
        fast: int = param(10, low=2, high=100, doc="fast SMA window")
        slow: int = param(50, low=5, high=400, doc="slow SMA window")
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from grekko_research.errors import ConfigError

__all__ = [
    "ParamSpec",
    "param",
    "param_value",
    "params_from_mapping",
    "params_to_mapping",
    "search_space",
    "validate_params",
]

P = TypeVar("P")
_META = "grekko_param"


@dataclass(frozen=True)
class ParamSpec:
    """The search space of one parameter: a range (``low``..``high``) or a set of ``choices``."""

    name: str
    kind: str  # "int", "float", "bool", "categorical"
    default: Any
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None
    doc: str = ""


def param(
    default: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    step: float | None = None,
    log: bool = False,
    choices: Sequence[Any] | None = None,
    doc: str = "",
) -> Any:
    """Declare a parameter field with its default and search space (see the module notes)."""
    meta = {
        "low": low,
        "high": high,
        "step": step,
        "log": log,
        "choices": None if choices is None else tuple(choices),
        "doc": doc,
    }
    return dataclasses.field(default=default, metadata={_META: meta})


def _kind(annotation: Any, name: str, owner: type) -> str:
    if annotation in (bool, "bool"):
        return "bool"
    if annotation in (int, "int"):
        return "int"
    if annotation in (float, "float"):
        return "float"
    if annotation in (str, "str"):
        return "categorical"
    raise ConfigError(
        f"{owner.__name__}.{name}: parameter type {annotation!r} is not int, float, bool or str"
    )


def _fields(params_cls: type) -> list[dataclasses.Field[Any]]:
    if not (dataclasses.is_dataclass(params_cls) and isinstance(params_cls, type)):
        raise ConfigError(f"{params_cls!r} is not a dataclass of parameters")
    if not params_cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise ConfigError(f"{params_cls.__name__} must be a frozen dataclass")
    return list(dataclasses.fields(params_cls))


def _check_range(where: str, kind: str, default: Any, meta: dict[str, Any]) -> None:
    """Check a numeric field's ``low``/``high``/``step``/``log`` against its kind and default."""
    low, high, step, log = meta.get("low"), meta.get("high"), meta.get("step"), meta.get("log")
    if low is None or high is None:
        raise ConfigError(f"{where}: a numeric parameter needs low and high (or choices)")
    if not low < high:
        raise ConfigError(f"{where}: low {low} must be below high {high}")
    if not low <= default <= high:
        raise ConfigError(f"{where}: default {default} is outside [{low}, {high}]")
    if kind == "int" and not all(float(v).is_integer() for v in (low, high)):
        raise ConfigError(f"{where}: an int parameter needs whole bounds")
    if log and low <= 0:
        raise ConfigError(f"{where}: a log-scaled range needs low > 0")
    if step is not None:
        if step <= 0 or log:
            raise ConfigError(f"{where}: step must be positive and not used with log")
        spans = (high - low) / step
        if not math.isclose(spans, round(spans), abs_tol=1e-9):
            raise ConfigError(f"{where}: step {step} does not divide [{low}, {high}]")


def search_space(params_cls: type) -> dict[str, ParamSpec]:
    """Return ``{name: ParamSpec}`` for every field of ``params_cls``, checking it is valid.

    Raises
    ------
    ConfigError
        Naming the field: a missing default, a type other than int/float/
        bool/str, ``low >= high``, a default outside its bounds or choices, a
        ``step`` that does not fit the range, ``log`` with a bound ``<= 0``,
        or a numeric field with neither bounds nor choices.
    """
    hints = typing.get_type_hints(params_cls)
    out: dict[str, ParamSpec] = {}
    for f in _fields(params_cls):
        where = f"{params_cls.__name__}.{f.name}"
        if f.default is dataclasses.MISSING:
            raise ConfigError(f"{where} has no default")
        kind = _kind(hints.get(f.name, f.type), f.name, params_cls)
        meta = dict(f.metadata.get(_META, {}))
        choices = meta.get("choices")
        low, high, step = meta.get("low"), meta.get("high"), meta.get("step")
        if choices is not None:
            if not choices:
                raise ConfigError(f"{where}: choices are empty")
            if f.default not in choices:
                raise ConfigError(f"{where}: default {f.default!r} is not one of {list(choices)}")
            kind = "categorical"
        elif kind == "bool":
            choices = (False, True)
            kind = "categorical"
        elif kind == "categorical":
            raise ConfigError(f"{where}: a str parameter needs choices")
        else:
            _check_range(where, kind, f.default, meta)
        out[f.name] = ParamSpec(
            name=f.name,
            kind=kind,
            default=f.default,
            low=low,
            high=high,
            step=step,
            log=bool(meta.get("log")),
            choices=None if choices is None else tuple(choices),
            doc=str(meta.get("doc", "")),
        )
    return out


def validate_params(params: Any) -> None:
    """Check every value of a parameter instance against its declared space; raise ConfigError."""
    cls = type(params)
    for name, spec in search_space(cls).items():
        _check_value(spec, f"{cls.__name__}.{name}", getattr(params, name))


def _check_value(spec: ParamSpec, where: str, value: Any) -> None:
    """``value`` within ``spec``'s choices or range; ConfigError naming ``where`` otherwise."""
    if spec.choices is not None:
        if value not in spec.choices:
            raise ConfigError(f"{where} is {value!r}; expected one of {list(spec.choices)}")
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} is {value!r}; expected a number")
    if spec.kind == "int" and not float(value).is_integer():
        raise ConfigError(f"{where} is {value!r}; expected a whole number")
    low, high = float(spec.low or 0.0), float(spec.high or 0.0)  # set for ranges
    if not low <= value <= high:
        raise ConfigError(f"{where} is {value}; allowed range [{spec.low}, {spec.high}]")


def param_value(params_cls: type, name: str, value: Any) -> Any:
    """Return ``value`` as parameter ``name`` of ``params_cls`` takes it, checked against its space.

    One parameter on its own (``optimize.fixed`` pins some while a sweep searches the others):
    its type and its declared choices or range, not the checks across parameters that
    ``params_cls`` itself makes. Raises ConfigError naming the parameter.
    """
    space = search_space(params_cls)
    if name not in space:
        raise ConfigError(
            f"{params_cls.__name__} has no parameter {name!r}; known: {sorted(space)}"
        )
    where = f"{params_cls.__name__}.{name}"
    coerced = _coerce(space[name], where, value)
    _check_value(space[name], where, coerced)
    return coerced


def _coerce(spec: ParamSpec, where: str, value: Any) -> Any:
    """``value`` converted to the declared type (whole floats for ints, ints for floats)."""
    declared = type(spec.default)
    if declared is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
    elif declared is int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        if not float(value).is_integer():
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        value = int(value)
    elif declared is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        value = float(value)
    elif declared is str and not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def params_from_mapping(params_cls: type[P], values: Mapping[str, Any] | None) -> P:
    """Build and validate ``params_cls`` from a mapping (e.g. a Hydra config node).

    Unknown keys and values of the wrong type fail with a ConfigError naming
    the key; missing keys take their defaults. Whole floats are accepted for
    int fields (``21.0`` → 21), ints for float fields.
    """
    values = dict(values or {})
    space = search_space(params_cls)
    unknown = sorted(set(values) - set(space))
    if unknown:
        raise ConfigError(
            f"unknown parameter(s) {unknown} for {params_cls.__name__}; known: {sorted(space)}"
        )
    kwargs = {
        name: _coerce(space[name], f"{params_cls.__name__}.{name}", value)
        for name, value in values.items()
    }
    params = params_cls(**kwargs)
    validate_params(params)
    return params


def params_to_mapping(params: Any) -> dict[str, Any]:
    """Return the parameters as a plain ``{name: value}`` dict (config- and JSON-ready)."""
    return {f.name: getattr(params, f.name) for f in _fields(type(params))}
