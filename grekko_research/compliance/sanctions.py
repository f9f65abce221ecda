"""OFAC's sanctioned digital-currency addresses: parse the SDN advanced XML, store versioned lists.

The SDN list's advanced XML (``SDN_ADVANCED.XML``) names, per sanctioned party, features such as
``Digital Currency Address - ETH`` whose value (``VersionDetail``) is an address. The feature
types are declared once in ``ReferenceValueSets/FeatureTypeValues``; the publication date is
``DateOfIssue``. :func:`parse_sdn_advanced` streams the file (the real one is ~100 MB), keeps
every digital-currency address with its chain code (the text after ``" - "``: ``XBT``, ``ETH``,
``USDT``, ``SOL`` …) and the party's primary name, and refuses a file without a date or without a
single address (not the advanced XML, or truncated): an empty list would screen nothing.

A built list is stored as ``<folder>/lists/<version>.json`` (``version`` = publication date and
the first 12 hex digits of the source's SHA-256) and made current by ``<folder>/current.json``,
which names the version and the SHA-256 of the list file, so a list edited or truncated on disk
is *unreadable* rather than silently smaller. Older versions stay for the audit trail.

Matching: an EVM address (``0x`` + 40 hex) is compared case-insensitively and across every
chain code (the same key controls it on Ethereum, Arbitrum, BSC …, and ERC-20 ``USDT``/``USDC``
addresses are EVM addresses); bech32 addresses compare case-insensitively; anything else
(base58: Bitcoin legacy, Solana, Tron) exactly.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from grekko_research._atomic import atomic_write_text, folder_lock
from grekko_research.errors import DataError, GrekkoError

__all__ = [
    "COMPLIANCE_DIR_ENV",
    "OFAC_SDN_ADVANCED_URL",
    "SanctionedAddress",
    "SanctionsList",
    "SanctionsListUnavailable",
    "build_list",
    "check_fresh",
    "default_folder",
    "load_current",
    "normalise_address",
    "parse_sdn_advanced",
    "save_list",
]

OFAC_SDN_ADVANCED_URL = (
    "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/SDN_ADVANCED.XML"
)
"""Where ``grekko compliance refresh`` downloads the list by default (OFAC's Sanctions List
Service)."""

COMPLIANCE_DIR_ENV = "GREKKO_COMPLIANCE_DIR"

_FEATURE_PREFIX = "Digital Currency Address - "
_EVM = re.compile(r"^0x[0-9a-fA-F]{40}$")
_BECH32 = re.compile(r"^(bc1|ltc1|tb1)[0-9a-zA-Z]+$", re.IGNORECASE)
_FORMAT = 1


class SanctionsListUnavailable(GrekkoError, RuntimeError):
    """No usable sanctions list: missing, unreadable or corrupt (refresh it)."""


def normalise_address(address: str) -> str:
    """The form two addresses are compared in (see the module doc)."""
    a = address.strip()
    if _EVM.match(a) or _BECH32.match(a):
        return a.lower()
    return a


@dataclass(frozen=True)
class SanctionedAddress:
    """One listed address: as published, its chain code and the party it belongs to."""

    address: str
    chain: str
    party: str
    party_id: str

    def to_json(self) -> dict[str, str]:
        return {"address": self.address, "chain": self.chain, "party": self.party,
                "party_id": self.party_id}  # fmt: skip


@dataclass(frozen=True)
class SanctionsList:
    """A versioned list of sanctioned addresses and where it came from."""

    publish_date: str  # ISO date of the publication (DateOfIssue)
    source: str  # the URL or file it was built from
    source_sha256: str
    refreshed_ms: int  # when it was built (UTC ms)
    entries: tuple[SanctionedAddress, ...]
    _index: dict[str, SanctionedAddress] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {normalise_address(e.address): e for e in self.entries})

    @property
    def version(self) -> str:
        return f"{self.publish_date}-{self.source_sha256[:12]}"

    @property
    def evm_bytes(self) -> tuple[tuple[bytes, SanctionedAddress], ...]:
        """Every listed EVM address as 20 raw bytes (to find it anywhere in calldata)."""
        return tuple(
            (bytes.fromhex(e.address[2:]), e) for e in self.entries if _EVM.match(e.address)
        )

    def lookup(self, address: str) -> SanctionedAddress | None:
        """The entry ``address`` matches, or ``None``."""
        return self._index.get(normalise_address(address))

    def chains(self) -> dict[str, int]:
        """Addresses per chain code."""
        out: dict[str, int] = {}
        for e in self.entries:
            out[e.chain] = out.get(e.chain, 0) + 1
        return dict(sorted(out.items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": _FORMAT,
            "version": self.version,
            "publish_date": self.publish_date,
            "source": self.source,
            "source_sha256": self.source_sha256,
            "refreshed_ms": self.refreshed_ms,
            "entries": [e.to_json() for e in self.entries],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SanctionsList:
        if data.get("format") != _FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {_FORMAT}")
        return cls(
            str(data["publish_date"]),
            str(data["source"]),
            str(data["source_sha256"]),
            int(data["refreshed_ms"]),
            tuple(SanctionedAddress(**e) for e in data["entries"]),
        )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _guard(head: bytes) -> None:
    # The real file declares no DTD or entities; refusing them rules out entity expansion.
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise DataError("sanctions XML: DOCTYPE/ENTITY declarations are not accepted")


def _chunks(stream: IO[bytes], sha: Any) -> Iterator[bytes]:
    first = True
    while chunk := stream.read(1 << 20):
        if first:
            _guard(chunk[:65536])
            first = False
        sha.update(chunk)
        yield chunk


def parse_sdn_advanced(
    stream: IO[bytes], *, where: str = "<stream>"
) -> tuple[str, str, list[SanctionedAddress]]:
    """Parse an SDN advanced XML stream: (publish date ISO, source SHA-256, addresses).

    Raises :class:`DataError` naming ``where`` when the file is not well-formed XML, has no
    ``DateOfIssue`` or holds no digital-currency address.
    """
    sha = hashlib.sha256()
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("start", "end"))
    feature_types: dict[str, str] = {}
    date_parts: dict[str, int] = {}
    out: list[SanctionedAddress] = []
    in_issue = False  # inside DateOfIssue (Year/Month/Day appear in many other places)
    try:
        for chunk in _chunks(stream, sha):
            parser.feed(chunk)
            for event, el in parser.read_events():  # type: ignore[misc]
                assert isinstance(el, ET.Element)  # start/end events carry elements
                tag = _local(el.tag)
                if tag == "DateOfIssue":
                    in_issue = event == "start"
                if event == "start":
                    continue
                if tag == "FeatureType" and (el.text or "").startswith(_FEATURE_PREFIX):
                    feature_types[el.get("ID", "")] = (el.text or "")[len(_FEATURE_PREFIX) :]
                elif tag in ("Year", "Month", "Day") and in_issue and el.text:
                    date_parts[tag] = int(el.text)
                elif tag == "DistinctParty":
                    out.extend(_party_addresses(el, feature_types))
                    el.clear()  # keep memory flat over the ~100 MB file
        parser.close()
    except (ET.ParseError, ValueError) as e:
        raise DataError(f"{where}: not well-formed XML ({e})") from None
    if set(date_parts) != {"Year", "Month", "Day"}:
        raise DataError(f"{where}: no DateOfIssue: not OFAC's SDN advanced XML?")
    if not out:
        raise DataError(
            f"{where}: no '{_FEATURE_PREFIX}…' feature in any party: not the SDN advanced "
            "XML, or a truncated file (an empty list would screen nothing)"
        )
    published = date(date_parts["Year"], date_parts["Month"], date_parts["Day"]).isoformat()
    return published, sha.hexdigest(), out


def _party_addresses(party: ET.Element, types: dict[str, str]) -> Iterator[SanctionedAddress]:
    party_id = party.get("FixedRef", "")
    name = ""
    for alias in party.iter():
        if _local(alias.tag) == "Alias" and alias.get("Primary") == "true":
            parts = [
                (v.text or "").strip() for v in alias.iter() if _local(v.tag) == "NamePartValue"
            ]
            name = " ".join(p for p in parts if p)
            break
    for feature in party.iter():
        if _local(feature.tag) != "Feature":
            continue
        chain = types.get(feature.get("FeatureTypeID", ""))
        if chain is None:
            continue
        for detail in feature.iter():
            if _local(detail.tag) == "VersionDetail" and (detail.text or "").strip():
                yield SanctionedAddress(detail.text.strip(), chain, name, party_id)  # type: ignore[union-attr]


def build_list(stream: IO[bytes], *, source: str, now_ms: int) -> SanctionsList:
    """A :class:`SanctionsList` of the SDN advanced XML in ``stream`` (see
    :func:`parse_sdn_advanced`); duplicates (one address listed twice) kept once."""
    published, sha, entries = parse_sdn_advanced(stream, where=source)
    seen: dict[tuple[str, str], SanctionedAddress] = {}
    for e in entries:
        seen.setdefault((normalise_address(e.address), e.chain), e)
    ordered = sorted(seen.values(), key=lambda e: (e.chain, normalise_address(e.address)))
    return SanctionsList(published, source, sha, now_ms, tuple(ordered))


def _file_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_list(folder: Path, sanctions: SanctionsList) -> Path:
    """Store ``sanctions`` under ``folder`` and make it current (atomic: a crash leaves the
    previous list current). Returns the list file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with folder_lock(folder):
        path = folder / "lists" / f"{sanctions.version}.json"
        atomic_write_text(path, json.dumps(sanctions.to_json(), indent=1, sort_keys=True) + "\n")
        pointer = {
            "version": sanctions.version,
            "file": f"lists/{path.name}",
            "sha256": _file_sha(path),
            "refreshed_ms": sanctions.refreshed_ms,
            "refreshed_utc": datetime.fromtimestamp(sanctions.refreshed_ms / 1000, UTC)
            .isoformat()
            .replace("+00:00", "Z"),
        }
        atomic_write_text(folder / "current.json", json.dumps(pointer, indent=1) + "\n")
    return path


