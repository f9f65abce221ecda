"""End to end on anvil: the live runner trades a real Uniswap V3 pool (A/B) and a V2 pair (C/B)
through the executor, reconciles with the chain's balances, and the kill switch flattens."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig
from grekko_research.engine.config import Fees, Sizing
from grekko_research.strategy import get_strategy
from live.events import EventStore
from live.runner import Runner, RunnerSpec
from live.venues.dex import DexVenue
from live.venues.paper import ReplayFeed
from tests.dex_live.conftest import DexWorld

SYMBOLS = ("A/B", "C/B")


def _bars() -> Bars:
    """Hourly closes near the pools' price (2 B): down, up (sma 2/5 crosses above: buy), down
    (crosses below: sell), up again (buy: a position the kill switch flattens)."""
    shape = np.r_[np.linspace(2.2, 1.9, 8), np.linspace(1.9, 2.3, 8), np.linspace(2.3, 1.8, 8),
                  np.linspace(1.8, 2.2, 8)]  # fmt: skip
    n = len(shape)
    close = np.c_[shape, shape * 1.01]
    return Bars(index=np.arange(n, dtype=np.int64) * 3_600_000 + 1_700_000_000_000 // 3_600_000 * 3_600_000,
                symbols=SYMBOLS, timeframe="1h", open=close, high=close * 1.001, low=close * 0.999,
                close=close, volume=np.ones((n, 2)))  # fmt: skip


def test_a_strategy_trades_v3_and_v2_pools_reconciles_and_the_kill_switch_flattens(
    dex: DexWorld, tmp_path: Path
) -> None:
    w = dex.world
    ex = w["executor"].address
    start = {t: w.balance(t, ex) for t in ("A", "B", "C")}
    bars = _bars()
    strategy = get_strategy("sma_cross")
    spec = RunnerSpec("dex-e2e", strategy, strategy.params({"fast": 2, "slow": 5}),
                      EngineConfig(fees=Fees(taker=0.0), sizing=Sizing("units", 1.5)), SYMBOLS, "1h",
                      kill_file=tmp_path / "KILL")  # fmt: skip
    nonces = EventStore.open(tmp_path / "dex.sqlite")
    venue = DexVenue(dex.config(confirmations=1), dex.signer, nonces, clock=lambda: 0,
                     feed=ReplayFeed(bars))  # fmt: skip

    async def go() -> dict[str, Any]:
        with EventStore.open(tmp_path / "run.sqlite") as store:
            runner = Runner(spec, venue, store)
            await runner.run()
            out: dict[str, Any] = {
                "halted": runner.halted,
                "pos": {s: runner.om.position(s) for s in SYMBOLS},
            }
            out["fills"] = list(runner.om.fills())
            out["symbols"] = [runner.om.order(f.client_id).symbol for f in out["fills"]]
            out["reconciled"] = [e.payload["ok"] for e in store.read(kinds=["reconciled"])]
            out["kill"] = await runner.kill("test over", flatten=True)
            await runner.resolve(wait=True)
            out["after"] = {s: runner.om.position(s) for s in SYMBOLS}
            out["agree"] = await runner.reconcile()
            await venue.close()
            return out

    r = asyncio.run(go())
    assert r["halted"] is None, r["halted"]
    assert r["reconciled"] and all(r["reconciled"])
    symbols = set(r["symbols"])
    assert symbols == set(SYMBOLS)  # both pools traded
    assert r["pos"] == {"A/B": Decimal("1.5"), "C/B": Decimal("1.5")}  # long at the end
    assert len(r["kill"]["flattened"]) == 2 and r["after"] == {"A/B": 0, "C/B": 0}
    assert r["agree"]
    # The chain's balances: every A and C bought was sold again; B paid the round trips' costs.
    end = {t: w.balance(t, ex) for t in ("A", "B", "C")}
    dust = (abs(end["A"] - start["A"]), abs(end["C"] - start["C"]))  # a buy's rounding surplus
    assert max(dust) <= 100
    assert end["B"] < start["B"]  # LP fees and impact of the round trips
    swaps = w["executor"].events.Swapped().get_logs(from_block=0)
    ours = [e for e in swaps if e["args"]["executor"] == dex.signer.address]
    assert len(ours) == len(r["fills"]) + 2
