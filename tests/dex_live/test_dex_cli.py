"""``grekko-live run/replay`` on a DEX, as a user runs it: paper on a pool's replayed state equals
``grekko backtest`` on the same configuration; a live DEX run needs its confirmation and fails
closed without its chain's settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from grekko_research.config import compose_config
from grekko_research.errors import ConfigError
from grekko_research.runs import run_backtest
from live.events import EventStore
from tests.dex_live.conftest import DexWorld
from tests.peers.replay_fills import backtest_fills, live_fills

ROOT = Path(__file__).resolve().parents[2]
POLYGON = (
    "uniswap/polygon-uniswapv3_USDC-WETH-0.05pct_0x45dda9cb_2022-07-19_2022-08-22"
    "_minute-poolstate__demeter.csv.gz"
)


def grekko_live(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The console script on this checkout's code."""
    full = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", "from live.cli import main; main()", *args],
        capture_output=True, text=True, env=full, cwd=ROOT, timeout=1200,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pool_store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Polygon USDC/WETH pool's per-minute state, imported as ``grekko data import`` does."""
    from grekko_research.dex.store import PoolStore, key_from_name, read_csv_rows

    root = tmp_path_factory.mktemp("pools")
    path = shared_data / POLYGON
    PoolStore(root).write_poolstate(key_from_name(path), read_csv_rows(path))
    return root


def _common(store: Path) -> list[str]:
    return [
        "data=polygon_weth_usdc_dex", "engine=dex", f"data.store={store}", "strategy=sma_cross",
        "strategy.params.fast=5", "strategy.params.slow=20", "data.start=2022-07-20",
        "data.end=2022-08-03", "engine.init_cash=250000",
    ]  # fmt: skip


@pytest.mark.parametrize("how", ["replay", "run --venue dex-paper"])
def test_paper_on_replayed_pool_state_equals_grekko_backtest(
    pool_store: Path, tmp_path: Path, how: str
) -> None:
    common = _common(pool_store)
    out = grekko_live(*how.split(), *common, "--state-dir", str(tmp_path), "--show", "none")
    assert out.returncode == 0, out.stderr
    log = out.stdout.strip().splitlines()[-1]
    with EventStore.open(log) as store:
        store.verify().raise_if_broken()
        events = list(store.read())
    backtest = run_backtest(compose_config(common))
    expected = backtest_fills(backtest)
    assert len(expected) >= 6
    assert live_fills(events) == expected
    last = [e.payload for e in events if e.kind == "bar_closed"][-1]
    assert last["equity"] == backtest.result.final_equity
    started = next(e.payload for e in events if e.kind == "run_started")
    assert started["venue"] == "dex-paper"  # the pool fills, not the bar model


def test_the_dex_paper_venue_needs_a_pool(tmp_path: Path) -> None:
    out = grekko_live("run", "--venue", "dex-paper", "strategy=sma_cross", "--state-dir",
                      str(tmp_path))  # fmt: skip
    assert out.returncode != 0
    assert "the DEX paper venue replays a pool" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_live_dex_run_needs_its_confirmation_and_its_chain(
    pool_store: Path, tmp_path: Path
) -> None:
    live = [*_common(pool_store), "risk=conservative", "--state-dir", str(tmp_path)]
    venue = ["--venue", "dex:uniswap_polygon", "--mode", "live"]
    unconfirmed = grekko_live("run", *venue, *live)
    assert unconfirmed.returncode != 0
    assert "--confirm-live dex:uniswap_polygon" in unconfirmed.stderr
    wrong = grekko_live("run", *venue, *live, "--confirm-live", "dex:uniswap_ethereum")
    assert wrong.returncode != 0 and "does not name the venue" in wrong.stderr
    # confirmed, but the chain's RPC is not configured: refused before anything is sent
    env = {"GREKKO_POLYGON_RPC_URL": "", "GREKKO_DEX_KEY": ""}
    confirmed = grekko_live("run", *venue, *live, "--confirm-live", "dex:uniswap_polygon", env=env)
    assert confirmed.returncode != 0
    assert "GREKKO_POLYGON_RPC_URL" in confirmed.stderr
    assert "Traceback" not in confirmed.stderr
    no_conf = grekko_live("run", "--venue", "dex:nowhere", "--mode", "live", *live,
                          "--confirm-live", "dex:nowhere")  # fmt: skip
    assert no_conf.returncode != 0 and "nowhere" in no_conf.stderr


def test_grekko_live_parity_checks_a_pool_configuration(pool_store: Path, tmp_path: Path) -> None:
    """The promotion gate's parity command, on a DEX data group: the paper venue is the pool's."""
    import json

    out = grekko_live("parity", *_common(pool_store), "--state-dir", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["passed"] is True and report["first_difference"] is None
    assert report["fills"] >= 6 and report["trades"] >= 3


def test_a_live_plan_builds_the_chain_venue_which_fails_closed_on_the_wrong_chain(
    dex_world: DexWorld, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``live.venue=dex:<name>``: the conf, the RPC (``live.venue_url``), the key from its
    environment variable, the nonce log beside the run; a node of another chain is refused at
    start, before anything is signed or the feed is opened."""
    import asyncio

    from live.app import plan_run
    from live.venues.dex import DexVenue
    from live.venues.dex_plan import make_dex_venue
    from tests.dex_live.conftest import HOT_KEY

    monkeypatch.setenv("GREKKO_TEST_DEX_KEY", HOT_KEY)
    base = [
        "strategy=sma_cross", "live=dex", "live.venue=dex:anvil_dex", "live.symbols=[A/B]",
        "data.symbol=A/B", f"live.venue_url={dex_world.anvil.url}", f"live.state_dir={tmp_path}",
        "risk=conservative",
    ]  # fmt: skip
    plan = plan_run(compose_config(base))
    dirs = (dex_world.conf_dir, dex_world.tokens_dir)
    venue = make_dex_venue(plan, conf_dirs=dirs)
    assert isinstance(venue, DexVenue)
    assert venue.signer.address == dex_world.signer.address
    assert venue.config.rpc_url == dex_world.anvil.url
    assert (Path(plan.state_dir) / "anvil_dex-nonces.sqlite").exists()
    # the same conf claiming another chain: refused at start
    (dex_world.conf_dir / "anvil_wrong.yaml").write_text(
        (dex_world.conf_dir / "anvil_dex.yaml").read_text()
        .replace("name: anvil_dex", "name: anvil_wrong").replace("chain_id: 31337", "chain_id: 137")
    )  # fmt: skip
    wrong = make_dex_venue(
        plan_run(compose_config([*base, "live.venue=dex:anvil_wrong"])),
        conf_dirs=dirs,
    )

    async def start() -> None:
        try:
            await wrong.start()
        finally:
            await wrong.close()

    with pytest.raises(Exception, match="node is chain 31337, config says 137"):
        asyncio.run(start())
    # a market the conf does not list
    other = compose_config([*base, "live.symbols=[X/B]", "data.symbol=X/B"])
    with pytest.raises(ConfigError, match="no market for \\['X/B'\\]"):
        make_dex_venue(plan_run(other), conf_dirs=dirs)
