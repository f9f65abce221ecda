"""Indicators on real data against independent implementations.

Three references, on three real datasets (BTC/USDT 1h and 1d, ETH/USDT 15m):

* pandas formulas written in ``references.py`` — same conventions as ours, so
  they must agree from the first non-warm-up row: ``rtol = 1e-10`` plus an
  absolute ``1e-10 × max|reference|`` for outputs that cross zero (MACD,
  z-score, OBV). Measured differences are ~1e-13 relative (summation order).
* the ``ta`` package — exact where it shares our convention, otherwise from the
  row where its different seed has decayed below ``rtol = 1e-9`` (each test
  says which, and why).
* TA-Lib when it is installed (optional) — idem.

``test_shifted_reference_does_not_match`` proves the comparison can fail: every
pandas reference, moved one bar later, is rejected.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import grekko_research.indicators as ind
from tests.unit.indicators import references as ref
from tests.unit.indicators.references import assert_matches

Bars = dict[str, np.ndarray]
Pair = Callable[[Bars, float], tuple[np.ndarray, ...]]

# name -> (ours, pandas reference); both get (bars, bars per year)
PANDAS: dict[str, tuple[Pair, Pair]] = {
    "sma": (lambda b, p: (ind.sma(b["close"], 20),), lambda b, p: ref.ref_sma(b["close"], 20)),
    "sma_1": (lambda b, p: (ind.sma(b["close"], 1),), lambda b, p: ref.ref_sma(b["close"], 1)),
    "ema": (lambda b, p: (ind.ema(b["close"], 20),), lambda b, p: ref.ref_ema(b["close"], 20)),
    "ema_200": (
        lambda b, p: (ind.ema(b["close"], 200),),
        lambda b, p: ref.ref_ema(b["close"], 200),
    ),
    "wma": (lambda b, p: (ind.wma(b["close"], 30),), lambda b, p: ref.ref_wma(b["close"], 30)),
    "rsi": (lambda b, p: (ind.rsi(b["close"], 14),), lambda b, p: ref.ref_rsi(b["close"], 14)),
    "macd": (
        lambda b, p: ind.macd(b["close"], 12, 26, 9),
        lambda b, p: ref.ref_macd(b["close"], 12, 26, 9),
    ),
    "atr": (
        lambda b, p: (ind.atr(b["high"], b["low"], b["close"], 14),),
        lambda b, p: ref.ref_atr(b["high"], b["low"], b["close"], 14),
    ),
    "bollinger": (
        lambda b, p: ind.bollinger(b["close"], 20, 2.0),
        lambda b, p: ref.ref_bollinger(b["close"], 20, 2.0),
    ),
    "donchian": (
        lambda b, p: ind.donchian(b["high"], b["low"], 55),
        lambda b, p: ref.ref_donchian(b["high"], b["low"], 55),
    ),
    "keltner": (
        lambda b, p: ind.keltner(b["high"], b["low"], b["close"], 20, 10, 1.5),
        lambda b, p: ref.ref_keltner(b["high"], b["low"], b["close"], 20, 10, 1.5),
    ),
    "adx": (
        lambda b, p: ind.adx(b["high"], b["low"], b["close"], 14),
        lambda b, p: ref.ref_adx(b["high"], b["low"], b["close"], 14),
    ),
    "obv": (
        lambda b, p: (ind.obv(b["close"], b["volume"]),),
        lambda b, p: ref.ref_obv(b["close"], b["volume"]),
    ),
    "vwap": (
        lambda b, p: (ind.vwap(b["high"], b["low"], b["close"], b["volume"], 24),),
        lambda b, p: ref.ref_vwap(b["high"], b["low"], b["close"], b["volume"], 24),
    ),
    "zscore": (
        lambda b, p: (ind.zscore(b["close"], 50),),
        lambda b, p: ref.ref_zscore(b["close"], 50),
    ),
    "volatility": (
        lambda b, p: (ind.volatility(b["close"], 30, p),),
        lambda b, p: ref.ref_volatility(b["close"], 30, p),
    ),
    # the engine's kernel, unchanged: simple returns
    "volatility_simple": (
        lambda b, p: (ind.volatility(b["close"], 30, p, returns="simple"),),
        lambda b, p: ref.ref_simple_volatility(b["close"], 30, p),
    ),
    "parkinson": (
        lambda b, p: (ind.parkinson(b["high"], b["low"], 30, p),),
        lambda b, p: ref.ref_parkinson(b["high"], b["low"], 30, p),
    ),
    "garman_klass": (
        lambda b, p: (ind.garman_klass(b["open"], b["high"], b["low"], b["close"], 30, p),),
        lambda b, p: ref.ref_garman_klass(b["open"], b["high"], b["low"], b["close"], 30, p),
    ),
}


def _check_pandas(ours: tuple[np.ndarray, ...], theirs: tuple[np.ndarray, ...]) -> None:
    assert len(ours) == len(theirs)
    for a, e in zip(ours, theirs, strict=True):
        assert_matches(a, e, rtol=1e-10, atol=1e-10 * float(np.nanmax(np.abs(e))))


@pytest.mark.parametrize("name", list(PANDAS))
def test_matches_pandas_formula(real: tuple[Bars, float], name: str) -> None:
    bars, ppy = real
    ours, theirs = PANDAS[name]
    _check_pandas(ours(bars, ppy), theirs(bars, ppy))


@pytest.mark.parametrize("name", list(PANDAS))
def test_shifted_reference_does_not_match(btc_1h: Bars, name: str) -> None:
    ours, theirs = PANDAS[name]
    expected = theirs(btc_1h, 8760.0)
    late = tuple(np.r_[np.nan, e[:-1]] for e in expected)  # one bar late
    with pytest.raises(AssertionError):
        _check_pandas(ours(btc_1h, 8760.0), late)


def test_xs_rank_matches_pandas_rank(shared_data: Path) -> None:
    """Rank five real hourly return series (719 common rows), with ties and NaNs added."""
    stems = [
        "binance-spot_BTC-USDT_1h__nfi",
        "binance-spot_ETH-USDT_1h__nfi",
        "binance-usdm_BNB-USDT-PERP_1h__alpergulsen",
        "binance-usdm_SOL-USDT-PERP_1h__alpergulsen",
        "binance-usdm_XRP-USDT-PERP_1h__alpergulsen",
    ]
    closes = [
        pd.read_csv(shared_data / "ohlcv" / f"{s}.csv.gz")["close"].to_numpy(float)[-719:]
        for s in stems
    ]
    panel = np.column_stack(closes)
    ret = np.round(panel[24:] / panel[:-24] - 1.0, 3)  # rounding makes ties
    rng = np.random.default_rng(7)
    ret[rng.random(ret.shape) < 0.15] = np.nan
    ret[5, :] = np.nan  # an empty row
    ret[6, 1:] = np.nan  # a lone value
    assert (np.diff(np.sort(ret, axis=1), axis=1) == 0).any(), "want ties"
    got = ind.xs_rank(ret)
    assert_matches(got, ref.ref_xs_rank(ret), rtol=1e-12, atol=1e-12)
    assert got[6, 0] == 0.5
    assert np.isnan(got[5]).all()
    assert np.nanmin(got) == 0.0 and np.nanmax(got) == 1.0
    with pytest.raises(AssertionError):  # the same check rejects ranks against the wrong row
        assert_matches(got, np.roll(ref.ref_xs_rank(ret), 1, axis=0), rtol=1e-12, atol=1e-12)


# --- the `ta` package -------------------------------------------------------------------------


def _series(b: Bars) -> dict[str, pd.Series]:
    return {k: pd.Series(v) for k, v in b.items()}


def test_ta_moving_averages(real: tuple[Bars, float]) -> None:
    from ta.trend import EMAIndicator, SMAIndicator, WMAIndicator

    bars, _ = real
    s = _series(bars)
    assert_matches(
        ind.sma(bars["close"], 20), SMAIndicator(s["close"], 20).sma_indicator(), rtol=1e-10
    )
    assert_matches(ind.wma(bars["close"], 30), WMAIndicator(s["close"], 30).wma(), rtol=1e-10)
    # `ta` seeds its EMA with the first close, we with the SMA of the first 20 (TA-Lib's rule):
    # the seed's weight (19/21)^t is below 1e-17 after 400 bars.
    assert_matches(
        ind.ema(bars["close"], 20),
        EMAIndicator(s["close"], 20).ema_indicator(),
        rtol=1e-9,
        start=400,
    )


def test_ta_rsi_macd(real: tuple[Bars, float]) -> None:
    from ta.momentum import RSIIndicator
    from ta.trend import MACD

    bars, _ = real
    c = _series(bars)["close"]
    # `ta` smooths from the first bar (a zero change) instead of an SMA seed; decayed by row 500.
    assert_matches(ind.rsi(bars["close"], 14), RSIIndicator(c, 14).rsi(), rtol=1e-9, start=500)
    line, sig, hist = ind.macd(bars["close"], 12, 26, 9)
    theirs = MACD(c, window_slow=26, window_fast=12, window_sign=9)
    scale = float(np.max(bars["close"]))  # MACD crosses zero: absolute tolerance on price scale
    for a, e in ((line, theirs.macd()), (sig, theirs.macd_signal()), (hist, theirs.macd_diff())):
        assert_matches(a, e, rtol=1e-9, atol=1e-12 * scale, start=600)


def test_ta_atr_bands_channels(real: tuple[Bars, float]) -> None:
    from ta.volatility import AverageTrueRange, BollingerBands, DonchianChannel, KeltnerChannel

    bars, _ = real
    s = _series(bars)
    h, lo, c = bars["high"], bars["low"], bars["close"]
    # same convention (first TR = high − low, SMA seed); `ta` writes 0 in the warm-up rows
    theirs_atr = AverageTrueRange(s["high"], s["low"], s["close"], 14).average_true_range()
    assert_matches(ind.atr(h, lo, c, 14), theirs_atr, rtol=1e-10, start=13)

    bb = BollingerBands(s["close"], 20, 2)
    for a, e in zip(
        ind.bollinger(c, 20, 2.0),
        (bb.bollinger_mavg(), bb.bollinger_hband(), bb.bollinger_lband()),
        strict=True,
    ):
        assert_matches(a, e, rtol=1e-10)

    dc = DonchianChannel(s["high"], s["low"], s["close"], 20)
    for a, e in zip(
        ind.donchian(h, lo, 20),
        (dc.donchian_channel_hband(), dc.donchian_channel_lband(), dc.donchian_channel_mband()),
        strict=True,
    ):
        assert_matches(a, e, rtol=1e-12)

    # ta's EMA is seeded with the first close (decayed by row 400, see above)
    kc = KeltnerChannel(
        s["high"], s["low"], s["close"], 20, 10, original_version=False, multiplier=2
    )
    for a, e in zip(
        ind.keltner(h, lo, c, 20, 10, 2.0),
        (kc.keltner_channel_mband(), kc.keltner_channel_hband(), kc.keltner_channel_lband()),
        strict=True,
    ):
        assert_matches(a, e, rtol=1e-9, start=400)
    # (no `ta` ADX comparison: its implementation leaves the last row unset and seeds
    # differently; ADX is checked against the pandas formula and TA-Lib.)


def test_ta_volume(real: tuple[Bars, float]) -> None:
    from ta.volume import OnBalanceVolumeIndicator, VolumeWeightedAveragePrice

    bars, _ = real
    s = _series(bars)
    h, lo, c, v = bars["high"], bars["low"], bars["close"], bars["volume"]
    theirs = VolumeWeightedAveragePrice(s["high"], s["low"], s["close"], s["volume"], 24)
    assert_matches(ind.vwap(h, lo, c, v, 24), theirs.volume_weighted_average_price(), rtol=1e-10)
    # `ta` adds the volume when the close is unchanged (and on the first bar); we add nothing
    # then. Compare the bar-to-bar increments where the close moved, and ours are 0 elsewhere.
    ours = np.diff(ind.obv(c, v))
    ta_steps = np.diff(OnBalanceVolumeIndicator(s["close"], s["volume"]).on_balance_volume())
    moved = np.diff(c) != 0
    assert moved.any()
    np.testing.assert_allclose(ours[moved], ta_steps[moved], rtol=1e-9, atol=1e-6)
    assert (ours[~moved] == 0).all()


# --- TA-Lib (optional) -------------------------------------------------------------------------


def test_talib_same_convention(real: tuple[Bars, float]) -> None:
    talib = pytest.importorskip("talib")
    bars, _ = real
    h, lo, c, v = bars["high"], bars["low"], bars["close"], bars["volume"]
    assert_matches(ind.sma(c, 20), talib.SMA(c, 20), rtol=1e-10)
    assert_matches(ind.ema(c, 20), talib.EMA(c, 20), rtol=1e-10)
    assert_matches(ind.wma(c, 30), talib.WMA(c, 30), rtol=1e-10)
    assert_matches(ind.rsi(c, 14), talib.RSI(c, 14), rtol=1e-10)
    upper, mid, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    for a, e in zip(ind.bollinger(c, 20, 2.0), (mid, upper, lower), strict=True):
        assert_matches(a, e, rtol=1e-10)
    dc = ind.donchian(h, lo, 20)
    assert_matches(dc[0], talib.MAX(h, 20), rtol=0.0)
    assert_matches(dc[1], talib.MIN(lo, 20), rtol=0.0)
    # TA-Lib's OBV starts at the first bar's volume, ours at 0: the same series shifted
    assert_matches(ind.obv(c, v), talib.OBV(c, v) - v[0], rtol=1e-10, atol=1e-6)


def test_talib_after_seed_decay(real: tuple[Bars, float]) -> None:
    """Compare from row 600, once TA-Lib's different seeds have decayed below 1e-9.

    MACD: TA-Lib seeds the fast EMA at the slow EMA's start. ATR: TA-Lib drops the
    first bar's true range (one row later). ADX/DI: TA-Lib seeds Wilder's sums with
    ``window − 1`` values. Each gap shrinks like ``(1 − 1/14)^t``.
    """
    talib = pytest.importorskip("talib")
    bars, _ = real
    h, lo, c = bars["high"], bars["low"], bars["close"]
    scale = float(np.max(c))
    for a, e in zip(ind.macd(c, 12, 26, 9), talib.MACD(c, 12, 26, 9), strict=True):
        assert_matches(a, e, rtol=1e-9, atol=1e-12 * scale, start=600)
    assert_matches(ind.atr(h, lo, c, 14), talib.ATR(h, lo, c, 14), rtol=1e-9, start=600)
    adx, plus_di, minus_di = ind.adx(h, lo, c, 14)
    assert_matches(adx, talib.ADX(h, lo, c, 14), rtol=1e-9, start=600)
    assert_matches(plus_di, talib.PLUS_DI(h, lo, c, 14), rtol=1e-9, start=600)
    assert_matches(minus_di, talib.MINUS_DI(h, lo, c, 14), rtol=1e-9, start=600)
    mid, upper, _ = ind.keltner(h, lo, c, 20, 10, 2.0)
    assert_matches(mid, talib.EMA(c, 20), rtol=1e-9, start=600)
    assert_matches(upper, talib.EMA(c, 20) + 2.0 * talib.ATR(h, lo, c, 10), rtol=1e-9, start=600)
    # the same check on the first rows fails: the seeds do differ there
    with pytest.raises(AssertionError):
        assert_matches(adx, talib.ADX(h, lo, c, 14), rtol=1e-9, start=27)


def test_warmup_lengths_match_talib_lookbacks(btc_1h: Bars) -> None:
    talib = pytest.importorskip("talib")
    h, lo, c = btc_1h["high"], btc_1h["low"], btc_1h["close"]
    pairs = [
        (ind.sma(c, 20), talib.SMA(c, 20)),
        (ind.ema(c, 20), talib.EMA(c, 20)),
        (ind.rsi(c, 14), talib.RSI(c, 14)),
        # (TA-Lib also hides the MACD line until the signal exists; ours starts at slow − 1)
        (ind.macd(c)[1], talib.MACD(c)[1]),
        (ind.adx(h, lo, c, 14)[0], talib.ADX(h, lo, c, 14)),
        (ind.adx(h, lo, c, 14)[1], talib.PLUS_DI(h, lo, c, 14)),
    ]
    for ours, theirs in pairs:
        assert np.argmax(~np.isnan(ours)) == np.argmax(~np.isnan(theirs))
