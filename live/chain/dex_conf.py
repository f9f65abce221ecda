"""Typed DEX configuration: tokens per chain (``conf/tokens/<chain>.yaml``) and a DEX venue
(``conf/exchange/dex/<name>.yaml`` with ``kind: dex``: a folder of its own, because
``conf/exchange/*.yaml`` are the Hydra group of the CEX venues' typed ``ExchangeConfig``; the
token lists have the Hydra ``tokens`` group's shape, so ``tokens=ethereum`` composes too).

A token list names each token's address and decimals on one chain; a DEX venue names its
chain (id, RPC URL from the environment, POA middleware, EIP-1559 or legacy gas, confirmations,
an optional private submission endpoint), the executor contract that holds the funds, the hot
key's environment variable or keyring entry, and its markets: ``BASE/QUOTE`` symbols each routed
through one listed pool. Secrets (RPC URLs usually embed a provider key) come from the
environment only; every error names the file and the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from grekko_research.errors import ConfigError
from live.chain.build import REPO_ROOT

__all__ = [
    "EXCHANGE_DIR",
    "TOKENS_DIR",
    "URGENCY",
    "DexMarket",
    "DexVenueConfig",
    "Token",
    "load_dex_venue",
    "load_tokens",
]

TOKENS_DIR = REPO_ROOT / "conf" / "tokens"
EXCHANGE_DIR = REPO_ROOT / "conf" / "exchange" / "dex"
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
URGENCY = ("low", "normal", "high")
"""Fee urgencies: the priority-fee percentile of recent blocks each one pays (see fees.py)."""


@dataclass(frozen=True)
class Token:
    """An ERC-20 on one chain."""

    symbol: str
    address: str
    decimals: int


@dataclass(frozen=True)
class DexMarket:
    """``BASE/QUOTE`` traded through one pool: ``kind`` v2 (``fee_numerator`` of 1,000,000 kept
    by the pair's formula: 997000 = 0.3 %) or v3 (``fee`` the pool's tier in pips)."""

    symbol: str
    base: Token
    quote: Token
    pool: str
    kind: str
    fee: int  # v3: fee tier in pips; v2: numerator out of 1_000_000

    @property
    def base_is_token0(self) -> bool:
        """Uniswap orders a pool's tokens by address."""
        return int(self.base.address, 16) < int(self.quote.address, 16)


@dataclass(frozen=True)
class DexVenueConfig:
    """One DEX venue: a chain, an executor, a hot key, markets and execution settings."""

    name: str
    chain: str
    chain_id: int
    rpc_url: str
    executor: str
    key_env: str
    markets: tuple[DexMarket, ...]
    keyring_user: str | None = None
    private_rpc_url: str | None = None
    private_max_blocks: int = 25
    poa: bool = False
    eip1559: bool = True
    confirmations: int = 1
    urgency: str = "normal"
    replacement_bump: float = 0.125  # >= 0.10: a replacement's fee increase over the original
    infinite_approvals: bool = False
    wrapped_native: str | None = None  # e.g. WETH: prices gas (native) in a market's quote token
    native_symbol: str = "ETH"  # what gas is paid in (the fills' fee asset)

    def market(self, symbol: str) -> DexMarket:
        for m in self.markets:
            if m.symbol == symbol:
                return m
        raise ConfigError(
            f"{self.name}: no market {symbol!r} (known: {', '.join(m.symbol for m in self.markets)})"
        )


def _read(path: Path) -> dict[str, Any]:
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in path.parent.glob("*.yaml"))) or "none"
        raise ConfigError(f"{path} does not exist (known: {known})")
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return raw


