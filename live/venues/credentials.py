"""Venue API credentials: read from the environment (or the OS keyring), never shown.

Lookup for venue ``binance`` (the name upper-cased, anything but letters and digits as ``_``)::

    GREKKO_BINANCE_API_KEY, GREKKO_BINANCE_API_SECRET [, GREKKO_BINANCE_API_PASSWORD]

then, for what the environment lacks and only if the optional ``keyring`` package is installed,
the keyring entries (read by :func:`live.secrets.keyring_secret`, the one keyring reader) of
service ``"grekko"`` with usernames ``"binance:api_key"``,
``"binance:api_secret"`` and ``"binance:api_password"``. The password (passphrase) is asked
for only when the exchange requires one (ccxt's ``requiredCredentials``).

Secrets never appear in ``repr``/``str`` of :class:`Credentials`, nor in the messages of the
errors raised here (which name the variables to set, not their values). Every
:class:`Credentials` registers its values with the process-wide redactor
(:func:`live.secrets.register_secrets`) when it is built, so logs, tracebacks and venue error
messages mask them from then on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from grekko_research.errors import ConfigError
from live.secrets import keyring_installed, keyring_secret, register_secrets

__all__ = ["KEYRING_SERVICE", "Credentials", "env_names", "load_credentials"]

KEYRING_SERVICE = "grekko"
"""Service name of Grekko's entries in the OS keyring."""

_PARTS = ("api_key", "api_secret", "api_password")


@dataclass(frozen=True, slots=True)
class Credentials:
    """An API key, its secret and (on some venues) a password; the values never print.

    ``repr``/``str`` show only which parts are set. ``source`` says where they came from
    (``"env"``, ``"keyring"``, ``"env+keyring"`` or ``"given"``).
    """

    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    password: str | None = field(default=None, repr=False)
    source: str = "given"

    def __repr__(self) -> str:
        password = "set" if self.password else "unset"
        return (
            f"Credentials(api_key=***, api_secret=***, password={password}, source={self.source!r})"
        )

    __str__ = __repr__

    def __post_init__(self) -> None:
        register_secrets(self.api_key, self.api_secret, self.password)

    def ccxt_config(self) -> dict[str, str]:
        """The ccxt constructor entries (``apiKey``, ``secret``, ``password``)."""
        config = {"apiKey": self.api_key, "secret": self.api_secret}
        if self.password:
            config["password"] = self.password
        return config

    def secrets(self) -> tuple[str, ...]:
        """The secret strings, for scrubbing messages."""
        return tuple(s for s in (self.api_key, self.api_secret, self.password) if s)


def env_names(venue: str) -> tuple[str, str, str]:
    """The environment variables holding ``venue``'s key, secret and password."""
    prefix = "GREKKO_" + re.sub(r"[^A-Z0-9]", "_", venue.upper())
    return (f"{prefix}_API_KEY", f"{prefix}_API_SECRET", f"{prefix}_API_PASSWORD")


def _needs_password(venue: str) -> bool:
    import ccxt

    cls = getattr(ccxt, venue, None)  # the sync class: building it opens no session
    if cls is None:
        return False
    return bool(cls().requiredCredentials.get("password", False))


def load_credentials(
    venue: str,
    *,
    environ: Mapping[str, str] | None = None,
    use_keyring: bool = True,
    need_password: bool | None = None,
) -> Credentials:
    """Return ``venue``'s credentials from the environment, else from the keyring.

    Parameters
    ----------
    venue
        Venue name as given to :func:`live.venues.registry.make_venue` (``"binance"``).
    environ
        Mapping to read instead of ``os.environ`` (tests).
    use_keyring
        Whether to fall back to the ``keyring`` package when it is installed.
    need_password
        Whether a password is required; by default, when ccxt's class of that id requires one.

    Raises
    ------
    ConfigError
        If a required part is found nowhere; the message names the variables and keyring
        entries to set, never a value.
    """
    env = os.environ if environ is None else environ
    names = env_names(venue)
    found: dict[str, str] = {}
    sources: set[str] = set()
    for part, name in zip(_PARTS, names, strict=True):
        value = env.get(name, "")
        if value:
            found[part] = value
            sources.add("env")
    keyring = use_keyring and keyring_installed()
    if keyring:
        for part in _PARTS:
            if part in found:
                continue
            # The one keyring reader: a locked or absent backend reads as a missing entry.
            stored = keyring_secret(KEYRING_SERVICE, f"{venue}:{part}")
            if stored:
                found[part] = stored
                sources.add("keyring")
    required = ["api_key", "api_secret"]
    if _needs_password(venue) if need_password is None else need_password:
        required.append("api_password")
    missing = [part for part in required if part not in found]
    if missing:
        where = ", ".join(names[_PARTS.index(part)] for part in missing)
        hint = (
            f" or keyring service {KEYRING_SERVICE!r} entries "
            + ", ".join(f"'{venue}:{part}'" for part in missing)
            if keyring
            else " (the keyring package is not installed, so only the environment is read)"
        )
        raise ConfigError(f"no {venue} API credentials: set {where}{hint}")
    return Credentials(
        found["api_key"],
        found["api_secret"],
        found.get("api_password"),
        source="+".join(sorted(sources, key=("env", "keyring").index)),
    )
