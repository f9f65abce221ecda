"""GrekkoTradeExecutor.swapExactIn against real Uniswap V2 pairs and a real V3 pool."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector

from live.chain.contracts import ContractRevert
from tests.contracts.chain_env import E18, FAR_FUTURE, V2, V2_FEE, World, npm_artifact, v2_out


def _swap(
    world: World,
    token: str,
    route: list[str],
    amount: int,
    min_out: int,
    deadline: int = FAR_FUTURE,
):
    fn = world["executor"].functions.swapExactIn(
        world[token].address, [world[p].address for p in route], amount, min_out, deadline
    )
    return world.send(fn, world.bot)


def _reverts(error: str, fn) -> ContractRevert:
    with pytest.raises(ContractRevert) as exc:
        fn()
    assert exc.value.error == error, exc.value
    return exc.value


def test_v2_swap_pays_exactly_uniswaps_output_and_emits_event(world: World) -> None:
    ex = world["executor"].address
    want = world.v2_out("uniAB", "A", 10 * E18)
    a0, b0 = world.balance("A", ex), world.balance("B", ex)
    receipt = _swap(world, "A", ["uniAB"], 10 * E18, want)
    assert world.balance("A", ex) == a0 - 10 * E18
    assert world.balance("B", ex) == b0 + want
    assert world["executor"].functions.tokenBalance(world["B"].address).call() == b0 + want
    (ev,) = [e for e in world.client.events(receipt) if e.name == "Swapped"]
    assert ev.args["executor"] == world.bot.address
    assert ev.args["tokenIn"] == world["A"].address and ev.args["tokenOut"] == world["B"].address
    assert (ev.args["amountIn"], ev.args["amountOut"]) == (10 * E18, want)
    assert list(ev.args["route"]) == [world["uniAB"].address]


def test_multi_hop_v2_v3_route(world: World) -> None:
    """A -> B on the V3 pool, B -> C on a V2 pair; the return value is what arrived."""
    ex = world["executor"]
    route = [world["v3AB"].address, world["uniBC"].address]
    fn = ex.functions.swapExactIn(world["A"].address, route, 5 * E18, 1, FAR_FUTURE)
    quoted = fn.call({"from": world.bot.address})
    c0 = world.balance("C", ex.address)
    receipt = world.send(fn, world.bot)
    assert world.balance("C", ex.address) - c0 == quoted > 0
    (ev,) = [e for e in world.client.events(receipt) if e.name == "Swapped"]
    assert ev.args["amountOut"] == quoted and ev.args["tokenOut"] == world["C"].address
    # the V3 leg moved the pool's price: 5 A bought ~2 B each, less the 0.3 % fee and impact
    assert 9.8 * E18 * 1000 // 2000 < quoted < 5 * E18


def test_v3_swap_both_directions(world: World) -> None:
    ex = world["executor"].address
    for tin, tout in (("A", "B"), ("B", "A")):
        before = world.balance(tout, ex)
        _swap(world, tin, ["v3AB"], E18, 1)
        assert world.balance(tout, ex) > before


def test_expired_deadline(world: World) -> None:
    now = world.w3.eth.get_block("latest")["timestamp"]
    _reverts("DeadlineExpired", lambda: _swap(world, "A", ["uniAB"], E18, 1, deadline=now - 1))


def test_min_out_not_met_reverts_and_moves_nothing(world: World) -> None:
    ex = world["executor"].address
    want = world.v2_out("uniAB", "A", 10 * E18)
    a0 = world.balance("A", ex)
    err = _reverts("InsufficientOutput", lambda: _swap(world, "A", ["uniAB"], 10 * E18, want + 1))
    assert err.args_ == (want, want + 1)
    assert world.balance("A", ex) == a0
    _reverts("ZeroMinOut", lambda: _swap(world, "A", ["uniAB"], 10 * E18, 0))
    v3min = (
        world["executor"]
        .functions.swapExactIn(world["A"].address, [world["v3AB"].address], E18, 1, FAR_FUTURE)
        .call({"from": world.bot.address})
    )
    _reverts("InsufficientOutput", lambda: _swap(world, "A", ["v3AB"], E18, v3min + 1))


def test_route_validation(world: World) -> None:
    _reverts("TokenNotInPool", lambda: _swap(world, "C", ["uniAB"], E18, 1))
    _reverts(
        "TokenNotInPool", lambda: _swap(world, "A", ["uniAB", "uniFOT"], E18, 1)
    )  # B into FOT/A
    _reverts("BadRoute", lambda: _swap(world, "A", [], E18, 1))
    _reverts("BadRoute", lambda: _swap(world, "A", ["uniAB", "uniAB"] * 4, E18, 1))
    _reverts("ZeroAmount", lambda: _swap(world, "A", ["uniAB"], 0, 1))


def test_per_pair_fee_numerator(world: World) -> None:
    """The fee numerator listed for a pair is the one the output is computed with."""
    ex = world["executor"]
    world.send(ex.functions.setPool(world["uniAB"].address, V2, 990_000))  # a 1 % fork
    want = world.v2_out("uniAB", "A", 10 * E18, fee=990_000)
    at_uniswap_fee = world.v2_out("uniAB", "A", 10 * E18)
    b0 = world.balance("B", ex.address)
    _swap(world, "A", ["uniAB"], 10 * E18, want)
    assert world.balance("B", ex.address) - b0 == want < at_uniswap_fee
    # Listing a 0.3 % pair as 0.25 % asks it for more than its invariant allows: the pair refuses.
    world.send(ex.functions.setPool(world["uniAB"].address, V2, 997_500))
    err = _reverts("Error", lambda: _swap(world, "A", ["uniAB"], 10 * E18, 1))
    assert err.args_ == ("UniswapV2: K",)
    _reverts("BadFee", lambda: world.send(ex.functions.setPool(world["uniAB"].address, V2, 0)))
    _reverts("BadFee", lambda: world.send(ex.functions.setPool(world["v3AB"].address, 2, 3000)))


def test_fee_on_transfer_token_in_and_out(world: World) -> None:
    """minOut is checked on what the recipient's balance gained, after the token's 1 % fee."""
    ex = world["executor"].address
    amount = 10 * E18
    # FOT in: the pair receives 99 %; the executor sends the full amount.
    r_in, r_out = world.reserves("uniFOT", "FOT")
    want = v2_out(amount * 99 // 100, r_in, r_out)
    a0 = world.balance("A", ex)
    _swap(world, "FOT", ["uniFOT"], amount, want)
    assert world.balance("A", ex) - a0 == want
    # FOT out: the pair sends `gross`, the executor receives 99 % of it.
    r_in, r_out = world.reserves("uniFOT", "A")
    gross = v2_out(amount, r_in, r_out)
    net = gross - gross * 100 // 10_000
    err = _reverts("InsufficientOutput", lambda: _swap(world, "A", ["uniFOT"], amount, gross))
    assert err.args_ == (net, gross)
    f0 = world.balance("FOT", ex)
    _swap(world, "A", ["uniFOT"], amount, net)
    assert world.balance("FOT", ex) - f0 == net


def _selector(sig: str) -> bytes:
    return function_signature_to_4byte_selector(sig)


def test_fake_pool_calling_v3_callback_directly(world: World) -> None:
    """Outside a swap, or from anyone but the pool of the swap in flight, the callback pays nothing."""
    ex = world["executor"]
    a0 = world.balance("A", ex.address)
    for d0, d1 in ((E18, 0), (0, E18), (-1, E18)):
        fn = world["fake"].functions.attack(ex.address, d0, d1)
        _reverts("UnexpectedCallback", lambda fn=fn: world.send(fn, world.attacker))
    _reverts(
        "UnexpectedCallback",
        lambda: world.send(ex.functions.uniswapV3SwapCallback(E18, 0, b""), world.attacker),
    )
    assert world.balance("A", ex.address) == a0


def test_reentrant_token_cannot_reenter(world: World) -> None:
    """A token whose transfer calls back into the executor mid-swap is stopped by the guard."""
    ex, rtk = world["executor"], world["RTK"]
    world.send(ex.functions.setExecutor(rtk.address, True))  # even with the role, reentry fails
    inner = _selector("swapExactIn(address,address[],uint256,uint256,uint256)") + encode(
        ["address", "address[]", "uint256", "uint256", "uint256"],
        [world["A"].address, [world["uniAB"].address], E18, 1, FAR_FUTURE],
    )
    world.send(rtk.functions.arm(ex.address, inner))
    r0 = world.balance("RTK", ex.address)
    _reverts("ReentrancyGuardReentrantCall", lambda: _swap(world, "RTK", ["uniRTK"], E18, 1))
    assert world.balance("RTK", ex.address) == r0
    # the callback during a V2 hop (no V3 swap in flight) is refused too
    cb = _selector("uniswapV3SwapCallback(int256,int256,bytes)") + encode(
        ["int256", "int256", "bytes"], [E18, E18, b""]
    )
    world.send(rtk.functions.arm(ex.address, cb))
    _reverts("UnexpectedCallback", lambda: _swap(world, "RTK", ["uniRTK"], E18, 1))
    # and a withdrawal from inside the token is not the owner's
    wd = _selector("withdrawToken(address,address,uint256)") + encode(
        ["address", "address", "uint256"], [world["A"].address, world.attacker.address, E18]
    )
    world.send(rtk.functions.arm(ex.address, wd))
    _reverts("OwnableUnauthorizedAccount", lambda: _swap(world, "RTK", ["uniRTK"], E18, 1))
    assert world.balance("RTK", ex.address) == r0


def test_a_swap_mined_later_than_its_estimate_still_has_the_gas(world: World) -> None:
    """A V2 pair writes its two price accumulators only when the block's time moved since its
    last update: an estimate made on the latest block's time prices no such write, a block mined
    later pays for both (zero to non-zero: 22,100 gas each on a new pair). The client's gas
    margin covers that; with 1.2x + 10,000 this swap simulated fine and ran out of gas."""
    w3, f, ex = world.w3, world["sushi"], world["executor"]
    tb, tc = world["B"], world["C"]
    world.send(f.functions.createPair(tb.address, tc.address))
    addr = f.functions.getPair(tb.address, tc.address).call()
    pair = world.client.register(
        npm_artifact("@uniswap/v2-core/build/UniswapV2Pair.json", "UniswapV2Pair"), addr
    )
    world.send(ex.functions.setPool(addr, V2, V2_FEE))
    for t in (tb, tc):
        world.send(t.functions.mint(addr, 1_000 * E18))
    world.send(pair.functions.mint(world.owner.address))  # the pair's last update: this block
    assert pair.functions.price0CumulativeLast().call() == 0
    later = w3.eth.get_block("latest")["timestamp"] + 3600
    w3.provider.make_request("evm_setNextBlockTimestamp", [later])  # type: ignore[arg-type]
    fn = ex.functions.swapExactIn(tb.address, [addr], E18, 1, FAR_FUTURE)
    receipt = world.send(fn, world.bot)
    assert w3.eth.get_block(receipt["blockNumber"])["timestamp"] == later
    assert pair.functions.price0CumulativeLast().call() > 0  # the writes the estimate missed
