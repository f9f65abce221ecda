"""Typed DEX configuration: the shipped chains load; every mistake is named by file and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from grekko_research.config import compose_config
from grekko_research.errors import ConfigError
from live.chain.dex_conf import EXCHANGE_DIR, load_dex_venue, load_tokens

ENV = {
    "GREKKO_ETHEREUM_RPC_URL": "https://eth.example/KEY",
    "GREKKO_ETHEREUM_PRIVATE_RPC_URL": "https://rpc.flashbots.example",
    "GREKKO_POLYGON_RPC_URL": "https://polygon.example",
    "GREKKO_BSC_RPC_URL": "https://bsc.example",
}


@pytest.mark.parametrize(("name", "chain", "poa", "eip1559", "native"), [
    ("uniswap_ethereum", "ethereum", False, True, "ETH"),
    ("uniswap_polygon", "polygon", True, True, "MATIC"),
    ("pancakeswap_bsc", "bsc", True, False, "BNB"),
])  # fmt: skip
def test_the_shipped_venues_load(
    name: str, chain: str, poa: bool, eip1559: bool, native: str
) -> None:
    cfg = load_dex_venue(name, environ=ENV)
    assert (cfg.chain, cfg.poa, cfg.eip1559, cfg.native_symbol) == (chain, poa, eip1559, native)
    assert not cfg.infinite_approvals and cfg.replacement_bump >= 0.10
    tokens = load_tokens(chain)
    for m in cfg.markets:
        assert m.base == tokens[m.base.symbol] and m.quote == tokens[m.quote.symbol]
    assert (cfg.private_rpc_url is not None) == (name == "uniswap_ethereum")


def test_the_token_lists_are_hydra_options() -> None:
    """conf/tokens/<chain>.yaml has the tokens group's typed shape: it composes."""
    for chain in ("ethereum", "polygon", "bsc"):
        cfg = compose_config([f"tokens={chain}"])
        assert cfg.tokens.chain == chain
        assert {t.symbol for t in cfg.tokens.tokens} == set(load_tokens(chain))


def _copy(tmp_path: Path, name: str, **changes: object) -> Path:
    doc = yaml.safe_load((EXCHANGE_DIR / f"{name}.yaml").read_text())
    for k, v in changes.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(doc))
    return tmp_path


@pytest.mark.parametrize(("changes", "words"), [
    ({"kind": "cex"}, "kind: dex"),
    ({"sandbox": True}, "unknown keys ['sandbox']"),
    ({"executor": "0x1234"}, "executor: '0x1234' is not a 0x-prefixed"),
    ({"replacement_bump": 0.05}, "replacement_bump"),
    ({"slippage_bps": 50}, "slippage_bps: the swap limits are the run's risk spec now; set "
     "risk.dex.slippage_bps"),
    ({"deadline_s": 60}, "risk.dex.deadline_s"),
    ({"urgency": "asap"}, "urgency"),
    ({"approvals": "unlimited"}, "approvals"),
    ({"confirmations": 0}, "confirmations"),
    ({"wrapped_native": "WAVAX"}, "wrapped_native"),
    ({"markets": [{"symbol": "WETH/DOGE", "pool": "0x" + "1" * 40, "kind": "v3", "fee": 500}]},
     "token 'DOGE' is not in the chain's token list"),
    ({"markets": [{"symbol": "WETH/USDC", "pool": "0x" + "1" * 40, "kind": "v4", "fee": 500}]},
     "markets[0].kind"),
    ({"markets": []}, "markets: list at least one"),
    ({"key_env": None}, "key_env"),
])  # fmt: skip
def test_mistakes_are_named(tmp_path: Path, changes: dict[str, object], words: str) -> None:
    conf = _copy(tmp_path, "uniswap_ethereum", **changes)
    with pytest.raises(ConfigError) as err:
        load_dex_venue("uniswap_ethereum", conf_dir=conf, environ=ENV)
    assert words in str(err.value) and "uniswap_ethereum.yaml" in str(err.value)


def test_secrets_come_from_the_environment_only() -> None:
    env = {k: v for k, v in ENV.items() if "PRIVATE" not in k}
    with pytest.raises(ConfigError, match="GREKKO_ETHEREUM_PRIVATE_RPC_URL") as err:
        load_dex_venue("uniswap_ethereum", environ=env)
    assert "rpc.flashbots" not in str(err.value)
    with pytest.raises(ConfigError, match="set the environment variable GREKKO_POLYGON_RPC_URL"):
        load_dex_venue("uniswap_polygon", environ={})
