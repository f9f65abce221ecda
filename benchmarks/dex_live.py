"""DEX venue latency on anvil: decision -> signed swap submitted, p50/p99, and the gas table.

Starts anvil (from ``npm ci``) with the contract tests' world (real Uniswap V2/V3 bytecode, our
executor), then times :meth:`DexVenue.submit` from the call (the runner's decision) to the
moment the signed transaction was accepted by the node (``sent``: logged and pushed). Each step
inside is timed too: the pool read and exact quote (plan), the eth_call simulation with the
gas estimate and fee history (run together), nonce + sign + durable log, and the push.
References measured in the same run: one ``eth_blockNumber`` round trip (the RPC floor) and one
local signature. The gas table lists, per market and side, gas estimated vs used and the fee
expected vs paid per gas.

Run: ``.venv/bin/python benchmarks/dex_live.py [--swaps 200]`` (needs ``npm ci`` for anvil).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eth_account import Account  # noqa: E402

from live.chain.keys import LocalSigner  # noqa: E402
from live.events import EventStore  # noqa: E402
from live.venues.base import OrderRequest  # noqa: E402
from live.venues.dex import DexVenue  # noqa: E402
from tests.contracts.chain_env import Anvil, GasRecorder, build_world  # noqa: E402
from tests.dex_live.conftest import HOT_KEY, _write_conf  # noqa: E402


def _pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


async def _run(venue: DexVenue, swaps: int) -> tuple[dict[str, list[float]], list[dict[str, Any]]]:
    times: dict[str, list[float]] = defaultdict(list)
    gas_rows: list[dict[str, Any]] = []
    marks: dict[str, float] = {}

    def hook(step: str, rec: object) -> None:
        marks.setdefault(step, time.perf_counter())

    venue.sender.after_step = hook
    await venue.start()
    for _ in range(20):  # RPC floor and signing, same connection
        t = time.perf_counter()
        await venue.w3.eth.block_number
        times["ref: eth_blockNumber round trip"].append(time.perf_counter() - t)
    tx = {"to": venue.signer.address, "value": 0, "gas": 21000, "maxFeePerGas": 10,
          "maxPriorityFeePerGas": 1, "nonce": 0, "chainId": 31337}  # fmt: skip
    for _ in range(20):
        t = time.perf_counter()
        venue.signer.sign(tx)
        times["ref: one local signature"].append(time.perf_counter() - t)
    for i in range(swaps):
        symbol = ("A/B", "C/B")[i % 2]
        side = ("sell", "sell", "buy", "buy")[i % 4]
        marks.clear()
        t0 = time.perf_counter()
        req = OrderRequest(f"bench{i}", symbol, side, Decimal("0.01"))  # type: ignore[arg-type]
        plan = await venue.plan(req)
        t_plan = time.perf_counter()
        venue.sender.confirmations = 1
        await venue.submit_planned(req, plan)
        if "sent" not in marks:
            raise RuntimeError(f"swap {i} was not sent")
        times["decision -> signed tx submitted"].append(marks["sent"] - t0)
        times["  plan: pool read + exact quote"].append(t_plan - t0)
        times["  simulate + estimate + fees"].append(marks["nonce"] - t_plan)
        times["  nonce, sign, durable log"].append(marks["signed"] - marks["nonce"])
        times["  push (eth_sendRawTransaction)"].append(marks["sent"] - marks["signed"])
        rec = next(r for r in venue.nonces.txs.values() if r.client_id == req.client_id)
        rec = await venue.sender.wait(rec, timeout_s=30)
        gas_rows.append({"market": f"{symbol} {side}", "est": rec.meta["gas_estimate"],
                         "used": rec.gas_used, "expected": rec.meta["fee_expected"],
                         "paid": rec.price})  # fmt: skip
    await venue.close()
    return times, gas_rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--swaps", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        anvil = Anvil(root / "anvil.log")
        try:
            world = build_world(anvil.w3, GasRecorder())
            account = Account.from_key(HOT_KEY)
            signer = LocalSigner(account.address, account)
            anvil.w3.provider.make_request("anvil_setBalance", [signer.address, hex(10**21)])  # type: ignore[arg-type]
            world.send(world["executor"].functions.setExecutor(signer.address, True))
            (root / "conf").mkdir()
            conf, tokens = _write_conf(root / "conf", world, anvil.url)
            from live.chain.dex_conf import load_dex_venue

            cfg = load_dex_venue("anvil_dex", conf_dir=conf, tokens_dir=tokens,
                                 overrides={"confirmations": 1})  # fmt: skip
            venue = DexVenue(cfg, signer, EventStore.open(root / "log.sqlite"), clock=lambda: 0,
                             wait_s=0.0)  # fmt: skip
            times, gas_rows = asyncio.run(_run(venue, args.swaps))
        finally:
            anvil.stop()
    floor = statistics.median(times["ref: eth_blockNumber round trip"])
    print(f"DEX venue on anvil, {args.swaps} swaps (V3 A/B and V2 C/B, sells and buys)")
    print(f"{'':36} {'p50 ms':>9} {'p99 ms':>9} {'p50 / RPC floor':>16}")
    for name, xs in times.items():
        p50, p99 = _pct(xs, 50) * 1e3, _pct(xs, 99) * 1e3
        print(f"{name:36} {p50:9.2f} {p99:9.2f} {p50 / (floor * 1e3):15.1f}x")
    print("\ngas per swap (anvil, warm pools)")
    print(
        f"{'market':14} {'n':>4} {'estimated':>10} {'used':>8} {'used/est':>9} {'fee exp. gwei':>14} {'paid gwei':>10}"
    )
    by: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in gas_rows:
        by[r["market"]].append(r)
    for market, rows in sorted(by.items()):
        est = statistics.mean(r["est"] for r in rows)
        used = statistics.mean(r["used"] for r in rows)
        exp = statistics.mean(r["expected"] for r in rows) / 1e9
        paid = statistics.mean(r["paid"] for r in rows) / 1e9
        print(
            f"{market:14} {len(rows):4d} {est:10.0f} {used:8.0f} {used / est:9.3f} {exp:14.4f} {paid:10.4f}"
        )


if __name__ == "__main__":
    main()
