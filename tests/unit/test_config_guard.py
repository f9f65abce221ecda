"""No secret can enter a configuration: every mapping is typed, credential-looking keys and
password URLs are refused in every group, and the errors name the key, never the value.

A generated list of credential-like keys (many spellings of many words) is put in every place
a key can go — each group, each typed mapping (a strategy's params, a portfolio sleeve's
params / risk spec parts / engine overrides), the items of lists of records (tokens,
sleeves) — through the composed tree, through command-line overrides and through YAML files
of a ``conf/`` folder; each is refused with a message naming the key. The deprecated risk
shape (a sleeve's ``risk.live`` block) is guarded too, through a portfolio of this folder's
own (``conf_deprecated/``): nothing shipped uses that shape any more.
"""

from __future__ import annotations

import copy
import itertools
import re
import shutil
import typing
import warnings
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from grekko_research.config import compose_config, config_dir, to_container
from grekko_research.config._guard import check_config_tree, looks_like_credential
from grekko_research.config.schema import GrekkoConfig
from grekko_research.errors import ConfigError
from grekko_research.risk.spec import RiskConfigDeprecationWarning
from grekko_research.strategy import available_strategies, get_strategy

VALUE = "cnryCFG" + "9f3b2c7d41e0a8b6"  # what a leaked secret would look like

WORDS = [
    "api key", "api secret", "secret", "secret key", "client secret", "passphrase", "password",
    "passwd", "db pwd", "access token", "refresh token", "auth token", "bearer token",
    "api token", "bot token", "github token", "session token", "id token", "private key",
    "priv key", "signing key", "wallet key", "master key", "hmac key", "encryption key",
    "ssh key", "seed phrase", "seed words", "recovery phrase", "mnemonic", "credentials",
    "authorization", "session id", "cookie", "jwt", "totp secret", "wif", "xprv", "keystore",
    "binance api key", "exchange secret", "wallet private key",
]  # fmt: skip


def spellings(words: str) -> list[str]:
    """``api key`` → api_key, apiKey, ApiKey, api-key, API_KEY, apikey, my_api_key, api_key_1."""
    parts = words.split()
    camel = parts[0] + "".join(p.title() for p in parts[1:])
    snake = "_".join(parts)
    return [snake, camel, camel[0].upper() + camel[1:], "-".join(parts), snake.upper(),
            "".join(parts), f"my_{snake}", f"{snake}_1"]  # fmt: skip


CREDENTIAL_KEYS = sorted({s for w in WORDS for s in spellings(w)})


def test_every_spelling_of_a_credential_is_recognised() -> None:
    assert len(CREDENTIAL_KEYS) > 250
    missed = [k for k in CREDENTIAL_KEYS if not looks_like_credential(k)]
    assert missed == []


def _schema_keys(cls: Any, seen: set[str]) -> set[str]:
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        seen.add(f.name)
        hint = hints[f.name]
        args = typing.get_args(hint)
        for t in (hint, *args):
            if is_dataclass(t):
                _schema_keys(t, seen)
    return seen


def test_no_declared_key_looks_like_a_credential() -> None:
    """The net never refuses what the code declares: every schema field and every registered
    strategy's parameter, plus common names that only resemble a credential."""
    keys = _schema_keys(GrekkoConfig, set())
    for name in available_strategies():
        keys |= set(get_strategy(name).params().__dataclass_fields__)
    keys |= {"tokens", "base_token", "quote_token", "token_address", "seed", "key", "sort_key",
             "keys", "passes", "max_tokens", "monkey", "token_symbol"}  # fmt: skip
    assert [k for k in sorted(keys) if looks_like_credential(k)] == []


