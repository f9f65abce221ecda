"""Pure parsers of pump.fun launches and trades from Solana RPC answers.

Nothing here does I/O. The inputs are the shapes the RPC delivers:

- ``getTransaction`` with ``encoding=jsonParsed`` (instructions whose ``data`` is base58);
- a ``blockSubscribe`` transaction entry (``{"transaction": [b64, "base64"], "meta": ...}``);
- a ``logsSubscribe`` notification value (``{"signature", "err", "logs"}``).

A launch is recognised two ways, each by its Anchor discriminator (the first 8 bytes of
``sha256("global:create")`` for the instruction, ``sha256("event:CreateEvent")`` for the event
the program emits into its logs as ``Program data: <base64>``). Trades are the program's
``TradeEvent``. A byte string that carries a known discriminator but does not decode is a
:class:`ParseError` naming the field and offset: never a half-filled record.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from grekko_research.errors import DataError

__all__ = [
    "CREATE_EVENT",
    "CREATE_IX",
    "PUMP_PROGRAM",
    "TRADE_EVENT",
    "Launch",
    "ParseError",
    "Trade",
    "b58decode",
    "b58encode",
    "discriminator",
    "launches_from_block",
    "launches_from_logs",
    "launches_from_transaction",
    "parse_create_event",
    "parse_create_instruction",
    "parse_trade_event",
    "program_data",
    "trades_from_logs",
]

PUMP_PROGRAM = "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"


class ParseError(DataError):
    """An RPC answer that carries a known discriminator (or shape) but does not decode."""


def discriminator(name: str) -> bytes:
    """Anchor's 8-byte discriminator of ``name`` (``"global:create"``, ``"event:TradeEvent"``)."""
    return hashlib.sha256(name.encode()).digest()[:8]


CREATE_IX = discriminator("global:create")
BUY_IX = discriminator("global:buy")
SELL_IX = discriminator("global:sell")
CREATE_EVENT = discriminator("event:CreateEvent")
TRADE_EVENT = discriminator("event:TradeEvent")

# The create instruction's accounts, in the program's order (IDL of the launch program).
CREATE_ACCOUNTS = (
    "mint",
    "mint_authority",
    "bonding_curve",
    "associated_bonding_curve",
    "global",
    "mpl_token_metadata",
    "metadata",
    "user",
)

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


def b58decode(text: str) -> bytes:
    """Decode base58 (Bitcoin alphabet), as Solana writes keys, signatures and data."""
    n = 0
    for i, ch in enumerate(text):
        digit = _B58_INDEX.get(ch)
        if digit is None:
            raise ParseError(f"invalid base58 character {ch!r} at position {i}")
        n = n * 58 + digit
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    pad = len(text) - len(text.lstrip("1"))
    return b"\x00" * pad + body


def b58encode(data: bytes) -> str:
    """Encode ``data`` as base58 (inverse of :func:`b58decode`)."""
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58[r])
    pad = len(data) - len(data.lstrip(b"\x00"))
    return "1" * pad + "".join(reversed(out))


@dataclass(frozen=True)
class Launch:
    """A new bonding-curve token, from its create instruction or its ``CreateEvent``."""

    mint: str
    bonding_curve: str
    creator: str
    name: str
    symbol: str
    uri: str
    signature: str | None = None
    slot: int | None = None
    associated_bonding_curve: str | None = None
    mint_authority: str | None = None
    source: str = "event"  # "instruction" | "event"

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Trade:
    """One bonding-curve trade (``TradeEvent``): reserves are those *after* the trade."""

    mint: str
    sol_amount: int
    token_amount: int
    is_buy: bool
    user: str
    timestamp: int
    virtual_sol_reserves: int
    virtual_token_reserves: int
    real_sol_reserves: int | None = None
    real_token_reserves: int | None = None


