"""Parameter grids equal one backtest per row; result metrics equal the metrics module's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numba import njit

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Signals, Sizing, Slippage, Stops, backtest
from grekko_research.engine.costs import CostModel
from grekko_research.engine.grid import CURVE_METRICS, GRID_COLUMNS, run_grid
from grekko_research.errors import ConfigError
from grekko_research.metrics import performance_summary
from tests.peers.grid_kernels import sma_cross_kernel


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> Bars:
    frame = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz")
    return Bars.from_frame(frame, "BTC/USDT", "1h")


def signals_for(bars: Bars, fast: int, slow: int) -> Signals:
    n, k = bars.close.shape
    arrays = [np.zeros((n, k), dtype=bool) for _ in range(4)]
    sma_cross_kernel(
        bars.open,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        np.array([fast, slow], float),
        *arrays,
    )
    return Signals(*arrays)


@pytest.mark.parametrize(
    "config",
    [
        EngineConfig(stops=Stops(stop_loss=0.03, take_profit=0.06)),  # the lean kernel
        EngineConfig(slippage=Slippage("bps", 5.0), stops=Stops(trailing=0.05)),  # the general one
    ],
)
def test_grid_rows_equal_single_backtests(btc: Bars, config: EngineConfig) -> None:
    params = np.array([[5, 20], [10, 50], [20, 100], [30, 60]], dtype=float)
    table = run_grid(btc, sma_cross_kernel, params, config, param_names=["fast", "slow"])
    assert list(table.columns) == ["fast", "slow", *GRID_COLUMNS]
    for row in table.itertuples():
        single = backtest(btc, signals_for(btc, int(row.fast), int(row.slow)), config)
        assert row.final_equity == pytest.approx(single.final_equity, rel=1e-12)
        assert row.n_trades == single.n_trades
        assert row.sharpe_ratio == pytest.approx(single.metrics["sharpe_ratio"], rel=1e-12)
    assert table["n_trades"].nunique() > 1  # the parameters really change the runs


def test_result_metrics_match_the_metrics_module(btc: Bars) -> None:
    res = backtest(btc, signals_for(btc, 10, 30), EngineConfig())
    trades = res.trades[~res.trades["is_open"]]
    value = np.abs(res.positions * btc.close).sum(axis=1)
    filled = res.orders[res.orders["status"] == "filled"]
    traded = np.zeros(btc.n_bars)
    np.add.at(traded, filled["bar"].to_numpy(), (filled["size"] * filled["price"]).to_numpy())
    expected = performance_summary(
        res.equity,
        periods_per_year=8760,
        position_value=value,
        traded_notional=traded,
        pnl=trades["pnl"].to_numpy(),
        ret=trades["return"].to_numpy(),
        duration=(trades["exit_bar"] - trades["entry_bar"]).to_numpy(),
    )
    for name, value_expected in expected.items():
        assert res.metrics[name] == pytest.approx(value_expected, rel=1e-12, nan_ok=True), name
    assert res.metrics["trade_count"] == len(trades) > 50


@pytest.mark.parametrize("exit_bar", [100, None])
def test_exposure_counts_the_bars_holding_a_position(btc: Bars, exit_bar: int | None) -> None:
    entries = np.zeros(btc.n_bars, dtype=bool)
    entries[[5, 400]] = True
    exits = np.zeros(btc.n_bars, dtype=bool)
    if exit_bar is not None:
        exits[[exit_bar, 900]] = True  # flat at the end; otherwise still holding
    res = backtest(btc, Signals(entries, exits), EngineConfig())
    held = (res.positions != 0).any(axis=1)
    assert 0 < held.sum() < btc.n_bars
    assert res.metrics["exposure"] == held.sum() / btc.n_bars


def test_grid_without_the_curve_keeps_records_metrics(btc: Bars) -> None:
    params = np.array([[5, 20], [10, 50], [20, 100]], dtype=float)
    config = EngineConfig(stops=Stops(stop_loss=0.03))
    full = run_grid(btc, sma_cross_kernel, params, config, n_jobs=2)
    lean = run_grid(btc, sma_cross_kernel, params, config, metrics="trades", n_jobs=1)
    assert lean[list(CURVE_METRICS)].isna().all().all()
    kept = [c for c in full.columns if c not in CURVE_METRICS]
    pd.testing.assert_frame_equal(lean[kept], full[kept], rtol=1e-13)
    assert full[list(CURVE_METRICS)].notna().all().all()


@njit(cache=True, nogil=True)
def shorting_kernel(open_, high, low, close, volume, params, entries, exits, se, sx):
    se[int(params[0]), 0] = True


def test_grid_refuses_short_signals_without_allow_short(btc: Bars) -> None:
    with pytest.raises(ConfigError, match=r"row 0 \(\[3.0\]\) gave short signals"):
        run_grid(btc, shorting_kernel, [[3.0]])
    table = run_grid(btc, shorting_kernel, [[3.0]], EngineConfig(allow_short=True))
    assert table["n_trades"].iloc[0] == 1


def test_grid_warns_when_the_kernel_holds_the_gil(btc: Bars) -> None:
    with pytest.warns(RuntimeWarning, match="nogil"):
        run_grid(btc, holding_kernel, [[1.0]])


@njit(cache=True)
def holding_kernel(open_, high, low, close, volume, params, entries, exits, se, sx):
    entries[0, 0] = True


def test_grid_rejects_bad_tables(btc: Bars) -> None:
    with pytest.raises(ConfigError, match="non-empty"):
        run_grid(btc, sma_cross_kernel, np.zeros((0, 2)))
    with pytest.raises(ConfigError, match="param_names"):
        run_grid(btc, sma_cross_kernel, np.ones((2, 2)), param_names=["fast"])
    # A calibrated cost model would be ignored by the grid's rules: refused, not dropped.
    costs = EngineConfig(sizing=Sizing("percent", 1.0), costs=(CostModel(btc.symbols[0], a=5.0),))
    with pytest.raises(ConfigError, match="calibrated cost models"):
        run_grid(btc, sma_cross_kernel, np.ones((1, 2)), costs)
