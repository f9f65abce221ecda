"""The safety analyzer against LiteSVM mints through the real solana client: one verdict per
case, and REJECT for every way an RPC answer can fail."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from solana.rpc.async_api import AsyncClient

from live.sim.solana.peer import PeerThread
from live.solana.parse import Launch
from live.solana.safety import SafetyAnalyzer, SafetyConfig, Verdict


def _launch(peer: PeerThread, case: str) -> Launch:
    token = peer.call(peer.peer.launch, case)
    return Launch(
        mint=str(token.mint),
        bonding_curve=str(token.bonding_curve),
        creator=str(token.creator.pubkey()),
        name="Grekko Test",
        symbol="GRKT",
        uri="https://example.invalid/meta.json",
    )


def _analyze(
    peer: PeerThread,
    launch: Launch | str,
    config: SafetyConfig | None = None,
    seen: int = 1,
    **kw: Any,
) -> Verdict:
    async def go() -> Verdict:
        client = AsyncClient(peer.url, timeout=30)
        try:
            # a generous per-call timeout: the machine is shared (the timeout test sets its own)
            analyzer = SafetyAnalyzer(
                client, config or SafetyConfig(timeout_s=30), creator_launches=lambda c: seen
            )
            return await analyzer.analyze(launch, **kw)
        finally:
            await client.close()

    return asyncio.run(go())


EXPECTED = {
    "clean": ("PASS", []),
    "mint_authority": ("REJECT", ["mint_authority"]),
    "freeze_authority": ("REJECT", ["freeze_authority"]),
    "transfer_fee": ("REJECT", ["transfer_fee"]),
    "permanent_delegate": ("REJECT", ["permanent_delegate"]),
    "non_transferable": (
        "REJECT",
        ["non_transferable", "sell_simulation_failed", "transfer_simulation_failed"],
    ),
    "concentrated": ("REJECT", ["concentrated_supply"]),
    "mutable_metadata": ("PASS", ["metadata_mutable"]),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_each_case_gets_its_verdict_and_reason(solana_peer: PeerThread, case: str) -> None:
    verdict = _analyze(solana_peer, _launch(solana_peer, case))
    want, codes = EXPECTED[case]
    assert verdict.verdict == want, verdict.to_json()
    assert verdict.codes == codes, verdict.to_json()
    assert verdict.facts["sell_simulation"]["err"] is None or "sell_simulation_failed" in codes


def test_mutable_metadata_fails_a_stricter_score(solana_peer: PeerThread) -> None:
    launch = _launch(solana_peer, "mutable_metadata")
    verdict = _analyze(solana_peer, launch, SafetyConfig(min_score=90, timeout_s=30))
    assert verdict.verdict == "REJECT" and verdict.codes == ["metadata_mutable", "low_score"]
    assert verdict.score == 80


def test_serial_creator_is_rejected(solana_peer: PeerThread) -> None:
    launch = _launch(solana_peer, "clean")
    assert _analyze(solana_peer, launch, seen=3).codes == ["creator_history"]
    assert _analyze(solana_peer, launch, seen=5).codes == ["serial_creator"]


def test_bare_mint_without_creator_is_rejected(solana_peer: PeerThread) -> None:
    launch = _launch(solana_peer, "clean")
    verdict = _analyze(solana_peer, launch.mint)
    assert verdict.verdict == "REJECT" and verdict.codes == ["fact_missing"]
    assert "creator" in verdict.reasons[0].detail
    assert _analyze(solana_peer, launch.mint, creator=launch.creator).passed


# -- fails closed: one test per failure mode --------------------------------------------


def test_rpc_error_rejects(solana_peer: PeerThread) -> None:
    launch = _launch(solana_peer, "clean")
    solana_peer.call(solana_peer.peer.set_fault, "getTokenLargestAccounts", "error")
    verdict = _analyze(solana_peer, launch)
    assert verdict.verdict == "REJECT" and verdict.codes == ["rpc_error"]
    assert "getTokenLargestAccounts" in verdict.reasons[0].detail


def test_http_error_rejects(solana_peer: PeerThread) -> None:
    launch = _launch(solana_peer, "clean")
    solana_peer.call(solana_peer.peer.set_fault, "simulateTransaction", "http_500")
    verdict = _analyze(solana_peer, launch)
    assert verdict.verdict == "REJECT" and verdict.codes == ["rpc_error"]
    assert "simulateTransaction" in verdict.reasons[0].detail


def test_timeout_rejects(solana_peer: PeerThread) -> None:
    launch = _launch(solana_peer, "clean")
    solana_peer.call(
        solana_peer.peer.set_fault, "getMultipleAccounts", "delay", seconds=3.0, times=1
    )
    verdict = _analyze(solana_peer, launch, SafetyConfig(timeout_s=0.5))
    assert verdict.verdict == "REJECT" and verdict.codes == ["rpc_timeout"]


def test_malformed_answer_rejects(solana_peer: PeerThread) -> None:
    launch = _launch(solana_peer, "clean")
    solana_peer.call(solana_peer.peer.set_fault, "getTokenLargestAccounts", "malformed")
    verdict = _analyze(solana_peer, launch)
    assert verdict.verdict == "REJECT" and verdict.codes == ["malformed_answer"], verdict.to_json()


def test_unknown_curve_layout_rejects(solana_peer: PeerThread) -> None:
    launch = _launch(solana_peer, "clean")
    peer = solana_peer.peer
    from solders.pubkey import Pubkey

    from live.solana.accounts import PUMP_PROGRAM_KEY

    key = Pubkey.from_string(launch.bonding_curve)
    raw = bytes(peer.chain.svm.get_account(key).data)
    solana_peer.call(peer.chain.set_account, key, PUMP_PROGRAM_KEY, raw + bytes(8))  # 57 bytes
    verdict = _analyze(solana_peer, launch)
    assert verdict.verdict == "REJECT" and verdict.codes == ["unknown_layout"]
    assert "bonding curve" in verdict.reasons[0].detail


def test_unknown_token2022_extension_rejects(solana_peer: PeerThread) -> None:
    launch = _launch(solana_peer, "transfer_fee")
    peer = solana_peer.peer
    from solders.pubkey import Pubkey

    key = Pubkey.from_string(launch.mint)
    acc = peer.chain.svm.get_account(key)
    raw = bytearray(bytes(acc.data))
    raw[166:168] = (999).to_bytes(2, "little")  # an extension type this code does not know
    solana_peer.call(peer.chain.set_account, key, acc.owner, bytes(raw))
    verdict = _analyze(solana_peer, launch)
    assert verdict.verdict == "REJECT" and verdict.codes == ["unknown_layout"]
    assert "unknown Token-2022 extension type 999" in verdict.reasons[0].detail


def test_missing_account_rejects(solana_peer: PeerThread) -> None:
    launch = _launch(solana_peer, "clean")
    from solders.keypair import Keypair

    ghost = Launch(str(Keypair().pubkey()), launch.bonding_curve, launch.creator, "x", "x", "x")
    verdict = _analyze(solana_peer, ghost)
    assert verdict.verdict == "REJECT" and verdict.codes == ["fact_missing"]
    assert verdict.reasons[0].detail == "mint account not found"


def test_error_body_the_client_cannot_parse_rejects(solana_peer: PeerThread) -> None:
    # a -32005 without its `data` makes solders' parser panic (a BaseException): still REJECT
    launch = _launch(solana_peer, "clean")
    solana_peer.call(solana_peer.peer.set_fault, "getTokenLargestAccounts", "error", data=None)
    verdict = _analyze(solana_peer, launch)
    assert verdict.verdict == "REJECT" and verdict.codes[0] in ("rpc_error", "malformed_answer")
    assert "getTokenLargestAccounts" in verdict.reasons[0].detail
