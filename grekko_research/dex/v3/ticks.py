"""A V3 pool's tick map: gross and net liquidity per initialised tick, and the word search.

The contract keeps a bitmap of initialised ticks in 256-tick words and searches only inside
the current word; a sorted list of initialised ticks answers the same question with the
same word bounds, so the swap stops at the same places.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Mapping

from grekko_research.dex.v3.full_math import MathOverflowError

__all__ = ["TickMap"]


class TickMap:
    """Initialised ticks with their gross and net liquidity (implements ``TickSource``)."""

    __slots__ = ("_compressed", "gross", "net", "tick_spacing")

    def __init__(self, tick_spacing: int) -> None:
        if tick_spacing <= 0:
            raise ValueError(f"tick spacing must be positive, got {tick_spacing}")
        self.tick_spacing = tick_spacing
        self.gross: dict[int, int] = {}
        self.net: dict[int, int] = {}
        self._compressed: list[int] = []  # sorted tick // spacing of initialised ticks

    @classmethod
    def from_nets(
        cls, tick_spacing: int, nets: Mapping[int, int], gross: Mapping[int, int] | None = None
    ) -> TickMap:
        """Build a map from net liquidity per tick (gross defaults to ``abs(net)``)."""
        m = cls(tick_spacing)
        for t, n in nets.items():
            g = gross[t] if gross is not None else abs(n)
            m.set(t, n, g)
        return m

    def copy(self) -> TickMap:
        m = TickMap(self.tick_spacing)
        m.gross, m.net, m._compressed = dict(self.gross), dict(self.net), list(self._compressed)
        return m

    def _check(self, tick: int) -> int:
        if tick % self.tick_spacing:
            raise MathOverflowError(f"tick {tick} is not a multiple of spacing {self.tick_spacing}")
        return tick // self.tick_spacing

    def set(self, tick: int, net: int, gross: int) -> None:
        """Set a tick's liquidity (gross 0 clears it)."""
        c = self._check(tick)
        i = bisect_left(self._compressed, c)
        present = i < len(self._compressed) and self._compressed[i] == c
        if gross > 0:
            self.gross[tick], self.net[tick] = gross, net
            if not present:
                self._compressed.insert(i, c)
        else:
            self.gross.pop(tick, None)
            self.net.pop(tick, None)
            if present:
                del self._compressed[i]

    def update(self, tick: int, liquidity_delta: int, upper: bool) -> None:
        """Add a position edge: ``liquidity_delta`` > 0 on mint, < 0 on burn."""
        gross = self.gross.get(tick, 0) + liquidity_delta
        if gross < 0:
            raise MathOverflowError(f"tick {tick}: gross liquidity would go below zero")
        net = self.net.get(tick, 0) + (-liquidity_delta if upper else liquidity_delta)
        if gross == 0:
            self.set(tick, 0, 0)
        else:
            c = self._check(tick)
            self.gross[tick], self.net[tick] = gross, net
            if gross == liquidity_delta:  # flipped on
                insort(self._compressed, c)

    def initialized(self) -> Iterable[int]:
        """Initialised ticks, ascending."""
        return (c * self.tick_spacing for c in self._compressed)

    def liquidity_net(self, tick: int) -> int:
        return self.net.get(tick, 0)

    def next_initialized_within_word(self, tick: int, lte: bool) -> tuple[int, bool]:
        """The contract's search: nearest initialised tick in the current bitmap word, or
        the word's edge (``(edge, False)``) when there is none."""
        s = self.tick_spacing
        c = tick // s  # floor: rounds negative ticks toward -inf as the contract does
        ticks = self._compressed
        if lte:
            word_start = (c >> 8) << 8
            i = bisect_right(ticks, c) - 1
            if i >= 0 and ticks[i] >= word_start:
                return ticks[i] * s, True
            return word_start * s, False
        c += 1
        word_end = ((c >> 8) << 8) + 255
        i = bisect_left(ticks, c)
        if i < len(ticks) and ticks[i] <= word_end:
            return ticks[i] * s, True
        return word_end * s, False
