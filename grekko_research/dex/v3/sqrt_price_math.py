"""Amounts between two square-root prices, and the next price after an amount, in integers.

Token0 amounts relate to ``L * (1/sqrtA - 1/sqrtB)``, token1 amounts to
``L * (sqrtB - sqrtA)`` (prices in Q64.96). Every function rounds the way that favours the
pool: amounts owed to the pool round up, amounts paid out round down, and the next price
moves no further than the amount pays for.
"""

from __future__ import annotations

from grekko_research.dex.v3.full_math import (
    MAX_UINT160,
    MAX_UINT256,
    Q96,
    MathOverflowError,
    div_rounding_up,
    mul_div,
    mul_div_rounding_up,
)

__all__ = ["amount0_delta", "amount1_delta", "next_sqrt_price_from_input",
           "next_sqrt_price_from_output", "signed_amount0_delta", "signed_amount1_delta"]  # fmt: skip


def _to_uint160(x: int) -> int:
    if not 0 <= x <= MAX_UINT160:
        raise MathOverflowError(f"sqrt price {x} does not fit uint160")
    return x


def _next_from_amount0_rounding_up(sqrt_p: int, liquidity: int, amount: int, add: bool) -> int:
    if amount == 0:
        return sqrt_p
    numerator1 = liquidity << 96
    product = amount * sqrt_p
    if add:
        # the contract takes the precise formula while product and denominator fit 256 bits,
        # else the overflow-free one (which rounds differently): follow it exactly
        if product <= MAX_UINT256:
            denominator = numerator1 + product
            if denominator <= MAX_UINT256:
                return mul_div_rounding_up(numerator1, sqrt_p, denominator)
        return div_rounding_up(numerator1, numerator1 // sqrt_p + amount)
    if product > MAX_UINT256 or numerator1 <= product:
        raise MathOverflowError("output exceeds the token0 the price range holds")
    return _to_uint160(mul_div_rounding_up(numerator1, sqrt_p, numerator1 - product))


def _next_from_amount1_rounding_down(sqrt_p: int, liquidity: int, amount: int, add: bool) -> int:
    if add:
        return _to_uint160(sqrt_p + mul_div(amount, Q96, liquidity))
    quotient = mul_div_rounding_up(amount, Q96, liquidity)
    if sqrt_p <= quotient:
        raise MathOverflowError("output exceeds the token1 the price range holds")
    return sqrt_p - quotient


def next_sqrt_price_from_input(
    sqrt_p: int, liquidity: int, amount_in: int, zero_for_one: bool
) -> int:
    """Return the price after adding ``amount_in`` of the input token (rounded toward start)."""
    if sqrt_p <= 0 or liquidity <= 0:
        raise MathOverflowError("next price needs a positive price and liquidity")
    if zero_for_one:
        return _next_from_amount0_rounding_up(sqrt_p, liquidity, amount_in, True)
    return _next_from_amount1_rounding_down(sqrt_p, liquidity, amount_in, True)


def next_sqrt_price_from_output(
    sqrt_p: int, liquidity: int, amount_out: int, zero_for_one: bool
) -> int:
    """Return the price after removing ``amount_out`` of the output token (rounded past it)."""
    if sqrt_p <= 0 or liquidity <= 0:
        raise MathOverflowError("next price needs a positive price and liquidity")
    if zero_for_one:
        return _next_from_amount1_rounding_down(sqrt_p, liquidity, amount_out, False)
    return _next_from_amount0_rounding_up(sqrt_p, liquidity, amount_out, False)


def amount0_delta(sqrt_a: int, sqrt_b: int, liquidity: int, round_up: bool) -> int:
    """Return the token0 amount between two prices for ``liquidity`` (unsigned)."""
    if sqrt_a > sqrt_b:
        sqrt_a, sqrt_b = sqrt_b, sqrt_a
    if sqrt_a <= 0:
        raise MathOverflowError("amount0 between prices needs a positive lower price")
    numerator1 = liquidity << 96
    numerator2 = sqrt_b - sqrt_a
    if round_up:
        return div_rounding_up(mul_div_rounding_up(numerator1, numerator2, sqrt_b), sqrt_a)
    return mul_div(numerator1, numerator2, sqrt_b) // sqrt_a


def amount1_delta(sqrt_a: int, sqrt_b: int, liquidity: int, round_up: bool) -> int:
    """Return the token1 amount between two prices for ``liquidity`` (unsigned)."""
    if sqrt_a > sqrt_b:
        sqrt_a, sqrt_b = sqrt_b, sqrt_a
    if round_up:
        return mul_div_rounding_up(liquidity, sqrt_b - sqrt_a, Q96)
    return mul_div(liquidity, sqrt_b - sqrt_a, Q96)


def signed_amount0_delta(sqrt_a: int, sqrt_b: int, liquidity: int) -> int:
    """Token0 owed to (positive ``liquidity``: rounded up) or by (negative: down) the pool."""
    if liquidity < 0:
        return -amount0_delta(sqrt_a, sqrt_b, -liquidity, False)
    return amount0_delta(sqrt_a, sqrt_b, liquidity, True)


def signed_amount1_delta(sqrt_a: int, sqrt_b: int, liquidity: int) -> int:
    """Token1 owed to (positive ``liquidity``: rounded up) or by (negative: down) the pool."""
    if liquidity < 0:
        return -amount1_delta(sqrt_a, sqrt_b, -liquidity, False)
    return amount1_delta(sqrt_a, sqrt_b, liquidity, True)
