"""The ledger behind the local Solana peer: LiteSVM plus what an RPC node adds on top of it.

LiteSVM executes transactions with the real SPL Token, Token-2022 and Associated Token
Account programs, but it has no slots that advance, no blocks and no history of notifications.
:class:`Chain` adds them: every successful transaction is its own block in the next slot
(:meth:`skip` leaves slots empty, as a leader that produced nothing), with the JSON shapes of
``getAccountInfo``, ``getTokenLargestAccounts``, ``simulateTransaction`` … and of the
``logsNotification`` / ``blockNotification`` values the PubSub side sends.

Everything here is synchronous and single-threaded (the server calls it from its event loop).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from solders.account import Account
from solders.hash import Hash
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

__all__ = ["TOKEN_2022_PROGRAM", "TOKEN_PROGRAM", "Block", "Chain", "RpcFault", "tx_error_json"]

TOKEN_PROGRAM = Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA")
TOKEN_2022_PROGRAM = Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb")
API_VERSION = "2.1.0"
FIRST_SLOT = 300_000_000


class RpcFault(Exception):
    """A JSON-RPC error answer (``code``, ``message``)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def tx_error_json(err: Any) -> Any:
    """A solders transaction error as the RPC writes it (``"AccountNotFound"``,
    ``{"InstructionError": [2, {"Custom": 1}]}``)."""
    text = str(err)
    name = type(err).__name__
    if name == "TransactionErrorFieldless":
        return text.split(".")[-1]
    if name == "TransactionErrorInstructionError":
        index, inner = err.index, err.err
        kind = type(inner).__name__
        if kind == "InstructionErrorCustom":
            detail: Any = {"Custom": inner.code}
        elif kind == "InstructionErrorFieldless":
            detail = str(inner).split(".")[-1]
        else:
            detail = str(inner)
        return {"InstructionError": [index, detail]}
    return text


@dataclass
class Block:
    """One produced block: its slot, parent, hash and transaction entries (base64 + meta)."""

    slot: int
    parent_slot: int
    blockhash: str
    previous_blockhash: str
    block_time: int
    entries: list[dict[str, Any]] = field(default_factory=list)
    keys: list[set[str]] = field(default_factory=list)  # each entry's account keys