def test_the_schema_has_no_free_form_mapping() -> None:
    """Structural rule: each ``dict`` field names the type of its keys (``typed_by``); lists
    hold scalars or records (dataclasses); nothing is ``Any`` at the top of a field."""

    def walk(cls: Any, where: str) -> list[str]:
        bad = []
        hints = typing.get_type_hints(cls)
        for f in fields(cls):
            hint, here = hints[f.name], f"{where}.{f.name}"
            origin = typing.get_origin(hint)
            if origin is dict or hint is dict or hint is Any:
                if f.metadata.get("typed_by") is None:
                    bad.append(here)
            elif origin is list:
                (item,) = typing.get_args(hint)
                if is_dataclass(item):
                    bad += walk(item, here + "[]")
                elif item not in (str, int, float, bool):
                    bad.append(here)
            elif is_dataclass(hint):
                bad += walk(hint, here)
        return bad

    assert walk(GrekkoConfig, "config") == []


# -- every place a key can go, in the composed tree -----------------------------------------


# A portfolio in the deprecated risk shape (a sleeve's risk.live block), a test fixture only.
DEPRECATED_CONF = Path(__file__).parent / "conf_deprecated"
SHIPPED, DEPRECATED = "trend_and_reversion", "old_risk_shape"


def compose_portfolio(name: str) -> Any:
    """Compose with the portfolio ``name`` (the deprecated one from :data:`DEPRECATED_CONF`).
    A sleeve's risk keys are applied when a run is planned (warned about then), not here."""
    with pytest.MonkeyPatch.context() as mp:
        if name == DEPRECATED:
            mp.setenv("GREKKO_CONF_DIR", str(DEPRECATED_CONF))
        return compose_config([f"portfolio={name}"])


@pytest.fixture(scope="module", params=[SHIPPED, DEPRECATED])
def tree(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The default configuration with a portfolio and a token: every kind of place filled,
    the sleeves' risk in the spec's shape (shipped) or in the deprecated one."""
    cfg = to_container(compose_portfolio(request.param))
    cfg["tokens"]["tokens"] = [{"symbol": "WETH", "name": "Wrapped Ether", "decimals": 18,
                                "address": "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"}]  # fmt: skip
    check_config_tree(cfg)  # valid as it is
    return cfg


def places(tree: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Paths (tuples of keys / indices) of every mapping in the tree."""
    out: list[tuple[Any, ...]] = []

    def walk(node: Any, path: tuple[Any, ...]) -> None:
        if isinstance(node, dict):
            out.append(path)
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))

    walk(tree, ())
    return out


