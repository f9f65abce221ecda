"""The online model: one update per closed bar, stale → flat, drift → reduce then halt, and the
retrain fits persisted before a crash are reused by the restarted process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grekko_research.data.bars import Bars
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.ml import models
from grekko_research.ml.features import build_features, feature_warmup
from grekko_research.ml.models import ModelSpec
from grekko_research.ml.online import OnlineResult, OnlineSpec, online_scores
from grekko_research.ml.strategy import label_arrays
from strategies.ml_online import MlOnline

SMALL = dict(train=300, cadence=100)


def test_one_update_per_closed_bar_and_a_retrain_per_cadence(btc_1h: Bars) -> None:
    s = MlOnline()
    run = s.online(btc_1h, s.params(**SMALL))[0]
    scored = np.flatnonzero(np.isfinite(run.score))
    assert run.retrains == pytest.approx((btc_1h.n_bars - scored[0]) / 100, abs=1)
    assert run.updates >= len(scored) - run.retrains - 2  # every bar after a retrain updates
    assert (run.age[scored] <= 1).all()  # real hourly data: never stale
    assert set(np.unique(run.level)) <= {0.0, 0.5, 1.0}


def _with_gap(bars: Bars, start: int, length: int) -> Bars:
    """The bars with ``length`` rows from ``start`` marked missing (a feed outage)."""
    fields = {}
    for name in ("open", "high", "low", "close", "volume"):
        a = np.array(getattr(bars, name))
        a[start : start + length] = np.nan
        fields[name] = a
    filled = np.array(bars.filled)
    filled[start : start + length] = True
    return Bars(index=bars.index, symbols=bars.symbols, timeframe=bars.timeframe,
                filled=filled, **fields)  # fmt: skip


def test_a_stale_model_holds_nothing(btc_1h: Bars) -> None:
    s = MlOnline()
    p = s.params(**SMALL, expiry=3, threshold=0.3)  # long almost always while fresh
    gap = _with_gap(btc_1h, 1200, 10)
    run = s.online(gap, p)[0]
    after = np.arange(1210, 1216)  # prices back, but the last update is older than expiry
    assert (run.age[after] > 3).any()
    stale = after[run.age[after] > 3]
    assert (run.level[stale] == 0).all()
    fresh = s.online(btc_1h, p)[0]
    assert (fresh.level[stale] > 0).any(), "the same bars without the gap would be long"
    targets = s.signals(gap, p).target[:, 0]
    assert np.nanmax(targets[1200:1216]) <= 0 or np.isnan(targets[1200:1216]).all()


def _run(bars: Bars, spec: OnlineSpec) -> OnlineResult:
    """The online model on ``bars`` with a schedule outside the strategy's searched bounds."""
    p = MlOnline().params()
    x = build_features(bars, p).values[:, 0, :]
    y, end = label_arrays(bars, p, 0)
    return online_scores(x, y, end, bars.index, parse_timeframe("1h").ms, spec,
                         ModelSpec(kind="online_logistic"), start=feature_warmup(p))  # fmt: skip


def test_drift_reduces_then_halts(btc_1h: Bars) -> None:
    # one retrain (at row 672: cadence 1000 from 2020-12-01), a model learning almost nothing
    # afterwards, and the market's moves inverted from row 800: its loss drifts up
    spec = OnlineSpec(train=300, cadence=1000, eta=0.0001, drift_warn=10.0, drift_halt=30.0)
    assert _run(btc_1h, spec).retrains == 1
    close = np.array(btc_1h.close)
    flipped = close.copy()
    flipped[800:] = close[800] ** 2 / close[800:]
    ratio = flipped / close
    bars = Bars(index=btc_1h.index, symbols=btc_1h.symbols, timeframe="1h",
                open=np.array(btc_1h.open) * ratio, high=np.array(btc_1h.high) * ratio,
                low=np.array(btc_1h.low) * ratio, close=flipped, volume=btc_1h.volume)  # fmt: skip
    run = _run(bars, spec)
    assert np.nanmax(run.drift[:800]) < 10.0  # before the flip: an ordinary out-of-sample loss
    assert np.nanmax(run.drift) > 30.0
    warn = (run.drift > 10.0) & (run.drift <= 30.0) & (run.level > 0)
    assert warn.any() and (run.level[warn] == 0.5).all()
    assert (run.level[run.drift > 30.0] == 0).all()


def test_a_restart_reuses_the_persisted_models(
    btc_1h: Bars, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(models.MODEL_DIR_ENV, str(tmp_path / "models"))
    s = MlOnline()
    p = s.params(**SMALL, seed=7)
    models.clear_cache()
    before = s.signals(btc_1h, p).target
    fits = models.cache_stats()["fits"]
    assert fits > 0 and len(list((tmp_path / "models").glob("*.pkl"))) == fits
    models.clear_cache()  # the crash: memory gone, the folder stays
    after = s.signals(btc_1h, p).target
    stats = models.cache_stats()
    assert stats["fits"] == 0 and stats["disk_hits"] == fits
    np.testing.assert_array_equal(before, after)
