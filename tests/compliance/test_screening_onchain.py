"""Sanctions screening at the one door of every signer, against the real peers: anvil (the DEX
venue's sender, the session's Uniswap world) and the Solana test peer (LiteSVM).

Acceptance: a sanctioned destination (or token contract) is refused before signing — nothing
signed, logged as sent or pushed, the nonce unchanged; a stale or missing list blocks every send;
a fresh list lets a clean send through."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair

from live.alerts import AlertContext, alerts_for
from live.chain.fees import Fees
from live.chain.nonces import NonceManager
from live.chain.sender import SendFailed, TxSender
from live.compliance import (
    SanctionedAddressRefused,
    Screener,
    ScreeningConfig,
    ScreeningUnavailable,
)
from live.events import EventStore
from live.orders import Rejected
from live.sim.solana.peer import PeerThread
from live.solana.buyer import BuyerConfig, Wallet
from live.solana.parse import Launch
from live.solana.safety import SafetyConfig
from live.solana.sniper import Sniper, SniperSpec
from live.venues.base import OrderRequest
from live.venues.dex import DexVenue, connect_async
from tests.compliance.lists import write_list
from tests.dex_live.conftest import DexWorld

GWEI = 10**9
HOUR = 3_600_000


def _now() -> int:
    return int(time.time() * 1000)


def _list(folder: Path, extra: dict[str, list[str]] | None = None) -> Path:
    write_list(folder, now_ms=_now(), extra=extra, published=datetime.now(UTC).date())
    return folder


def _screener(folder: Path, *, clock_offset_ms: int = 0) -> Screener:
    return Screener(ScreeningConfig(folder), clock=lambda: _now() + clock_offset_ms)


# -- EVM: the DEX sender on anvil --------------------------------------------------------------


def _sender(dex: DexWorld, store: EventStore, screener: Screener) -> TxSender:
    nonces = NonceManager(store, 31337, dex.signer.address, _now)
    return TxSender(connect_async(dex.anvil.url), dex.signer, nonces, chain_id=31337,
                    screener=screener)  # fmt: skip


def _fees() -> Fees:
    return Fees(max_fee=102 * GWEI, priority_fee=2 * GWEI)


def _chain_state(dex: DexWorld) -> tuple[int, int, Any]:
    w3 = dex.world.w3
    pool = dex.rpc("txpool_content")
    return (
        w3.eth.get_transaction_count(dex.signer.address, "pending"),
        w3.eth.block_number,
        pool,
    )


def test_evm_sanctioned_destination_is_refused_before_signing(
    dex: DexWorld, tmp_path: Path
) -> None:
    dest = dex.world.other.address
    folder = _list(tmp_path / "list", {"ETH": [dest]})
    store = EventStore.open(tmp_path / "log.sqlite")
    dex.rpc("evm_setAutomine", False)  # anything pushed would sit in the mempool
    before = _chain_state(dex)

    async def go() -> None:
        s = _sender(dex, store, _screener(folder))
        with pytest.raises(SendFailed, match="sanctioned") as info:
            await s.send({"to": dest, "data": "0x", "value": 1}, _fees(), gas=21_000,
                         purpose="transfer")  # fmt: skip
        assert isinstance(info.value.__cause__, SanctionedAddressRefused)
        assert s.nonces.txs == {}  # nothing signed, so nothing logged as signed or sent
        await s.w3.provider.disconnect()

    asyncio.run(go())
    assert _chain_state(dex) == before  # nonce, head and an empty mempool unchanged
    (event,) = store.read(kinds=["compliance_refused"])
    assert event.payload["reason"] == "sanctioned" and event.payload["chain"] == "eip155:31337"
    assert [a.severity for a in alerts_for(event, AlertContext())] == ["critical"]
    assert not list(store.read(kinds=["dex_tx_signed"]))
    store.close()


def test_evm_a_swap_touching_a_sanctioned_token_is_rejected(
    dex: DexWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The DEX venue's swap (executor calldata naming the pool and the tokens): the token
    contract is listed, so the order is rejected before signing — through the environment's
    default screener, as a live run uses it."""
    w = dex.world
    monkeypatch.setenv(
        "GREKKO_COMPLIANCE_DIR", str(_list(tmp_path / "l", {"USDT": [w["A"].address]}))
    )
    a_before = w.balance("A", w["executor"].address)
    before = _chain_state(dex)
    store = EventStore.open(tmp_path / "log.sqlite")
    venue = DexVenue(dex.config(confirmations=1), dex.signer, store, clock=_now, wait_s=0.3)

    async def go() -> list[Any]:
        await venue.start()
        try:
            return await venue.submit(OrderRequest("c1", "A/B", "sell", Decimal("1")))
        finally:
            await venue.close()

    (report,) = asyncio.run(go())
    assert isinstance(report, Rejected) and "sanctioned" in report.reason
    assert w.balance("A", w["executor"].address) == a_before
    assert _chain_state(dex)[0] == before[0]  # the nonce
    assert [e.payload["reason"] for e in store.read(kinds=["compliance_refused"])] == ["sanctioned"]
    store.close()


