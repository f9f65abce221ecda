"""A V3 pool's state folded from its events, and THE quote every caller uses.

``PoolState.quote`` serves the backtest fill model, ``grekko dex quote``, the replay check
and (later) the live pre-trade gate; the float path in ``_nb`` is only a faster copy tested
against it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from grekko_research.dex.events import PoolEvent, V3Burn, V3Initialize, V3Mint, V3Swap
from grekko_research.dex.v3.swap_math import SwapResult, swap
from grekko_research.dex.v3.ticks import TickMap
from grekko_research.errors import DataError

__all__ = ["TICK_SPACING", "PoolState", "Quote"]

TICK_SPACING: dict[int, int] = {100: 1, 500: 10, 2500: 50, 3000: 60, 10000: 200}
"""Tick spacing of each fee tier (Uniswap V3, PancakeSwap V3's 0.25 % tier)."""


@dataclass(frozen=True)
class Quote:
    """An exact quote in raw token units, from the trader's side."""

    amount_in: int
    amount_out: int
    fee: int  # LP fee in the input token
    price_before: float  # token1 per token0 (raw units)
    price_after: float
    price_impact: float  # execution price (LP fee included) vs the price before, fraction >= 0
    result: SwapResult


@dataclass
class PoolState:
    """Price, tick, in-range liquidity and tick map of one V3 pool."""

    fee_pips: int
    tick_spacing: int
    sqrt_price_x96: int = 0
    tick: int = 0
    liquidity: int = 0
    ticks: TickMap = field(default_factory=lambda: TickMap(1))  # replaced by one of our spacing

    def __post_init__(self) -> None:
        if self.ticks.tick_spacing != self.tick_spacing:
            if self.ticks.net:
                raise ValueError(
                    f"tick map spacing {self.ticks.tick_spacing} != pool's {self.tick_spacing}"
                )
            self.ticks = TickMap(self.tick_spacing)

    @classmethod
    def for_fee(cls, fee_pips: int, **kw: object) -> PoolState:
        """A pool of a standard fee tier (its tick spacing looked up)."""
        if fee_pips not in TICK_SPACING:
            raise ValueError(f"unknown fee tier {fee_pips}; pass tick_spacing explicitly")
        return cls(fee_pips, TICK_SPACING[fee_pips], **kw)  # type: ignore[arg-type]

    @classmethod
    def from_events(
        cls,
        events: Iterable[PoolEvent],
        fee_pips: int,
        tick_spacing: int | None = None,
        tick_nets: Mapping[int, int] | None = None,
        tick_gross: Mapping[int, int] | None = None,
    ) -> PoolState:
        """Fold events into a pool.

        ``tick_nets`` (and ``tick_gross``, default ``|net|``) is a tick-map snapshot taken
        before the events; without one the map is learned from the events themselves
        (:func:`~grekko_research.dex.learn.learn_tick_nets`: what they reveal, no more).
        """
        spacing = tick_spacing or TICK_SPACING[fee_pips]
        events = list(events)
        if tick_nets is None:
            from grekko_research.dex.learn import learn_tick_nets

            tick_nets, tick_gross, _ = learn_tick_nets(events, spacing)
        ticks = TickMap.from_nets(spacing, tick_nets, tick_gross)
        state = cls(fee_pips, spacing, ticks=ticks)
        for ev in events:
            state.apply(ev)
        return state

    def copy(self) -> PoolState:
        return PoolState(self.fee_pips, self.tick_spacing, self.sqrt_price_x96, self.tick,
                         self.liquidity, self.ticks.copy())  # fmt: skip

    def apply(self, ev: PoolEvent) -> None:
        """Fold one event in: a swap reports the state after it; mints/burns move liquidity."""
        if isinstance(ev, V3Swap):
            self.sqrt_price_x96, self.tick, self.liquidity = (
                ev.sqrt_price_x96,
                ev.tick,
                ev.liquidity,
            )
        elif isinstance(ev, V3Initialize):
            self.sqrt_price_x96, self.tick = ev.sqrt_price_x96, ev.tick
        elif isinstance(ev, (V3Mint, V3Burn)):
            delta = ev.amount if isinstance(ev, V3Mint) else -ev.amount
            if delta == 0:
                return
            try:
                self.ticks.update(ev.tick_lower, delta, upper=False)
                self.ticks.update(ev.tick_upper, delta, upper=True)
            except ArithmeticError as e:
                m = ev.meta
                raise DataError(f"log {m.block}/{m.log_index}: {e} (tick map incomplete?)") from e
            if ev.tick_lower <= self.tick < ev.tick_upper:
                self.liquidity += delta

    def swap(
        self, zero_for_one: bool, amount_specified: int, sqrt_price_limit_x96: int | None = None
    ) -> SwapResult:
        """Run the contract's swap on this state without changing it."""
        if self.sqrt_price_x96 == 0:
            raise DataError("pool state has no price yet (no Swap/Initialize event folded)")
        return swap(self.ticks, self.sqrt_price_x96, self.tick, self.liquidity, self.fee_pips,
                    zero_for_one, amount_specified, sqrt_price_limit_x96)  # fmt: skip

    def quote(
        self,
        amount: int,
        zero_for_one: bool,
        exact_in: bool = True,
        sqrt_price_limit_x96: int | None = None,
    ) -> Quote:
        """Quote a trade of ``amount`` raw units (input if ``exact_in`` else output)."""
        if amount <= 0:
            raise ValueError(f"amount must be positive, got {amount}")
        r = self.swap(zero_for_one, amount if exact_in else -amount, sqrt_price_limit_x96)
        a_in, a_out = (r.amount0, -r.amount1) if zero_for_one else (r.amount1, -r.amount0)
        p0 = (self.sqrt_price_x96 / 2**96) ** 2
        p1 = (r.sqrt_price_x96 / 2**96) ** 2
        if a_in > 0 and a_out > 0:
            exec_p = a_out / a_in if zero_for_one else a_in / a_out  # token1 per token0
            impact = (p0 - exec_p) / p0 if zero_for_one else (exec_p - p0) / p0
        else:
            impact = 0.0
        return Quote(a_in, a_out, r.fee_amount, p0, p1, max(impact, 0.0), r)

    def apply_swap(self, result: SwapResult) -> None:
        """Move the pool to a swap's end state (a simulated trade of our own)."""
        self.sqrt_price_x96, self.tick, self.liquidity = (
            result.sqrt_price_x96, result.tick, result.liquidity)  # fmt: skip

    @property
    def price(self) -> float:
        """token1 per token0 in raw units."""
        return (self.sqrt_price_x96 / 2**96) ** 2
