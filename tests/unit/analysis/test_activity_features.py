"""Activity detectors as causal bar features: order flow (bars, trades), bot footprints,
sandwiches; and the lookahead check over every registered feature, which catches each one made
leaky."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from grekko_research.analysis.book import spoofing_candidates
from grekko_research.analysis.captures import OrderBookCapture, Trades
from grekko_research.analysis.features import (
    FEATURES,
    BookFeatureParams,
    BvcParams,
    Feature,
    SandwichParams,
    Sources,
    TradeFlowParams,
    bar_closes,
    book_sources,
    check_feature,
    sandwich_sources,
    trade_sources,
)
from grekko_research.analysis.flow import TRADE_FIELDS
from grekko_research.analysis.mev import Swaps, read_swaps, sandwiches
from grekko_research.analysis.regimes import HmmParams
from grekko_research.data.bars import Bars
from tests.unit.analysis.conftest import BTC_SPOT
from tests.unit.analysis.test_features import leaky, trade_bars

POOL = "ethereum-0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640-2024-01-05.raw.csv.gz"
SMALL_HMM = HmmParams(n_states=2, vol_window=10, train=300, min_train=200, refit=100, n_iter=20)


def _bars(close: np.ndarray, volume: np.ndarray, tf: str = "1h") -> Bars:
    n = len(close)
    frame = pd.DataFrame(
        {
            "timestamp": 1_700_000_000_000
            - 1_700_000_000_000 % 3_600_000
            + np.arange(n) * 3_600_000,
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "volume": volume,
        }
    )
    return Bars.from_frame(frame, "X/USDT", tf)


# -- bulk volume classification ---------------------------------------------------------------


def test_bvc_reads_buying_and_selling_from_bars() -> None:
    """Noise, then a run of up bars on volume, then down bars: the imbalance follows."""
    rng = np.random.default_rng(3)
    steps = np.r_[rng.normal(0, 1, 200), np.full(20, 3.0), np.full(20, -3.0)]
    close = 1000 + np.cumsum(steps)
    volume = np.r_[np.full(200, 10.0), np.full(40, 50.0)]
    out = FEATURES["bvc_flow"].compute(_bars(close, volume), BvcParams(50, 10), Sources())[:, 0]
    assert np.isnan(out[:60]).all() and np.isfinite(out[60:]).all()
    assert out[219] > 0.9  # ten up bars at 3 sigma each
    assert out[239] < -0.7  # less extreme: the up run widened sigma
    assert abs(np.mean(out[60:200])) < 0.2  # noise: no persistent side


def test_bvc_by_value(btc_daily: Bars) -> None:
    p = BvcParams(sigma_window=20, flow_window=5)
    out = FEATURES["bvc_flow"].compute(btc_daily, p, Sources())[:, 0]
    c, v = btc_daily.close[:, 0], btc_daily.volume[:, 0]
    d = np.diff(c, prepend=np.nan)
    t = 1000
    num = 0.0
    for u in range(t - 4, t + 1):
        sd = np.std(d[u - 20 : u])
        num += v[u] * math.erf(d[u] / sd / math.sqrt(2))
    assert out[t] == pytest.approx(num / v[t - 4 : t + 1].sum(), rel=1e-9)


# -- trades: taker imbalance and bot footprints per bar ---------------------------------------


@pytest.fixture(scope="module")
def trade_case(captures: dict[str, OrderBookCapture]) -> tuple[Bars, Sources, Trades]:
    cap = captures[BTC_SPOT]
    assert cap.trades is not None
    return trade_bars(cap), trade_sources({"BTC/USDT": cap.trades}), cap.trades


@pytest.mark.parametrize("name", TRADE_FIELDS)
def test_trade_features_are_causal(name: str, trade_case: tuple[Bars, Sources, Trades]) -> None:
    bars, sources, _ = trade_case
    check_feature(FEATURES["trade_flow"], bars, TradeFlowParams(name), sources).raise_for_failures()


def test_trade_features_by_value(trade_case: tuple[Bars, Sources, Trades]) -> None:
    bars, sources, trades = trade_case
    got = {
        f: FEATURES["trade_flow"].compute(bars, TradeFlowParams(f), sources)[:, 0]
        for f in TRADE_FIELDS
    }
    known = trades.local_ts // 1_000_000
    closes = bar_closes(bars)
    for t in (5, 30, 60):
        inside = (known > bars.index[t]) & (known <= closes[t])
        q, sell = trades.qty[inside], trades.buyer_maker[inside]
        assert got["trades"][t] == inside.sum() > 0
        want = (q[~sell].sum() - q[sell].sum()) / q.sum()
        assert got["imbalance"][t] == pytest.approx(want, rel=1e-12)
        idx = np.flatnonzero(inside)
        gaps = (trades.trade_ts[idx] - trades.trade_ts[idx - 1]).astype(float)
        assert got["same_ms_share"][t] == pytest.approx(np.mean(gaps == 0))
        assert got["interval_cv"][t] == pytest.approx(gaps.std() / gaps.mean(), rel=1e-9)
        rounds = np.abs(q * 1e3 - np.round(q * 1e3)) < 1e-6
        assert got["round_share"][t] == pytest.approx(rounds.mean())
    # what it shows on the real capture: bursts (CV > 1) and sweeps in most bars
    assert np.nanmedian(got["interval_cv"]) > 1.0
    assert np.nanmedian(got["same_ms_share"]) > 0.3


def test_trade_feature_is_nan_before_the_stream(trade_case: tuple[Bars, Sources, Trades]) -> None:
    bars, sources, _ = trade_case
    earlier = Bars.from_frame(
        pd.DataFrame(
            {
                "timestamp": bars.index[0] - 10_000 * np.arange(5, 0, -1),
                **{f: np.full(5, 60_000.0) for f in ("open", "high", "low", "close")},
                "volume": np.ones(5),
            }
        ),
        "BTC/USDT",
        "10s",
    )
    out = FEATURES["trade_flow"].compute(earlier, TradeFlowParams("trades"), sources)[:, 0]
    assert np.isnan(out).all()  # unknown, not zero trades


# -- sandwiches per window --------------------------------------------------------------------


def _ms(times: pd.Series) -> np.ndarray:
    return (
        pd.to_datetime(times, utc=True)
        .dt.tz_localize(None)
        .to_numpy("datetime64[ms]")
        .astype(np.int64)
    )


def pool_bars(swaps: Swaps, minutes: int = 5) -> Bars:
    """``minutes`` bars of the pool's WETH price (USDC per WETH), volume in WETH."""
    f = swaps.frame
    ts = _ms(f["time"])
    frame = pd.DataFrame({"ts": ts, "price": f["price"], "qty": f["amount1"].abs()})
    step = minutes * 60_000
    frame["bar"] = frame["ts"] - frame["ts"] % step
    g = frame.groupby("bar")
    ohlcv = pd.DataFrame(
        {
            "open": g["price"].first(),
            "high": g["price"].max(),
            "low": g["price"].min(),
            "close": g["price"].last(),
            "volume": g["qty"].sum(),
        }
    )
    grid = np.arange(ohlcv.index[0], ohlcv.index[-1] + 1, step)
    ohlcv = ohlcv.reindex(grid)
    ohlcv["close"] = ohlcv["close"].ffill()
    for c in ("open", "high", "low"):
        ohlcv[c] = ohlcv[c].fillna(ohlcv["close"])
    ohlcv["volume"] = ohlcv["volume"].fillna(0.0)
    return Bars.from_frame(ohlcv.rename_axis("timestamp").reset_index(), "WETH/USDC", f"{minutes}m")


