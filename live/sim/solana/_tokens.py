"""Token mints on the local Solana peer, one per safety case, made by the real token programs.

:func:`make_launch` runs real SPL Token / Token-2022 / Associated Token Account instructions on
LiteSVM (create the mint with its extensions, initialise it, mint the supply to the holders,
revoke or keep the mint authority) — so every mint byte the analyzer reads was written by the
program, not by us. What LiteSVM cannot run, because the launch program's binary is not loaded
here, is stood in for: the bonding-curve account and the Metaplex metadata account are written
with their exact layouts, and the launch program's ``CreateEvent`` is added to the
transaction's log lines (``Program data: …``) as the program emits it.

Cases (:data:`CASES`): ``clean`` (authorities revoked, supply on the curve), ``mint_authority``
(kept), ``freeze_authority`` (set), ``transfer_fee`` (Token-2022 transfer-fee extension),
``permanent_delegate`` (Token-2022), ``non_transferable`` (Token-2022: cannot be sold),
``concentrated`` (three wallets hold most of the supply), ``mutable_metadata``.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass, field
from typing import Any

from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import Transaction

from live.sim.solana._chain import TOKEN_2022_PROGRAM, TOKEN_PROGRAM, Block, Chain
from live.solana.accounts import (
    ATA_PROGRAM,
    METADATA_PROGRAM,
    PUMP_PROGRAM_KEY,
    associated_token_address,
    bonding_curve_address,
    encode_metadata,
    metadata_address,
)
from live.solana.curve import CurveState
from live.solana.parse import CREATE_EVENT

__all__ = ["CASES", "LaunchCase", "LaunchedToken", "make_launch", "mint_to_instruction"]

SYSTEM_PROGRAM = Pubkey.from_string("11111111111111111111111111111111")
SUPPLY = 1_000_000_000_000_000  # 1e9 tokens of 6 decimals, as the launch program mints
DECIMALS = 6


@dataclass(frozen=True)
class LaunchCase:
    """What a launch looks like: authorities, Token-2022 extensions, holders, metadata."""

    name: str
    token_2022: bool = False
    keep_mint_authority: bool = False
    freeze_authority: bool = False
    transfer_fee_bps: int | None = None
    permanent_delegate: bool = False
    non_transferable: bool = False
    # shares of the supply held by wallets other than the curve (the creator first)
    holder_shares: tuple[float, ...] = (0.03,)
    mutable_metadata: bool = False


CASES: dict[str, LaunchCase] = {
    c.name: c
    for c in (
        LaunchCase("clean"),
        LaunchCase("mint_authority", keep_mint_authority=True),
        LaunchCase("freeze_authority", freeze_authority=True),
        LaunchCase("transfer_fee", token_2022=True, transfer_fee_bps=500),
        LaunchCase("permanent_delegate", token_2022=True, permanent_delegate=True),
        LaunchCase("non_transferable", token_2022=True, non_transferable=True),
        LaunchCase("concentrated", holder_shares=(0.25, 0.2, 0.15)),
        LaunchCase("mutable_metadata", mutable_metadata=True),
    )
}


@dataclass
class LaunchedToken:
    """A launch made on the peer: its keys, its curve, and the block that carried it."""

    case: LaunchCase
    mint: Pubkey
    creator: Keypair
    bonding_curve: Pubkey
    curve_token_account: Pubkey
    token_program: Pubkey
    curve: CurveState
    signature: str = ""
    block: Block | None = None
    holders: list[Pubkey] = field(default_factory=list)

    @property
    def mint_authority(self) -> Keypair:
        return self.creator


# -- instructions (the token programs' wire format) ------------------------------------


def _opt_key(key: Pubkey | None) -> bytes:
    return b"\x01" + bytes(key) if key is not None else b"\x00"


def initialize_mint2(
    program: Pubkey, mint: Pubkey, authority: Pubkey, freeze: Pubkey | None
) -> Instruction:
    data = bytes([20, DECIMALS]) + bytes(authority) + _opt_key(freeze)
    return Instruction(program, data, [AccountMeta(mint, False, True)])


def mint_to_instruction(
    program: Pubkey, mint: Pubkey, dest: Pubkey, authority: Pubkey, amount: int
) -> Instruction:
    return Instruction(
        program,
        bytes([7]) + struct.pack("<Q", amount),
        [
            AccountMeta(mint, False, True),
            AccountMeta(dest, False, True),
            AccountMeta(authority, True, False),
        ],
    )


def revoke_mint_authority(program: Pubkey, mint: Pubkey, authority: Pubkey) -> Instruction:
    return Instruction(
        program,
        bytes([6, 0, 0]),
        [AccountMeta(mint, False, True), AccountMeta(authority, True, False)],
    )


def create_ata(payer: Pubkey, owner: Pubkey, mint: Pubkey, program: Pubkey) -> Instruction:
    """The Associated Token Account program's ``CreateIdempotent``."""
    ata = associated_token_address(owner, mint, program)
    return Instruction(
        ATA_PROGRAM,
        bytes([1]),
        [
            AccountMeta(payer, True, True),
            AccountMeta(ata, False, True),
            AccountMeta(owner, False, False),
            AccountMeta(mint, False, False),
            AccountMeta(SYSTEM_PROGRAM, False, False),
            AccountMeta(program, False, False),
        ],
    )


