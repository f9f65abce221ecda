"""A strategy's orders worked by an execution algorithm (``execution.algo``): replaying real
bars through the live runner and the paper venue starts the backtest's parents, cancels the
same ones and makes the backtest's child fills."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.errors import ConfigError
from grekko_research.runs import run_backtest
from live.app import plan_run, run_plan
from live.events import EventStore
from tests.peers.replay_fills import backtest_fills, live_fills

COMMON = [
    "data.start=2021-01-04",
    "data.end=2021-01-25",
    "strategy=sma_cross",
    "strategy.params.fast=5",
    "strategy.params.slow=20",
    "engine.taker_fee=0.001",
    "engine.slippage=bps",
    "engine.slippage_value=5",
    # 90 % of the equity: room for the children's prices to move from the decision's
    "engine.sizing=percent",
    "engine.sizing_value=0.9",
]
CASES = {
    "twap 3 slices": ["execution=twap", "execution.slices=3"],
    "vwap 4 slices, 2 bars apart": ["execution=vwap", "execution.slices=4", "execution.every=2"],
}


def _same(live: list, expected: list) -> None:
    """Time, symbol, side and price exactly; the size to 1e-12: the kernel caps a closing
    sell at its float position (``0.09250496999999998``), the venue sells the Decimal."""
    assert [f[:3] + f[4:] for f in live] == [f[:3] + f[4:] for f in expected]
    assert np.allclose([f[3] for f in live], [f[3] for f in expected], rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", list(CASES))
def test_replay_of_a_followed_strategy_matches_its_backtest(
    case: str, research_store: Path, tmp_path: Path
) -> None:
    overrides = [*COMMON, *CASES[case], f"data.store={research_store}",
                 f"live.state_dir={tmp_path}"]  # fmt: skip
    cfg = compose_config(overrides)
    store = ParquetStore(research_store)
    backtest = run_backtest(cfg, store=store)
    expected = backtest_fills(backtest)
    plan = plan_run(cfg, replay=True)
    summary = run_plan(plan, store=store)
    assert summary.halted is None
    with EventStore.open(plan.events) as log:
        log.verify().raise_if_broken()
        events = list(log.read())
    _same(live_fills(events), expected)
    # The parents: as many as the strategy's book moved, one cancelled mid-schedule.
    follow = backtest.follow
    started = [e.payload for e in events if e.kind == "algo_started"]
    assert [(p["side"], Decimal(p["qty"])) for p in started] == [
        (p.side, p.qty) for p in follow.parents
    ]
    cancelled = [e.payload["parent_id"] for e in events if e.kind == "algo_cancelled"]
    assert len(cancelled) == sum(p.cancel is not None for p in follow.parents) >= 1
    # The account worked every move in slices: more fills than the strategy's own book.
    intent = backtest_fills(run_backtest(compose_config(COMMON), store=store))
    assert len(expected) > 2 * len(intent) >= 20
    if "vwap" in case:  # profiled from the store's days before each start, not equal slices
        assert all(p["profile"]["source"] == "store" for p in started)
        assert len({tuple(p["spec"]["weights"]) for p in started}) > 1


def test_one_slice_follows_the_strategys_own_fills(research_store: Path) -> None:
    """A TWAP of one slice is the plain backtest: the same orders at the same prices (the
    account's sizes are the book's, to the lot)."""
    store = ParquetStore(research_store)
    plain = backtest_fills(run_backtest(compose_config(COMMON), store=store))
    one = run_backtest(
        compose_config([*COMMON, "execution=twap", "execution.slices=1"]), store=store
    )
    followed = backtest_fills(one)
    assert [f[:3] + f[4:] for f in followed] == [f[:3] + f[4:] for f in plain]
    assert np.allclose([f[3] for f in followed], [f[3] for f in plain], rtol=0, atol=1e-8)


def test_a_followed_run_refuses_what_it_cannot_follow(research_store: Path) -> None:
    from grekko_research.optimize.studies import _load_bars

    store = ParquetStore(research_store)
    stops = compose_config([*COMMON, "execution=twap", "strategy=atr_stop_trend"])
    with pytest.raises(ConfigError, match="position stops"):
        run_backtest(stops, store=store)
    with pytest.raises(ConfigError, match=r"execution\.algo must be none, twap or vwap"):
        compose_config([*COMMON, "execution=twap", "execution.algo=iceberg"])

    class Job:
        cfg = compose_config([*COMMON, "execution=twap"])
        store_root = str(research_store)

    with pytest.raises(ConfigError, match="not swept"):
        _load_bars(Job())  # type: ignore[arg-type]


def test_profile_days_reach_a_manual_vwaps_store_read(tmp_path: Path) -> None:
    """``execution.profile_days`` is also the days a manual VWAP's profile reads from the
    store (and is checked)."""
    cfg = compose_config(["execution.profile_days=7", f"live.state_dir={tmp_path}"])
    assert plan_run(cfg, replay=True).spec.volume_history.days == 7  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match=r"execution\.profile_days must be"):
        compose_config(["execution.profile_days=0"])
