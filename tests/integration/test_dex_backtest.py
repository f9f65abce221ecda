"""``grekko backtest`` on a DEX pool: the Polygon per-minute pool state, imported, then backtested
with fills at the pool's quote (conf/data/polygon_weth_usdc_dex.yaml, conf/engine/dex.yaml)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
POLYGON = (
    "uniswap/polygon-uniswapv3_USDC-WETH-0.05pct_0x45dda9cb_2022-07-19_2022-08-22"
    "_minute-poolstate__demeter.csv.gz"
)


def grekko(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, on this checkout's code."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "grekko_research.cli", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=1200,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _exact_sale_price(liquidity: float, ref: float, size: float, gas: float) -> float:
    """USDC per WETH of selling ``size`` WETH at ``ref`` through the pool row's liquidity, by
    the exact integer swap (a pool-state file's pool: in-range liquidity, no tick map)."""
    from grekko_research.dex.pool import PoolState
    from grekko_research.dex.v3.tick_math import tick_at_sqrt_ratio

    sqrt_x96 = int(math.sqrt(10**12 / ref) * 2**96)
    state = PoolState.for_fee(500, sqrt_price_x96=sqrt_x96, tick=tick_at_sqrt_ratio(sqrt_x96),
                              liquidity=int(liquidity))  # fmt: skip
    out = state.quote(int(size * 10**18), False).amount_out
    return (out / 10**6 - gas) / size


@pytest.mark.slow
def test_backtest_a_pool_from_its_stored_pool_state(
    shared_data: Path, store_dir: Path, tmp_path: Path
) -> None:
    from grekko_research.dex.series import poolstate_bars
    from grekko_research.dex.store import PoolStore

    imported = grekko("data", "import", str(shared_data / POLYGON), "--data-dir", str(store_dir))
    assert imported.returncode == 0, imported.stderr
    common = [
        "data=polygon_weth_usdc_dex", "engine=dex", f"data.store={store_dir}",
        "strategy=sma_cross", "experiment.tearsheet=false", "experiment.track=false",
    ]  # fmt: skip
    out = ["--output-dir", str(tmp_path / "runs"), "--json"]
    run = grekko("backtest", *common, *out)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["symbols"] == ["WETH/USDC"] and doc["timeframe"] == "1h"
    assert doc["start"].startswith("2022-07-19") and doc["end"].startswith("2022-08-22")
    assert doc["n_trades"] > 5
    trades = pd.read_parquet(Path(run.stderr.strip().splitlines()[-1]) / "trades.parquet")
    # every exit is a sale through the pool: the exact quote for its size at that bar's open
    store = PoolStore(store_dir)
    frame = store.read_poolstate(store.find("polygon:0x45dda9cb"))
    bars, series = poolstate_bars(frame, "WETH/USDC", decimals0=6, decimals1=18, fee_pips=500,
                                  timeframe="1h")  # fmt: skip
    closed = trades[trades["exit_bar"] >= 0]
    assert len(closed) > 5
    for _, tr in closed.iterrows():
        t = int(tr["exit_bar"])
        ref = float(bars.open[t, 0])
        want = _exact_sale_price(series.rows[t, 0], ref, float(tr["size"]), 0.01)
        assert tr["exit_price"] == pytest.approx(want, rel=1e-9)
        assert tr["exit_price"] < ref  # impact, LP fee and gas: below the pool's price
    # a tighter price-impact limit on a large account shrinks the entries
    big = grekko("backtest", *common, "engine.init_cash=20000000",
                 "risk.dex.max_price_impact=0.002", *out)  # fmt: skip
    assert big.returncode == 0, big.stderr
    big_trades = pd.read_parquet(Path(big.stderr.strip().splitlines()[-1]) / "trades.parquet")
    entry_value = big_trades["size"] * big_trades["entry_price"]
    assert (entry_value < 0.5 * 20_000_000).all()  # far less than the equity went in
    # a bad pool is one clear error
    bad = grekko("backtest", *common, "data.pool=polygon:0xdeadbeef", *out)
    assert bad.returncode != 0 and "no stored pool matches" in bad.stderr
