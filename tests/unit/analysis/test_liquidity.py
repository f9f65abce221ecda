"""Volatility and liquidity measures on known cases, and the scanner on the real hourly files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grekko_research.analysis.features import FEATURES, check_feature
from grekko_research.analysis.liquidity import (
    amihud,
    liquidity_scan,
    roll_spread,
    vol_of_vol,
    vol_regime,
)
from grekko_research.data.bars import Bars


def test_amihud_by_hand() -> None:
    close = np.array([100.0, 101.0, 100.0, 102.0, np.nan, 101.0])
    volume = np.array([5.0, 10.0, 0.0, 20.0, 1.0, 30.0])
    got = amihud(close, volume, window=2)
    u1 = abs(np.log(101 / 100)) / (101 * 10) * 1e6
    u3 = abs(np.log(102 / 100)) / (102 * 20) * 1e6  # bar 2 has no volume: skipped
    u5 = abs(np.log(101 / 102)) / (101 * 30) * 1e6  # bar 4 is NaN: skipped
    assert np.isnan(got[:3]).all()  # one impact by bar 1; bar 2 traded nothing
    assert got[3] == pytest.approx((u1 + u3) / 2)
    assert np.isnan(got[4]) and got[5] == pytest.approx((u3 + u5) / 2)


def test_roll_recovers_a_known_spread() -> None:
    rng = np.random.default_rng(1)
    mid = 100 * np.exp(np.cumsum(rng.normal(0, 0.0005, 40_000)))
    spread = 0.002  # trades alternate at random between bid and ask
    price = mid * (1 + np.where(rng.random(mid.size) < 0.5, -spread / 2, spread / 2))
    assert np.nanmedian(roll_spread(price, 2000)) == pytest.approx(spread, rel=0.1)
    assert np.nanmedian(roll_spread(mid, 2000)) < spread / 5  # no bounce, (almost) no spread


def test_vol_regime_and_vol_of_vol_see_a_volatility_jump() -> None:
    rng = np.random.default_rng(2)
    ret = np.r_[rng.normal(0, 0.01, 1000), rng.normal(0, 0.05, 200)]
    close = 100 * np.exp(np.cumsum(ret))
    regime = vol_regime(close, vol_window=20, lookback=500)
    assert np.isnan(regime[:520]).all()
    assert np.nanmean(regime[600:1000]) < 0.7 and (regime[1001:1070] > 0.9).all()
    vv = vol_of_vol(close, 20, 20)
    assert np.nanmax(vv[1000:1060]) > 3 * np.nanmedian(vv[100:1000])


def test_scanner_ranks_the_real_hourly_files(shared: Path) -> None:
    files = sorted((shared / "ohlcv").glob("*_1h__*.csv.gz"))
    got = liquidity_scan(files)
    assert len(got) == len(files)
    assert got["file"].iloc[0] == "binance-usdm_BTC-USDT-PERP_1h__alpergulsen.csv.gz"
    assert (
        got["amihud"].is_monotonic_increasing is False
        or got["amihud"].dropna().is_monotonic_increasing
    )
    marks = got[got["file"].str.contains("markprice")]
    assert len(marks) == 2 and marks["amihud"].isna().all()  # mark prices carry no volume
    assert (got["vol"] > 0.05).all() and (got["vol"] < 3).all()


@pytest.mark.parametrize("name", ["amihud", "vol_regime"])
def test_liquidity_features_are_causal(name: str, btc_daily: Bars) -> None:
    check_feature(FEATURES[name], btc_daily).raise_for_failures()
