"""Replay the shared day of Uniswap V3 logs: every swap re-run from the state before it."""

from __future__ import annotations

from grekko_research.dex.events import PoolEvent, V3Swap
from grekko_research.dex.learn import learn_tick_nets
from grekko_research.dex.pool import PoolState
from grekko_research.dex.replay import replay


def test_030_pool_reproduced_entirely(events_030: list[PoolEvent]) -> None:
    report = replay(events_030, 3000)
    assert report.total == 267
    assert report.reproduced == 267, report.failures()
    assert report.checks[0].mode == "anchor"  # the day's first swap: state solved from it
    modes = report.modes()
    assert modes["exact_in"] > 200 and modes["exact_out"] > 0


def test_005_pool_at_least_99_percent(events_005: list[PoolEvent]) -> None:
    report = replay(events_005, 500)
    assert report.total == 6046
    assert report.share >= 0.99, report.modes()
    for miss in report.failures():  # each miss is explained by a tick the logs never reveal
        assert "whose liquidity the logs never reveal" in miss.reason, miss
        assert miss.tx_hash.startswith("0x")
    assert report.unknown_ticks


def test_a_snapshot_closes_what_the_logs_hide(events_005: list[PoolEvent]) -> None:
    """Replay the second half of the day alone, then again with a snapshot of the tick map
    at its start (built from the whole day's learning): the snapshot adds the swaps that
    crossed ticks only the first half revealed."""
    swaps_at = [i for i, e in enumerate(events_005) if isinstance(e, V3Swap)]
    cut = swaps_at[len(swaps_at) // 2]
    first, second = events_005[:cut], events_005[cut:]
    nets, gross, _ = learn_tick_nets(events_005, 10)
    ticks = PoolState.from_events(first, 500, tick_nets=nets, tick_gross=gross).ticks
    snapshot = {t: (ticks.net[t], ticks.gross[t]) for t in ticks.initialized()}
    alone = replay(second, 500)
    helped = replay(second, 500, snapshot=snapshot)
    assert helped.reproduced > alone.reproduced
    assert helped.share >= 0.99
    assert len(helped.unknown_ticks) < len(alone.unknown_ticks)


def test_wrong_fee_tier_reproduces_nothing_but_anchors(events_030: list[PoolEvent]) -> None:
    report = replay(events_030, 500, tick_spacing=60)
    assert report.reproduced <= 1  # the math can fail: a wrong fee matches no swap
