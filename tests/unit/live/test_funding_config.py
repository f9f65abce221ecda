"""``live.funding_interval_h`` reaches the run (when the runner asks the venue for funding
settlements, ``live.runner._funding``), is validated, and changes no config id."""

from __future__ import annotations

import pytest

from grekko_research.config import compose_config, config_id
from grekko_research.errors import ConfigError
from live.app import plan_run

HOUR = 3_600_000


def test_the_funding_interval_is_composed_into_the_run() -> None:
    assert plan_run(compose_config([]), replay=True).spec.funding_interval_ms == 8 * HOUR
    four = plan_run(compose_config(["live.funding_interval_h=4"]), replay=True)
    assert four.spec.funding_interval_ms == 4 * HOUR
    with pytest.raises(ConfigError, match=r"live\.funding_interval_h must be >= 0"):
        plan_run(compose_config(["live.funding_interval_h=-1"]), replay=True)
    assert config_id(compose_config(["live.funding_interval_h=1"])) == config_id(compose_config([]))
