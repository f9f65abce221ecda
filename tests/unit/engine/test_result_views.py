"""What a notebook shows of a BacktestResult: a short repr, ``stats()`` and ``plot()``, each
checked against values computed here from the result's own records and real candles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from grekko_research.engine import (
    BacktestResult,
    EngineConfig,
    Fees,
    Signals,
    TargetPositions,
    backtest,
)
from grekko_research.indicators import sma
from tests.peers.frames import real_bars

N = 2_000


@pytest.fixture(scope="module")
def btc_result(shared_data: Path) -> BacktestResult:
    bars = real_bars(shared_data, ["BTC-USDT"], N)
    fast, slow = sma(bars.close[:, 0], 12), sma(bars.close[:, 0], 48)
    above = np.nan_to_num(fast - slow) > 0
    cross_up = above & ~np.roll(above, 1)
    cross_down = ~above & np.roll(above, 1)
    cross_up[0] = cross_down[0] = False
    config = EngineConfig(fees=Fees(taker=0.001))
    return backtest(bars, Signals(entries=cross_up, exits=cross_down), config)


@pytest.fixture(scope="module")
def pair_result(shared_data: Path) -> BacktestResult:
    bars = real_bars(shared_data, ["BTC-USDT", "ETH-USDT"], N)
    target = np.full((N, 2), np.nan)
    target[::168] = [0.5, 0.5]  # weekly rebalance to half and half
    return backtest(bars, TargetPositions(target), EngineConfig(fees=Fees(taker=0.001)))


def test_repr_is_a_few_readable_lines(btc_result: BacktestResult) -> None:
    text = repr(btc_result)
    lines = text.splitlines()
    assert 3 <= len(lines) <= 6 and all(len(line) <= 100 for line in lines)
    assert lines[0].startswith("<BacktestResult BTC/USDT 1h")
    assert "2020-12-01 00:00 →" in text and f"{N:,} bars" in text
    assert f"{btc_result.n_trades:,} trades" in text
    assert f"{btc_result.final_equity:,.2f} USDT" in text
    assert f"({btc_result.final_equity / 10_000 - 1:+.2%})" in text
    assert f"Sharpe {btc_result.metrics['sharpe_ratio']:.2f}" in text
    assert f"max drawdown {btc_result.metrics['max_drawdown']:.2%}" in text
    assert "array" not in text and "0x" not in text


def test_repr_of_many_symbols_stays_short(pair_result: BacktestResult) -> None:
    text = repr(pair_result)
    assert text.startswith("<BacktestResult BTC/USDT, ETH/USDT 1h")
    assert len(text.splitlines()) <= 6


def test_stats_agree_with_the_records(btc_result: BacktestResult) -> None:
    stats = btc_result.stats()
    assert isinstance(stats, pd.Series)
    bars = btc_result.bars
    start = pd.Timestamp(int(bars.index[0]), unit="ms", tz="UTC")
    assert stats["Start"] == start
    assert stats["End"] == pd.Timestamp(int(bars.index[-1]) + 3_600_000, unit="ms", tz="UTC")
    assert stats["Period"] == stats["End"] - start  # wall time: the data has gaps
    assert stats["Period"] > pd.Timedelta(hours=N)
    assert stats["Bars"] == N and stats["Symbols"] == "BTC/USDT"
    assert stats["Start Value"] == 10_000.0
    assert stats["End Value"] == pytest.approx(btc_result.equity[-1], rel=1e-12)
    assert stats["Total Return [%]"] == pytest.approx((btc_result.equity[-1] / 1e4 - 1) * 100)
    close = bars.close[:, 0]
    assert stats["Benchmark Return [%]"] == pytest.approx((close[-1] / close[0] - 1) * 100)
    equity = btc_result.equity
    deepest = np.min(equity / np.maximum.accumulate(equity) - 1.0)
    assert stats["Max Drawdown [%]"] == pytest.approx(deepest * 100, rel=1e-9)
    trades = btc_result.trades
    assert stats["Total Trades"] == len(trades) > 5
    closed = trades[~trades["is_open"]]
    assert stats["Win Rate [%]"] == pytest.approx((closed["pnl"] > 0).mean() * 100)
    assert stats["Best Trade [%]"] == pytest.approx(closed["return"].max() * 100)
    assert stats["Worst Trade [%]"] == pytest.approx(closed["return"].min() * 100)
    wins, losses = closed["pnl"][closed["pnl"] > 0].sum(), -closed["pnl"][closed["pnl"] < 0].sum()
    assert stats["Profit Factor"] == pytest.approx(wins / losses)
    orders = btc_result.orders
    assert (
        stats["Total Fees Paid"] == pytest.approx(orders["fee"].sum())
        and stats["Total Fees Paid"] > 0
    )
    assert stats["Orders Filled"] == int((orders["status"] == "filled").sum())
    assert stats["Sharpe Ratio"] == btc_result.metrics["sharpe_ratio"]
    assert stats["Sortino Ratio"] == btc_result.metrics["sortino_ratio"]
    assert stats["Calmar Ratio"] == btc_result.metrics["calmar_ratio"]
    assert isinstance(stats["Avg Trade Duration"], pd.Timedelta)
    assert isinstance(stats["Max Drawdown Duration"], pd.Timedelta)


def test_stats_of_two_runs_line_up(btc_result: BacktestResult, pair_result: BacktestResult) -> None:
    table = pd.concat([btc_result.stats(), pair_result.stats()], axis=1, keys=["btc", "pair"])
    assert table.shape == (len(btc_result.stats()), 2)
    assert table.loc["Symbols", "pair"] == "BTC/USDT, ETH/USDT"
    close = pair_result.bars.close
    hold = 0.5 * (close[-1, 0] / close[0, 0]) + 0.5 * (close[-1, 1] / close[0, 1]) - 1
    assert table.loc["Benchmark Return [%]", "pair"] == pytest.approx(hold * 100)


def test_plot_is_the_tearsheet_figure(btc_result: BacktestResult) -> None:
    fig = btc_result.plot()
    assert isinstance(fig, go.Figure)
    names = [trace.name for trace in fig.data]
    assert "strategy" in names and "buy & hold BTC/USDT" in names and "drawdown" in names
    assert "long entry" in names  # one symbol: the price panel with the trades
    strategy = next(t for t in fig.data if t.name == "strategy")
    assert strategy.y[-1] == pytest.approx(btc_result.final_equity)
    assert {fig.layout.annotations[i].text for i in range(3)} == {
        "Equity vs buy-and-hold",
        "Drawdown (underwater)",
        "Price and trades",
    }
    assert "BTC/USDT 1h" in fig.layout.title.text
    assert fig.to_plotly_json()["data"]  # serialisable: what Jupyter renders inline


def test_plot_of_several_symbols_leaves_out_the_price_panel(pair_result: BacktestResult) -> None:
    fig = pair_result.plot(title="pair")
    assert fig.layout.title.text == "pair"
    assert len(fig.layout.annotations) == 2
    assert "long entry" not in [t.name for t in fig.data]


def test_a_run_without_trades_reads_as_such(shared_data: Path) -> None:
    bars = real_bars(shared_data, ["BTC-USDT"], N)
    none = np.zeros((N, 1), dtype=bool)
    result = backtest(bars, Signals(entries=none, exits=none), EngineConfig())
    text = repr(result)
    assert "0 trades;" in text and "(+0.00%)" in text and "Sharpe n/a" in text
    assert "win rate n/a" in text and "nan" not in text
    stats = result.stats()
    assert stats["Total Trades"] == 0 and stats["End Value"] == 10_000.0
    assert np.isnan(stats["Win Rate [%]"])
    assert isinstance(result.plot(), go.Figure)
