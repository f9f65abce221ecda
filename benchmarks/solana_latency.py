"""Solana sniper latency: notification frame → safety verdict, and frame → signed buy.

Run: ``.venv/bin/python benchmarks/solana_latency.py [--launches N]``

Starts the local peer (LiteSVM behind JSON-RPC + PubSub on 127.0.0.1), makes ``N`` clean
launches on it and takes each launch's ``logsNotification`` value as the frame. Then, per frame,
through the real ``solana`` async client:

- parse: the monitor's pure frame handling (discriminator decode, de-duplication);
- frame → verdict: parse + the safety analyzer (5 RPC calls in two concurrent rounds: accounts
  with largest holders, then their owners with two simulations — the launch program's ``sell``,
  which the peer answers with its emulation of the program, and the token transfer);
- frame → signed buy: verdict + curve read + exact plan + the live risk engine's check +
  latest blockhash + a signed transaction (what dry-run records and live would send).

The reference, measured in the same run, is one bare ``getAccountInfo`` round trip to the same
peer: the ratios say how many round trips each path costs. Prints p50 / p99 in milliseconds.
The peer runs in another thread of the same process on a shared 2-core machine: absolute
numbers include that contention; the ratios are what to compare across changes.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's library

from grekko_research.risk.spec import OrderRisk, RiskSpec
from live.risk import MarketView, PortfolioView, ProposedOrder, RiskEngine
from live.sim.solana import PeerThread
from live.solana.accounts import PUMP_PROGRAM_KEY, pubkey
from live.solana.app import rpc_client
from live.solana.buyer import BuyerConfig, build_buy, load_keypair, plan_buy
from live.solana.curve import decode_curve
from live.solana.monitor import LaunchMonitor, MonitorConfig
from live.solana.safety import SafetyAnalyzer


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def _measure(
    peer: PeerThread, frames: list[tuple[int, dict[str, Any]]]
) -> dict[str, list[float]]:
    client = rpc_client(peer.url, 30.0)
    wallet = load_keypair(environ={})
    cfg = BuyerConfig()
    # the sniper's rules: per-buy notional, position, and the daily SOL budget (never reached)
    risk = RiskEngine(
        RiskSpec(order=OrderRisk(max_notional=0.05, max_position=0.5, max_notional_per_day=1e6))
    )
    out: dict[str, list[float]] = {"rpc": [], "parse": [], "verdict": [], "signed": []}
    try:
        probe = PUMP_PROGRAM_KEY  # an account the peer does not hold: the answer is small
        for _ in range(5):  # warm the connection pool
            await client.get_account_info(probe)
        for slot, value in frames:
            t0 = time.perf_counter()
            await client.get_account_info(probe)
            out["rpc"].append(time.perf_counter() - t0)

            mon = LaunchMonitor(MonitorConfig(peer.ws_url))
            analyzer = SafetyAnalyzer(client, creator_launches=mon.creator_launches)
            t0 = time.perf_counter()
            (event,) = mon.on_frame("logs", slot, value, 0)
            t_parse = time.perf_counter()
            assert event.launch is not None
            verdict = await analyzer.analyze(event.launch)
            t_verdict = time.perf_counter()
            assert verdict.passed, verdict.to_json()
            curve_acc = await client.get_account_info(pubkey(event.launch.bonding_curve))
            curve = decode_curve(bytes(curve_acc.value.data))
            plan = plan_buy(curve, cfg.buy_lamports, cfg, event.launch.mint)
            assert plan is not None
            price = plan.lamports / 1e9 / (plan.tokens / 1e6)  # its exact cost, as the sniper
            order = ProposedOrder(event.launch.mint, "buy", plan.tokens / 1e6, price)
            decision = risk.check_order(
                order, PortfolioView(1.0), MarketView(prices={event.launch.mint: price}), now_ms=0
            )
            assert decision.approved
            blockhash = (await client.get_latest_blockhash()).value.blockhash
            tx = build_buy(event.launch, plan, wallet, blockhash, cfg)
            t_signed = time.perf_counter()
            assert tx.signatures
            out["parse"].append(t_parse - t0)
            out["verdict"].append(t_verdict - t0)
            out["signed"].append(t_signed - t0)
    finally:
        await client.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--launches", type=int, default=200)
    args = ap.parse_args()
    peer = PeerThread()
    try:
        frames = []
        for _ in range(args.launches):
            token = peer.call(peer.peer.launch, "clean")
            entry = token.block.entries[0]
            frames.append((token.block.slot, {"signature": token.signature, "err": None,
                                              "logs": entry["meta"]["logMessages"]}))  # fmt: skip
        out = asyncio.run(_measure(peer, frames))
    finally:
        peer.close()
    ref = statistics.median(out["rpc"])
    print(f"{args.launches} launches on the local LiteSVM peer (real solana client, 127.0.0.1)")
    print(f"{'path':<26}{'p50 ms':>10}{'p99 ms':>10}{'p50 / 1 RPC':>14}")
    names = {"rpc": "1 getAccountInfo (ref)", "parse": "frame -> launch (parse)",
             "verdict": "frame -> verdict", "signed": "frame -> signed buy"}  # fmt: skip
    for key, name in names.items():
        p50, p99 = _pct(out[key], 0.5), _pct(out[key], 0.99)
        print(f"{name:<26}{p50 * 1e3:>10.3f}{p99 * 1e3:>10.3f}{p50 / ref:>14.2f}")


if __name__ == "__main__":
    main()
