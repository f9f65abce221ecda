"""The buyer: instructions equal the real mainnet ones, exact plans, exits, keys; the sniper's
risk-gated dry-run buys, kill switch and restart reconciliation against the local peer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from solana.rpc.async_api import AsyncClient
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from grekko_research.errors import ConfigError
from grekko_research.risk.spec import OrderRisk, RiskSpec
from live.events import EventStore
from live.sim.solana.peer import PeerThread
from live.solana.accounts import PUMP_PROGRAM_KEY, associated_token_address
from live.solana.buyer import (
    BuyerConfig,
    Position,
    buy_instruction,
    exit_reason,
    load_keypair,
    plan_buy,
    plan_sell,
    sell_instruction,
)
from live.solana.curve import CurveState, fee
from live.solana.parse import Launch, b58decode, trades_from_logs
from live.solana.safety import SafetyConfig
from live.solana.sniper import Sniper, SniperSpec

BUY_MINT = "HfJVjBdkhAD2ynVM8PdTSii4ECZdsxNTCx5wpEqUpump"
BUY_CURVE = "6fogeBTRjgm9Kb9dVtqpjDf6bGvjGgdScmTu5nCVPJPn"
BUY_USER = "2vr538qDgHCPYmr2mjt5LSjQ3kBYjtw3SDSveUKBVkef"


def _buy_tx(shared_data: Path) -> dict[str, Any]:
    return json.loads((shared_data / "solana" / "raw_buy_tx_from_getTransaction.json").read_text())[
        "result"
    ]


def test_buy_and_sell_instructions_equal_the_real_ones(shared_data: Path) -> None:
    tx = _buy_tx(shared_data)
    real_buy, real_sell = tx["transaction"]["message"]["instructions"][2:4]
    launch = Launch(BUY_MINT, BUY_CURVE, "x", "", "", "")
    user = Pubkey.from_string(BUY_USER)
    buy_data = b58decode(real_buy["data"])
    amount, max_cost = (
        int.from_bytes(buy_data[8:16], "little"),
        int.from_bytes(buy_data[16:24], "little"),
    )
    ours = buy_instruction(launch, user, amount, max_cost)
    assert bytes(ours.data) == buy_data
    assert [str(a.pubkey) for a in ours.accounts] == real_buy["accounts"]
    sell_data = b58decode(real_sell["data"])
    min_out = int.from_bytes(sell_data[16:24], "little")
    ours_sell = sell_instruction(launch, user, int.from_bytes(sell_data[8:16], "little"), min_out)
    assert bytes(ours_sell.data) == sell_data
    assert [str(a.pubkey) for a in ours_sell.accounts] == real_sell["accounts"]
    # the real max_sol_cost bounded the exact cost the curve charged
    (buy, _) = trades_from_logs(tx["meta"]["logMessages"])
    assert buy.sol_amount <= max_cost


def test_plan_buy_is_exact_and_bounded() -> None:
    curve = CurveState.initial()
    cfg = BuyerConfig(buy_sol=0.1, slippage_bps=300)
    plan = plan_buy(curve, cfg.buy_lamports, cfg, "m")
    assert plan is not None
    cost = curve.buy_cost(plan.tokens)
    assert plan.lamports == cost + fee(cost) <= cfg.buy_lamports
    more = curve.buy_cost(plan.tokens + 1)
    assert more + fee(more) > cfg.buy_lamports  # the most tokens the budget buys
    assert plan.bound == cost * 10_300 // 10_000
    sell = plan_sell(curve.after_buy(plan.tokens), plan.tokens, cfg, "m")
    assert sell.lamports < plan.lamports  # a round trip pays two fees
    assert plan_buy(curve, 0, cfg, "m") is None
    tiny = plan_buy(curve, 1, cfg, "m")  # 1 lamport: the "+1" rounding alone
    assert tiny is not None and curve.buy_cost(tiny.tokens) == 1


def test_exit_rules() -> None:
    curve = CurveState.initial()
    cfg = BuyerConfig(take_profit=0.5, stop_loss=0.25, max_hold_s=60)
    plan = plan_buy(curve, cfg.buy_lamports, cfg, "m")
    assert plan is not None
    after = curve.after_buy(plan.tokens)
    pos = Position(Launch("m", "c", "u", "", "", ""), plan.tokens, plan.lamports, 0)
    assert exit_reason(pos, after, 1_000, cfg) is None
    pumped = after.after_buy(300_000_000_000_000)
    assert exit_reason(pos, pumped, 1_000, cfg)[0] == "take_profit"  # type: ignore[index]
    dumped = (
        after.after_sell(after.real_token_reserves // 10 + plan.tokens)
        if False
        else CurveState(
            after.virtual_token_reserves * 2,
            after.virtual_sol_reserves // 2,
            after.real_token_reserves,
            after.real_sol_reserves,
            after.token_total_supply,
        )
    )
    assert exit_reason(pos, dumped, 1_000, cfg)[0] == "stop_loss"  # type: ignore[index]
    assert exit_reason(pos, after, 60_000, cfg)[0] == "time"  # type: ignore[index]
    assert exit_reason(pos, after, 1_000, cfg, safe=False)[0] == "safety"  # type: ignore[index]


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"solana\.buyer\.mode"):
        BuyerConfig(mode="yolo")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"solana\.buyer\.buy_sol"):
        BuyerConfig(buy_sol=float("nan"))


def test_the_daily_budget_is_configured_in_the_risk_spec() -> None:
    from live.solana.config import load_config

    conf = load_config()  # conf/solana/default.yaml
    assert conf.risk.order.max_notional_per_day == 0.5
    with pytest.raises(ConfigError, match=r"solana\.risk\.order\.max_notional_per_day"):
        load_config(overrides={"buyer.daily_budget_sol": 0.5})  # the old key: moved
    with pytest.raises(ConfigError, match=r"live sniper needs a daily SOL budget"):
        load_config(overrides={"buyer.mode": "live", "risk": {"order": {"max_notional": 0.05}}})
    with pytest.raises(ConfigError, match=r"risk\.order\.max_notional_per_day"):
        load_config(overrides={"risk": {"order": {"max_notional_per_day": -1}}})


def test_key_from_env_is_masked_and_never_shown(capsys: pytest.CaptureFixture[str]) -> None:
    from live.secrets import default_redactor

    kp = Keypair()
    secret = str(kp)
    wallet = load_keypair(environ={"GREKKO_SOLANA_KEY": secret})
    assert wallet.pubkey == kp.pubkey() and not wallet.throwaway
    assert secret not in repr(wallet) and secret not in str(wallet)
    assert default_redactor().redact(f"key={secret}") == "key=***"
    with pytest.raises(ConfigError) as err:
        load_keypair(environ={"GREKKO_SOLANA_KEY": secret[:-3] + "0OI"})
    assert secret[:20] not in str(err.value) and "malformed" in str(err.value)
    with pytest.raises(ConfigError, match="GREKKO_SOLANA_KEY"):
        load_keypair(environ={}, required=True)
    assert load_keypair(environ={}).throwaway


# -- the sniper against the peer ---------------------------------------------------------


def _launch(peer: PeerThread, case: str = "clean") -> tuple[Launch, Any]:
    token = peer.call(peer.peer.launch, case)
    return Launch(str(token.mint), str(token.bonding_curve), str(token.creator.pubkey()),
                  "Grekko Test", "GRKT", "u"), token  # fmt: skip


class _Clock:
    def __init__(self) -> None:
        self.now = 1_733_400_000_000

    def __call__(self) -> int:
        return self.now


def _sniper(peer: PeerThread, store: EventStore, client: Any, clock: _Clock, **spec: Any) -> Sniper:
    wallet = load_keypair(environ={})
    spec.setdefault(
        "safety", SafetyConfig(timeout_s=30)
    )  # the machine is shared: no tight timeouts
    s = Sniper(SniperSpec(peer.url, peer.ws_url, **spec), store, client, wallet,
               creator_launches=lambda c: 1, clock=clock)  # fmt: skip
    s.start()
    return s


def _kinds(store: EventStore) -> list[str]:
    return [e.kind for e in store.read()]


def test_dry_run_buy_then_take_profit(solana_peer: PeerThread, tmp_path: Path) -> None:
    launch, token = _launch(solana_peer)
    clock = _Clock()

    async def go() -> None:
        client = AsyncClient(solana_peer.url, timeout=30)
        with EventStore.open(tmp_path / "events.db") as store:
            s = _sniper(solana_peer, store, client, clock)
            verdict = await s.on_launch(launch)
            assert verdict.passed
            pos = s.positions[launch.mint]
            assert pos.tokens > 0 and pos.cost_lamports <= BuyerConfig().buy_lamports
            assert await s.check_exits() == []
            # others buy: the price rises past take-profit
            pumped = token.curve.after_buy(300_000_000_000_000)
            solana_peer.call(
                solana_peer.peer.chain.set_account,
                token.bonding_curve,
                PUMP_PROGRAM_KEY,
                pumped.to_bytes(),
            )
            clock.now += 5_000
            assert await s.check_exits() == [launch.mint]
            fills = [e.payload for e in store.read(kinds=["sniper_fill"])]
            assert [f["side"] for f in fills] == ["buy", "sell"] and all(
                f["dry_run"] for f in fills
            )
            assert fills[1]["rule"] == "take_profit" and fills[1]["pnl_lamports"] > 0
            assert (
                fills[1]["lamports"]
                == plan_sell(pumped, pos.tokens, BuyerConfig(), launch.mint).lamports
            )
            assert store.verify().ok
        await client.close()

    asyncio.run(go())


def test_risk_engine_shrinks_and_the_daily_budget_is_the_risk_specs_rule(
    solana_peer: PeerThread, tmp_path: Path
) -> None:
    # max_notional (SOL per buy) shrinks the first buy to 0.02 SOL; the daily budget
    # (order.max_notional_per_day, 0.03 SOL: a rule of the one risk spec, not the buyer's)
    # shrinks the second to the 0.01 left and refuses the third — also after a restart, which
    # folds the recorded risk decisions back into the engine; the next UTC day buys again.
    clock = _Clock()
    risk = RiskSpec(order=OrderRisk(max_notional=0.02, max_notional_per_day=0.03))

    async def go() -> None:
        client = AsyncClient(solana_peer.url, timeout=30)
        log = tmp_path / "events.db"
        with EventStore.open(log) as store:
            s = _sniper(solana_peer, store, client, clock, risk=risk,
                        buyer=BuyerConfig(buy_sol=0.05))  # fmt: skip
            first, _ = _launch(solana_peer)
            await s.on_launch(first)
            assert 0.0199e9 < s.positions[first.mint].cost_lamports <= 0.02e9  # fee included
            second, _ = _launch(solana_peer)
            await s.on_launch(second)
            assert 0.0099e9 < s.positions[second.mint].cost_lamports <= 0.01e9
            decisions = [e.payload for e in store.read(kinds=["risk_decision"])]
            assert [(d["action"], d["rule"]) for d in decisions] == [
                ("shrink", "max_notional"), ("shrink", "max_notional_per_day"),
            ]  # fmt: skip
            spent = sum(p.cost_lamports for p in s.positions.values())
            assert s.risk.notional_today(clock.now) * 1e9 >= spent  # what it counted covers it
            third, _ = _launch(solana_peer)
            await s.on_launch(third)
            assert third.mint not in s.positions
            last = [e.payload for e in store.read(kinds=["sniper_decision"])][-1]
            assert last["rule"] == "max_notional_per_day" and last["budget_sol"] == 0.03
            assert last["spent_today_sol"] == pytest.approx(0.03)
        with EventStore.open(log) as store:  # the restart: the day's spend comes back
            again = _sniper(solana_peer, store, client, clock, risk=risk,
                            buyer=BuyerConfig(buy_sol=0.05))  # fmt: skip
            assert again.risk.notional_today(clock.now) == pytest.approx(0.03)
            fourth, _ = _launch(solana_peer)
            await again.on_launch(fourth)
            assert fourth.mint not in again.positions
            clock.now += 86_400_000  # the next UTC day
            fifth, _ = _launch(solana_peer)
            await again.on_launch(fifth)
            assert fifth.mint in again.positions
        await client.close()

    asyncio.run(go())


def test_rejected_launch_is_not_bought(solana_peer: PeerThread, tmp_path: Path) -> None:
    launch, _ = _launch(solana_peer, "freeze_authority")

    async def go() -> None:
        client = AsyncClient(solana_peer.url, timeout=30)
        with EventStore.open(tmp_path / "events.db") as store:
            s = _sniper(solana_peer, store, client, _Clock())
            assert not (await s.on_launch(launch)).passed
            assert "sniper_order" not in _kinds(store)
            (d,) = [e.payload for e in store.read(kinds=["sniper_decision"])]
            assert d["action"] == "skip" and "freeze_authority" in d["reason"]
        await client.close()

    asyncio.run(go())


def test_kill_file_blocks_buys_and_flattens(solana_peer: PeerThread, tmp_path: Path) -> None:
    kill = tmp_path / "KILL"

    async def go() -> None:
        client = AsyncClient(solana_peer.url, timeout=30)
        with EventStore.open(tmp_path / "events.db") as store:
            s = _sniper(solana_peer, store, client, _Clock(), kill_file=kill)
            held, _ = _launch(solana_peer)
            await s.on_launch(held)
            assert held.mint in s.positions
            kill.write_text(json.dumps({"reason": "operator", "flatten": True}))
            blocked, _ = _launch(solana_peer)
            await s.on_launch(blocked)
            assert blocked.mint not in s.positions
            assert s.risk.state.value == "HALTED"
            assert await s.check_exits() == [held.mint]  # flatten sells, even halted
            exits = [e.payload for e in store.read(kinds=["sniper_exit"])]
            assert exits[0]["rule"] == "kill"
            assert [e.payload["rule"] for e in store.read(kinds=["sniper_decision"])] == [
                "kill_switch"
            ]
            # The audit trail agrees with the sale: the halted risk engine approved it as a
            # protective exit (it used to record a reject and the sniper sold anyway).
            sells = [e.payload for e in store.read(kinds=["risk_decision"])
                     if e.payload["side"] == "sell"]  # fmt: skip
            assert len(sells) == 1 and sells[0]["protective"] is True
            assert sells[0]["state"] == "HALTED" and sells[0]["approved_qty"] > 0
        await client.close()

    asyncio.run(go())


def test_restart_mid_position_reconciles_with_chain(
    solana_peer: PeerThread, tmp_path: Path
) -> None:
    """A live position in the log; the chain holds fewer tokens in the wallet's account (a
    partial sell by hand): the restart adopts the chain amount and records both."""
    from solders.message import Message
    from solders.transaction import Transaction

    from live.sim.solana._tokens import create_ata, mint_to_instruction

    peer = solana_peer.peer
    launch, token = _launch(solana_peer, "mint_authority")  # its creator can still mint
    wallet = Keypair()
    ata = associated_token_address(wallet.pubkey(), token.mint, token.token_program)

    def fund(amount: int) -> None:
        ixs = [create_ata(token.creator.pubkey(), wallet.pubkey(), token.mint, token.token_program),
               mint_to_instruction(token.token_program, token.mint, ata, token.creator.pubkey(), amount)]  # fmt: skip
        tx = Transaction(
            [token.creator], Message(ixs, token.creator.pubkey()), peer.chain.svm.latest_blockhash()
        )
        peer.send(tx)

    solana_peer.call(fund, 123_456_789)
    log = tmp_path / "events.db"
    clock = _Clock()
    recorded = Position(launch, 500_000_000, 10_000_000, clock.now, "sig")

    async def go() -> None:
        client = AsyncClient(solana_peer.url, timeout=30)
        from live.solana.buyer import Wallet

        w = Wallet(wallet.pubkey(), wallet)
        spec = SniperSpec(
            solana_peer.url,
            solana_peer.ws_url,
            buyer=BuyerConfig(mode="live"),
            safety=SafetyConfig(timeout_s=30),
        )
        with EventStore.open(log) as store:
            first = Sniper(spec, store, client, w, creator_launches=lambda c: 1, clock=clock)
            first.start()
            store.append("sniper_fill", launch.mint, {"side": "buy", "mint": launch.mint,
                         "tokens": recorded.tokens, "lamports": recorded.cost_lamports,
                         "position": recorded.to_json()}, ts_ms=clock.now)  # fmt: skip
        with EventStore.open(log) as store:  # the restart
            again = Sniper(spec, store, client, w, creator_launches=lambda c: 1, clock=clock)
            again.start()
            assert again.positions[launch.mint].tokens == recorded.tokens  # from the log
            (entry,) = await again.reconcile()
            assert entry["recorded_tokens"] == 500_000_000 and entry["chain_tokens"] == 123_456_789
            assert again.positions[launch.mint].tokens == 123_456_789  # the chain wins
        await client.close()

    asyncio.run(go())


def test_unreadable_curve_at_buy_time_means_no_order(
    solana_peer: PeerThread, tmp_path: Path
) -> None:
    launch, _ = _launch(solana_peer)
    solana_peer.call(
        solana_peer.peer.set_fault, "getAccountInfo", "error"
    )  # the buyer's curve read

    async def go() -> None:
        client = AsyncClient(solana_peer.url, timeout=30)
        with EventStore.open(tmp_path / "events.db") as store:
            s = _sniper(solana_peer, store, client, _Clock())
            assert (await s.on_launch(launch)).passed  # the analyzer read it (getMultipleAccounts)
            assert launch.mint not in s.positions
            assert "sniper_order" not in _kinds(store)
            (d,) = [e.payload for e in store.read(kinds=["sniper_decision"])]
            assert d["rule"] == "curve" and "unreadable" in d["reason"]
        await client.close()

    asyncio.run(go())


def test_live_buy_that_fails_simulation_is_never_recorded_or_sent(
    solana_peer: PeerThread, tmp_path: Path
) -> None:
    # the launch program is not on the peer: the signed buy cannot simulate
    launch, _ = _launch(solana_peer)
    wallet = Keypair()
    solana_peer.call(solana_peer.peer.chain.svm.airdrop, wallet.pubkey(), 10**9)

    async def go() -> None:
        from live.solana.buyer import Wallet

        client = AsyncClient(solana_peer.url, timeout=30)
        spec = SniperSpec(
            solana_peer.url,
            solana_peer.ws_url,
            buyer=BuyerConfig(mode="live"),
            safety=SafetyConfig(timeout_s=30),
        )
        with EventStore.open(tmp_path / "events.db") as store:
            s = Sniper(spec, store, client, Wallet(wallet.pubkey(), wallet),
                       creator_launches=lambda c: 1, clock=_Clock())  # fmt: skip
            s.start()
            sent_before = solana_peer.call(lambda: solana_peer.peer.calls.count("sendTransaction"))
            assert (await s.on_launch(launch)).passed
            assert launch.mint not in s.positions
            assert "sniper_order" not in _kinds(store)
            (d,) = [e.payload for e in store.read(kinds=["sniper_decision"])]
            assert d["rule"] == "simulation" and "simulation failed" in d["reason"]
            sent = solana_peer.call(lambda: solana_peer.peer.calls.count("sendTransaction"))
            assert sent == sent_before
        await client.close()

    asyncio.run(go())


def test_restart_resolves_recorded_live_buys_by_signature(
    solana_peer: PeerThread, tmp_path: Path
) -> None:
    """Crash between recording a live buy and learning its outcome: the restart asks the chain
    by signature. A landed one becomes the position (the chain's tokens), an unknown one is
    recorded as not found; nothing is resent."""
    from solders.message import Message
    from solders.transaction import Transaction

    from live.sim.solana._tokens import create_ata, mint_to_instruction
    from live.solana.buyer import Wallet

    peer = solana_peer.peer
    launch, token = _launch(solana_peer, "mint_authority")
    wallet = Keypair()
    ata = associated_token_address(wallet.pubkey(), token.mint, token.token_program)

    def land() -> str:  # stands in for the buy that landed: the wallet receives tokens
        ixs = [create_ata(token.creator.pubkey(), wallet.pubkey(), token.mint, token.token_program),
               mint_to_instruction(token.token_program, token.mint, ata, token.creator.pubkey(), 777_000)]  # fmt: skip
        tx = Transaction(
            [token.creator], Message(ixs, token.creator.pubkey()), peer.chain.svm.latest_blockhash()
        )
        return peer.send(tx)

    landed_sig = solana_peer.call(land)
    lost_sig = str(Keypair().sign_message(b"never sent"))
    log, clock = tmp_path / "events.db", _Clock()
    spec = SniperSpec(
        solana_peer.url,
        solana_peer.ws_url,
        buyer=BuyerConfig(mode="live"),
        safety=SafetyConfig(timeout_s=30),
    )

    async def go() -> None:
        client = AsyncClient(solana_peer.url, timeout=30)
        w = Wallet(wallet.pubkey(), wallet)
        with EventStore.open(log) as store:
            first = Sniper(spec, store, client, w, creator_launches=lambda c: 1, clock=clock)
            first.start()
            for sig, mint in (
                (landed_sig, launch.mint),
                (lost_sig, "LostMint1111111111111111111111111111111111"),
            ):
                store.append("sniper_order", mint, {
                    "signature": sig, "dry_run": False, "side": "buy", "mint": mint, "tokens": 1_000_000,
                    "lamports": 5_000_000, "bound": 5_000_000, "opened_ms": clock.now,
                    "launch": {**launch.to_json(), "mint": mint},
                }, ts_ms=clock.now)  # fmt: skip
        sent_before = solana_peer.call(lambda: peer.calls.count("sendTransaction"))
        with EventStore.open(log) as store:
            again = Sniper(spec, store, client, w, creator_launches=lambda c: 1, clock=clock)
            again.start()
            assert set(again.pending) == {landed_sig, lost_sig}
            found = await again.reconcile()
            outcomes = {e["signature"]: e["outcome"] for e in found if "signature" in e}
            assert outcomes == {landed_sig: "landed", lost_sig: "not_found"}
            assert again.positions[launch.mint].tokens == 777_000
            assert not again.pending
        assert solana_peer.call(lambda: peer.calls.count("sendTransaction")) == sent_before
        with EventStore.open(log) as store:  # a third start: nothing left to resolve
            third = Sniper(spec, store, client, w, creator_launches=lambda c: 1, clock=clock)
            third.start()
            assert not third.pending and third.positions[launch.mint].tokens == 777_000
        await client.close()

    asyncio.run(go())