@pytest.fixture(scope="module")
def sandwich_case(shared: Path) -> tuple[Bars, Sources, pd.DataFrame]:
    swaps = read_swaps(shared / "uniswap" / POOL)
    found = sandwiches(swaps)
    return pool_bars(swaps), sandwich_sources({"WETH/USDC": found}), found


@pytest.mark.parametrize("field", ["count", "profit0"])
def test_sandwich_feature_is_causal(
    field: str, sandwich_case: tuple[Bars, Sources, pd.DataFrame]
) -> None:
    bars, sources, _ = sandwich_case
    params = SandwichParams(window=12, field=field)
    check_feature(FEATURES["sandwiches"], bars, params, sources, cuts=8).raise_for_failures()


def test_sandwich_feature_by_value(sandwich_case: tuple[Bars, Sources, pd.DataFrame]) -> None:
    bars, sources, found = sandwich_case
    count = FEATURES["sandwiches"].compute(bars, SandwichParams(12, "count"), sources)[:, 0]
    profit = FEATURES["sandwiches"].compute(bars, SandwichParams(12, "profit0"), sources)[:, 0]
    when = _ms(found["time"])
    closes = bar_closes(bars)
    for t in range(bars.n_bars):
        inside = (when > closes[t] - 12 * 300_000) & (when <= closes[t])
        assert count[t] == inside.sum()
        assert profit[t] == pytest.approx(found["profit0"].to_numpy()[inside].sum(), abs=1e-6)
    assert count.max() >= 2  # the day's 14 sandwiches, some within an hour of each other