def _address(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise ConfigError(f"{where}: {value!r} is not a 0x-prefixed 20-byte address")
    return value


def _int(raw: Mapping[str, Any], key: str, where: Path, lo: int, default: int | None = None) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigError(f"{where}: {key}: {value!r} must be an integer >= {lo}")
    return value


def _bool(raw: Mapping[str, Any], key: str, where: Path, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {key}: {value!r} must be true or false")
    return value


def load_tokens(chain: str, *, conf_dir: Path = TOKENS_DIR) -> dict[str, Token]:
    """The token list of ``chain`` by symbol (``conf/tokens/<chain>.yaml``)."""
    path = conf_dir / f"{chain}.yaml"
    raw = _read(path)
    if raw.get("chain") != chain:
        raise ConfigError(f"{path}: chain: {raw.get('chain')!r} must be {chain!r}")
    items = raw.get("tokens")
    if not isinstance(items, list):
        raise ConfigError(f"{path}: tokens must be a list of {{symbol, address, decimals}}")
    out: dict[str, Token] = {}
    for i, item in enumerate(items):
        where = f"{path}: tokens[{i}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("symbol"), str):
            raise ConfigError(f"{where}: expected a mapping with symbol, address, decimals")
        dec = item.get("decimals")
        if isinstance(dec, bool) or not isinstance(dec, int) or not 0 <= dec <= 36:
            raise ConfigError(f"{where}.decimals: {dec!r} must be an integer in 0..36")
        sym = item["symbol"]
        if sym in out:
            raise ConfigError(f"{where}.symbol: {sym!r} is listed twice")
        out[sym] = Token(sym, _address(item.get("address"), f"{where}.address"), dec)
    return out


def _market(item: Any, where: str, tokens: Mapping[str, Token]) -> DexMarket:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: expected a mapping with symbol, pool, kind, fee")
    symbol = item.get("symbol")
    if not isinstance(symbol, str) or symbol.count("/") != 1:
        raise ConfigError(f"{where}.symbol: {symbol!r} must be BASE/QUOTE")
    base, quote = symbol.split("/")
    for sym in (base, quote):
        if sym not in tokens:
            raise ConfigError(f"{where}.symbol: token {sym!r} is not in the chain's token list")
    kind = item.get("kind")
    if kind not in ("v2", "v3"):
        raise ConfigError(f"{where}.kind: {kind!r} must be v2 or v3")
    fee = item.get("fee")
    if isinstance(fee, bool) or not isinstance(fee, int) or not 0 < fee < 1_000_000:
        raise ConfigError(
            f"{where}.fee: {fee!r} must be the v3 tier in pips (500) or the v2 numerator (997000)"
        )
    pool = _address(item.get("pool"), f"{where}.pool")
    return DexMarket(symbol, tokens[base], tokens[quote], pool, kind, fee)


_KNOWN = {
    "name", "kind", "chain", "chain_id", "rpc_url", "rpc_url_env", "private_rpc_url_env",
    "private_max_blocks", "poa", "eip1559", "confirmations", "executor", "key_env",
    "keyring_user", "urgency", "replacement_bump", "approvals",
    "markets", "wrapped_native", "native_symbol",
}  # fmt: skip


def _rpc(raw: Mapping[str, Any], path: Path, env: Mapping[str, str]) -> str:
    url = raw.get("rpc_url")
    if raw.get("rpc_url_env"):
        url = env.get(raw["rpc_url_env"])
        if not url:
            raise ConfigError(
                f"{path}: rpc_url_env: set the environment variable {raw['rpc_url_env']}"
            )
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "ws://", "wss://")):
        raise ConfigError(f"{path}: rpc_url: must be an http(s) or ws(s) URL")
    return url


# Swap limits that were venue keys: they are the run's risk spec now (one copy of each limit).
_MOVED = {
    "slippage_bps": "risk.dex.slippage_bps",
    "deadline_s": "risk.dex.deadline_s",
    "max_price_impact": "risk.dex.max_price_impact",
    "max_gas_to_notional": "risk.dex.max_gas_to_notional",
}


