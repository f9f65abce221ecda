"""The AMM fill rule: an exact-input trade filled at the pool's quote, bounded by price impact.

One rule for every driver: the backtest fill model (float path, ``amm_fill_nb``), the paper
venue and the live pre-trade gate (exact path, :func:`amm_fill`). A trade whose quote moves
the execution price more than ``max_price_impact`` from the pool's price is shrunk to the
largest input within the limit, or refused; the output then pays an optional MEV/sandwich
haircut; gas is a fixed cost in the quote currency, reported beside the fill for the caller's
fee step. Price impact counts the LP fee (it is part of what the trader loses to the pool).

The engine's ``FILL_AMM`` model (``engine/_fills.amm_fill_price_nb``) calls :func:`amm_fill_nb`
for every fill of a DEX asset: see docs/dex.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from grekko_research.dex._nb import FloatPool, quote_exact_in_nb
from grekko_research.dex.pool import PoolState
from grekko_research.dex.v2 import V2Pair
from grekko_research.errors import ConfigError

__all__ = ["AmmFill", "AmmFillRule", "amm_fill", "amm_fill_nb"]


@dataclass(frozen=True)
class AmmFillRule:
    """Limits and costs of an AMM fill."""

    max_price_impact: float = 0.01  # fraction of the price, LP fee included
    refuse: bool = False  # True: refuse a trade over the limit instead of shrinking it
    mev_haircut_bps: float = 0.0  # taken off the output (a sandwich's expected cost)
    gas_quote: float = 0.0  # per fill, in quote-currency units (reported, not deducted here)

    def __post_init__(self) -> None:
        if not 0.0 < self.max_price_impact < 1.0:
            raise ConfigError(f"max_price_impact {self.max_price_impact}: expected in (0, 1)")
        if not 0.0 <= self.mev_haircut_bps < 10_000.0:
            raise ConfigError(f"mev_haircut_bps {self.mev_haircut_bps}: expected in [0, 10000)")
        if self.gas_quote < 0.0:
            raise ConfigError(f"gas_quote {self.gas_quote}: must be >= 0")


@dataclass(frozen=True)
class AmmFill:
    """A fill in raw token units: what went in, what came out (haircut applied)."""

    amount_in: int
    amount_out: int
    price_impact: float
    shrunk: bool
    refused: bool
    gas_quote: float


def _quote(state: PoolState | V2Pair, amount: int, zero_for_one: bool) -> tuple[int, float]:
    """(amount out, price impact) of an exact input; a V2 pair's impact is measured as
    ``PoolState.quote`` measures a V3 pool's (token1 per token0, LP fee included)."""
    if isinstance(state, V2Pair):
        out, _ = state.quote(amount, zero_for_one)
        r_in, r_out = (
            (state.reserve0, state.reserve1) if zero_for_one else (state.reserve1, state.reserve0)
        )
        if out <= 0:
            return out, 1.0
        # zero_for_one: 1 - exec/mid (token1 per token0); else exec price of token0 vs mid
        ratio = (out * r_in) / (amount * r_out)  # execution over mid, both in out-per-in
        return out, max(1.0 - ratio if zero_for_one else 1.0 / ratio - 1.0, 0.0)
    q = state.quote(amount, zero_for_one)
    return q.amount_out, q.price_impact


def _impact(state: PoolState | V2Pair, amount: int, zero_for_one: bool) -> float:
    return _quote(state, amount, zero_for_one)[1]


def amm_fill(
    state: PoolState | V2Pair, amount_in: int, zero_for_one: bool, rule: AmmFillRule
) -> AmmFill:
    """Fill ``amount_in`` exactly on ``state`` (a V3 pool or a V2 pair) under ``rule`` (the
    exact path)."""
    if amount_in <= 0:
        raise ConfigError(f"amount_in must be positive, got {amount_in}")
    size, shrunk = amount_in, False
    if _impact(state, amount_in, zero_for_one) > rule.max_price_impact:
        if rule.refuse:
            return AmmFill(0, 0, 0.0, False, True, 0.0)
        lo, hi = 0, amount_in  # largest input within the limit (impact grows with size)
        while hi - lo > max(1, lo // 10**9):
            mid = (lo + hi) // 2
            lo, hi = (
                (mid, hi)
                if _impact(state, mid, zero_for_one) <= rule.max_price_impact
                else (lo, mid)
            )
        if lo == 0:
            return AmmFill(0, 0, 0.0, False, True, 0.0)
        size, shrunk = lo, True
    amount_out, impact = _quote(state, size, zero_for_one)
    out = amount_out * (1_000_000 - round(rule.mev_haircut_bps * 100)) // 1_000_000
    return AmmFill(size, out, impact, shrunk, False, rule.gas_quote)


@njit(cache=True, nogil=True)
def _impact_nb(pool: FloatPool, zero_for_one: bool, amount_in: float) -> tuple[float, float]:
    out = quote_exact_in_nb(pool, zero_for_one, amount_in)[0]
    p0 = pool.sqrt_price * pool.sqrt_price  # token1 per token0
    if out <= 0.0:
        return 1.0, out
    if zero_for_one:
        return 1.0 - (out / amount_in) / p0, out
    return (amount_in / out) / p0 - 1.0, out


@njit(cache=True, nogil=True)
def amm_fill_nb(
    pool: FloatPool, zero_for_one: bool, amount_in: float, max_impact: float, refuse: bool,
    haircut_bps: float,
) -> tuple[float, float]:  # fmt: skip
    """The float path of :func:`amm_fill`: ``(amount in used, amount out)``; (0, 0) refused."""
    impact, out = _impact_nb(pool, zero_for_one, amount_in)
    size = amount_in
    if impact > max_impact:
        if refuse:
            return 0.0, 0.0
        lo, hi = 0.0, amount_in
        for _ in range(60):  # bisection to float resolution
            mid = 0.5 * (lo + hi)
            if _impact_nb(pool, zero_for_one, mid)[0] <= max_impact:
                lo = mid
            else:
                hi = mid
        if lo <= 0.0:
            return 0.0, 0.0
        size = lo
        out = quote_exact_in_nb(pool, zero_for_one, size)[0]
    if not np.isfinite(out):
        return 0.0, 0.0
    return size, out * (1.0 - haircut_bps / 10_000.0)
