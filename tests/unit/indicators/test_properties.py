"""Conventions every indicator keeps, checked generically over ``CASES`` on real bars.

Causality (truncation), the NaN rule (a NaN bar is skipped: the output equals
the indicator of the series without that bar), 1-D/2-D/pandas shapes,
multi-column = per-column, inputs left untouched, no drift over a million
bars. Each check is also run on a deliberately broken indicator to prove it
can fail.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import grekko_research.indicators as ind
from tests.unit.indicators.cases import CASE_IDS, CASES, Bars, Case

CUT_SEED = 20240809


def assert_causal(call: Callable[[Bars], tuple[np.ndarray, ...]], bars: Bars, cuts: int) -> None:
    """Assert that the outputs on ``bars[:t]`` equal the first ``t`` rows on the full bars."""
    n = next(iter(bars.values())).shape[0]
    full = call(bars)
    rng = np.random.default_rng(CUT_SEED)
    points = [1, 2, 30, 60, *rng.integers(3, n, size=cuts).tolist()]
    for t in points:
        part = call({k: v[:t] for k, v in bars.items()})
        for p, f in zip(part, full, strict=True):
            np.testing.assert_array_equal(p, f[:t], err_msg=f"differs when cut at {t}")


def with_gaps(bars: Bars, fields: tuple[str, ...], seed: int) -> tuple[Bars, np.ndarray]:
    """Return ``bars`` with NaN in ``fields`` on random rows and on a run of rows, and the mask."""
    n = bars["close"].shape[0]
    rng = np.random.default_rng(seed)
    gap = rng.random(n) < 0.03
    gap[100:140] = True  # an outage longer than every window
    out = {k: v.copy() for k, v in bars.items()}
    for f in fields:
        out[f][gap] = np.nan
    return out, gap


def assert_skips_nan(case: Case, bars: Bars, fields: tuple[str, ...]) -> None:
    """Assert NaN at the gap rows and, elsewhere, the result of the series without them."""
    gappy, gap = with_gaps(bars, fields, seed=len(fields))
    got = case.call(gappy)
    dense = case.call({k: v[~gap] for k, v in bars.items()})
    for g, d in zip(got, dense, strict=True):
        assert np.isnan(g[gap]).all(), "a NaN bar must give NaN"
        np.testing.assert_array_equal(g[~gap], d)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_causal(case: Case, btc_1h: Bars) -> None:
    assert_causal(case.call, btc_1h, cuts=8)
    gappy, _ = with_gaps(btc_1h, case.fields, seed=1)
    assert_causal(case.call, gappy, cuts=4)


def test_causality_check_catches_lookahead(btc_1h: Bars) -> None:
    def centred(b: Bars) -> tuple[np.ndarray, ...]:  # peeks 10 bars ahead
        return (pd.Series(b["close"]).rolling(21, center=True).mean().to_numpy(),)

    with pytest.raises(AssertionError, match="cut at"):
        assert_causal(centred, btc_1h, cuts=3)


@pytest.mark.parametrize("case", [c for c in CASES if c.skips_nan], ids=lambda c: c.name)
def test_nan_bars_are_skipped(case: Case, btc_1h: Bars) -> None:
    assert_skips_nan(case, btc_1h, case.fields)  # a bar without trades: all fields NaN
    for field in case.fields:  # one missing field is enough to skip the bar
        assert_skips_nan(case, btc_1h, (field,))


def test_nan_check_catches_carrying(btc_1h: Bars) -> None:
    carried = Case(
        "sma_ffill",
        ("close",),
        lambda b: (ind.sma(pd.Series(b["close"]).ffill().to_numpy(), 20),),
    )
    with pytest.raises(AssertionError):
        assert_skips_nan(carried, btc_1h, ("close",))


def test_engine_volatility_restarts_after_nan(btc_1h: Bars) -> None:
    """``returns="simple"`` is the engine's ``rolling_volatility_nb``: a NaN close restarts it."""
    c = btc_1h["close"].copy()
    c[500] = np.nan
    got = ind.volatility(c, 24, 8760, returns="simple")
    assert np.isnan(got[500 : 500 + 25]).all()  # 24 fresh returns are needed after the gap
    assert np.isfinite(got[500 + 25])
    np.testing.assert_array_equal(
        got[525:], ind.volatility(c[500:], 24, 8760, returns="simple")[25:]
    )


