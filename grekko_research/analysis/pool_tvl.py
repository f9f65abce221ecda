"""A Uniswap V3 pool's value locked across its ranges, from the DEX decoder's events.

The liquidity of a V3 pool sits in ranges between initialised ticks; a range ``[a, b)`` with
liquidity ``L`` holds, at the pool's price ``√P`` (exact integer math of the contract, rounded
down as a burn pays out):

* only token0, ``L (1/√a − 1/√b)``, when the pool's tick is below ``a``;
* only token1, ``L (√b − √a)``, when it is at or above ``b``;
* both, ``L (1/√P − 1/√b)`` and ``L (√P − √a)``, when ``a <= tick < b``.

:func:`pool_tvl` folds a pool's events (``dex.events``: Swap, Mint, Burn …) into its state
(``dex.pool.PoolState``) and walks the tick map from the active range outwards (crossing a tick
up adds its net liquidity, down subtracts it), summing every range. The tick map is the one
before the events plus their Mints and Burns: given as a snapshot (``tick_nets``) the TVL is the
pool's. Learned from the events alone (``dex.learn``: the nets of the ticks the swaps crossed),
the map is known only where the price went, so the ranges are cut to that ``span`` (the lowest
to the highest tick the swaps reached): the TVL *within the traded span*, a lower bound of the
pool's (``edge_liquidity``, the liquidity at the span's edges, says how much reaches beyond). The Mints and Burns also give the
window's LP flows exactly (``minted`` / ``burned``: what the events say was paid in and out).

    tvl = pool_tvl(read_raw_logs(path), fee_pips=500)
    tvl.amount0, tvl.amount1, tvl.ranges, tvl.complete
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise

import pandas as pd

from grekko_research.dex.events import PoolEvent, V3Burn, V3Mint, V3Swap
from grekko_research.dex.pool import PoolState
from grekko_research.dex.v3.sqrt_price_math import amount0_delta, amount1_delta
from grekko_research.dex.v3.tick_math import sqrt_ratio_at_tick
from grekko_research.errors import DataError

__all__ = ["PoolTvl", "pool_tvl", "range_amounts", "tvl_of_state"]


@dataclass(frozen=True, eq=False)
class PoolTvl:
    """Token amounts (raw units) held by a pool's liquidity, and where they sit.

    ``ranges``: one row per range between consecutive initialised ticks (``tick_lower``,
    ``tick_upper``, ``liquidity``, ``amount0``, ``amount1``). ``edge_liquidity``: the liquidity
    the walk still has past the lowest and the highest initialised tick known (both 0 for a
    complete map). ``minted`` / ``burned``: token0, token1 the window's Mints paid in and its
    Burns took out (0 for a state given without events).
    """

    amount0: int
    amount1: int
    ranges: pd.DataFrame
    tick: int
    sqrt_price_x96: int
    edge_liquidity: tuple[int, int]
    learned: bool
    minted: tuple[int, int] = (0, 0)
    burned: tuple[int, int] = (0, 0)
    span: tuple[int, int] | None = None  # ticks [lo, hi) the ranges were cut to (learned maps)

    @property
    def complete(self) -> bool:
        """Whether every range of the pool is counted (no liquidity past the known edges; a
        learned map may still miss whole positions no swap crossed: see the module)."""
        return self.edge_liquidity == (0, 0) and not self.learned

    def value0(self, price1: float, decimals: tuple[int, int]) -> float:
        """The TVL in token0 units, token1 valued at ``price1`` (token0 per token1)."""
        return self.amount0 / 10.0 ** decimals[0] + self.amount1 / 10.0 ** decimals[1] * price1


def range_amounts(
    sqrt_price_x96: int, tick: int, tick_lower: int, tick_upper: int, liquidity: int,
    *, round_up: bool = False,
) -> tuple[int, int]:  # fmt: skip
    """Token0 and token1 (raw) held by ``liquidity`` in ``[tick_lower, tick_upper)`` at the
    pool's price and tick, as the contract computes a position's amounts (``round_up``: what a
    Mint is charged; down: what a Burn pays)."""
    if not tick_lower < tick_upper:
        raise DataError(f"range [{tick_lower}, {tick_upper}): lower tick must be below upper")
    sa, sb = sqrt_ratio_at_tick(tick_lower), sqrt_ratio_at_tick(tick_upper)
    if tick < tick_lower:
        return amount0_delta(sa, sb, liquidity, round_up), 0
    if tick < tick_upper:
        return (
            amount0_delta(sqrt_price_x96, sb, liquidity, round_up),
            amount1_delta(sa, sqrt_price_x96, liquidity, round_up),
        )
    return 0, amount1_delta(sa, sb, liquidity, round_up)


def _walk(state: PoolState) -> tuple[list[tuple[int, int, int]], int, int]:
    """The ranges ``(lower, upper, liquidity)`` of the tick map from the active one outwards
    (up adds a crossed tick's net, down subtracts it), and the liquidity left past the lowest
    and the highest initialised tick."""
    ticks = list(state.ticks.initialized())
    below = [t for t in ticks if t <= state.tick]
    above = [t for t in ticks if t > state.tick]
    liq = state.liquidity
    rows = [(below[-1], above[0], liq)] if below and above else []
    up = liq
    for lo, hi in pairwise(above):
        up += state.ticks.liquidity_net(lo)
        rows.append((lo, hi, up))
    if above:
        up += state.ticks.liquidity_net(above[-1])
    down = liq
    for i in range(len(below) - 1, 0, -1):  # crossing below[i] down
        down -= state.ticks.liquidity_net(below[i])
        rows.append((below[i - 1], below[i], down))
    if below:
        down -= state.ticks.liquidity_net(below[0])
    return sorted(rows), down, up


def tvl_of_state(
    state: PoolState, *, learned: bool = False, span: tuple[int, int] | None = None
) -> PoolTvl:
    """Sum every range of ``state``'s tick map at its price, each cut to ``span`` (ticks
    ``[lo, hi)``) when given (see the module)."""
    if state.sqrt_price_x96 <= 0:
        raise DataError("pool_tvl: the pool has no price yet (no Swap or Initialize event)")
    rows, down, up = _walk(state)
    out = []
    for lo, hi, L in rows:
        if span is not None:  # only the part of the range the map is known in
            lo, hi = max(lo, span[0]), min(hi, span[1])
            if lo >= hi:
                continue
            down = L if lo == span[0] else down
            up = L if hi == span[1] else up
        if L < 0:
            raise DataError(
                f"pool_tvl: negative liquidity {L} in [{lo}, {hi}): the tick map is inconsistent"
            )
        a0, a1 = range_amounts(state.sqrt_price_x96, state.tick, lo, hi, L) if L else (0, 0)
        out.append((lo, hi, L, a0, a1))
    frame = pd.DataFrame(
        out, columns=["tick_lower", "tick_upper", "liquidity", "amount0", "amount1"]
    ).astype(object)
    return PoolTvl(
        amount0=sum(r[3] for r in out),
        amount1=sum(r[4] for r in out),
        ranges=frame,
        tick=state.tick,
        sqrt_price_x96=state.sqrt_price_x96,
        edge_liquidity=(down, up),
        learned=learned,
        span=span,
    )


def pool_tvl(
    events: Iterable[PoolEvent],
    fee_pips: int,
    *,
    tick_spacing: int | None = None,
    tick_nets: Mapping[int, int] | None = None,
    tick_gross: Mapping[int, int] | None = None,
) -> PoolTvl:
    """The pool's TVL after ``events`` (chain order), with the window's LP flows.

    ``tick_nets`` / ``tick_gross``: the tick map before the events (a snapshot; ``{}`` for a
    pool created in the window); without them it is learned from the events (a lower bound:
    see :attr:`PoolTvl.complete` and the module).
    """
    evs = list(events)
    state = PoolState.from_events(
        evs, fee_pips, tick_spacing=tick_spacing, tick_nets=tick_nets, tick_gross=tick_gross
    )
    span = None
    if tick_nets is None:  # a learned map: known where the swaps took the price
        ticks = [e.tick for e in evs if isinstance(e, V3Swap)]
        if not ticks:
            raise DataError("pool_tvl: no swaps to learn the tick map from; pass tick_nets")
        span = (min(ticks), max(ticks) + 1)
    tvl = tvl_of_state(state, learned=tick_nets is None, span=span)
    minted = [e for e in evs if isinstance(e, V3Mint)]
    burned = [e for e in evs if isinstance(e, V3Burn)]
    return PoolTvl(
        tvl.amount0,
        tvl.amount1,
        tvl.ranges,
        tvl.tick,
        tvl.sqrt_price_x96,
        tvl.edge_liquidity,
        tvl.learned,
        minted=(sum(e.amount0 for e in minted), sum(e.amount1 for e in minted)),
        burned=(sum(e.amount0 for e in burned), sum(e.amount1 for e in burned)),
        span=tvl.span,
    )
