"""SIGKILL the DEX venue at the four points of a swap's life and recover from the log:
0 lost swaps, 0 double spends, the executor's balances equal the fills.

Points: ``nonce`` (chosen, nothing signed), ``signed`` (logged, not sent), ``sent`` (pushed,
no receipt logged), ``mined`` (receipt logged). The default run kills once per point (each kill
is a fresh process: ~5 s); the
``exhaustive`` run 50 times per point (``pytest -m exhaustive tests/dex_live``)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from live.chain.build import REPO_ROOT
from live.events import EventStore
from live.orders import FillReport, NotFound
from live.venues.base import OrderRequest
from live.venues.dex import DexVenue
from tests.dex_live.conftest import HOT_KEY, DexWorld

POINTS = ("nonce", "signed", "sent", "mined")
CHILD = Path(__file__).with_name("_crash_child.py")


def _kill_at(dex: DexWorld, log: Path, cid: str, qty: str, step: str) -> int:
    env = {**os.environ, "GREKKO_TEST_DEX_KEY": HOT_KEY, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, str(CHILD), str(dex.conf_dir), str(dex.tokens_dir), str(log), cid, qty, step],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert proc.returncode == -9, proc.stderr[-3000:]
    assert HOT_KEY[2:] not in proc.stdout + proc.stderr
    return proc.returncode


def _swaps_on_chain(dex: DexWorld, start: int) -> int:
    ex = dex.world["executor"]
    logs = ex.events.Swapped().get_logs(from_block=start)
    return sum(1 for e in logs if e["args"]["executor"] == dex.signer.address)


def _crash_round(dex: DexWorld, tmp_path: Path, per_point: int) -> dict[str, Counter[str]]:
    w = dex.world
    ex = w["executor"].address
    log = tmp_path / "log.sqlite"
    start = w.w3.eth.block_number + 1
    a0 = w.balance("A", ex)
    figures: dict[str, Counter[str]] = {p: Counter() for p in POINTS}
    filled = Decimal(0)
    for i in range(per_point):
        for point in POINTS:
            cid = f"{point}-{i}"
            qty = f"0.{i % 9 + 1}"
            nonce = w.w3.eth.get_transaction_count(dex.signer.address)
            _kill_at(dex, log, cid, qty, point)
            figures[point]["killed"] += 1

            async def recover(
                cid: str = cid, qty: str = qty, nonce: int = nonce, point: str = point
            ) -> tuple[Any, DexVenue]:
                v = DexVenue(dex.config(confirmations=1), dex.signer, EventStore.open(log),
                             clock=lambda: 1_700_000_000_000)  # fmt: skip
                await v.start()  # resolves what the log left
                try:
                    q = await v.query("A/B", cid)
                    if isinstance(q, NotFound):  # never signed: the runner sends it again
                        assert w.w3.eth.get_transaction_count(dex.signer.address) == nonce
                        figures[point]["never_signed"] += 1
                        reports = await v.submit(OrderRequest(cid, "A/B", "sell", Decimal(qty)))
                        assert isinstance(reports[-1], FillReport), reports
                        q = await v.query("A/B", cid)
                    return q, v
                finally:
                    await v.close()

            q, v = asyncio.run(recover())
            assert q.status.name == "FILLED", (point, q)
            figures[point]["filled"] += 1
            print(f"crash {point} #{i}: {q.status.name}", flush=True)
            signed = [t for t in v.nonces.txs.values() if t.client_id == cid]
            assert len(signed) == 1, (point, signed)  # one transaction per order, never re-signed
            filled += Decimal(qty)
    swaps = _swaps_on_chain(dex, start)
    assert swaps == per_point * len(POINTS)  # 0 lost, 0 doubled
    assert w.balance("A", ex) == a0 - int(filled * 10**18)  # balances equal the fills
    nonces = [t.nonce for t in v.nonces.txs.values()]
    assert sorted(nonces) == list(range(min(nonces), min(nonces) + len(nonces)))  # no gap
    return figures


def test_sigkill_at_each_point_loses_and_doubles_nothing(dex: DexWorld, tmp_path: Path) -> None:
    figures = _crash_round(dex, tmp_path, per_point=1)
    assert all(f["filled"] == 1 for f in figures.values())
    assert figures["nonce"]["never_signed"] == 1


@pytest.mark.exhaustive
@pytest.mark.timeout(7200)  # 200 child processes
def test_sigkill_fifty_times_per_point(dex: DexWorld, tmp_path: Path) -> None:
    figures = _crash_round(dex, tmp_path, per_point=50)
    print({p: dict(f) for p, f in figures.items()})
    assert all(f["filled"] == 50 for f in figures.values())
