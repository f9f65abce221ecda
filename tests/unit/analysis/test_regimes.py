"""Walk-forward HMM regimes: recovers planted regimes, causal by truncation, and the
rule-based detectors on planted events and on the real crashes of March 2020 and May 2021."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grekko_research.analysis.detectors import (
    PHASE_NAMES,
    CapitulationParams,
    TrapParams,
    bull_traps,
    capitulations,
    wyckoff_phases,
)
from grekko_research.analysis.regimes import HmmParams, hmm_regimes
from grekko_research.data.bars import Bars
from grekko_research.errors import ConfigError

SMALL = HmmParams(n_states=2, vol_window=10, train=300, min_train=200, refit=100, n_iter=30)


def planted_regimes(seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Closes alternating 120-bar calm rallies and turbulent sell-offs, and the truth (1 = calm)."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.tile([1, 0], 5), 120)
    ret = np.where(
        truth == 1, rng.normal(0.003, 0.008, truth.size), rng.normal(-0.004, 0.04, truth.size)
    )
    return 100 * np.exp(np.cumsum(ret)), truth


def test_hmm_recovers_planted_regimes() -> None:
    close, truth = planted_regimes()
    got = hmm_regimes(close, SMALL)
    labelled = np.isfinite(got.label)
    assert labelled[: SMALL.min_train].sum() == 0 and labelled[SMALL.min_train + 1 :].all()
    agree = (got.label[labelled] == truth[labelled]).mean()
    assert agree > 0.85, f"{agree:.2f} of the labels match the planted regimes"
    np.testing.assert_allclose(got.prob[labelled].sum(axis=1), 1.0)
    assert len(got.fits) == 10 and (got.fits["mean_ret_0"] < got.fits["mean_ret_1"]).all()


def test_hmm_labels_are_causal() -> None:
    close, _ = planted_regimes()
    full = hmm_regimes(close, SMALL)
    for t in (250, 299, 300, 301, 777):
        part = hmm_regimes(close[:t], SMALL)
        np.testing.assert_array_equal(part.label, full.label[:t], err_msg=f"cut at {t}")
        np.testing.assert_allclose(part.prob, full.prob[:t], rtol=1e-12, err_msg=f"cut at {t}")


def test_hmm_params_are_checked() -> None:
    with pytest.raises(ConfigError, match="min_train <= train"):
        HmmParams(train=100, min_train=200)


def flat_then(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 100 + rng.normal(0, 0.3, n)
    return {
        "high": close + 0.5,
        "low": close - 0.5,
        "close": close,
        "volume": 1000 + rng.normal(0, 50, n),
    }


def test_capitulation_planted() -> None:
    b = flat_then(120)
    b["close"][80] = 80.0  # a 20 % crash on 5x volume
    b["low"][80] = 79.0
    b["volume"][80] = 5000.0
    b["close"][81:84] = [81.0, 83.0, 86.0]  # 86 / 79 - 1 = 8.9 % off the low at bar 83
    b["low"][81:84] = [80.0, 82.0, 85.0]
    b["close"][84:] = 86.0
    ev = capitulations(
        b["close"], b["low"], b["volume"], CapitulationParams(window=60, rebound=0.08)
    )
    assert ev[["bar", "confirmed"]].values.tolist() == [[80, 83]]
    assert ev["low"].iloc[0] == 79.0 and ev["return_z"].iloc[0] < -10 and ev["volume_z"].iloc[0] > 3
    # no recovery within the limit: no capitulation
    b["close"][81:] = 80.0
    b["low"][81:] = 79.5
    assert capitulations(b["close"], b["low"], b["volume"], CapitulationParams(window=60)).empty


def test_bull_trap_planted() -> None:
    b = flat_then(100)
    b["high"][60], b["close"][60], b["volume"][60] = 103.0, 102.5, 600.0  # breakout, thin volume
    b["close"][61], b["high"][61] = 101.8, 102.0
    b["close"][62] = 99.0  # back below the 60-bar high: the trap springs
    ev = bull_traps(b["high"], b["close"], b["volume"], TrapParams(lookback=50, fail_within=5))
    assert ev[["bar", "confirmed", "bars"]].values.tolist() == [[60, 62, 2]]
    assert ev["volume_ratio"].iloc[0] < 0.7 and ev["level"].iloc[0] == b["high"][10:60].max()
    loud = {k: v.copy() for k, v in b.items()}
    loud["volume"][60] = 3000.0  # a breakout on volume is no divergence
    assert bull_traps(loud["high"], loud["close"], loud["volume"], TrapParams()).empty
    held = {k: v.copy() for k, v in b.items()}
    held["close"][61:] = 103.0
    held["high"][61:] = 103.5
    assert bull_traps(held["high"], held["close"], held["volume"], TrapParams()).empty


def test_wyckoff_planted_markdown_then_accumulation_with_spring() -> None:
    n = 200
    close = np.r_[np.linspace(200, 100, 100), 100 + 0.5 * np.sin(np.arange(100))]
    high, low = close + 0.6, close - 0.6
    volume = np.full(n, 1000.0)
    low[170], close[170] = 97.0, 100.2  # undercuts the range low, closes back inside
    phase, ev = wyckoff_phases(high, low, close, volume)
    names = [PHASE_NAMES[int(p)] for p in phase[np.isfinite(phase)]]
    assert names[:40] == ["markdown"] * 40 and names[-1] == "accumulation"
    assert "spring" in ev.loc[ev["bar"] == 170, "kind"].tolist()


def test_real_crashes_are_capitulations(btc_daily: Bars) -> None:
    """March 12 2020 (COVID) and May 19 2021 on Binance BTC/USDT daily; the lows are the real ones."""
    c, lo, v = btc_daily.close[:, 0], btc_daily.low[:, 0], btc_daily.volume[:, 0]
    ev = capitulations(c, lo, v, index=btc_daily.index)
    days = ev["time"].dt.strftime("%Y-%m-%d").tolist()
    assert "2020-03-12" in days and "2021-05-19" in days
    covid = ev[ev["time"] == pd.Timestamp("2020-03-12", tz="UTC")].iloc[0]
    assert covid["low"] == 3782.13  # the README's known low, 2020-03-13
    assert covid["confirmed"] == covid["bar"] + 1 and covid["return_z"] < -10
    may = ev[ev["time"] == pd.Timestamp("2021-05-19", tz="UTC")].iloc[0]
    assert may["low"] == 30000.0 and may["volume_z"] > 4
    assert 5 <= len(ev) <= 20, f"{len(ev)} capitulations in 8 years is not selective"
    _, wy = wyckoff_phases(btc_daily.high[:, 0], lo, c, v, index=btc_daily.index)
    climaxes = wy[wy["kind"] == "selling_climax"]["time"].dt.strftime("%Y-%m-%d").tolist()
    assert "2020-03-12" in climaxes and "2021-05-19" in climaxes
    traps = bull_traps(btc_daily.high[:, 0], c, v, index=btc_daily.index)
    top = traps[traps["time"] == pd.Timestamp("2017-12-16", tz="UTC")]
    assert len(top) == 1 and top["peak"].iloc[0] == 19798.68  # the 2017 top failed in 3 days
