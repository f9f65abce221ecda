"""Venue credentials read the keyring through the one keyring reader
(``live.secrets.keyring_secret``), with the behaviour they always had: the environment first,
the keyring for what it lacks, a broken backend or a missing package as no entry."""

from __future__ import annotations

import sys
import types

import pytest

import live.venues.credentials as credentials
from grekko_research.errors import ConfigError
from live.secrets import keyring_installed
from live.venues import load_credentials

KEY = "key-0123456789abcdef"


def test_the_keyring_is_read_by_the_one_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []

    def reader(service: str, user: str) -> str | None:
        calls.append((service, user))
        return "secret-from-the-reader" if user == "kraken:api_secret" else None

    monkeypatch.setattr(credentials, "keyring_secret", reader)
    monkeypatch.setattr(credentials, "keyring_installed", lambda: True)
    creds = load_credentials("kraken", environ={"GREKKO_KRAKEN_API_KEY": KEY}, need_password=False)
    assert (creds.api_key, creds.api_secret, creds.source) == (
        KEY,
        "secret-from-the-reader",
        "env+keyring",
    )
    # The environment wins: only the parts it lacks are asked for.
    assert calls == [("grekko", "kraken:api_secret"), ("grekko", "kraken:api_password")]
    calls.clear()
    load_credentials("kraken", environ={"GREKKO_KRAKEN_API_KEY": KEY, "GREKKO_KRAKEN_API_SECRET":
                     "env-secret-123"}, need_password=False, use_keyring=False)  # fmt: skip
    assert calls == []  # use_keyring=False reads nothing


def test_without_the_keyring_package_only_the_environment_is_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "keyring", None)  # import keyring -> ImportError
    assert not keyring_installed()
    with pytest.raises(ConfigError, match="keyring package is not installed"):
        load_credentials("binance", environ={}, need_password=False)


def test_a_keyring_value_fills_the_part_through_the_reader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = {("grekko", "binance:api_key"): KEY, ("grekko", "binance:api_secret"): "s3cret-value"}
    fake = types.ModuleType("keyring")
    fake.get_password = lambda service, user: store.get((service, user))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", fake)
    assert keyring_installed()
    creds = load_credentials("binance", environ={}, need_password=False)
    assert (creds.api_key, creds.api_secret, creds.source) == (KEY, "s3cret-value", "keyring")
    assert "s3cret-value" not in repr(creds)
