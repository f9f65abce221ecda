"""Fitting cost models (grekko_research.costs): the slippage fit recovers known coefficients and
never returns a rebate, the fill probability its direction, the L2 cold start a square-root
impact from the shared captures; bad rows are refused by name; the config points at a fit."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grekko_research.costs import (
    bar_features,
    book_walk_rows,
    fit_cost_models,
    fit_fill_probability,
    fit_slippage,
)
from grekko_research.errors import ConfigError, DataError


def rows(a: float, b: float, c: float, n: int = 200, noise: float = 0.5) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    share = rng.uniform(0.0, 0.05, n)
    sigma = rng.uniform(10.0, 80.0, n)
    slip = a + b * np.sqrt(share) + c * sigma + rng.normal(0, noise, n)
    return pd.DataFrame({"venue": "sim", "symbol": "BTC/USDT", "order_type": "market",
                         "slip_bps": slip, "share": share, "sigma_bps": sigma})  # fmt: skip


def test_the_slippage_fit_recovers_known_costs() -> None:
    a, b, c, r2, n = fit_slippage(rows(1.5, 30.0, 0.05))
    assert (a, b, c) == pytest.approx((1.5, 30.0, 0.05), rel=0.1, abs=0.01)
    assert r2 > 0.9 and n == 200
    # A market that pays less with volatility: the fit keeps c at 0 (a cost, never a rebate).
    a, b, c, *_ = fit_slippage(rows(3.0, 20.0, -0.05, noise=0.1))
    assert c == 0.0 and b > 0
    (model,) = fit_cost_models(rows(1.5, 30.0, 0.05), source="test")
    assert model.slippage_bps(0.01, 40.0) == pytest.approx(1.5 + 3.0 + 2.0, abs=0.3)
    assert model.fill_a == math.inf and model.source == "test"


def test_bad_rows_are_refused_by_name() -> None:
    with pytest.raises(DataError, match=r"lack columns \['sigma_bps'\]"):
        fit_slippage(rows(1, 1, 1).drop(columns="sigma_bps"))
    few = rows(1, 1, 1).head(5).assign(share=[np.nan, np.nan, np.nan, 0.1, 0.2])
    with pytest.raises(DataError, match="2 usable market orders"):
        fit_slippage(few)
    two = pd.concat([rows(1, 1, 1), rows(1, 1, 1).head(2).assign(symbol="ETH/USDT")])
    with pytest.raises(DataError, match="sim ETH/USDT"):
        fit_cost_models(two)


def test_the_fill_probability_grows_with_how_far_the_bar_traded_through() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 40, 400)
    filled = rng.uniform(size=400) < 1 / (1 + np.exp(-(-2.0 + 0.15 * x)))
    fa, fb, n = fit_fill_probability(pd.DataFrame({"through_bps": x, "filled": filled}))
    assert n == 400 and fa == pytest.approx(-2.0, abs=0.6) and fb == pytest.approx(0.15, abs=0.06)
    all_filled = pd.DataFrame({"through_bps": x, "filled": True})
    assert fit_fill_probability(all_filled)[:2] == (math.inf, 0.0)


def test_bar_features_read_the_decision_bar() -> None:
    ts = np.arange(6) * 1000
    close = np.array([100.0, 101.0, 100.0, 102.0, 101.0, 103.0])
    volume = np.array([10.0, 20.0, 0.0, 40.0, 50.0, 60.0])
    share, sigma = bar_features([3000, 2000, 9999], [8.0, 1.0, 1.0], ts, close, volume, 3)
    assert share[0] == pytest.approx(0.2) and share[1] == 1.0  # no volume: a share of 1
    r = np.diff(np.log(close[0:4]))
    assert sigma[0] == pytest.approx(np.std(r, ddof=1) * 1e4)
    assert math.isnan(share[2]) and math.isnan(sigma[2])  # not a bar of the log


def test_a_cold_start_from_the_shared_l2_capture(shared_data: Path) -> None:
    name = "binance-spot_BTC-USDT_20240808T2354Z-20240809T0005Z__hftbacktest"
    r = book_walk_rows(shared_data / f"orderbook/{name}_depth_snapshot.csv",
                       shared_data / f"trades/{name}_trades.csv",
                       symbol="BTC/USDT", venue="binance", timeframe="1h")  # fmt: skip
    buys = r[r.side == "buy"]
    assert len(buys) >= 5 and buys.slip_bps.is_monotonic_increasing  # deeper: dearer
    (model,) = fit_cost_models(r, source="l2")
    print(model)
    assert model.b > 5 and model.c == 0.0 and model.r2 > 0.5
    crossed = pd.DataFrame({"side": ["bid", "ask"], "price": [101.0, 100.0], "qty": [1.0, 1.0]})
    with pytest.raises(DataError, match="crossed"):
        book_walk_rows(crossed, pd.DataFrame({"trade_ts_ms": [0, 1000], "qty": [1.0, 1.0]}),
                       symbol="X/Y", venue="v", timeframe="1h")  # fmt: skip


def test_the_config_points_at_a_logged_fit(tmp_path: Path) -> None:
    from dataclasses import replace

    from grekko_research.config.compose import compose_config, config_id, engine_config
    from grekko_research.config.schema import CostsSection
    from grekko_research.tracking._costs import log_cost_models

    (model,) = fit_cost_models(rows(1.5, 30.0, 0.05).assign(venue="binance"))
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    run_id = log_cost_models([model], name="fit-a", uri=uri)
    cfg = compose_config(["engine.sizing=percent", "costs=calibrated", "costs.name=fit-a",
                          f"costs.tracking_uri={uri}"])  # fmt: skip
    assert engine_config(cfg).costs == (model,)
    by_id = replace(cfg, costs=replace(cfg.costs, run_id=run_id, name=""))
    assert engine_config(by_id).costs == (model,)
    # costs=none leaves the config id as it was before the group existed (pinned baselines)
    none = replace(cfg, costs=CostsSection())
    assert config_id(none) != config_id(cfg) != config_id(by_id)
    assert config_id(none) == config_id(replace(none, costs=CostsSection(run_id="ignored")))
    with pytest.raises(ConfigError, match="no finished cost-model run named 'nope'"):
        engine_config(replace(cfg, costs=replace(cfg.costs, name="nope")))
    with pytest.raises(ConfigError, match=r"costs\.run_id"):
        CostsSection(model="calibrated")
    eth = replace(cfg, data=replace(cfg.data, symbol="ETH/USDT"))
    with pytest.raises(ConfigError, match="none of the run's symbols"):
        engine_config(eth)
