"""KYC/AML integration points: the no-op default, the built-in OFAC provider, and a third-party
provider found by entry point — a real distribution on sys.path (dist-info + module)."""

from __future__ import annotations

import importlib
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from grekko_research.compliance.providers import (
    ComplianceProvider,
    Counterparty,
    NoopProvider,
    OfacListProvider,
    available_providers,
    load_provider,
)
from grekko_research.compliance.sanctions import load_current
from grekko_research.errors import ConfigError
from live.compliance import (
    SanctionedAddressRefused,
    Screener,
    ScreeningConfig,
    ScreeningUnavailable,
)
from tests.compliance.lists import write_list

PLUGIN = '''
"""A third-party screening provider (what a chain-analytics vendor would ship)."""

FLAGGED = {"0x" + "77" * 20}
REPORTS = []


class AcmeProvider:
    name = "acme"

    def screen_address(self, address, chain):
        from grekko_research.compliance.providers import Hit

        if address.lower() in FLAGGED:
            return Hit(address, self.name, "acme risk score 97: darknet market")
        return None

    def screen_counterparty(self, party):
        return None if party.address is None else self.screen_address(party.address, party.chain)

    def report(self, record):
        REPORTS.append(record)


class BrokenProvider(AcmeProvider):
    name = "broken"

    def screen_address(self, address, chain):
        raise TimeoutError("vendor API timed out")


class NotAProvider:
    pass
'''


@pytest.fixture
def plugin_dist(tmp_path: Path) -> Iterator[object]:
    """Install ``acme_grekko`` as a distribution on sys.path, with its entry points."""
    site = tmp_path / "site"
    (site / "acme_grekko-1.0.dist-info").mkdir(parents=True)
    (site / "acme_grekko.py").write_text(PLUGIN)
    (site / "acme_grekko-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-grekko\nVersion: 1.0\n"
    )
    (site / "acme_grekko-1.0.dist-info" / "entry_points.txt").write_text(textwrap.dedent("""
        [grekko.compliance_providers]
        acme = acme_grekko:AcmeProvider
        broken = acme_grekko:BrokenProvider
        notaprovider = acme_grekko:NotAProvider
        """))  # fmt: skip
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        yield importlib.import_module("acme_grekko")
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("acme_grekko", None)
        importlib.invalidate_caches()


def _folder(tmp_path: Path) -> Path:
    write_list(tmp_path / "l", now_ms=int(time.time() * 1000), published=datetime.now(UTC).date())
    return tmp_path / "l"


def test_noop_and_ofac_providers(tmp_path: Path) -> None:
    noop = NoopProvider()
    assert isinstance(noop, ComplianceProvider) and load_provider("noop").name == "noop"
    assert noop.screen_address("0x" + "00" * 20, "eip155:1") is None
    ofac = OfacListProvider(load_current(_folder(tmp_path)))
    hit = ofac.screen_counterparty(
        Counterparty("eip155:1", "0x722122df12d4e14e13ac3b6895a86e84145b6967", venue="dex")
    )
    assert hit is not None and "EXAMPLE MIXING SERVICE" in hit.reason
    assert ofac.screen_counterparty(Counterparty(name="Binance")) is None


def test_a_provider_from_an_entry_point_screens_and_receives_reports(
    tmp_path: Path, plugin_dist: object
) -> None:
    assert {"acme", "broken"} <= set(available_providers())
    folder = _folder(tmp_path)
    screener = Screener(ScreeningConfig(folder, providers=("acme",)))
    screener.screen(["0x" + "01" * 20], chain="eip155:1", purpose="swap")  # clear for both
    flagged = "0x" + "77" * 20  # not on the OFAC list: the vendor's own
    with pytest.raises(SanctionedAddressRefused, match="acme risk score 97"):
        screener.screen([flagged], chain="eip155:1", purpose="swap")
    (report,) = plugin_dist.REPORTS  # type: ignore[attr-defined]
    assert report["reason"] == "sanctioned" and report["hits"][0]["provider"] == "acme"


def test_a_failing_or_missing_provider_refuses_fail_closed(
    tmp_path: Path, plugin_dist: object
) -> None:
    folder = _folder(tmp_path)
    with pytest.raises(ScreeningUnavailable, match="vendor API timed out"):
        Screener(ScreeningConfig(folder, providers=("broken",))).screen(
            ["0x" + "01" * 20], chain="eip155:1", purpose="swap"
        )
    with pytest.raises(ConfigError, match="no such entry point"):
        load_provider("nonexistent")
    with pytest.raises(ConfigError, match="lacks name, screen_address"):
        load_provider("notaprovider")
