"""Full-precision multiply-then-divide on unsigned 256-bit integers (Python ints).

The EVM computes ``a * b / d`` with a 512-bit intermediate product and reverts when the
result does not fit 256 bits; Python integers have no intermediate limit, so only the
result's range and the divisor are checked here.
"""

from __future__ import annotations

__all__ = ["MAX_UINT128", "MAX_UINT160", "MAX_UINT256", "Q96", "Q128", "div_rounding_up",
           "mul_div", "mul_div_rounding_up"]  # fmt: skip

MAX_UINT128 = 2**128 - 1
MAX_UINT160 = 2**160 - 1
MAX_UINT256 = 2**256 - 1
Q96 = 2**96
Q128 = 2**128


class MathOverflowError(ArithmeticError):
    """A result does not fit its EVM type, or a divisor is zero: the contract would revert."""


def mul_div(a: int, b: int, d: int) -> int:
    """Return ``floor(a * b / d)``; raise when ``d == 0`` or the result exceeds 256 bits."""
    if d <= 0:
        raise MathOverflowError(f"mul_div: divisor {d} must be positive")
    r = a * b // d
    if r > MAX_UINT256:
        raise MathOverflowError("mul_div: result exceeds uint256")
    return r


def mul_div_rounding_up(a: int, b: int, d: int) -> int:
    """Return ``ceil(a * b / d)`` with the same checks as :func:`mul_div`."""
    if d <= 0:
        raise MathOverflowError(f"mul_div_rounding_up: divisor {d} must be positive")
    r = -(-(a * b) // d)
    if r > MAX_UINT256:
        raise MathOverflowError("mul_div_rounding_up: result exceeds uint256")
    return r


def div_rounding_up(a: int, d: int) -> int:
    """Return ``ceil(a / d)`` for ``a >= 0``, ``d > 0``."""
    if d <= 0:
        raise MathOverflowError(f"div_rounding_up: divisor {d} must be positive")
    return -(-a // d)
