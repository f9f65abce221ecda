"""Sanctions lists for tests: the real-format fixture, with extra parties and another date."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path

from grekko_research.compliance.sanctions import SanctionsList, build_list, save_list

FIXTURE = Path(__file__).parent / "fixtures" / "sdn_advanced_small.xml"
_TYPES = {"XBT": 344, "ETH": 345, "XMR": 444, "USDT": 704, "TRX": 887, "SOL": 1004}


def sdn_xml(extra: dict[str, list[str]] | None = None, published: date | None = None) -> bytes:
    """The fixture's XML with one more party holding ``extra`` (chain code → addresses) and
    ``published`` as its DateOfIssue — the same elements as OFAC's file."""
    text = FIXTURE.read_text(encoding="utf-8")
    if published is not None:
        text = re.sub(
            r"<DateOfIssue>.*?</DateOfIssue>",
            f"<DateOfIssue>\n    <Year>{published.year}</Year>\n    <Month>{published.month}"
            f"</Month>\n    <Day>{published.day}</Day>\n  </DateOfIssue>",
            text,
            count=1,
            flags=re.S,
        )
    if extra:
        features = "".join(
            f"""
        <Feature ID="{900000 + i}" FeatureTypeID="{_TYPES[chain]}">
          <FeatureVersion ID="{800000 + i}" ReliabilityID="1">
            <Comment />
            <VersionDetail DetailTypeID="1432">{address}</VersionDetail>
          </FeatureVersion>
          <IdentityReference IdentityID="99999" IdentityFeatureLinkTypeID="1" />
        </Feature>"""
            for i, (chain, address) in enumerate(
                (c, a) for c, addresses in extra.items() for a in addresses
            )
        )
        party = f"""
    <DistinctParty FixedRef="99999">
      <Comment />
      <Profile ID="99999" PartySubTypeID="3">
        <Identity ID="99999" FixedRef="99999" Primary="true" False="false">
          <Alias FixedRef="99999" AliasTypeID="1403" Primary="true" LowQuality="false">
            <DocumentedName ID="99999" FixedRef="99999" DocNameStatusID="1">
              <DocumentedNamePart>
                <NamePartValue NamePartGroupID="99999" ScriptID="215" ScriptStatusID="1" Acronym="false">TEST SANCTIONED PARTY</NamePartValue>
              </DocumentedNamePart>
            </DocumentedName>
          </Alias>
        </Identity>{features}
      </Profile>
    </DistinctParty>
  </DistinctParties>"""
        text = text.replace("\n  </DistinctParties>", party, 1)
    return text.encode("utf-8")


def write_list(
    folder: Path,
    *,
    now_ms: int,
    extra: dict[str, list[str]] | None = None,
    published: date | None = None,
) -> SanctionsList:
    """Build a list from :func:`sdn_xml` refreshed at ``now_ms`` and make it current."""
    sanctions = build_list(io.BytesIO(sdn_xml(extra, published)), source="test", now_ms=now_ms)
    save_list(folder, sanctions)
    return sanctions
