"""Every analysis feature passes the lookahead check on real data; leaky ones are caught."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from grekko_research.analysis.book import BookReplay, spoofing_candidates
from grekko_research.analysis.captures import OrderBookCapture
from grekko_research.analysis.features import (
    BOOK_FIELDS,
    FEATURES,
    BookFeatureParams,
    Feature,
    Sources,
    bar_closes,
    book_sources,
    check_feature,
)
from grekko_research.analysis.regimes import HmmParams
from grekko_research.data.bars import Bars
from tests.unit.analysis.conftest import BTC_SPOT

SMALL_HMM = HmmParams(n_states=2, vol_window=10, train=300, min_train=200, refit=100, n_iter=20)


def trade_bars(cap: OrderBookCapture, seconds: int = 10) -> Bars:
    """``seconds`` bars of the capture's real trades (what the book features align to)."""
    t = cap.trades
    assert t is not None
    frame = pd.DataFrame({"ts": t.local_ts // 1_000_000, "price": t.price, "qty": t.qty})
    frame["bar"] = frame["ts"] - frame["ts"] % (seconds * 1000)
    g = frame.groupby("bar")
    ohlcv = pd.DataFrame(
        {
            "timestamp": g["bar"].first(),
            "open": g["price"].first(),
            "high": g["price"].max(),
            "low": g["price"].min(),
            "close": g["price"].last(),
            "volume": g["qty"].sum(),
        }
    )
    full = np.arange(ohlcv["timestamp"].iloc[0], ohlcv["timestamp"].iloc[-1] + 1, seconds * 1000)
    assert len(full) == len(ohlcv), "a 10 s bar without a trade: this test expects none"
    return Bars.from_frame(ohlcv.reset_index(drop=True), "BTC/USDT", f"{seconds}s")


@pytest.fixture(scope="module")
def book_case(captures, replays) -> tuple[Bars, Sources]:  # type: ignore[no-untyped-def]
    cap: OrderBookCapture = captures[BTC_SPOT]
    rep: BookReplay = replays[BTC_SPOT]
    return trade_bars(cap), book_sources(
        {"BTC/USDT": rep}, {"BTC/USDT": spoofing_candidates(rep, cap.trades)}
    )


@pytest.mark.parametrize(
    "name", ["wyckoff_phase", "bars_since_bull_trap", "bars_since_capitulation", "vol_breakout"]
)
def test_bar_features_are_causal(name: str, btc_daily: Bars) -> None:
    report = check_feature(FEATURES[name], btc_daily)
    report.raise_for_failures()
    out = FEATURES[name].compute(btc_daily, FEATURES[name].Params(), Sources())
    assert np.isfinite(out).sum() > btc_daily.n_bars // 2  # not a vacuous pass


def test_hmm_feature_is_causal(btc_daily: Bars) -> None:
    check_feature(FEATURES["hmm_regime"], btc_daily[:700], SMALL_HMM, cuts=3).raise_for_failures()


@pytest.mark.parametrize("field", BOOK_FIELDS)
def test_book_features_are_causal(field: str, book_case: tuple[Bars, Sources]) -> None:
    bars, sources = book_case
    params = BookFeatureParams(field)
    check_feature(FEATURES["book"], bars, params, sources).raise_for_failures()
    out = FEATURES["book"].compute(bars, params, sources)[:, 0]
    assert np.isfinite(out[1:]).all(), f"{field}: a bar after the first without a value"


def test_book_features_by_value(book_case: tuple[Bars, Sources], replays) -> None:  # type: ignore[no-untyped-def]
    bars, sources = book_case
    ev = replays[BTC_SPOT].valid
    closes = bar_closes(bars)
    imb = FEATURES["book"].compute(bars, BookFeatureParams("imbalance"), sources)[:, 0]
    ofi = FEATURES["book"].compute(bars, BookFeatureParams("ofi"), sources)[:, 0]
    known = ev["local_ts"].to_numpy() // 1_000_000
    for t in (3, 20, 50):
        last = ev[known <= closes[t]].iloc[-1]  # the last event received by the close
        assert imb[t] == last["imbalance"]
        inside = (known > bars.index[t]) & (known <= closes[t])
        assert ofi[t] == pytest.approx(ev.loc[inside, "ofi"].sum())


def leaky(feature: Feature, shift: int) -> Feature:
    """``feature`` reading ``shift`` bars into the future."""

    def compute(bars: Bars, params: object, sources: Sources) -> np.ndarray:
        out = feature.compute(bars, params, sources)
        return np.r_[out[shift:], np.full((shift, out.shape[1]), np.nan)]

    return dataclasses.replace(feature, name=f"leaky_{feature.name}", compute=compute)


def test_check_catches_a_leaky_bar_feature(btc_daily: Bars) -> None:
    report = check_feature(leaky(FEATURES["wyckoff_phase"], 1), btc_daily)
    assert not report.ok and "looks ahead" in report.failures[0].message


def test_check_catches_a_leaky_source_read(book_case: tuple[Bars, Sources]) -> None:
    """Reading the book as of the *next* bar's close: only cutting the sources catches it."""
    bars, sources = book_case

    def compute(b: Bars, params: BookFeatureParams, src: Sources) -> np.ndarray:
        closes = bar_closes(b)
        ahead = closes + (closes[1] - closes[0]) if len(closes) > 1 else closes
        i = src.asof("book:BTC/USDT", ahead)
        return np.r_[np.nan, src.table("book:BTC/USDT").columns[params.field]][i + 1][:, None]

    report = check_feature(
        Feature("peek", BookFeatureParams, compute), bars, BookFeatureParams(), sources
    )
    assert not report.ok and "bars[:" in report.failures[0].message


def test_features_are_per_symbol(btc_daily: Bars) -> None:
    two = Bars(
        index=btc_daily.index,
        symbols=("A", "B"),
        timeframe="1d",
        **{
            f: np.column_stack([getattr(btc_daily, f)[:, 0]] * 2)
            for f in ("open", "high", "low", "close", "volume")
        },
    )
    out = FEATURES["bars_since_capitulation"].compute(
        two, FEATURES["bars_since_capitulation"].Params(), Sources()
    )
    assert out.shape == (btc_daily.n_bars, 2)
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
