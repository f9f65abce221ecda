"""The float64 numba quote path against the exact integer path (``_nb.REL_ERROR``)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from grekko_research.dex._nb import REL_ERROR, float_pool, quote_exact_in_many_nb, quote_exact_in_nb
from grekko_research.dex.events import PoolEvent, V3Swap
from grekko_research.dex.learn import learn_tick_nets
from grekko_research.dex.pool import PoolState
from grekko_research.dex.v3 import TickMap, sqrt_ratio_at_tick, tick_at_sqrt_ratio


def _bound(state: PoolState, amount_in: int, zfo: bool) -> tuple[float, float]:
    """(|float - exact| / exact, the allowed error): float rounding plus the exact path's own
    integer rounding (a unit per step on each side, steps = ticks crossed and words passed)."""
    q = state.quote(amount_in, zfo)
    fp = float_pool(state)
    got = quote_exact_in_nb(fp, zfo, float(amount_in))[0]
    words = abs(q.result.tick - state.tick) // (256 * state.tick_spacing) + 1
    steps = 2 * (len(q.result.crossed) + words + 1)
    allowed = REL_ERROR + steps / amount_in + steps / max(q.amount_out, 1)
    return abs(got - q.amount_out) / max(q.amount_out, 1), allowed


def test_float_quotes_on_the_real_pool(events_005: list[PoolEvent]) -> None:
    nets, gross, _ = learn_tick_nets(events_005, 10)
    rng = random.Random(7)
    crossed = 0
    for cut in (500, 3000, 6000):
        state = PoolState.from_events(events_005[:cut], 500, tick_nets=nets, tick_gross=gross)
        for _ in range(150):
            zfo = rng.random() < 0.5
            amount = int(10 ** rng.uniform(6, 13)) if zfo else int(10 ** rng.uniform(15, 22))
            err, allowed = _bound(state, amount, zfo)
            assert err <= allowed, (cut, zfo, amount, err, allowed)
            crossed += bool(state.quote(amount, zfo).result.crossed)
    assert crossed > 100  # the comparison covers tick crossings


@pytest.mark.parametrize("seed", range(4))
def test_float_quotes_on_random_pools(seed: int) -> None:
    rng = random.Random(seed)
    spacing = rng.choice([1, 10, 60])
    m = TickMap(spacing)
    tick = rng.randrange(-50_000, 50_000)
    tick -= tick % spacing
    liquidity = 0
    for _ in range(30):
        lo = tick + rng.randrange(-300, 300) * spacing
        hi = lo + rng.randrange(1, 100) * spacing
        liq = rng.randrange(10**15, 10**23)
        m.update(lo, liq, upper=False)
        m.update(hi, liq, upper=True)
        liquidity += liq if lo <= tick < hi else 0
    p = sqrt_ratio_at_tick(tick) + rng.randrange(1, 2**60)
    state = PoolState(rng.choice([100, 500, 3000]), spacing, p, tick_at_sqrt_ratio(p), liquidity, m)
    for _ in range(100):
        zfo = rng.random() < 0.5
        amount = int(10 ** rng.uniform(9, 24))
        err, allowed = _bound(state, amount, zfo)
        assert err <= allowed, (zfo, amount, err, allowed)


def test_batch_equals_single(events_030: list[PoolEvent]) -> None:
    state = PoolState.from_events(events_030, 3000)
    fp = float_pool(state)
    zfo = np.array([True, False, True, False])
    amounts = np.array([1e9, 1e18, 5e11, 3e20])
    got = quote_exact_in_many_nb(fp, zfo, amounts)
    want = [quote_exact_in_nb(fp, bool(z), a)[0] for z, a in zip(zfo, amounts, strict=True)]
    assert got.tolist() == want
    assert isinstance(events_030[-1], V3Swap)
