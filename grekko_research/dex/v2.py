"""Constant-product (Uniswap V2-style) pools in exact integers, with the fee per fork.

The pair keeps ``reserve0 * reserve1`` from falling after the input less its fee: for an
input ``x`` with fee numerator ``f`` out of ``d`` the output is
``floor(x * f * r_out / (r_in * d + x * f))``, and the smallest input buying ``y`` is
``floor(r_in * y * d / ((r_out - y) * f)) + 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FORKS", "V2Fee", "V2Pair", "amount_in", "amount_out"]


@dataclass(frozen=True)
class V2Fee:
    """The swap fee as numerator/denominator of the input that counts (997/1000 = 0.3 %)."""

    numerator: int
    denominator: int

    def __post_init__(self) -> None:
        if not 0 < self.numerator <= self.denominator:
            raise ValueError(f"V2 fee {self.numerator}/{self.denominator}: need 0 < num <= den")

    @property
    def rate(self) -> float:
        return 1 - self.numerator / self.denominator


FORKS: dict[str, V2Fee] = {
    "uniswap_v2": V2Fee(997, 1000),
    "sushiswap": V2Fee(997, 1000),
    "pancakeswap_v2": V2Fee(9975, 10000),
}
"""Fee of each V2 fork by name (PancakeSwap V2 charges 0.25 %)."""


def amount_out(
    amount_in: int, reserve_in: int, reserve_out: int, fee: V2Fee = FORKS["uniswap_v2"]
) -> int:
    """Output of an exact input (the pair's getAmountOut)."""
    if amount_in <= 0:
        raise ValueError(f"amount_in must be positive, got {amount_in}")
    if reserve_in <= 0 or reserve_out <= 0:
        raise ValueError(f"reserves must be positive, got {reserve_in}, {reserve_out}")
    x = amount_in * fee.numerator
    return x * reserve_out // (reserve_in * fee.denominator + x)


def amount_in(
    amount_out_: int, reserve_in: int, reserve_out: int, fee: V2Fee = FORKS["uniswap_v2"]
) -> int:
    """Smallest input that buys ``amount_out_`` (the pair's getAmountIn)."""
    if amount_out_ <= 0:
        raise ValueError(f"amount_out must be positive, got {amount_out_}")
    if reserve_in <= 0 or not 0 < amount_out_ < reserve_out:
        raise ValueError(f"cannot buy {amount_out_} from reserve {reserve_out}")
    num = reserve_in * amount_out_ * fee.denominator
    den = (reserve_out - amount_out_) * fee.numerator
    return num // den + 1


@dataclass(frozen=True)
class V2Pair:
    """A pair's reserves (as a Sync event reports them) and its fork's fee."""

    reserve0: int
    reserve1: int
    fee: V2Fee = FORKS["uniswap_v2"]

    def quote(self, amount: int, zero_for_one: bool, exact_in: bool = True) -> tuple[int, V2Pair]:
        """Return the other side's amount and the pair after the swap.

        Exact input: ``amount`` is paid in and the output is returned; exact output:
        ``amount`` is bought and the input needed is returned.
        """
        r_in, r_out = (
            (self.reserve0, self.reserve1) if zero_for_one else (self.reserve1, self.reserve0)
        )
        if exact_in:
            got = amount_out(amount, r_in, r_out, self.fee)
            paid, out = amount, got
        else:
            got = amount_in(amount, r_in, r_out, self.fee)
            paid, out = got, amount
        n_in, n_out = r_in + paid, r_out - out
        after = V2Pair(n_in, n_out, self.fee) if zero_for_one else V2Pair(n_out, n_in, self.fee)
        return got, after

    @property
    def k(self) -> int:
        return self.reserve0 * self.reserve1