def load_current(folder: Path) -> SanctionsList:
    """The current list under ``folder``.

    Raises :class:`SanctionsListUnavailable` naming the file and what is wrong: no list, an
    unreadable pointer, a list file whose SHA-256 differs from the pointer's, or bad JSON.
    """
    pointer_path = Path(folder) / "current.json"
    if not pointer_path.is_file():
        raise SanctionsListUnavailable(
            f"no sanctions list in {folder} (no current.json): run `grekko compliance refresh`"
        )
    try:
        pointer = json.loads(pointer_path.read_text(encoding="utf-8"))
        path = Path(folder) / str(pointer["file"])
        if _file_sha(path) != pointer["sha256"]:
            raise ValueError(f"{path.name}: SHA-256 differs from current.json's (edited?)")
        sanctions = SanctionsList.from_json(json.loads(path.read_text(encoding="utf-8")))
        if sanctions.version != pointer["version"]:
            raise ValueError(f"version {sanctions.version} != current.json's {pointer['version']}")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SanctionsListUnavailable(
            f"sanctions list in {folder} is unreadable: {type(e).__name__}: {e}; "
            "run `grekko compliance refresh`"
        ) from None
    return sanctions


def versions(folder: Path) -> Iterable[str]:
    """Stored list versions, oldest publication first."""
    return sorted(p.stem for p in (Path(folder) / "lists").glob("*.json"))


