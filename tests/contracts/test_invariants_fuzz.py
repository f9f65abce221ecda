"""Hypothesis over amounts, price gaps and routes, on the real pools (anvil snapshot per example).

Invariants (issue 17 item 5):

- the executor never ends with less than it started except through owner withdrawals: a swap
  either reverts (nothing moves) or takes at most ``amountIn`` of the input token, delivers at
  least ``minOut`` of the output token and leaves every other balance (ETH included) alone; on a
  cyclic route with the bot's rule ``minOut = amountIn`` its balance never falls;
- the arbitrage never completes with a profit below ``minProfit``, and on V2 routes the profit is
  exactly the one Uniswap's formula gives, less the lender's fee.

The default run keeps the suite fast (``FUZZ_EXAMPLES`` each); ``-m exhaustive`` runs
``EXHAUSTIVE_EXAMPLES``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from live.chain.contracts import ContractRevert
from tests.contracts.chain_env import E18, FAR_FUTURE, FUZZ_STATS, World, v2_out

FUZZ_EXAMPLES = 100
EXHAUSTIVE_EXAMPLES = 2_000

TOKENS = ("A", "B", "C", "FOT", "RTK")
OTHER_PAIR = {"uniAB": ("A", "B"), "sushiAB": ("A", "B"), "v3AB": ("A", "B"), "uniBC": ("B", "C")}
# (tokenIn, route); the last ones are cyclic
ROUTES = [
    ("A", ["uniAB"]), ("B", ["uniAB"]), ("A", ["v3AB"]), ("B", ["v3AB"]), ("A", ["sushiAB"]),
    ("A", ["uniAB", "uniBC"]), ("A", ["v3AB", "uniBC"]), ("C", ["uniBC", "sushiAB"]),
    ("A", ["uniAB", "sushiAB"]), ("A", ["sushiAB", "uniAB"]), ("A", ["v3AB", "sushiAB"]),
    ("A", ["sushiAB", "v3AB"]), ("B", ["uniAB", "v3AB"]), ("A", ["uniAB", "uniBC", "uniBC", "v3AB"]),
]  # fmt: skip

_SETTINGS = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}


@contextmanager
def _isolated(world: World) -> Iterator[None]:
    snap = world.snapshot()
    try:
        yield
    finally:
        world.revert(snap)


def _end_token(token: str, route: list[str]) -> str:
    for pool in route:
        a, b = OTHER_PAIR[pool]
        token = b if token == a else a
    return token


gaps = st.lists(
    st.tuples(
        st.sampled_from(["uniAB", "sushiAB", "v3AB", "uniBC"]), st.booleans(), st.integers(1, 300)
    ),
    max_size=2,
)


def _make_gaps(world: World, moves: list[tuple[str, bool, int]]) -> None:
    """Another trader moves prices first: ``size`` tenths of a percent of the pool's depth."""
    hook, world.client.on_receipt = world.client.on_receipt, None  # not the bot's gas
    try:
        for pool, forward, size in moves:
            a, b = OTHER_PAIR[pool]
            tin = a if forward else b
            amount = size * 2 * E18
            fn = world["mover"].functions.swapExactIn(
                world[tin].address, [world[pool].address], amount, 1, FAR_FUTURE
            )
            world.send(fn, world.other)
    finally:
        world.client.on_receipt = hook


def _balances(world: World, holder: str) -> dict[str, int]:
    out = {t: world.balance(t, holder) for t in TOKENS}
    out["ETH"] = world.w3.eth.get_balance(holder)
    return out