def _settings(raw: Mapping[str, Any], path: Path) -> dict[str, Any]:
    urgency = raw.get("urgency", "normal")
    if urgency not in URGENCY:
        raise ConfigError(f"{path}: urgency: {urgency!r} must be one of {list(URGENCY)}")
    bump = raw.get("replacement_bump", 0.125)
    if isinstance(bump, bool) or not isinstance(bump, int | float) or not 0.10 <= bump <= 10:
        raise ConfigError(
            f"{path}: replacement_bump: {bump!r} must be in [0.10, 10] (nodes refuse less)"
        )
    approvals = raw.get("approvals", "exact")
    if approvals not in ("exact", "infinite"):
        raise ConfigError(f"{path}: approvals: {approvals!r} must be exact or infinite")
    return {
        "urgency": urgency,
        "replacement_bump": float(bump),
        "infinite_approvals": approvals == "infinite",
        "confirmations": _int(raw, "confirmations", path, 1, 1),
        "private_max_blocks": _int(raw, "private_max_blocks", path, 1, 25),
        "poa": _bool(raw, "poa", path, False),
        "eip1559": _bool(raw, "eip1559", path, True),
    }


def _wrapped(raw: Mapping[str, Any], path: Path, tokens: Mapping[str, Token]) -> str | None:
    value = raw.get("wrapped_native")
    if value is not None and value not in tokens:
        raise ConfigError(f"{path}: wrapped_native: {value!r} is not in the chain's token list")
    return value


def load_dex_venue(
    name: str,
    *,
    conf_dir: Path = EXCHANGE_DIR,
    tokens_dir: Path = TOKENS_DIR,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> DexVenueConfig:
    """Read and check ``<conf_dir>/<name>.yaml`` (``kind: dex``) and its chain's token list.

    ``overrides`` replace top-level keys after reading (a test's anvil URL and executor).
    """
    env = os.environ if environ is None else environ
    path = conf_dir / f"{name}.yaml"
    raw = {**_read(path), **(overrides or {})}
    if raw.get("kind") != "dex":
        raise ConfigError(f"{path}: kind: {raw.get('kind')!r}; a DEX venue says kind: dex")
    moved = sorted(k for k in raw if k in _MOVED)
    if moved:
        raise ConfigError(
            f"{path}: {', '.join(moved)}: the swap limits are the run's risk spec now; set "
            f"{', '.join(_MOVED[k] for k in moved)} (conf/risk, or on the command line) and "
            "remove them here"
        )
    unknown = sorted(set(raw) - _KNOWN)
    if unknown:
        raise ConfigError(f"{path}: unknown keys {unknown} (known: {sorted(_KNOWN)})")
    chain = raw.get("chain")
    if not isinstance(chain, str) or not chain:
        raise ConfigError(f"{path}: chain: name the chain (conf/tokens/<chain>.yaml)")
    tokens = load_tokens(chain, conf_dir=tokens_dir)
    markets = raw.get("markets")
    if not isinstance(markets, list) or not markets:
        raise ConfigError(f"{path}: markets: list at least one {{symbol, pool, kind, fee}}")
    parsed = tuple(_market(m, f"{path}: markets[{i}]", tokens) for i, m in enumerate(markets))
    if len({m.symbol for m in parsed}) != len(parsed):
        raise ConfigError(f"{path}: markets: a symbol is listed twice")
    key_env = raw.get("key_env")
    if not isinstance(key_env, str) or not key_env:
        raise ConfigError(f"{path}: key_env: name the environment variable of the hot key")
    private = None
    if raw.get("private_rpc_url_env"):
        private = env.get(raw["private_rpc_url_env"])
        if not private:
            raise ConfigError(
                f"{path}: private_rpc_url_env: set the environment variable "
                f"{raw['private_rpc_url_env']} (or remove the key to send publicly)"
            )
    return DexVenueConfig(
        name=str(raw.get("name", name)),
        chain=chain,
        chain_id=_int(raw, "chain_id", path, 1),
        rpc_url=_rpc(raw, path, env),
        executor=_address(raw.get("executor"), f"{path}: executor"),
        key_env=key_env,
        keyring_user=raw.get("keyring_user"),
        markets=parsed,
        private_rpc_url=private,
        wrapped_native=_wrapped(raw, path, tokens),
        native_symbol=str(raw.get("native_symbol", "ETH")),
        **_settings(raw, path),
    )
