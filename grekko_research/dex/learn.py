"""What a stretch of logs reveals about the tick map before it.

A day of logs tells the state after every swap (price, tick, in-range liquidity) and every
mint/burn, but not the net liquidity of ticks initialised before the day. Each swap that
moves the price across tick boundaries gives one equation: the sum of the crossed ticks'
net liquidity equals the observed change in liquidity. Equations with a single unknown tick
are solved, repeatedly, until nothing more can be learned; the rest stay unknown.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from grekko_research.dex.events import PoolEvent, V3Burn, V3Mint, V3Swap

__all__ = ["crossed_ticks", "learn_tick_nets"]


def crossed_ticks(spacing: int, tick_before: int, tick_after: int) -> range:
    """Tick boundaries a move from ``tick_before`` to ``tick_after`` crosses."""
    if tick_after < tick_before:  # down: boundaries t with after < t <= before
        lo = (tick_after // spacing + 1) * spacing
        return range(lo, tick_before + 1, spacing)
    hi = (tick_after // spacing) * spacing  # up: before < t <= after
    return range((tick_before // spacing + 1) * spacing, hi + 1, spacing)


def _day_delta(ev: V3Mint | V3Burn, dnet: dict[int, int], dgross: dict[int, int]) -> None:
    d = ev.amount if isinstance(ev, V3Mint) else -ev.amount
    dnet[ev.tick_lower] += d
    dnet[ev.tick_upper] -= d
    dgross[ev.tick_lower] += d
    dgross[ev.tick_upper] += d


def learn_tick_nets(
    events: Sequence[PoolEvent], tick_spacing: int
) -> tuple[dict[int, int], dict[int, int], list[int]]:
    """Net and minimum gross liquidity per tick before the first event, learned from swaps.

    Returns ``(nets, gross, unknown)``: ``unknown`` are crossed ticks the logs never pin down.
    """
    dnet: dict[int, int] = defaultdict(int)
    dgross: dict[int, int] = defaultdict(int)
    history: dict[int, list[tuple[int, int]]] = defaultdict(list)  # (dnet, dgross) per change
    equations: list[tuple[list[int], int]] = []  # (ticks, sum of their base nets)
    prev: V3Swap | None = None
    liq = 0
    for ev in events:
        if isinstance(ev, (V3Mint, V3Burn)):
            _day_delta(ev, dnet, dgross)
            for t in (ev.tick_lower, ev.tick_upper):
                history[t].append((dnet[t], dgross[t]))
            if prev is not None and ev.tick_lower <= prev.tick < ev.tick_upper:
                liq += ev.amount if isinstance(ev, V3Mint) else -ev.amount
        elif isinstance(ev, V3Swap):
            if prev is not None:
                ticks = list(crossed_ticks(tick_spacing, prev.tick, ev.tick))
                if ticks:
                    sign = 1 if ev.tick > prev.tick else -1
                    rhs = sign * (ev.liquidity - liq) - sum(dnet[t] for t in ticks)
                    equations.append((ticks, rhs))
            prev, liq = ev, ev.liquidity
    base: dict[int, int] = {}
    progress = True
    while progress:
        progress = False
        for ticks, rhs in equations:
            unknown = [t for t in ticks if t not in base]
            if len(unknown) == 1:
                base[unknown[0]] = rhs - sum(base[t] for t in ticks if t in base)
                progress = True
    crossed_all = {t for ticks, _ in equations for t in ticks}
    unknown_ticks = sorted(crossed_all - base.keys())
    for t in history:
        base.setdefault(t, 0)
    # the least gross liquidity consistent with the day: gross never below zero and never
    # below |net| (a tick with net liquidity is initialised)
    gross = {
        t: max([abs(n)] + [max(-dg, abs(n + dn) - dg) for dn, dg in history.get(t, [])])
        for t, n in base.items()
    }
    return {t: n for t, n in base.items() if gross[t] > 0}, gross, unknown_ticks
