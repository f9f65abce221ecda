"""Gas of typical calls on warm pools, printed in the terminal summary (docs/contracts.md's table).

Each bound is ~25 % above the measured value: a change that makes a swap much dearer fails
here and has to update the documented numbers. The warm-up trades and the measured calls are
all mined with one block timestamp: a V2 pair writes its two price accumulators (and a V3 pool
an oracle observation) on its first trade in a later second, so a machine slow enough to cross
a second between them used to add ~55,000 gas to a measurement (a fresh-clone run failed on
it: 230,673 for the documented 175,671).
"""

from __future__ import annotations

from tests.contracts.chain_env import E18, FAR_FUTURE, GasRecorder, World

SWAPS = [  # (label, tokenIn, route, bound)
    ("swapExactIn, 1 V2 hop", "A", ["uniAB"], 125_000),
    ("swapExactIn, 1 V3 hop", "A", ["v3AB"], 150_000),
    ("swapExactIn, V3 -> V2 (2 hops)", "A", ["v3AB", "uniBC"], 215_000),
    ("swapExactIn, 3 V2 hops", "A", ["uniAB", "uniBC", "uniBC"], 225_000),
    ("swapExactIn, 1 V2 hop, fee-on-transfer in", "FOT", ["uniFOT"], 135_000),
]
ARBS = [  # (label, lender, route, amount, bound)
    ("arbitrageAave, 2 V2 hops", "Aave", ["sushiAB", "uniAB"], 10 * E18, 265_000),
    ("arbitrageBalancer, 2 V2 hops", "Balancer", ["sushiAB", "uniAB"], 10 * E18, 220_000),
    ("arbitrageAave, V2 -> V3", "Aave", ["sushiAB", "v3AB"], 2 * E18, 265_000),
]


def _same_second(world: World, ts: int) -> None:
    """Mine the next block at ``ts`` (anvil takes a timestamp equal to its parent's)."""
    world.w3.provider.make_request("evm_setNextBlockTimestamp", [ts])  # type: ignore[arg-type]


def _warm(world: World) -> int:
    """Another trader has traded every pool before (the first swap ever pays for cold slots),
    in the second the measured calls are mined in; return that second."""
    ts = int(world.w3.eth.get_block("latest")["timestamp"])
    hook, world.client.on_receipt = world.client.on_receipt, None
    mover = world["mover"]
    for tok, pool in [
        ("A", "uniAB"),
        ("B", "uniBC"),
        ("A", "sushiAB"),
        ("A", "v3AB"),
        ("A", "uniFOT"),
    ]:
        fn = mover.functions.swapExactIn(
            world[tok].address, [world[pool].address], E18 // 100, 1, FAR_FUTURE
        )
        _same_second(world, ts)
        world.send(fn, world.other)
    world.client.on_receipt = hook
    return ts


def test_swap_gas(world: World, gas_recorder: GasRecorder) -> None:
    ts = _warm(world)
    ex = world["executor"]
    for label, tok, route, bound in SWAPS:
        fn = ex.functions.swapExactIn(
            world[tok].address, [world[p].address for p in route], E18, 1, FAR_FUTURE
        )
        _same_second(world, ts)
        gas = int(world.send(fn, world.bot)["gasUsed"])
        gas_recorder.scenarios[label] = gas
        assert gas < bound, (label, gas)


def test_arbitrage_gas(world: World, gas_recorder: GasRecorder) -> None:
    ts = _warm(world)
    arb = world["arb"]
    for label, lender, route, amount, bound in ARBS:
        fn = getattr(arb.functions, f"arbitrage{lender}")(
            world["A"].address, amount, [world[p].address for p in route], 0
        )
        _same_second(world, ts)
        gas = int(world.send(fn, world.owner)["gasUsed"])
        gas_recorder.scenarios[label] = gas
        assert gas < bound, (label, gas)
