"""What ``live/runs.py`` writes back of a run's risk limits is the spec's shape, in its code
and in its documentation alike."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest

import live.runs
from grekko_research.config import compose_config
from grekko_research.risk.spec import RiskConfigDeprecationWarning
from live.runs import _flat

# ``risk.<key>=<value>`` as the module's docstrings and comments show it
_EXAMPLE = re.compile(r"\brisk\.[a-z_.]+=[^\s`,)]+")


def test_the_overrides_it_documents_are_the_specs_keys() -> None:
    """The examples of ``live/runs.py`` compose without a deprecation warning (``_flat``'s
    docstring showed ``risk.live.max_errors=10``, the old shape)."""
    examples = _EXAMPLE.findall(Path(live.runs.__file__).read_text())
    assert examples
    for example in examples:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RiskConfigDeprecationWarning)
            try:
                compose_config([example])
            except RiskConfigDeprecationWarning as exc:
                pytest.fail(f"live/runs.py documents {example}: {exc}")


def test_flat_writes_one_override_per_value_null_included() -> None:
    values = {"ops": {"max_errors": 10, "max_ws_down_s": None}, "order": {"precision": True}}
    assert _flat("risk", values) == [
        "risk.ops.max_errors=10",
        "risk.ops.max_ws_down_s=null",
        "risk.order.precision=true",
    ]
