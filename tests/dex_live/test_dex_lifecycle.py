"""The DEX venue's lifecycle and its limits from the one risk spec: the nonce log a plan's
venue opens is closed with the venue (no sqlite handle left open), and ``risk.dex`` reaches the
venue from the composed configuration (no second copy of the limits)."""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal
from pathlib import Path

import pytest

from grekko_research.config import compose_config
from grekko_research.errors import ConfigError
from grekko_research.risk.spec import DexRisk, RiskSpec
from live.events import EventStore, EventStoreError
from live.orders import FillReport, Rejected
from live.venues.base import OrderRequest
from live.venues.dex import DexVenue
from tests.dex_live.conftest import HOT_KEY, DexWorld


def _open_fds(path: Path) -> list[str]:
    """This process's file descriptors open on ``path`` (or its -wal/-shm files)."""
    fd_dir = Path("/proc/self/fd")
    out = []
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(fd_dir / fd)
        except OSError:
            continue
        if target.startswith(str(path)):
            out.append(target)
    return out


def _plan_overrides(dex_world: DexWorld, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "strategy=sma_cross", "live=dex", "live.venue=dex:anvil_dex", "live.symbols=[A/B]",
        "data.symbol=A/B", f"live.venue_url={dex_world.anvil.url}", f"live.state_dir={tmp_path}",
        "risk=conservative", *extra,
    ]  # fmt: skip


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to list handles")
def test_closing_a_planned_venue_closes_its_nonce_log(
    dex_world: DexWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from live.app import plan_run
    from live.venues.dex_plan import make_dex_venue

    monkeypatch.setenv("GREKKO_TEST_DEX_KEY", HOT_KEY)
    plan = plan_run(compose_config(_plan_overrides(dex_world, tmp_path)))
    venue = make_dex_venue(plan, conf_dirs=(dex_world.conf_dir, dex_world.tokens_dir))
    assert isinstance(venue, DexVenue)
    log = Path(plan.state_dir) / "anvil_dex-nonces.sqlite"

    # (not started: start would open the plan's feed, Binance's public one)
    assert _open_fds(log), "the venue holds its nonce log while open"
    asyncio.run(venue.close())
    assert _open_fds(log) == []
    with pytest.raises(EventStoreError, match="closed"):
        list(venue.store.read())
    # a store the caller opened stays the caller's
    with EventStore.open(tmp_path / "mine.sqlite") as mine:
        theirs = DexVenue(dex_world.config(), dex_world.signer, mine, clock=lambda: 0)
        asyncio.run(theirs.close())
        assert list(mine.read()) == []  # still open


def test_the_plan_hands_the_run_risk_spec_dex_part_to_the_venue(
    dex_world: DexWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from live.app import plan_run
    from live.venues.dex_plan import make_dex_venue

    monkeypatch.setenv("GREKKO_TEST_DEX_KEY", HOT_KEY)
    extra = ("risk.dex.slippage_bps=75", "risk.dex.max_price_impact=0.002",
             "risk.dex.max_pending_swaps=2")  # fmt: skip
    cfg = compose_config(_plan_overrides(dex_world, tmp_path, *extra))
    venue = make_dex_venue(plan_run(cfg), conf_dirs=(dex_world.conf_dir, dex_world.tokens_dir))
    assert isinstance(venue, DexVenue)
    try:
        assert venue.limits is venue.risk.dex
        assert venue.limits == DexRisk(0.002, 0.05, 75.0, 120, 2, None)
        assert venue.risk == cfg.risk.spec
    finally:
        asyncio.run(venue.close())


def test_our_own_pending_swaps_are_capped(dex: DexWorld, tmp_path: Path) -> None:
    """``risk.dex.max_pending_swaps``: while a swap of ours is not final (automine off), a
    second order is refused before anything is signed; once mined, trading goes on."""
    risk = RiskSpec(dex=DexRisk(max_pending_swaps=1))
    venue = DexVenue(dex.config(confirmations=1), dex.signer, tmp_path / "n.sqlite",
                     clock=lambda: 0, risk=risk, wait_s=0.5)  # fmt: skip

    async def go() -> tuple[list[object], list[object], list[object]]:
        await venue.start()
        try:
            dex.rpc("evm_setAutomine", False)
            first = await venue.submit(OrderRequest("p1", "A/B", "sell", Decimal(1)))
            second = await venue.submit(OrderRequest("p2", "A/B", "sell", Decimal(1)))
            dex.rpc("evm_mine")
            dex.rpc("evm_setAutomine", True)
            await venue.query("A/B", "p1")
            third = await venue.submit(OrderRequest("p3", "A/B", "sell", Decimal(1)))
            return first, second, third
        finally:
            await venue.close()

    first, second, third = asyncio.run(go())
    assert not any(isinstance(r, Rejected) for r in first), first
    assert isinstance(second[0], Rejected), second
    assert (
        "pending_swaps" in second[0].reason and "risk.dex.max_pending_swaps 1" in second[0].reason
    )
    assert isinstance(third[-1], FillReport), third


@pytest.mark.parametrize(
    ("key", "value", "words"),
    [
        ("max_price_impact", 0.0, "risk.dex.max_price_impact is a fraction in (0, 1)"),
        ("max_gas_to_notional", -1, "risk.dex.max_gas_to_notional must be a positive number"),
        ("slippage_bps", 6000, "risk.dex.slippage_bps must be in (0, 5000)"),
        ("deadline_s", 0, "risk.dex.deadline_s must be an integer of at least 1"),
        ("max_pending_swaps", 0, "risk.dex.max_pending_swaps must be an integer of at least 1"),
        ("pending_swap_impact", 2.0, "risk.dex.pending_swap_impact is a fraction in (0, 1)"),
    ],
)
def test_bad_dex_limits_are_named_at_composition(key: str, value: object, words: str) -> None:
    with pytest.raises(ConfigError) as err:
        compose_config([f"risk.dex.{key}={value}"])
    assert words in str(err.value)


def test_the_old_amm_key_still_sets_the_one_limit() -> None:
    """``data.amm.max_price_impact`` (the backtest's key before ``risk.dex``) loads for one
    release, warned, into the one limit; disagreeing with ``risk.dex`` it is refused."""
    from grekko_research.risk.spec import RiskConfigDeprecationWarning

    with pytest.warns(RiskConfigDeprecationWarning, match="use risk.dex.max_price_impact"):
        cfg = compose_config(["data.amm.max_price_impact=0.002"])
    assert cfg.risk.spec.dex.max_price_impact == 0.002
    assert cfg.data.amm.max_price_impact is None  # one copy
    with pytest.raises(ConfigError, match="contradict each other"):
        compose_config(["data.amm.max_price_impact=0.002", "risk.dex.max_price_impact=0.005"])


def test_the_kill_switch_counts_a_swap_in_flight(dex: DexWorld, tmp_path: Path) -> None:
    """The strategy's buy is mined but not final (2 confirmations, no later block: the fill is
    not reported, reconciliation reads the final block and agrees) when the kill switch
    flattens: a swap mined cannot be cancelled, so the flatten counts it as filled and sells
    it; once final the position is 0 and the chain's A balance is back. Before, the flatten
    saw position 0 and sent nothing (a sell in flight was sold twice the same way)."""
    import numpy as np

    from grekko_research.data.bars import Bars
    from grekko_research.engine import EngineConfig
    from grekko_research.engine.config import Fees, Sizing
    from grekko_research.strategy import get_strategy
    from live.runner import Runner, RunnerSpec
    from live.venues.paper import ReplayFeed

    shape = np.r_[np.linspace(2.2, 1.9, 8), np.linspace(1.9, 2.3, 8)]  # down, up: one buy
    n = len(shape)
    close = shape[:, None]
    bars = Bars(index=np.arange(n, dtype=np.int64) * 3_600_000 + 1_699_999_200_000,
                symbols=("A/B",), timeframe="1h", open=close, high=close * 1.001,
                low=close * 0.999, close=close, volume=np.ones((n, 1)))  # fmt: skip
    strategy = get_strategy("sma_cross")
    spec = RunnerSpec("dex-kill", strategy, strategy.params({"fast": 2, "slow": 5}),
                      EngineConfig(fees=Fees(taker=0.0), sizing=Sizing("units", 1.5)), ("A/B",),
                      "1h", kill_file=tmp_path / "KILL")  # fmt: skip
    w = dex.world
    start = w.balance("A", w["executor"].address)
    venue = DexVenue(dex.config(confirmations=2), dex.signer, tmp_path / "n.sqlite",
                     clock=lambda: 0, feed=ReplayFeed(bars), wait_s=1.0)  # fmt: skip

    async def go() -> dict[str, object]:
        with EventStore.open(tmp_path / "run.sqlite") as store:
            runner = Runner(spec, venue, store)
            await runner.run()
            out: dict[str, object] = {
                "halted": runner.halted,
                "in_flight": [(o.side, o.qty) for o in runner.om.open_orders()],
                "pos_before": runner.om.position("A/B"),
            }
            out["flattened"] = (await runner.kill("test", flatten=True))["flattened"]
            dex.rpc("evm_mine")  # the blocks that make the swaps final
            dex.rpc("evm_mine")
            await runner.resolve(wait=True)
            out["pos"] = runner.om.position("A/B")
            out["agree"] = await runner.reconcile()
            await venue.close()
            return out

    r = asyncio.run(go())
    assert r["halted"] is None, r  # the mined, not final buy did not trip reconciliation
    assert r["in_flight"] == [("buy", Decimal("1.5"))] and r["pos_before"] == 0, r
    assert len(r["flattened"]) == 1 and r["pos"] == 0 and r["agree"], r  # type: ignore[arg-type]
    assert abs(w.balance("A", w["executor"].address) - start) <= 100  # bought once, sold once
