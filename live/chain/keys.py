"""The deployer's key: from the environment or the OS keyring, never from options or files.

The key is registered with the process-wide secret masker (:mod:`live.secrets`) the moment it
is read, so no log record, traceback or print of this process can show it; the signer's
``repr`` shows only the address.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from grekko_research.errors import ConfigError
from live.secrets import keyring_secret, register_secrets

if TYPE_CHECKING:
    from web3 import Web3

__all__ = ["KEYRING_SERVICE", "LocalSigner", "load_signer"]

KEYRING_SERVICE = "grekko"


@dataclass(frozen=True)
class LocalSigner:
    """Signs transactions locally with a private key and sends them raw."""

    address: str
    _account: Any = field(repr=False, compare=False)

    def send(self, w3: Web3, tx: dict[str, Any]) -> bytes:
        tx = dict(tx)
        tx.setdefault("chainId", w3.eth.chain_id)
        tx.setdefault("nonce", w3.eth.get_transaction_count(self.address, "pending"))  # type: ignore[arg-type]
        if "gasPrice" not in tx and "maxFeePerGas" not in tx:
            base = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
            tip = int(w3.eth.max_priority_fee)
            tx["maxPriorityFeePerGas"] = tip
            tx["maxFeePerGas"] = 2 * base + tip  # room for two full blocks of base-fee growth
        signed = self._account.sign_transaction(tx)
        return bytes(w3.eth.send_raw_transaction(signed.raw_transaction))

    def sign(self, tx: dict[str, Any]) -> Any:
        """Sign a complete transaction (nonce, fees, gas, chainId set); the ``SignedTransaction``
        (``hash``, ``raw_transaction``). The DEX sender logs it before sending it."""
        return self._account.sign_transaction(tx)


def load_signer(
    *,
    key_env: str,
    keyring_user: str | None = None,
    environ: Mapping[str, str] | None = None,
    what: str = "deployer key",
) -> LocalSigner:
    """The signer for the key in ``$key_env``, else in the keyring (service ``grekko``).

    Raises
    ------
    ConfigError
        If neither holds a key, or the key is malformed; messages name where it was looked
        for, never the key.
    """
    from eth_account import Account

    env = os.environ if environ is None else environ
    key, where = env.get(key_env), f"environment variable {key_env}"
    if not key and keyring_user:
        key, where = (
            keyring_secret(KEYRING_SERVICE, keyring_user),
            f"keyring {KEYRING_SERVICE}/{keyring_user}",
        )
    if not key:
        looked = f"{key_env}" + (
            f" or keyring {KEYRING_SERVICE}/{keyring_user}" if keyring_user else ""
        )
        raise ConfigError(f"no {what}: set {looked} (a 0x-prefixed 32-byte hex private key)")
    key = key.strip()
    register_secrets(key, key.removeprefix("0x"))
    try:
        account = Account.from_key(key)
    except (ValueError, TypeError):
        raise ConfigError(f"the {what} in {where} is not a 32-byte hex private key") from None
    return LocalSigner(account.address, account)