def _put(tree: dict[str, Any], path: tuple[Any, ...], key: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(tree)
    node: Any = out
    for step in path:
        node = node[step]
    node[key] = value
    return out


def _name(path: tuple[Any, ...], key: str) -> str:
    text = ""
    for step in (*path, key):
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def test_places_cover_every_group(tree: dict[str, Any]) -> None:
    found = {p for p in places(tree)}
    groups = {f.name for f in fields(GrekkoConfig)}
    assert {(g,) for g in groups} <= found
    sleeve = ("portfolio", "strategies")
    for nested in [("strategy", "params"), ("risk", "live"), ("risk", "portfolio", "drawdown"),
                   ("tokens", "tokens", 0), (*sleeve, 0), (*sleeve, 0, "params"),
                   (*sleeve, 0, "risk"), (*sleeve, 2, "risk"), (*sleeve, 0, "engine")]:  # fmt: skip
        assert nested in found
    if tree["portfolio"]["name"] == DEPRECATED:
        assert (*sleeve, 2, "risk", "live") in found
    else:  # the spec's shape: nested parts
        assert {
            (*sleeve, 0, "risk", "portfolio", "drawdown"),
            (*sleeve, 2, "risk", "order"),
        } <= found


def test_credential_keys_are_refused_everywhere(tree: dict[str, Any]) -> None:
    """Every generated spelling, in every mapping of the tree (with the top level): refused,
    naming the key, never showing the value."""
    spots = places(tree)
    tried = 0
    for key, path in itertools.product(CREDENTIAL_KEYS, spots):
        with pytest.raises(ConfigError) as err:
            check_config_tree(_put(tree, path, key, VALUE))
        message = str(err.value)
        assert _name(path, key) in message and "credential" in message, message
        assert VALUE not in message
        tried += 1
    assert tried == len(CREDENTIAL_KEYS) * len(spots) > 5000


def test_the_shipped_portfolio_uses_the_risk_spec_shape() -> None:
    """conf/portfolio/trend_and_reversion.yaml in the spec's shape plans a run without a
    deprecation warning and gives its sleeves the same limits as the deprecated shape did:
    the sma_cross book flattens at a 20 % drawdown, the rsi_mean_reversion risk engine lets
    10 orders through a minute."""
    from live.app import plan_run

    with warnings.catch_warnings():
        warnings.simplefilter("error", RiskConfigDeprecationWarning)
        # Nothing shipped is in the deprecated shape: every risk and portfolio option.
        for group in ("risk", "portfolio"):
            for option in sorted((config_dir() / group).glob("*.yaml")):
                plan_run(compose_config([f"{group}={option.stem}"]), replay=True)
        shipped = plan_run(compose_portfolio(SHIPPED), replay=True).spec
    with pytest.warns(RiskConfigDeprecationWarning) as record:
        old = plan_run(compose_portfolio(DEPRECATED), replay=True).spec
    said = " ".join(str(w.message) for w in record)
    assert "risk.max_drawdown" in said and "risk.live.max_orders" in said
    assert [s.engine for s in shipped.sleeves] == [s.engine for s in old.sleeves]
    assert shipped.sleeves[0].engine.risk.portfolio.drawdown.flatten_at == 0.2
    assert [s.risk.order for s in shipped.sleeves] == [s.risk.order for s in old.sleeves]
    assert shipped.sleeves[2].risk.order.max_orders == 10
    assert [s.risk.portfolio.drawdown.limit for s in shipped.sleeves] == [None] * 3


@pytest.mark.parametrize("key", ["hunter", "wallet", "note", "x"])
def test_an_undeclared_key_is_refused_in_every_typed_mapping(
    tree: dict[str, Any], key: str
) -> None:
    """The structural rule, without the name net: a key nothing declares, in a place Hydra
    does not check (a strategy's params, a sleeve's overrides, a token record)."""
    for path in places(tree):
        with pytest.raises(ConfigError) as err:
            check_config_tree(_put(tree, path, key, 1))
        assert key in str(err.value), (path, str(err.value))


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("live",), ("event_store", f"postgresql://grekko:{VALUE}@db/grekko"), "password"),
        (("optimize",), ("storage", f"mysql://u:{VALUE}@host/optuna"), "password"),
        (("tokens", "tokens", 0), ("address", "0x" + "ab" * 32), "not a token address"),
        (("portfolio", "strategies", 0, "risk"), ("max_drawdown", "lots"), "max_drawdown"),
        (("portfolio", "strategies", 0, "engine"), ("taker_fee", "cheap"), "taker_fee"),
        (("portfolio", "strategies", 0, "params"), ("fast", -3), "fast"),
    ],
)
def test_values_that_carry_a_secret_or_a_bad_type_are_refused(
    tree: dict[str, Any], path: tuple[Any, ...], value: tuple[str, Any], words: str
) -> None:
    with pytest.raises(ConfigError) as err:
        check_config_tree(_put(tree, path, *value))
    assert words in str(err.value) and VALUE not in str(err.value)


# -- through compose: overrides and conf/ files ---------------------------------------------

OVERRIDE_PLACES = [
    "data", "strategy", "strategy.params", "engine", "risk", "risk.live", "exchange", "tokens",
    "experiment", "optimize", "promote", "live", "portfolio", "portfolio.strategies.0",
    "portfolio.strategies.0.params", "portfolio.strategies.0.risk",
    "portfolio.strategies.0.risk.live", "portfolio.strategies.0.engine",
]  # fmt: skip


@pytest.mark.parametrize("place", OVERRIDE_PLACES)
def test_overrides_with_credential_keys_are_refused(place: str) -> None:
    keys = CREDENTIAL_KEYS[OVERRIDE_PLACES.index(place) :: len(OVERRIDE_PLACES)][:4]
    for key in keys:
        for prefix in ("", "+", "++"):
            with pytest.raises(ConfigError) as err:
                compose_config(["portfolio=trend_and_reversion", f"{prefix}{place}.{key}={VALUE}"])
            assert f"{place}.{key}" in str(err.value) and VALUE not in str(err.value)
    with pytest.raises(ConfigError) as err:  # a record given whole, the key inside it
        compose_config([f"+tokens.tokens=[{{symbol: X, {keys[0]}: {VALUE}}}]"])
    assert keys[0] in str(err.value) and VALUE not in str(err.value)


