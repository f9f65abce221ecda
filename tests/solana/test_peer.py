"""The local Solana peer through the real solana client: send, statuses, balances, simulation,
block notifications of landed transactions, and JSON-RPC errors as a node writes them."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
from solana.rpc.async_api import AsyncClient
from solana.rpc.websocket_api import SolanaWsClient
from solders.keypair import Keypair
from solders.message import Message
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from live.sim.solana.peer import PeerThread


def test_send_status_balance_and_block_notification(solana_peer: PeerThread) -> None:
    payer, dest = Keypair(), Keypair()
    solana_peer.call(solana_peer.peer.chain.svm.airdrop, payer.pubkey(), 10**9)

    async def go() -> None:
        client = AsyncClient(solana_peer.url, timeout=30)
        async with SolanaWsClient(solana_peer.ws_url) as ws:
            await ws.block_subscribe(encoding="base64", max_supported_transaction_version=0)
            blockhash = (await client.get_latest_blockhash()).value.blockhash
            ix = transfer(
                TransferParams(
                    from_pubkey=payer.pubkey(), to_pubkey=dest.pubkey(), lamports=5_000_000
                )
            )
            tx = VersionedTransaction(
                Message.new_with_blockhash([ix], payer.pubkey(), blockhash), [payer]
            )
            sim = await client.simulate_transaction(tx, sig_verify=True)
            assert sim.value.err is None and sim.value.units_consumed
            sig = (await client.send_transaction(tx)).value
            assert sig == tx.signatures[0]
            note = await asyncio.wait_for(ws.recv(), 30)
            value = json.loads(note.to_json())["result"]["value"]
            (entry,) = value["block"]["transactions"]
            assert (
                VersionedTransaction.from_bytes(
                    base64.b64decode(entry["transaction"][0])
                ).signatures[0]
                == sig
            )
            status = (await client.get_signature_statuses([sig])).value[0]
            assert status is not None and status.err is None and status.slot == value["slot"]
            assert (await client.get_balance(dest.pubkey())).value == 5_000_000
            # the same transaction again: refused as a node refuses it
            again = await client.simulate_transaction(tx, sig_verify=True)
            assert again.value.err is not None
        await client.close()

    asyncio.run(go())


def test_json_rpc_errors_have_the_node_shape(solana_peer: PeerThread) -> None:
    with httpx.Client() as http:
        unknown = http.post(
            solana_peer.url, json={"jsonrpc": "2.0", "id": 1, "method": "nope"}
        ).json()
        assert unknown["error"]["code"] == -32601 and unknown["id"] == 1
        bad = http.post(solana_peer.url, json={"jsonrpc": "2.0", "id": 2, "method": "sendTransaction",
                                               "params": ["AAAA", {"encoding": "base64"}]}).json()  # fmt: skip
        assert bad["error"]["code"] == -32602 and "deserialize" in bad["error"]["message"]
        solana_peer.call(solana_peer.peer.set_fault, "getSlot", "error", times=1)
        err = http.post(
            solana_peer.url, json={"jsonrpc": "2.0", "id": 3, "method": "getSlot"}
        ).json()
        assert err["error"] == {"code": -32005, "message": "Node is behind by 42 slots",
                                "data": {"numSlotsBehind": 42}}  # fmt: skip
        ok = http.post(
            solana_peer.url, json={"jsonrpc": "2.0", "id": 4, "method": "getSlot"}
        ).json()
        assert isinstance(ok["result"], int)  # times=1: the fault is spent