@pytest.mark.parametrize("case", [c for c in CASES if c.columnwise], ids=lambda c: c.name)
def test_columns_are_independent(case: Case, pair_1h: Bars) -> None:
    gappy, _ = with_gaps(pair_1h, case.fields, seed=3)
    for f in case.fields:  # different gaps in the two columns
        gappy[f][:, 1] = np.roll(gappy[f][:, 1], 7)
    both = case.call(gappy)
    for j in range(2):
        single = case.call({k: np.ascontiguousarray(v[:, j]) for k, v in gappy.items()})
        for b, s in zip(both, single, strict=True):
            assert b.shape == gappy["close"].shape
            np.testing.assert_array_equal(b[:, j], s)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_shapes_and_pandas_inputs(case: Case, pair_1h: Bars) -> None:
    one = {k: v[:, 0].copy() for k, v in pair_1h.items()}
    expected_1d = case.call(one)
    assert all(o.shape == one["close"].shape for o in expected_1d)
    as_column = case.call({k: v[:, None] for k, v in one.items()})
    series = case.call({k: pd.Series(v) for k, v in one.items()})
    for e, col, ser in zip(expected_1d, as_column, series, strict=True):
        assert col.shape == (e.shape[0], 1)
        assert isinstance(ser, np.ndarray) and ser.shape == e.shape
        np.testing.assert_array_equal(col[:, 0], e)
        np.testing.assert_array_equal(ser, e)
    expected_2d = case.call(pair_1h)
    frames = case.call({k: pd.DataFrame(v, columns=["BTC", "ETH"]) for k, v in pair_1h.items()})
    non_contiguous = case.call({k: np.asfortranarray(v) for k, v in pair_1h.items()})
    for e, fr, nc in zip(expected_2d, frames, non_contiguous, strict=True):
        assert isinstance(fr, np.ndarray) and fr.shape == e.shape
        np.testing.assert_array_equal(fr, e)
        np.testing.assert_array_equal(nc, e)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_inputs_are_not_modified(case: Case, pair_1h: Bars) -> None:
    gappy, _ = with_gaps(pair_1h, case.fields, seed=5)
    before = {k: v.copy() for k, v in gappy.items()}
    case.call(gappy)
    for k in gappy:
        np.testing.assert_array_equal(gappy[k], before[k])
        assert gappy[k].flags.writeable


def test_nullable_pandas_na_is_nan() -> None:
    values = [1.0, 2.0, None, 4.0, 5.0, 6.0]
    nullable = pd.Series(values, dtype="Float64")
    np.testing.assert_array_equal(ind.sma(nullable, 2), ind.sma(np.array(values, dtype=float), 2))


def test_integer_and_empty_inputs() -> None:
    x = np.arange(1, 31)  # int64
    np.testing.assert_allclose(ind.sma(x, 3)[2:], np.arange(2, 30))
    assert ind.sma(np.empty(0), 3).shape == (0,)
    assert ind.rsi(np.empty((0, 4))).shape == (0, 4)
    assert ind.xs_rank(np.empty((5, 0))).shape == (5, 0)


