"""The durable nonce manager: every transaction we sign, per (chain, address), in the event log.

A transaction is logged (``dex_tx_signed``: nonce, hash, the signed bytes, fees, purpose)
**before** it is sent, so a crash at any point leaves a record of it: after a restart the
sender (:mod:`live.chain.sender`) resolves each logged transaction by its hash and nonce — mined,
still pending, or unknown to the node (then the *same signed bytes* go out again: the same hash,
never a second spend). The next nonce is the larger of the chain's pending count and the highest
logged nonce + 1, so a nonce signed but never sent is not handed out twice. Two transactions at
one nonce exist only when the second is an intended replacement (``replaces``) paying at least
the bump over every earlier one (:meth:`NonceManager.check_replacement`).

Events (stream ``dex:<chain id>:<address lowercase>``): ``dex_tx_signed``, ``dex_tx_sent``,
``dex_tx_mined``, ``dex_tx_confirmed``, ``dex_tx_reorged``. :func:`fold_txs` rebuilds the state
from them; the manager is only that fold plus the appends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from grekko_research.errors import GrekkoError
from live.chain.fees import MIN_REPLACEMENT_BUMP, Fees
from live.events import Event, EventStore

__all__ = ["KINDS", "NonceConflict", "NonceManager", "TxRecord", "fold_txs", "tx_stream"]

KINDS = ("dex_tx_signed", "dex_tx_sent", "dex_tx_mined", "dex_tx_confirmed", "dex_tx_reorged")


class NonceConflict(GrekkoError, RuntimeError):
    """A second transaction at a nonce that is not a valid replacement (refused before signing),
    or a nonce the chain used for a transaction we never signed (the key is shared: halt)."""


def tx_stream(chain_id: int, address: str) -> str:
    return f"dex:{chain_id}:{address.lower()}"


@dataclass(frozen=True)
class TxRecord:
    """One signed transaction and what we know of it.

    ``status``: ``signed`` (logged, maybe not sent), ``sent``, ``mined`` (a receipt, fewer than
    the confirmations needed), ``confirmed``, ``reorged`` (its block left the chain: pending
    again as far as we know).
    """

    nonce: int
    hash: str
    raw: str
    fees: Fees
    gas: int
    purpose: str  # "swap" | "cancel" | "replace" ...
    client_id: str | None
    replaces: str | None
    status: str = "signed"
    block: int | None = None
    block_hash: str | None = None
    success: bool | None = None
    gas_used: int | None = None
    price: int | None = None  # effective gas price paid, wei
    route: str | None = None  # "public" | "private"
    until_block: int | None = None  # private: the relay holds it up to this block
    meta: dict[str, Any] = field(default_factory=dict)  # the caller's (order symbol, side, qty)
    call: dict[str, Any] = field(
        default_factory=dict
    )  # to, data, value (what a replacement re-signs)


def _apply(state: dict[str, TxRecord], e: Event) -> dict[str, TxRecord]:
    p = e.payload
    if e.kind == "dex_tx_signed":
        state[p["hash"]] = TxRecord(
            p["nonce"], p["hash"], p["raw"], Fees.from_json(p["fees"]), p["gas"], p["purpose"],
            p.get("client_id"), p.get("replaces"), meta=dict(p.get("meta") or {}),
            call=dict(p.get("call") or {}),
        )  # fmt: skip
        return state
    rec = state.get(p["hash"])
    if rec is None:
        return state
    if e.kind == "dex_tx_sent":
        state[rec.hash] = replace(rec, status="sent" if rec.status == "signed" else rec.status,
                                  route=p.get("route"), until_block=p.get("until_block"))  # fmt: skip
    elif e.kind == "dex_tx_mined":
        state[rec.hash] = replace(rec, status="mined", block=p["block"], block_hash=p["block_hash"],
                                  success=p["success"], gas_used=p["gas_used"], price=p["price"])  # fmt: skip
    elif e.kind == "dex_tx_confirmed":
        state[rec.hash] = replace(rec, status="confirmed")
    elif e.kind == "dex_tx_reorged":
        state[rec.hash] = replace(rec, status="reorged", block=None, block_hash=None,
                                  success=None, gas_used=None, price=None)  # fmt: skip
    return state


def fold_txs(events: Iterable[Event]) -> dict[str, TxRecord]:
    """Every logged transaction by hash, in the state its events leave it."""
    state: dict[str, TxRecord] = {}
    for e in events:
        _apply(state, e)
    return state


class NonceManager:
    """Nonces and transaction records of one (chain, address), persisted in ``store``."""

    def __init__(
        self, store: EventStore, chain_id: int, address: str, clock: Callable[[], int]
    ) -> None:
        self.store = store
        self.chain_id = chain_id
        self.address = address
        self.stream = tx_stream(chain_id, address)
        self._clock = clock
        self.txs = fold_txs(store.read(stream=self.stream, kinds=KINDS))

    # -- reading -------------------------------------------------------------------------------

    def at(self, nonce: int) -> list[TxRecord]:
        """Our transactions at ``nonce``, in signing order."""
        return [t for t in self.txs.values() if t.nonce == nonce]

    def highest(self) -> int | None:
        return max((t.nonce for t in self.txs.values()), default=None)

    def next_nonce(self, chain_pending: int) -> int:
        """The nonce to sign with next: past the chain's pending count and every logged one."""
        top = self.highest()
        return max(chain_pending, 0 if top is None else top + 1)

    def unsettled(self) -> list[TxRecord]:
        """Transactions not yet confirmed (nor superseded by a confirmed one at their nonce)."""
        done = {t.nonce for t in self.txs.values() if t.status == "confirmed"}
        return sorted(
            (t for t in self.txs.values() if t.status != "confirmed" and t.nonce not in done),
            key=lambda t: (t.nonce, t.hash),
        )

    def check_replacement(self, nonce: int, fees: Fees, replaces: str | None, bump: float) -> None:
        """Refuse a second transaction at ``nonce`` unless it replaces a logged one of it and
        pays at least ``bump`` more than every earlier one (nodes need +10 %, anvil less)."""
        earlier = self.at(nonce)
        if not earlier:
            if replaces is not None:
                raise NonceConflict(f"nonce {nonce}: nothing to replace (no transaction logged)")
            return
        if replaces is None or replaces not in {t.hash for t in earlier}:
            raise NonceConflict(
                f"nonce {nonce} already carries {[t.hash for t in earlier]}: a second "
                "transaction there must be a replacement of one of them"
            )
        if any(t.status == "confirmed" for t in earlier):
            raise NonceConflict(f"nonce {nonce} is confirmed on chain: nothing can replace it")
        for t in earlier:
            if not fees.replaces(t.fees, max(bump, MIN_REPLACEMENT_BUMP)):
                raise NonceConflict(
                    f"nonce {nonce}: fees {fees.to_json()} are not {bump:.0%} above "
                    f"{t.hash}'s {t.fees.to_json()}"
                )

    # -- writing -------------------------------------------------------------------------------

    def _append(self, kind: str, payload: dict[str, Any]) -> None:
        e = self.store.append(kind, self.stream, payload, ts_ms=self._clock())
        _apply(self.txs, e)

    def record_signed(self, rec: TxRecord, bump: float = MIN_REPLACEMENT_BUMP) -> None:
        """Log a signed transaction before it is sent (the check for a second one at its nonce
        runs first: nothing is logged when it fails)."""
        self.check_replacement(rec.nonce, rec.fees, rec.replaces, bump)
        self._append("dex_tx_signed", {
            "nonce": rec.nonce, "hash": rec.hash, "raw": rec.raw, "fees": rec.fees.to_json(),
            "gas": rec.gas, "purpose": rec.purpose, "client_id": rec.client_id,
            "replaces": rec.replaces, "meta": rec.meta, "call": rec.call,
        })  # fmt: skip

    def record_sent(self, tx_hash: str, route: str, until_block: int | None = None) -> None:
        self._append("dex_tx_sent", {"hash": tx_hash, "route": route, "until_block": until_block})

    def record_mined(self, tx_hash: str, receipt: dict[str, Any]) -> None:
        self._append("dex_tx_mined", {
            "hash": tx_hash, "block": receipt["block"], "block_hash": receipt["block_hash"],
            "success": receipt["success"], "gas_used": receipt["gas_used"],
            "price": receipt["price"],
        })  # fmt: skip

    def record_confirmed(self, tx_hash: str, confirmations: int) -> None:
        self._append("dex_tx_confirmed", {"hash": tx_hash, "confirmations": confirmations})

    def record_reorged(self, tx_hash: str, block: int | None, block_hash: str | None) -> None:
        self._append("dex_tx_reorged", {"hash": tx_hash, "block": block, "block_hash": block_hash})
