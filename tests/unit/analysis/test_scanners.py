"""The volatility-breakout scanner: a planted breakout, the March 2020 crash, a scan of a store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grekko_research.analysis.scanners import vol_breakout_scan, vol_breakouts
from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.errors import ConfigError, DataError


def _quiet_then_jump(n: int = 120, jump_at: int = 100, jump: float = 5.0) -> pd.DataFrame:
    close = 100 + 0.5 * np.sin(np.arange(n) * 0.7)  # a range: highs/lows of +-0.5 around 100
    close[jump_at:] += jump
    return pd.DataFrame({"high": close + 0.2, "low": close - 0.2, "close": close})


def test_planted_breakout_is_the_only_event() -> None:
    f = _quiet_then_jump()
    ev = vol_breakouts(f["high"], f["low"], f["close"], window=20, k=2.0, lookback=50)
    assert list(ev["bar"]) == [100] and ev["direction"].iat[0] == "up"
    assert ev["tr_atr"].iat[0] > 2.0 and ev["channel_edge"].iat[0] == pytest.approx(100.7, abs=0.01)
    down = _quiet_then_jump(jump=-5.0)
    assert list(vol_breakouts(down["high"], down["low"], down["close"])["direction"]) == ["down"]
    # the same exit from the channel without enough range expansion is no volatility breakout
    strict = vol_breakouts(f["high"], f["low"], f["close"], k=float(ev["tr_atr"].iat[0]) * 1.01)
    assert strict.empty


def test_breakouts_are_causal(btc_daily_frame: pd.DataFrame) -> None:
    f = btc_daily_frame
    h, lo, c = (f[k].to_numpy(float) for k in ("high", "low", "close"))
    full = vol_breakouts(h, lo, c)
    for cut in (500, 1200, 2000):
        part = vol_breakouts(h[:cut], lo[:cut], c[:cut])
        pd.testing.assert_frame_equal(part, full[full["bar"] < cut].reset_index(drop=True))
    # Every event must survive any future: rewrite the bars after it (x3, /3) and it stays.
    for i, b in enumerate(full["bar"]):
        scale = np.ones(len(c))
        scale[b + 1 :] = 3.0 if i % 2 else 1 / 3
        moved = vol_breakouts(h * scale, lo * scale, c * scale)
        pd.testing.assert_frame_equal(
            moved[moved["bar"] <= b].reset_index(drop=True),
            full[full["bar"] <= b].reset_index(drop=True),
        )


@pytest.fixture(scope="module")
def btc_daily_frame(shared: Path) -> pd.DataFrame:
    return pd.read_csv(shared / "ohlcv" / "binance-spot_BTC-USDT_1d__sky1241.csv.gz")


def test_real_crashes_are_down_breakouts(btc_daily_frame: pd.DataFrame) -> None:
    f = btc_daily_frame
    ix = pd.to_datetime(f["timestamp"], unit="ms", utc=True)
    ev = vol_breakouts(f["high"], f["low"], f["close"], ix).set_index("time")
    for day in ("2020-03-12", "2021-05-19"):
        row = ev.loc[pd.Timestamp(day, tz="UTC")]
        assert row["direction"] == "down" and row["tr_atr"] > 3.0, day
    # The two largest range expansions: the 2019-04-02 pump (+20 % in a day, out of the
    # tightest squeeze) and the 2020-03-12 crash.
    top = ev.sort_values("tr_atr").tail(2)
    assert [str(t)[:10] for t in top.index] == ["2020-03-12", "2019-04-02"]
    assert top["direction"].tolist() == ["down", "up"] and top["squeeze_pct"].iat[1] < 0.05


def test_scan_over_a_store(tmp_path: Path, btc_daily_frame: pd.DataFrame) -> None:
    store = ParquetStore(tmp_path)
    crash = btc_daily_frame[btc_daily_frame["timestamp"] < 1584057600000]  # through 2020-03-12
    store.write(SeriesKey.make("binance", "BTC/USDT", "1d"), crash)
    quiet = _quiet_then_jump(jump=0.0).assign(open=100.0, volume=1.0)
    quiet["timestamp"] = 1_600_000_000_000 + np.arange(len(quiet)) * 86_400_000
    store.write(SeriesKey.make("binance", "ETH/USDT", "1d"), quiet)
    scan = vol_breakout_scan(store, "1d")
    assert list(scan["series"]) == [SeriesKey.make("binance", "BTC/USDT", "1d").label()]
    assert scan["direction"].iat[0] == "down" and scan["bars_since"].iat[0] == 0
    with pytest.raises(DataError, match="no candle series of 4h"):
        vol_breakout_scan(store, "4h")
    with pytest.raises(ConfigError, match="k must be > 0"):
        vol_breakouts([1.0], [1.0], [1.0], k=0)
