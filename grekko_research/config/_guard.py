"""Keep secrets out of the configuration: a structural rule, then a net of names and values.

The structural rule: every mapping in a composed configuration is typed. The schema
(:mod:`grekko_research.config.schema`) is made of dataclasses, which Hydra enforces; its few
``dict`` fields each name, in their metadata (``typed_by``), the dataclass their keys belong to
— a strategy's ``Params`` (``strategy.params``, a portfolio sleeve's ``params``), the
``risk`` / ``risk.live`` / ``engine`` sections (a sleeve's overrides) — and
:func:`check_config_tree` checks every key of them against it. So no key that the code does
not declare — ``passphrase``, ``access_token``, ``seed_phrase`` … — can enter a configuration,
whatever its spelling, and reach ``config.yaml``, a tearsheet or MLflow.

The nets, for what is declared (a user's own ``Params`` field, an override, a string value):

- a key that looks like a credential (:func:`looks_like_credential`: ``api_key``, ``apiKey``,
  ``api-key``, ``secret``, ``passphrase``, ``access_token``, ``private_key``, ``mnemonic``,
  ``seed_phrase``, ``password`` …) is refused wherever it is, with a value set;
- a URL with a password in it (``postgresql://user:pw@host/db``) is refused: the database
  clients read the password from their environment (``PGPASSWORD``) or ``~/.pgpass``.

Errors name the key, never the value; :func:`scrub_message` masks the values of such
overrides in Hydra's own messages.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import fields, is_dataclass
from typing import Any
from urllib.parse import urlsplit

from grekko_research.errors import ConfigError

__all__ = [
    "check_config_tree",
    "check_overrides",
    "describe_error",
    "looks_like_credential",
    "scrub_message",
]

SECRETS_HINT = (
    "secrets come from the environment or a keyring (GREKKO_<VENUE>_API_KEY ...), never from "
    "conf/ or overrides"
)

# Normalised (lower case, letters and digits only) key names, or parts of them, that name a
# credential. "token" and "key" alone are too common (tokens, base_token, sort_key): they count
# with a credential-ish word before them.
_CREDENTIAL = re.compile(
    r"secret|passw(or)?d|passphrase|passcode|pwd|^pass$|mnemonic|seedphrase|seedwords"
    r"|recoveryphrase|privkey|privatekey|prvkey|apikey|apisecret|credential|bearer|authorization"
    r"|^auth$|cookie|sessionid|jwt|^otp$|totp|^wif|wif$|xprv|xpriv|keystore|keyfile"
    r"|(access|auth|api|bearer|refresh|session|oauth|csrf|bot|github|gh|slack|telegram"
    r"|discord|personal|client|signing|security|id)tokens?"
    r"|(secret|private|signing|sign|access|wallet|master|encryption|hmac|auth|client|ssh|pgp"
    r"|gpg|account|seed|^api)keys?"
)


def _normal(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


def looks_like_credential(key: object) -> bool:
    """Whether a configuration key names a credential, in any spelling (``apiKey``,
    ``api-key``, ``API_KEY``, ``seed_phrase`` …)."""
    return isinstance(key, str) and _CREDENTIAL.search(_normal(key)) is not None


def _refuse(where: str, what: str) -> ConfigError:
    return ConfigError(f"{where}: {what}; {SECRETS_HINT}")


def _url_password(value: str) -> bool:
    if "://" not in value or "@" not in value:
        return False
    try:
        return bool(urlsplit(value.strip()).password)
    except ValueError:
        return False


def _nets(tree: Any, path: str) -> None:
    """The name and value nets over a plain tree (dicts, lists, scalars)."""
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            here = f"{path}.{key}" if path else str(key)
            if looks_like_credential(key) and value not in (None, "", {}, []):
                raise _refuse(here, "looks like a credential")
            _nets(value, here)
    elif isinstance(tree, list | tuple):
        for i, value in enumerate(tree):
            _nets(value, f"{path}[{i}]")
    elif isinstance(tree, str) and _url_password(tree):
        raise _refuse(
            path, "a URL with a password (set the password in the client's environment, "
            "e.g. PGPASSWORD, or ~/.pgpass)",
        )  # fmt: skip


def _unknown(where: str, keys: Sequence[str], known: Sequence[str]) -> ConfigError:
    creds = [k for k in keys if looks_like_credential(k)]
    if creds:
        return _refuse(
            f"{where}.{creds[0]}", "not a configuration key (it looks like a credential)"
        )
    return ConfigError(f"{where}: unknown key(s) {sorted(keys)}; known: {sorted(known)}")


def _check_section(values: Any, section: Any, where: str) -> None:
    """Keys (and value types) of a partial override of a schema section."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a mapping of {section.__name__} keys")
    names = [f.name for f in fields(section)]
    unknown = [str(k) for k in values if k not in names]
    if unknown:
        raise _unknown(where, unknown, names)
    flat = {k: v for k, v in values.items() if not isinstance(v, Mapping)}
    try:
        OmegaConf.merge(_structured(section), flat)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", None) or getattr(exc, "key", None) or "?"
        raise ConfigError(f"{where}.{key}: {str(exc).splitlines()[0]}") from None
    hints = _hints(section)
    for key, value in values.items():
        if isinstance(value, Mapping):
            child = hints[str(key)]
            if not is_dataclass(child):
                raise ConfigError(f"{where}.{key}: a value, not a mapping")
            _check_section(value, child, f"{where}.{key}")


