"""Deploy GrekkoTradeExecutor and FlashLoanArbitrage to a network described in conf/chain/.

:func:`load_network` turns ``conf/chain/<name>.yaml`` into a frozen :class:`NetworkConfig`
(errors name the file and the key); :func:`deploy` checks the node's chain id against it
(a wrong endpoint fails closed before anything is signed), deploys, grants the executor role,
lists the pools and, when an owner other than the deployer is configured, starts the two-step
ownership transfer.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml  # type: ignore[import-untyped]

from grekko_research.errors import ConfigError
from live.chain.build import REPO_ROOT
from live.chain.contracts import ChainClient, Signer, load_artifact

if TYPE_CHECKING:
    from web3 import Web3

__all__ = [
    "CONF_DIR",
    "DeployResult",
    "NetworkConfig",
    "PoolConfig",
    "connect",
    "deploy",
    "load_network",
]

CONF_DIR = REPO_ROOT / "conf" / "chain"
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
_KINDS = {"v2": 1, "v3": 2}


@dataclass(frozen=True)
class PoolConfig:
    """A pool the contracts may route through."""

    address: str
    kind: str  # "v2" | "v3"
    v2_fee_numerator: int = 0


@dataclass(frozen=True)
class NetworkConfig:
    """One chain to deploy to (``conf/chain/<name>.yaml``)."""

    name: str
    chain_id: int
    rpc_url: str
    key_env: str
    keyring_user: str | None = None
    owner: str | None = None
    executors: tuple[str, ...] = ()
    aave_pool: str | None = None
    balancer_vault: str | None = None
    pools: tuple[PoolConfig, ...] = ()


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise ConfigError(f"{where}: {value!r} is not a 0x-prefixed 20-byte address")
    return value


def _opt_address(value: Any, where: str) -> str | None:
    return None if value is None else _address(value, where)


def _pool(item: Any, where: str) -> PoolConfig:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with address, kind[, v2_fee_numerator]")
    kind = item.get("kind")
    if kind not in _KINDS:
        raise ConfigError(f"{where}.kind: {kind!r} is not one of {sorted(_KINDS)}")
    fee = item.get("v2_fee_numerator", 0)
    if kind == "v2" and not (isinstance(fee, int) and 0 < fee <= 1_000_000):
        raise ConfigError(
            f"{where}.v2_fee_numerator: {fee!r} must be in 1..1000000 (997000 = 0.3 %)"
        )
    if kind == "v3" and fee:
        raise ConfigError(f"{where}.v2_fee_numerator: a v3 pool charges its own fee; leave it out")
    return PoolConfig(_address(item.get("address"), f"{where}.address"), kind, int(fee))


_KNOWN = {
    "name", "chain_id", "rpc_url", "rpc_url_env", "key_env", "keyring_user", "owner",
    "executors", "aave_pool", "balancer_vault", "pools",
}  # fmt: skip


def load_network(
    name: str, *, conf_dir: Path = CONF_DIR, environ: Mapping[str, str] | None = None
) -> NetworkConfig:
    """Read and check ``<conf_dir>/<name>.yaml``."""
    env = os.environ if environ is None else environ
    path = conf_dir / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in conf_dir.glob("*.yaml"))) or "none"
        raise ConfigError(f"no network {name!r}: {path} does not exist (known: {known})")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {unknown} (known: {sorted(_KNOWN)})")
    chain_id = raw.get("chain_id")
    if not isinstance(chain_id, int) or chain_id <= 0:
        raise ConfigError(f"{path}: chain_id: {chain_id!r} must be a positive integer")
    rpc_url = raw.get("rpc_url")
    if raw.get("rpc_url_env"):
        rpc_url = env.get(raw["rpc_url_env"])
        if not rpc_url:
            raise ConfigError(
                f"{path}: rpc_url_env: set the environment variable {raw['rpc_url_env']}"
            )
    if not isinstance(rpc_url, str) or not rpc_url.startswith(("http://", "https://")):
        raise ConfigError(f"{path}: rpc_url: {rpc_url!r} must be an http(s) URL")
    key_env = raw.get("key_env")
    if not isinstance(key_env, str) or not key_env:
        raise ConfigError(
            f"{path}: key_env: name the environment variable holding the deployer key"
        )
    executors = raw.get("executors") or []
    pools = raw.get("pools") or []
    if not isinstance(executors, list) or not isinstance(pools, list):
        raise ConfigError(f"{path}: executors and pools must be lists")
    return NetworkConfig(
        name=str(raw.get("name", name)),
        chain_id=chain_id,
        rpc_url=rpc_url,
        key_env=key_env,
        keyring_user=raw.get("keyring_user"),
        owner=_opt_address(raw.get("owner"), f"{path}: owner"),
        executors=tuple(_address(a, f"{path}: executors[{i}]") for i, a in enumerate(executors)),
        aave_pool=_opt_address(raw.get("aave_pool"), f"{path}: aave_pool"),
        balancer_vault=_opt_address(raw.get("balancer_vault"), f"{path}: balancer_vault"),
        pools=tuple(_pool(p, f"{path}: pools[{i}]") for i, p in enumerate(pools)),
    )


def connect(cfg: NetworkConfig, rpc_url: str | None = None) -> Web3:
    """A web3 connection whose chain id is checked against the config (fails closed)."""
    from web3 import Web3

    url = rpc_url or cfg.rpc_url
    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}, cache_allowed_requests=True))
    try:
        got = int(w3.eth.chain_id)
    except Exception as e:
        raise ConfigError(
            f"network {cfg.name}: no answer from the node ({type(e).__name__})"
        ) from None
    if got != cfg.chain_id:
        raise ConfigError(
            f"network {cfg.name}: the node reports chain id {got}, the config says {cfg.chain_id}"
        )
    return w3


@dataclass
class DeployResult:
    """What :func:`deploy` did: contract addresses and every transaction's gas."""

    network: str
    chain_id: int
    deployer: str
    contracts: dict[str, str] = field(default_factory=dict)
    gas: list[tuple[str, str, int]] = field(default_factory=list)
    pending_owner: str | None = None


def deploy(cfg: NetworkConfig, w3: Web3, signer: Signer) -> DeployResult:
    """Deploy and configure both contracts (the arbitrage one only with a lender)."""
    result = DeployResult(cfg.name, cfg.chain_id, signer.address)
    client = ChainClient(w3, on_receipt=lambda c, f, g: result.gas.append((c, f, g)))
    executor = client.deploy(load_artifact("GrekkoTradeExecutor"), [signer.address], signer)
    result.contracts["GrekkoTradeExecutor"] = executor.address
    targets = [executor]
    if cfg.aave_pool or cfg.balancer_vault:
        zero = "0x" + "00" * 20
        arb = client.deploy(
            load_artifact("FlashLoanArbitrage"),
            [signer.address, cfg.aave_pool or zero, cfg.balancer_vault or zero],
            signer,
        )
        result.contracts["FlashLoanArbitrage"] = arb.address
        targets.append(arb)
    for hot in cfg.executors:
        client.transact(executor.functions.setExecutor(w3.to_checksum_address(hot), True), signer)
    for contract in targets:
        for pool in cfg.pools:
            fn = contract.functions.setPool(
                w3.to_checksum_address(pool.address), _KINDS[pool.kind], pool.v2_fee_numerator
            )
            client.transact(fn, signer)
        if cfg.owner and cfg.owner.lower() != signer.address.lower():
            client.transact(
                contract.functions.transferOwnership(w3.to_checksum_address(cfg.owner)), signer
            )
            result.pending_owner = w3.to_checksum_address(cfg.owner)
    return result
