"""Parsers and bonding-curve math on the real mainnet RPC answers in ../shared/data/solana/."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from live.solana.curve import CurveState, decode_curve, fee
from live.solana.parse import (
    CREATE_EVENT,
    ParseError,
    b58decode,
    b58encode,
    launches_from_block,
    launches_from_logs,
    launches_from_transaction,
    parse_create_event,
    program_data,
    trades_from_logs,
)

MINT = "ER2N5eaDoC68kNhj7LyaScimzq7deaqxiw88rewvxaKp"
CURVE = "FFzxakVNzpirwMFtLyD22UZ6UM3KLF2EAGC2RxNPaYoH"
CREATOR = "Fswrw3tgQL597kCexxLEhft6a7Su4CDoqwRMqqj4BEp5"


def _load(shared_data: Path, name: str) -> Any:
    return json.loads((shared_data / "solana" / name).read_text())


@pytest.fixture
def create_tx(shared_data: Path) -> dict[str, Any]:
    return _load(shared_data, "raw_create_tx_from_getTransaction.json")["result"]


@pytest.fixture
def buy_tx(shared_data: Path) -> dict[str, Any]:
    return _load(shared_data, "raw_buy_tx_from_getTransaction.json")["result"]


def test_base58_round_trip() -> None:
    for raw in (b"", b"\x00\x00\x01", bytes(range(32))):
        assert b58decode(b58encode(raw)) == raw
    assert len(b58decode(MINT)) == 32
    with pytest.raises(ParseError, match="position 3"):
        b58decode("abc0")


def test_create_instruction_from_get_transaction(create_tx: dict[str, Any]) -> None:
    (launch,) = launches_from_transaction(create_tx)
    assert launch.source == "instruction"
    assert (launch.mint, launch.bonding_curve, launch.creator) == (MINT, CURVE, CREATOR)
    assert (launch.name, launch.symbol) == ("excited", "excited")
    assert launch.uri == "https://cf-ipfs.com/ipfs/QmcDiP9wAZ8QeijrNrtwLeMGk46vKAAe8yvfWtumBZbURq"
    assert launch.associated_bonding_curve == "6eTEMemDi58KJE1rPEagqMsgn34xUWTkzdZTKM8EVbYF"
    assert launch.mint_authority == "TSLvdd1pWpHVjahSpsvCXUbgwsL3JAcvokwaKt1eokM"
    assert launch.slot == 284682639
    assert launch.signature is not None and launch.signature.startswith("52ar89rg")
    # the node's own parse of the inner initializeMint2 names the same mint
    inner = [
        ix["parsed"]["info"]
        for group in create_tx["meta"]["innerInstructions"]
        for ix in group["instructions"]
        if ix.get("parsed", {}).get("type") == "initializeMint2"
    ]
    assert inner == [{"decimals": 6, "mint": MINT, "mintAuthority": launch.mint_authority}]


def test_create_event_from_logs_agrees_with_instruction(create_tx: dict[str, Any]) -> None:
    (from_ix,) = launches_from_transaction(create_tx)
    (from_logs,) = launches_from_logs(create_tx["meta"]["logMessages"])
    assert from_logs.source == "event"
    for field in ("mint", "bonding_curve", "creator", "name", "symbol", "uri"):
        assert getattr(from_logs, field) == getattr(from_ix, field)


def test_block_subscribe_entry_is_a_buy_not_a_launch(shared_data: Path) -> None:
    # the shared "create ... blockSubscribe" frame is a trading bot's buy (through a CPI):
    # no create instruction, no CreateEvent, one TradeEvent
    entry = _load(shared_data, "raw_create_tx_from_blockSubscribe.json")
    assert launches_from_block(entry) == []
    (trade,) = trades_from_logs(entry["meta"]["logMessages"])
    assert trade.is_buy and trade.sol_amount > 0 and trade.token_amount > 0
    # its post-trade reserves are consistent with the exact curve
    before = CurveState(
        trade.virtual_token_reserves + trade.token_amount,
        trade.virtual_sol_reserves - trade.sol_amount,
        (trade.real_token_reserves or 0) + trade.token_amount,
        (trade.real_sol_reserves or 0) - trade.sol_amount,
        10**15,
    )
    assert before.buy_cost(trade.token_amount) == trade.sol_amount


def test_creator_dev_buy_on_fresh_curve_is_exact(create_tx: dict[str, Any]) -> None:
    # the launch's own first buy starts from the program's initial reserves
    (trade,) = trades_from_logs(create_tx["meta"]["logMessages"])
    assert trade.mint == MINT and trade.is_buy
    fresh = CurveState.initial()
    assert fresh.buy_cost(trade.token_amount) == trade.sol_amount
    after = fresh.after_buy(trade.token_amount)
    assert after.virtual_sol_reserves == trade.virtual_sol_reserves
    assert after.virtual_token_reserves == trade.virtual_token_reserves
    assert after.real_token_reserves == trade.real_token_reserves


def test_buy_and_sell_lamports_equal_the_logged_amounts(buy_tx: dict[str, Any]) -> None:
    buy, sell = trades_from_logs(buy_tx["meta"]["logMessages"])
    assert buy.is_buy and not sell.is_buy and buy.token_amount == sell.token_amount == 605426095720
    # reserves before the buy: the event's post-trade reserves, un-done
    pre = CurveState(
        buy.virtual_token_reserves + buy.token_amount,
        buy.virtual_sol_reserves - buy.sol_amount,
        (buy.real_token_reserves or 0) + buy.token_amount,
        (buy.real_sol_reserves or 0) - buy.sol_amount,
        10**15,
    )
    cost = pre.buy_cost(buy.token_amount)
    assert cost == buy.sol_amount == 24080282
    mid = pre.after_buy(buy.token_amount)
    assert (mid.virtual_sol_reserves, mid.virtual_token_reserves) == (
        buy.virtual_sol_reserves,
        buy.virtual_token_reserves,
    )
    out = mid.sell_proceeds(sell.token_amount)
    assert out == sell.sol_amount == 24080281
    end = mid.after_sell(sell.token_amount)
    assert end.virtual_sol_reserves == sell.virtual_sol_reserves
    # the lamports that moved: the inner system transfers (curve, fee recipient)
    transfers = [
        ix["parsed"]["info"]
        for group in buy_tx["meta"]["innerInstructions"]
        for ix in group["instructions"]
        if ix.get("program") == "system"
    ]
    assert [t["lamports"] for t in transfers] == [cost, fee(cost)]
    # the user's balance change: buy + fee, tx fee, tip, sell less its fee
    keys = [k["pubkey"] for k in buy_tx["transaction"]["message"]["accountKeys"]]
    user = keys.index(buy.user)
    tip = 962563  # the outer system transfer
    spent = cost + fee(cost) + buy_tx["meta"]["fee"] + tip - (out - fee(out))
    assert buy_tx["meta"]["preBalances"][user] - buy_tx["meta"]["postBalances"][user] == spent
    # the fee recipient got both fees
    rec = keys.index("CebN5WGQ4jvEPvsVU4EoHEpgzq1VV7AbicfhtW4xC9iM")
    got = buy_tx["meta"]["postBalances"][rec] - buy_tx["meta"]["preBalances"][rec]
    assert got == fee(cost) + fee(out)


def test_tokens_for_is_the_inverse_of_buy_cost(buy_tx: dict[str, Any]) -> None:
    (buy, _) = trades_from_logs(buy_tx["meta"]["logMessages"])
    pre = CurveState(
        buy.virtual_token_reserves + buy.token_amount,
        buy.virtual_sol_reserves - buy.sol_amount,
        10**15,
        0,
        10**15,
    )
    assert pre.tokens_for(buy.sol_amount) >= buy.token_amount
    for lamports in (1, 999, 24080282, 10**9, 85 * 10**9):
        amount = pre.tokens_for(lamports)
        if amount:
            assert pre.buy_cost(amount) <= lamports < pre.buy_cost(amount + 1)


def test_curve_account_decodes(shared_data: Path) -> None:
    answer = _load(shared_data, "raw_bondingCurve_from_getAccountInfo.json")["result"]["value"]
    data = base64.b64decode(answer["data"][0])
    state = decode_curve(data)
    assert state.token_total_supply == 10**15 and not state.complete
    assert state.virtual_sol_reserves == 30072319932
    # the virtual/real offsets are the program's initial constants
    assert state.virtual_token_reserves - state.real_token_reserves == 279_900_000_000_000
    assert state.virtual_sol_reserves - state.real_sol_reserves == 30_000_000_000
    # the account's lamports are its rent plus the real SOL reserves
    rent_49_bytes = 1231920  # the create transaction's createAccount of the 49-byte curve
    assert answer["lamports"] == rent_49_bytes + state.real_sol_reserves
    assert state.to_bytes() == data
    assert 0 < state.progress() < 0.01


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: b"\x00" * 8 + d[8:], "discriminator"),
        (lambda d: d[:40], "unknown layout"),
        (lambda d: d[:48] + b"\x07", "not a bool"),
    ],
)
def test_curve_unknown_layout_raises(shared_data: Path, mutate: Any, match: str) -> None:
    answer = _load(shared_data, "raw_bondingCurve_from_getAccountInfo.json")["result"]["value"]
    with pytest.raises(ParseError, match=match):
        decode_curve(mutate(base64.b64decode(answer["data"][0])))


def test_cut_create_event_names_the_field(create_tx: dict[str, Any]) -> None:
    (data,) = [d for d in program_data(create_tx["meta"]["logMessages"]) if d[:8] == CREATE_EVENT]
    with pytest.raises(ParseError, match="'mint'"):
        parse_create_event(data[:120])  # inside the mint key
    with pytest.raises(ParseError, match="not base64"):
        program_data(["Program data: !!!"])


def test_failed_transaction_launches_nothing(create_tx: dict[str, Any]) -> None:
    failed = {**create_tx, "meta": {**create_tx["meta"], "err": {"InstructionError": [3, 1]}}}
    assert launches_from_transaction(failed) == []
