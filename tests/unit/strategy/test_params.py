"""Parameter dataclasses: search spaces, validation, mappings."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from grekko_research.errors import ConfigError
from grekko_research.strategy import (
    param,
    params_from_mapping,
    params_to_mapping,
    search_space,
    validate_params,
)


@dataclass(frozen=True)
class Good:
    window: int = param(20, low=2, high=200, doc="bars")
    k: float = param(2.0, low=0.5, high=4.0, step=0.5)
    rate: float = param(0.01, low=1e-4, high=1.0, log=True)
    mode: str = param("fast", choices=["fast", "slow"])
    short: bool = param(False)


def test_search_space_describes_every_field() -> None:
    space = search_space(Good)
    assert list(space) == ["window", "k", "rate", "mode", "short"]
    assert (space["window"].kind, space["window"].low, space["window"].high) == ("int", 2, 200)
    assert space["k"].step == 0.5
    assert space["rate"].log
    assert space["mode"].choices == ("fast", "slow")
    assert space["short"].choices == (False, True)
    assert space["window"].doc == "bars"


@pytest.mark.parametrize(
    ("field_source", "message"),
    [
        ("x: int = param(5, low=10, high=2)", "low 10 must be below high 2"),
        ("x: int = param(50, low=1, high=10)", "default 50 is outside"),
        ("x: float = param(1.0, low=0.0, high=1.0, step=0.3)", "does not divide"),
        ("x: float = param(1.0, low=0.0, high=2.0, log=True)", "needs low > 0"),
        ("x: str = param('a')", "needs choices"),
        ("x: int = param(3)", "needs low and high"),
        ("x: str = param('z', choices=['a', 'b'])", "is not one of"),
        ("x: int = param(2, low=1.5, high=4)", "whole bounds"),
        ("x: list = param(1, low=0, high=2)", "is not int, float, bool or str"),
    ],
)
def test_bad_search_spaces_name_the_field(field_source: str, message: str) -> None:
    namespace: dict[str, object] = {"param": param, "dataclass": dataclass}
    exec(f"@dataclass(frozen=True)\nclass P:\n    {field_source}\n", namespace)
    with pytest.raises(ConfigError, match=re.escape("P.x")) as err:
        search_space(namespace["P"])  # type: ignore[arg-type]
    assert message in str(err.value)


def test_non_frozen_and_defaultless_params_are_refused() -> None:
    @dataclass
    class Loose:
        x: int = param(1, low=0, high=2)

    with pytest.raises(ConfigError, match="frozen"):
        search_space(Loose)

    @dataclass(frozen=True)
    class NoDefault:
        x: int

    with pytest.raises(ConfigError, match=re.escape("NoDefault.x has no default")):
        search_space(NoDefault)


def test_params_from_mapping_converts_and_rejects() -> None:
    p = params_from_mapping(Good, {"window": 30.0, "k": 3, "mode": "slow"})
    assert p == Good(window=30, k=3.0, mode="slow")
    assert isinstance(p.window, int)
    assert params_to_mapping(p) == {
        "window": 30,
        "k": 3.0,
        "rate": 0.01,
        "mode": "slow",
        "short": False,
    }
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) \['windw'\]"):
        params_from_mapping(Good, {"windw": 3})
    with pytest.raises(ConfigError, match=re.escape("Good.window must be an integer, got 2.5")):
        params_from_mapping(Good, {"window": 2.5})
    with pytest.raises(ConfigError, match=re.escape("Good.window must be an integer, got 'x'")):
        params_from_mapping(Good, {"window": "x"})
    with pytest.raises(ConfigError, match=re.escape("Good.short must be true or false")):
        params_from_mapping(Good, {"short": 1})
    with pytest.raises(ConfigError, match=r"Good.window is 1; allowed range \[2, 200\]"):
        params_from_mapping(Good, {"window": 1})
    with pytest.raises(ConfigError, match=re.escape("Good.mode is 'medium'; expected one of")):
        validate_params(Good(mode="medium"))
