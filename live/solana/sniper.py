"""The sniper: monitor → safety analyzer → guarded buyer → exits, every step in the event store.

:class:`Sniper` is driven by launches (from :class:`~live.solana.monitor.LaunchMonitor` in
``run``, from recorded frames in ``replay``) and by :meth:`Sniper.check_exits` rounds. It
writes to the run's event log (the same store, hash chain and tools as the CEX runner:
``grekko-live status|verify|kill|resume|alerts`` read it):

``run_started`` · ``sniper_launch`` · ``sniper_verdict`` (score, reasons, facts) ·
``sniper_decision`` (skip / reject with the rule and reason) · ``risk_decision`` and the other
risk-engine drafts · ``sniper_order`` (the signed transaction's signature and plan, before it
is sent) · ``sniper_fill`` · ``sniper_exit`` · ``sniper_reconciled`` · ``sniper_gap`` /
``sniper_reconnect`` · ``kill_switch``.

The kill switch is the run folder's ``KILL`` file (``grekko-live kill``) or :meth:`kill`: it
halts the risk engine, so no buy passes; exits still run (they reduce exposure), and a kill
with ``flatten`` sells every position at once. A restart folds the log back into positions and
the risk engine's counts (its recorded ``risk_decision`` events: the day's SOL spent, the order
rate), then :meth:`reconcile` checks each position against the chain (live: the wallet's token
account; dry-run: the curve still trades) and records what it found.

The daily SOL budget is the risk spec's ``order.max_notional_per_day`` (SOL per UTC day, the
rule of every driver, backtest and live): a buy is priced at its exact average cost per token,
fee included, so the notional the risk engine counts is the SOL the buy spends.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from solders.pubkey import Pubkey

from grekko_research.risk.spec import RiskSpec
from live.compliance.screen import ComplianceRefused
from live.events import EventStore
from live.risk import MarketView, PortfolioView, ProposedOrder, RiskEngine
from live.solana.accounts import associated_token_address, decode_token_account
from live.solana.buyer import (
    LAMPORTS,
    BuyerConfig,
    OrderPlan,
    Position,
    Wallet,
    build_buy,
    build_sell,
    exit_reason,
    plan_buy,
    plan_sell,
)
from live.solana.curve import CurveState, decode_curve
from live.solana.monitor import MonitorEvent
from live.solana.parse import Launch
from live.solana.safety import SafetyAnalyzer, SafetyConfig, Verdict

__all__ = ["Sniper", "SniperSpec"]

DECIMALS = 6  # launch tokens' decimals (the analyzer checks the mint's)
RPC_FAILURE_CODES = frozenset({"rpc_error", "rpc_timeout", "malformed_answer"})


@dataclass(frozen=True)
class SniperSpec:
    """A sniper run: where, how much, which limits."""

    rpc_url: str
    ws_url: str
    buyer: BuyerConfig = field(default_factory=BuyerConfig)
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    risk: RiskSpec = field(default_factory=RiskSpec)
    paper_balance_sol: float = 1.0  # dry-run equity
    kill_file: Path | None = None
    run_id: str = "sniper"


class Sniper:
    """One sniper run over an RPC client, a wallet and an event store."""

    def __init__(
        self,
        spec: SniperSpec,
        store: EventStore,
        client: Any,
        wallet: Wallet,
        *,
        creator_launches: Callable[[str], int],
        clock: Callable[[], int] | None = None,
        on_record: Callable[[str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.spec = spec
        self.store = store
        self.client = client
        self.wallet = wallet
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.analyzer = SafetyAnalyzer(client, spec.safety, creator_launches=creator_launches)
        self.risk = RiskEngine(spec.risk, stream="risk")
        self.positions: dict[str, Position] = {}
        self.safe: dict[str, bool] = {}
        self.last_check: dict[str, int] = {}
        self.realised_lamports = 0
        self.killed: str | None = None
        self.pending: dict[str, dict[str, Any]] = {}  # live buys recorded, outcome not known
        self._on_record = on_record
        self._prices: dict[str, float] = {}

    # -- the log ---------------------------------------------------------------------

    def _record(self, kind: str, stream: str, payload: dict[str, Any]) -> None:
        self.store.append(kind, stream, payload, ts_ms=self.clock())
        if self._on_record is not None:
            self._on_record(kind, payload)

    def _drafts(self, drafts: Any) -> None:
        for kind, stream, payload in drafts:
            self._record(kind, stream, payload)

    def start(self) -> None:
        """Record the run's start (first start only) and rebuild state from the log."""
        if self.store.head() is None:
            self._record(
                "run_started", "runner",
                {"run_id": self.spec.run_id, "venue": "solana", "strategy": "sniper",
                 "mode": self.spec.buyer.mode, "feed": self.spec.rpc_url,
                 "wallet": str(self.wallet.pubkey), "buyer": _public(self.spec.buyer)},
            )  # fmt: skip
            return
        self._fold()

    def _fold(self) -> None:
        for e in self.store.read():
            p = e.payload
            if e.kind == "risk_decision":  # the day's notional and the order rate
                self.risk.refold(p)
            if e.kind == "sniper_fill" or (e.kind == "sniper_reconciled" and "signature" in p):
                self.pending.pop(p.get("signature") or "", None)
            if e.kind == "sniper_order" and p.get("side") == "buy" and not p.get("dry_run"):
                self.pending[p["signature"]] = p
            elif e.kind == "sniper_exit" and not p.get("dry_run", self.spec.buyer.mode != "live"):
                self.pending[p["signature"]] = {**p, "side": "sell"}  # sent, outcome unknown
            elif e.kind == "sniper_fill" and p["side"] == "buy":
                self.positions[p["mint"]] = Position.from_json(p["position"])
            elif e.kind == "sniper_fill" and p["side"] == "sell":
                self.positions.pop(p["mint"], None)
                self.realised_lamports += int(p.get("pnl_lamports", 0))
            elif e.kind == "sniper_reconciled" and p.get("closed"):
                self.positions.pop(p["mint"], None)
            elif e.kind == "kill_switch" and p.get("engaged"):
                self.killed = p.get("reason", "kill switch")
            elif e.kind == "resumed":
                self.killed = None
        if self.killed is not None:
            self.risk.halt(f"kill switch: {self.killed}", now_ms=self.clock())

    # -- kill switch -----------------------------------------------------------------

    def kill(self, reason: str, *, source: str = "call") -> None:
        if self.killed is not None:
            return
        self.killed = reason
        self._record("kill_switch", "runner", {"engaged": True, "reason": reason, "source": source})
        self._drafts(self.risk.halt(f"kill switch: {reason}", now_ms=self.clock()))

    def _watch_kill_file(self) -> bool:
        """Engage the kill switch if the run's KILL file exists; return whether to flatten."""
        path = self.spec.kill_file
        if path is None or not path.exists():
            return False
        try:
            body = json.loads(path.read_text() or "{}")
        except (OSError, json.JSONDecodeError):
            body = {}
        self.kill(str(body.get("reason") or "KILL file"), source="file")
        return bool(body.get("flatten"))

    # -- launches --------------------------------------------------------------------

    async def on_monitor_event(self, event: MonitorEvent) -> Verdict | None:
        if event.kind == "launch" and event.launch is not None:
            return await self.on_launch(
                event.launch, slot=event.slot, received_ns=event.received_ns
            )
        if event.kind in ("gap", "reconnect", "error"):
            self._record(f"sniper_{event.kind}", "monitor", event.to_json())
        return None

    async def on_launch(
        self, launch: Launch, *, slot: int | None = None, received_ns: int | None = None
    ) -> Verdict:
        """Analyse ``launch``; buy it if it passes and the risk engine lets it
        (``received_ns``: when its frame arrived, ``time.perf_counter_ns``)."""
        self._record("sniper_launch", launch.mint, {"slot": slot, **launch.to_json()})
        verdict = await self.analyzer.analyze(launch)
        payload = verdict.to_json()
        if received_ns is not None:  # the frame → verdict latency (metrics)
            payload["frame_to_verdict_ms"] = (time.perf_counter_ns() - received_ns) / 1e6
        self._record("sniper_verdict", launch.mint, payload)
        self._verdict_rpc_errors(launch.mint, verdict)
        if verdict.passed:
            await self.try_buy(launch)
        else:
            self._decision(
                launch.mint, "skip", "safety", f"verdict REJECT: {', '.join(verdict.codes)}"
            )
        return verdict

    def _rpc_error(self, mint: str, where: str, error: str) -> None:
        """One failed RPC call (metrics count them; repeated ones alert)."""
        self._record("sniper_rpc_error", mint, {"mint": mint, "where": where, "error": error[:300]})

    def _verdict_rpc_errors(self, mint: str, verdict: Verdict) -> None:
        for r in verdict.reasons:
            if r.code in RPC_FAILURE_CODES:
                self._rpc_error(mint, f"analysis:{r.code}", r.detail)

    def _compliance(self, mint: str, error: ComplianceRefused) -> None:
        self._record("compliance_refused", "compliance", {**error.record, "mint": mint})
        self._decision(mint, "reject", "compliance", str(error))

    def _decision(self, mint: str, action: str, rule: str, reason: str, **extra: Any) -> None:
        self._record(
            "sniper_decision",
            mint,
            {"mint": mint, "action": action, "rule": rule, "reason": reason, **extra},
        )

    async def _curve(self, launch: Launch) -> CurveState | None:
        try:
            resp = await asyncio.wait_for(
                self.client.get_account_info(Pubkey.from_string(launch.bonding_curve)),
                self.spec.safety.timeout_s,
            )
            if resp.value is None:
                raise LookupError("bonding curve account not found")
            return decode_curve(bytes(resp.value.data))
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
            raise
        except BaseException as e:  # fail closed: no curve, no order
            if not isinstance(e, LookupError | ValueError):  # the RPC failed, not the account
                self._rpc_error(launch.mint, "curve", f"{type(e).__name__}: {e}")
            self._decision(
                launch.mint, "reject", "curve", f"curve unreadable: {type(e).__name__}: {e}"
            )
            return None

    def _portfolio(self) -> PortfolioView:
        """Equity in SOL: the starting balance, realised PnL, and each position marked at the
        curve's price less its cost."""
        unrealised = sum(
            p.tokens / 10**DECIMALS * self._prices.get(m, 0.0) - p.cost_lamports / LAMPORTS
            for m, p in self.positions.items()
        )
        equity = self.spec.paper_balance_sol + self.realised_lamports / LAMPORTS + unrealised
        positions = {m: p.tokens / 10**DECIMALS for m, p in self.positions.items()}
        return PortfolioView(equity=equity, positions=positions)

    async def try_buy(self, launch: Launch) -> Position | None:
        """Plan, gate and (dry-run: record; live: simulate, record, send) one buy."""
        self._watch_kill_file()
        if self.killed is not None:  # the risk engine is halted too; say why here
            self._decision(launch.mint, "reject", "kill_switch", f"kill switch: {self.killed}")
            return None
        if launch.mint in self.positions:
            self._decision(launch.mint, "skip", "position", "already holding this token")
            return None
        curve = await self._curve(launch)
        if curve is None:
            return None
        cfg = self.spec.buyer
        plan = plan_buy(curve, cfg.buy_lamports, cfg, launch.mint)
        if plan is None:
            self._decision(launch.mint, "reject", "size", "the budget buys no token")
            return None
        now = self.clock()
        self._prices[launch.mint] = curve.price_lamports_per_token() * 10**DECIMALS / LAMPORTS
        # priced at the buy's exact average cost (SOL per token, fee included): its notional is
        # the SOL it spends, what max_notional and max_notional_per_day bound
        price = plan.lamports / LAMPORTS / (plan.tokens / 10**DECIMALS)
        order = ProposedOrder(
            launch.mint,
            "buy",
            plan.tokens / 10**DECIMALS,
            price,
            client_id=f"buy-{launch.mint[:8]}",
        )
        decision = self.risk.check_order(
            order, self._portfolio(), MarketView(prices=dict(self._prices)), now_ms=now
        )
        self._drafts(decision.events)
        extra: dict[str, Any] = {}
        if decision.rule == "max_notional_per_day":  # the daily SOL budget (alerts, metrics)
            extra = {"budget_sol": decision.limit, "spent_today_sol": self.risk.notional_today(now)}
        if not decision.approved:
            self._decision(launch.mint, "reject", decision.rule or "risk", decision.reason, **extra)
            return None
        if decision.action == "shrink":  # the SOL the engine let through, fee included
            plan = plan_buy(curve, int(decision.qty * price * LAMPORTS), cfg, launch.mint)
            if plan is None:
                self._decision(launch.mint, "reject", decision.rule or "risk", "shrunk to nothing",
                               **extra)  # fmt: skip
                return None
        return await self._execute_buy(launch, plan, now)

    async def _blockhash(self) -> Any:
        resp = await asyncio.wait_for(
            self.client.get_latest_blockhash(), self.spec.safety.timeout_s
        )
        return resp.value.blockhash

    async def _execute_buy(self, launch: Launch, plan: OrderPlan, now: int) -> Position | None:
        cfg = self.spec.buyer
        try:
            tx = build_buy(launch, plan, self.wallet, await self._blockhash(), cfg)
        except ComplianceRefused as e:  # sanctions screening: nothing was signed
            self._compliance(launch.mint, e)
            return None
        except Exception as e:
            self._rpc_error(launch.mint, "blockhash", f"{type(e).__name__}: {e}")
            self._decision(launch.mint, "reject", "blockhash", f"{type(e).__name__}: {e}")
            return None
        sig = str(tx.signatures[0])
        live = cfg.mode == "live"
        if live and not await self._simulate(launch.mint, tx):
            return None
        self._record(
            "sniper_order",
            launch.mint,
            {"signature": sig, "dry_run": not live, "launch": launch.to_json(),
             "opened_ms": now, **plan.to_json()},
        )  # fmt: skip  # the intent, by signature, before anything is sent
        tokens = plan.tokens
        if live:
            if not await self._submit(launch.mint, tx):
                return None
            tokens = await self._chain_tokens(launch) or 0
            if tokens <= 0:
                self._decision(
                    launch.mint, "reject", "fill", "the buy landed but the wallet holds no token"
                )
                return None
        position = Position(launch, tokens, plan.lamports, now, sig)
        self.positions[launch.mint] = position
        self.safe[launch.mint] = True
        self.last_check[launch.mint] = now
        self._record("sniper_fill", launch.mint, {
            "side": "buy", "mint": launch.mint, "tokens": tokens, "lamports": plan.lamports,
            "signature": sig, "dry_run": cfg.mode != "live", "position": position.to_json(),
        })  # fmt: skip
        return position

    async def _simulate(self, mint: str, tx: Any) -> bool:
        """Live only: the signed transaction must simulate cleanly before it is recorded and
        sent; an error, a timeout or a failed simulation records the refusal."""
        try:
            sim = await asyncio.wait_for(
                self.client.simulate_transaction(tx, sig_verify=True), self.spec.safety.timeout_s
            )
            err = sim.value.err
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
            raise
        except BaseException as e:
            err = f"{type(e).__name__}: {e}"
            self._rpc_error(mint, "simulate", err)
        if err is not None:
            self._decision(mint, "reject", "simulation", f"simulation failed: {err}")
            return False
        return True

    async def _submit(self, mint: str, tx: Any) -> bool:
        """Live only: send, then confirm by signature. Unknown outcomes are recorded for
        :meth:`reconcile` (by signature), never resent blindly."""
        try:
            await self.client.send_raw_transaction(bytes(tx))
            for _ in range(60):
                status = (await self.client.get_signature_statuses([tx.signatures[0]])).value[0]
                if status is not None:
                    if status.err is not None:
                        self._decision(mint, "reject", "landed_error", str(status.err))
                        return False
                    return True
                await asyncio.sleep(0.5)
            why = "not confirmed in 30 s"
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
            raise
        except BaseException as e:
            why = f"{type(e).__name__}: {e}"
            self._rpc_error(mint, "send", why)
        self._decision(mint, "unknown", "unconfirmed", f"{why}: reconcile by signature")
        return False

    async def _chain_tokens(self, launch: Launch) -> int | None:
        ata = associated_token_address(self.wallet.pubkey, Pubkey.from_string(launch.mint))
        resp = await self.client.get_account_info(ata)
        if resp.value is None:
            return 0
        return decode_token_account(bytes(resp.value.data), str(resp.value.owner)).amount

    # -- exits -----------------------------------------------------------------------

    async def check_exits(self) -> list[str]:
        """One exit round: kill-file flatten, safety re-checks, take-profit / stop / time."""
        flatten = self._watch_kill_file()
        exited = []
        now = self.clock()
        for mint, position in list(self.positions.items()):
            curve = await self._curve(position.launch)
            if curve is None:
                continue  # no curve read: hold (an exit needs a price), recorded
            self._prices[mint] = curve.price_lamports_per_token() * 10**DECIMALS / LAMPORTS
            if now - self.last_check.get(mint, 0) >= self.spec.buyer.recheck_s * 1000:
                verdict = await self.analyzer.analyze(position.launch)
                self.last_check[mint] = now
                if not verdict.passed:
                    self._record("sniper_verdict", mint, {**verdict.to_json(), "recheck": True})
                    self._verdict_rpc_errors(mint, verdict)
                self.safe[mint] = verdict.passed
            if flatten:
                why: Any = ("kill", None)
            else:
                why = exit_reason(
                    position, curve, now, self.spec.buyer, safe=self.safe.get(mint, True)
                )
            if why is not None and why[0] != "migrated":
                await self._sell(position, curve, why[0], now)
                exited.append(mint)
        self._drafts(
            self.risk.on_tick(self._portfolio(), MarketView(prices=dict(self._prices)), now_ms=now)
        )
        return exited

    async def _sell(self, position: Position, curve: CurveState, rule: str, now: int) -> None:
        cfg = self.spec.buyer
        plan = plan_sell(curve, position.tokens, cfg, position.launch.mint)
        price = self._prices.get(position.launch.mint, 0.0)
        # The sniper's exits (take-profit, stop, time, safety downgrade, kill) close the whole
        # position, as the engine's position stops do: protective, so the risk engine passes
        # them in every trading state and its audit trail says so (risk/evaluate.py).
        order = ProposedOrder(position.launch.mint, "sell", position.tokens / 10**DECIMALS, price,
                              client_id=f"sell-{position.launch.mint[:8]}", protective=True)  # fmt: skip
        decision = self.risk.check_order(
            order, self._portfolio(), MarketView(prices=dict(self._prices)), now_ms=now
        )
        self._drafts(decision.events)
        mint, live = position.launch.mint, cfg.mode == "live"
        try:
            tx = build_sell(position.launch, plan, self.wallet, await self._blockhash(), cfg)
        except ComplianceRefused as e:  # held, nothing signed: the next round screens again
            self._compliance(mint, e)
            return
        except Exception as e:  # held: the next round tries again
            self._rpc_error(mint, "blockhash", f"{type(e).__name__}: {e}")
            self._decision(
                mint, "hold", "blockhash", f"exit {rule} not built: {type(e).__name__}: {e}"
            )
            return
        sig = str(tx.signatures[0])
        if live and not await self._simulate(mint, tx):
            return
        self._record("sniper_exit", mint, {"rule": rule, "signature": sig, "dry_run": not live,
                                           **plan.to_json()})  # fmt: skip
        if live and not await self._submit(mint, tx):
            return
        pnl = plan.lamports - position.cost_lamports
        self.realised_lamports += pnl
        del self.positions[position.launch.mint]
        self._record("sniper_fill", position.launch.mint, {
            "side": "sell", "mint": position.launch.mint, "tokens": position.tokens,
            "lamports": plan.lamports, "pnl_lamports": pnl, "rule": rule, "signature": sig,
            "dry_run": cfg.mode != "live",
        })  # fmt: skip

    # -- restart ---------------------------------------------------------------------

    async def reconcile(self) -> list[dict[str, Any]]:
        """Resolve live buys whose outcome the log does not know (by signature, never by
        resending), then check every position against the chain; record what was found."""
        found = [await self._resolve(sig, p) for sig, p in list(self.pending.items())]
        for mint, position in list(self.positions.items()):
            entry: dict[str, Any] = {"mint": mint, "recorded_tokens": position.tokens}
            try:
                if self.spec.buyer.mode == "live":
                    chain = await self._chain_tokens(position.launch) or 0
                    entry["chain_tokens"] = chain
                    if chain != position.tokens:
                        self.positions[mint] = Position(position.launch, chain, position.cost_lamports,
                                                        position.opened_ms, position.signature)  # fmt: skip
                    entry["closed"] = chain == 0
                curve = await self._curve(position.launch)
                entry["curve"] = (
                    None
                    if curve is None
                    else {"complete": curve.complete, "progress": round(curve.progress(), 6)}
                )
            except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
                raise
            except BaseException as e:
                entry["error"] = f"{type(e).__name__}: {e}"
                self._rpc_error(mint, "reconcile", entry["error"])
            if entry.get("closed"):
                self.positions.pop(mint, None)
            self._record("sniper_reconciled", mint, entry)
            found.append(entry)
        return found

    async def _resolve(self, sig: str, order: dict[str, Any]) -> dict[str, Any]:
        """A recorded live buy: landed (the chain's tokens become the position), failed, or
        not found (it did not land; nothing was resent). A sell: see :meth:`_resolve_sell`."""
        from solders.signature import Signature

        if order.get("side") == "sell":
            return await self._resolve_sell(sig, order)
        mint = order["mint"]
        entry: dict[str, Any] = {"mint": mint, "signature": sig}
        try:
            resp = await self.client.get_signature_statuses([Signature.from_string(sig)])
            status = resp.value[0]
            if status is None:
                entry["outcome"] = "not_found"
            elif status.err is not None:
                entry["outcome"] = f"failed: {status.err}"
            else:
                launch = Launch(**order["launch"])
                tokens = await self._chain_tokens(launch) or 0
                position = Position(
                    launch, tokens, int(order["lamports"]), int(order["opened_ms"]), sig
                )
                entry.update(outcome="landed", chain_tokens=tokens)
                if tokens > 0:
                    self.positions[mint] = position
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
            raise
        except BaseException as e:  # unresolved: stays pending for the next reconcile
            entry["error"] = f"{type(e).__name__}: {e}"
            self._rpc_error(mint, "reconcile", entry["error"])
            self._record(
                "sniper_reconciled",
                mint,
                {k: v for k, v in entry.items() if k != "signature"} | {"pending": sig},
            )
            return entry
        self.pending.pop(sig, None)
        self._record("sniper_reconciled", mint, entry)
        if entry.get("outcome") == "landed" and mint in self.positions:
            self._record("sniper_fill", mint, {
                "side": "buy", "mint": mint, "tokens": entry["chain_tokens"], "lamports": order["lamports"],
                "signature": sig, "dry_run": False, "reconciled": True,
                "position": self.positions[mint].to_json(),
            })  # fmt: skip
        return entry

    async def _resolve_sell(self, sig: str, order: dict[str, Any]) -> dict[str, Any]:
        """A recorded live sell: landed (the position is closed, its fill recorded with the
        quoted proceeds and the tokens the wallet still holds), failed or not found (the
        position stays; the exit rules sell it again). Nothing is resent here."""
        from solders.signature import Signature

        mint = order["mint"]
        entry: dict[str, Any] = {"mint": mint, "signature": sig, "side": "sell"}
        position = self.positions.get(mint)
        try:
            resp = await self.client.get_signature_statuses([Signature.from_string(sig)])
            status = resp.value[0]
            if status is None:
                entry["outcome"] = "not_found"
            elif status.err is not None:
                entry["outcome"] = f"failed: {status.err}"
            else:
                entry["outcome"] = "landed"
                if position is not None:
                    entry["chain_tokens"] = await self._chain_tokens(position.launch) or 0
        except (KeyboardInterrupt, SystemExit, asyncio.CancelledError):
            raise
        except BaseException as e:  # unresolved: stays pending for the next reconcile
            entry["error"] = f"{type(e).__name__}: {e}"
            self._rpc_error(mint, "reconcile", entry["error"])
            self._record("sniper_reconciled", mint,
                         {k: v for k, v in entry.items() if k != "signature"} | {"pending": sig})  # fmt: skip
            return entry
        self.pending.pop(sig, None)
        self._record("sniper_reconciled", mint, entry)
        if entry["outcome"] == "landed" and position is not None:
            pnl = int(order["lamports"]) - position.cost_lamports
            self.realised_lamports += pnl
            del self.positions[mint]
            self._record("sniper_fill", mint, {
                "side": "sell", "mint": mint, "tokens": int(order["tokens"]),
                "lamports": int(order["lamports"]), "pnl_lamports": pnl,
                "rule": order.get("rule"), "signature": sig, "dry_run": False, "reconciled": True,
                "proceeds": "quoted", "left_tokens": entry["chain_tokens"],
            })  # fmt: skip
        return entry


def _public(config: BuyerConfig) -> dict[str, Any]:
    from dataclasses import asdict

    return asdict(config)
