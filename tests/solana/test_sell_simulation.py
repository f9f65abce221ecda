"""The analyzer's sell check: the launch program's real ``sell`` instruction simulated through
the real ``solana`` client, its ``TradeEvent`` checked against the curve math.

On the local peer the program's binary is not loaded: the peer answers the simulation with a
**peer-side emulation** of the ``sell`` (``live/sim/solana/_pump.py``: account checks, the curve
math, the ``complete`` flag, the token movement by the real token program on LiteSVM, the
``TradeEvent`` in its real encoding). These tests drive the client path — build → simulate →
parse → verdict — end to end against it, and feed the analyzer hand-made answers (the peer's
``value`` fault) for what a real node could answer that the emulation never does.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

from solana.rpc.async_api import AsyncClient
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction

from live.sim.solana._pump import EMULATION_LOG, encode_trade_event
from live.sim.solana._tokens import LaunchedToken
from live.sim.solana.peer import PeerThread
from live.solana.accounts import PUMP_PROGRAM_KEY, associated_token_address
from live.solana.buyer import sell_instruction
from live.solana.curve import decode_curve
from live.solana.parse import TRADE_EVENT, Launch, Trade, parse_trade_event, program_data
from live.solana.safety import SafetyAnalyzer, SafetyConfig, Verdict

PROBE = SafetyConfig().sell_probe_tokens


def _launch(peer: PeerThread, case: str = "clean") -> tuple[LaunchedToken, Launch]:
    token = peer.call(peer.peer.launch, case)
    launch = Launch(str(token.mint), str(token.bonding_curve), str(token.creator.pubkey()),
                    "Grekko Test", "GRKT", "https://example.invalid/meta.json")  # fmt: skip
    return token, launch


def _analyze(peer: PeerThread, launch: Launch, config: SafetyConfig | None = None) -> Verdict:
    async def go() -> Verdict:
        client = AsyncClient(peer.url, timeout=30)
        try:
            analyzer = SafetyAnalyzer(
                client, config or SafetyConfig(timeout_s=30), creator_launches=lambda c: 1
            )
            return await analyzer.analyze(launch)
        finally:
            await client.close()

    return asyncio.run(go())


def _simulate(peer: PeerThread, ix: Instruction, payer: Pubkey) -> Any:
    async def go() -> Any:
        client = AsyncClient(peer.url, timeout=30)
        try:
            tx = VersionedTransaction.populate(
                Message.new_with_blockhash([ix], payer, Hash.default()), [Signature.default()]
            )
            resp = await client.simulate_transaction(
                tx, sig_verify=False, replace_recent_blockhash=True
            )
            return resp.value
        finally:
            await client.close()

    return asyncio.run(go())


def _sell_event(logs: list[str]) -> Trade:
    (data,) = [d for d in program_data(logs) if d[:8] == TRADE_EVENT]
    return parse_trade_event(data)


# -- the emulation's answer ---------------------------------------------------------------


def test_trade_event_encoding_is_the_programs(shared_data: Path) -> None:
    # The mainnet buy transaction's TradeEvents, decoded and encoded again: the same bytes.
    tx = json.loads((shared_data / "solana/raw_buy_tx_from_getTransaction.json").read_text())
    logs = tx["result"]["meta"]["logMessages"]
    events = [d for d in program_data(logs) if d[:8] == TRADE_EVENT]
    assert len(events) == 2
    for raw in events:
        assert encode_trade_event(parse_trade_event(raw)) == raw


def test_a_sellable_token_passes_and_its_sell_pays_the_curve_math(
    solana_peer: PeerThread,
) -> None:
    token, launch = _launch(solana_peer)
    verdict = _analyze(solana_peer, launch)
    assert verdict.passed, verdict.to_json()
    sim = verdict.facts["sell_simulation"]
    want = token.curve.sell_proceeds(PROBE)
    assert want > 0
    assert (sim["err"], sim["tokens"], sim["seller"]) == (None, PROBE, launch.creator)
    assert sim["sol_out"] == sim["curve_math"] == sim["quote_at_read"] == want
    assert sim["same_curve"] is True
    assert verdict.facts["transfer_simulation"]["err"] is None


def test_the_emulated_sell_is_the_programs_instruction_checked_account_by_account(
    solana_peer: PeerThread,
) -> None:
    token, launch = _launch(solana_peer)
    seller = token.creator.pubkey()
    ok = _simulate(solana_peer, sell_instruction(launch, seller, PROBE, 0), seller)
    assert ok.err is None
    assert EMULATION_LOG in ok.logs  # the peer says its answer is an emulation
    trade = _sell_event(ok.logs)
    after = token.curve.after_sell(PROBE)
    assert (trade.mint, trade.user, trade.is_buy, trade.token_amount) == (
        launch.mint, launch.creator, False, PROBE,
    )  # fmt: skip
    assert trade.sol_amount == token.curve.sell_proceeds(PROBE)
    assert (trade.virtual_sol_reserves, trade.virtual_token_reserves) == (
        after.virtual_sol_reserves, after.virtual_token_reserves,
    )  # fmt: skip
    assert any("invoke [2]" in line for line in ok.logs)  # the token program, inside the sell
    # min_sol_output above the exact quote: the program's TooLittleSolReceived (6003)
    bound = token.curve.sell_proceeds(PROBE) + 1
    short = _simulate(solana_peer, sell_instruction(launch, seller, PROBE, bound), seller)
    assert "6003" in str(short.err)
    # a wrong bonding curve (not the mint's PDA): Anchor's ConstraintSeeds (2006)
    other, _ = _launch(solana_peer)
    wrong = Launch(launch.mint, str(other.bonding_curve), launch.creator, "", "", "")
    assert "2006" in str(
        _simulate(solana_peer, sell_instruction(wrong, seller, PROBE, 0), seller).err
    )
    # the user not a signer: ConstraintSigner (2002)
    ix = sell_instruction(launch, seller, PROBE, 0)
    metas = [AccountMeta(m.pubkey, False if i == 6 else m.is_signer, m.is_writable)
             for i, m in enumerate(ix.accounts)]  # fmt: skip
    payer = Keypair().pubkey()
    solana_peer.call(solana_peer.peer.chain.svm.airdrop, payer, 10**9)
    unsigned = Instruction(ix.program_id, ix.data, metas)
    assert "2002" in str(_simulate(solana_peer, unsigned, payer).err)
    # nothing was written: the curve is the launch's
    chain = solana_peer.peer.chain
    assert decode_curve(bytes(chain.svm.get_account(token.bonding_curve).data)) == token.curve


# -- verdicts ------------------------------------------------------------------------------


def test_a_complete_curve_is_refused_by_the_analysis_and_by_the_sell(
    solana_peer: PeerThread,
) -> None:
    token, launch = _launch(solana_peer)
    from dataclasses import replace

    done = replace(token.curve, complete=True)
    chain = solana_peer.peer.chain
    solana_peer.call(chain.set_account, token.bonding_curve, PUMP_PROGRAM_KEY, done.to_bytes())
    verdict = _analyze(solana_peer, launch)
    assert verdict.verdict == "REJECT"
    assert verdict.codes == ["curve_complete", "sell_simulation_failed"], verdict.to_json()
    detail = verdict.reasons[1].detail
    assert "6005" in detail and "BondingCurveComplete" in detail


def test_a_frozen_account_cannot_sell(solana_peer: PeerThread) -> None:
    # The freeze authority (the creator here) freezes the seller's account: the token program
    # refuses the sell's transfer (SPL Token's AccountFrozen, 17) inside the sell.
    token, launch = _launch(solana_peer, "freeze_authority")
    creator = token.creator
    account = associated_token_address(creator.pubkey(), token.mint, token.token_program)
    freeze = Instruction(
        token.token_program,
        bytes([10]),  # FreezeAccount
        [AccountMeta(account, False, True), AccountMeta(token.mint, False, False),
         AccountMeta(creator.pubkey(), True, False)],
    )  # fmt: skip
    chain = solana_peer.peer.chain
    tx = Transaction([creator], Message([freeze], creator.pubkey()), chain.svm.latest_blockhash())
    solana_peer.call(solana_peer.peer.send, tx)
    verdict = _analyze(solana_peer, launch)
    assert verdict.codes == [
        "freeze_authority", "sell_simulation_failed", "transfer_simulation_failed",
    ], verdict.to_json()  # fmt: skip
    assert "Custom(17)" in verdict.reasons[1].detail


def test_a_non_transferable_token_cannot_sell(solana_peer: PeerThread) -> None:
    _, launch = _launch(solana_peer, "non_transferable")
    verdict = _analyze(solana_peer, launch)
    assert verdict.codes == [
        "non_transferable", "sell_simulation_failed", "transfer_simulation_failed",
    ], verdict.to_json()  # fmt: skip


def test_a_sell_the_program_refuses_rejects_with_its_error(solana_peer: PeerThread) -> None:
    # More than the seller holds: the token program's InsufficientFunds (1) inside the sell.
    _, launch = _launch(solana_peer)
    held = int(1_000_000_000_000_000 * 0.03)
    verdict = _analyze(solana_peer, launch, SafetyConfig(timeout_s=30, sell_probe_tokens=held + 1))
    assert verdict.codes == ["sell_simulation_failed"], verdict.to_json()
    assert "Custom(1)" in verdict.reasons[0].detail
    assert verdict.facts["sell_simulation"]["err"] is not None


def test_a_simulation_error_answer_rejects(solana_peer: PeerThread) -> None:
    _, launch = _launch(solana_peer)
    solana_peer.call(solana_peer.peer.set_fault, "simulateTransaction", "error")
    verdict = _analyze(solana_peer, launch)
    assert verdict.verdict == "REJECT" and verdict.codes == ["rpc_error"]
    assert "simulateTransaction(sell)" in verdict.reasons[0].detail


def _answer_with(peer: PeerThread, logs: list[str] | None, err: Any = None) -> None:
    value: dict[str, Any] = {"err": err, "logs": logs, "accounts": None, "unitsConsumed": 0}
    peer.call(peer.peer.set_fault, "simulateTransaction", "value", data=value)


def _event(launch: Launch, token: LaunchedToken, *, sol_delta: int = 0, tokens: int = PROBE) -> str:
    after = token.curve.after_sell(tokens)
    trade = Trade(launch.mint, token.curve.sell_proceeds(tokens) + sol_delta, tokens, False,
                  launch.creator, 0, after.virtual_sol_reserves, after.virtual_token_reserves,
                  after.real_sol_reserves, after.real_token_reserves)  # fmt: skip
    return "Program data: " + base64.b64encode(encode_trade_event(trade)).decode()


def test_malformed_simulation_answers_reject(solana_peer: PeerThread) -> None:
    token, launch = _launch(solana_peer)
    peer = solana_peer.peer
    cases: list[tuple[Any, str, str]] = [
        # a value of the wrong shape
        ("malformed", "malformed_answer", "simulateTransaction"),
        # a success without a log line
        ([], "malformed_answer", "a success without log lines"),
        # a TradeEvent cut short
        ([f"Program data: {base64.b64encode(TRADE_EVENT + bytes(40)).decode()}"],
         "unknown_layout", "TradeEvent"),
        # Program data that is not base64
        (["Program data: ***"], "unknown_layout", "not base64"),
        # no TradeEvent at all
        (["Program log: Instruction: Sell"], "fact_missing", "0 sell TradeEvents"),
        # two of them
        ([_event(launch, token), _event(launch, token)], "fact_missing", "2 sell TradeEvents"),
        # a sell that pays one lamport more than the curve math on its own reserves
        ([_event(launch, token, sol_delta=1)], "sell_simulation_mismatch", "curve math"),
        # a different quantity than the probe
        ([_event(launch, token, tokens=PROBE - 1)], "sell_simulation_mismatch", "probe"),
    ]  # fmt: skip
    for answer, code, words in cases:
        if answer == "malformed":
            solana_peer.call(peer.set_fault, "simulateTransaction", "malformed")
        else:
            _answer_with(solana_peer, answer)
        verdict = _analyze(solana_peer, launch)
        assert verdict.verdict == "REJECT" and verdict.codes == [code], (answer, verdict.to_json())
        assert words in verdict.reasons[0].detail, (answer, verdict.reasons[0].detail)
        solana_peer.call(peer.clear_faults)
    # the same answer with the exact amount passes: the checks above bite on the defect alone
    _answer_with(solana_peer, [_event(launch, token)])
    assert _analyze(solana_peer, launch).passed
