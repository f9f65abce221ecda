"""The sender and the durable nonce manager on anvil: replacement, cancellation, crash
recovery by hash and nonce, reorgs, an unknown outcome, private submission."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Coroutine, Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest

from live.chain.fees import Fees
from live.chain.nonces import NonceConflict, NonceManager
from live.chain.sender import PrivateSubmitter, TxSender
from live.events import EventStore
from live.orders import Ack, Cancelled, FillReport
from live.venues.base import OrderRequest
from live.venues.dex import DexVenue, connect_async
from tests.dex_live.conftest import DexWorld

T = TypeVar("T")
GWEI = 10**9
_ids = itertools.count()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def clock() -> int:
    return 1_700_000_000_000


def sender(dex: DexWorld, store: EventStore, **kw: Any) -> TxSender:
    w3 = connect_async(dex.anvil.url)
    nonces = NonceManager(store, 31337, dex.signer.address, clock)
    return TxSender(w3, dex.signer, nonces, chain_id=31337, **kw)


def transfer(dex: DexWorld) -> dict[str, Any]:
    return {"to": dex.world.other.address, "data": "0x", "value": 1}


def fees(tip_gwei: int = 2) -> Fees:
    return Fees(max_fee=100 * GWEI + tip_gwei * GWEI, priority_fee=tip_gwei * GWEI)


def order(side: str, qty: str, cid: str, symbol: str = "A/B") -> OrderRequest:
    return OrderRequest(cid, symbol, side, Decimal(qty))  # type: ignore[arg-type]


def chain_txs(dex: DexWorld, start: int) -> list[dict[str, Any]]:
    """Every transaction the hot key has on chain from block ``start``."""
    w3 = dex.world.w3
    out = []
    for n in range(start, w3.eth.block_number + 1):
        for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
            if tx["from"] == dex.signer.address:
                out.append(dict(tx))
    return out


def test_a_replacement_below_the_bump_is_refused_before_signing(
    dex: DexWorld, tmp_path: Path
) -> None:
    dex.rpc("evm_setAutomine", False)
    store = EventStore.open(tmp_path / "log.sqlite")

    async def go() -> None:
        s = sender(dex, store, bump=0.125)
        rec = await s.send(transfer(dex), fees(2), gas=21_000, purpose="transfer")
        assert rec.status == "sent"
        with pytest.raises(NonceConflict, match="not 12%"):
            await s.replace(rec, fees=Fees(max_fee=113 * GWEI, priority_fee=2 * GWEI))  # +10 % only
        assert len(s.nonces.at(rec.nonce)) == 1  # nothing logged
        new = await s.replace(rec)  # default: exactly the bump over every earlier one
        assert new.fees.replaces(rec.fees, 0.125) and new.replaces == rec.hash
        dex.rpc("evm_mine")
        done = await s.wait(new, timeout_s=30)
        assert done.status == "confirmed" and done.hash == new.hash
        old = await s.resolve(rec)  # superseded by our own replacement: not an anomaly
        assert old.status == "sent"
        with pytest.raises(NonceConflict, match="must be a replacement"):
            s.nonces.check_replacement(rec.nonce, fees(50), None, 0.125)
        await s.w3.provider.disconnect()

    start = dex.world.w3.eth.block_number
    run(go())
    mined = chain_txs(dex, start)
    assert len(mined) == 1  # one transaction at that nonce, the replacement


def test_a_signed_but_unsent_nonce_is_never_handed_out_again(dex: DexWorld, tmp_path: Path) -> None:
    """Signed and logged, then the process dies before the push: the next transaction takes the
    next nonce (the chain's pending count does not know the logged one), and recovery pushes
    the logged bytes into the gap: both land, in nonce order."""
    store = EventStore.open(tmp_path / "log.sqlite")

    class Crash(BaseException):
        pass

    def crash(step: str, rec: object) -> None:
        if step == "signed":
            raise Crash

    async def go() -> tuple[Any, Any, list[Any]]:
        s = sender(dex, store)
        s.after_step = crash
        with pytest.raises(Crash):
            await s.send(transfer(dex), fees(), gas=21_000, purpose="transfer")
        s.after_step = None
        first = next(iter(s.nonces.txs.values()))
        second = await s.send(transfer(dex), fees(), gas=21_000, purpose="transfer")
        await s.recover()
        for rec in (first, second):
            await s.wait(rec, timeout_s=30)
        await s.w3.provider.disconnect()
        return first, second, [s.nonces.txs[r.hash].status for r in (first, second)]

    nonce = dex.world.w3.eth.get_transaction_count(dex.signer.address)
    first, second, statuses = run(go())
    assert (first.nonce, second.nonce) == (nonce, nonce + 1)
    assert statuses == ["confirmed", "confirmed"]
    assert dex.world.w3.eth.get_transaction_count(dex.signer.address) == nonce + 2


def test_cancelling_a_stuck_swap(dex: DexWorld, tmp_path: Path) -> None:
    """A swap stuck in the mempool is cancelled by a bumped 0-value self-transfer at its nonce:
    the order ends Cancelled, the swap never executes."""
    w = dex.world
    ex = w["executor"].address
    a_before = w.balance("A", ex)
    venue = DexVenue(dex.config(confirmations=1), dex.signer,
                     EventStore.open(tmp_path / "log.sqlite"), clock=clock, wait_s=0.3)  # fmt: skip

    async def go() -> tuple[list[Any], list[Any], Any, list[Any]]:
        await venue.start()
        try:
            dex.rpc("evm_setAutomine", False)
            sent = await venue.submit(order("sell", "1", "stuck"))
            pending = await venue.cancel("A/B", "stuck")  # the cancel waits in the pool too
            dex.rpc("evm_mine")
            return (
                sent,
                pending,
                await venue.query("A/B", "stuck"),
                await venue.cancel("A/B", "stuck"),
            )
        finally:
            await venue.close()

    sent, pending, q, cancelled = run(go())
    assert [type(r) for r in sent] == [Ack]
    assert pending == []
    assert q.status.name == "CANCELLED"
    assert [type(r) for r in cancelled] == [Cancelled]
    kinds = [t.purpose for t in venue.nonces.txs.values()]
    assert sorted(kinds) == ["cancel", "swap"]
    assert w.balance("A", ex) == a_before


def test_crash_after_signing_recovers_the_same_transaction(dex: DexWorld, tmp_path: Path) -> None:
    """Killed after the signed swap was logged but before it was sent: the restarted venue
    pushes the logged bytes (same hash, same nonce) and the order fills exactly once."""
    path = tmp_path / "log.sqlite"
    w = dex.world
    ex = w["executor"].address
    a_before = w.balance("A", ex)

    class Crash(BaseException):
        pass

    def crash(step: str, rec: Any) -> None:
        if step == "signed":
            raise Crash

    async def first() -> None:
        v = DexVenue(dex.config(confirmations=1), dex.signer, EventStore.open(path), clock=clock)
        await v.start()
        v.sender.after_step = crash
        try:
            with pytest.raises(Crash):
                await v.submit(order("sell", "1", "k1"))
        finally:
            await v.close()

    async def second() -> tuple[Any, str]:
        v = DexVenue(dex.config(confirmations=1), dex.signer, EventStore.open(path), clock=clock)
        await v.start()  # recovery pushes the logged bytes
        try:
            q = await v.query("A/B", "k1")
            logged = next(iter(v.nonces.txs.values())).hash
            return q, logged
        finally:
            await v.close()

    start = w.w3.eth.block_number
    nonce = w.w3.eth.get_transaction_count(dex.signer.address)
    run(first())
    assert w.w3.eth.get_transaction_count(dex.signer.address, "pending") == nonce  # never sent
    q, logged = run(second())
    mined = chain_txs(dex, start)
    assert len(mined) == 1 and "0x" + bytes(mined[0]["hash"]).hex() == logged
    assert mined[0]["nonce"] == nonce
    assert q.status.name == "FILLED"
    assert w.balance("A", ex) == a_before - 10**18


def test_a_reorg_before_the_confirmations_drops_no_swap_and_reports_one_fill(
    dex: DexWorld, tmp_path: Path
) -> None:
    """confirmations 2: the swap is mined (1 block), the block is reorganised away (anvil
    snapshot/revert), the venue logs dex_tx_reorged, pushes the same bytes again, and reports
    one fill once the new block has 2 confirmations. No fill was reported before."""
    w = dex.world
    ex = w["executor"].address
    a_before = w.balance("A", ex)
    store = EventStore.open(tmp_path / "log.sqlite")
    venue = DexVenue(dex.config(confirmations=2), dex.signer, store, clock=clock, wait_s=0.3)

    async def go() -> tuple[list[Any], Any, Any]:
        await venue.start()
        try:
            snap = dex.rpc("evm_snapshot")
            first = await venue.submit(order("sell", "1", "r1"))  # mined, 1 confirmation
            assert w.balance("A", ex) == a_before - 10**18
            dex.rpc("evm_revert", snap)  # the block is gone
            dex.rpc("evm_mine")
            dex.rpc("evm_mine")
            assert w.balance("A", ex) == a_before
            again = await venue.query("A/B", "r1")  # resolves: reorged, pushed again
            dex.rpc("evm_mine")
            return first, again, await venue.query("A/B", "r1")
        finally:
            await venue.close()

    first, again, final = run(go())
    assert [type(r) for r in first] == [Ack]  # no fill before 2 confirmations
    assert again.status.name == "ACKNOWLEDGED"
    assert final.status.name == "FILLED" and Decimal(final.filled_qty) == 1
    kinds = [e.kind for e in store.read()]
    assert kinds.count("dex_tx_reorged") == 1 and kinds.count("dex_tx_signed") == 1
    assert w.balance("A", ex) == a_before - 10**18  # exactly one swap on the final chain


class _FakeRelay(BaseHTTPRequestHandler):
    """A private relay: records every JSON-RPC request; ``forward`` sends the raw transaction
    on to the node (a builder including it) and then drops the connection unanswered."""

    calls: ClassVar[list[dict[str, Any]]] = []
    forward_to: str | None = None
    hang_up: bool = False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(body)
        if type(self).forward_to is not None:
            import urllib.request

            raw = (
                body["params"][0]["tx"]
                if isinstance(body["params"][0], dict)
                else body["params"][0]
            )
            req = {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": [raw]}
            urllib.request.urlopen(
                urllib.request.Request(
                    type(self).forward_to,
                    json.dumps(req).encode(),
                    {"Content-Type": "application/json"},
                )
            )
        if type(self).hang_up:
            self.close_connection = True
            return
        out = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": "0x" + "00" * 32}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def relay() -> Iterator[tuple[str, type[_FakeRelay]]]:
    handler = type("Relay", (_FakeRelay,), {"calls": [], "forward_to": None, "hang_up": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def test_private_submission_never_touches_the_public_mempool(
    dex: DexWorld, tmp_path: Path, relay: tuple[str, type[_FakeRelay]]
) -> None:
    url, handler = relay
    dex.rpc("evm_setAutomine", False)
    venue = DexVenue(dex.config(confirmations=1), dex.signer, EventStore.open(tmp_path / "l.sqlite"),
                     clock=clock, wait_s=0.2, private=PrivateSubmitter(url, max_blocks=5))  # fmt: skip

    async def go() -> tuple[list[Any], Any, Any]:
        await venue.start()
        try:
            sent = await venue.submit(order("sell", "1", "p1"))
            rec = next(iter(venue.nonces.txs.values()))
            pool = dex.rpc("txpool_content")
            public = dex.world.w3.eth.get_transaction_count(dex.signer.address, "pending")
            # the builder includes it: now it is on chain, and the venue finds it by hash
            dex.world.w3.eth.send_raw_transaction(rec.raw)
            dex.rpc("evm_mine")
            return sent, (pool, public, rec), await venue.query("A/B", "p1")
        finally:
            await venue.close()

    head = dex.world.w3.eth.block_number
    nonce = dex.world.w3.eth.get_transaction_count(dex.signer.address)
    sent, (pool, public, rec), q = run(go())
    assert [type(r) for r in sent] == [Ack]
    assert len(handler.calls) == 1
    call = handler.calls[0]
    assert call["method"] == "eth_sendPrivateTransaction"
    assert call["params"][0]["tx"] == rec.raw
    assert int(call["params"][0]["maxBlockNumber"], 16) == head + 5
    assert pool["pending"] == {} and public == nonce  # the public node never saw it
    assert rec.route == "private"
    assert q.status.name == "FILLED"


def test_a_lost_answer_is_resolved_by_hash_not_resent(
    dex: DexWorld, tmp_path: Path, relay: tuple[str, type[_FakeRelay]]
) -> None:
    """The relay forwards the transaction and hangs up without answering (a timeout after
    sending): the venue does not send again; it finds the transaction by its hash."""
    url, handler = relay
    handler.forward_to, handler.hang_up = dex.anvil.url, True
    venue = DexVenue(dex.config(confirmations=1), dex.signer, EventStore.open(tmp_path / "l.sqlite"),
                     clock=clock, wait_s=30, private=PrivateSubmitter(url, method="eth_sendRawTransaction"))  # fmt: skip

    async def go() -> list[Any]:
        await venue.start()
        try:
            return await venue.submit(order("sell", "1", "u1"))
        finally:
            await venue.close()

    start = dex.world.w3.eth.block_number
    reports = run(go())
    assert [type(r) for r in reports] == [Ack, FillReport]
    assert len(handler.calls) == 1  # never pushed twice
    assert len(chain_txs(dex, start)) == 1


class _FlakyProxy(BaseHTTPRequestHandler):
    """Forwards JSON-RPC to the node; answers ``null`` to the next ``drop`` receipt lookups (a
    node under load that has not indexed a receipt yet, as anvil did in the exhaustive crash
    run)."""

    upstream: str = ""
    drop: int = 0

    def do_POST(self) -> None:
        import urllib.request

        raw = self.rfile.read(int(self.headers["Content-Length"]))
        body = json.loads(raw)
        cls = type(self)
        if body.get("method") == "eth_getTransactionReceipt" and cls.drop > 0:
            cls.drop -= 1
            out = json.dumps({"jsonrpc": "2.0", "id": body["id"], "result": None}).encode()
        else:
            req = urllib.request.Request(cls.upstream, raw, {"Content-Type": "application/json"})
            with urllib.request.urlopen(req) as resp:
                out = resp.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_missed_receipt_lookup_is_not_a_reorg(dex: DexWorld, tmp_path: Path) -> None:
    """A confirmed swap whose receipt lookup answers null once: its block is still the chain's
    block at that height and holds the transaction, so nothing is reorged, resent or halted."""
    handler = type("Proxy", (_FlakyProxy,), {"upstream": dex.anvil.url, "drop": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    store = EventStore.open(tmp_path / "l.sqlite")
    venue = DexVenue(dex.config(confirmations=1, rpc_url=url), dex.signer, store, clock=clock)

    async def go() -> tuple[list[Any], Any]:
        await venue.start()
        try:
            sent = await venue.submit(order("sell", "1", "m1"))
            handler.drop = 2
            return sent, await venue.query("A/B", "m1")
        finally:
            await venue.close()

    try:
        sent, q = run(go())
    finally:
        server.shutdown()
        server.server_close()
    assert isinstance(sent[-1], FillReport)
    assert q.status.name == "FILLED"
    assert [e.kind for e in store.read(kinds=["dex_tx_reorged", "dex_tx_sent"])] == ["dex_tx_sent"]
