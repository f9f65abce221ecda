"""The reference strategy on regime + order-flow features: the conformance suite, its signals
by value from the features it names, and ``grekko backtest``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from grekko_research.analysis.features import FEATURES, BvcParams, Sources, VolRegimeParams
from grekko_research.cli import app
from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.errors import ConfigError
from grekko_research.runs import load_run_bars
from grekko_research.strategy import check_strategy, register_strategy
from strategies.regime_flow import RegimeFlow, RegimeFlowParams


@pytest.fixture(autouse=True)
def registered() -> None:
    # The entry point (pyproject) registers it once installed; register it in this process too,
    # so the tests run from a checkout whose installed metadata predates it.
    register_strategy(RegimeFlow)


def test_regime_flow_conforms(research_store: Path) -> None:
    strategy = RegimeFlow()
    samples = [
        load_run_bars(
            compose_config(["strategy=regime_flow", *c.split()]),
            strategy,
            ParquetStore(research_store),
        )
        for c in ("data=btc_1h", "data=btc_1d", "data.timeframe=4h")
    ]
    report = check_strategy(strategy, samples, cuts=6, seed=1)
    assert report.ok, str(report)


def test_signals_follow_the_features(research_store: Path) -> None:
    strategy = RegimeFlow()
    p = strategy.params()
    bars = load_run_bars(compose_config(["data=btc_1h"]), strategy, ParquetStore(research_store))
    sig = strategy.signals(bars, p)
    flow = FEATURES["bvc_flow"].compute(bars, BvcParams(p.sigma_window, p.flow_window), Sources())
    pct = FEATURES["vol_regime"].compute(bars, VolRegimeParams(p.vol_window, p.lookback), Sources())
    np.testing.assert_array_equal(sig.entries, (pct <= p.max_vol_pct) & (flow > p.entry))
    np.testing.assert_array_equal(sig.exits, (flow < -p.exit) | (pct > p.max_vol_pct))
    assert sig.entries.sum() > 20 and sig.exits.sum() > 20
    # a turbulent bar never enters, whatever the flow
    assert not (sig.entries & (pct > p.max_vol_pct)).any()
    assert ((flow > p.entry) & (pct > p.max_vol_pct)).any(), "no turbulent buying: a vacuous check"


def test_params_refuse_an_exit_above_the_entry() -> None:
    with pytest.raises(ConfigError, match=r"exit .* must be below entry"):
        RegimeFlowParams(entry=0.2, exit=0.3)


def test_grekko_backtest_runs_it(research_store: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["backtest", "strategy=regime_flow", "data=btc_1h", "--output-dir", str(tmp_path)],
        env={"GREKKO_DATA_DIR": str(research_store)},
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    folder = Path(result.stdout.strip().splitlines()[-1])
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics  # the run folder is complete and has its metrics
    assert (folder / "trades.parquet").is_file()