class Chain:
    """LiteSVM with slots, blocks, statuses and the RPC's JSON shapes."""

    def __init__(self, clock_s: Callable[[], int] | None = None) -> None:
        self.svm = LiteSVM()
        self.slot = FIRST_SLOT
        self.last_block_slot = FIRST_SLOT
        self.svm.warp_to_slot(self.slot)
        self._clock_s = clock_s or (lambda: 1_733_400_000 + (self.slot - FIRST_SLOT) * 2 // 5)
        self.statuses: dict[str, tuple[int, Any]] = {}  # signature -> (slot, err json or None)
        self._last_hash = str(Hash.default())
        self.extra_logs: dict[str, list[str]] = {}  # signature -> log lines a stand-in adds

    # -- context ---------------------------------------------------------------------

    def context(self) -> dict[str, Any]:
        return {"slot": self.slot, "apiVersion": API_VERSION}

    def skip(self, n: int) -> None:
        """Leave ``n`` slots empty (skipped: no block; the next block's parent is the last
        block, so a subscriber sees no gap)."""
        self.slot += n
        self.svm.warp_to_slot(self.slot)

    # -- accounts --------------------------------------------------------------------

    def account_json(self, key: Pubkey, encoding: str = "base64") -> dict[str, Any] | None:
        acc = self.svm.get_account(key)
        if acc is None or (acc.lamports == 0 and not acc.data):
            return None
        data = bytes(acc.data)
        if encoding not in ("base64", "base64+zstd"):
            raise RpcFault(-32602, f"Invalid params: encoding {encoding!r} not served")
        return {
            "data": [base64.b64encode(data).decode(), "base64"],
            "executable": acc.executable,
            "lamports": acc.lamports,
            "owner": str(acc.owner),
            "rentEpoch": 18446744073709551615,
            "space": len(data),
        }

    def set_account(
        self, key: Pubkey, owner: Pubkey, data: bytes, lamports: int | None = None
    ) -> None:
        """Write an account directly (a stand-in for a program LiteSVM does not have)."""
        rent = self.svm.minimum_balance_for_rent_exemption(len(data))
        self.svm.set_account(
            key,
            Account(lamports=lamports if lamports is not None else rent, data=data, owner=owner),
        )

    def token_accounts(self, mint: Pubkey) -> list[tuple[Pubkey, int, Pubkey]]:
        """(address, amount, token program) of every token account of ``mint``."""
        out = []
        for program in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
            for address, acc in self.svm.get_program_accounts(program):
                data = bytes(acc.data)
                if (
                    len(data) >= 165
                    and data[:32] == bytes(mint)
                    and (len(data) == 165 or data[165] == 2)
                ):
                    out.append((address, int.from_bytes(data[64:72], "little"), program))
        return out

    def largest_accounts(self, mint: Pubkey) -> list[dict[str, Any]]:
        acc = self.svm.get_account(mint)
        if acc is None or acc.owner not in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
            raise RpcFault(-32602, "Invalid param: not a Token mint")
        decimals = bytes(acc.data)[44]
        rows = sorted(self.token_accounts(mint), key=lambda r: (-r[1], str(r[0])))[:20]
        return [
            {
                "address": str(address),
                "amount": str(amount),
                "decimals": decimals,
                "uiAmount": amount / 10**decimals,
                "uiAmountString": _ui_string(amount, decimals),
            }
            for address, amount, _ in rows
        ]

    # -- transactions ----------------------------------------------------------------

    def decode_tx(self, b64: str) -> VersionedTransaction:
        try:
            return VersionedTransaction.from_bytes(base64.b64decode(b64, validate=True))
        except Exception as e:
            raise RpcFault(-32602, f"invalid transaction: failed to deserialize: {e}") from e

    def simulate(
        self, tx: VersionedTransaction, *, replace_blockhash: bool, sig_verify: bool
    ) -> dict[str, Any]:
        from live.sim.solana._pump import emulate_sell  # the launch program's sell, emulated

        emulated = emulate_sell(
            self, tx, replace_blockhash=replace_blockhash, sig_verify=sig_verify
        )
        if emulated is not None:
            return emulated
        if replace_blockhash:
            tx = _with_blockhash(tx, self.svm.latest_blockhash())
        self.svm.with_sigverify(sig_verify)  # the RPC's default: signatures not checked
        try:
            result = self.svm.simulate_transaction(tx)
        finally:
            self.svm.with_sigverify(True)
        if isinstance(result, FailedTransactionMetadata):
            meta = result.meta()
            err: Any = tx_error_json(result.err())
        else:
            meta, err = result.meta(), None
        return {
            "err": err,
            "logs": list(meta.logs()),
            "accounts": None,
            "unitsConsumed": meta.compute_units_consumed(),
            "returnData": None,
            "innerInstructions": None,
            "replacementBlockhash": None,
            "loadedAccountsDataSize": None,
        }

    def send(
        self, tx: VersionedTransaction | Transaction, extra_logs: Sequence[str] = ()
    ) -> tuple[str, Block | None]:
        """Execute ``tx``; on success it becomes the next slot's block. Returns the signature
        and the block (``None`` if it failed: failed transactions are not included here)."""
        result = self.svm.send_transaction(tx)
        sig = str(tx.signatures[0])
        if isinstance(result, FailedTransactionMetadata):
            err = tx_error_json(result.err())
            if err == "AlreadyProcessed":
                raise RpcFault(
                    -32002,
                    "Transaction simulation failed: This transaction has already been processed",
                )
            logs = list(result.meta().logs())
            raise RpcFault(
                -32002,
                f"Transaction simulation failed: Error processing transaction: {err}; logs: {logs[-3:]}",
            )
        logs = list(result.logs()) + list(extra_logs)
        block = self._produce(tx, logs, result.fee(), result.compute_units_consumed())
        self.statuses[sig] = (block.slot, None)
        return sig, block

    def _produce(
        self, tx: VersionedTransaction | Transaction, logs: list[str], fee: int, units: int
    ) -> Block:
        parent = self.last_block_slot
        self.slot += 1
        self.last_block_slot = self.slot
        self.svm.warp_to_slot(self.slot)
        self.svm.expire_blockhash()  # a new block, a new blockhash
        blockhash = str(self.svm.latest_blockhash())
        versioned = (
            tx if isinstance(tx, VersionedTransaction) else VersionedTransaction.from_legacy(tx)
        )
        keys = {str(k) for k in versioned.message.account_keys}
        entry: dict[str, Any] = {
            "transaction": [base64.b64encode(bytes(versioned)).decode(), "base64"],
            "meta": {
                "err": None,
                "status": {"Ok": None},
                "fee": fee,
                "preBalances": [],
                "postBalances": [],
                "innerInstructions": [],
                "logMessages": logs,
                "preTokenBalances": [],
                "postTokenBalances": [],
                "rewards": [],
                "loadedAddresses": {"writable": [], "readonly": []},
                "computeUnitsConsumed": units,
            },
            "version": "legacy" if isinstance(tx, Transaction) else 0,
        }
        block = Block(
            self.slot, parent, blockhash, self._last_hash, self._clock_s(), [entry], [keys]
        )
        self._last_hash = blockhash
        return block

    def block_value(self, block: Block, details: str = "full") -> dict[str, Any]:
        """A ``blockNotification`` value of ``block``."""
        body: dict[str, Any] = {
            "previousBlockhash": block.previous_blockhash,
            "blockhash": block.blockhash,
            "parentSlot": block.parent_slot,
            "blockTime": block.block_time,
            "blockHeight": block.slot - FIRST_SLOT,
            "rewards": [],
        }
        if details == "full":
            body["transactions"] = block.entries
        elif details == "signatures":
            body["signatures"] = [
                str(
                    VersionedTransaction.from_bytes(
                        base64.b64decode(e["transaction"][0])
                    ).signatures[0]
                )
                for e in block.entries
            ]
        return {"slot": block.slot, "block": body, "err": None}

    def status_json(self, sig: str) -> dict[str, Any] | None:
        found = self.statuses.get(sig)
        if found is None:
            return None
        slot, err = found
        return {
            "slot": slot,
            "confirmations": None,
            "err": err,
            "status": {"Ok": None} if err is None else {"Err": err},
            "confirmationStatus": "finalized",
        }


def _with_blockhash(tx: VersionedTransaction, blockhash: Hash) -> VersionedTransaction:
    """``tx`` with another recent blockhash (signatures kept: simulation skips verifying)."""
    from solders.message import Message, MessageV0

    msg = tx.message
    if isinstance(msg, Message):
        new: Any = Message.new_with_compiled_instructions(
            msg.header.num_required_signatures,
            msg.header.num_readonly_signed_accounts,
            msg.header.num_readonly_unsigned_accounts,
            list(msg.account_keys),
            blockhash,
            list(msg.instructions),
        )
    else:
        assert isinstance(msg, MessageV0)
        new = MessageV0(
            msg.header,
            list(msg.account_keys),
            blockhash,
            list(msg.instructions),
            list(msg.address_table_lookups),
        )
    return VersionedTransaction.populate(new, list(tx.signatures))


def _ui_string(amount: int, decimals: int) -> str:
    if decimals == 0:
        return str(amount)
    whole, frac = divmod(amount, 10**decimals)
    frac_s = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{whole}.{frac_s}" if frac_s else str(whole)


def pseudo_signature(seed: str) -> Signature:
    """A deterministic signature-shaped id for stand-in transactions."""
    digest = hashlib.sha512(seed.encode()).digest()
    return Signature.from_bytes(digest)
