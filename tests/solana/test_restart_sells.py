"""A restart between sending a live sell and learning its outcome: the sell is resolved by its
signature against the local peer (through the real ``solana`` client), never resent."""

from __future__ import annotations

import asyncio
from pathlib import Path

from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair
from solders.message import Message
from solders.transaction import Transaction
from spl.token.instructions import burn
from spl.token.models import BurnParams

from live.events import EventStore
from live.sim.solana._tokens import create_ata, mint_to_instruction
from live.sim.solana.peer import PeerThread
from live.solana.accounts import associated_token_address
from live.solana.buyer import BuyerConfig, Position, Wallet
from live.solana.parse import Launch
from live.solana.safety import SafetyConfig
from live.solana.sniper import Sniper, SniperSpec

NOW = 1_733_400_000_000


def test_restart_resolves_recorded_live_sells_by_signature(
    solana_peer: PeerThread, tmp_path: Path
) -> None:
    """Two live positions, each with a sell recorded (``sniper_exit``, its signature known
    before sending) and no fill: the process died before the confirmation. The restart asks
    the chain: the sell that landed closes its position (the fill recorded, realised P&L
    counted, the tokens left in the wallet read from the chain); the one the chain never saw
    leaves its position open for the exit rules. Nothing is sent."""
    peer = solana_peer.peer
    wallet = Keypair()
    solana_peer.call(peer.chain.svm.airdrop, wallet.pubkey(), 10**9)
    tokens = [solana_peer.call(peer.launch, "mint_authority") for _ in range(2)]
    launches = [Launch(str(t.mint), str(t.bonding_curve), str(t.creator.pubkey()), "Grekko Test",
                       "GRKT", "u") for t in tokens]  # fmt: skip

    def fund(t: object, amount: int) -> None:  # the buy: the wallet holds the tokens
        ata = associated_token_address(wallet.pubkey(), t.mint, t.token_program)  # type: ignore[attr-defined]
        creator = t.creator  # type: ignore[attr-defined]
        ixs = [create_ata(creator.pubkey(), wallet.pubkey(), t.mint, t.token_program),  # type: ignore[attr-defined]
               mint_to_instruction(t.token_program, t.mint, ata, creator.pubkey(), amount)]  # type: ignore[attr-defined]  # fmt: skip
        peer.send(
            Transaction(
                [creator], Message(ixs, creator.pubkey()), peer.chain.svm.latest_blockhash()
            )
        )

    def sell(t: object, amount: int) -> str:  # stands in for the sell that landed: tokens leave
        ata = associated_token_address(wallet.pubkey(), t.mint, t.token_program)  # type: ignore[attr-defined]
        ix = burn(BurnParams(program_id=t.token_program, account=ata, mint=t.mint,  # type: ignore[attr-defined]
                             owner=wallet.pubkey(), amount=amount))  # fmt: skip
        return peer.send(
            Transaction([wallet], Message([ix], wallet.pubkey()), peer.chain.svm.latest_blockhash())
        )

    for t in tokens:
        solana_peer.call(fund, t, 1_000_000)
    landed_sig = solana_peer.call(sell, tokens[0], 1_000_000)
    lost_sig = str(Keypair().sign_message(b"never sent"))
    log = tmp_path / "events.db"
    spec = SniperSpec(solana_peer.url, solana_peer.ws_url, buyer=BuyerConfig(mode="live"),
                      safety=SafetyConfig(timeout_s=30))  # fmt: skip
    w = Wallet(wallet.pubkey(), wallet)

    async def go() -> None:
        client = AsyncClient(solana_peer.url, timeout=30)
        with EventStore.open(log) as store:  # the log as the crash left it
            first = Sniper(spec, store, client, w, creator_launches=lambda c: 1, clock=lambda: NOW)
            first.start()
            for launch, sig in zip(launches, (landed_sig, lost_sig), strict=True):
                held = Position(launch, 1_000_000, 10_000_000, NOW, f"buy-{sig[:8]}")
                store.append("sniper_fill", launch.mint, {"side": "buy", "mint": launch.mint,
                             "tokens": held.tokens, "lamports": held.cost_lamports,
                             "signature": held.signature, "dry_run": False,
                             "position": held.to_json()}, ts_ms=NOW)  # fmt: skip
                store.append("sniper_exit", launch.mint, {
                    "rule": "take_profit", "signature": sig, "dry_run": False, "side": "sell",
                    "mint": launch.mint, "tokens": 1_000_000, "lamports": 15_000_000, "bound": 14_250_000,
                }, ts_ms=NOW)  # fmt: skip
        sent_before = solana_peer.call(lambda: peer.calls.count("sendTransaction"))
        with EventStore.open(log) as store:  # the restart
            again = Sniper(spec, store, client, w, creator_launches=lambda c: 1, clock=lambda: NOW)
            again.start()
            assert set(again.pending) == {landed_sig, lost_sig}
            assert set(again.positions) == {launches[0].mint, launches[1].mint}
            found = await again.reconcile()
            outcomes = {e["signature"]: e["outcome"] for e in found if "signature" in e}
            assert outcomes == {landed_sig: "landed", lost_sig: "not_found"}
            assert set(again.positions) == {launches[1].mint}  # the unsold one, still held
            assert again.realised_lamports == 5_000_000
            assert not again.pending
            (fill,) = [e.payload for e in store.read(kinds=["sniper_fill"])
                       if e.payload["side"] == "sell"]  # fmt: skip
            assert (
                fill["signature"] == landed_sig
                and fill["reconciled"]
                and fill["rule"] == "take_profit"
            )
            assert fill["pnl_lamports"] == 5_000_000 and fill["left_tokens"] == 0
        assert solana_peer.call(lambda: peer.calls.count("sendTransaction")) == sent_before
        with EventStore.open(log) as store:  # a third start: the log alone tells the same
            third = Sniper(spec, store, client, w, creator_launches=lambda c: 1, clock=lambda: NOW)
            third.start()
            assert not third.pending and set(third.positions) == {launches[1].mint}
            assert third.realised_lamports == 5_000_000
        await client.close()

    asyncio.run(go())