def test_edge_values() -> None:
    flat = np.full(40, 100.0)
    assert (ind.rsi(flat, 14)[14:] == 50.0).all()  # neither gains nor losses
    assert np.isnan(ind.zscore(flat, 10)).all()  # std 0
    mid, upper, lower = ind.bollinger(flat, 10, 2.0)
    assert (mid[9:] == 100.0).all() and (upper[9:] == 100.0).all() and (lower[9:] == 100.0).all()
    rising = np.arange(1.0, 41.0)
    assert (ind.rsi(rising, 14)[14:] == 100.0).all()
    np.testing.assert_allclose(
        ind.wma(rising, 3)[2:], (rising[:-2] + 2 * rising[1:-1] + 3 * rising[2:]) / 6
    )
    assert np.isnan(ind.vwap(rising, rising, rising, np.zeros(40), 5)).all()  # no volume
    np.testing.assert_array_equal(
        ind.xs_rank(np.array([[3.0, 1.0, 2.0, 2.0, np.nan]])),
        [[1.0, 0.0, 0.5, 0.5, np.nan]],
    )
    np.testing.assert_array_equal(ind.xs_rank(np.array([1.0, np.nan, 3.0])), [0.5, np.nan, 0.5])


# --- numerical drift ---------------------------------------------------------------------------

N_LONG = 1_000_000
W = 50


def _direct_windows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return x[rows[:, None] - W + 1 + np.arange(W)]


@pytest.fixture(scope="module")
def long_series() -> tuple[np.ndarray, np.ndarray]:
    """A million bars rising from 100 to ~100,000 (like BTC's history) with noise, and sample rows.

    A running sum keeps whatever rounding it picked up while the level was
    high; without exact recomputes the variance would drift well past 1e-9.
    """
    rng = np.random.default_rng(11)
    trend = np.linspace(0.0, np.log(1000.0), N_LONG) + np.cumsum(rng.normal(0.0, 1e-3, N_LONG))
    x = 100.0 * np.exp(trend) * (1.0 + rng.normal(0.0, 1e-3, N_LONG))
    rows = np.r_[rng.integers(W, N_LONG, 2000), N_LONG - 1]
    return x, rows


def test_no_drift_over_a_million_bars(long_series: tuple[np.ndarray, np.ndarray]) -> None:
    x, rows = long_series
    win = _direct_windows(x, rows)
    mean, sd = win.mean(axis=1), win.std(axis=1)
    weights = np.arange(1, W + 1, dtype=float)
    np.testing.assert_allclose(ind.sma(x, W)[rows], mean, rtol=1e-12)
    np.testing.assert_allclose(ind.wma(x, W)[rows], win @ weights / weights.sum(), rtol=1e-12)
    mid, upper, _ = ind.bollinger(x, W, 1.0)
    np.testing.assert_allclose(upper[rows] - mid[rows], sd, rtol=1e-9)
    np.testing.assert_allclose(ind.zscore(x, W)[rows], (x[rows] - mean) / sd, rtol=1e-9, atol=1e-9)
    vol = np.abs(np.sin(np.arange(N_LONG))) * 1e3  # vwap of x weighted by a positive volume
    vw = ind.vwap(x, x, x, vol, W)[rows]
    vwin = _direct_windows(vol, rows)
    np.testing.assert_allclose(vw, (win * vwin).sum(axis=1) / vwin.sum(axis=1), rtol=1e-12)


def test_drift_check_catches_running_sums(long_series: tuple[np.ndarray, np.ndarray]) -> None:
    """The classic cumulative-sum rolling std drifts far outside the tolerance used above."""
    x, rows = long_series
    sd = _direct_windows(x, rows).std(axis=1)
    c1, c2 = np.r_[0.0, np.cumsum(x)], np.r_[0.0, np.cumsum(x * x)]
    s1, s2 = c1[rows + 1] - c1[rows + 1 - W], c2[rows + 1] - c2[rows + 1 - W]
    naive = np.sqrt(np.maximum(s2 / W - (s1 / W) ** 2, 0.0))
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(naive, sd, rtol=1e-9)


def test_import_does_not_load_pandas() -> None:
    code = "import sys, grekko_research.indicators; assert 'pandas' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