def _extension_setup(
    case: LaunchCase, mint: Pubkey, creator: Pubkey
) -> tuple[list[Instruction], int]:
    """Token-2022 extension initialisers (before InitializeMint2) and the mint's size."""
    ixs: list[Instruction] = []
    tlv = 0
    meta = [AccountMeta(mint, False, True)]
    if case.transfer_fee_bps is not None:
        data = bytes([26, 0]) + _opt_key(creator) + _opt_key(creator)
        data += struct.pack("<HQ", case.transfer_fee_bps, 10**12)
        ixs.append(Instruction(TOKEN_2022_PROGRAM, data, meta))
        tlv += 4 + 108
    if case.permanent_delegate:
        ixs.append(Instruction(TOKEN_2022_PROGRAM, bytes([35]) + bytes(creator), meta))
        tlv += 4 + 32
    if case.non_transferable:
        ixs.append(Instruction(TOKEN_2022_PROGRAM, bytes([32]), meta))
        tlv += 4
    size = 82 if not case.token_2022 else 165 + 1 + tlv
    return ixs, size


def make_launch(
    chain: Chain,
    case: LaunchCase | str,
    *,
    name: str = "Grekko Test",
    symbol: str = "GRKT",
    uri: str = "https://example.invalid/meta.json",
    creator: Keypair | None = None,
) -> LaunchedToken:
    """Launch a token of ``case`` on ``chain`` (one block); return its keys and block."""
    case = CASES[case] if isinstance(case, str) else case
    creator = creator or Keypair()
    mint_kp = Keypair()
    mint = mint_kp.pubkey()
    program = TOKEN_2022_PROGRAM if case.token_2022 else TOKEN_PROGRAM
    chain.svm.airdrop(creator.pubkey(), 50 * 10**9)
    curve_key = bonding_curve_address(mint)
    curve_ata = associated_token_address(curve_key, mint, program)

    ext_ixs, size = _extension_setup(case, mint, creator.pubkey())
    rent = chain.svm.minimum_balance_for_rent_exemption(size)
    ixs = [
        create_account(
            CreateAccountParams(
                from_pubkey=creator.pubkey(),
                to_pubkey=mint,
                lamports=rent,
                space=size,
                owner=program,
            )
        ),
        *ext_ixs,
        initialize_mint2(
            program, mint, creator.pubkey(), creator.pubkey() if case.freeze_authority else None
        ),
        create_ata(creator.pubkey(), curve_key, mint, program),
    ]
    held = [int(SUPPLY * s) for s in case.holder_shares]
    holders = [creator.pubkey()] + [Keypair().pubkey() for _ in held[1:]]
    for owner, amount in zip(holders, held, strict=True):
        ixs.append(create_ata(creator.pubkey(), owner, mint, program))
        ixs.append(
            mint_to_instruction(
                program,
                mint,
                associated_token_address(owner, mint, program),
                creator.pubkey(),
                amount,
            )
        )
    on_curve = SUPPLY - sum(held)
    ixs.append(mint_to_instruction(program, mint, curve_ata, creator.pubkey(), on_curve))
    if not case.keep_mint_authority:
        ixs.append(revoke_mint_authority(program, mint, creator.pubkey()))

    # the curve: the initial one after the holders' buys (what they hold came off it)
    curve = CurveState.initial()
    sold = sum(held)
    if 0 < sold < curve.real_token_reserves:
        curve = curve.after_buy(sold)
    chain.set_account(curve_key, PUMP_PROGRAM_KEY, curve.to_bytes())
    chain.set_account(
        metadata_address(mint),
        METADATA_PROGRAM,
        encode_metadata(
            creator.pubkey(), mint, name, symbol, uri, is_mutable=case.mutable_metadata
        ),
    )
    event = (
        CREATE_EVENT
        + b"".join(struct.pack("<I", len(s.encode())) + s.encode() for s in (name, symbol, uri))
        + bytes(mint)
        + bytes(curve_key)
        + bytes(creator.pubkey())
    )
    logs = [
        f"Program {PUMP_PROGRAM_KEY} invoke [1]",
        "Program log: Instruction: Create",
        f"Program data: {base64.b64encode(event).decode()}",
        f"Program {PUMP_PROGRAM_KEY} success",
    ]
    tx = Transaction(
        [creator, mint_kp], Message(ixs, creator.pubkey()), chain.svm.latest_blockhash()
    )
    sig, block = chain.send(tx, extra_logs=logs)
    return LaunchedToken(
        case, mint, creator, curve_key, curve_ata, program, curve, sig, block, holders
    )


def entry_json(block: Block) -> dict[str, Any]:
    """The first transaction entry of ``block`` (a blockSubscribe entry)."""
    return block.entries[0]
