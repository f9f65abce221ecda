"""The hot key: from the environment (or keyring), registered with the masker, never in a log
record, an exception, stdout/stderr or the event log — through the DEX venue's flows with
DEBUG logging on (web3 logs every request at DEBUG). A planted leak proves the search works."""

from __future__ import annotations

import asyncio
import logging
import secrets
import traceback
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from grekko_research.errors import ConfigError
from grekko_research.risk.spec import DexRisk, RiskSpec
from live.chain.keys import load_signer
from live.events import EventStore
from live.orders import FillReport, Rejected
from live.secrets import install_redaction, uninstall_redaction
from live.venues.base import OrderRequest
from live.venues.dex import DexVenue
from tests.dex_live.conftest import DexWorld

ENV = "GREKKO_TEST_DEX_KEY"


def _variants(key: str) -> list[str]:
    bare = key.removeprefix("0x")
    return [bare.lower(), bare.upper(), bare[:32], bare[32:]]


def _found(key: str, texts: dict[str, str], root: Path) -> list[str]:
    hits = [f"{sink}" for sink, text in texts.items() for v in _variants(key) if v in text]
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        hits += [str(path) for v in _variants(key) if v.encode() in data]
    return hits


def _flows(dex: DexWorld, tmp_path: Path, key: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    signer = load_signer(key_env=ENV, what="DEX hot key")
    texts["signer repr"] = repr(signer) + str(signer)
    dex.world.send(dex.world["executor"].functions.setExecutor(signer.address, True))
    dex.rpc("anvil_setBalance", signer.address, hex(10**20))
    store = EventStore.open(tmp_path / "runs" / "log.sqlite")

    async def go() -> list[Any]:
        v = DexVenue(dex.config(confirmations=1), signer, store, clock=lambda: 0)
        tight = DexVenue(dex.config(confirmations=1), signer, store, clock=lambda: 0,
                         risk=RiskSpec(dex=DexRisk(max_price_impact=1e-6)))  # fmt: skip
        await v.start()
        try:
            out = [await v.submit(OrderRequest("k1", "A/B", "sell", Decimal(1)))]
            out.append(await tight.submit(OrderRequest("k2", "A/B", "sell", Decimal(1))))
            return out
        finally:
            await v.close()
            await tight.close()

    out = asyncio.run(go())
    assert isinstance(out[0][-1], FillReport) and isinstance(out[1][0], Rejected)
    texts["reports"] = repr(out)
    for bad in ("0x1234", key + "00"):  # malformed keys: the error names where, never what
        try:
            load_signer(key_env="X", environ={"X": bad})
        except ConfigError as e:
            texts[f"error {bad[:4]}"] = str(e) + "".join(traceback.format_exception(e))
    return texts


def test_the_hot_key_never_leaves_the_process(
    dex: DexWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    key = "0x" + secrets.token_hex(32)
    monkeypatch.setenv(ENV, key)
    install_redaction()
    try:
        with caplog.at_level(logging.DEBUG):
            texts = _flows(dex, tmp_path, key)
            logging.getLogger("grekko.test").info("signer %s", key)  # the masker's job
    finally:
        uninstall_redaction()
    out, err = capfd.readouterr()
    texts |= {"stdout": out, "stderr": err, "caplog": caplog.text}
    texts |= {f"record {i}": r.getMessage() for i, r in enumerate(caplog.records)}
    assert len(caplog.records) > 10  # web3's DEBUG request logs were captured and searched
    assert _found(key, texts, tmp_path) == []
    assert (
        Account.from_key(key).address.lower()[2:]
        in caplog.text.lower() + texts["signer repr"].lower()
    )


def test_the_search_finds_a_planted_leak(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key = "0x" + secrets.token_hex(32)
    uninstall_redaction()
    with caplog.at_level(logging.INFO):
        logging.getLogger("grekko.test").info("leak %s", key)
    (tmp_path / "leak.txt").write_text(key.upper())
    hits = _found(key, {"caplog": caplog.text}, tmp_path)
    assert "caplog" in hits and str(tmp_path / "leak.txt") in hits