class _Reader:
    """A cursor over bytes that names the field it failed on."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, n: int, field: str) -> bytes:
        if self.pos + n > len(self.data):
            raise ParseError(
                f"{self.what}: field {field!r} needs {n} bytes at offset {self.pos}, "
                f"only {len(self.data) - self.pos} left"
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u64(self, field: str) -> int:
        return int(struct.unpack("<Q", self.take(8, field))[0])

    def i64(self, field: str) -> int:
        return int(struct.unpack("<q", self.take(8, field))[0])

    def bool(self, field: str) -> bool:
        b = self.take(1, field)[0]
        if b > 1:
            raise ParseError(f"{self.what}: field {field!r} is not a bool (byte {b})")
        return b == 1

    def pubkey(self, field: str) -> str:
        return b58encode(self.take(32, field))

    def string(self, field: str, limit: int = 1024) -> str:
        (n,) = struct.unpack("<I", self.take(4, f"{field} length"))
        if n > limit:
            raise ParseError(f"{self.what}: field {field!r} claims {n} bytes (limit {limit})")
        raw = self.take(n, field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ParseError(f"{self.what}: field {field!r} is not UTF-8: {e}") from e

    def left(self) -> int:
        return len(self.data) - self.pos


def parse_create_instruction(
    data: bytes, accounts: Sequence[str], *, signature: str | None = None, slot: int | None = None
) -> Launch:
    """The :class:`Launch` of a create instruction (``data`` starting with its discriminator).

    Raises
    ------
    ParseError
        If the discriminator differs, a field is cut short, or an account is missing.
    """
    if data[:8] != CREATE_IX:
        raise ParseError(f"create instruction: discriminator {data[:8].hex()} is not create")
    if len(accounts) < len(CREATE_ACCOUNTS):
        raise ParseError(
            f"create instruction: {len(accounts)} accounts, needs {len(CREATE_ACCOUNTS)}"
        )
    r = _Reader(data[8:], "create instruction")
    name, symbol, uri = r.string("name"), r.string("symbol"), r.string("uri")
    acc = dict(zip(CREATE_ACCOUNTS, accounts, strict=False))
    return Launch(
        mint=acc["mint"],
        bonding_curve=acc["bonding_curve"],
        creator=acc["user"],
        name=name,
        symbol=symbol,
        uri=uri,
        signature=signature,
        slot=slot,
        associated_bonding_curve=acc["associated_bonding_curve"],
        mint_authority=acc["mint_authority"],
        source="instruction",
    )


def parse_create_event(
    data: bytes, *, signature: str | None = None, slot: int | None = None
) -> Launch:
    """The :class:`Launch` of a ``CreateEvent`` (``data`` starting with its discriminator).

    Newer program versions append fields (creator, timestamp, reserves) after ``user``;
    those are not needed here and are ignored.
    """
    if data[:8] != CREATE_EVENT:
        raise ParseError(f"CreateEvent: discriminator {data[:8].hex()} is not CreateEvent")
    r = _Reader(data[8:], "CreateEvent")
    name, symbol, uri = r.string("name"), r.string("symbol"), r.string("uri")
    mint, curve, user = r.pubkey("mint"), r.pubkey("bonding_curve"), r.pubkey("user")
    return Launch(mint, curve, user, name, symbol, uri, signature, slot, source="event")


def parse_trade_event(data: bytes) -> Trade:
    """The :class:`Trade` of a ``TradeEvent`` (``data`` starting with its discriminator)."""
    if data[:8] != TRADE_EVENT:
        raise ParseError(f"TradeEvent: discriminator {data[:8].hex()} is not TradeEvent")
    r = _Reader(data[8:], "TradeEvent")
    mint = r.pubkey("mint")
    sol, tok, is_buy = r.u64("sol_amount"), r.u64("token_amount"), r.bool("is_buy")
    user, ts = r.pubkey("user"), r.i64("timestamp")
    vsr, vtr = r.u64("virtual_sol_reserves"), r.u64("virtual_token_reserves")
    rsr = r.u64("real_sol_reserves") if r.left() >= 16 else None
    rtr = r.u64("real_token_reserves") if rsr is not None else None
    return Trade(mint, sol, tok, is_buy, user, ts, vsr, vtr, rsr, rtr)


def program_data(logs: Iterable[str]) -> list[bytes]:
    """The payloads of every ``Program data: <base64>`` log line, in order."""
    out = []
    for i, line in enumerate(logs):
        if not isinstance(line, str):
            raise ParseError(f"log line {i} is {type(line).__name__}, not a string")
        if line.startswith("Program data: "):
            try:
                out.append(base64.b64decode(line[len("Program data: ") :], validate=True))
            except ValueError as e:
                raise ParseError(f"log line {i}: Program data is not base64: {e}") from e
    return out


def launches_from_logs(
    logs: Iterable[str], *, signature: str | None = None, slot: int | None = None
) -> list[Launch]:
    """Every ``CreateEvent`` in a transaction's log lines."""
    return [
        parse_create_event(d, signature=signature, slot=slot)
        for d in program_data(logs)
        if d[:8] == CREATE_EVENT
    ]


def trades_from_logs(logs: Iterable[str]) -> list[Trade]:
    """Every ``TradeEvent`` in a transaction's log lines."""
    return [parse_trade_event(d) for d in program_data(logs) if d[:8] == TRADE_EVENT]


