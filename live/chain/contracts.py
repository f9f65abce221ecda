"""Load the committed artifacts, deploy them, send calls and decode their events and errors.

Every transaction is simulated with ``eth_call`` first and never sent when the simulation
reverts (money-moving code fails closed); a revert is raised as :class:`ContractRevert` with
the contract's custom error decoded by name (``InsufficientOutput(amountOut, minOut)``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from live.chain.build import ARTIFACTS_DIR

if TYPE_CHECKING:
    from web3 import Web3
    from web3.contract import Contract
    from web3.types import TxReceipt

__all__ = [
    "Artifact",
    "ChainClient",
    "ContractRevert",
    "DecodedEvent",
    "NodeSigner",
    "Signer",
    "load_artifact",
]

_ERROR_STRING = "0x08c379a0"  # Error(string)
_PANIC = "0x4e487b71"  # Panic(uint256)


@dataclass(frozen=True)
class Artifact:
    """A compiled contract as committed under ``contracts/artifacts``."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    compiler_version: str
    source_hash: str
    path: Path


def load_artifact(name: str, *, test: bool = False, root: Path = ARTIFACTS_DIR) -> Artifact:
    """Read artifact ``name`` (``test=True``: the test-only contracts under ``artifacts/test``)."""
    path = (root / "test" if test else root) / f"{name}.json"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.json"))
        raise FileNotFoundError(f"no artifact {name!r} at {path} (known: {', '.join(known)})")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data.get("bytecode"), str) or len(data["bytecode"]) <= 2:
        raise ValueError(f"{path}: artifact has no bytecode")
    return Artifact(
        name=data["contractName"],
        abi=data["abi"],
        bytecode=data["bytecode"],
        compiler_version=data["compiler"]["version"],
        source_hash=data["sourceHash"],
        path=path,
    )


class ContractRevert(RuntimeError):
    """A call or transaction reverted; ``error`` is the decoded custom error's name."""

    def __init__(self, error: str, args: tuple[Any, ...] = (), data: str = "") -> None:
        self.error = error
        self.args_ = args
        self.data = data
        super().__init__(f"reverted: {error}{args if args else ''}")


@dataclass(frozen=True)
class DecodedEvent:
    """One log of a receipt, decoded against the emitting contract's ABI."""

    name: str
    address: str
    args: dict[str, Any]


class Signer(Protocol):
    """Who sends: a local key (``live.chain.keys.LocalSigner``) or a node's unlocked account."""

    @property
    def address(self) -> str: ...

    def send(self, w3: Web3, tx: dict[str, Any]) -> bytes: ...


@dataclass(frozen=True)
class NodeSigner:
    """An account the node signs for (anvil's dev accounts): ``eth_sendTransaction``."""

    address: str

    def send(self, w3: Web3, tx: dict[str, Any]) -> bytes:
        return bytes(w3.eth.send_transaction({**tx, "from": self.address}))  # type: ignore[typeddict-item]


def _hex(data: Any) -> str:
    if isinstance(data, bytes | bytearray):
        return "0x" + bytes(data).hex()
    if isinstance(data, str):
        return data if data.startswith("0x") else "0x" + data
    return ""


