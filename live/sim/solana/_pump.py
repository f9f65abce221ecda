"""A **peer-side emulation** of the launch program's ``sell``, for ``simulateTransaction`` only.

The launch program's binary is not available here (no network; no package ships it), so
LiteSVM cannot execute its instructions. So that the analyzer's real client path runs end to
end — build the byte-identical ``sell`` (:func:`live.solana.buyer.sell_instruction`) →
``simulateTransaction`` → parse the logs → verdict — the peer answers the simulation of a
transaction whose only instructions are compute-budget ones and one ``sell`` of the launch
program with an emulation of that instruction's semantics:

- the instruction data (discriminator, ``amount``, ``min_sol_output``) and its 12 accounts:
  the global and fee-recipient accounts, the bonding curve at its PDA of the mint, the curve's
  and the user's associated token accounts, the user a signer, the token program, the event
  authority and the program; a wrong account fails with Anchor's error code for it
  (``ConstraintSeeds`` 2006, ``ConstraintSigner`` 2002, ``ConstraintAssociated`` 2009,
  ``AccountNotInitialized`` 3012, ``AccountDiscriminatorMismatch`` 3002, ``InvalidProgramId``
  3008) — numbers of the Anchor framework, not read from the program;
- the curve: ``complete`` fails with the program's ``BondingCurveComplete`` (custom 6005); the
  SOL out is the exact curve math (:meth:`~live.solana.curve.CurveState.sell_proceeds`),
  below ``min_sol_output`` it fails with ``TooLittleSolReceived`` (6003), above the curve's
  real SOL reserves with ``InsufficientFunds``;
- the token side is **not** emulated: the user's tokens move to the curve's token account by a
  ``TransferChecked`` executed by the real SPL Token / Token-2022 program on LiteSVM, so a frozen
  account, a non-transferable mint, a missing account or too few tokens fail as they would
  inside the program (the error is reported at the ``sell``'s index, its logs one level deep);
- on success the logs are the program's: ``Instruction: Sell``, the token program's lines, and
  the ``TradeEvent`` in its real encoding (``Program data:``, reserves after the trade) — plus
  one line saying the answer is this emulation. Nothing is written to the chain; balances,
  fees and compute units are not modelled beyond this.

A transaction with any other instruction of the launch program, or a ``sell`` beside other
programs' instructions, is not emulated (:func:`emulate_sell` returns ``None``: LiteSVM answers,
and fails for want of the program).
"""

from __future__ import annotations

import base64
import struct
from typing import TYPE_CHECKING, Any

from solders.instruction import AccountMeta, Instruction
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata

from live.solana.accounts import PUMP_PROGRAM_KEY, associated_token_address, bonding_curve_address
from live.solana.buyer import EVENT_AUTHORITY, FEE_RECIPIENT, GLOBAL
from live.solana.curve import CURVE_ACCOUNT, DEFAULT_FEE_BPS, decode_curve
from live.solana.parse import SELL_IX, TRADE_EVENT, ParseError, Trade

if TYPE_CHECKING:
    from live.sim.solana._chain import Chain

__all__ = ["EMULATION_LOG", "emulate_sell", "encode_trade_event"]

COMPUTE_BUDGET = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
TOKEN_PROGRAMS = {
    Pubkey.from_string("TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"),
    Pubkey.from_string("TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"),
}
EMULATION_LOG = "Program log: grekko peer: sell emulated (the launch program is not loaded)"
# Anchor's framework error codes (what an Anchor program answers for a bad account)
CONSTRAINT_SIGNER, CONSTRAINT_SEEDS, CONSTRAINT_ASSOCIATED = 2002, 2006, 2009
DISCRIMINATOR_MISMATCH, INVALID_PROGRAM_ID, NOT_INITIALIZED = 3002, 3008, 3012
INSTRUCTION_DID_NOT_DESERIALIZE = 102
# The launch program's own errors (its IDL)
TOO_LITTLE_SOL_RECEIVED, BONDING_CURVE_COMPLETE = 6003, 6005
_UNITS = 30_000  # reported per emulated sell (not measured)


def encode_trade_event(trade: Trade) -> bytes:
    """``trade`` in the program's ``TradeEvent`` encoding (the inverse of
    :func:`live.solana.parse.parse_trade_event`; reserves are those after the trade)."""
    return (
        TRADE_EVENT
        + bytes(Pubkey.from_string(trade.mint))
        + struct.pack("<QQ?", trade.sol_amount, trade.token_amount, trade.is_buy)
        + bytes(Pubkey.from_string(trade.user))
        + struct.pack(
            "<q4Q",
            trade.timestamp,
            trade.virtual_sol_reserves,
            trade.virtual_token_reserves,
            trade.real_sol_reserves or 0,
            trade.real_token_reserves or 0,
        )
    )


