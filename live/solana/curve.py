"""Exact bonding-curve math of pump.fun-style launches, in integers (lamports, token base units).

The curve is constant-product on *virtual* reserves ``(vsol, vtok)``. The program's rounding,
checked against the real mainnet buy-and-sell transaction in ``../shared/data/solana/``:

- buying ``amount`` tokens costs ``amount * vsol // (vtok - amount) + 1`` lamports, plus the fee;
- selling ``amount`` tokens pays ``amount * vsol // (vtok + amount)`` lamports, less the fee;
- the fee is ``lamports * fee_bps // 10_000`` (floor) on both sides.

The curve account (:func:`decode_curve`) is 8 bytes of discriminator, five ``u64`` and a
``bool``; a different discriminator or size is an unknown layout and raises.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

from live.solana.parse import ParseError, discriminator

__all__ = [
    "CURVE_ACCOUNT",
    "CURVE_SIZE",
    "DEFAULT_FEE_BPS",
    "CurveState",
    "decode_curve",
]

CURVE_ACCOUNT = discriminator("account:BondingCurve")
CURVE_SIZE = 49  # 8 + 5 * 8 + 1 (later program versions append a creator: 81 bytes)
DEFAULT_FEE_BPS = 100
# The program's initial reserves (its Global account; constant across launches so far).
INITIAL_VIRTUAL_SOL = 30_000_000_000
INITIAL_VIRTUAL_TOKEN = 1_073_000_000_000_000
INITIAL_REAL_TOKEN = 793_100_000_000_000
TOKEN_TOTAL_SUPPLY = 1_000_000_000_000_000


@dataclass(frozen=True)
class CurveState:
    """A bonding curve's reserves; ``complete`` once it migrated (no more trading on it)."""

    virtual_token_reserves: int
    virtual_sol_reserves: int
    real_token_reserves: int
    real_sol_reserves: int
    token_total_supply: int
    complete: bool = False

    @classmethod
    def initial(cls) -> CurveState:
        """A fresh launch's curve."""
        return cls(
            INITIAL_VIRTUAL_TOKEN, INITIAL_VIRTUAL_SOL, INITIAL_REAL_TOKEN, 0, TOKEN_TOTAL_SUPPLY
        )

    # -- quotes (exact integers) ------------------------------------------------------

    def buy_cost(self, amount: int) -> int:
        """Lamports the curve takes for ``amount`` tokens, before the fee."""
        if amount <= 0:
            raise ValueError(f"buy amount must be positive, got {amount}")
        if amount > self.real_token_reserves:
            raise ValueError(
                f"buy amount {amount} exceeds the curve's real tokens {self.real_token_reserves}"
            )
        return amount * self.virtual_sol_reserves // (self.virtual_token_reserves - amount) + 1

    def tokens_for(self, lamports: int) -> int:
        """The most tokens ``lamports`` (before the fee) buys: the largest ``amount`` with
        ``buy_cost(amount) <= lamports`` (capped at the real reserves)."""
        if lamports <= 0:
            return 0
        vsol, vtok = self.virtual_sol_reserves, self.virtual_token_reserves
        # cost(a) <= L  <=>  a*vsol // (vtok-a) <= L-1  <=>  a*vsol < L*(vtok-a)
        amount = (lamports * vtok - 1) // (vsol + lamports)
        amount = min(max(amount, 0), self.real_token_reserves)
        while amount > 0 and self.buy_cost(amount) > lamports:  # guard the boundary
            amount -= 1
        return amount

    def sell_proceeds(self, amount: int) -> int:
        """Lamports the curve pays for ``amount`` tokens, before the fee."""
        if amount <= 0:
            raise ValueError(f"sell amount must be positive, got {amount}")
        return amount * self.virtual_sol_reserves // (self.virtual_token_reserves + amount)

    # -- state after a trade -----------------------------------------------------------

    def after_buy(self, amount: int) -> CurveState:
        cost = self.buy_cost(amount)
        return replace(
            self,
            virtual_token_reserves=self.virtual_token_reserves - amount,
            virtual_sol_reserves=self.virtual_sol_reserves + cost,
            real_token_reserves=self.real_token_reserves - amount,
            real_sol_reserves=self.real_sol_reserves + cost,
        )

    def after_sell(self, amount: int) -> CurveState:
        out = self.sell_proceeds(amount)
        return replace(
            self,
            virtual_token_reserves=self.virtual_token_reserves + amount,
            virtual_sol_reserves=self.virtual_sol_reserves - out,
            real_token_reserves=self.real_token_reserves + amount,
            real_sol_reserves=self.real_sol_reserves - out,
        )

    def price_lamports_per_token(self) -> float:
        """Marginal price in lamports per token base unit (for display and exits only)."""
        return self.virtual_sol_reserves / self.virtual_token_reserves

    def progress(self) -> float:
        """Fraction of the curve's sellable tokens already sold (1.0: ready to migrate)."""
        if INITIAL_REAL_TOKEN <= 0:
            return 0.0
        return 1.0 - self.real_token_reserves / INITIAL_REAL_TOKEN

    def to_bytes(self) -> bytes:
        """The account's 49 bytes (the inverse of :func:`decode_curve`)."""
        return CURVE_ACCOUNT + struct.pack(
            "<5Q?",
            self.virtual_token_reserves,
            self.virtual_sol_reserves,
            self.real_token_reserves,
            self.real_sol_reserves,
            self.token_total_supply,
            self.complete,
        )


def fee(lamports: int, fee_bps: int = DEFAULT_FEE_BPS) -> int:
    """The program's fee on ``lamports`` (floor)."""
    return lamports * fee_bps // 10_000


def decode_curve(data: bytes) -> CurveState:
    """Decode a bonding-curve account.

    Raises
    ------
    ParseError
        For another discriminator or a size this code does not know (an unknown layout).
    """
    if data[:8] != CURVE_ACCOUNT:
        raise ParseError(
            f"bonding curve: discriminator {data[:8].hex()} is not BondingCurve (unknown layout)"
        )
    if len(data) not in (CURVE_SIZE, CURVE_SIZE + 32):
        raise ParseError(f"bonding curve: {len(data)} bytes, expected 49 or 81 (unknown layout)")
    vtok, vsol, rtok, rsol, supply, flag = struct.unpack("<5QB", data[8:CURVE_SIZE])
    if flag > 1:
        raise ParseError(f"bonding curve: complete flag is {flag}, not a bool")
    state = CurveState(vtok, vsol, rtok, rsol, supply, flag == 1)
    if state.real_token_reserves > state.virtual_token_reserves:
        raise ParseError("bonding curve: real token reserves exceed the virtual ones")
    return state
