"""Kelly sizing: the formula, its estimate from closed trades, the backtest and a live book."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Fees, Signals, Sizing, backtest
from grekko_research.engine.book import EngineBook, decision_row
from grekko_research.engine.layout import ORDER_FIELDS, TRADE_FIELDS
from grekko_research.errors import ConfigError
from grekko_research.risk import RiskLimits
from grekko_research.risk.sizing import (
    fixed_fraction_size_nb,
    kelly_entry_fraction_nb,
    kelly_estimate_nb,
    kelly_fraction_nb,
    kelly_stats_nb,
    vol_target_size_nb,
)
from tests.peers.frames import real_bars

FAST = settings(max_examples=80, deadline=None)
OF = {name: i for i, name in enumerate(ORDER_FIELDS)}
TF = {name: i for i, name in enumerate(TRADE_FIELDS)}


def kelly_by_hand(fraction: float, p: float, b: float, cap: float) -> float:
    if math.isinf(b):
        return min(fraction * p, cap)
    return min(max(fraction * (p * b - (1 - p)) / b, 0.0), cap)


def estimate_by_hand(returns: np.ndarray) -> tuple[float, float]:
    wins = returns[returns > 0]
    losses = -returns[returns <= 0]
    p = len(wins) / len(returns)
    if len(wins) == 0:
        return p, 0.0
    if len(losses) == 0 or losses.sum() == 0:
        return p, math.inf
    return p, float(wins.mean() / losses.mean())


@FAST
@given(
    fraction=st.floats(0.05, 1.0),
    p=st.floats(0.0, 1.0),
    b=st.floats(0.05, 20.0),
    cap=st.floats(0.05, 2.0),
)
def test_kelly_fraction_is_the_formula_clipped(
    fraction: float, p: float, b: float, cap: float
) -> None:
    f = kelly_fraction_nb(fraction, p, b, cap)
    assert f == kelly_by_hand(fraction, p, b, cap)
    assert 0.0 <= f <= cap


def test_kelly_fraction_edge_cases() -> None:
    assert kelly_fraction_nb(0.5, 0.6, 1.0, 1.0) == pytest.approx(0.5 * 0.2)
    assert kelly_fraction_nb(0.5, 0.3, 1.0, 1.0) == 0.0  # no edge: no bet
    assert kelly_fraction_nb(0.5, 0.8, math.inf, 1.0) == pytest.approx(0.4)
    assert kelly_fraction_nb(0.5, math.nan, 1.0, 1.0) == 0.0
    assert kelly_fraction_nb(1.0, 0.9, 10.0, 0.25) == 0.25


@FAST
@given(returns=st.lists(st.floats(-0.5, 0.5), min_size=1, max_size=60))
def test_estimate_from_trade_returns(returns: list[float]) -> None:
    r = np.asarray(returns)
    stats = kelly_stats_nb(r)
    p, b = kelly_estimate_nb(*stats)
    p2, b2 = estimate_by_hand(r)
    assert p == pytest.approx(p2, rel=1e-12)
    assert b == pytest.approx(b2, rel=1e-9)


def test_warmup_then_estimate() -> None:
    stats = kelly_stats_nb(np.array([0.1, -0.05, 0.1]))
    assert kelly_entry_fraction_nb(0.5, math.nan, math.nan, 1.0, 4, 0.07, stats) == 0.07
    f = kelly_entry_fraction_nb(0.5, math.nan, math.nan, 1.0, 3, 0.07, stats)
    assert f == pytest.approx(kelly_by_hand(0.5, 2 / 3, 0.1 / 0.05, 1.0))
    given = kelly_entry_fraction_nb(0.5, 0.6, 1.5, 1.0, 3, 0.07, stats)
    assert given == kelly_by_hand(0.5, 0.6, 1.5, 1.0)


def test_shared_fixed_fraction_and_vol_target() -> None:
    assert fixed_fraction_size_nb(0.25, 10_000.0, 200.0) == 0.25 * 10_000.0 / 200.0
    assert vol_target_size_nb(0.2, 0.8, 10_000.0, 100.0) == (0.2 / 0.8) * 10_000.0 / 100.0
    assert vol_target_size_nb(0.2, math.nan, 10_000.0, 100.0) == 0.0


# -- in the backtest ------------------------------------------------------------------------


def _synthetic(n: int = 900, seed: int = 11) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0015, 0.01, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    return Bars(
        index=1_600_000_000_000 + 3_600_000 * np.arange(n, dtype=np.int64),
        symbols=("X/USDT",),
        timeframe="1h",
        open=open_[:, None],
        high=np.maximum(open_, close)[:, None] * 1.002,
        low=np.minimum(open_, close)[:, None] * 0.998,
        close=close[:, None],
        volume=np.ones((n, 1)),
    )


def _cycle(n: int, every: int = 8, hold: int = 4) -> tuple[np.ndarray, np.ndarray]:
    entries = np.zeros((n, 1), bool)
    exits = np.zeros((n, 1), bool)
    entries[::every] = True
    exits[hold::every] = True
    return entries, exits


def _entry_orders(result) -> np.ndarray:
    o = result.order_records
    return o[(o[:, OF["status"]] == 0) & (o[:, OF["side"]] > 0)]


def test_backtest_with_given_win_rate_and_payoff_sizes_by_the_formula() -> None:
    bars = _synthetic()
    entries, exits = _cycle(bars.n_bars)
    sizing = Sizing(kind="kelly", value=0.5, kelly_win_rate=0.55, kelly_payoff=1.4)
    result = backtest(bars, Signals(entries, exits), EngineConfig(sizing=sizing))
    f = 0.5 * (0.55 * 1.4 - 0.45) / 1.4
    cash = 10_000.0
    trades = result.trade_records
    buys = _entry_orders(result)
    assert len(buys) > 50
    for i, row in enumerate(buys):
        if i:
            cash += trades[i - 1, TF["pnl"]]  # flat before every entry: equity = cash
        expected = f * cash / row[OF["price"]]
        assert row[OF["size"]] == pytest.approx(expected, rel=1e-9)


def test_backtest_estimates_kelly_from_its_closed_trades() -> None:
    bars = _synthetic()
    n = bars.n_bars
    entries, exits = _cycle(n)
    sizing = Sizing(kind="kelly", value=0.5, kelly_min_trades=10, kelly_warmup=0.2, kelly_cap=0.8)
    result = backtest(bars, Signals(entries, exits), EngineConfig(sizing=sizing))
    trades = result.trade_records
    closed = trades[trades[:, TF["is_open"]] == 0]
    buys = {int(r[OF["bar"]]): r for r in _entry_orders(result)}
    estimated = 0
    for r in np.flatnonzero(entries[:-1, 0]):
        t = r + 1  # decided at r's close, executed at t's open
        before = closed[closed[:, TF["exit_bar"]] < t]
        if len(before) < 10:
            f = 0.2
        else:
            p, b = estimate_by_hand(before[:, TF["return"]])
            f = kelly_by_hand(0.5, p, b, 0.8)
            estimated += f > 0
        cash = 10_000.0 + before[:, TF["pnl"]].sum()
        if f == 0:
            assert t not in buys
            continue
        assert buys[t][OF["size"]] == pytest.approx(f * cash / bars.open[t, 0], rel=1e-9)
    assert estimated >= 40
    assert len({round(float(b[OF["size"]] * b[OF["price"]]), 6) for b in buys.values()}) > 40


def test_kelly_size_is_capped_by_the_risk_limits() -> None:
    bars = _synthetic(200)
    entries, exits = _cycle(bars.n_bars)
    sizing = Sizing(kind="kelly", value=1.0, kelly_win_rate=0.9, kelly_payoff=2.0)  # f = 0.85
    config = EngineConfig(sizing=sizing, risk=RiskLimits(max_position=0.3), fees=Fees(taker=0))
    first = _entry_orders(backtest(bars, Signals(entries, exits), config))[0]
    assert first[OF["size"]] * first[OF["price"]] == pytest.approx(0.3 * 10_000.0, rel=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"kelly_win_rate": 0.6}, "given together"),
        ({"kelly_win_rate": 1.5, "kelly_payoff": 1.0}, "kelly_win_rate"),
        ({"kelly_win_rate": 0.5, "kelly_payoff": 0.0}, "kelly_payoff"),
        ({"kelly_min_trades": 0}, "kelly_min_trades"),
        ({"kelly_cap": 0.0}, "kelly_cap"),
        ({"value": 0.0}, "Kelly fraction"),
    ],
)
def test_invalid_kelly_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Sizing(kind="kelly", **{"value": 0.5, **kwargs})


# -- a live book sizes like the backtest ------------------------------------------------------


@pytest.mark.parametrize(
    "sizing",
    [
        Sizing(kind="kelly", value=0.5, kelly_win_rate=0.55, kelly_payoff=1.3),
        Sizing(kind="kelly", value=1.0, kelly_min_trades=5, kelly_warmup=0.3),
    ],
    ids=["given", "estimated"],
)
def test_live_book_sizes_kelly_like_the_backtest(shared_data: Path, sizing: Sizing) -> None:
    bars = real_bars(shared_data, ["BTC-USDT"], 1500)
    entries, exits = _cycle(bars.n_bars, every=48, hold=24)
    config = EngineConfig(sizing=sizing)
    result = backtest(bars, Signals(entries, exits), config)
    book = EngineBook(config, bars.symbols, int(bars.index[0]))
    fills = []
    for t in range(bars.n_bars):
        book.start_bar(int(bars.index[t]))
        if t > 0:
            row = decision_row(bars[t - 1 : t], Signals(entries[t - 1 : t], exits[t - 1 : t]))
            for po in book.plan(row, bars.open[t], high=bars.high[t], low=bars.low[t]):
                if po.status == "filled":
                    book.fill(po.asset, po.size, po.price, kind=po.kind)
                    fills.append((t, po.size, po.price))
        book.close_bar(bars.high[t], bars.low[t], bars.close[t], bars.filled[t])
    o = result.order_records
    o = o[o[:, OF["status"]] == 0]
    expected = [(int(r[OF["bar"]]), r[OF["side"]] * r[OF["size"]], r[OF["price"]]) for r in o]
    assert len(expected) >= 60
    assert fills == expected
    assert book.equity == result.final_equity
    if sizing.kelly_win_rate is None:  # the estimate, not the warm-up, sized most entries
        warmup_only = Sizing(kind="kelly", value=1.0, kelly_min_trades=10**6, kelly_warmup=0.3)
        other = backtest(bars, Signals(entries, exits), EngineConfig(sizing=warmup_only))
        assert other.final_equity != result.final_equity
    notionals = {round(abs(s) * p, 2) for _, s, p in fills if s > 0}
    assert len(notionals) > 20  # the sizes really vary with equity (and the estimate)
