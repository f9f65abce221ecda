"""Exact AMM math: known values, invariants (hypothesis) and round trips."""

from __future__ import annotations

from decimal import Decimal, localcontext

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from grekko_research.dex import v2
from grekko_research.dex.v3 import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    MathOverflowError,
    TickMap,
    compute_swap_step,
    sqrt_ratio_at_tick,
    swap,
    tick_at_sqrt_ratio,
)

SETTINGS = settings(max_examples=300, deadline=None)


def test_tick_domain_ends_are_the_published_constants() -> None:
    assert MIN_SQRT_RATIO == 4295128739
    assert MAX_SQRT_RATIO == 1461446703485210103287273052203988822378723970342
    assert sqrt_ratio_at_tick(0) == 2**96
    with pytest.raises(MathOverflowError):
        sqrt_ratio_at_tick(MAX_TICK + 1)


def test_price_at_tick_tracks_the_definition() -> None:
    with localcontext() as ctx:  # never the process-wide context: other tests share it
        ctx.prec = 60
        for t in (-500_000, -199_032, -1, 1, 10, 199_032, 500_000):
            exact = Decimal("1.0001") ** t
            got = Decimal(sqrt_ratio_at_tick(t)) / 2**96
            assert abs(got * got / exact - 1) < Decimal("1e-15"), t


@SETTINGS
@given(st.integers(MIN_TICK, MAX_TICK - 1))
def test_tick_at_price_inverts_price_at_tick(t: int) -> None:
    p = sqrt_ratio_at_tick(t)
    assert tick_at_sqrt_ratio(p) == t
    assert tick_at_sqrt_ratio(sqrt_ratio_at_tick(t + 1) - 1) == t
    if t > MIN_TICK:
        assert tick_at_sqrt_ratio(p - 1) == t - 1


@SETTINGS
@given(
    st.integers(1, 10**30), st.integers(10**3, 10**30), st.integers(10**3, 10**30),
    st.sampled_from(sorted(v2.FORKS)), st.booleans(),
)  # fmt: skip
def test_v2_k_never_decreases(amount: int, r0: int, r1: int, fork: str, zfo: bool) -> None:
    pair = v2.V2Pair(r0, r1, v2.FORKS[fork])
    out, after = pair.quote(amount, zfo)
    assert after.k >= pair.k
    if out > 0:  # buying the output back exactly costs at most what was paid
        r_in = r0 if zfo else r1
        assert v2.amount_in(out, r_in, r1 if zfo else r0, pair.fee) <= amount


def test_v2_fee_per_fork() -> None:
    # 1 token into a deep 1:1 pair: the fee is the only cost
    uni = v2.amount_out(10**18, 10**30, 10**30, v2.FORKS["uniswap_v2"])
    cake = v2.amount_out(10**18, 10**30, 10**30, v2.FORKS["pancakeswap_v2"])
    assert uni == pytest.approx(0.997e18, rel=1e-9)
    assert cake == pytest.approx(0.9975e18, rel=1e-9)
    with pytest.raises(ValueError, match="cannot buy"):
        v2.amount_in(10**30, 10**30, 10**30)


def _pool(spacing: int, positions: list[tuple[int, int, int]], tick: int) -> tuple[TickMap, int]:
    m = TickMap(spacing)
    liquidity = 0
    for lo, hi, liq in positions:
        m.update(lo * spacing, liq, upper=False)
        m.update(hi * spacing, liq, upper=True)
        if lo * spacing <= tick < hi * spacing:
            liquidity += liq
    return m, liquidity


positions_st = st.lists(
    st.tuples(st.integers(-600, 0), st.integers(1, 600), st.integers(10**15, 10**24)),
    min_size=1, max_size=8,
)  # fmt: skip


@SETTINGS
@given(positions_st, st.integers(-50, 50), st.booleans(), st.integers(1, 10**24),
       st.sampled_from([(500, 10), (3000, 60), (100, 1)]))  # fmt: skip
def test_v3_swap_moves_price_its_way_and_round_trips(
    positions: list[tuple[int, int, int]], t0: int, zfo: bool, amount: int, fee_sp: tuple[int, int]
) -> None:
    fee, spacing = fee_sp
    tick = t0 * spacing
    m, liquidity = _pool(spacing, positions, tick)
    assume(liquidity > 0)
    p0 = sqrt_ratio_at_tick(tick) + 12345
    r = swap(m, p0, tick, liquidity, fee, zfo, amount)
    assert (r.sqrt_price_x96 <= p0) if zfo else (r.sqrt_price_x96 >= p0)
    paid, got = (r.amount0, -r.amount1) if zfo else (r.amount1, -r.amount0)
    assert 0 <= paid <= amount and got >= 0
    assert r.tick == tick_at_sqrt_ratio(r.sqrt_price_x96) or r.sqrt_price_x96 == sqrt_ratio_at_tick(
        r.tick + 1
    )
    assume(got > 0)
    # exact output of what the exact input bought costs no more than that input
    back = swap(m, p0, tick, liquidity, fee, zfo, -got)
    back_paid, back_got = (back.amount0, -back.amount1) if zfo else (back.amount1, -back.amount0)
    assert back_got == got
    assert back_paid <= paid
    # and an exact input of that cost buys at least what was asked
    again = swap(m, p0, tick, liquidity, fee, zfo, back_paid)
    assert -(again.amount1 if zfo else again.amount0) >= got


@SETTINGS
@given(st.integers(2**80, 2**110), st.integers(2**80, 2**110), st.integers(1, 2**100),
       st.integers(-(2**100), 2**100), st.sampled_from([100, 500, 3000, 10000]))  # fmt: skip
def test_swap_step_never_overspends(cur: int, target: int, liq: int, rem: int, fee: int) -> None:
    assume(rem != 0 and cur != target)
    nxt, a_in, a_out, f = compute_swap_step(cur, target, liq, rem, fee)
    assert min(cur, target) <= nxt <= max(cur, target)
    assert a_in >= 0 and a_out >= 0 and f >= 0
    if rem > 0:
        assert a_in + f <= rem
    else:
        assert a_out <= -rem


def test_word_boundaries_without_ticks() -> None:
    m = TickMap(10)
    assert m.next_initialized_within_word(5, True) == (0, False)
    assert m.next_initialized_within_word(-5, True) == (-2560, False)
    assert m.next_initialized_within_word(5, False) == (2550, False)
    m.update(-2550, 7, upper=False)
    assert m.next_initialized_within_word(-5, True) == (-2550, True)
    m.update(-2550, -7, upper=False)
    assert m.next_initialized_within_word(-5, True) == (-2560, False)


def test_limit_must_be_beyond_price() -> None:
    m, liq = _pool(10, [(-10, 10, 10**20)], 0)
    with pytest.raises(MathOverflowError, match="price limit"):
        swap(m, 2**96, 0, liq, 500, True, 10**6, sqrt_price_limit_x96=2**96 + 1)
    r = swap(m, 2**96, 0, liq, 500, True, 10**30, sqrt_price_limit_x96=2**96 - 2**80)
    assert r.sqrt_price_x96 == 2**96 - 2**80
