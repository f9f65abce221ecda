"""Reproduce a pool's decoded swaps from its logs alone, and say why any is not reproduced.

The tick map before the logs is learned from them (``learn.py``); what they never reveal
stays unknown unless a snapshot of the tick map is given. Every swap is then re-run with the
exact math from the state before it: as an exact input, an exact output, or (when the trader
set a price limit and the swap stopped there) the same with that limit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from grekko_research.dex.events import PoolEvent, V3Swap
from grekko_research.dex.learn import crossed_ticks, learn_tick_nets
from grekko_research.dex.pool import TICK_SPACING, PoolState
from grekko_research.dex.v3.full_math import MathOverflowError
from grekko_research.dex.v3.sqrt_price_math import next_sqrt_price_from_input
from grekko_research.dex.v3.swap_math import FEE_DENOMINATOR, SwapResult
from grekko_research.dex.v3.tick_math import tick_at_sqrt_ratio
from grekko_research.dex.v3.ticks import TickMap

__all__ = ["ReplayReport", "SwapCheck", "replay"]


@dataclass(frozen=True)
class SwapCheck:
    """One swap's reproduction: ``mode`` is how it matched, or ``""`` with a ``reason``."""

    index: int  # position among the swaps
    block: int
    log_index: int
    tx_hash: str
    mode: str  # exact_in | exact_out | exact_in_limit | exact_out_limit | anchor | ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.mode)


@dataclass
class ReplayReport:
    """Per swap: reproduced or not and why; the tick nets learned from the logs."""

    checks: list[SwapCheck]
    learned_ticks: int
    unknown_ticks: list[int] = field(default_factory=list)

    @property
    def reproduced(self) -> int:
        return sum(c.ok for c in self.checks)

    @property
    def total(self) -> int:
        return len(self.checks)

    @property
    def share(self) -> float:
        return self.reproduced / self.total if self.total else 1.0

    def failures(self) -> list[SwapCheck]:
        return [c for c in self.checks if not c.ok]

    def modes(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for c in self.checks:
            out[c.mode or "not reproduced"] += 1
        return dict(out)


def _matches(r: SwapResult, ev: V3Swap) -> bool:
    return (r.amount0, r.amount1, r.sqrt_price_x96, r.liquidity, r.tick) == (
        ev.amount0, ev.amount1, ev.sqrt_price_x96, ev.liquidity, ev.tick)  # fmt: skip


def _attempts(state: PoolState, ev: V3Swap) -> str:
    zfo = ev.sqrt_price_x96 < state.sqrt_price_x96 or (
        ev.sqrt_price_x96 == state.sqrt_price_x96 and ev.amount0 > 0)  # fmt: skip
    paid, got = (ev.amount0, -ev.amount1) if zfo else (ev.amount1, -ev.amount0)
    limit = ev.sqrt_price_x96 if ev.sqrt_price_x96 != state.sqrt_price_x96 else None
    tries = [("exact_in", paid, None), ("exact_out", -got, None),
             ("exact_in_limit", paid, limit), ("exact_out_limit", -got, limit)]  # fmt: skip
    for mode, amount, lim in tries:
        if amount == 0 or (mode.endswith("limit") and lim is None):
            continue
        try:
            if _matches(state.swap(zfo, amount, lim), ev):
                return mode
        except MathOverflowError:
            continue
    return ""


def _solve_anchor(ev: V3Swap, fee_pips: int, spacing: int) -> PoolState | None:
    """The state before a day's first swap, assuming it crossed no initialised tick.

    Solved from its input and end price alone; its output then checks it.
    """
    zfo = ev.amount0 > 0
    paid = ev.amount0 if zfo else ev.amount1
    if paid <= 0 or ev.liquidity == 0:
        return None
    less_fee = paid * (FEE_DENOMINATOR - fee_pips) // FEE_DENOMINATOR
    big = ev.liquidity << 96
    if zfo:  # 1/sqrt rises by amount / L
        den = big - less_fee * ev.sqrt_price_x96
        guess = big * ev.sqrt_price_x96 // den if den > 0 else 0
    else:
        guess = ev.sqrt_price_x96 - (less_fee << 96) // ev.liquidity
    for cand in range(guess - 3, guess + 4):
        try:
            nxt = next_sqrt_price_from_input(cand, ev.liquidity, less_fee, zfo)
        except (MathOverflowError, ZeroDivisionError):
            continue
        if nxt != ev.sqrt_price_x96:
            continue
        st = PoolState(
            fee_pips, spacing, cand, tick_at_sqrt_ratio(cand), ev.liquidity, TickMap(spacing)
        )
        try:
            if _matches(st.swap(zfo, paid), ev):
                return st
        except MathOverflowError:
            continue
    return None


def replay(
    events: Sequence[PoolEvent],
    fee_pips: int,
    tick_spacing: int | None = None,
    snapshot: Mapping[int, tuple[int, int]] | None = None,
    start: tuple[int, int, int] | None = None,
) -> ReplayReport:
    """Re-run every swap of ``events`` from the state before it; see the module doc.

    ``snapshot`` (tick -> ``(net, gross)`` liquidity before the first event, as the pool's
    ``ticks()`` reports them) replaces what the logs would have to reveal; ``start``
    (``(sqrt_price_x96, tick, liquidity)`` at the same block) is the state before the first
    swap, which the logs alone can only solve for.
    """
    spacing = tick_spacing or TICK_SPACING[fee_pips]
    nets, gross, unknown = learn_tick_nets(events, spacing)
    if snapshot:
        for t, (n, g) in snapshot.items():
            nets[t], gross[t] = n, g
        unknown = [t for t in unknown if t not in snapshot]
    state = PoolState(fee_pips, spacing, ticks=TickMap.from_nets(spacing, nets, gross))
    if start is not None:
        state.sqrt_price_x96, state.tick, state.liquidity = start
    checks: list[SwapCheck] = []
    unknown_set = set(unknown)
    started = False
    for ev in events:
        if not isinstance(ev, V3Swap):
            state.apply(ev)
            continue
        i, m = len(checks), ev.meta
        if not started and state.sqrt_price_x96 == 0:  # no Initialize in the logs
            anchor = _solve_anchor(ev, fee_pips, spacing)
            mode, why = ("anchor", "") if anchor else ("", "first swap: no state before it")
            started = True
        else:
            mode = _attempts(state, ev)
            why = ""
            if not mode:
                hidden = [
                    t for t in crossed_ticks(spacing, state.tick, ev.tick) if t in unknown_set
                ]
                why = (
                    f"crosses tick(s) {hidden} whose liquidity the logs never reveal"
                    if hidden
                    else "no exact-in/exact-out/limit reading of the swap matches"
                )
        checks.append(SwapCheck(i, m.block, m.log_index, m.tx_hash, mode, why))
        state.apply(ev)
    return ReplayReport(checks, len(nets), unknown)
