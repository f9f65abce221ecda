"""`grekko-live contracts deploy` against the session's anvil, through the real entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from eth_account import Account

from grekko_research.errors import ConfigError
from live.chain.build import REPO_ROOT
from live.chain.contracts import load_artifact
from live.chain.deploy import load_network
from live.chain.keys import load_signer
from tests.contracts.chain_env import V2_FEE, World

MNEMONIC = "test test test test test test test test test test test junk"  # anvil's dev accounts


def _dev_key(index: int) -> str:
    Account.enable_unaudited_hdwallet_features()
    return (
        "0x"
        + bytes(Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}").key).hex()
    )


def _conf(tmp_path: Path, world: World, **over) -> Path:
    conf = {
        "name": "anvil",
        "chain_id": int(world.w3.eth.chain_id),
        "rpc_url": world.w3.provider.endpoint_uri,  # type: ignore[attr-defined]
        "key_env": "GREKKO_DEPLOYER_KEY",
        "owner": world.other.address,
        "executors": [world.bot.address],
        "aave_pool": world["aave"].address,
        "balancer_vault": world["vault"].address,
        "pools": [
            {"address": world["uniAB"].address, "kind": "v2", "v2_fee_numerator": V2_FEE},
            {"address": world["v3AB"].address, "kind": "v3"},
        ],
    } | over
    (tmp_path / "anvil.yaml").write_text(yaml.safe_dump(conf))
    return tmp_path


def _run(conf_dir: Path, out: Path, key: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "GREKKO_DEPLOYER_KEY"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["COLUMNS"] = "200"
    if key is not None:
        env["GREKKO_DEPLOYER_KEY"] = key
    code = "from live.cli import main; main()"
    args = [
        "contracts",
        "deploy",
        "--network",
        "anvil",
        "--conf-dir",
        str(conf_dir),
        "--out",
        str(out),
    ]
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_deploy_from_config_never_shows_the_key(world: World, tmp_path: Path) -> None:
    key = _dev_key(5)
    deployer = Account.from_key(key).address
    out = tmp_path / "out.json"
    proc = _run(_conf(tmp_path, world), out, key)
    assert proc.returncode == 0, proc.stderr
    for text in (proc.stdout, proc.stderr, out.read_text()):
        assert key not in text and key[2:] not in text
    result = json.loads(out.read_text())
    assert result["deployer"] == deployer and result["pending_owner"] == world.other.address
    ex = world.w3.eth.contract(
        address=result["contracts"]["GrekkoTradeExecutor"],
        abi=load_artifact("GrekkoTradeExecutor").abi,
    )
    arb = world.w3.eth.contract(
        address=result["contracts"]["FlashLoanArbitrage"],
        abi=load_artifact("FlashLoanArbitrage").abi,
    )
    assert ex.functions.owner().call() == deployer
    assert ex.functions.pendingOwner().call() == world.other.address
    assert ex.functions.isExecutor(world.bot.address).call()
    assert ex.functions.pools(world["uniAB"].address).call()[:2] == [1, V2_FEE]
    assert arb.functions.pools(world["v3AB"].address).call()[0] == 2
    assert arb.functions.AAVE_POOL().call() == world["aave"].address
    assert "GrekkoTradeExecutor" in proc.stdout and "gas" in proc.stdout


def test_deploy_fails_closed(world: World, tmp_path: Path) -> None:
    key = _dev_key(5)
    deployer = Account.from_key(key).address
    nonce = world.w3.eth.get_transaction_count(deployer)
    proc = _run(_conf(tmp_path, world), tmp_path / "o.json", None)
    assert proc.returncode == 1 and "GREKKO_DEPLOYER_KEY" in proc.stderr
    proc = _run(_conf(tmp_path, world, chain_id=1), tmp_path / "o.json", key)
    assert proc.returncode == 1 and "chain id 31337" in proc.stderr, proc.stderr
    assert key[2:] not in proc.stdout + proc.stderr
    assert world.w3.eth.get_transaction_count(deployer) == nonce  # nothing was sent
    assert not (tmp_path / "o.json").exists()


def test_network_config_errors_name_file_and_key(tmp_path: Path) -> None:
    base = {"chain_id": 1, "rpc_url": "http://127.0.0.1:1", "key_env": "K"}
    cases = [
        ({"owner": "0x12"}, "owner"),
        ({"pools": [{"address": "0x" + "11" * 20, "kind": "v4"}]}, "pools[0].kind"),
        ({"pools": [{"address": "0x" + "11" * 20, "kind": "v2"}]}, "v2_fee_numerator"),
        ({"chain_id": "one"}, "chain_id"),
        ({"rpc_url_env": "GREKKO_NO_SUCH_URL"}, "GREKKO_NO_SUCH_URL"),
        ({"typo": 1}, "unknown keys ['typo']"),
    ]
    for over, needle in cases:
        (tmp_path / "n.yaml").write_text(yaml.safe_dump(base | over))
        with pytest.raises(ConfigError, match=r"n\.yaml") as exc:
            load_network("n", conf_dir=tmp_path, environ={})
        assert needle in str(exc.value)
    with pytest.raises(ConfigError, match="known: n"):
        load_network("mainnet", conf_dir=tmp_path)
    assert load_network("anvil").chain_id == 31337  # the committed configs load
    assert load_network("ethereum", environ={"GREKKO_ETHEREUM_RPC_URL": "https://x"}).chain_id == 1


def test_key_loading_errors_never_show_the_key() -> None:
    with pytest.raises(ConfigError, match="set K"):
        load_signer(key_env="K", environ={})
    with pytest.raises(ConfigError, match="environment variable K") as exc:
        load_signer(key_env="K", environ={"K": "0xnot-a-key-but-secret"})
    assert "not-a-key" not in str(exc.value)
    signer = load_signer(key_env="K", environ={"K": _dev_key(5)})
    assert _dev_key(5)[2:] not in repr(signer)
