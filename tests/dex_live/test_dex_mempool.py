"""The mempool monitor on anvil with automine off, and the gate refusing into a pending swap."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_abi import encode

from grekko_research.risk.spec import DexRisk, RiskSpec
from live.chain.dex_conf import DexMarket
from live.chain.mempool import MempoolMonitor, decode_swap
from live.chain.pools import selector
from live.events import EventStore
from live.orders import FillReport, Rejected
from live.venues.base import OrderRequest
from live.venues.dex import DexVenue, connect_async
from tests.dex_live.conftest import DexWorld

E18 = 10**18


def _pending_swap(dex: DexWorld, amount: int) -> str:
    """Another trader's executor sells ``amount`` A into the V3 pool: sent, not mined."""
    w = dex.world
    mover = w["mover"]
    data = mover.encode_abi(
        "swapExactIn", args=[w["A"].address, [w["v3AB"].address], amount, 1, 2**40]
    )
    return "0x" + bytes(w.w3.eth.send_transaction(
        {"from": w.other.address, "to": mover.address, "data": data, "gas": 500_000})).hex()  # fmt: skip


def test_the_gate_refuses_to_trade_into_a_large_pending_swap(dex: DexWorld, tmp_path: Path) -> None:
    config = dex.config(confirmations=1)
    w3 = connect_async(dex.anvil.url)
    monitor = MempoolMonitor(w3, list(config.markets), [dex.world["mover"].address])
    risk = RiskSpec(dex=DexRisk(slippage_bps=50, pending_swap_impact=0.01))
    venue = DexVenue(config, dex.signer, EventStore.open(tmp_path / "l.sqlite"), clock=lambda: 0,
                     risk=risk, w3=w3, monitor=monitor)  # fmt: skip

    async def go() -> dict[str, Any]:
        await venue.start()
        try:
            await monitor.poll()  # the filter starts here
            dex.rpc("evm_setAutomine", False)
            small = _pending_swap(dex, 1 * E18)
            seen_small = await monitor.poll()
            big = _pending_swap(dex, 800 * E18)
            refused = await venue.submit(OrderRequest("x1", "A/B", "sell", Decimal(1)))
            pending = dict(monitor.pending)
            dex.rpc("evm_mine")  # both land; nothing pending any more
            dex.rpc("evm_setAutomine", True)
            passed = await venue.submit(OrderRequest("x2", "A/B", "sell", Decimal(1)))
            return {"small": small, "big": big, "seen_small": seen_small, "refused": refused,
                    "pending": pending, "passed": passed, "after": dict(monitor.pending)}  # fmt: skip
        finally:
            await venue.close()

    r = run_it(go())
    assert [s.tx_hash for s in r["seen_small"]] == [r["small"]]
    assert r["seen_small"][0].impact < 0.01  # a small swap does not block
    big = r["pending"][r["big"]]
    assert big.pool == dex.world["v3AB"].address.lower() and big.amount_in == 800 * E18
    assert big.token_in == dex.world["A"].address.lower() and big.impact > 0.01
    assert isinstance(r["refused"][0], Rejected) and "pending_swap" in r["refused"][0].reason
    assert isinstance(r["passed"][-1], FillReport)
    assert r["after"] == {}


def run_it(coro: Any) -> Any:
    return asyncio.run(coro)


def test_router_and_pool_calls_decode() -> None:
    """Uniswap V2 Router, V3 SwapRouter and direct V3 pool swaps on watched pools decode to
    (pool, token in, amount in); other pools, routers and calls do not."""
    from live.chain.dex_conf import Token

    t0 = Token("USDC", "0x" + "11" * 20, 6)
    t1 = Token("WETH", "0x" + "22" * 20, 18)
    v2, v3, router = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "cc" * 20
    markets = {v2: DexMarket("WETH/USDC", t1, t0, v2, "v2", 997000),
               v3: DexMarket("WETH/USDC", t1, t0, v3, "v3", 500)}  # fmt: skip
    routers = {router}
    v2_call = selector("swapExactTokensForTokens(uint256,uint256,address[],address,uint256)") + encode(
        ["uint256", "uint256", "address[]", "address", "uint256"], [5, 1, [t1.address, t0.address], router, 9]).hex()  # fmt: skip
    assert decode_swap({"to": router, "input": v2_call}, markets, routers) == (v2, t1.address, 5)
    single = selector(
        "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
    )
    v3_call = single + encode(["(address,address,uint24,address,uint256,uint256,uint256,uint160)"],
                              [(t0.address, t1.address, 500, router, 9, 7, 1, 0)]).hex()  # fmt: skip
    assert decode_swap({"to": router, "input": v3_call}, markets, routers) == (v3, t0.address, 7)
    wrong_fee = single + encode(["(address,address,uint24,address,uint256,uint256,uint256,uint160)"],
                                [(t0.address, t1.address, 3000, router, 9, 7, 1, 0)]).hex()  # fmt: skip
    assert decode_swap({"to": router, "input": wrong_fee}, markets, routers) is None
    pool_call = selector("swap(address,bool,int256,uint160,bytes)") + encode(
        ["address", "bool", "int256", "uint160", "bytes"], [router, False, 3, 0, b""]).hex()  # fmt: skip
    assert decode_swap({"to": v3, "input": pool_call}, markets, routers) == (v3, t1.address, 3)
    assert decode_swap({"to": "0x" + "dd" * 20, "input": v2_call}, markets, routers) is None
    assert decode_swap({"to": router, "input": "0xdeadbeef"}, markets, routers) is None
