"""Fees: EIP-1559 from fee-history percentiles, legacy gas price, the replacement bump."""

from __future__ import annotations

import asyncio

import pytest

from grekko_research.errors import ConfigError
from live.chain.fees import Fees, fees_from_history, suggest_fees
from live.venues.dex import connect_async
from tests.dex_live.conftest import DexWorld

GWEI = 10**9
HISTORY = {
    "baseFeePerGas": [10 * GWEI, 11 * GWEI, 12 * GWEI, 13 * GWEI],  # last: the next block's
    "gasUsedRatio": [0.5, 0.0, 0.9],
    "reward": [[1 * GWEI, 2 * GWEI, 5 * GWEI], [0, 0, 0], [3 * GWEI, 4 * GWEI, 9 * GWEI]],
}


@pytest.mark.parametrize(("urgency", "tip"), [("low", 3), ("normal", 4), ("high", 9)])
def test_the_tip_is_the_urgency_percentile_of_busy_blocks(urgency: str, tip: int) -> None:
    fees = fees_from_history(HISTORY, urgency)
    # the empty block (gasUsedRatio 0, rewards 0) is left out; median of two = the upper one
    assert fees.priority_fee == tip * GWEI
    assert fees.base_fee == 13 * GWEI
    assert fees.max_fee == 2 * 13 * GWEI + tip * GWEI
    assert fees.expected_price() == 13 * GWEI + tip * GWEI


def test_a_floor_and_hex_answers() -> None:
    hexed = {k: [[hex(x) for x in r] if isinstance(r, list) else (hex(r) if k != "gasUsedRatio" else r)
                 for r in v] for k, v in HISTORY.items()}  # fmt: skip
    assert fees_from_history(hexed, "normal") == fees_from_history(HISTORY, "normal")
    assert fees_from_history(HISTORY, "low", min_priority_fee=7 * GWEI).priority_fee == 7 * GWEI
    with pytest.raises(ConfigError, match="no EIP-1559"):
        fees_from_history({"baseFeePerGas": [], "reward": []})
    with pytest.raises(ConfigError, match="urgency"):
        fees_from_history(HISTORY, "asap")


def test_the_replacement_rule_needs_the_bump_on_every_field() -> None:
    old = Fees(max_fee=100, priority_fee=10)
    need = old.bumped(0.10)
    assert (need.max_fee, need.priority_fee) == (110, 11)
    assert Fees(max_fee=110, priority_fee=11).replaces(old)
    assert not Fees(max_fee=109, priority_fee=20).replaces(old)  # max fee 9 % up only
    assert not Fees(max_fee=500, priority_fee=10).replaces(old)  # tip not bumped
    assert Fees(gas_price=111).replaces(Fees(gas_price=100), 0.11)
    assert not Fees(gas_price=110).replaces(Fees(gas_price=100), 0.11)
    assert not Fees(gas_price=1000).replaces(old)  # legacy cannot replace a 1559 tx here
    with pytest.raises(ConfigError, match="refuse less"):
        old.bumped(0.05)
    with pytest.raises(ConfigError):
        Fees(max_fee=1, priority_fee=2)
    with pytest.raises(ConfigError):
        Fees(max_fee=1, priority_fee=1, gas_price=1)


def test_suggestions_from_the_node(dex: DexWorld) -> None:
    async def go() -> tuple[Fees, Fees]:
        w3 = connect_async(dex.anvil.url)
        try:
            return (await suggest_fees(w3, eip1559=True, urgency="high"),
                    await suggest_fees(w3, eip1559=False, urgency="high"))  # fmt: skip
        finally:
            await w3.provider.disconnect()

    eip, legacy = asyncio.run(go())
    base = dex.world.w3.eth.get_block("pending")["baseFeePerGas"]
    assert eip.eip1559 and eip.base_fee == base and eip.max_fee == 2 * base + eip.priority_fee
    price = dex.world.w3.eth.gas_price
    assert legacy.gas_price == -(-price * 5 // 4) and not legacy.eip1559