def _conf_copy(tmp_path: Path) -> Path:
    conf = tmp_path / "conf"
    shutil.copytree(config_dir(), conf)
    shutil.copy(DEPRECATED_CONF / "portfolio" / f"{DEPRECATED}.yaml", conf / "portfolio")
    (conf / "tokens" / "weth.yaml").write_text(
        "chain: ethereum\ntokens:\n  - symbol: WETH\n"
        "    address: '0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2'\n    decimals: 18\n"
    )
    return conf


# (group file, path inside it, overrides selecting it)
FILE_PLACES = [
    ("data/btc_1h.yaml", (), []), ("strategy/sma_cross.yaml", (), []),
    ("strategy/sma_cross.yaml", ("params",), []), ("engine/default.yaml", (), []),
    ("risk/conservative.yaml", (), ["risk=conservative"]),
    ("risk/conservative.yaml", ("live",), ["risk=conservative"]),
    ("exchange/binance_spot.yaml", (), []), ("tokens/weth.yaml", (), ["tokens=weth"]),
    ("tokens/weth.yaml", ("tokens", 0), ["tokens=weth"]), ("experiment/default.yaml", (), []),
    ("optimize/default.yaml", (), []), ("promote/default.yaml", (), []),
    ("live/paper.yaml", (), []), ("portfolio/trend_and_reversion.yaml", (), ["portfolio=trend_and_reversion"]),
    ("portfolio/trend_and_reversion.yaml", ("strategies", 1), ["portfolio=trend_and_reversion"]),
    ("portfolio/trend_and_reversion.yaml", ("strategies", 1, "params"), ["portfolio=trend_and_reversion"]),
    ("portfolio/trend_and_reversion.yaml", ("strategies", 0, "risk"), ["portfolio=trend_and_reversion"]),
    ("portfolio/trend_and_reversion.yaml", ("strategies", 0, "risk", "portfolio", "drawdown"), ["portfolio=trend_and_reversion"]),
    ("portfolio/trend_and_reversion.yaml", ("strategies", 2, "risk", "order"), ["portfolio=trend_and_reversion"]),
    ("portfolio/old_risk_shape.yaml", ("strategies", 0, "risk"), ["portfolio=old_risk_shape"]),
    ("portfolio/old_risk_shape.yaml", ("strategies", 2, "risk", "live"), ["portfolio=old_risk_shape"]),
    ("portfolio/trend_and_reversion.yaml", ("strategies", 0, "engine"), ["portfolio=trend_and_reversion"]),
]  # fmt: skip


def test_conf_files_with_credential_keys_are_refused(tmp_path: Path) -> None:
    """A key written into a group's YAML file (where no override check applies): refused by
    Hydra's typed groups or by the typed mappings, naming the key, never the value."""
    conf = _conf_copy(tmp_path)
    compose_config(["tokens=weth", "portfolio=trend_and_reversion"], conf=conf)  # valid copy
    compose_config(["portfolio=old_risk_shape"], conf=conf)  # the deprecated shape: valid
    for i, (name, path, overrides) in enumerate(FILE_PLACES):
        key = CREDENTIAL_KEYS[(i * 37) % len(CREDENTIAL_KEYS)]
        file = conf / name
        original = file.read_text()
        doc = yaml.safe_load(original) or {}
        node: Any = doc
        for step in path:
            node = node.setdefault(step, {}) if isinstance(step, str) else node[step]
        node[key] = VALUE
        file.write_text(yaml.safe_dump(doc))
        try:
            with pytest.raises(ConfigError) as err:
                compose_config(overrides, conf=conf)
        finally:
            file.write_text(original)
        message = str(err.value)
        assert key in message and VALUE not in message, (name, path, message)
        assert re.search(r"credential|secret|not in", message), message