@functools.cache
def _structured(section: Any) -> Any:
    """The OmegaConf node of a schema section, built once (merging never changes it)."""
    from omegaconf import OmegaConf

    return OmegaConf.structured(section)


def _check_params(values: Any, name: Any, where: str, seen: dict[str, Any]) -> None:
    """A strategy's params against its ``Params`` dataclass (names, types, bounds)."""
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where}: expected a mapping of parameters")
    if isinstance(name, str) and name.startswith("models:/"):
        if values:
            raise ConfigError(f"{where}: a promoted model trades its own parameters: drop params")
        return
    from grekko_research.strategy import get_strategy

    strategy = seen.get(str(name))
    if strategy is None:  # looked up once per check (finding entry points is slow)
        strategy = seen[str(name)] = get_strategy(str(name))
    try:
        strategy.params(dict(values))
    except ConfigError as exc:
        creds = [k for k in values if looks_like_credential(k)]
        if creds:
            raise _refuse(
                f"{where}.{creds[0]}", "not a parameter (it looks like a credential)"
            ) from None
        raise ConfigError(f"{where}: {exc}") from None


def _check_fixed(values: Mapping[str, Any], name: Any, seen: dict[str, Any]) -> None:
    """``optimize.fixed`` against the strategy's search space, one parameter at a time."""
    if isinstance(name, str) and name.startswith("models:/"):
        raise ConfigError("optimize.fixed: a promoted model is not swept: drop optimize.fixed")
    from grekko_research.optimize.space import check_fixed
    from grekko_research.strategy import get_strategy

    strategy = seen.get(str(name))
    if strategy is None:
        strategy = seen[str(name)] = get_strategy(str(name))
    check_fixed(strategy, values)  # a credential-like key never gets here (_nets)


def _typed(
    kind: str, value: Any, parent: Mapping[str, Any], where: str, seen: dict[str, Any]
) -> None:
    from grekko_research.config.schema import EngineSection, RiskSection

    if kind == "strategy_params":
        _check_params(value, parent.get("name"), where, seen)
    elif kind == "risk_overrides":
        _check_section(value, RiskSection, where)
    elif kind == "engine_overrides":
        _check_section(value, EngineSection, where)
    elif kind == "sweep_fixed":  # names and values checked against the strategy's space
        if not isinstance(value, Mapping):  # by check_config_tree, which knows the strategy
            raise ConfigError(f"{where}: expected a mapping of parameters")
    else:  # a schema field naming a type this module does not know: a bug, not bad input
        raise TypeError(f"{where}: unknown typed_by {kind!r} in the schema")


def _structure(tree: Any, schema: Any, where: str, seen: dict[str, Any]) -> None:
    """Every key of ``tree`` is a field of ``schema``; ``typed_by`` dicts checked by their type."""
    if not (is_dataclass(schema) and isinstance(tree, Mapping)):
        return
    by_name = {f.name: f for f in fields(schema)}
    unknown = [str(k) for k in tree if k not in by_name]
    if unknown:
        raise _unknown(where or "config", unknown, list(by_name))
    hints = _hints(schema)
    for key, value in tree.items():
        f = by_name[str(key)]
        here = f"{where}.{key}" if where else str(key)
        kind = f.metadata.get("typed_by")
        if kind is not None:
            _typed(kind, value, tree, here, seen)
            continue
        hint = hints[f.name]
        item = _list_item(hint)
        if item is not None and isinstance(value, list):
            for i, element in enumerate(value):
                _structure(element, item, f"{here}[{i}]", seen)
        elif is_dataclass(hint):
            _structure(value, hint, here, seen)


