"""Sign, log, send and settle transactions of one hot key: the only way DEX swaps reach a chain.

Order of work for every transaction (each step durable before the next one starts)::

    nonce (max of chain pending, log) -> sign -> log dex_tx_signed -> push -> log dex_tx_sent
    -> receipt -> log dex_tx_mined -> N confirmations -> log dex_tx_confirmed

A crash between any two steps leaves a log :meth:`TxSender.recover` resolves by **hash and
nonce**: a receipt (mined), a node that knows the hash (pending), a nonce the chain used for
another of our hashes (superseded: a replacement or cancel won), or none of these — then the
logged signed bytes are pushed again: the same transaction, so it can land at most once. Nothing
is ever re-signed blindly. A push that times out is not an error to retry but an unknown
outcome resolved the same way.

``private``: signed transactions go only to a private endpoint (Flashbots Protect-style
``eth_sendPrivateTransaction`` with a max block, or ``eth_sendRawTransaction`` to an RPC that
keeps them private); reads still go to the normal node.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from grekko_research.errors import GrekkoError
from live.chain.fees import MIN_REPLACEMENT_BUMP, Fees
from live.chain.nonces import NonceConflict, NonceManager, TxRecord
from live.compliance.screen import ComplianceRefused, Screener, default_screener

if TYPE_CHECKING:
    from web3 import AsyncWeb3

    from live.chain.keys import LocalSigner

__all__ = ["PrivateSubmitter", "SendFailed", "TxSender", "hexstr"]


class SendFailed(GrekkoError, RuntimeError):
    """The node refused a signed transaction for a reason resending cannot fix (funds, fees
    under the floor, bad chain id): the transaction is logged and never reached the chain."""


def hexstr(value: Any) -> str:
    """``0x``-prefixed lowercase hex of bytes/HexBytes/str."""
    if isinstance(value, str):
        return value.lower() if value.startswith("0x") else "0x" + value.lower()
    return "0x" + bytes(value).hex()


# Node answers that mean "this exact transaction is already there": nothing to do.
_KNOWN = ("already known", "known transaction", "already imported", "alreadyknown")
# Answers that mean the nonce is used: resolve which of our transactions took it.
_NONCE_USED = ("nonce too low", "nonce too small", "oldnonce")


class PrivateSubmitter:
    """Sends signed transactions to a private endpoint only (never the public node).

    ``method`` ``eth_sendPrivateTransaction`` sends ``{"tx": raw, "maxBlockNumber": head +
    max_blocks}`` (Flashbots Protect's API); ``eth_sendRawTransaction`` suits a private RPC
    (Flashbots Protect RPC, bloXroute, MEV Blocker) that keeps the transaction out of the mempool.
    """

    def __init__(
        self, url: str, *, max_blocks: int = 25, method: str = "eth_sendPrivateTransaction"
    ) -> None:
        from web3 import AsyncWeb3
        from web3.providers import AsyncHTTPProvider

        if method not in ("eth_sendPrivateTransaction", "eth_sendRawTransaction"):
            raise ValueError(
                f"private method {method!r}: eth_sendPrivateTransaction or eth_sendRawTransaction"
            )
        # No automatic retries: a lost answer is resolved by hash, never by a blind resend.
        provider = AsyncHTTPProvider(url, exception_retry_configuration=None)
        self.w3 = AsyncWeb3(provider)
        self.max_blocks = max_blocks
        self.method = method

    async def submit(self, raw: str, head_block: int) -> None:
        params: list[Any]
        if self.method == "eth_sendPrivateTransaction":
            params = [{"tx": raw, "maxBlockNumber": hex(head_block + self.max_blocks)}]
        else:
            params = [raw]
        resp = await self.w3.provider.make_request(self.method, params)
        if "error" in resp:
            raise _NodeRefused(str(resp["error"].get("message", resp["error"])))

    async def close(self) -> None:
        await self.w3.provider.disconnect()


class _NodeRefused(Exception):
    """The endpoint answered with an error (the message is the node's)."""


def _receipt_fields(r: Any) -> dict[str, Any]:
    return {
        "block": int(r["blockNumber"]),
        "block_hash": hexstr(r["blockHash"]),
        "success": int(r["status"]) == 1,
        "gas_used": int(r["gasUsed"]),
        "price": int(r.get("effectiveGasPrice") or 0),
    }


class TxSender:
    """One hot key's transactions on one chain: nonces from the log, signing, pushing, settling.

    One instance per (chain, address) per process; its lock serialises nonce allocation.
    ``confirmations``: a transaction is final after this many blocks (1 = its own block).
    """

    def __init__(
        self,
        w3: AsyncWeb3[Any],
        signer: LocalSigner,
        nonces: NonceManager,
        *,
        chain_id: int,
        confirmations: int = 1,
        bump: float = 0.125,
        private: PrivateSubmitter | None = None,
        poll_s: float = 0.05,
        screener: Screener | None = None,
    ) -> None:
        if bump < MIN_REPLACEMENT_BUMP:
            raise ValueError(f"replacement bump {bump} < {MIN_REPLACEMENT_BUMP}")
        self.w3 = w3
        self.signer = signer
        self.nonces = nonces
        self.chain_id = chain_id
        self.confirmations = confirmations
        self.bump = bump
        self.private = private
        self.poll_s = poll_s
        # Sanctions screening before every signature (fail closed: live/compliance/screen.py)
        self.screener = screener if screener is not None else default_screener()
        self._lock = asyncio.Lock()
        # Test hook: called with a step name after that step ("nonce": chosen, nothing signed;
        # "signed", "sent", "mined": logged); the crash tests SIGKILL the process there.
        self.after_step: Callable[[str, TxRecord | None], None] | None = None

    @property
    def address(self) -> str:
        return self.signer.address

    # -- sending -------------------------------------------------------------------------------

    async def send(
        self,
        tx: dict[str, Any],
        fees: Fees,
        *,
        gas: int,
        purpose: str,
        client_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> TxRecord:
        """Sign ``tx`` (``to``, ``data``, ``value``) at the next nonce, log it, push it.

        Returns the record (``sent``, or ``signed`` when the push's outcome is unknown: call
        :meth:`resolve`). Raises :class:`SendFailed` when the node refuses it for good.
        """
        async with self._lock:
            pending = int(await self.w3.eth.get_transaction_count(self.address, "pending"))  # type: ignore[arg-type]
            nonce = self.nonces.next_nonce(pending)
            self._step("nonce", None)
            rec = self._sign(tx, fees, gas=gas, nonce=nonce, purpose=purpose,
                             client_id=client_id, replaces=None)  # fmt: skip
            rec = replace(rec, meta=dict(meta or {}))
            self.nonces.record_signed(rec, self.bump)
        self._step("signed", rec)
        return await self._push(rec)

    def _sign(
        self, tx: dict[str, Any], fees: Fees, *, gas: int, nonce: int, purpose: str,
        client_id: str | None, replaces: str | None,
    ) -> TxRecord:  # fmt: skip
        try:  # sanctions screening refuses (and logs, alerts) before anything is signed
            self.screener.before_signing_evm(tx, chain_id=self.chain_id, purpose=purpose,
                                             store=self.nonces.store)  # fmt: skip
        except ComplianceRefused as e:
            raise SendFailed(str(e)) from e
        full = {
            "to": tx["to"], "data": tx.get("data", "0x"), "value": int(tx.get("value", 0)),
            "gas": gas, "nonce": nonce, "chainId": self.chain_id, **fees.tx_fields(),
        }  # fmt: skip
        signed = self.signer.sign(full)
        call = {"to": full["to"], "data": full["data"], "value": full["value"]}
        return TxRecord(nonce, hexstr(signed.hash), hexstr(signed.raw_transaction), fees, gas,
                        purpose, client_id, replaces, call=call)  # fmt: skip

    def _step(self, name: str, rec: TxRecord | None) -> None:
        if self.after_step is not None:
            self.after_step(name, rec)

    async def _push(self, rec: TxRecord) -> TxRecord:
        route = "private" if self.private is not None else "public"
        until = None
        try:
            if self.private is not None:
                head = int(await self.w3.eth.block_number)
                until = head + self.private.max_blocks
                await self.private.submit(rec.raw, head)
            else:
                await self._push_public(rec.raw)
        except _NodeRefused as e:
            msg = str(e).lower()
            if any(k in msg for k in _KNOWN):
                pass  # the same bytes are already there
            elif any(k in msg for k in _NONCE_USED):
                return await self.resolve(rec)
            else:
                raise SendFailed(f"node refused {rec.hash} (nonce {rec.nonce}): {e}") from None
        except Exception:  # timeout, connection lost: the outcome is unknown, never resent blindly
            return self.nonces.txs[rec.hash]  # the caller resolves it by hash and nonce
        self.nonces.record_sent(rec.hash, route, until)
        rec = self.nonces.txs[rec.hash]
        self._step("sent", rec)
        return rec

    async def _push_public(self, raw: str) -> None:
        resp = await self.w3.provider.make_request("eth_sendRawTransaction", [raw])
        if "error" in resp:
            raise _NodeRefused(str(resp["error"].get("message", resp["error"])))

    async def replace(self, rec: TxRecord, tx: dict[str, Any] | None = None,
                      fees: Fees | None = None, *, purpose: str = "replace") -> TxRecord:  # fmt: skip
        """Sign a replacement of ``rec`` at its nonce (``tx`` None: the same call) paying at
        least the bump over every transaction already at that nonce; log it, push it."""
        async with self._lock:
            floor = rec.fees
            for t in self.nonces.at(rec.nonce):
                floor = floor.at_least(t.fees)
            need = floor.bumped(self.bump)
            fees = need if fees is None else fees
            body = tx if tx is not None else rec.call
            new = self._sign(body, fees, gas=rec.gas if tx is None else int(tx.get("gas", rec.gas)),
                             nonce=rec.nonce, purpose=purpose, client_id=rec.client_id,
                             replaces=rec.hash)  # fmt: skip
            new = replace(new, meta=rec.meta)
            self.nonces.record_signed(new, self.bump)  # raises NonceConflict under the bump
        self._step("signed", new)
        return await self._push(new)

    async def cancel(self, rec: TxRecord) -> TxRecord:
        """Replace ``rec`` by a 0-value transfer to ourselves (21,000 gas) at its nonce."""
        body = {"to": self.address, "data": "0x", "value": 0, "gas": 21_000}
        return await self.replace(rec, body, purpose="cancel")

    # -- resolving -----------------------------------------------------------------------------

    async def _receipt(self, tx_hash: str) -> Any:
        from web3.exceptions import TransactionNotFound

        try:
            return await self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return None

    async def _known(self, tx_hash: str) -> bool:
        from web3.exceptions import TransactionNotFound

        try:
            await self.w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        return True

    async def resolve(self, rec: TxRecord) -> TxRecord:
        """Bring ``rec`` up to date with the chain by its hash and nonce (see the module doc)."""
        rec = self.nonces.txs[rec.hash]
        receipt = await self._receipt(rec.hash)
        if receipt is not None:
            fields = _receipt_fields(receipt)
            if rec.status not in ("mined", "confirmed") or rec.block_hash != fields["block_hash"]:
                self.nonces.record_mined(rec.hash, fields)
                self._step("mined", self.nonces.txs[rec.hash])
            return await self._confirm(self.nonces.txs[rec.hash])
        if rec.status in ("mined", "confirmed"):
            if await self._still_canonical(rec):  # a receipt lookup that missed, not a reorg
                return await self._confirm(rec)
            self.nonces.record_reorged(rec.hash, rec.block, rec.block_hash)  # its block left
            rec = self.nonces.txs[rec.hash]
        used = int(await self.w3.eth.get_transaction_count(self.address, "latest"))  # type: ignore[arg-type]
        if used > rec.nonce:
            if await self._receipt(rec.hash) is not None:  # mined between the two reads
                return await self.resolve(rec)
            return await self._superseded(rec)
        if await self._known(rec.hash):
            if rec.status == "signed":
                self.nonces.record_sent(rec.hash, "private" if self.private else "public")
            return self.nonces.txs[rec.hash]
        if (
            rec.route == "private"
            and rec.until_block is not None
            and int(await self.w3.eth.block_number) <= rec.until_block
        ):
            return rec  # the relay holds it (not in any public mempool) until its max block
        newest = self.nonces.at(rec.nonce)[-1]
        if newest.hash != rec.hash and await self._known(newest.hash):
            return rec  # a replacement of it is pending
        return await self._push(newest) if newest.hash == rec.hash else rec

    async def _still_canonical(self, rec: TxRecord) -> bool:
        """Whether ``rec``'s logged block is still the chain's block at its height (a node may
        answer a receipt lookup with null for a moment under load: the block hash decides)."""
        if rec.block is None:
            return False
        try:
            block = await self.w3.eth.get_block(rec.block)
        except Exception:  # the block is gone: its height is past the head
            return False
        if hexstr(block["hash"]) != rec.block_hash:
            return False
        return await self._receipt(rec.hash) is not None or rec.hash in {
            hexstr(h) for h in block["transactions"]
        }

    async def _superseded(self, rec: TxRecord) -> TxRecord:
        """The chain used ``rec``'s nonce: find which of our transactions took it."""
        for t in self.nonces.at(rec.nonce):
            if t.hash != rec.hash and await self._receipt(t.hash) is not None:
                await self.resolve(t)
                return self.nonces.txs[rec.hash]
        raise NonceConflict(
            f"nonce {rec.nonce} of {self.address} was used by a transaction this log never "
            "signed: is the hot key used elsewhere? halting"
        )

    async def _confirm(self, rec: TxRecord) -> TxRecord:
        head = int(await self.w3.eth.block_number)
        assert rec.block is not None
        depth = head - rec.block + 1
        if depth >= self.confirmations and rec.status != "confirmed":
            block = await self.w3.eth.get_block(rec.block)
            if hexstr(block["hash"]) == rec.block_hash:
                self.nonces.record_confirmed(rec.hash, depth)
        return self.nonces.txs[rec.hash]

    async def wait(self, rec: TxRecord, *, timeout_s: float = 60.0, final: bool = True) -> TxRecord:
        """Resolve ``rec`` until mined (``final``: confirmed) or ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        want = ("confirmed",) if final else ("mined", "confirmed")
        while True:
            rec = await self.resolve(rec)
            if rec.status in want:
                return rec
            others = [t for t in self.nonces.at(rec.nonce) if t.status in want]
            if others:
                return others[0]
            if time.monotonic() > deadline:
                return rec
            await asyncio.sleep(self.poll_s)

    async def recover(self) -> list[TxRecord]:
        """After a restart: resolve every unsettled logged transaction, oldest nonce first."""
        out = []
        for rec in self.nonces.unsettled():
            out.append(await self.resolve(rec))
        return out