def _answer(err: Any, logs: list[str], units: int = 0) -> dict[str, Any]:
    return {
        "err": err,
        "logs": logs,
        "accounts": None,
        "unitsConsumed": units,
        "returnData": None,
        "innerInstructions": None,
        "replacementBlockhash": None,
        "loadedAccountsDataSize": None,
    }


class _Refused(Exception):
    """The emulated instruction fails: ``detail`` is the InstructionError's (a custom code or
    a named error), ``why`` the program's log line."""

    def __init__(self, detail: Any, why: str) -> None:
        super().__init__(why)
        self.detail, self.why = detail, why


def _custom(code: int, why: str) -> _Refused:
    return _Refused({"Custom": code}, f"AnchorError: {why} (error {code})")


def emulate_sell(
    chain: Chain, tx: VersionedTransaction, *, replace_blockhash: bool, sig_verify: bool
) -> dict[str, Any] | None:
    """The ``simulateTransaction`` value of ``tx`` if it is a launch-program ``sell`` this
    emulation answers (see the module docstring), else ``None``."""
    msg = tx.message
    keys = list(msg.account_keys)
    ixs = list(msg.instructions)
    programs = [keys[ix.program_id_index] for ix in ixs]
    sells = [i for i, p in enumerate(programs) if p == PUMP_PROGRAM_KEY]
    if len(sells) != 1 or any(p not in (PUMP_PROGRAM_KEY, COMPUTE_BUDGET) for p in programs):
        return None
    index = sells[0]
    ix = ixs[index]
    if bytes(ix.data)[:8] != SELL_IX:
        return None
    early = _transaction_error(
        chain, tx, replace_blockhash=replace_blockhash, sig_verify=sig_verify
    )
    if early is not None:
        return _answer(early, [])
    logs = [line for _ in range(index) for line in (f"Program {COMPUTE_BUDGET} invoke [1]",
                                                    f"Program {COMPUTE_BUDGET} success")]  # fmt: skip
    logs += [f"Program {PUMP_PROGRAM_KEY} invoke [1]", "Program log: Instruction: Sell"]
    try:
        moved, trade = _sell(chain, msg, keys, ix)
    except _Refused as no:
        tail = [EMULATION_LOG, f"Program log: {no.why}", f"Program {PUMP_PROGRAM_KEY} failed"]
        return _answer({"InstructionError": [index, no.detail]}, [*logs, *tail])
    if isinstance(moved, dict):  # the token program refused: the sell fails with its error
        inner = moved["err"]
        if isinstance(inner, dict) and "InstructionError" in inner:
            inner = {"InstructionError": [index, inner["InstructionError"][1]]}
        failed = [*logs, *moved["logs"], EMULATION_LOG, f"Program {PUMP_PROGRAM_KEY} failed"]
        return _answer(inner, failed)
    fee = trade.sol_amount * DEFAULT_FEE_BPS // 10_000
    logs += [
        *moved,
        EMULATION_LOG,
        f"Program log: sol out {trade.sol_amount}, fee {fee}",
        f"Program data: {base64.b64encode(encode_trade_event(trade)).decode()}",
        f"Program {PUMP_PROGRAM_KEY} consumed {_UNITS} of {_UNITS} compute units",
        f"Program {PUMP_PROGRAM_KEY} success",
    ]
    return _answer(None, logs, _UNITS)


def _transaction_error(
    chain: Chain, tx: VersionedTransaction, *, replace_blockhash: bool, sig_verify: bool
) -> str | None:
    """What the runtime refuses before any instruction runs (as LiteSVM would)."""
    if sig_verify:
        try:
            tx.verify_and_hash_message()
        except Exception:
            return "SignatureFailure"
    if not replace_blockhash and tx.message.recent_blockhash != chain.svm.latest_blockhash():
        return "BlockhashNotFound"
    if chain.svm.get_account(tx.message.account_keys[0]) is None:
        return "AccountNotFound"
    return None


