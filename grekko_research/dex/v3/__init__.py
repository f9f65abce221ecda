"""Uniswap V3 concentrated-liquidity math in exact Python integers (written from the
whitepaper's formulas; bit-exact with the pool contract, checked against its bytecode)."""

from grekko_research.dex.v3.full_math import MathOverflowError, mul_div, mul_div_rounding_up
from grekko_research.dex.v3.swap_math import SwapResult, compute_swap_step, swap
from grekko_research.dex.v3.tick_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    sqrt_ratio_at_tick,
    tick_at_sqrt_ratio,
)
from grekko_research.dex.v3.ticks import TickMap

__all__ = [
    "MAX_SQRT_RATIO",
    "MAX_TICK",
    "MIN_SQRT_RATIO",
    "MIN_TICK",
    "MathOverflowError",
    "SwapResult",
    "TickMap",
    "compute_swap_step",
    "mul_div",
    "mul_div_rounding_up",
    "sqrt_ratio_at_tick",
    "swap",
    "tick_at_sqrt_ratio",
]