def _check_executor_swap(world: World, moves, pick: int, amount: int, min_permille: int) -> None:
    token_in, route = ROUTES[pick]
    token_out = _end_token(token_in, route)
    cyclic = token_out == token_in
    ex = world["executor"]
    _make_gaps(world, moves)
    fn = ex.functions.swapExactIn(
        world[token_in].address, [world[p].address for p in route], amount, 1, FAR_FUTURE
    )
    if cyclic:
        min_out = amount  # the bot's rule for a round trip: never end with less
    else:
        try:
            quote = fn.call({"from": world.bot.address})
        except Exception:
            quote = amount
        min_out = max(1, quote * min_permille // 1000)
    fn = ex.functions.swapExactIn(
        world[token_in].address, [world[p].address for p in route], amount, min_out, FAR_FUTURE
    )
    before = _balances(world, ex.address)
    stats = FUZZ_STATS["executor never loses"]
    stats["examples"] += 1
    # the hot key (and anyone but the owner) has no way out: withdrawals revert
    for who in (world.bot, world.attacker):
        with pytest.raises(ContractRevert):
            world.send(
                ex.functions.withdrawToken(world[token_in].address, who.address, amount), who
            )
    assert _balances(world, ex.address) == before
    try:
        world.send(fn, world.bot)
    except ContractRevert as e:
        stats[f"reverted {e.error}"] += 1
        assert _balances(world, ex.address) == before
        return
    stats["swapped"] += 1
    after = _balances(world, ex.address)
    if cyclic:
        assert after[token_in] >= before[token_in]  # the invariant itself
    else:
        assert before[token_in] - amount <= after[token_in] <= before[token_in]
        assert after[token_out] - before[token_out] >= min_out
    for t in (*TOKENS, "ETH"):
        if t not in (token_in, token_out):
            assert after[t] == before[t], t


@settings(max_examples=FUZZ_EXAMPLES, **_SETTINGS)
@given(moves=gaps, pick=st.integers(0, len(ROUTES) - 1), amount=st.integers(1, 60 * E18),
       min_permille=st.integers(0, 1100))  # fmt: skip
def test_executor_never_ends_with_less(world: World, moves, pick, amount, min_permille) -> None:
    with _isolated(world):
        _check_executor_swap(world, moves, pick, amount, min_permille)


@pytest.mark.exhaustive
@settings(max_examples=EXHAUSTIVE_EXAMPLES, **_SETTINGS)
@given(moves=gaps, pick=st.integers(0, len(ROUTES) - 1), amount=st.integers(1, 60 * E18),
       min_permille=st.integers(0, 1100))  # fmt: skip
def test_executor_never_ends_with_less_exhaustive(
    world: World, moves, pick, amount, min_permille
) -> None:
    with _isolated(world):
        _check_executor_swap(world, moves, pick, amount, min_permille)


ARB_ROUTES = [(t, r) for t, r in ROUTES if t == "A" and _end_token(t, r) == "A"]


def _expected_v2(world: World, amount: int, route: list[str]) -> int | None:
    token, out = "A", amount
    for pool in route:
        if pool.startswith("v3"):
            return None
        rin, rout = world.reserves(pool, token)
        out = v2_out(out, rin, rout)
        token = "B" if token == "A" else "A"
    return out


def _check_arbitrage(
    world: World, moves, pick: int, amount: int, min_profit: int, lender: str
) -> None:
    _, route = ARB_ROUTES[pick]
    arb = world["arb"]
    _make_gaps(world, moves)
    expected = _expected_v2(world, amount, route)
    fee = (amount * 5 + 5_000) // 10_000 if lender == "Aave" else 0
    start = world.balance("A", arb.address)
    fn = getattr(arb.functions, f"arbitrage{lender}")(
        world["A"].address, amount, [world[p].address for p in route], min_profit
    )
    stats = FUZZ_STATS["arbitrage profit >= minProfit"]
    stats["examples"] += 1
    try:
        world.send(fn, world.owner)
    except ContractRevert as e:
        stats[f"reverted {e.error}"] += 1
        assert world.balance("A", arb.address) == start
        if expected is not None and e.error == "ProfitTooLow":
            assert expected - amount - fee < min_profit  # it really was not profitable enough
        return
    stats["completed"] += 1
    profit = world.balance("A", arb.address) - start
    assert profit >= min_profit
    if expected is not None:
        assert profit == expected - amount - fee


arb_args = {
    "moves": gaps,
    "pick": st.integers(0, len(ARB_ROUTES) - 1),
    "amount": st.integers(E18 // 1000, 200 * E18),
    "min_profit": st.integers(0, 3 * E18),
    "lender": st.sampled_from(["Aave", "Balancer"]),
}


@settings(max_examples=FUZZ_EXAMPLES, **_SETTINGS)
@given(**arb_args)
def test_arbitrage_never_completes_below_min_profit(
    world: World, moves, pick, amount, min_profit, lender
) -> None:
    with _isolated(world):
        _check_arbitrage(world, moves, pick, amount, min_profit, lender)


@pytest.mark.exhaustive
@settings(max_examples=EXHAUSTIVE_EXAMPLES, **_SETTINGS)
@given(**arb_args)
def test_arbitrage_never_completes_below_min_profit_exhaustive(
    world: World, moves, pick, amount, min_profit, lender
) -> None:
    with _isolated(world):
        _check_arbitrage(world, moves, pick, amount, min_profit, lender)
