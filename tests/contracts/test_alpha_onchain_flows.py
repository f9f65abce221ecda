"""On-chain flows (issue 23): the web3 connector reads a real token's Transfer logs from anvil.

A TestToken (OpenZeppelin ERC-20) is deployed on the session's anvil; wallets deposit to and
withdraw from an address labelled as an exchange, and one whale moves a large amount. The
download reads the logs in small block chunks, resumes from its cursor, and keeps exactly the
exchange-touching and large transfers with their block times.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from grekko_research.alpha.connectors.base import RateLimiter, download
from grekko_research.alpha.connectors.onchain import FlowRules, OnchainFlows, TokenSpec
from grekko_research.alpha.store import AltKey, AltStore
from live.chain.contracts import load_artifact
from tests.contracts.chain_env import Anvil

E6 = 10**6


def _send(w3: Any, fn: Any, sender: str) -> int:
    receipt = w3.eth.wait_for_transaction_receipt(fn.transact({"from": sender}))
    assert receipt["status"] == 1
    return int(receipt["blockNumber"])


def test_flows_from_anvil_logs(anvil: Anvil, tmp_path: Path) -> None:
    w3 = anvil.w3
    deployer, alice, bob, exchange, whale, other = w3.eth.accounts[:6]
    art = load_artifact("TestToken", test=True)
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(
        factory.constructor("Tether USD", "USDT").transact({"from": deployer})
    )
    token = w3.eth.contract(address=receipt["contractAddress"], abi=art.abi)
    first = int(receipt["blockNumber"])
    # TestToken has 18 decimals; amounts below are in whole tokens
    _send(w3, token.functions.mint(alice, 5_000 * 10**18), deployer)
    _send(w3, token.functions.mint(whale, 2_000_000 * 10**18), deployer)
    deposit = _send(w3, token.functions.transfer(exchange, 1_200 * 10**18), alice)
    _send(w3, token.functions.transfer(bob, 10 * 10**18), alice)  # small, no exchange: dropped
    _send(w3, token.functions.transfer(bob, 400 * 10**18), exchange)  # a withdrawal
    _send(w3, token.functions.transfer(other, 1_500_000 * 10**18), whale)  # whale move

    rules = FlowRules(labels={exchange.lower(): "binance-hot"}, min_amount=1_000_000)
    spec = {"USDT": TokenSpec(receipt["contractAddress"], 18, start_block=first)}
    store = AltStore(tmp_path)
    limiter = RateLimiter(0.0)

    def connector() -> OnchainFlows:
        return OnchainFlows(spec, rules=rules, rpc_url=anvil.url, chunk=2, confirmations=0)

    # stop after two chunks (4 blocks), then resume from the cursor
    report = download(connector(), ["USDT"], store, now_ms=lambda: 0, limiter=limiter, max_pages=2)
    assert not report.entities["USDT"]["complete"]
    assert int(report.entities["USDT"]["cursor"]) == first + 4  # resumes after the 4 blocks read
    report = download(connector(), ["USDT"], store, now_ms=lambda: 0, limiter=limiter)
    assert report.entities["USDT"]["complete"]
    rows = store.read(AltKey("onchain", "USDT")).sort_values("block")
    # the mints come from the zero address: the whale's 2M mint is large, alice's is not
    assert rows["amount"].tolist() == [2_000_000.0, 1_200.0, 400.0, 1_500_000.0]
    assert rows["direction"].tolist() == [0.0, 1.0, -1.0, 0.0]
    assert rows["exchange"].tolist() == ["", "binance-hot", "binance-hot", ""]
    dep = rows[rows["direction"] == 1.0].iloc[0]
    block = w3.eth.get_block(deposit)
    assert int(dep["block"]) == deposit
    assert dep["published_ms"] == int(block["timestamp"]) * 1000
    assert dep["from"] == alice.lower() and dep["to"] == exchange.lower()
    assert int(store.cursor(AltKey("onchain", "USDT")) or 0) == w3.eth.block_number + 1
    # a rerun finds nothing new and duplicates nothing
    again = download(connector(), ["USDT"], store, now_ms=lambda: 0, limiter=limiter)
    assert again.entities["USDT"]["added"] == 0 and again.entities["USDT"]["rows"] == 4


def test_unknown_token_is_named(anvil: Anvil) -> None:
    from grekko_research.errors import ConfigError

    flows = OnchainFlows({}, rpc_url=anvil.url)
    with pytest.raises(ConfigError, match="no token 'DOGE' configured"):
        flows.fetch("DOGE", since=None, token=None)
