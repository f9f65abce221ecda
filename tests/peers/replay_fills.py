"""Fills of a backtest and of a live replay, in one comparable shape (live-parity tests).

The readers are the parity gate's own (``live/parity.py``): the tests compare exactly what
``grekko-live parity`` compares.
"""

from __future__ import annotations

from typing import Any

from live.parity import Fill, backtest_fills, live_fills

__all__ = ["Fill", "assert_replay_matches_backtest", "backtest_fills", "live_fills"]


def assert_replay_matches_backtest(cfg: Any, store: Any, min_fills: int) -> list[Fill]:
    """Run ``cfg`` as ``grekko backtest`` and as a ``grekko-live`` replay on ``store``; assert
    the replay ran to its end with an intact log and the same fills; return the fills.

    ``min_fills``: the case must trade at least that much to prove anything.
    """
    from grekko_research.runs import run_backtest
    from live.app import plan_run, run_plan
    from live.events import EventStore

    expected = backtest_fills(run_backtest(cfg, store=store))
    assert len(expected) >= min_fills, "the case must trade to prove anything"
    plan = plan_run(cfg, replay=True)
    summary = run_plan(plan, store=store)
    assert summary.halted is None
    with EventStore.open(plan.events) as log:
        log.verify().raise_if_broken()
        assert live_fills(list(log.read())) == expected
    return expected
