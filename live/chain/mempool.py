"""Mempool monitor: pending swaps aimed at watched pools, decoded and priced with the exact quote.

The node's pending-transaction feed (``eth_newPendingTransactionFilter`` polled with
``eth_getFilterChanges``: the same hashes a ``newPendingTransactions`` websocket subscription
pushes, on any node with a txpool; anvil with ``--no-mining``/automine off in the tests) gives
hashes; each transaction aimed at a watched router or pool is decoded:

* ``GrekkoTradeExecutor.swapExactIn(tokenIn, route, amountIn, minOut, deadline)`` (our own or
  another trader's executor) — the first hop's pool and input;
* Uniswap V2 Router ``swapExactTokensForTokens(amountIn, amountOutMin, path, to, deadline)`` —
  the first pair of the path, when watched;
* Uniswap V3 SwapRouter ``exactInputSingle((tokenIn, tokenOut, fee, recipient, deadline,
  amountIn, amountOutMinimum, sqrtPriceLimitX96))``;
* a V3 pool's own ``swap(recipient, zeroForOne, amountSpecified, sqrtPriceLimitX96, data)``.

Each decoded swap is priced on the pool's current state with the library's exact quote
(:func:`~grekko_research.dex.fill.amm_fill`'s impact): :meth:`MempoolMonitor.impact` is the
largest pending impact on a pool, which the DEX venue's gate refuses to trade into
(``refuse_into_pending_swap``). The decoded swaps are also what the market-analysis detectors
(front-running, sandwiches) take later.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from grekko_research.dex.fill import AmmFillRule, amm_fill
from live.chain.dex_conf import DexMarket
from live.chain.pools import read_pool, selector
from live.chain.sender import hexstr

if TYPE_CHECKING:
    from web3 import AsyncWeb3

__all__ = ["MempoolMonitor", "PendingSwap", "decode_swap"]

_EXECUTOR = selector("swapExactIn(address,address[],uint256,uint256,uint256)")
_V2_ROUTER = selector("swapExactTokensForTokens(uint256,uint256,address[],address,uint256)")
_V3_SINGLE = selector(
    "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
)
_V3_POOL = selector("swap(address,bool,int256,uint160,bytes)")


@dataclass(frozen=True)
class PendingSwap:
    """A pending transaction's swap on a watched pool (raw units); ``impact`` its exact price
    impact on the pool's state when it was seen (``nan`` until priced)."""

    tx_hash: str
    sender: str
    to: str
    pool: str
    token_in: str
    amount_in: int
    impact: float = float("nan")


def _lower(a: str) -> str:
    return a.lower()


def decode_swap(
    tx: Mapping[str, Any],
    markets: Mapping[str, DexMarket],
    routers: set[str],
) -> tuple[str, str, int] | None:
    """``(pool, token_in, amount_in)`` of a pending transaction swapping on a watched pool
    (``markets`` by lowercase pool address), else ``None``. Pure: the transaction dict in."""
    from eth_abi import decode

    to = _lower(str(tx.get("to") or ""))
    data = hexstr(tx.get("input") or tx.get("data") or "0x")
    sel, body = data[:10], bytes.fromhex(data[10:])
    by_tokens: dict[tuple[frozenset[str], str, int], str] = {}
    for p, m in markets.items():  # (tokens, kind, v3 fee tier or 0) -> pool
        key = frozenset((_lower(m.base.address), _lower(m.quote.address)))
        by_tokens.setdefault((key, m.kind, m.fee if m.kind == "v3" else 0), p)
    try:
        if sel == _EXECUTOR and to in routers:
            token_in, route, amount, _, _ = decode(
                ["address", "address[]", "uint256", "uint256", "uint256"], body
            )
            pool = _lower(route[0]) if route else ""
            return (pool, _lower(token_in), amount) if pool in markets else None
        if sel == _V2_ROUTER and to in routers:
            amount, _, path, _, _ = decode(
                ["uint256", "uint256", "address[]", "address", "uint256"], body
            )
            pair = (
                by_tokens.get((frozenset((_lower(path[0]), _lower(path[1]))), "v2", 0))
                if len(path) > 1
                else None
            )
            return (pair, _lower(path[0]), amount) if pair else None
        if sel == _V3_SINGLE and to in routers:
            (t_in, t_out, fee, _, _, amount, _, _), = decode(
                ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"], body)  # fmt: skip
            hit = by_tokens.get((frozenset((_lower(t_in), _lower(t_out))), "v3", fee))
            return (hit, _lower(t_in), amount) if hit else None
        if sel == _V3_POOL and to in markets:
            _, zero_for_one, amount, _, _ = decode(
                ["address", "bool", "int256", "uint160", "bytes"], body
            )
            m = markets[to]
            token0, token1 = sorted(
                (_lower(m.base.address), _lower(m.quote.address)), key=lambda a: int(a, 16)
            )
            return (to, token0 if zero_for_one else token1, amount) if amount > 0 else None
    except Exception:  # malformed calldata: not a swap we can read
        return None
    return None


class MempoolMonitor:
    """Pending swaps on the pools of ``markets``, sent to ``routers`` or to the pools."""

    def __init__(
        self, w3: AsyncWeb3[Any], markets: list[DexMarket], routers: list[str] | tuple[str, ...]
    ) -> None:
        self.w3 = w3
        self.markets = {_lower(m.pool): m for m in markets}
        self.routers = {_lower(r) for r in routers}
        self.pending: dict[str, PendingSwap] = {}
        self._filter: str | None = None

    async def _rpc(self, method: str, params: list[Any]) -> Any:
        resp = await self.w3.provider.make_request(method, params)
        if "error" in resp:
            raise RuntimeError(f"{method}: {resp['error']}")
        return resp["result"]

    async def poll(self) -> list[PendingSwap]:
        """New pending swaps since the last poll (priced), and drop those mined meanwhile."""
        if self._filter is None:
            self._filter = await self._rpc("eth_newPendingTransactionFilter", [])
        hashes = await self._rpc("eth_getFilterChanges", [self._filter])
        found = []
        for h in hashes:
            tx = await self._rpc("eth_getTransactionByHash", [h])
            if tx is None or tx.get("blockNumber"):
                continue
            hit = decode_swap(tx, self.markets, self.routers)
            if hit is None:
                continue
            swap = await self._priced(
                PendingSwap(hexstr(h), _lower(tx["from"]), _lower(tx["to"]), *hit)
            )
            self.pending[swap.tx_hash] = swap
            found.append(swap)
        await self._prune()
        return found

    async def _priced(self, swap: PendingSwap) -> PendingSwap:
        m = self.markets[swap.pool]
        block = int(await self.w3.eth.block_number)
        snap = await read_pool(self.w3, m.pool, m.kind, m.fee, block, words=4)
        token0 = min(_lower(m.base.address), _lower(m.quote.address), key=lambda a: int(a, 16))
        try:
            fill = amm_fill(
                snap.state, swap.amount_in, swap.token_in == token0, AmmFillRule(0.999999)
            )
        except (ValueError, ArithmeticError):
            return replace(swap, impact=1.0)  # it would drain the pool
        return replace(swap, impact=fill.price_impact)

    async def _prune(self) -> None:
        for h in list(self.pending):
            tx = await self._rpc("eth_getTransactionByHash", [h])
            if tx is None or tx.get("blockNumber"):
                del self.pending[h]

    def impact(self, pool: str) -> float:
        """The largest price impact of a pending swap on ``pool`` (0 when none)."""
        values = [s.impact for s in self.pending.values() if s.pool == _lower(pool)]
        return max(values, default=0.0)
