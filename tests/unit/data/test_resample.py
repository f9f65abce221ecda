"""Tests of exact OHLCV resampling and of aligning symbols on one index."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grekko_research.data.bars import FIELDS, Bars
from grekko_research.data.resample import align, resample_bars, resample_frame
from grekko_research.errors import ConfigError, DataError

H = 3_600_000
OHLC = ["open", "high", "low", "close"]


def ms(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


def load(shared_data: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(shared_data / "ohlcv" / f"{name}.csv.gz")


def candles(ts: list[int] | np.ndarray, seed: int = 0) -> pd.DataFrame:
    """Return valid candles at ``ts`` with integer volumes (so sums are exact)."""
    rng = np.random.default_rng(seed)
    n = len(ts)
    close = 100 + np.cumsum(rng.normal(size=n))
    open_ = np.r_[100.0, close[:-1]]
    return pd.DataFrame(
        {
            "timestamp": np.asarray(ts, dtype=np.int64),
            "open": open_,
            "high": np.maximum(open_, close) + rng.random(n),
            "low": np.minimum(open_, close) - rng.random(n),
            "close": close,
            "volume": rng.integers(0, 1000, n).astype(float),
        }
    )


# -- real data: resampled bars equal Binance's own coarser bars -------------------------

# Every pair of real files that overlaps, with (overlapping complete bars, target bars
# that differ). The newest row of every file is dropped first: it may be a candle that
# was still open when the file was downloaded (OctoBot's files were fetched on
# 2018-06-18 ~21:2x UTC and their last 1m/5m/15m/1h/4h/1d bars are all unfinished).
# The remaining differences are in the source data, not the resampling:
# - NFI's 1h/5m files (freqtrade downloads from 2021) disagree with Binance's 2h/1d
#   klines and with each other on 8 bars in three stress episodes: 2020-12-21 12:00,
#   just before Binance's 14:00-18:00 outage (NFI has a zero-volume 14:00 bar; the 2h
#   kline has trades up to 22,774 that no 1h bar has), the 2021-01-11 crash, and
#   2021-04-22/23 (between the 04-20 and 04-25 outages), where the 00:00-02:00 2h bar
#   has three different volumes: 5m sum 16,564.8, 1h sum 16,933.4, 2h kline 17,081.0.
#   Sky1241's 2h and 1d files agree with each other on all 2,911 complete days.
# - alpergulsen's USD-M 5m bar of 2023-08-16 15:40 has final OHLC but less volume than
#   its five 1m bars, for BTC and ETH alike: a candle stored seconds before it closed.
REAL_PAIRS = [
    ("binance-spot_BTC-USDT_1h__lean", "1h", "binance-spot_BTC-USDT_2h__sky1241", "2h", 59, []),
    ("binance-spot_BTC-USDT_1h__octobot", "1h", "binance-spot_BTC-USDT_2h__sky1241", "2h", 499, []),
    (
        "binance-spot_BTC-USDT_1h__nfi",
        "1h",
        "binance-spot_BTC-USDT_2h__sky1241",
        "2h",
        2738,
        ["2020-12-21 12:00", "2021-01-11 08:00", "2021-04-23 00:00"],
    ),
    (
        "binance-spot_BTC-USDT_5m__nfi",
        "5m",
        "binance-spot_BTC-USDT_1h__nfi",
        "1h",
        5475,
        ["2021-04-22 02:00", "2021-04-23 01:00", "2021-04-23 02:00"],
    ),
    (
        "binance-spot_ETH-USDT_5m__nfi",
        "5m",
        "binance-spot_ETH-USDT_1h__nfi",
        "1h",
        5475,
        ["2021-04-22 02:00", "2021-04-23 01:00", "2021-04-23 02:00"],
    ),
    ("binance-spot_BTC-USDT_1h__octobot", "1h", "binance-spot_BTC-USDT_4h__octobot", "4h", 249, []),
    ("binance-spot_ETH-USDT_1h__octobot", "1h", "binance-spot_ETH-USDT_4h__octobot", "4h", 249, []),
    ("binance-spot_BTC-USDT_1h__octobot", "1h", "binance-spot_BTC-USDT_1d__octobot", "1d", 40, []),
    ("binance-spot_ETH-USDT_1h__octobot", "1h", "binance-spot_ETH-USDT_1d__octobot", "1d", 40, []),
    ("binance-spot_BTC-USDT_1h__octobot", "1h", "binance-spot_BTC-USDT_1d__sky1241", "1d", 40, []),
    (
        "binance-spot_BTC-USDT_1h__nfi",
        "1h",
        "binance-spot_BTC-USDT_1d__sky1241",
        "1d",
        222,
        ["2021-01-11 00:00", "2021-04-23 00:00"],
    ),
    (
        "binance-spot_BTC-USDT_2h__sky1241",
        "2h",
        "binance-spot_BTC-USDT_1d__sky1241",
        "1d",
        2911,
        [],
    ),
    ("binance-spot_BTC-USDT_2h__sky1241", "2h", "binance-spot_BTC-USDT_4h__octobot", "4h", 997, []),
    ("binance-spot_BTC-USDT_4h__octobot", "4h", "binance-spot_BTC-USDT_1d__octobot", "1d", 164, []),
    ("binance-spot_ETH-USDT_4h__octobot", "4h", "binance-spot_ETH-USDT_1d__octobot", "1d", 164, []),
    (
        "binance-spot_BTC-USDT_15m__octobot",
        "15m",
        "binance-spot_BTC-USDT_1h__octobot",
        "1h",
        249,
        [],
    ),
    (
        "binance-spot_ETH-USDT_15m__octobot",
        "15m",
        "binance-spot_ETH-USDT_1h__octobot",
        "1h",
        249,
        [],
    ),
    (
        "binance-spot_BTC-USDT_5m__octobot",
        "5m",
        "binance-spot_BTC-USDT_15m__octobot",
        "15m",
        332,
        [],
    ),
    (
        "binance-spot_ETH-USDT_5m__octobot",
        "5m",
        "binance-spot_ETH-USDT_15m__octobot",
        "15m",
        332,
        [],
    ),
    ("binance-spot_BTC-USDT_1m__octobot", "1m", "binance-spot_BTC-USDT_5m__octobot", "5m", 199, []),
    ("binance-spot_ETH-USDT_1m__octobot", "1m", "binance-spot_ETH-USDT_5m__octobot", "5m", 199, []),
    ("binance-spot_BTC-USDT_1d__octobot", "1d", "binance-spot_BTC-USDT_1d__sky1241", "1d", 305, []),
    (
        "binance-usdm_BTC-USDT-PERP_1m__alpergulsen",
        "1m",
        "binance-usdm_BTC-USDT-PERP_5m__alpergulsen",
        "5m",
        8638,
        ["2023-08-16 15:40"],
    ),
    (
        "binance-usdm_ETH-USDT-PERP_1m__alpergulsen",
        "1m",
        "binance-usdm_ETH-USDT-PERP_5m__alpergulsen",
        "5m",
        12811,
        ["2023-08-16 15:40"],
    ),
    (
        "binance-usdm_BTC-USDT-PERP_5m__alpergulsen",
        "5m",
        "binance-usdm_BTC-USDT-PERP_1h__alpergulsen",
        "1h",
        1053,
        [],
    ),
]


@pytest.mark.parametrize(
    ("source", "source_tf", "reference", "target_tf", "overlap", "known_bad"),
    REAL_PAIRS,
    ids=[f"{p[0]}->{p[2]}" for p in REAL_PAIRS],
)
def test_resampled_real_bars_equal_the_exchanges_own(
    shared_data, source, source_tf, reference, target_tf, overlap, known_bad
):
    src = load(shared_data, source).iloc[:-1]
    ref = load(shared_data, reference).iloc[:-1]
    out, report = resample_frame(src, source_tf, target_tf)
    assert report.bars_out == len(out)
    assert report.dropped == report.incomplete
    both = out.merge(ref, on="timestamp", suffixes=("", "_ref"))
    assert len(both) == overlap
    same_prices = (both[OHLC].to_numpy() == both[[f"{c}_ref" for c in OHLC]].to_numpy()).all(1)
    same_volume = np.isclose(both["volume"], both["volume_ref"], rtol=1e-9, atol=0.0)
    bad = both.loc[~(same_prices & same_volume), "timestamp"]
    assert sorted(bad) == [ms(t) for t in known_bad]


def test_weekly_and_monthly_bars_from_real_daily_bars(shared_data):
    daily = load(shared_data, "binance-spot_BTC-USDT_1d__sky1241")  # 2017-08-17 .. 2025-08-26
    weekly, wrep = resample_frame(daily, "1d", "1w")
    monthly, mrep = resample_frame(daily, "1d", "1M")
    t = pd.to_datetime(daily["timestamp"], unit="ms", utc=True).dt.tz_localize(None)
    agg = {"timestamp": "first", "open": "first", "high": "max", "low": "min"}
    agg |= {"close": "last", "volume": "sum"}
    for out, period, days in ((weekly, "W-SUN", None), (monthly, "M", t.dt.days_in_month)):
        key = t.dt.to_period(period)
        oracle = daily.assign(key=key).groupby("key").agg(agg | {"key": "size"})
        oracle["timestamp"] = [int(p.start_time.value // 1_000_000) for p in oracle.index]
        full = oracle["key"] == (7 if days is None else days.groupby(key).first())
        expected = oracle[full].reset_index(drop=True).drop(columns="key")
        pd.testing.assert_frame_equal(out, expected, check_exact=False, rtol=1e-12)
    # Weeks open on Monday; Thursday 2017-08-17 and Tuesday 2025-08-26 leave partial weeks.
    assert (pd.to_datetime(weekly["timestamp"], unit="ms").dt.day_of_week == 0).all()
    assert (weekly["timestamp"].iloc[0], wrep.incomplete) == (ms("2017-08-21"), 2)
    assert wrep.incomplete_ms == (ms("2017-08-14"), ms("2025-08-25"))
    assert (monthly["timestamp"].iloc[[0, -1]].tolist(), len(monthly)) == (
        [ms("2017-09-01"), ms("2025-07-01")],
        95,
    )
    assert mrep.incomplete_ms == (ms("2017-08-01"), ms("2025-08-01"))
    by_month = monthly.set_index(pd.to_datetime(monthly["timestamp"], unit="ms"))
    assert by_month.loc["2021-11-01", "high"] == 69_000.0
    assert by_month.loc["2020-03-01", "low"] == 3_782.13
    assert by_month.loc["2025-07-01", "high"] == 123_218.0
    assert weekly.set_index("timestamp").loc[ms("2021-11-08"), "high"] == 69_000.0


def test_a_month_is_complete_only_with_every_calendar_day(shared_data):
    daily = load(shared_data, "binance-spot_BTC-USDT_1d__sky1241")
    year = daily[(daily.timestamp >= ms("2020-01-01")) & (daily.timestamp < ms("2021-01-01"))]
    out, report = resample_frame(year, "1d", "1M", partial="raise")  # 2020-02 has 29 days
    assert (len(out), report.incomplete) == (12, 0)
    leap_day_missing = year[year.timestamp != ms("2020-02-29")]
    with pytest.raises(DataError, match=r"1M bar at 2020-02-01 00:00 UTC .*28 of 29 1d bars"):
        resample_frame(leap_day_missing, "1d", "1M", partial="raise")
    out, report = resample_frame(leap_day_missing, "1d", "1M")
    assert report.incomplete_ms == (ms("2020-02-01"),)
    assert len(out) == 11


def test_months_over_real_holes_are_incomplete(shared_data):
    bars_2h = load(shared_data, "binance-spot_BTC-USDT_2h__sky1241")
    kept, report = resample_frame(bars_2h, "2h", "1M", partial="keep")
    kept = kept.set_index("timestamp")
    # February 2018 lost 16 of its 28 × 12 two-hour bars to the 2018-02-08 outage.
    assert ms("2018-02-01") in report.incomplete_ms
    feb = bars_2h[(bars_2h.timestamp >= ms("2018-02-01")) & (bars_2h.timestamp < ms("2018-03-01"))]
    assert len(feb) == 28 * 12 - 16
    assert kept.loc[ms("2018-02-01"), "volume"] == pytest.approx(feb["volume"].sum(), rel=1e-12)
    dropped, _ = resample_frame(bars_2h, "2h", "1M")
    assert ms("2018-02-01") not in set(dropped["timestamp"])
    assert ms("2018-03-01") in set(dropped["timestamp"])  # 31 × 12 bars, none missing


# -- partial bars -----------------------------------------------------------------------


def holey_frame() -> pd.DataFrame:
    """1h bars from 01:00 (partial first 4h bar) to 15:00, without 09:00."""
    hours = [h for h in range(1, 16) if h != 9]
    return candles([ms("2024-01-01") + h * H for h in hours])


def test_drop_leaves_out_edge_bars_and_bars_over_holes():
    frame = holey_frame()
    out, report = resample_frame(frame, "1h", "4h")
    assert list(out["timestamp"]) == [ms("2024-01-01 04:00"), ms("2024-01-01 12:00")]
    assert report.incomplete_ms == (ms("2024-01-01 00:00"), ms("2024-01-01 08:00"))
    assert (report.bars_in, report.bars_out, report.incomplete, report.dropped) == (14, 2, 2, 2)
    four = frame.iloc[3:7]  # 04:00 .. 07:00
    row = out.iloc[0]
    assert row["open"] == four["open"].iloc[0]
    assert row["close"] == four["close"].iloc[-1]
    assert row["high"] == four["high"].max()
    assert row["low"] == four["low"].min()
    assert row["volume"] == four["volume"].sum()


def test_keep_aggregates_the_constituents_present():
    frame = holey_frame()
    out, report = resample_frame(frame, "1h", "4h", partial="keep")
    assert len(out) == 4
    assert report.dropped == 0
    assert report.incomplete == 2
    first = out.iloc[0]  # 01:00, 02:00, 03:00 of 00:00-04:00
    assert first["timestamp"] == ms("2024-01-01")
    assert first["open"] == frame["open"].iloc[0]
    assert first["close"] == frame["close"].iloc[2]
    assert out["volume"].sum() == frame["volume"].sum()


def test_raise_names_the_first_incomplete_bar():
    with pytest.raises(DataError, match=r"4h bar at 2024-01-01 00:00 UTC .*3 of 4 1h bars"):
        resample_frame(holey_frame(), "1h", "4h", partial="raise")
    complete = holey_frame().iloc[3:7]
    out, report = resample_frame(complete, "1h", "4h", partial="raise")
    assert len(out) == 1
    assert report.incomplete == 0


def test_filled_only_when_every_present_constituent_is_filled():
    frame = candles([ms("2024-01-01") + h * H for h in range(12)])
    frame["filled"] = [True] * 4 + [True, False, True, True] + [False] * 4
    out, _ = resample_frame(frame, "1h", "4h")
    assert list(out.columns) == ["timestamp", *FIELDS, "filled"]
    assert out["filled"].tolist() == [True, False, False]
    partial = frame.drop(index=[1])  # the others of the first bar are still all filled
    kept, _ = resample_frame(partial, "1h", "4h", partial="keep")
    assert kept["filled"].tolist() == [True, False, False]


def test_bad_input_is_rejected():
    frame = holey_frame()
    with pytest.raises(ConfigError, match="partial"):
        resample_frame(frame, "1h", "4h", partial="ignore")
    with pytest.raises(DataError, match="not a 1h bar open"):
        resample_frame(frame.assign(timestamp=frame["timestamp"] + 60_000), "1h", "4h")
    with pytest.raises(DataError, match="strictly increasing"):
        resample_frame(frame.iloc[::-1], "1h", "4h")
    with pytest.raises(DataError, match="volume"):
        resample_frame(frame.drop(columns="volume"), "1h", "4h")
    empty, report = resample_frame(frame.iloc[:0], "1h", "4h")
    assert empty.empty
    assert report.bars_out == 0


@pytest.mark.parametrize(
    ("source", "target"),
    [("1h", "90m"), ("2h", "3h"), ("1h", "30m"), ("2d", "1w"), ("1w", "1M"), ("7m", "1h")],
)
def test_target_not_made_of_whole_source_bars_is_a_config_error(source, target):
    frame = candles([0, 7 * 86_400_000 * 4])
    with pytest.raises(ConfigError) as info:
        resample_frame(frame, source, target)
    assert source in str(info.value)
    assert target in str(info.value)


# -- properties on generated candles ----------------------------------------------------


@st.composite
def minute_candles(draw) -> pd.DataFrame:
    start = draw(st.integers(0, 10_000)) * 60_000
    present = draw(st.lists(st.booleans(), min_size=1, max_size=240))
    ts = start + np.flatnonzero(present) * 60_000
    if len(ts) == 0:
        ts = np.array([start])
    frame = candles(ts, seed=draw(st.integers(0, 2**32 - 1)))
    return frame.assign(filled=draw(st.lists(st.booleans(), min_size=len(ts), max_size=len(ts))))


@settings(max_examples=150, deadline=None)
@given(frame=minute_candles())
def test_resampled_candles_are_valid_and_keep_volume(frame):
    for partial in ("keep", "drop"):
        out, report = resample_frame(frame, "1m", "5m", partial=partial)
        assert (out["high"] >= out[["open", "close"]].max(axis=1)).all()
        assert (out["low"] <= out[["open", "close"]].min(axis=1)).all()
        groups = frame["timestamp"] - frame["timestamp"] % 300_000
        kept = groups.isin(out["timestamp"])
        assert out["volume"].sum() == frame.loc[kept, "volume"].sum()
        sizes = groups.value_counts()
        assert report.incomplete == int((sizes < 5).sum())
        if partial == "keep":
            assert len(out) == len(sizes)
        else:
            assert set(out["timestamp"]) == set(sizes.index[sizes == 5])


@settings(max_examples=150, deadline=None)
@given(frame=minute_candles())
def test_resampling_in_steps_equals_resampling_at_once(frame):
    direct, _ = resample_frame(frame, "1m", "15m")
    five, _ = resample_frame(frame, "1m", "5m")
    stepped, _ = resample_frame(five, "5m", "15m")
    pd.testing.assert_frame_equal(stepped, direct, check_exact=True)


@settings(max_examples=60, deadline=None)
@given(frame=minute_candles(), partial=st.sampled_from(["drop", "keep"]))
def test_single_symbol_bars_resample_like_the_frame(frame, partial):
    out, _ = resample_frame(frame, "1m", "15m", partial=partial)
    bars = resample_bars(Bars.from_frame(frame, "BTC/USDT", "1m"), "15m", partial=partial)
    assert bars.timeframe == "15m"
    pd.testing.assert_frame_equal(bars.to_pandas().reset_index(drop=True), out.iloc[:, 1:])
    assert np.array_equal(bars.index, out["timestamp"].to_numpy())


# -- resample_bars with symbols listed at different times -------------------------------


def two_symbols() -> Bars:
    """BTC 1h bars 00:00-11:00; ETH listed at 06:00 (NaN before), both complete after."""
    ts = [ms("2024-01-01") + h * H for h in range(12)]
    btc, eth = candles(ts, 1), candles(ts, 2)
    eth.loc[:5, OHLC] = np.nan
    eth.loc[:5, "volume"] = 0.0
    eth["filled"] = np.arange(len(eth)) <= 5  # not listed yet: no market, flagged
    return Bars.stack(
        [Bars.from_frame(btc, "BTC/USDT", "1h"), Bars.from_frame(eth, "ETH/USDT", "1h")]
    )


def test_resample_bars_blanks_partial_cells_under_drop():
    bars = two_symbols()
    out = resample_bars(bars, "4h")
    assert list(out.index) == [ms("2024-01-01") + h * H for h in (0, 4, 8)]
    # ETH had nothing in 00:00-04:00 and half of 04:00-08:00: both cells blank and flagged.
    assert np.isnan(out.close[:2, 1]).all()
    assert out.filled[:2, 1].all()
    assert (out.volume[:2, 1] == 0).all()
    assert not out.filled[:, 0].any()
    assert not np.isnan(out.close[:, 0]).any()
    assert out.close[2, 1] == bars.close[11, 1]
    assert out.open[2, 1] == bars.open[8, 1]
    assert out.high[2, 1] == bars.high[8:, 1].max()


def test_resample_bars_drops_rows_no_symbol_completes():
    bars = two_symbols()[1:]  # 00:00-04:00 now incomplete for BTC too
    out = resample_bars(bars, "4h")
    assert list(out.index) == [ms("2024-01-01") + h * H for h in (4, 8)]


def test_resample_bars_keep_and_raise():
    bars = two_symbols()
    kept = resample_bars(bars, "4h", partial="keep")
    assert kept.open[1, 1] == bars.open[6, 1]
    assert kept.low[1, 1] == bars.low[6:8, 1].min()
    assert not kept.filled[1, 1]
    assert kept.filled[0, 1]
    assert np.isnan(kept.close[0, 1])
    with pytest.raises(DataError, match=r"ETH/USDT 4h bar at 2024-01-01 04:00 UTC .*2 of 4"):
        resample_bars(bars, "4h", partial="raise")
    not_listed = resample_bars(bars[:4], "4h", partial="raise")  # ETH absent, not partial
    assert not_listed.n_bars == 1
    assert np.isnan(not_listed.close[0, 1])
    assert not_listed.filled[0, 1]
    with pytest.raises(ConfigError, match=r"1h.*90m|90m.*1h"):
        resample_bars(bars, "90m")


def test_aligned_real_symbols_resample_to_the_exchanges_4h_bars(shared_data):
    parts = [
        Bars.from_frame(load(shared_data, f"binance-spot_{s}-USDT_1h__octobot"), f"{s}/USDT", "1h")
        for s in ("BTC", "ETH")
    ]
    four = resample_bars(align(parts)[:-1], "4h")
    for j, s in enumerate(("BTC", "ETH")):
        ref = load(shared_data, f"binance-spot_{s}-USDT_4h__octobot").set_index("timestamp")
        ref = ref.loc[four.index]
        for c in OHLC:
            assert np.array_equal(getattr(four, c)[:, j], ref[c].to_numpy())
        assert np.allclose(four.volume[:, j], ref["volume"], rtol=1e-12, atol=0)
    assert four.n_bars == 249


# -- align ------------------------------------------------------------------------------


def hourly(symbol: str, hours: list[int], seed: int) -> Bars:
    return Bars.from_frame(candles([h * H for h in hours], seed), symbol, "1h", exchange="x")


def test_align_outer_synthesises_flagged_bars():
    a, b = hourly("A/USDT", [0, 1, 2, 4, 5], 1), hourly("B/USDT", [2, 3, 4, 6], 2)
    out = align([a, b])
    assert list(out.index) == [h * H for h in range(7)]
    assert out.symbols == ("A/USDT", "B/USDT")
    assert out.exchange == "x"
    real_a, real_b = [0, 1, 2, 4, 5], [2, 3, 4, 6]
    assert out.filled[:, 0].tolist() == [h not in real_a for h in range(7)]
    assert out.filled[:, 1].tolist() == [h not in real_b for h in range(7)]
    for name in FIELDS:
        assert np.array_equal(getattr(out, name)[real_a, 0], getattr(a, name)[:, 0])
        assert np.array_equal(getattr(out, name)[real_b, 1], getattr(b, name)[:, 0])
    for row, col, prev in ((3, 0, a.close[2, 0]), (6, 0, a.close[4, 0]), (5, 1, b.close[2, 0])):
        assert [getattr(out, c)[row, col] for c in OHLC] == [prev] * 4
        assert out.volume[row, col] == 0.0
    # Before B's first bar: not listed yet.
    assert np.isnan(out.close[:2, 1]).all()
    assert np.isnan(out.high[:2, 1]).all()
    assert (out.volume[:2, 1] == 0).all()
    trimmed = align([a, b], trim=True)
    assert trimmed.index[0] == 2 * H
    assert trimmed.n_bars == 5
    assert np.array_equal(trimmed.close, out.close[2:])
    holes = align([a, b], fill="nan")
    assert np.isnan(holes.close[[3, 6], 0]).all()
    assert holes.filled[3, 0]


def test_align_inner_keeps_common_timestamps():
    a, b = hourly("A/USDT", [0, 1, 2, 4, 5], 1), hourly("B/USDT", [2, 3, 4, 6], 2)
    out = align([a, b], how="inner")
    assert list(out.index) == [2 * H, 4 * H]
    assert not out.filled.any()
    assert np.array_equal(out.close[:, 0], a.close[[2, 3], 0])
    assert np.array_equal(out.close[:, 1], b.close[[0, 2], 0])


def test_align_keeps_nan_before_listing_through_multi_symbol_parts():
    a, b = hourly("A/USDT", [0, 1, 2, 4, 5], 1), hourly("B/USDT", [2, 3, 4, 6], 2)
    c = hourly("C/USDT", [7], 3)
    out = align([align([a, b]), c])
    assert out.symbols == ("A/USDT", "B/USDT", "C/USDT")
    assert out.n_bars == 8
    assert np.isnan(out.close[:2, 1]).all()
    assert out.close[7, 1] == b.close[3, 0]
    assert np.isnan(out.close[:7, 2]).all()
    assert out.filled[:7, 2].all()
    assert align([align([a, b]), c], trim=True).n_bars == 1


def test_align_rejects_bad_parts():
    a = hourly("A/USDT", [0, 1], 1)
    daily = Bars.from_frame(candles([0, 86_400_000]), "B/USDT", "1d")
    with pytest.raises(DataError, match="timeframes"):
        align([a, daily])
    with pytest.raises(DataError, match="A/USDT"):
        align([a, hourly("A/USDT", [2], 2)])
    with pytest.raises(ConfigError):
        align([])
    with pytest.raises(ConfigError, match="how"):
        align([a], how="left")
