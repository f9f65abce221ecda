"""The OFAC SDN advanced XML parser, the versioned list store and the screener's fail-closed
rules (no chain: the on-chain refusals are in test_screening_onchain.py)."""

from __future__ import annotations

import io
import json
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grekko_research.compliance.sanctions import (
    SanctionsListUnavailable,
    build_list,
    load_current,
    parse_sdn_advanced,
)
from grekko_research.errors import DataError
from live.compliance import (
    SanctionedAddressRefused,
    Screener,
    ScreeningConfig,
    ScreeningUnavailable,
)
from live.events import EventStore
from tests.compliance.lists import FIXTURE, sdn_xml, write_list

NOW = int(datetime(2026, 12, 1, tzinfo=UTC).timestamp() * 1000)
HOUR = 3_600_000


def test_the_fixture_parses_to_every_digital_currency_address() -> None:
    with FIXTURE.open("rb") as f:
        published, sha, entries = parse_sdn_advanced(f)
    assert published == "2026-11-28"  # DateOfIssue, not the birthdate's Year/Month/Day
    assert len(sha) == 64
    got = {(e.chain, e.address, e.party) for e in entries}
    assert ("ETH", "0x8589427373D6D84E98730D7795D8f6f8731FDA16", "EXAMPLE MIXING SERVICE") in got
    assert ("XBT", "1AjZPMsnmpdK2Rv9KQNfMurTXinscVro9V", "EXAMPLE PERSON") in got  # primary alias
    assert {e.chain for e in entries} == {"ETH", "XBT", "USDT", "TRX", "SOL"}
    assert "www.example.com" not in {e.address for e in entries}  # a Website feature
    sanctions = build_list(FIXTURE.open("rb"), source="f", now_ms=NOW)
    assert len(sanctions.entries) == 7  # the XBT address listed twice is kept once


def test_matching_rules() -> None:
    sanctions = build_list(FIXTURE.open("rb"), source="f", now_ms=NOW)
    assert (
        sanctions.lookup("0x8589427373d6d84e98730d7795d8f6f8731fda16") is not None
    )  # EVM: any case
    assert sanctions.lookup("0x19aa5fe80d33a56d56c78e82ea5e50e5d80b4dff").chain == "USDT"  # type: ignore[union-attr]
    assert sanctions.lookup("BC1QSXDVH7KF7JCCP7ZKXQSFNGU8S5VH8HR7MF2X3L") is not None  # bech32
    assert sanctions.lookup("7YttLkHDoNj9wyDur5pM1ejNaAvT9X4eqaYcHQqtj2G5") is not None
    assert sanctions.lookup("7yttlkhdonj9wydur5pm1ejnaavt9x4eqaychqqtj2g5") is None  # base58: exact
    assert sanctions.lookup("0x0000000000000000000000000000000000000001") is None


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (b"<Sanctions><DateOfIssue><Year>2026</Year>", "not well-formed"),
        (
            sdn_xml().replace(b"Digital Currency Address - ", b"Digital Currency Adress "),
            "no 'Digital",
        ),
        (
            sdn_xml()
            .replace(b"<DateOfIssue>", b"<DateOfIssueX>")
            .replace(b"</DateOfIssue>", b"</DateOfIssueX>"),
            "no DateOfIssue",
        ),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', "DOCTYPE"),
    ],
)
def test_a_file_that_is_not_the_list_is_refused(text: bytes, match: str) -> None:
    with pytest.raises(DataError, match=match):
        parse_sdn_advanced(io.BytesIO(text), where="bad.xml")


def test_refresh_cli_versions_and_keeps_the_current_list_on_a_bad_file(tmp_path: Path) -> None:
    from grekko_research.cli import app

    runner = CliRunner()
    folder = tmp_path / "c"
    res = runner.invoke(
        app, ["compliance", "refresh", "--from", str(FIXTURE), "--dir", str(folder)]
    )
    assert res.exit_code == 0, res.output
    first = load_current(folder)
    assert first.publish_date == "2026-11-28" and first.version.startswith("2026-11-28-")
    newer = tmp_path / "newer.xml"
    newer.write_bytes(sdn_xml({"ETH": ["0x" + "ab" * 20]}, date(2026, 12, 2)))
    res = runner.invoke(app, ["compliance", "refresh", "--from", str(newer), "--dir", str(folder)])
    assert res.exit_code == 0, res.output
    assert load_current(folder).lookup("0x" + "AB" * 20) is not None
    assert len(list((folder / "lists").glob("*.json"))) == 2  # the old version kept
    bad = tmp_path / "bad.xml"
    bad.write_bytes(sdn_xml()[:2000])  # truncated download
    res = runner.invoke(app, ["compliance", "refresh", "--from", str(bad), "--dir", str(folder)])
    assert res.exit_code == 1 and "not well-formed" in str(res.exception)
    assert load_current(folder).publish_date == "2026-12-02"  # unchanged
    res = runner.invoke(app, ["compliance", "check", "--dir", str(folder), "0x" + "ab" * 20])
    assert res.exit_code == 1 and "TEST SANCTIONED PARTY" in res.output
    res = runner.invoke(app, ["compliance", "status", "--dir", str(folder), "--json"])
    assert json.loads(res.output)["usable"] is (res.exit_code == 0)


