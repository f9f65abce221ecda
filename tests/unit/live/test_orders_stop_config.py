"""``live.stop_policy`` reaches the run: composed from conf/, typed, validated (an unknown mode
names its key), and a run whose stops its venue cannot hold natively refuses to start in
``native`` mode (fail closed) while ``auto`` emulates them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from grekko_research.config import compose_config, config_id
from grekko_research.engine import Stops
from grekko_research.errors import ConfigError
from live.app import plan_run
from live.events import EventStore
from live.orders import StopPolicy
from live.runner import Runner
from live.venues.paper import PaperVenue, ReplayFeed
from tests.unit.live.test_orders_policy import caps


def test_the_stop_policy_is_composed_into_the_run() -> None:
    assert plan_run(compose_config([]), replay=True).spec.stop_policy == StopPolicy("emulated")
    plan = plan_run(
        compose_config(["live.stop_policy.mode=auto", "live.stop_policy.stop_limit_offset=0.01"]),
        replay=True,
    )
    assert plan.spec.stop_policy == StopPolicy("auto", 0.01)
    limit = plan_run(compose_config(["live.stop_policy.stop_limit=true"]), replay=True)
    assert limit.spec.stop_policy == StopPolicy("emulated", stop_limit=True)
    with pytest.raises(ConfigError, match=r"stop_policy\.mode must be one of auto, native"):
        plan_run(compose_config(["live.stop_policy.mode=sometimes"]), replay=True)


def test_the_stop_policy_changes_no_config_id() -> None:
    """How a run's stops live on a venue is not what its backtest computes: the pinned
    experiments' ids stay."""
    base = config_id(compose_config([]))
    for override in ("live.stop_policy.mode=native", "live.stop_policy.stop_limit=true",
                     "live.stop_policy.stop_limit_offset=0.01"):  # fmt: skip
        assert config_id(compose_config([override])) == base, override


def test_native_mode_refuses_a_venue_without_stop_orders(tmp_path: Path) -> None:
    plan = plan_run(compose_config([]), replay=True)
    spec = plan.spec
    spec = replace(spec, engine=replace(spec.engine, stops=Stops(stop_loss=0.01)))
    bars = _bars()
    venue = PaperVenue(spec.engine, spec.symbols, ReplayFeed(bars))
    with EventStore.open(tmp_path / "events.db") as store:
        with pytest.raises(ConfigError, match=r"cannot hold the stop_loss \(pct\) natively"):
            Runner(replace(spec, stop_policy=StopPolicy("native")), venue, store)
        auto = Runner(replace(spec, stop_policy=StopPolicy("auto")), venue, store)
        assert auto._native == {}  # the paper venue sends no stops: all emulated
    assert caps("binance").oco  # the venue the crash test places OCO stops on


def _bars():  # type: ignore[no-untyped-def]
    import numpy as np

    from grekko_research.data.bars import Bars

    n = 3
    col = np.full((n, 1), 100.0)
    return Bars(
        index=np.arange(n, dtype=np.int64) * 3_600_000, symbols=("BTC/USDT",), timeframe="1h",
        open=col, high=col, low=col, close=col, volume=col,
    )  # fmt: skip
