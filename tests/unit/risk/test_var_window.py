"""The incremental historical VaR (risk/var.py) is the sorting definition
(``checks.historical_var_nb``) to the bit: at every bar of random series (with ties, zeros,
negative, NaN and infinite equities) and of real equity curves, and through a backtest."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Fees, Signals, backtest
from grekko_research.risk import checks as C
from grekko_research.risk.breakers import evaluate_portfolio
from grekko_research.risk.spec import PortfolioRisk, RiskSpec, VarBreaker
from grekko_research.risk.var import VarWindow, var_check_nb


def _same(a: float, b: float) -> bool:
    """Equal to the bit (NaN equal to NaN)."""
    return (math.isnan(a) and math.isnan(b)) or np.float64(a).tobytes() == np.float64(b).tobytes()


def _check_every_bar(equity: np.ndarray, window: int, confidence: float) -> int:
    """Slide a window over ``equity``; compare with the definition at every bar; return how
    many bars had a VaR (not NaN)."""
    w = VarWindow(window)
    seen = 0
    for t in range(equity.shape[0]):
        w.push(equity[t])
        want = C.historical_var_nb(equity[: t + 1], window, confidence)
        got = w.value(confidence)
        assert _same(got, want), (t, got, want)
        ok, value, _ = var_check_nb(w.state, confidence, 0.02)
        ref_ok, ref_value, _ = C.var_nb(equity[: t + 1], window, confidence, 0.02)
        assert ok == ref_ok and _same(value, ref_value)
        seen += not math.isnan(want)
    return seen


@pytest.mark.parametrize("window", [1, 2, 5, 50])
@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.99, 0.999])
def test_random_walks_match_the_definition_at_every_bar(window: int, confidence: float) -> None:
    rng = np.random.default_rng(window * 1000 + int(confidence * 1000))
    equity = 1e4 * np.cumprod(1 + rng.normal(0, 0.02, 400))
    assert _check_every_bar(equity, window, confidence) == 400 - window


def test_ties_flat_stretches_and_bad_equities_match_the_definition() -> None:
    rng = np.random.default_rng(5)
    # Rounded equities: many equal returns (ties) and zero returns (flat, no position).
    equity = np.round(1e4 * np.cumprod(1 + rng.normal(0, 0.01, 300)), -1)
    equity[100:140] = equity[99]
    # Bad data inside the series: a NaN, zero and negative equity, an infinite one, inf/inf.
    equity[170], equity[200], equity[201], equity[230] = math.nan, 0.0, -5.0, math.inf
    equity[260:262] = math.inf
    for window in (3, 10, 25):
        for confidence in (0.8, 0.95):
            _check_every_bar(equity, window, confidence)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(-50.0, 200.0),
            st.sampled_from([0.0, 100.0, 100.0, math.nan, math.inf, -math.inf]),
        ),
        min_size=1,
        max_size=80,
    ),
    window=st.integers(1, 12),
    confidence=st.floats(0.0, 1.0),
)
def test_any_series_matches_the_definition(
    values: list[float], window: int, confidence: float
) -> None:
    _check_every_bar(np.asarray(values, dtype=np.float64), window, confidence)


def test_a_real_equity_curve_matches_the_definition(shared_data) -> None:
    frame = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz")
    bars = Bars.from_frame(frame, "BTC/USDT", "1h")[:3000]
    fast = pd.Series(bars.close[:, 0]).rolling(10).mean().to_numpy()
    slow = pd.Series(bars.close[:, 0]).rolling(40).mean().to_numpy()
    res = backtest(bars, Signals(fast > slow, fast < slow), EngineConfig(fees=Fees(taker=0.001)))
    assert _check_every_bar(res.equity, 500, 0.99) == 3000 - 500
    closes = bars.close[:, 0]
    assert _check_every_bar(closes, 24, 0.95) == 3000 - 24


def test_a_window_restored_from_its_last_equities_goes_on_alike() -> None:
    rng = np.random.default_rng(9)
    equity = 1e4 * np.cumprod(1 + rng.normal(0, 0.02, 200))
    whole = VarWindow(20, equity[:120])
    restored = VarWindow(20, equity[120 - 21 : 120])  # a live run keeps window + 1 equities
    for e in equity[120:]:
        whole.push(e)
        restored.push(e)
        assert _same(whole.value(0.95), restored.value(0.95))


def test_the_breakers_take_a_window_or_the_equities() -> None:
    spec = RiskSpec(portfolio=PortfolioRisk(var=VarBreaker(limit=0.05, window=20, confidence=0.95)))
    equity = [100.0] * 20 + [60.0]
    by_list, _ = evaluate_portfolio(spec, 60.0, 100.0, 100.0, equity, 0)
    by_window, _ = evaluate_portfolio(spec, 60.0, 100.0, 100.0, VarWindow(20, equity), 0)
    assert [b.verdict for b in by_list] == [b.verdict for b in by_window]
    assert by_list[0].verdict.value == pytest.approx(0.4)
    with pytest.raises(ValueError, match=r"risk\.portfolio\.var\.window is 20"):
        evaluate_portfolio(spec, 60.0, 100.0, 100.0, VarWindow(10, equity), 0)


def test_a_backtest_var_is_the_definition_on_its_bar_equities() -> None:
    rng = np.random.default_rng(4)
    n = 700
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))[:, None]
    open_ = np.vstack([close[:1], close[:-1]])
    bars = Bars(
        index=1_700_006_400_000 + 3_600_000 * np.arange(n),
        symbols=("S0/USDT",),
        timeframe="1h",
        open=open_,
        high=np.maximum(open_, close) * 1.002,
        low=np.minimum(open_, close) * 0.998,
        close=close,
        volume=np.full((n, 1), 1e6),
    )
    entries = rng.random(n) < 0.05
    exits = rng.random(n) < 0.05
    var = VarBreaker(limit=0.012, window=100, confidence=0.95, cooldown_s=7200)
    cfg = EngineConfig(fees=Fees(taker=0.001), risk=RiskSpec(portfolio=PortfolioRisk(var=var)))
    res = backtest(bars, Signals(entries, exits), cfg)
    ev = res.events[res.events["rule"] == "var"]
    assert len(ev) >= 2  # breached, lifted and breached again
    for r in ev.itertuples():
        want = C.historical_var_nb(res.equity[: r.bar + 1], 100, 0.95)
        assert _same(r.value, want)
