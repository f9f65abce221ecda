"""Differential test: our exact V3 math against the official UniswapV3Pool bytecode on anvil.

A fresh 0.05 % pool (the npm ``@uniswap/v3-core`` factory of the contract tests' world) gets
a full-range position and dozens of narrow ones; then a seeded sequence of random swaps
(exact input, exact output, some with a price limit, both directions) runs on chain through a
small probe contract. Our model of the pool is folded from the pool's own logs (Initialize,
Mint) by the dex decoder and then moved only by our own math, so any error would compound;
every swap's amounts, price, tick and liquidity must equal the chain's exactly.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from grekko_research.dex.events import V3Swap, decode_rpc_log
from grekko_research.dex.pool import PoolState
from grekko_research.dex.v3 import MathOverflowError, sqrt_ratio_at_tick
from live.chain.contracts import Artifact, ContractRevert
from tests.contracts.chain_env import World, npm_artifact

pytestmark = pytest.mark.slow

FEE, SPACING = 500, 10
N_SWAPS = 240


def _pool(world: World, rng: random.Random) -> tuple[Any, Any]:
    """A new 0.05 % A/B pool with a full-range and 60 narrow positions; (pool, probe-less)."""
    f, ta, tb = world["v3factory"], world["A"], world["B"]
    world.send(f.functions.createPool(ta.address, tb.address, FEE))
    addr = f.functions.getPool(ta.address, tb.address, FEE).call()
    art = npm_artifact(
        "@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json",
        "UniswapV3Pool",
    )
    pool = world.client.register(art, addr)
    world.send(pool.functions.initialize(sqrt_ratio_at_tick(37) + 987_654_321))
    helper = world["v3mint"]
    full = (887272 // SPACING) * SPACING
    world.send(helper.functions.mint(addr, -full, full, 10**21))
    for _ in range(60):
        lo = rng.randrange(-100, 100) * SPACING
        hi = lo + rng.randrange(1, 20) * SPACING
        world.send(helper.functions.mint(addr, lo, hi, rng.randrange(10**18, 10**21)))
    return pool, addr


def _model(world: World, addr: str, fee: int = FEE) -> PoolState:
    logs = world.w3.eth.get_logs({"address": addr, "fromBlock": 0, "toBlock": "latest"})
    events = [e for e in (decode_rpc_log(lg) for lg in logs) if e is not None]
    assert any(type(e).__name__ == "V3Initialize" for e in events)
    return PoolState.from_events(events, fee)


def _random_swap(rng: random.Random, state: PoolState) -> tuple[bool, int, int | None]:
    # lean back toward the middle so the price keeps crossing the narrow positions
    zfo = rng.random() < (0.9 if state.tick > 300 else 0.1 if state.tick < -300 else 0.5)
    exact_in = rng.random() < 0.6
    size = int(10 ** rng.uniform(18, 20.5 if exact_in else 20.2))
    amount = size if exact_in else -size
    limit = None
    if rng.random() < 0.25:
        step = 1 + rng.uniform(0.0005, 0.02)
        p = state.sqrt_price_x96
        limit = int(p / step) if zfo else int(p * step)
    return zfo, amount, limit


def test_random_swaps_agree_exactly_with_the_contract(
    world: World, probe_artifact: Artifact
) -> None:
    rng = random.Random(20240105)
    pool, addr = _pool(world, rng)
    probe = world.client.deploy(probe_artifact, (), world.owner)
    for t in ("A", "B"):  # enough for any swap the price range allows
        world.send(world[t].functions.mint(world.owner.address, 10**40))
        world.send(world[t].functions.approve(probe.address, 2**256 - 1))
    state = _model(world, addr)
    agreed = crossing = reverts = 0
    for i in range(N_SWAPS):
        zfo, amount, limit = _random_swap(rng, state)
        try:
            ours = state.swap(zfo, amount, limit)
        except MathOverflowError:
            ours = None
        chain_limit = limit if limit is not None else (
            4295128739 + 1 if zfo else 1461446703485210103287273052203988822378723970342 - 1)  # fmt: skip
        call = probe.functions.swap(addr, zfo, amount, chain_limit)
        if ours is None:  # our math refuses: the pool must revert too
            with pytest.raises(ContractRevert):
                world.send(call)
            reverts += 1
            continue
        receipt = world.send(call)
        swaps = [e for e in map(decode_rpc_log, receipt["logs"]) if isinstance(e, V3Swap)]
        assert len(swaps) == 1, f"swap {i}: {len(swaps)} Swap events"
        ev = swaps[0]
        got = (ev.amount0, ev.amount1, ev.sqrt_price_x96, ev.tick, ev.liquidity)
        want = (ours.amount0, ours.amount1, ours.sqrt_price_x96, ours.tick, ours.liquidity)
        assert got == want, f"swap {i} (zfo={zfo}, amount={amount}, limit={limit}): {got} != {want}"
        agreed += 1
        crossing += bool(ours.crossed)
        state.apply_swap(ours)
    # where our math refuses (a zero amount, a limit behind the price), the contract reverts
    for zfo, amount, limit in ((True, 0, None), (False, 0, None),
                               (True, 10**18, state.sqrt_price_x96 + 1),
                               (False, 10**18, state.sqrt_price_x96 - 1)):  # fmt: skip
        with pytest.raises(MathOverflowError):
            state.swap(zfo, amount, limit)
        lim = limit or (
            4295128739 + 1 if zfo else 1461446703485210103287273052203988822378723970342 - 1
        )
        with pytest.raises(ContractRevert):
            world.send(probe.functions.swap(addr, zfo, amount, lim))
        reverts += 1
    slot0 = pool.functions.slot0().call()
    assert (slot0[0], slot0[1]) == (state.sqrt_price_x96, state.tick)
    assert pool.functions.liquidity().call() == state.liquidity
    print(f"\nV3 differential: {agreed} swaps agreed exactly ({crossing} crossed initialised "
          f"ticks), {reverts} refused by both")  # fmt: skip
    assert agreed >= 200
    assert crossing > agreed // 2, f"only {crossing} of {agreed} swaps crossed a tick"


def test_tick_prices_agree_with_the_contract(world: World, probe_artifact: Artifact) -> None:
    """Our price at a tick is the contract's to the last bit: a swap stopped at a limit one
    below our price lands on the tick below, at our price on the tick itself (eth_call each,
    from one state; 400 ticks across the range)."""
    rng = random.Random(7)
    f, ta, tb = world["v3factory"], world["A"], world["B"]
    # the 1 % tier: spacing 200, so a bitmap word spans 51,200 ticks and the node walks few
    world.send(f.functions.createPool(ta.address, tb.address, 10000))
    addr = f.functions.getPool(ta.address, tb.address, 10000).call()
    art = npm_artifact(
        "@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json",
        "UniswapV3Pool",
    )
    pool = world.client.register(art, addr)
    world.send(pool.functions.initialize(2**96))
    world.send(world["v3mint"].functions.mint(addr, -887200, 887200, 10**21))
    probe = world.client.deploy(probe_artifact, (), world.owner)
    for t in ("A", "B"):
        world.send(world[t].functions.mint(world.owner.address, 10**40))
        world.send(world[t].functions.approve(probe.address, 2**256 - 1))
    state = _model(world, addr, 10000)
    owner = world.owner.address
    selector = probe.functions.swapTo(addr, True, 1)._encode_transaction_data()[:10]
    checked = 0
    ticks = [rng.randrange(-300_000, 300_000) for _ in range(394)]
    ticks += [51_200 * k for k in (-5, -3, -1, 1, 2, 4)]  # bitmap word edges
    for n, tick in enumerate(ticks):
        ours = sqrt_ratio_at_tick(tick)
        for limit in (ours - 1, ours):
            if limit == 2**96:
                continue  # the pool's own price: not a valid limit
            zfo = limit < 2**96
            # a swap stopping on a tick's price going down sits on the tick below when the
            # step ended on that tick (a bitmap word edge here): the contract crossed it;
            # otherwise on the greatest tick at or below the price
            want = tick - 1 if limit < ours or (zfo and tick % 51_200 == 0) else tick
            if n % 10 == 0 or tick % 51_200 == 0:  # and our whole swap says the same
                assert state.swap(zfo, 2**127 - 1, limit).tick == want
            # raw eth_call: web3's contract call costs several times the node's own time
            data = selector + addr[2:].lower().rjust(64, "0") + f"{int(zfo):064x}{limit:064x}"
            res = world.w3.provider.make_request("eth_call", [{"from": owner, "to": probe.address,
                                                              "data": data}, "latest"])  # fmt: skip
            out = res["result"][2:]
            price, got = int(out[:64], 16), int(out[64:128], 16)
            got = got - 2**256 if got >= 2**255 else got
            assert (price, got) == (limit, want), f"tick {tick}: limit {limit}"
            checked += 1
    assert checked >= 790
