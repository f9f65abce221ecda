"""DEX venue tests: one anvil per session with the contract tests' world (real Uniswap V2/V3
bytecode, our executor), a hot key granted the executor role, a snapshot per test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from eth_account import Account

from live.chain.dex_conf import DexVenueConfig, load_dex_venue
from live.chain.keys import LocalSigner
from tests.contracts.chain_env import Anvil, GasRecorder, World, build_world

HOT_KEY = "0x" + "5e" * 32  # a test-only key, generated here: never a real account


@dataclass
class DexWorld:
    """The contract world plus the hot key and the venue's config files."""

    anvil: Anvil
    world: World
    signer: LocalSigner
    conf_dir: Path
    tokens_dir: Path

    def config(self, name: str = "anvil_dex", **overrides: object) -> DexVenueConfig:
        return load_dex_venue(name, conf_dir=self.conf_dir, tokens_dir=self.tokens_dir,
                              overrides=overrides)  # fmt: skip

    def rpc(self, method: str, *params: object) -> object:
        resp = self.world.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        assert "error" not in resp, resp
        return resp["result"]


def _write_conf(root: Path, world: World, url: str) -> tuple[Path, Path]:
    tokens, exchange = root / "tokens", root / "exchange"
    tokens.mkdir()
    exchange.mkdir()
    lines = ["chain: anvil", "tokens:"]
    for sym in ("A", "B", "C"):
        lines.append(f"  - {{symbol: {sym}, address: '{world[sym].address}', decimals: 18}}")
    (tokens / "anvil.yaml").write_text("\n".join(lines) + "\n")
    (exchange / "anvil_dex.yaml").write_text(
        f"""name: anvil_dex
kind: dex
chain: anvil
chain_id: 31337
rpc_url: {url}
executor: '{world["executor"].address}'
key_env: GREKKO_TEST_DEX_KEY
confirmations: 2
urgency: normal
wrapped_native: B
markets:
  - {{symbol: A/B, pool: '{world["v3AB"].address}', kind: v3, fee: 3000}}
  - {{symbol: C/B, pool: '{world["uniBC"].address}', kind: v2, fee: 997000}}
"""
    )
    (exchange / "anvil_dex_v2.yaml").write_text(
        (exchange / "anvil_dex.yaml").read_text().replace("name: anvil_dex", "name: anvil_dex_v2")
        .replace(f"pool: '{world['v3AB'].address}', kind: v3, fee: 3000",
                 f"pool: '{world['uniAB'].address}', kind: v2, fee: 997000")
    )  # fmt: skip
    return exchange, tokens


@pytest.fixture(scope="session")
def dex_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DexWorld]:
    anvil = Anvil(tmp_path_factory.mktemp("anvil") / "anvil.log")
    try:
        world = build_world(anvil.w3, GasRecorder())
        account = Account.from_key(HOT_KEY)
        signer = LocalSigner(account.address, account)
        anvil.w3.provider.make_request("anvil_setBalance", [signer.address, hex(10**21)])  # type: ignore[arg-type]
        world.send(world["executor"].functions.setExecutor(signer.address, True))
        conf, tokens = _write_conf(tmp_path_factory.mktemp("dexconf"), world, anvil.url)
        yield DexWorld(anvil, world, signer, conf, tokens)
    finally:
        anvil.stop()


@pytest.fixture
def dex(dex_world: DexWorld) -> Iterator[DexWorld]:
    """The world reverted to its pristine state (and automine back on) after the test."""
    snap = dex_world.rpc("evm_snapshot")
    try:
        yield dex_world
    finally:
        dex_world.rpc("evm_setAutomine", True)
        assert dex_world.rpc("evm_revert", snap), "evm_revert failed"