def _screener(folder: Path, now: int, **kw: float) -> Screener:
    return Screener(ScreeningConfig(folder, **kw), clock=lambda: now)


def test_fail_closed_missing_unreadable_stale(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    clean = ["0x" + "01" * 20]
    with pytest.raises(ScreeningUnavailable, match="no sanctions list"):
        _screener(folder, NOW).screen(clean, chain="eip155:1", purpose="t")
    write_list(folder, now_ms=NOW, published=date(2026, 11, 28))
    _screener(folder, NOW + 23 * HOUR).screen(clean, chain="eip155:1", purpose="t")  # fresh
    with pytest.raises(ScreeningUnavailable, match=r"refreshed 25\.0 h ago"):
        _screener(folder, NOW + 25 * HOUR).screen(clean, chain="eip155:1", purpose="t")
    late = _screener(folder, NOW + 30 * 24 * HOUR, max_age_hours=10_000)  # refresh age allowed
    with pytest.raises(ScreeningUnavailable, match="published 33 days ago"):
        late.screen(clean, chain="eip155:1", purpose="t")
    # an edited list file no longer matches current.json's hash: unreadable, not smaller
    (path,) = (folder / "lists").glob("*.json")
    data = json.loads(path.read_text())
    data["entries"] = data["entries"][1:]
    path.write_text(json.dumps(data))
    with pytest.raises(SanctionsListUnavailable, match="SHA-256 differs"):
        load_current(folder)
    with pytest.raises(ScreeningUnavailable, match="unreadable"):
        _screener(folder, NOW).screen(clean, chain="eip155:1", purpose="t")
    (folder / "current.json").write_text("{not json")
    with pytest.raises(ScreeningUnavailable, match="unreadable"):
        _screener(folder, NOW).screen(clean, chain="eip155:1", purpose="t")


def test_hit_is_refused_recorded_and_alerted(tmp_path: Path) -> None:
    from live.alerts import AlertContext, alerts_for

    folder = tmp_path / "c"
    bad = "0x" + "cd" * 20
    write_list(folder, now_ms=NOW, extra={"ETH": [bad]}, published=date(2026, 11, 28))
    store = EventStore.open(tmp_path / "e.db")
    s = _screener(folder, NOW)
    with pytest.raises(SanctionedAddressRefused, match="TEST SANCTIONED PARTY"):
        s.screen([bad.upper().replace("0X", "0x")], chain="eip155:1", purpose="swap", store=store)
    # anywhere in calldata (a token or recipient word, a packed V3 path)
    data = b"\x12\x34\x56\x78" + b"\x00" * 12 + bytes.fromhex(bad[2:]) + b"\x00" * 3
    with pytest.raises(SanctionedAddressRefused):
        s.screen(["0x" + "01" * 20], chain="eip155:1", purpose="swap", calldata=data)
    (event,) = store.read(kinds=["compliance_refused"])
    assert (
        event.payload["reason"] == "sanctioned"
        and event.payload["hits"][0]["address"].lower() == bad
    )
    (alert,) = alerts_for(event, AlertContext())
    assert alert.severity == "critical" and bad in alert.body.lower()
    store.close()


def test_default_screener_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from live.compliance import default_screener

    monkeypatch.setenv("GREKKO_COMPLIANCE_DIR", str(tmp_path / "nothing"))
    with pytest.raises(ScreeningUnavailable, match="no sanctions list"):
        default_screener().screen(["x"], chain="solana", purpose="t")
    write_list(tmp_path / "c", now_ms=int(time.time() * 1000),
               published=datetime.now(UTC).date())  # fmt: skip
    monkeypatch.setenv("GREKKO_COMPLIANCE_DIR", str(tmp_path / "c"))
    default_screener().screen(["x"], chain="solana", purpose="t")
