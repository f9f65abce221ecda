"""The AMM fill rule: exact path and float path agree; the price-impact limit holds."""

from __future__ import annotations

import pytest

from grekko_research.dex._nb import float_pool
from grekko_research.dex.events import PoolEvent
from grekko_research.dex.fill import AmmFillRule, amm_fill, amm_fill_nb
from grekko_research.dex.pool import PoolState
from grekko_research.errors import ConfigError


@pytest.fixture(scope="module")
def state(events_005: list[PoolEvent]) -> PoolState:
    return PoolState.from_events(events_005[:3000], 500)


@pytest.mark.parametrize("zfo", [True, False])
def test_small_trades_fill_whole_large_ones_shrink_to_the_limit(
    state: PoolState, zfo: bool
) -> None:
    rule = AmmFillRule(max_price_impact=0.002)
    small = 10**9 if zfo else 10**17  # 1,000 USDC / 0.1 WETH
    big = 10**14 if zfo else 10**23  # far beyond the limit
    f = amm_fill(state, small, zfo, rule)
    assert (f.amount_in, f.shrunk, f.refused) == (small, False, False)
    assert f.amount_out == state.quote(small, zfo).amount_out
    g = amm_fill(state, big, zfo, rule)
    assert g.shrunk and 0 < g.amount_in < big
    assert g.price_impact <= 0.002
    assert state.quote(g.amount_in * 1001 // 1000, zfo).price_impact > 0.002  # the largest within
    assert amm_fill(state, big, zfo, AmmFillRule(max_price_impact=0.002, refuse=True)).refused
    # the float path fills the same sizes and amounts (to the float quote's precision)
    pool = float_pool(state)
    for amount, want in ((small, f), (big, g)):
        size, out = amm_fill_nb(pool, zfo, float(amount), 0.002, False, 0.0)
        assert size == pytest.approx(want.amount_in, rel=1e-6)
        assert out == pytest.approx(want.amount_out, rel=1e-6)


def test_haircut_and_bad_rules(state: PoolState) -> None:
    plain = amm_fill(state, 10**18, False, AmmFillRule())
    cut = amm_fill(state, 10**18, False, AmmFillRule(mev_haircut_bps=25))
    assert cut.amount_out == plain.amount_out * (1_000_000 - 2500) // 1_000_000
    _, out = amm_fill_nb(float_pool(state), False, 1e18, 0.01, False, 25.0)
    assert out == pytest.approx(cut.amount_out, rel=1e-9)
    with pytest.raises(ConfigError, match="max_price_impact"):
        AmmFillRule(max_price_impact=0.0)
    with pytest.raises(ConfigError, match="amount_in must be positive"):
        amm_fill(state, 0, True, AmmFillRule())