@pytest.mark.parametrize("problem", ["missing", "stale"])
def test_evm_a_stale_or_missing_list_blocks_every_send(
    dex: DexWorld, tmp_path: Path, problem: str
) -> None:
    folder = tmp_path / "list"
    if problem == "stale":
        _list(folder)
    screener = _screener(folder, clock_offset_ms=25 * HOUR)  # refreshed 25 h ago
    store = EventStore.open(tmp_path / "log.sqlite")
    before = _chain_state(dex)

    async def go() -> None:
        s = _sender(dex, store, screener)
        for to in (dex.world.other.address, dex.signer.address):  # any destination, even ours
            with pytest.raises(SendFailed, match="fail closed") as info:
                await s.send({"to": to, "data": "0x", "value": 1}, _fees(), gas=21_000,
                             purpose="transfer")  # fmt: skip
            assert isinstance(info.value.__cause__, ScreeningUnavailable)
        await s.w3.provider.disconnect()

    asyncio.run(go())
    assert _chain_state(dex)[:2] == before[:2]
    assert [e.payload["reason"] for e in store.read(kinds=["compliance_refused"])] == [
        "unavailable", "unavailable"
    ]  # fmt: skip
    store.close()


def test_evm_a_fresh_list_lets_a_clean_send_through(dex: DexWorld, tmp_path: Path) -> None:
    folder = _list(tmp_path / "list")  # lists the fixture's parties, not this destination
    dest = dex.world.other.address
    balance = dex.world.w3.eth.get_balance(dest)
    store = EventStore.open(tmp_path / "log.sqlite")

    async def go() -> str:
        s = _sender(dex, store, _screener(folder))
        rec = await s.send({"to": dest, "data": "0x", "value": 12345}, _fees(), gas=21_000,
                           purpose="transfer")  # fmt: skip
        rec = await s.wait(rec, timeout_s=60, final=False)
        await s.w3.provider.disconnect()
        return rec.status

    assert asyncio.run(go()) in ("mined", "confirmed")
    assert dex.world.w3.eth.get_balance(dest) == balance + 12345
    assert not list(store.read(kinds=["compliance_refused"]))
    store.close()


# -- Solana: the sniper's buyer on the test peer ----------------------------------------------


def _launch(peer: PeerThread) -> Launch:
    token = peer.call(peer.peer.launch, "clean")
    return Launch(str(token.mint), str(token.bonding_curve), str(token.creator.pubkey()),
                  "Grekko Test", "GRKT", "u")  # fmt: skip


def _live_buy(peer: PeerThread, tmp_path: Path, screener: Screener, launch: Launch) -> tuple[
    EventStore, dict[str, int]
]:  # fmt: skip
    kp = Keypair()
    peer.call(peer.peer.chain.svm.airdrop, kp.pubkey(), 10**9)

    def counts() -> dict[str, int]:
        calls = peer.call(lambda: list(peer.peer.calls))
        return {m: calls.count(m) for m in ("simulateTransaction", "sendTransaction")}

    async def go() -> tuple[EventStore, dict[str, int]]:
        client = AsyncClient(peer.url, timeout=30)
        spec = SniperSpec(peer.url, peer.ws_url, buyer=BuyerConfig(mode="live"),
                          safety=SafetyConfig(timeout_s=30))  # fmt: skip
        store = EventStore.open(tmp_path / "events.db")
        s = Sniper(spec, store, client, Wallet(kp.pubkey(), kp, screener=screener),
                   creator_launches=lambda c: 1, clock=_now)  # fmt: skip
        s.start()
        start = counts()
        assert await s.try_buy(launch) is None  # the buy alone (the safety analysis simulates too)
        end = counts()
        await client.close()
        return store, {m: end[m] - start[m] for m in end}

    return asyncio.run(go())


def _decisions(store: EventStore) -> list[tuple[str, str]]:
    return [(e.payload["rule"], e.payload["reason"]) for e in store.read(kinds=["sniper_decision"])]


def test_solana_sanctioned_mint_is_refused_before_signing(
    solana_peer: PeerThread, tmp_path: Path
) -> None:
    launch = _launch(solana_peer)
    folder = _list(tmp_path / "list", {"SOL": [launch.mint]})
    store, calls = _live_buy(solana_peer, tmp_path, _screener(folder), launch)
    assert calls == {"simulateTransaction": 0, "sendTransaction": 0}
    ((rule, reason),) = _decisions(store)
    assert rule == "compliance" and launch.mint in reason
    (event,) = store.read(kinds=["compliance_refused"])
    assert event.payload["reason"] == "sanctioned"
    assert "sniper_order" not in {e.kind for e in store.read()}
    store.close()


def test_solana_a_missing_list_blocks_and_a_fresh_one_lets_a_clean_buy_through(
    solana_peer: PeerThread, tmp_path: Path
) -> None:
    launch = _launch(solana_peer)
    store, calls = _live_buy(solana_peer, tmp_path / "a", _screener(tmp_path / "none"), launch)
    assert calls == {"simulateTransaction": 0, "sendTransaction": 0}
    assert [r for r, _ in _decisions(store)] == ["compliance"]
    store.close()
    # fresh and clean: signed and handed on (the peer lacks the launch program, so the
    # simulation — the step after signing — is where this buy stops)
    store, calls = _live_buy(solana_peer, tmp_path / "b", _screener(_list(tmp_path / "l")), launch)
    assert calls["simulateTransaction"] == 1
    assert [r for r, _ in _decisions(store)] == ["simulation"]
    assert not list(store.read(kinds=["compliance_refused"]))
    store.close()
