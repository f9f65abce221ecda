"""The calibrated fill model (FILL_CALIBRATED): its prices follow the fitted formula with the
features as of the bar before the fill, its limit fills the expected share, and what it cannot
price is refused by name."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Orders, Signals, Sizing, Slippage, backtest
from grekko_research.engine.costs import CostModel
from grekko_research.errors import ConfigError

HOUR = 3_600_000
N = 40


def bars() -> Bars:
    rng = np.random.default_rng(7)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, N)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    volume = rng.uniform(50.0, 500.0, N)
    col = lambda a: a[:, None]  # noqa: E731
    return Bars(
        index=1_700_000_000_000 - 1_700_000_000_000 % HOUR + HOUR * np.arange(N),
        symbols=("S0/USDT",), timeframe="1h", open=col(open_), high=col(high), low=col(low),
        close=col(close), volume=col(volume), filled=np.zeros((N, 1), dtype=bool),
    )  # fmt: skip


def _sigma_bps(close: np.ndarray, t: int, window: int) -> float:
    """The volatility the model reads, computed here independently with numpy."""
    r = np.diff(np.log(close[max(t - window, 0) : t + 1]))
    return float(np.std(r, ddof=1) * 1e4) if len(r) >= 2 else 0.0


MODEL = CostModel("S0/USDT", venue="sim", a=2.0, b=40.0, c=0.5, vol_window=10, max_bps=60.0)
CONFIG = EngineConfig(sizing=Sizing("units", 1.0), fees=dataclasses.replace(EngineConfig().fees))


def test_market_fills_pay_the_fitted_cost_with_the_decision_bars_features() -> None:
    b = bars()
    kind = np.full((N, 1), "", dtype=object)
    size = np.zeros((N, 1))
    decided = {12: 20.0, 20: -20.0, 30: 5.0, 35: -5.0}
    for t, q in decided.items():
        kind[t, 0], size[t, 0] = "market", q
    result = backtest(b, Orders(kind, size), dataclasses.replace(CONFIG, costs=(MODEL,)))
    assert result.kernel == "general"
    o = result.orders
    assert list(o.bar) == [t + 1 for t in decided]
    close, vol, opens = b.close[:, 0], b.volume[:, 0], b.open[:, 0]
    for (t, q), price in zip(decided.items(), o.price, strict=True):
        bps = MODEL.slippage_bps(abs(q) / vol[t], _sigma_bps(close, t, MODEL.vol_window))
        assert 2.0 < bps < 60.0  # every term at work, under the cap
        assert price == pytest.approx(opens[t + 1] * (1 + math.copysign(bps, q) * 1e-4), rel=1e-12)


def test_a_constant_model_is_the_fixed_bps_slippage() -> None:
    b = bars()
    up = np.zeros((N, 1), dtype=bool)
    down = up.copy()
    up[[5, 20], 0] = True
    down[[12, 30], 0] = True
    flat = CostModel("S0/USDT", a=7.0)
    calibrated = backtest(b, Signals(up, down), dataclasses.replace(CONFIG, costs=(flat,)))
    fixed = backtest(
        b, Signals(up, down), dataclasses.replace(CONFIG, slippage=Slippage("bps", 7.0))
    )
    assert np.array_equal(calibrated.order_records, fixed.order_records)
    assert calibrated.final_equity == fixed.final_equity


def test_a_resting_limit_fills_its_expected_share() -> None:
    b = bars()
    kind = np.full((N, 1), "", dtype=object)
    size = np.zeros((N, 1))
    price = np.full((N, 1), np.nan)
    t = 15
    limit = float(b.close[t, 0]) * 0.999
    assert b.low[t + 1, 0] < limit < b.open[t + 1, 0]  # rests at the open, filled inside the bar
    kind[t, 0], size[t, 0], price[t, 0] = "limit", 10.0, limit
    model = dataclasses.replace(MODEL, fill_a=-1.0, fill_b=0.005)
    result = backtest(b, Orders(kind, size, price), dataclasses.replace(CONFIG, costs=(model,)))
    (row,) = result.orders.itertuples()
    through = (limit - b.low[t + 1, 0]) / limit * 1e4
    p = model.fill_probability(through)
    assert 0.05 < p < 0.95
    assert row.price == limit and row.size == pytest.approx(10.0 * p, rel=1e-12)


def test_what_the_model_cannot_price_is_refused() -> None:
    b = bars()
    up = np.zeros((N, 1), dtype=bool)
    with pytest.raises(ConfigError, match="sizing 'all'"):
        EngineConfig(costs=(MODEL,))
    with pytest.raises(ConfigError, match="two models"):
        dataclasses.replace(CONFIG, costs=(MODEL, MODEL))
    other = dataclasses.replace(CONFIG, costs=(CostModel("ETH/USDT"),))
    with pytest.raises(ConfigError, match="ETH/USDT"):
        backtest(b, Signals(up, up), other)
    with pytest.raises(ConfigError, match="calibrated cost model"):
        backtest(b, Signals(up, up), dataclasses.replace(CONFIG, costs=(MODEL,)), kernel="lean")
    for bad in ({"a": -1.0}, {"b": math.nan}, {"vol_window": 1}, {"fill_a": -math.inf}):
        with pytest.raises(ConfigError, match="CostModel"):
            dataclasses.replace(MODEL, **bad)


def test_a_model_survives_its_json_and_a_wrong_document_is_named() -> None:
    model = dataclasses.replace(MODEL, r2=0.5, n_orders=9, source="fills")
    assert CostModel.from_dict(model.to_dict()) == model
    assert CostModel.from_dict(MODEL.to_dict()).fill_a == math.inf
    with pytest.raises(ConfigError, match="run 7: unknown keys"):
        CostModel.from_dict({**model.to_dict(), "d": 1.0}, where="run 7")
    with pytest.raises(ConfigError, match="format"):
        CostModel.from_dict({**model.to_dict(), "format": "other"})


def test_a_live_book_sees_the_features_the_backtest_gives_each_bar() -> None:
    """cost_features of the bars before t (what a live decision after bar t - 1 reads), and an
    EngineBook that closed them (seeded with the first, closing the rest), give the backtest's
    row of bar t (calibrated_bar_features_nb, the row with_cost_models writes)."""
    from grekko_research.engine import layout as L
    from grekko_research.engine._fills import calibrated_bar_features_nb
    from grekko_research.engine.book import EngineBook
    from grekko_research.engine.costs import cost_features

    rng = np.random.default_rng(7)
    n, symbols = 40, ("BTC/USDT", "ETH/USDT")
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, 2)), axis=0))
    volume = rng.uniform(1, 10, (n, 2))
    model = CostModel("ETH/USDT", a=1.0, b=20.0, c=0.3, vol_window=6)
    config = EngineConfig(sizing=Sizing("percent", 1.0), costs=(model,))
    pool = np.zeros((n, 2, L.N_CAL_BAR))
    calibrated_bar_features_nb(close, volume, 1, 6, pool)
    for t in (1, 2, 5, 7, 8, 20, n - 1):
        got = cost_features(config, symbols, close[:t], volume[:t])[0]
        np.testing.assert_array_equal(got[1], pool[t, 1])
        assert not got[0].any()  # no model for BTC/USDT
        book = EngineBook(config, symbols, 0)
        book.seed_closes(close[: t // 2], volume[: t // 2])
        for u in range(t // 2, t):
            book.close_bar(close[u], close[u], close[u], np.zeros(2, bool), volume[u])
        one = np.ones(2)
        market = book._costed(book_market(one), None)
        np.testing.assert_array_equal(market.pool[0, 1], pool[t, 1])


def book_market(price: np.ndarray) -> Any:
    from grekko_research.engine.book import _one_bar

    return _one_bar(price, price, price, price, np.zeros(len(price), bool))
