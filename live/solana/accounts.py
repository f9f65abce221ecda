"""Account addresses and layouts the analyzer reads: mints (SPL Token and Token-2022 with their
extensions), token accounts, Metaplex metadata, and the program-derived addresses of them.

Decoders are strict: a size, an account type or an extension this code does not know raises
:class:`~live.solana.parse.ParseError` (an unknown layout), which the analyzer turns into a
REJECT — a byte it cannot read is never read as "safe".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

from solders.pubkey import Pubkey

from live.solana.parse import PUMP_PROGRAM, TOKEN_2022_PROGRAM, TOKEN_PROGRAM, ParseError

__all__ = [
    "ATA_PROGRAM",
    "EXTENSIONS",
    "METADATA_PROGRAM",
    "PUMP_PROGRAM_KEY",
    "Metadata",
    "MintInfo",
    "TokenAccount",
    "associated_token_address",
    "bonding_curve_address",
    "decode_metadata",
    "decode_mint",
    "decode_token_account",
    "encode_metadata",
    "metadata_address",
    "pubkey",
]

ATA_PROGRAM = Pubkey.from_string("ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL")
METADATA_PROGRAM = Pubkey.from_string("metaqbxxUerdq28cj1RbAWkYQm3ybzjb6a8bt518x1s")
PUMP_PROGRAM_KEY = Pubkey.from_string(PUMP_PROGRAM)
TOKEN_PROGRAMS = {TOKEN_PROGRAM: "spl-token", TOKEN_2022_PROGRAM: "spl-token-2022"}

MINT_SIZE = 82
ACCOUNT_SIZE = 165
# Token-2022 extension types (spl-token-2022 ExtensionType, in the program's numbering).
EXTENSIONS = {
    0: "uninitialized",
    1: "transfer_fee_config",
    2: "transfer_fee_amount",
    3: "mint_close_authority",
    4: "confidential_transfer_mint",
    5: "confidential_transfer_account",
    6: "default_account_state",
    7: "immutable_owner",
    8: "memo_transfer",
    9: "non_transferable",
    10: "interest_bearing_config",
    11: "cpi_guard",
    12: "permanent_delegate",
    13: "non_transferable_account",
    14: "transfer_hook",
    15: "transfer_hook_account",
    16: "confidential_transfer_fee_config",
    17: "confidential_transfer_fee_amount",
    18: "metadata_pointer",
    19: "token_metadata",
    20: "group_pointer",
    21: "token_group",
    22: "group_member_pointer",
    23: "token_group_member",
    24: "confidential_mint_burn",
    25: "scaled_ui_amount",
    26: "pausable",
    27: "pausable_account",
}


def pubkey(text: str) -> Pubkey:
    """The key of a base58 address (for callers that do not import solders)."""
    return Pubkey.from_string(text)


def associated_token_address(
    owner: Pubkey, mint: Pubkey, program: Pubkey | str = TOKEN_PROGRAM
) -> Pubkey:
    prog = Pubkey.from_string(program) if isinstance(program, str) else program
    return Pubkey.find_program_address([bytes(owner), bytes(prog), bytes(mint)], ATA_PROGRAM)[0]


def bonding_curve_address(mint: Pubkey) -> Pubkey:
    return Pubkey.find_program_address([b"bonding-curve", bytes(mint)], PUMP_PROGRAM_KEY)[0]


def metadata_address(mint: Pubkey) -> Pubkey:
    return Pubkey.find_program_address(
        [b"metadata", bytes(METADATA_PROGRAM), bytes(mint)], METADATA_PROGRAM
    )[0]


def _coption_key(data: bytes, at: int, what: str) -> str | None:
    (tag,) = struct.unpack_from("<I", data, at)
    if tag not in (0, 1):
        raise ParseError(f"{what}: COption tag {tag} at offset {at} (unknown layout)")
    return str(Pubkey.from_bytes(data[at + 4 : at + 36])) if tag == 1 else None


@dataclass(frozen=True)
class MintInfo:
    """A mint's authorities, supply and (Token-2022) extensions with their key values."""

    program: str
    mint_authority: str | None
    supply: int
    decimals: int
    freeze_authority: str | None
    extensions: dict[str, dict[str, Any]] = field(default_factory=dict)


def decode_mint(data: bytes, owner: str) -> MintInfo:
    """Decode a mint account owned by ``owner`` (one of the two token programs)."""
    if owner not in TOKEN_PROGRAMS:
        raise ParseError(f"mint: owner {owner} is not a token program (unknown layout)")
    if len(data) < MINT_SIZE:
        raise ParseError(f"mint: {len(data)} bytes, a mint has at least {MINT_SIZE}")
    authority = _coption_key(data, 0, "mint authority")
    supply, decimals, initialized = struct.unpack_from("<QBB", data, 36)
    if initialized != 1:
        raise ParseError("mint: not initialized")
    freeze = _coption_key(data, 46, "freeze authority")
    exts: dict[str, dict[str, Any]] = {}
    if len(data) > MINT_SIZE:
        if owner != TOKEN_2022_PROGRAM:
            raise ParseError(
                f"mint: {len(data)} bytes under the SPL Token program (unknown layout)"
            )
        exts = _extensions(data, "mint")
    return MintInfo(TOKEN_PROGRAMS[owner], authority, supply, decimals, freeze, exts)