def _hints(schema: Any) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(schema)


def _list_item(hint: Any) -> Any:
    import typing

    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint)
        return item if is_dataclass(item) else None
    return None


def check_config_tree(tree: Any) -> None:
    """Refuse a composed configuration (plain dicts and lists) that could carry a secret.

    Raises
    ------
    ConfigError
        Naming the key (never its value): a key that looks like a credential anywhere, a URL
        with a password, a key that no schema declares inside a typed mapping (a strategy's
        params, a sleeve's ``risk``/``engine`` overrides), a parameter its strategy refuses.
    """
    from grekko_research.config.schema import GrekkoConfig

    if not isinstance(tree, Mapping):
        raise ConfigError(f"the configuration must be a mapping, got {type(tree).__name__}")
    _nets(tree, "")
    seen: dict[str, Any] = {}
    _structure(tree, GrekkoConfig, "", seen)
    fixed = (tree.get("optimize") or {}).get("fixed")
    if fixed:  # optimize.fixed: parameters of the strategy the sweep searches
        _check_fixed(fixed, (tree.get("strategy") or {}).get("name"), seen)
    tokens = tree.get("tokens") or {}
    for i, token in enumerate(tokens.get("tokens") or []):
        address = token.get("address") if isinstance(token, Mapping) else None
        if address is not None and not _ADDRESS.fullmatch(str(address)):
            raise ConfigError(
                f"tokens.tokens[{i}].address: not a token address (0x + 40 hex digits, or a "
                "base58 mint of 32-44 characters); a key or a seed never goes in conf/"
            )


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}|[1-9A-HJ-NP-Za-km-z]{32,44}")


def _override_parts(override: str) -> tuple[str, str] | None:
    key, sep, value = override.partition("=")
    if not sep:
        return None
    return key.lstrip("+~").strip(), value


def check_overrides(overrides: Sequence[str]) -> None:
    """Refuse command-line overrides that set a credential-looking key, before Hydra (whose
    messages would repeat the value)."""
    for override in overrides:
        parts = _override_parts(override)
        if parts is None:
            continue
        key, value = parts
        for piece in re.split(r"[.\[\]]", key):
            if looks_like_credential(piece) and value.strip() not in ("", "null", "~"):
                raise _refuse(key, "looks like a credential")
        for found in re.finditer(r"([A-Za-z_][\w-]*)\s*:", value):
            if looks_like_credential(found[1]):
                raise _refuse(f"{key}.{found[1]}", "looks like a credential")


def scrub_message(message: str, overrides: Sequence[str]) -> str:
    """``message`` with the values of credential-looking overrides masked."""
    for override in overrides:
        parts = _override_parts(override)
        if parts is None or not parts[1]:
            continue
        key, value = parts
        if looks_like_credential(key) or any(
            looks_like_credential(m[1]) for m in re.finditer(r"([A-Za-z_][\w-]*)\s*:", value)
        ) or _url_password(value):  # fmt: skip
            message = message.replace(value, "***")
    return message


def describe_error(exc: BaseException, overrides: Sequence[str]) -> str:
    """One line for a Hydra/OmegaConf error: what is wrong and the key, never a secret value.

    Hydra's composition errors put the detail (``Key 'x' not in 'DataConfig'``) on the second
    line; an unknown key that looks like a credential gets the secrets message instead.
    """
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    found = re.search(r"full_key: (\S+)", text)
    key = getattr(exc, "full_key", None) or (found[1] if found else None)
    if key and any(looks_like_credential(p) for p in re.split(r"[.\[\]]", str(key))):
        return f"{key}: not a configuration key (it looks like a credential); {SECRETS_HINT}"
    first = lines[0] if lines else type(exc).__name__
    skip = ("full_key:", "reference_type=", "object_type=")
    detail = next((line for line in lines[1:] if not line.startswith(skip)), "")
    if detail and first.endswith(":"):
        first = f"{first} {detail}"
    return scrub_message(first, overrides)