def _sell(
    chain: Chain, msg: Any, keys: list[Pubkey], ix: Any
) -> tuple[list[str] | dict[str, Any], Trade]:
    """Check the sell's data and accounts, price it on the curve, move the tokens for real;
    return the token program's logs (or its failure) and the trade."""
    data = bytes(ix.data)
    if len(data) != 24:
        raise _custom(INSTRUCTION_DID_NOT_DESERIALIZE, "InstructionDidNotDeserialize")
    amount, min_sol_output = struct.unpack_from("<QQ", data, 8)
    if len(ix.accounts) < 12:
        raise _Refused("NotEnoughAccountKeys", "not enough account keys")
    acc = [keys[i] for i in ix.accounts]
    mint, curve_key, curve_ata, user_ata, user = acc[2:7]
    token_program = acc[9]
    checks: list[tuple[bool, int, str]] = [
        (acc[0] == GLOBAL, CONSTRAINT_SEEDS, "global"),
        (acc[1] == FEE_RECIPIENT, CONSTRAINT_SEEDS, "fee_recipient"),
        (curve_key == bonding_curve_address(mint), CONSTRAINT_SEEDS, "bonding_curve"),
        (ix.accounts[6] < msg.header.num_required_signatures, CONSTRAINT_SIGNER, "user"),
        (token_program in TOKEN_PROGRAMS, INVALID_PROGRAM_ID, "token_program"),
        (acc[10] == EVENT_AUTHORITY, CONSTRAINT_SEEDS, "event_authority"),
        (acc[11] == PUMP_PROGRAM_KEY, INVALID_PROGRAM_ID, "program"),
        (curve_ata == associated_token_address(curve_key, mint, token_program),
         CONSTRAINT_ASSOCIATED, "associated_bonding_curve"),
        (user_ata == associated_token_address(user, mint, token_program),
         CONSTRAINT_ASSOCIATED, "associated_user"),
    ]  # fmt: skip
    for ok, code, name in checks:
        if not ok:
            raise _custom(code, f"caused by account: {name}")
    account = chain.svm.get_account(curve_key)
    if account is None or account.owner != PUMP_PROGRAM_KEY:
        raise _custom(NOT_INITIALIZED, "bonding_curve: AccountNotInitialized")
    raw = bytes(account.data)
    try:
        if raw[:8] != CURVE_ACCOUNT:
            raise ParseError("not a BondingCurve account")
        curve = decode_curve(raw)
    except ParseError:
        raise _custom(
            DISCRIMINATOR_MISMATCH, "bonding_curve: AccountDiscriminatorMismatch"
        ) from None
    if curve.complete:
        raise _custom(BONDING_CURVE_COMPLETE, "BondingCurveComplete")
    sol_out = curve.sell_proceeds(amount)
    if sol_out < min_sol_output:
        raise _custom(TOO_LITTLE_SOL_RECEIVED, "TooLittleSolReceived")
    if sol_out > curve.real_sol_reserves:
        raise _Refused("InsufficientFunds", "the curve holds too little SOL")
    moved = _transfer(chain, keys[0], token_program, user_ata, mint, curve_ata, user, amount)
    after = curve.after_sell(amount)
    trade = Trade(
        str(mint), sol_out, amount, False, str(user), int(chain.svm.get_clock().unix_timestamp),
        after.virtual_sol_reserves, after.virtual_token_reserves, after.real_sol_reserves,
        after.real_token_reserves,
    )  # fmt: skip
    return moved, trade


def _transfer(
    chain: Chain,
    payer: Pubkey,
    program: Pubkey,
    source: Pubkey,
    mint: Pubkey,
    dest: Pubkey,
    owner: Pubkey,
    amount: int,
) -> list[str] | dict[str, Any]:
    """Simulate the sell's token movement with the real token program (``TransferChecked``);
    its logs one level deep, or ``{"err", "logs"}`` when it fails."""
    from live.sim.solana._chain import tx_error_json

    mint_acc = chain.svm.get_account(mint)
    decimals = bytes(mint_acc.data)[44] if mint_acc is not None and len(mint_acc.data) > 44 else 0
    ix = Instruction(
        program,
        bytes([12]) + amount.to_bytes(8, "little") + bytes([decimals]),
        [
            AccountMeta(source, False, True),
            AccountMeta(mint, False, False),
            AccountMeta(dest, False, True),
            AccountMeta(owner, True, False),
        ],
    )
    msg = Message.new_with_blockhash([ix], payer, chain.svm.latest_blockhash())
    sigs = [Signature.default()] * msg.header.num_required_signatures
    tx = VersionedTransaction.populate(msg, sigs)
    chain.svm.with_sigverify(False)
    try:
        result = chain.svm.simulate_transaction(tx)
    finally:
        chain.svm.with_sigverify(True)
    if isinstance(result, FailedTransactionMetadata):
        logs = [_deeper(line) for line in result.meta().logs()]
        return {"err": tx_error_json(result.err()), "logs": logs}
    return [_deeper(line) for line in result.meta().logs()]


def _deeper(line: str) -> str:
    """A top-level log line as the same line inside the program's call (depth 2)."""
    return line.replace(" invoke [1]", " invoke [2]")
