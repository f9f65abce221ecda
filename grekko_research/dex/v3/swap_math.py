"""One swap step inside a price range, and a whole swap across initialised ticks.

A swap walks from tick boundary to tick boundary: inside each range the liquidity is
constant and :func:`compute_swap_step` moves the price as far as the remaining amount (or the
range's end, or the price limit) allows; at an initialised tick the liquidity changes by the
tick's net liquidity. Steps also stop at the edge of each 256-tick bitmap word even when no
tick there is initialised, because the contract does, and each step rounds on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from grekko_research.dex.v3.full_math import MathOverflowError, mul_div, mul_div_rounding_up
from grekko_research.dex.v3.sqrt_price_math import (
    amount0_delta,
    amount1_delta,
    next_sqrt_price_from_input,
    next_sqrt_price_from_output,
)
from grekko_research.dex.v3.tick_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    sqrt_ratio_at_tick,
    tick_at_sqrt_ratio,
)

__all__ = ["FEE_DENOMINATOR", "SwapResult", "TickSource", "compute_swap_step", "swap"]

FEE_DENOMINATOR = 1_000_000  # fees in pips: 500 = 0.05 %


def compute_swap_step(
    sqrt_current: int, sqrt_target: int, liquidity: int, amount_remaining: int, fee_pips: int
) -> tuple[int, int, int, int]:
    """Swap inside one range; return ``(sqrt_next, amount_in, amount_out, fee_amount)``.

    ``amount_remaining`` > 0 is an exact input (fee included), < 0 an exact output. The
    direction is token0 -> token1 when ``sqrt_current >= sqrt_target``.
    """
    zero_for_one = sqrt_current >= sqrt_target
    exact_in = amount_remaining >= 0
    amount_in = amount_out = 0
    if exact_in:
        less_fee = mul_div(amount_remaining, FEE_DENOMINATOR - fee_pips, FEE_DENOMINATOR)
        amount_in = (
            amount0_delta(sqrt_target, sqrt_current, liquidity, True)
            if zero_for_one
            else amount1_delta(sqrt_current, sqrt_target, liquidity, True)
        )
        if less_fee >= amount_in:
            sqrt_next = sqrt_target
        else:
            sqrt_next = next_sqrt_price_from_input(sqrt_current, liquidity, less_fee, zero_for_one)
    else:
        amount_out = (
            amount1_delta(sqrt_target, sqrt_current, liquidity, False)
            if zero_for_one
            else amount0_delta(sqrt_current, sqrt_target, liquidity, False)
        )
        if -amount_remaining >= amount_out:
            sqrt_next = sqrt_target
        else:
            sqrt_next = next_sqrt_price_from_output(
                sqrt_current, liquidity, -amount_remaining, zero_for_one
            )
    reached = sqrt_target == sqrt_next
    if zero_for_one:
        if not (reached and exact_in):
            amount_in = amount0_delta(sqrt_next, sqrt_current, liquidity, True)
        if not (reached and not exact_in):
            amount_out = amount1_delta(sqrt_next, sqrt_current, liquidity, False)
    else:
        if not (reached and exact_in):
            amount_in = amount1_delta(sqrt_current, sqrt_next, liquidity, True)
        if not (reached and not exact_in):
            amount_out = amount0_delta(sqrt_current, sqrt_next, liquidity, False)
    if not exact_in and amount_out > -amount_remaining:
        amount_out = -amount_remaining  # never pay out more than asked
    if exact_in and sqrt_next != sqrt_target:
        fee = amount_remaining - amount_in  # the remainder of the input is all fee
    else:
        fee = mul_div_rounding_up(amount_in, fee_pips, FEE_DENOMINATOR - fee_pips)
    return sqrt_next, amount_in, amount_out, fee


class TickSource(Protocol):
    """The initialised ticks a swap can cross (a pool's tick map)."""

    tick_spacing: int

    def next_initialized_within_word(self, tick: int, lte: bool) -> tuple[int, bool]:
        """Next initialised tick at/below (``lte``) or above ``tick``, bounded by its word."""
        ...

    def liquidity_net(self, tick: int) -> int:
        """Net liquidity added when the price crosses ``tick`` upward."""
        ...


@dataclass(frozen=True)
class SwapResult:
    """A swap's outcome: pool-signed amounts (positive: paid into the pool) and end state."""

    amount0: int
    amount1: int
    sqrt_price_x96: int
    tick: int
    liquidity: int
    fee_amount: int  # fee paid in the input token (protocol share included)
    crossed: tuple[int, ...]  # initialised ticks crossed, in order


def swap(
    ticks: TickSource,
    sqrt_price_x96: int,
    tick: int,
    liquidity: int,
    fee_pips: int,
    zero_for_one: bool,
    amount_specified: int,
    sqrt_price_limit_x96: int | None = None,
) -> SwapResult:
    """Run a swap as the pool contract does; positive ``amount_specified`` is exact input.

    ``sqrt_price_limit_x96`` defaults to the widest limit (one step inside the domain).
    Raises :class:`MathOverflowError` where the contract reverts (zero amount, bad limit).
    """
    if amount_specified == 0:
        raise MathOverflowError("swap amount must be non-zero")
    if sqrt_price_limit_x96 is None:
        sqrt_price_limit_x96 = MIN_SQRT_RATIO + 1 if zero_for_one else MAX_SQRT_RATIO - 1
    lim = sqrt_price_limit_x96
    ok = (
        MIN_SQRT_RATIO < lim < sqrt_price_x96
        if zero_for_one
        else sqrt_price_x96 < lim < MAX_SQRT_RATIO
    )
    if not ok:
        raise MathOverflowError(
            f"price limit {lim} is not beyond the price {sqrt_price_x96} in the swap's direction"
        )
    exact_in = amount_specified > 0
    remaining, calculated, fees = amount_specified, 0, 0
    crossed: list[int] = []
    while remaining != 0 and sqrt_price_x96 != lim:
        start = sqrt_price_x96
        nxt, initialized = ticks.next_initialized_within_word(tick, zero_for_one)
        nxt = max(MIN_TICK, min(MAX_TICK, nxt))
        sqrt_next = sqrt_ratio_at_tick(nxt)
        beyond = sqrt_next < lim if zero_for_one else sqrt_next > lim
        target = lim if beyond else sqrt_next
        sqrt_price_x96, a_in, a_out, fee = compute_swap_step(
            sqrt_price_x96, target, liquidity, remaining, fee_pips
        )
        if exact_in:
            remaining -= a_in + fee
            calculated -= a_out
        else:
            remaining += a_out
            calculated += a_in + fee
        fees += fee
        if sqrt_price_x96 == sqrt_next:
            if initialized:
                net = ticks.liquidity_net(nxt)
                liquidity += -net if zero_for_one else net
                if liquidity < 0:
                    raise MathOverflowError(f"liquidity below zero crossing tick {nxt}")
                crossed.append(nxt)
            tick = nxt - 1 if zero_for_one else nxt
        elif sqrt_price_x96 != start:
            tick = tick_at_sqrt_ratio(sqrt_price_x96)
    if zero_for_one == exact_in:
        a0, a1 = amount_specified - remaining, calculated
    else:
        a0, a1 = calculated, amount_specified - remaining
    return SwapResult(a0, a1, sqrt_price_x96, tick, liquidity, fees, tuple(crossed))
