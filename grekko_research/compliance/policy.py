"""Venue and jurisdiction policy: which venues, markets (spot/perp) and chains a live run may use.

``conf/compliance/policy.yaml`` lists, per deployment jurisdiction, the allowed venues (names or
glob patterns: ``binance``, ``dex:*``), markets and chains, and names the deployment's
jurisdiction (``$GREKKO_JURISDICTION`` overrides it; ``$GREKKO_COMPLIANCE_POLICY`` names another
file). The live runner checks its plan against the active jurisdiction before it starts and
refuses, naming what is not allowed. What a jurisdiction allows is the operator's decision and
responsibility: the shipped entries are examples, not legal advice.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grekko_research.errors import ConfigError

__all__ = [
    "MARKETS",
    "POLICY_ENV",
    "CompliancePolicy",
    "JurisdictionPolicy",
    "PolicyViolation",
    "default_policy_path",
    "load_policy",
]

MARKETS = ("spot", "perp")
POLICY_ENV = "GREKKO_COMPLIANCE_POLICY"
JURISDICTION_ENV = "GREKKO_JURISDICTION"


class PolicyViolation(ConfigError):
    """A run asks for a venue, market or chain its deployment's jurisdiction does not allow."""


def _names(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: a list of names, got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class JurisdictionPolicy:
    """What one jurisdiction allows."""

    name: str
    venues: tuple[str, ...]  # names or glob patterns (``dex:*``)
    markets: tuple[str, ...]
    chains: tuple[str, ...]
    note: str = ""

    def __post_init__(self) -> None:
        bad = [m for m in self.markets if m not in MARKETS]
        if bad:
            raise ConfigError(
                f"compliance policy {self.name}: markets {bad} (allowed: {', '.join(MARKETS)})"
            )

    def violations(self, *, venue: str, markets: Iterable[str], chain: str | None) -> list[str]:
        """What of (venue, markets, chain) this jurisdiction does not allow (empty: all fine)."""
        out = []
        if not any(fnmatch.fnmatchcase(venue, p) for p in self.venues):
            out.append(f"venue {venue!r} (allowed: {', '.join(self.venues) or 'none'})")
        for m in sorted(set(markets)):
            if m not in self.markets:
                out.append(f"{m} market (allowed: {', '.join(self.markets) or 'none'})")
        if chain is not None and chain not in self.chains:
            out.append(f"chain {chain!r} (allowed: {', '.join(self.chains) or 'none'})")
        return out


@dataclass(frozen=True)
class CompliancePolicy:
    """The deployment's jurisdiction and every jurisdiction's policy (one file)."""

    jurisdiction: str | None
    jurisdictions: Mapping[str, JurisdictionPolicy] = field(default_factory=dict)
    source: str = "<memory>"

    def active(self) -> JurisdictionPolicy:
        if not self.jurisdiction:
            raise PolicyViolation(
                f"no deployment jurisdiction set in {self.source} (jurisdiction: or "
                f"${JURISDICTION_ENV}): live runs refuse to start without one"
            )
        try:
            return self.jurisdictions[self.jurisdiction]
        except KeyError:
            raise PolicyViolation(
                f"jurisdiction {self.jurisdiction!r} is not in {self.source} "
                f"({', '.join(self.jurisdictions) or 'none defined'})"
            ) from None

    def check(self, *, venue: str, markets: Iterable[str], chain: str | None) -> JurisdictionPolicy:
        """Raise :class:`PolicyViolation` naming every disallowed item; return the policy."""
        policy = self.active()
        bad = policy.violations(venue=venue, markets=markets, chain=chain)
        if bad:
            raise PolicyViolation(
                f"jurisdiction {policy.name!r} ({self.source}) does not allow: "
                + "; ".join(bad)
                + ". The policy is the operator's to set (docs/compliance.md)"
            )
        return policy

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str) -> CompliancePolicy:
        unknown = set(data) - {"jurisdiction", "jurisdictions"}
        if unknown:
            raise ConfigError(f"{source}: unknown keys {sorted(unknown)}")
        table = data.get("jurisdictions") or {}
        if not isinstance(table, Mapping):
            raise ConfigError(f"{source}: jurisdictions must be a mapping")
        out = {}
        for name, body in table.items():
            where = f"{source}: jurisdictions.{name}"
            if not isinstance(body, Mapping):
                raise ConfigError(f"{where}: a mapping of venues, markets, chains")
            extra = set(body) - {"venues", "markets", "chains", "note"}
            if extra:
                raise ConfigError(f"{where}: unknown keys {sorted(extra)}")
            out[str(name)] = JurisdictionPolicy(
                str(name),
                _names(body.get("venues", []), f"{where}.venues"),
                _names(body.get("markets", []), f"{where}.markets"),
                _names(body.get("chains", []), f"{where}.chains"),
                str(body.get("note", "")),
            )
        j = data.get("jurisdiction")
        return cls(None if j is None else str(j), out, source)


def default_policy_path() -> Path:
    """``$GREKKO_COMPLIANCE_POLICY``, else the checkout's ``conf/compliance/policy.yaml``."""
    env = os.environ.get(POLICY_ENV)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parents[2] / "conf" / "compliance" / "policy.yaml"


def load_policy(
    path: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> CompliancePolicy:
    """Read the policy file (``$GREKKO_JURISDICTION`` overrides its ``jurisdiction``)."""
    import yaml  # type: ignore[import-untyped]

    env = os.environ if environ is None else environ
    path = path or default_policy_path()
    if not path.is_file():
        raise PolicyViolation(
            f"no compliance policy at {path}: live runs refuse to start without one "
            f"(set ${POLICY_ENV} or create conf/compliance/policy.yaml)"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: a mapping with jurisdiction and jurisdictions")
    policy = CompliancePolicy.from_mapping(data, source=str(path))
    if env.get(JURISDICTION_ENV):
        policy = CompliancePolicy(env[JURISDICTION_ENV], policy.jurisdictions, policy.source)
    return policy