# -- the lookahead check over every registered feature ----------------------------------------


@pytest.fixture(scope="module")
def cases(
    btc_daily: Bars,
    captures: dict[str, OrderBookCapture],
    replays: dict[str, Any],
    trade_case: tuple[Bars, Sources, Trades],
    sandwich_case: tuple[Bars, Sources, pd.DataFrame],
) -> dict[str, tuple[Bars, Any, Sources]]:
    """Real data and parameters for every registered feature."""
    tbars, tsources, _ = trade_case
    cap = captures[BTC_SPOT]
    book = book_sources(
        {"BTC/USDT": replays[BTC_SPOT]},
        {"BTC/USDT": spoofing_candidates(replays[BTC_SPOT], cap.trades)},
    )
    sbars, ssources, _ = sandwich_case
    daily = ("wyckoff_phase", "bars_since_bull_trap", "bars_since_capitulation", "amihud")
    out: dict[str, tuple[Bars, Any, Sources]] = {
        n: (btc_daily, FEATURES[n].Params(), Sources()) for n in daily
    }
    out["vol_regime"] = (btc_daily, FEATURES["vol_regime"].Params(lookback=250), Sources())
    out["vol_breakout"] = (btc_daily, FEATURES["vol_breakout"].Params(), Sources())
    out["bvc_flow"] = (btc_daily, BvcParams(), Sources())
    out["hmm_regime"] = (btc_daily[:700], SMALL_HMM, Sources())
    out["book"] = (tbars, BookFeatureParams("ofi"), book)
    out["trade_flow"] = (tbars, TradeFlowParams("imbalance"), tsources)
    out["sandwiches"] = (sbars, SandwichParams(), ssources)
    return out


def test_every_feature_has_a_case(cases: dict[str, tuple[Bars, Any, Sources]]) -> None:
    assert set(cases) == set(FEATURES), "a registered feature without a real-data case here"


@pytest.mark.parametrize("name", sorted(FEATURES))
def test_every_feature_is_causal_and_a_leaky_copy_is_caught(
    name: str, cases: dict[str, tuple[Bars, Any, Sources]]
) -> None:
    bars, params, sources = cases[name]
    cuts = 3 if name == "hmm_regime" else 6
    check_feature(FEATURES[name], bars, params, sources, cuts=cuts).raise_for_failures()
    out = FEATURES[name].compute(bars, params, sources)
    assert np.isfinite(out).sum() >= bars.n_bars // 3, "mostly NaN: a vacuous pass"
    if name == "sandwiches":  # sparse events: a one-bar shift may miss every cut; use a day
        bad = leaky(FEATURES[name], 12)
    else:
        bad = leaky(FEATURES[name], 1)
    report = check_feature(bad, bars, params, sources, cuts=cuts)
    assert not report.ok and "looks ahead" in report.failures[0].message, str(report)


def test_check_catches_a_source_read_one_bar_early(
    trade_case: tuple[Bars, Sources, Trades],
) -> None:
    """Trades counted up to the *next* close: only cutting the sources with the bars shows it."""
    bars, sources, _ = trade_case

    def compute(b: Bars, params: TradeFlowParams, src: Sources) -> np.ndarray:
        closes = bar_closes(b)
        step = closes[1] - closes[0] if len(closes) > 1 else 0
        tab = src.table("trades:BTC/USDT")
        i = np.searchsorted(tab.known_ms, closes + step, side="right")
        j = np.searchsorted(tab.known_ms, np.asarray(b.index) + step, side="right")
        return (i - j).astype(float)[:, None]

    peek = Feature("peek_trades", TradeFlowParams, compute)
    report = check_feature(peek, bars, TradeFlowParams(), sources)
    assert not report.ok and "bars[:" in report.failures[0].message
