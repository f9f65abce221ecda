"""``grekko data download --pool``: a real Uniswap V3 pool's logs from anvil, in block ranges
with checkpoints, resumed, then replayed exactly from the store."""

from __future__ import annotations

import json
import random
import socket
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from grekko_research.cli import app
from grekko_research.dex.download import connect, download_pool_logs
from grekko_research.dex.pool import PoolState
from grekko_research.dex.replay import replay
from grekko_research.dex.store import PoolKey, PoolStore
from grekko_research.errors import RetryableError
from live.chain.contracts import Artifact
from tests.contracts.chain_env import Anvil, World, npm_artifact

FEE = 500  # A/B at 0.3 % is the world's own pool


def _swaps(world: World, probe: Any, addr: str, rng: random.Random, n: int) -> None:
    for _ in range(n):
        zfo = rng.random() < 0.5
        amount = int(10 ** rng.uniform(18, 21)) * (1 if rng.random() < 0.7 else -1)
        limit = 4295128740 if zfo else 1461446703485210103287273052203988822378723970341
        world.send(probe.functions.swap(addr, zfo, amount, limit))


def test_download_resumes_and_replays_exactly(
    world: World, anvil: Anvil, probe_artifact: Artifact, tmp_path: Path
) -> None:
    rng = random.Random(5)
    f, ta, tb = world["v3factory"], world["A"], world["B"]
    world.send(f.functions.createPool(ta.address, tb.address, FEE))
    addr = f.functions.getPool(ta.address, tb.address, FEE).call()
    pool = world.client.register(
        npm_artifact("@uniswap/v3-core/artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json",
                     "UniswapV3Pool"), addr)  # fmt: skip
    first = world.w3.eth.block_number
    world.send(pool.functions.initialize(2**96))
    for lo, hi in ((-887220, 887220), (-600, 600), (-120, 1200), (-3000, 60)):
        world.send(world["v3mint"].functions.mint(addr, lo, hi, 10**21))
    probe = world.client.deploy(probe_artifact, (), world.owner)
    for t in ("A", "B"):
        world.send(world[t].functions.mint(world.owner.address, 10**40))
        world.send(world[t].functions.approve(probe.address, 2**256 - 1))
    _swaps(world, probe, addr, rng, 25)

    store = PoolStore(tmp_path)
    key = PoolKey.make("anvil", addr)
    w3 = connect(anvil.url)
    # a node that refuses every call: retried, then a clear error; nothing stored
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    dead = connect(f"http://127.0.0.1:{closed}", timeout_s=5)
    with pytest.raises(RetryableError, match=r"eth_getLogs .* failed 2 times"):
        download_pool_logs(dead, store, key, from_block=first, to_block=first + 10,
                           max_retries=1, backoff_s=0.0)  # fmt: skip
    with pytest.raises(RetryableError, match="eth_blockNumber failed 1 times"):
        download_pool_logs(dead, store, key, from_block=first, max_retries=0)
    assert store.checkpoint(key) is None

    # small ranges: several checkpoints; the CLI, as a user runs it
    mid = world.w3.eth.block_number
    runner = CliRunner()
    r = runner.invoke(app, ["data", "download", "--chain", "anvil", "--pool", addr, "--rpc-url",
                            anvil.url, "--from-block", str(first), "--to-block", str(mid),
                            "--data-dir", str(tmp_path)])  # fmt: skip
    assert r.exit_code == 0, r.output + str(r.exception)
    assert store.checkpoint(key) == mid
    n_first = len(store.read_log_frame(key))
    assert n_first == 1 + 4 + 25  # Initialize, Mints, Swaps

    _swaps(world, probe, addr, rng, 15)
    again = download_pool_logs(w3, store, key, step=3)  # resumes after the checkpoint
    assert again.first_block == mid + 1 and again.added == 15 and again.stored == n_first + 15
    assert again.requests > 5  # in ranges of 3 blocks
    assert download_pool_logs(w3, store, key).up_to_date

    # the stored logs are the node's, and replay reproduces every swap from them
    events = store.read_events(key)
    assert [e.meta.key for e in events] == sorted(e.meta.key for e in events)
    report = replay(events, FEE)
    assert report.total == 40 and report.reproduced == 40, report.failures()
    assert "anchor" not in report.modes()  # the pool's Initialize is in the logs

    # a tick-map snapshot read from the node at ``mid`` equals the map folded from the logs,
    # and replaying only the logs after ``mid`` with it reproduces every later swap
    snap_file = tmp_path / "snapshot.json"
    r = runner.invoke(app, ["dex", "snapshot", "--pool", addr, "--rpc-url", anvil.url,
                            "--block", str(mid), "--out", str(snap_file)])  # fmt: skip
    assert r.exit_code == 0, r.output + str(r.exception)
    snap = json.loads(snap_file.read_text())
    before = [e for e in events if e.meta.block <= mid]
    folded_state = PoolState.from_events(before, FEE)
    folded = folded_state.ticks
    assert {int(t): (v["net"], v["gross"]) for t, v in snap["ticks"].items()} == {
        t: (folded.net[t], folded.gross[t]) for t in folded.initialized()
    }
    later = [e for e in events if e.meta.block > mid]
    snapshot = {int(t): (v["net"], v["gross"]) for t, v in snap["ticks"].items()}
    start = (snap["sqrt_price_x96"], snap["tick"], snap["liquidity"])
    assert start == (folded_state.sqrt_price_x96, folded_state.tick, folded_state.liquidity)
    with_snap = replay(later, FEE, snapshot=snapshot, start=start)
    assert with_snap.reproduced == with_snap.total == 15
    assert "anchor" not in with_snap.modes()
