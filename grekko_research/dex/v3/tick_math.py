"""Ticks and Q64.96 square-root prices: ``sqrt(1.0001 ** tick) * 2**96``, bit-exact.

The price at a tick is built as a product of per-bit factors ``2**128 / sqrt(1.0001)**(2**i)``
rounded to the nearest integer (the published construction), so that every tick maps to the
same integer the pool contract computes. The factors are derived here from that definition
with 120-digit decimal arithmetic, not copied from anywhere. The inverse (tick at a price) is
defined as the greatest tick whose price is at or below the given price; it is found by a
float estimate refined with the exact forward function, which by that definition gives the
contract's answer.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

from grekko_research.dex.v3.full_math import MAX_UINT256, MathOverflowError

__all__ = ["MAX_SQRT_RATIO", "MAX_TICK", "MIN_SQRT_RATIO", "MIN_TICK", "sqrt_ratio_at_tick",
           "tick_at_sqrt_ratio"]  # fmt: skip

MIN_TICK = -887272
MAX_TICK = 887272


def _factors() -> tuple[int, ...]:
    with localcontext() as ctx:
        ctx.prec = 120
        base = Decimal("1.0001")
        two128 = Decimal(2) ** 128
        return tuple(int((two128 / (base ** (2**i)).sqrt()).to_integral_value()) for i in range(20))


_FACTORS = _factors()


def sqrt_ratio_at_tick(tick: int) -> int:
    """Return the Q64.96 square-root price at ``tick`` (``MIN_TICK <= tick <= MAX_TICK``)."""
    a = -tick if tick < 0 else tick
    if a > MAX_TICK:
        raise MathOverflowError(f"tick {tick} outside [{MIN_TICK}, {MAX_TICK}]")
    ratio = _FACTORS[0] if a & 1 else 1 << 128
    for i in range(1, 20):
        if a & (1 << i):
            ratio = (ratio * _FACTORS[i]) >> 128
    if tick > 0:
        ratio = MAX_UINT256 // ratio
    # Q128.128 -> Q64.96, rounding up so the price never falls below the tick's
    return (ratio >> 32) + (1 if ratio & 0xFFFFFFFF else 0)


MIN_SQRT_RATIO = sqrt_ratio_at_tick(MIN_TICK)
MAX_SQRT_RATIO = sqrt_ratio_at_tick(MAX_TICK)


def tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    """Return the greatest tick whose square-root price is ``<= sqrt_price_x96``.

    Valid for ``MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO`` (the contract's domain).
    """
    if not MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO:
        raise MathOverflowError(f"sqrt price {sqrt_price_x96} outside the tick domain")
    # log base sqrt(1.0001) of the price; the float estimate is within a tick or two
    est = math.floor(2 * (math.log2(sqrt_price_x96) - 96) / math.log2(1.0001))
    t = max(MIN_TICK, min(MAX_TICK - 1, est))
    while t > MIN_TICK and sqrt_ratio_at_tick(t) > sqrt_price_x96:
        t -= 1
    while t < MAX_TICK and sqrt_ratio_at_tick(t + 1) <= sqrt_price_x96:
        t += 1
    return t