def _need(obj: Any, key: str, where: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise ParseError(f"{where}: missing {key!r}")
    return obj[key]


def _parsed_instructions(
    result: Mapping[str, Any],
) -> tuple[list[str], list[tuple[str, bytes, list[str]]]]:
    """Account keys and (program, data, accounts) of a jsonParsed transaction, outer
    instructions then inner ones (a create called through another program lands there)."""
    tx = _need(result, "transaction", "getTransaction result")
    msg = _need(tx, "message", "transaction")
    keys = [
        k["pubkey"] if isinstance(k, Mapping) else k for k in _need(msg, "accountKeys", "message")
    ]
    ixs: list[Any] = list(_need(msg, "instructions", "message"))
    meta = result.get("meta") or {}
    for inner in meta.get("innerInstructions") or []:
        ixs.extend(inner.get("instructions") or [])
    out = []
    for i, ix in enumerate(ixs):
        if "parsed" in ix:  # a program the node knows (system, token …): not ours
            continue
        data = b58decode(_need(ix, "data", f"instruction {i}"))
        out.append((str(_need(ix, "programId", f"instruction {i}")), data, list(ix["accounts"])))
    return keys, out


def launches_from_transaction(
    result: Mapping[str, Any], *, program: str = PUMP_PROGRAM
) -> list[Launch]:
    """Launches in a ``getTransaction`` (``jsonParsed``) result: create instructions of
    ``program``, completed by the ``CreateEvent`` in its logs when present.

    A failed transaction (``meta.err`` set) launches nothing.
    """
    meta = result.get("meta")
    if meta is not None and meta.get("err") is not None:
        return []
    sigs = _need(_need(result, "transaction", "getTransaction result"), "signatures", "transaction")
    sig, slot = (sigs[0] if sigs else None), result.get("slot")
    _, ixs = _parsed_instructions(result)
    found = [
        parse_create_instruction(data, accounts, signature=sig, slot=slot)
        for prog, data, accounts in ixs
        if prog == program and data[:8] == CREATE_IX
    ]
    if not found and meta is not None:  # an unparsed CPI: the event still says it
        found = launches_from_logs(meta.get("logMessages") or [], signature=sig, slot=slot)
    return found


def _block_entry_launches(entry: Mapping[str, Any], slot: int | None, program: str) -> list[Launch]:
    from solders.transaction import VersionedTransaction

    meta = entry.get("meta")
    if meta is not None and meta.get("err") is not None:
        return []
    raw = _need(entry, "transaction", "block transaction")
    if not (isinstance(raw, list) and len(raw) == 2 and raw[1] == "base64"):
        raise ParseError("block transaction: expected [data, 'base64'] (encoding=base64)")
    try:
        tx = VersionedTransaction.from_bytes(base64.b64decode(raw[0], validate=True))
    except Exception as e:  # solders raises its own error types
        raise ParseError(f"block transaction: does not decode: {e}") from e
    msg = tx.message
    keys = [str(k) for k in msg.account_keys]
    sig = str(tx.signatures[0]) if tx.signatures else None
    found = []
    for ix in msg.instructions:
        if ix.program_id_index >= len(keys):
            raise ParseError(
                f"block transaction {sig}: program index {ix.program_id_index} out of range"
            )
        data = bytes(ix.data)
        if keys[ix.program_id_index] == program and data[:8] == CREATE_IX:
            accounts = [keys[a] for a in bytes(ix.accounts) if a < len(keys)]
            found.append(parse_create_instruction(data, accounts, signature=sig, slot=slot))
    if not found and meta is not None:  # create through a CPI, or via a lookup table
        found = launches_from_logs(meta.get("logMessages") or [], signature=sig, slot=slot)
    return found


def launches_from_block(value: Mapping[str, Any], *, program: str = PUMP_PROGRAM) -> list[Launch]:
    """Launches in a ``blockSubscribe`` notification value (``{"slot", "block": {...}}``) or
    in one of its transaction entries (``{"transaction": [b64, "base64"], "meta"}``)."""
    if "transaction" in value:
        return _block_entry_launches(value, None, program)
    slot = _need(value, "slot", "blockSubscribe value")
    block = value.get("block")
    if block is None:
        return []  # a notification of a skipped slot or an error (value.err)
    out: list[Launch] = []
    for entry in _need(block, "transactions", "block") or []:
        out.extend(_block_entry_launches(entry, slot, program))
    return out
