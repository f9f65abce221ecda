"""Pool state read from a node at one block, as the research library's exact models.

A V2 pair becomes a :class:`~grekko_research.dex.v2.V2Pair` (``getReserves``), a V3 pool a
:class:`~grekko_research.dex.pool.PoolState` (``slot0``, ``liquidity`` and the tick map of the
bitmap words around the price). Quotes then come from the library's one quote
(``PoolState.quote`` / ``V2Pair.quote``) through :func:`~grekko_research.dex.fill.amm_fill`,
the same code the AMM backtest fills with. A V3 quote whose swap would leave the words read
is re-read wider; one that would leave the whole price range is refused, never guessed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from grekko_research.dex.pool import PoolState
from grekko_research.dex.v2 import V2Fee, V2Pair
from grekko_research.dex.v3.ticks import TickMap

if TYPE_CHECKING:
    from web3 import AsyncWeb3

__all__ = ["PoolSnapshot", "read_pool", "selector"]

_MAX_TICK = 887272


def selector(signature: str) -> str:
    from eth_utils import keccak

    return "0x" + keccak(text=signature)[:4].hex()


_SEL = {
    name: selector(name)
    for name in ("getReserves()", "slot0()", "liquidity()", "tickBitmap(int16)", "ticks(int24)")
}


def _word(v: int) -> str:
    return format(v % (1 << 256), "064x")


def _signed(v: int, bits: int = 256) -> int:
    return v - (1 << bits) if v >= 1 << (bits - 1) else v


@dataclass(frozen=True)
class PoolSnapshot:
    """A pool at ``block``: ``state`` (V2Pair or PoolState) and, for V3, the ticks whose map was
    read (``lo`` .. ``hi``: a swap ending inside them met every initialised tick on its way)."""

    kind: str
    block: int
    state: V2Pair | PoolState
    lo: int = -_MAX_TICK
    hi: int = _MAX_TICK

    def covers(self, end_tick: int) -> bool:
        return self.lo <= end_tick <= self.hi


async def _call(w3: AsyncWeb3[Any], to: str, data: str, block: int) -> str:
    out = await w3.eth.call({"to": to, "data": data}, block)  # type: ignore[typeddict-item]
    return bytes(out).hex()


async def read_v2(w3: AsyncWeb3[Any], pool: str, fee_numerator: int, block: int) -> PoolSnapshot:
    """A V2 pair's reserves at ``block``; ``fee_numerator`` out of 1,000,000."""
    out = await _call(w3, pool, _SEL["getReserves()"], block)
    r0, r1 = int(out[:64], 16), int(out[64:128], 16)
    return PoolSnapshot("v2", block, V2Pair(r0, r1, V2Fee(fee_numerator, 1_000_000)))


async def read_v3(
    w3: AsyncWeb3[Any], pool: str, fee: int, block: int, *, words: int = 2
) -> PoolSnapshot:
    """A V3 pool at ``block``: price, tick, liquidity and the tick map of the bitmap words
    within ``words`` of the current one (``words`` large enough: the whole range)."""
    base = PoolState.for_fee(fee)
    spacing = base.tick_spacing
    slot0, liq = await asyncio.gather(
        _call(w3, pool, _SEL["slot0()"], block), _call(w3, pool, _SEL["liquidity()"], block)
    )
    sqrt_p, tick = int(slot0[:64], 16), _signed(int(slot0[64:128], 16))
    here = (tick // spacing) >> 8
    lo_w = max(here - words, (-_MAX_TICK // spacing) >> 8)
    hi_w = min(here + words, (_MAX_TICK // spacing) >> 8)
    maps = await asyncio.gather(*(
        _call(w3, pool, _SEL["tickBitmap(int16)"] + _word(w), block) for w in range(lo_w, hi_w + 1)
    ))  # fmt: skip
    ticks = []
    for w, m in zip(range(lo_w, hi_w + 1), maps, strict=True):
        bits = int(m, 16)
        while bits:
            bit = (bits & -bits).bit_length() - 1
            bits &= bits - 1
            ticks.append(((w << 8) + bit) * spacing)
    rows = await asyncio.gather(*(
        _call(w3, pool, _SEL["ticks(int24)"] + _word(t), block) for t in ticks
    ))  # fmt: skip
    nets = {t: _signed(int(r[64:128], 16), 256) for t, r in zip(ticks, rows, strict=True)}
    gross = {t: int(r[:64], 16) for t, r in zip(ticks, rows, strict=True)}
    state = PoolState(fee, spacing, sqrt_p, tick, int(liq[:64], 16),
                      TickMap.from_nets(spacing, nets, gross))  # fmt: skip
    lo = max((lo_w << 8) * spacing, -_MAX_TICK)
    hi = min((((hi_w + 1) << 8) - 1) * spacing, _MAX_TICK)
    whole = lo_w == (-_MAX_TICK // spacing) >> 8 and hi_w == (_MAX_TICK // spacing) >> 8
    return PoolSnapshot("v3", block, state, -_MAX_TICK if whole else lo,
                        _MAX_TICK if whole else hi)  # fmt: skip


async def read_pool(
    w3: AsyncWeb3[Any], pool: str, kind: str, fee: int, block: int, *, words: int = 2
) -> PoolSnapshot:
    """:func:`read_v2` or :func:`read_v3` by ``kind``."""
    if kind == "v2":
        return await read_v2(w3, pool, fee, block)
    if kind == "v3":
        return await read_v3(w3, pool, fee, block, words=words)
    raise ValueError(f"pool kind {kind!r}: v2 or v3")