@dataclass
class ChainClient:
    """One network connection and the ABIs it decodes errors and events with.

    ``on_receipt(contract, function, gas_used)`` is called after every mined transaction (the
    tests' gas report hooks in here).
    """

    w3: Web3
    on_receipt: Callable[[str, str, int], None] | None = None
    _errors: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    _names: dict[str, str] = field(default_factory=dict)
    _abis: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def register(self, artifact: Artifact, address: str) -> Contract:
        """A web3 contract at ``address`` whose errors and events this client decodes."""
        from eth_utils import function_signature_to_4byte_selector

        for item in artifact.abi:
            if item["type"] == "error":
                types = [i["type"] for i in item["inputs"]]
                sig = f"{item['name']}({','.join(types)})"
                sel = "0x" + function_signature_to_4byte_selector(sig).hex()
                self._errors[sel] = (item["name"], types)
        address = self.w3.to_checksum_address(address)
        self._names[address] = artifact.name
        self._abis[address] = artifact.abi
        return self.w3.eth.contract(address=address, abi=artifact.abi)

    def decode_revert(self, data: Any) -> ContractRevert:
        """The :class:`ContractRevert` for raw revert ``data``."""
        from eth_abi import decode

        raw = _hex(data)
        sel, body = raw[:10], bytes.fromhex(raw[10:]) if len(raw) > 10 else b""
        if sel == _ERROR_STRING:
            return ContractRevert("Error", tuple(decode(["string"], body)), raw)
        if sel == _PANIC:
            return ContractRevert("Panic", tuple(decode(["uint256"], body)), raw)
        if sel in self._errors:
            name, types = self._errors[sel]
            values = tuple(
                self.w3.to_checksum_address(v) if t == "address" else v
                for t, v in zip(types, decode(types, body), strict=True)
            )
            return ContractRevert(name, values, raw)
        return ContractRevert(f"unknown revert {raw or '(no data)'}", (), raw)

    def _revert_from(self, exc: Exception) -> ContractRevert | None:
        for candidate in (getattr(exc, "data", None), *getattr(exc, "args", ())):
            if isinstance(candidate, dict):
                candidate = candidate.get("data")
            raw = _hex(candidate)
            if raw.startswith("0x") and (len(raw) == 2 or len(raw) >= 10):
                try:
                    int(raw, 16)
                except ValueError:
                    continue
                return self.decode_revert(raw)
        return None

    def simulate(self, tx: dict[str, Any]) -> bytes:
        """``eth_call`` ``tx``; a revert raises :class:`ContractRevert`."""
        from web3.exceptions import ContractLogicError, Web3RPCError

        try:
            return bytes(self.w3.eth.call(tx))  # type: ignore[arg-type]
        except (ContractLogicError, Web3RPCError) as e:
            rev = self._revert_from(e)
            if rev is None:
                raise
            raise rev from e

    def call(self, fn: Any, *, sender: str | None = None) -> Any:
        """Read-only call of a bound contract function; a revert raises :class:`ContractRevert`."""
        from web3.exceptions import ContractLogicError, Web3RPCError

        try:
            return fn.call({"from": sender} if sender else {})
        except (ContractLogicError, Web3RPCError) as e:
            rev = self._revert_from(e)
            if rev is None:
                raise
            raise rev from e

    def _send(self, tx: dict[str, Any], signer: Signer, label: tuple[str, str]) -> TxReceipt:
        from hexbytes import HexBytes
        from web3.exceptions import ContractLogicError, Web3RPCError

        tx = {**tx, "from": signer.address}
        # eth_estimateGas runs the transaction on the latest state: the simulation that must
        # pass before anything is sent (a revert raises here with the decoded error).
        try:
            gas = int(self.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
        except (ContractLogicError, Web3RPCError) as e:
            rev = self._revert_from(e)
            if rev is None:
                raise
            raise rev from e
        # The limit, not the price: only gas used is paid. The estimate runs on the latest
        # block's time; the mined block may be a second later, and then every V2 pair on the
        # route writes its two price accumulators (20,000 gas each from zero) that the estimate
        # never priced: 1.2x + 10,000 ran out of gas on a two-pair route (test_executor_swaps).
        tx["gas"] = gas * 3 // 2 + 100_000
        tx_hash = HexBytes(signer.send(self.w3, tx))
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
        if receipt["status"] != 1:
            raise self._mined_failure(tx, receipt)
        if self.on_receipt is not None:
            self.on_receipt(label[0], label[1], int(receipt["gasUsed"]))
        return receipt

    def _mined_failure(self, tx: dict[str, Any], receipt: TxReceipt) -> ContractRevert:
        """Why a mined transaction failed though its simulation passed: its gas and, replayed
        on the state it was mined on, the decoded revert (out of gas shows as used == limit)."""
        where = (
            f"transaction {receipt['transactionHash'].hex()} failed on chain in block "
            f"{receipt['blockNumber']} (gas used {receipt['gasUsed']} of {tx['gas']})"
        )
        if int(receipt["gasUsed"]) * 64 >= int(tx["gas"]) * 63:
            where += ": out of gas"
        replay = {k: tx[k] for k in ("from", "to", "data", "value", "gas") if k in tx}
        try:
            self.w3.eth.call(replay, receipt["blockNumber"] - 1)  # type: ignore[arg-type]
        except Exception as e:  # any answer is diagnosis here, not control flow
            rev = self._revert_from(e)
            reason = rev.error if rev is not None else f"{type(e).__name__}: {e}"
            return ContractRevert(f"{reason}; {where}")
        return ContractRevert(f"{where}; replayed on its parent state it succeeds")

    def transact(self, fn: Any, signer: Signer, *, value: int = 0) -> TxReceipt:
        """Simulate, then send bound function ``fn`` from ``signer``; return the receipt."""
        tx = {"to": fn.address, "data": fn._encode_transaction_data(), "value": value}
        name = self._names.get(self.w3.to_checksum_address(fn.address), "?")
        return self._send(tx, signer, (name, fn.fn_name))

    def deploy(self, artifact: Artifact, args: Sequence[Any], signer: Signer) -> Contract:
        """Deploy ``artifact`` with constructor ``args``; the registered contract."""
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        data = factory.constructor(*args).data_in_transaction
        receipt = self._send({"data": data}, signer, (artifact.name, "(deploy)"))
        address = receipt["contractAddress"]
        if not address:
            raise ContractRevert(f"deploying {artifact.name}: no contract address in receipt")
        return self.register(artifact, address)

    def events(self, receipt: TxReceipt) -> list[DecodedEvent]:
        """Decode the receipt's logs emitted by registered contracts (others are skipped)."""
        from web3._utils.events import get_event_data

        out: list[DecodedEvent] = []
        for log in receipt["logs"]:
            address = self.w3.to_checksum_address(log["address"])
            for item in self._abis.get(address, []):
                if item.get("type") != "event":
                    continue
                try:
                    ev = get_event_data(self.w3.codec, item, log)
                except Exception:
                    continue
                out.append(DecodedEvent(ev["event"], address, dict(ev["args"])))
                break
        return out
