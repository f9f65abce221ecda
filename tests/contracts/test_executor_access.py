"""GrekkoTradeExecutor's roles: owner (two-step), executor, pause; withdrawal rules."""

from __future__ import annotations

import pytest

from live.chain.contracts import ContractRevert
from tests.contracts.chain_env import E18, FAR_FUTURE, V2, V2_FEE, World


def _swap(world: World, amount: int = E18, min_out: int = 1):
    ex = world["executor"]
    return ex.functions.swapExactIn(
        world["A"].address, [world["uniAB"].address], amount, min_out, FAR_FUTURE
    )


def _reverts(error: str, world: World, fn, signer) -> None:
    with pytest.raises(ContractRevert) as exc:
        world.send(fn, signer)
    assert exc.value.error == error, exc.value


def test_only_executor_swaps(world: World) -> None:
    for who in (
        world.attacker,
        world.owner,
    ):  # the owner is not an executor unless it grants itself
        _reverts("NotExecutor", world, _swap(world), who)
    world.send(_swap(world), world.bot)


def test_revoked_executor_cannot_swap(world: World) -> None:
    world.send(world["executor"].functions.setExecutor(world.bot.address, False))
    _reverts("NotExecutor", world, _swap(world), world.bot)


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w["executor"].functions.setExecutor(w.attacker.address, True),
        lambda w: w["executor"].functions.setPool(w["fake"].address, V2, V2_FEE),
        lambda w: w["executor"].functions.unpause(),
        lambda w: w["executor"].functions.withdrawToken(w["A"].address, w.attacker.address, 1),
        lambda w: w["executor"].functions.withdrawETH(w.attacker.address, 1),
        lambda w: w["executor"].functions.transferOwnership(w.attacker.address),
    ],
    ids=["setExecutor", "setPool", "unpause", "withdrawToken", "withdrawETH", "transferOwnership"],
)
@pytest.mark.parametrize("who", ["bot", "attacker"])
def test_owner_only(world: World, call, who: str) -> None:
    _reverts("OwnableUnauthorizedAccount", world, call(world), getattr(world, who))


def test_pause_stops_swaps_executor_may_pause_only_owner_unpauses(world: World) -> None:
    ex = world["executor"]
    _reverts("NotExecutor", world, ex.functions.pause(), world.attacker)
    world.send(ex.functions.pause(), world.bot)
    _reverts("EnforcedPause", world, _swap(world), world.bot)
    _reverts("OwnableUnauthorizedAccount", world, ex.functions.unpause(), world.bot)
    world.send(ex.functions.unpause(), world.owner)
    world.send(_swap(world), world.bot)


def test_two_step_ownership_and_no_renounce(world: World) -> None:
    ex = world["executor"]
    _reverts("RenounceDisabled", world, ex.functions.renounceOwnership(), world.owner)
    world.send(ex.functions.transferOwnership(world.other.address), world.owner)
    assert ex.functions.owner().call() == world.owner.address  # not yet: pending
    _reverts("OwnableUnauthorizedAccount", world, ex.functions.acceptOwnership(), world.attacker)
    world.send(ex.functions.acceptOwnership(), world.other)
    assert ex.functions.owner().call() == world.other.address
    _reverts("OwnableUnauthorizedAccount", world, ex.functions.unpause(), world.owner)


def test_owner_withdraws_tokens_and_eth_even_when_paused(world: World) -> None:
    ex, a = world["executor"], world["A"]
    world.w3.eth.send_transaction({"from": world.other.address, "to": ex.address, "value": 3 * E18})
    world.send(ex.functions.pause(), world.bot)
    before = world.balance("A", world.other.address)
    receipt = world.send(ex.functions.withdrawToken(a.address, world.other.address, 40 * E18))
    assert world.balance("A", world.other.address) - before == 40 * E18
    assert world.balance("A", ex.address) == 60 * E18
    ev = world.client.events(receipt)
    assert [(e.name, e.args["token"], e.args["amount"]) for e in ev if e.address == ex.address] == [
        ("Withdrawn", a.address, 40 * E18)
    ]
    eth_before = world.w3.eth.get_balance(world.other.address)
    world.send(ex.functions.withdrawETH(world.other.address, 2 * E18))
    assert world.w3.eth.get_balance(world.other.address) - eth_before == 2 * E18
    assert world.w3.eth.get_balance(ex.address) == E18
    _reverts(
        "ZeroAddress",
        world,
        ex.functions.withdrawToken(a.address, "0x" + "00" * 20, 1),
        world.owner,
    )


def test_executor_never_withdraws(world: World) -> None:
    """The hot key has no path to move funds out: withdrawals are owner-only, swaps pay here."""
    ex = world["executor"]
    _reverts(
        "OwnableUnauthorizedAccount",
        world,
        ex.functions.withdrawToken(world["A"].address, world.bot.address, 1),
        world.bot,
    )
    _reverts(
        "OwnableUnauthorizedAccount",
        world,
        ex.functions.withdrawETH(world.bot.address, 0),
        world.bot,
    )
    # a pool it is not allowed to list cannot be used to send funds away
    fake = world["fake"].address
    fn = ex.functions.swapExactIn(world["A"].address, [fake], E18, 1, FAR_FUTURE)
    _reverts("PoolNotListed", world, fn, world.bot)