def default_folder() -> Path:
    """Where lists are stored: ``$GREKKO_COMPLIANCE_DIR``, else ``<grekko home>/compliance``."""
    from grekko_research.paths import grekko_home

    env = os.environ.get(COMPLIANCE_DIR_ENV)
    return Path(env).expanduser().resolve() if env else grekko_home() / "compliance"


def _date_ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp() * 1000)


def check_fresh(
    sanctions: SanctionsList, now_ms: int, *, max_age_hours: float, max_publication_age_days: float
) -> None:
    """Raise :class:`SanctionsListUnavailable` when ``sanctions`` was refreshed more than
    ``max_age_hours`` or published more than ``max_publication_age_days`` before ``now_ms``."""
    age_h = (now_ms - sanctions.refreshed_ms) / 3_600_000
    if age_h > max_age_hours:
        raise SanctionsListUnavailable(
            f"sanctions list {sanctions.version} was refreshed {age_h:.1f} h ago (limit "
            f"{max_age_hours:g} h): run `grekko compliance refresh`"
        )
    age_d = (now_ms - _date_ms(sanctions.publish_date)) / 86_400_000
    if age_d > max_publication_age_days:
        raise SanctionsListUnavailable(
            f"sanctions list {sanctions.version} was published {age_d:.0f} days ago (limit "
            f"{max_publication_age_days:g} days): refresh from a newer publication"
        )
