"""FlashLoanArbitrage with an Aave V3-style pool and a Balancer V2-style vault (our mocks)."""

from __future__ import annotations

import pytest

from live.chain.contracts import ContractRevert
from tests.contracts.chain_env import E18, World, v2_out

PROFITABLE = ["sushiAB", "uniAB"]  # B is 10 % cheaper on the fork: buy it there, sell on Uniswap
UNPROFITABLE = ["uniAB", "sushiAB"]


def _expected_out(world: World, amount: int, route: list[str]) -> int:
    token, out = "A", amount
    for pair in route:
        rin, rout = world.reserves(pair, token)
        out = v2_out(out, rin, rout)
        token = "B" if token == "A" else "A"
    return out


def _arb(world: World, lender: str, amount: int, route: list[str], min_profit: int, signer=None):
    fn = getattr(world["arb"].functions, f"arbitrage{lender}")(
        world["A"].address, amount, [world[p].address for p in route], min_profit
    )
    return world.send(fn, signer or world.owner)


def _reverts(error: str, fn) -> ContractRevert:
    with pytest.raises(ContractRevert) as exc:
        fn()
    assert exc.value.error == error, exc.value
    return exc.value


@pytest.mark.parametrize("premium_bps", [5, 9])
def test_aave_profitable_pays_exactly_the_computed_profit(world: World, premium_bps: int) -> None:
    """Profit = route output - loan - premium, the premium as the pool computes it now."""
    world.send(world["aave"].functions.setPremium(premium_bps))
    arb, amount = world["arb"], 10 * E18
    premium = (amount * premium_bps + 5_000) // 10_000
    assert arb.functions.aavePremium(amount).call() == premium
    profit = _expected_out(world, amount, PROFITABLE) - amount - premium
    assert profit > 0
    lender0 = world.balance("A", world["aave"].address)
    receipt = _arb(world, "Aave", amount, PROFITABLE, profit)  # minProfit = exactly the profit
    assert world.balance("A", arb.address) == profit
    assert world.balance("A", world["aave"].address) == lender0 + premium
    (ev,) = [e for e in world.client.events(receipt) if e.name == "Arbitrage"]
    assert (ev.args["lender"], ev.args["amount"], ev.args["fee"], ev.args["profit"]) == (
        0,
        amount,
        premium,
        profit,
    )


def test_balancer_profitable_pays_exactly_the_computed_profit(world: World) -> None:
    world.send(world["vault"].functions.setFee(2))
    arb, amount = world["arb"], 10 * E18
    fee = amount * 2 // 10_000
    profit = _expected_out(world, amount, PROFITABLE) - amount - fee
    vault0 = world.balance("A", world["vault"].address)
    receipt = _arb(world, "Balancer", amount, PROFITABLE, 1)
    assert world.balance("A", arb.address) == profit
    assert world.balance("A", world["vault"].address) == vault0 + fee
    (ev,) = [e for e in world.client.events(receipt) if e.name == "Arbitrage"]
    assert (ev.args["lender"], ev.args["fee"], ev.args["profit"]) == (1, fee, profit)


@pytest.mark.parametrize("lender", ["Aave", "Balancer"])
def test_unprofitable_or_below_min_profit_reverts(world: World, lender: str) -> None:
    amount = 10 * E18
    _reverts("ProfitTooLow", lambda: _arb(world, lender, amount, UNPROFITABLE, 0))
    fee = (amount * 5 + 5_000) // 10_000 if lender == "Aave" else 0
    profit = _expected_out(world, amount, PROFITABLE) - amount - fee
    err = _reverts("ProfitTooLow", lambda: _arb(world, lender, amount, PROFITABLE, profit + 1))
    assert err.args_ == (profit + amount + fee, profit + 1 + amount + fee)
    assert world.balance("A", world["arb"].address) == 0


@pytest.mark.parametrize("lender", ["Aave", "Balancer"])
def test_only_owner_starts(world: World, lender: str) -> None:
    for who in (world.attacker, world.bot):
        _reverts(
            "OwnableUnauthorizedAccount",
            lambda who=who: _arb(world, lender, E18, PROFITABLE, 0, who),
        )


def test_route_must_be_cyclic_and_listed(world: World) -> None:
    _reverts("RouteNotCyclic", lambda: _arb(world, "Aave", E18, ["uniAB"], 0))
    _reverts("PoolNotListed", lambda: _arb(world, "Aave", E18, ["fake"], 0))


def test_callbacks_check_lender_and_initiator(world: World) -> None:
    arb, a = world["arb"], world["A"].address
    route = [world[p].address for p in PROFITABLE]
    from eth_abi import encode

    plan = encode(["address[]", "uint256"], [route, 0])
    # anyone calling the callbacks directly
    _reverts(
        "UnexpectedLender",
        lambda: world.send(
            arb.functions.executeOperation(a, E18, 0, arb.address, plan), world.attacker
        ),
    )
    _reverts(
        "UnexpectedLender",
        lambda: world.send(arb.functions.receiveFlashLoan([a], [E18], [0], plan), world.attacker),
    )
    # a loan someone else started at the real lenders, naming our contract as the receiver
    aave = world["aave"].functions.flashLoanSimple(arb.address, a, E18, plan, 0)
    err = _reverts("BadInitiator", lambda: world.send(aave, world.attacker))
    assert err.args_ == (world.attacker.address,)
    vault = world["vault"].functions.flashLoan(arb.address, [a], [E18], plan)
    _reverts("NoPendingLoan", lambda: world.send(vault, world.attacker))


def test_owner_withdraws_profit(world: World) -> None:
    _arb(world, "Balancer", 10 * E18, PROFITABLE, 1)
    arb = world["arb"]
    profit = world.balance("A", arb.address)
    _reverts(
        "OwnableUnauthorizedAccount",
        lambda: world.send(
            arb.functions.withdrawToken(world["A"].address, world.attacker.address, profit),
            world.attacker,
        ),
    )
    world.send(arb.functions.withdrawToken(world["A"].address, world.other.address, profit))
    assert world.balance("A", arb.address) == 0