def _extensions(data: bytes, what: str) -> dict[str, dict[str, Any]]:
    if len(data) <= ACCOUNT_SIZE or data[MINT_SIZE:ACCOUNT_SIZE].strip(b"\x00"):
        raise ParseError(f"{what}: Token-2022 padding is not zero (unknown layout)")
    if data[ACCOUNT_SIZE] != 1:
        raise ParseError(f"{what}: account type {data[ACCOUNT_SIZE]} is not a mint")
    out: dict[str, dict[str, Any]] = {}
    at = ACCOUNT_SIZE + 1
    while at + 4 <= len(data):
        kind, length = struct.unpack_from("<HH", data, at)
        if kind == 0 and length == 0:
            break  # trailing zeroes
        name = EXTENSIONS.get(kind)
        if name is None:
            raise ParseError(f"{what}: unknown Token-2022 extension type {kind} at offset {at}")
        value = data[at + 4 : at + 4 + length]
        if len(value) != length:
            raise ParseError(f"{what}: extension {name} cut short at offset {at}")
        out[name] = _extension_facts(name, value)
        at += 4 + length
    return out


def _nonzero_key(raw: bytes) -> str | None:
    return str(Pubkey.from_bytes(raw)) if raw.strip(b"\x00") else None


def _extension_facts(name: str, value: bytes) -> dict[str, Any]:
    """The values of an extension that decide safety (the rest is kept as its length)."""
    if name == "transfer_fee_config" and len(value) == 108:
        older = struct.unpack_from("<QQH", value, 72)
        newer = struct.unpack_from("<QQH", value, 90)
        return {
            "authority": _nonzero_key(value[:32]),
            "older_bps": older[2],
            "newer_bps": newer[2],
            "newer_epoch": newer[0],
            "maximum_fee": newer[1],
        }
    if name in ("permanent_delegate", "mint_close_authority") and len(value) == 32:
        return {"delegate" if name == "permanent_delegate" else "authority": _nonzero_key(value)}
    if name == "transfer_hook" and len(value) == 64:
        return {"authority": _nonzero_key(value[:32]), "program": _nonzero_key(value[32:])}
    if name == "default_account_state" and len(value) == 1:
        return {"state": {0: "uninitialized", 1: "initialized", 2: "frozen"}.get(value[0], "?")}
    if name == "pausable" and len(value) == 33:
        return {"authority": _nonzero_key(value[:32]), "paused": value[32] == 1}
    return {"length": len(value)}


@dataclass(frozen=True)
class TokenAccount:
    mint: str
    owner: str
    amount: int
    frozen: bool


def decode_token_account(data: bytes, owner: str) -> TokenAccount:
    """Decode a token account (the 165-byte base; Token-2022 extensions after it ignored)."""
    if owner not in TOKEN_PROGRAMS:
        raise ParseError(f"token account: owner {owner} is not a token program (unknown layout)")
    if len(data) < ACCOUNT_SIZE or (len(data) > ACCOUNT_SIZE and data[ACCOUNT_SIZE] != 2):
        raise ParseError(f"token account: {len(data)} bytes is not a token account layout")
    mint, holder = Pubkey.from_bytes(data[:32]), Pubkey.from_bytes(data[32:64])
    (amount,) = struct.unpack_from("<Q", data, 64)
    state = data[108]
    if state not in (1, 2):
        raise ParseError(f"token account: state {state} (uninitialized or unknown)")
    return TokenAccount(str(mint), str(holder), amount, state == 2)


@dataclass(frozen=True)
class Metadata:
    update_authority: str
    mint: str
    name: str
    symbol: str
    uri: str
    is_mutable: bool


def _borsh_str(value: str) -> bytes:
    raw = value.encode()
    return struct.pack("<I", len(raw)) + raw


def encode_metadata(
    update_authority: Pubkey, mint: Pubkey, name: str, symbol: str, uri: str, *, is_mutable: bool
) -> bytes:
    """A Metaplex ``MetadataV1`` account (no creators, collection or uses)."""
    return (
        bytes([4])
        + bytes(update_authority)
        + bytes(mint)
        + _borsh_str(name)
        + _borsh_str(symbol)
        + _borsh_str(uri)
        + struct.pack("<H", 0)
        + b"\x00"  # creators: None
        + b"\x00"  # primary_sale_happened
        + (b"\x01" if is_mutable else b"\x00")
        + b"\x00\x00\x00\x00\x00"  # edition_nonce, token_standard, collection, uses, …: None
    )


def decode_metadata(data: bytes) -> Metadata:
    """Decode a Metaplex metadata account up to ``is_mutable``."""
    if not data or data[0] != 4:
        raise ParseError(
            f"metadata: key {data[:1].hex() or 'none'} is not MetadataV1 (unknown layout)"
        )
    try:
        at = 1
        update = str(Pubkey.from_bytes(data[at : at + 32]))
        mint = str(Pubkey.from_bytes(data[at + 32 : at + 64]))
        at += 64
        texts = []
        for field_name in ("name", "symbol", "uri"):
            (n,) = struct.unpack_from("<I", data, at)
            if n > 256:
                raise ParseError(f"metadata: {field_name} claims {n} bytes")
            texts.append(data[at + 4 : at + 4 + n].decode().rstrip("\x00"))
            at += 4 + n
        at += 2  # seller fee
        if data[at] == 1:
            (count,) = struct.unpack_from("<I", data, at + 1)
            at += 1 + 4 + 34 * count
        else:
            at += 1
        mutable = data[at + 1]
    except (struct.error, IndexError, UnicodeDecodeError, ValueError) as e:
        raise ParseError(f"metadata: does not decode: {e}") from e
    if mutable > 1:
        raise ParseError(f"metadata: is_mutable byte is {mutable}")
    return Metadata(update, mint, texts[0], texts[1], texts[2], mutable == 1)
