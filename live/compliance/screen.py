"""Sanctions screening before signing: the compliance step of the one door every signer uses.

:class:`Screener` is called by :class:`~live.chain.sender.TxSender` (EVM: DEX swaps, approvals,
replacements, cancels) and :class:`~live.solana.buyer.Wallet` (Solana buys and sells) *before*
a transaction is signed. It refuses — raising a :class:`ComplianceRefused` — when

* any address the transaction touches is on the sanctions list or flagged by a configured
  provider (EVM: the destination ``to`` and every listed address found anywhere in the
  calldata — token contracts, pools, recipients, packed V3 paths; Solana: every account key
  of the message: mint, curve, recipients, programs), or
* the list is missing, unreadable, refreshed longer than ``max_age_hours`` ago or published
  longer than ``max_publication_age_days`` ago, or a provider fails (**fail closed**: no
  on-chain send at all until ``grekko compliance refresh``).

A refusal is written to the run's event log as ``compliance_refused`` (when the caller gives
its store) — the alert router makes it a critical alert — reported to every provider, and
logged at CRITICAL. Grekko never withdraws from centralised exchanges, so the on-chain senders
are the only place funds leave a wallet Grekko controls.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from grekko_research.compliance.providers import ComplianceProvider, Hit, OfacListProvider
from grekko_research.compliance.providers import load_provider as _load_provider
from grekko_research.compliance.sanctions import (
    COMPLIANCE_DIR_ENV,
    SanctionsList,
    SanctionsListUnavailable,
    check_fresh,
    default_folder,
    load_current,
)
from grekko_research.errors import ConfigError, GrekkoError

if TYPE_CHECKING:
    from live.events import EventStore

__all__ = [
    "COMPLIANCE_DIR_ENV",
    "ComplianceRefused",
    "SanctionedAddressRefused",
    "Screener",
    "ScreeningConfig",
    "ScreeningUnavailable",
    "default_screener",
]

log = logging.getLogger("grekko.compliance")

MAX_AGE_ENV = "GREKKO_SANCTIONS_MAX_AGE_HOURS"
MAX_PUBLICATION_AGE_ENV = "GREKKO_SANCTIONS_MAX_PUBLICATION_AGE_DAYS"
PROVIDERS_ENV = "GREKKO_COMPLIANCE_PROVIDERS"
REFUSED_KIND = "compliance_refused"


class ComplianceRefused(GrekkoError, PermissionError):
    """A transaction was refused before signing; nothing was signed or sent.

    ``record`` is the JSON-able refusal (also the ``compliance_refused`` event's payload).
    """

    def __init__(self, message: str, record: dict[str, Any]) -> None:
        super().__init__(message)
        self.record = record


class SanctionedAddressRefused(ComplianceRefused):
    """An address the transaction touches is sanctioned or flagged: never retry it."""


class ScreeningUnavailable(ComplianceRefused):
    """Screening cannot be done (list missing, unreadable or stale; a provider failed):
    every on-chain send is refused until the list is refreshed."""


def _positive(name: str, value: float) -> float:
    if not value > 0:
        raise ConfigError(f"compliance: {name} must be positive, got {value!r}")
    return value


@dataclass(frozen=True)
class ScreeningConfig:
    """Where the list lives, how old it may be, which third-party providers also screen."""

    folder: Path
    max_age_hours: float = 24.0  # since the last refresh
    max_publication_age_days: float = 30.0  # since OFAC published the list refreshed
    providers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _positive("max_age_hours", self.max_age_hours)
        _positive("max_publication_age_days", self.max_publication_age_days)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ScreeningConfig:
        """The configuration of ``$GREKKO_COMPLIANCE_DIR``, ``$GREKKO_SANCTIONS_MAX_AGE_HOURS``,
        ``$GREKKO_SANCTIONS_MAX_PUBLICATION_AGE_DAYS`` and ``$GREKKO_COMPLIANCE_PROVIDERS``."""
        env = os.environ if environ is None else environ
        folder = env.get(COMPLIANCE_DIR_ENV)

        def number(name: str, default: float) -> float:
            raw = env.get(name)
            if not raw:
                return default
            try:
                return float(raw)
            except ValueError:
                raise ConfigError(f"${name}={raw!r}: not a number") from None

        return cls(
            Path(folder).expanduser().resolve() if folder else default_folder(),
            number(MAX_AGE_ENV, 24.0),
            number(MAX_PUBLICATION_AGE_ENV, 30.0),
            tuple(p.strip() for p in env.get(PROVIDERS_ENV, "").split(",") if p.strip()),
        )


@dataclass
class Screener:
    """Screens the addresses of a transaction about to be signed (see the module doc)."""

    config: ScreeningConfig
    clock: Callable[[], int] = field(default=lambda: int(time.time() * 1000))
    extra: Sequence[ComplianceProvider] | None = None  # None: the config's, by entry point
    _cache: tuple[tuple[int, int], SanctionsList] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.extra is None:
            self.extra = tuple(_load_provider(n) for n in self.config.providers)

    # -- the list ----------------------------------------------------------------------

    def sanctions(self) -> SanctionsList:
        """The current list, checked for age; raises :class:`SanctionsListUnavailable`."""
        pointer = self.config.folder / "current.json"
        try:
            st = pointer.stat()
            key = (st.st_mtime_ns, st.st_size)
        except OSError:
            key = (-1, -1)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, load_current(self.config.folder))
        sanctions = self._cache[1]
        check_fresh(sanctions, self.clock(), max_age_hours=self.config.max_age_hours,
                    max_publication_age_days=self.config.max_publication_age_days)  # fmt: skip
        return sanctions

    # -- screening ---------------------------------------------------------------------

    def screen(
        self,
        addresses: Iterable[str],
        *,
        chain: str,
        purpose: str,
        store: EventStore | None = None,
        calldata: bytes = b"",
    ) -> None:
        """Refuse (raise :class:`ComplianceRefused`) unless every address is clear.

        ``calldata`` (EVM): every listed EVM address found anywhere in it also refuses.
        """
        addresses = [a for a in addresses if a]
        base = {"chain": chain, "purpose": purpose, "addresses": sorted(set(addresses))}
        try:
            sanctions = self.sanctions()
            providers: list[ComplianceProvider] = [OfacListProvider(sanctions), *(self.extra or ())]
            hits: list[Hit] = []
            for provider in providers:
                for address in addresses:
                    hit = provider.screen_address(address, chain)
                    if hit is not None:
                        hits.append(hit)
            for raw, entry in sanctions.evm_bytes if calldata else ():
                if raw in calldata:
                    hits.append(Hit(entry.address, "ofac", f"OFAC SDN: {entry.party} ({entry.chain}) "
                                    "in the calldata", {"party": entry.party}))  # fmt: skip
        except (SanctionsListUnavailable, ConfigError) as e:
            self._refuse(ScreeningUnavailable, f"on-chain send refused (fail closed): {e}",
                         {**base, "reason": "unavailable"}, store)  # fmt: skip
        except Exception as e:  # a provider that fails is a refusal, never a pass
            self._refuse(ScreeningUnavailable,
                         f"on-chain send refused (fail closed): screening failed: "
                         f"{type(e).__name__}: {e}", {**base, "reason": "provider_error"}, store)  # fmt: skip
        if hits:
            first = hits[0]
            self._refuse(
                SanctionedAddressRefused,
                f"on-chain send refused: {first.subject} is sanctioned ({first.reason}); "
                f"list {sanctions.version}",
                {**base, "reason": "sanctioned", "list_version": sanctions.version,
                 "hits": [{"address": h.subject, "provider": h.provider, "reason": h.reason}
                          for h in hits]},
                store, providers,
            )  # fmt: skip

    def _refuse(
        self,
        kind: type[ComplianceRefused],
        message: str,
        record: dict[str, Any],
        store: EventStore | None,
        providers: Sequence[ComplianceProvider] = (),
    ) -> None:
        record = {**record, "message": message}
        log.critical("%s", message)
        if store is not None:
            store.append(REFUSED_KIND, "compliance", record, ts_ms=self.clock())
        for provider in providers:
            try:
                provider.report(record)
            except Exception as e:  # a report that fails must not turn the refusal into a pass
                log.error("compliance provider %s: report failed: %s", provider.name, e)
        raise kind(message, record)

    def before_signing_evm(
        self, tx: Mapping[str, Any], *, chain_id: int, purpose: str, store: EventStore | None
    ) -> None:
        """Screen an EVM transaction (``to``, ``data``) about to be signed."""
        data = tx.get("data") or "0x"
        raw = (
            bytes.fromhex(data[2:] if data.startswith("0x") else data)
            if isinstance(data, str)
            else bytes(data)
        )
        self.screen([str(tx.get("to") or "")], chain=f"eip155:{chain_id}", purpose=purpose,
                    store=store, calldata=raw)  # fmt: skip

    def before_signing_solana(
        self, account_keys: Iterable[str], *, purpose: str = "solana"
    ) -> None:
        """Screen every account key of a Solana message about to be signed."""
        self.screen(list(account_keys), chain="solana", purpose=purpose)


_default: dict[ScreeningConfig, Screener] = {}


def default_screener() -> Screener:
    """The process's screener for the environment's configuration (one per configuration,
    so a changed ``$GREKKO_COMPLIANCE_DIR`` takes effect)."""
    config = ScreeningConfig.from_env()
    if config not in _default:
        _default[config] = Screener(config)
    return _default[config]
