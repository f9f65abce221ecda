"""KYC/AML integration points: a small provider interface, a no-op default, the OFAC list.

A provider screens an address, screens a counterparty, and receives reports (a refusal, a
screening hit) for the operator's compliance process. Grekko always screens against its
built-in OFAC list (:class:`OfacListProvider`); third-party providers (a chain-analytics API,
an in-house list) are added by name from the entry-point group ``grekko.compliance_providers``::

    [project.entry-points."grekko.compliance_providers"]
    acme = "acme_grekko:AcmeProvider"      # a class or factory called with no arguments

and listed in ``GREKKO_COMPLIANCE_PROVIDERS`` (comma separated). A provider that raises is
treated as a refusal by the live screener (fail closed), never as a pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from grekko_research.compliance.sanctions import SanctionsList
from grekko_research.errors import ConfigError

__all__ = [
    "ENTRY_POINT_GROUP",
    "ComplianceProvider",
    "Counterparty",
    "Hit",
    "NoopProvider",
    "OfacListProvider",
    "available_providers",
    "load_provider",
]

ENTRY_POINT_GROUP = "grekko.compliance_providers"


@dataclass(frozen=True)
class Hit:
    """A screening match: what matched, which provider says so and why."""

    subject: str  # the address or counterparty name
    provider: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Counterparty:
    """Whom a trade is with, as far as Grekko knows it (a venue, a pool, a wallet)."""

    chain: str | None = None  # "eip155:1", "solana", None for a centralised venue
    address: str | None = None
    name: str | None = None
    venue: str | None = None


@runtime_checkable
class ComplianceProvider(Protocol):
    """What a KYC/AML provider implements."""

    name: str

    def screen_address(self, address: str, chain: str) -> Hit | None:
        """A :class:`Hit` when ``address`` on ``chain`` must not be dealt with, else ``None``."""
        ...

    def screen_counterparty(self, party: Counterparty) -> Hit | None:
        """A :class:`Hit` when ``party`` must not be dealt with, else ``None``."""
        ...

    def report(self, record: dict[str, Any]) -> None:
        """Receive a refusal or hit record (JSON-able) for the operator's case management."""
        ...


class NoopProvider:
    """Screens nothing and drops reports: the default third-party slot."""

    name = "noop"

    def screen_address(self, address: str, chain: str) -> Hit | None:
        return None

    def screen_counterparty(self, party: Counterparty) -> Hit | None:
        return None

    def report(self, record: dict[str, Any]) -> None:
        return None


class OfacListProvider:
    """The built-in provider: OFAC SDN digital-currency addresses (:class:`SanctionsList`)."""

    name = "ofac"

    def __init__(self, sanctions: SanctionsList) -> None:
        self.sanctions = sanctions

    def screen_address(self, address: str, chain: str) -> Hit | None:
        entry = self.sanctions.lookup(address)
        if entry is None:
            return None
        return Hit(
            address,
            self.name,
            f"OFAC SDN: {entry.party or entry.party_id} ({entry.chain})",
            {"party": entry.party, "party_id": entry.party_id, "listed_chain": entry.chain,
             "list_version": self.sanctions.version},
        )  # fmt: skip

    def screen_counterparty(self, party: Counterparty) -> Hit | None:
        if party.address:
            return self.screen_address(party.address, party.chain or "")
        return None

    def report(self, record: dict[str, Any]) -> None:
        return None  # the refusal is in the run's event log already


def available_providers() -> list[str]:
    """Names registered in the ``grekko.compliance_providers`` entry-point group."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def load_provider(name: str) -> ComplianceProvider:
    """Instantiate the provider registered as ``name`` (``"noop"`` is built in).

    Raises :class:`ConfigError` when no such entry point exists, it fails to load, or what it
    builds lacks the provider methods.
    """
    if name == "noop":
        return NoopProvider()
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        known = ", ".join(["noop", *available_providers()])
        raise ConfigError(f"compliance provider {name!r}: no such entry point ({known})")
    try:
        provider = found[0].load()()
    except Exception as e:
        raise ConfigError(
            f"compliance provider {name!r} ({found[0].value}) failed to load: "
            f"{type(e).__name__}: {e}"
        ) from None
    if not isinstance(provider, ComplianceProvider):
        raise ConfigError(
            f"compliance provider {name!r} ({found[0].value}) lacks name, screen_address, "
            "screen_counterparty or report"
        )
    return provider
