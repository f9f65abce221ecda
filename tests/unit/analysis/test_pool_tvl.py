"""Pool TVL across ranges from the DEX decoder's Swap/Mint/Burn events: the range math equals the
contract's on every real Mint and Burn of the shared pool, a synthetic pool's TVL is what its
positions paid in (and moves by exactly what its swaps and burns move), and the scanner ranks
the shared pools with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from grekko_research.analysis.liquidity import pool_liquidity_scan
from grekko_research.analysis.mev import read_swaps
from grekko_research.analysis.pool_tvl import pool_tvl, range_amounts
from grekko_research.dex.events import (
    LogMeta,
    PoolEvent,
    V3Burn,
    V3Initialize,
    V3Mint,
    V3Swap,
    read_raw_logs,
)
from grekko_research.dex.pool import PoolState
from grekko_research.dex.v3.tick_math import sqrt_ratio_at_tick
from grekko_research.errors import DataError

RAW = "ethereum-0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640-2024-01-05.raw.csv.gz"
RAW_030 = "ethereum-0x8ad599c3a0ff1de082011efddc58f1908eb6e6d8-2024-01-05.raw.csv.gz"


@pytest.fixture(scope="module")
def events(shared: Path) -> list[PoolEvent]:
    return read_raw_logs(shared / "uniswap" / RAW)


def test_range_amounts_are_the_contracts_on_every_real_mint_and_burn(
    events: list[PoolEvent],
) -> None:
    state = PoolState.for_fee(500)
    checked = 0
    for ev in events:
        if isinstance(ev, (V3Mint, V3Burn)) and ev.amount and state.sqrt_price_x96:
            mint = isinstance(ev, V3Mint)  # charged rounded up, paid out rounded down
            got = range_amounts(
                state.sqrt_price_x96, state.tick, ev.tick_lower, ev.tick_upper, ev.amount,
                round_up=mint,
            )  # fmt: skip
            assert got == (ev.amount0, ev.amount1), ev
            checked += 1
        if isinstance(ev, V3Swap):  # the price and tick are all the range math needs
            state.sqrt_price_x96, state.tick = ev.sqrt_price_x96, ev.tick
    assert checked > 100  # 54 mints and 69 burns that day, less fee pokes and early ones


def test_the_shared_pools_tvl_within_the_traded_span(shared: Path, events: list[PoolEvent]) -> None:
    tvl = pool_tvl(events, 500)
    swaps = [e for e in events if isinstance(e, V3Swap)]
    assert tvl.learned and not tvl.complete
    assert tvl.span == (min(e.tick for e in swaps), max(e.tick for e in swaps) + 1)
    assert tvl.sqrt_price_x96 == swaps[-1].sqrt_price_x96
    r = tvl.ranges
    assert r.tick_lower.min() == tvl.span[0] and r.tick_upper.max() == tvl.span[1]
    # the active range holds the last swap's liquidity, both tokens
    active = r[(r.tick_lower <= tvl.tick) & (tvl.tick < r.tick_upper)].iloc[0]
    assert active.liquidity == swaps[-1].liquidity and active.amount0 > 0 and active.amount1 > 0
    # ranges above the price hold token0 only (USDC: WETH is dearer upwards in ticks)
    assert (r[r.tick_lower > tvl.tick].amount1 == 0).all()
    assert (r[r.tick_upper <= tvl.tick].amount0 == 0).all()
    price = 2269.37
    value = tvl.value0(price, (6, 18))
    assert 5e6 < value < 5e7, value  # millions of USDC within the day's ~1 % span
    mints = [e for e in events if isinstance(e, V3Mint)]
    assert tvl.minted == (sum(e.amount0 for e in mints), sum(e.amount1 for e in mints))
    # in the scanner: the 0.05 % pool holds more within its span than the 0.30 % one
    pools = [read_swaps(shared / "uniswap" / p) for p in (RAW_030, RAW)]
    ev030 = read_raw_logs(shared / "uniswap" / RAW_030)
    out = pool_liquidity_scan(pools, tvl={pools[0].pool: pool_tvl(ev030, 3000), pools[1].pool: tvl})
    assert out.tvl_value0.iloc[0] > out.tvl_value0.iloc[1] > 0
    assert out.tvl_value0.iloc[0] == pytest.approx(tvl.value0(out.price.iloc[0], (6, 18)))
    assert not out.tvl_complete.any()


def _meta(i: int) -> LogMeta:
    return LogMeta(1, i, 0)


def _synthetic() -> tuple[list[PoolEvent], list[tuple[int, int, int, int, int]]]:
    """A 0.3 % pool created at tick 0 and four positions minted as the contract charges them."""
    evs: list[PoolEvent] = [V3Initialize(_meta(0), sqrt_ratio_at_tick(0), 0)]
    positions = []
    for i, (lo, hi, L) in enumerate(
        [(-600, 600, 10**18), (-1200, -60, 5 * 10**17), (120, 1800, 3 * 10**17),
         (-60000, 60000, 10**16)], start=1,
    ):  # fmt: skip
        a0, a1 = range_amounts(sqrt_ratio_at_tick(0), 0, lo, hi, L, round_up=True)
        evs.append(V3Mint(_meta(i), "0xs", "0xo", lo, hi, L, a0, a1))
        positions.append((lo, hi, L, a0, a1))
    return evs, positions


def test_a_synthetic_pools_tvl_is_what_its_positions_paid_in() -> None:
    evs, positions = _synthetic()
    tvl = pool_tvl(evs, 3000, tick_nets={})  # created in the window: the whole map is known
    assert tvl.complete and tvl.edge_liquidity == (0, 0)
    paid0, paid1 = sum(p[3] for p in positions), sum(p[4] for p in positions)
    # rounded down per range where the mints rounded up per position: a few units apart
    assert 0 <= paid0 - tvl.amount0 <= 8 and 0 <= paid1 - tvl.amount1 <= 8
    assert tvl.minted == (paid0, paid1) and tvl.burned == (0, 0)


def test_a_synthetic_pools_tvl_moves_by_its_swaps_and_burns() -> None:
    evs, positions = _synthetic()
    before = pool_tvl(evs, 3000, tick_nets={})
    state = PoolState.from_events(evs, 3000, tick_nets={})
    # sell token0 through several ranges (crossing ticks -60 and below)
    r = state.swap(True, 4 * 10**16)
    assert r.crossed, "the case must cross ranges"
    evs.append(V3Swap(_meta(10), "0xs", "0xr", r.amount0, r.amount1, r.sqrt_price_x96,
                      r.liquidity, r.tick))  # fmt: skip
    after = pool_tvl(evs, 3000, tick_nets={})
    # the liquidity holds the input less its fee and gives the output
    assert abs(after.amount0 - (before.amount0 + r.amount0 - r.fee_amount)) <= 8
    assert abs(after.amount1 - (before.amount1 + r.amount1)) <= 8
    # burn the wide position: the TVL loses what the burn pays out
    lo, hi, L = positions[3][:3]
    a0, a1 = range_amounts(r.sqrt_price_x96, r.tick, lo, hi, L)
    evs.append(V3Burn(_meta(11), "0xo", lo, hi, L, a0, a1))
    burned = pool_tvl(evs, 3000, tick_nets={})
    assert abs(burned.amount0 - (after.amount0 - a0)) <= 8
    assert abs(burned.amount1 - (after.amount1 - a1)) <= 8
    assert burned.burned == (a0, a1)


def test_bad_inputs_are_named() -> None:
    evs, _ = _synthetic()
    with pytest.raises(DataError, match="no swaps to learn"):
        pool_tvl(evs, 3000)  # no map given and nothing to learn it from
    with pytest.raises(DataError, match="lower tick must be below"):
        range_amounts(sqrt_ratio_at_tick(0), 0, 60, 60, 1)
    with pytest.raises(DataError, match="no price yet"):
        pool_tvl(evs[1:], 3000, tick_nets={})
