"""Performance metrics: parity with empyrical on real and generated equity, hand-checked edges.

empyrical works on returns, our kernels on equity. Each comparison feeds
empyrical ``empyrical.simple_returns(equity)``, which is bit-for-bit the
return our kernels derive, so any difference comes from the formulas and
their summation order alone. Definitions that differ on purpose:

- Sharpe / annual volatility: both use ``ddof=1``; on zero dispersion we
  return NaN where empyrical returns ±inf (constant non-zero returns).
- Sortino: same formula (downside deviation over all periods, ``ddof=0``);
  with no negative return we return NaN where empyrical returns +inf.
- CVaR: both average the ``floor((m - 1) * alpha) + 1`` worst returns.
"""

from __future__ import annotations

from pathlib import Path

import empyrical as ep
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit, prange

from grekko_research.errors import ConfigError
from grekko_research.metrics import (
    METRIC_NAMES,
    N_METRICS,
    TradeArrays,
    annual_return,
    annual_turnover,
    annual_volatility,
    average_loss,
    average_trade_duration,
    average_trade_return,
    average_win,
    best_trade,
    calmar_ratio,
    conditional_value_at_risk,
    expectancy,
    exposure,
    max_drawdown,
    max_drawdown_duration,
    performance_summary,
    periods_per_year,
    profit_factor,
    sharpe_ratio,
    sortino_ratio,
    summary_into,
    total_return,
    trade_count,
    turnover,
    value_at_risk,
    win_rate,
    worst_trade,
)

RTOL = 1e-10
EMPTY_F = np.empty(0)
EMPTY_I = np.empty(0, dtype=np.int64)
NO_TRADES = TradeArrays(EMPTY_F, EMPTY_F, EMPTY_I)
EQUITY_KEYS = (
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown",
    "value_at_risk",
    "conditional_value_at_risk",
)


def closes(shared_data: Path, name: str) -> np.ndarray:
    frame = pd.read_csv(shared_data / "ohlcv" / f"{name}.csv.gz", usecols=["close"])
    return frame["close"].to_numpy(dtype=np.float64)


def sma_crossover(close: np.ndarray, fast: int = 24, slow: int = 96) -> dict[str, np.ndarray]:
    """Return a long/flat moving-average strategy on ``close``: equity, positions, trades.

    Flat stretches give many exactly-zero returns, so the VaR cut lands on ties.
    """
    kernel_f, kernel_s = np.ones(fast) / fast, np.ones(slow) / slow
    sma_f = np.convolve(close, kernel_f, "full")[: close.size]
    sma_s = np.convolve(close, kernel_s, "full")[: close.size]
    signal = np.zeros(close.size)
    signal[slow:] = sma_f[slow:] > sma_s[slow:]
    held = np.r_[0.0, signal[:-1]]  # act on the next bar: no lookahead
    asset_ret = np.r_[0.0, close[1:] / close[:-1] - 1.0]
    equity = 10_000.0 * np.cumprod(1.0 + held * asset_ret)
    position_value = held * equity
    traded = np.abs(np.diff(np.r_[0.0, held])) * equity
    edges = np.flatnonzero(np.diff(np.r_[0.0, held, 0.0]))
    entries, exits = edges[::2], edges[1::2]  # exit = first flat bar (or n)
    exits_c = np.minimum(exits, close.size - 1)
    ret = equity[exits_c] / equity[entries - 1] - 1.0
    pnl = equity[exits_c] - equity[entries - 1]
    return {
        "equity": equity,
        "position_value": position_value,
        "traded_notional": traded,
        "pnl": pnl,
        "ret": ret,
        "duration": (exits - entries).astype(np.int64),
    }


@pytest.fixture(scope="module")
def btc_1h(shared_data: Path) -> np.ndarray:
    return closes(shared_data, "binance-spot_BTC-USDT_1h__nfi")


@pytest.fixture(scope="module")
def eth_1h(shared_data: Path) -> np.ndarray:
    return closes(shared_data, "binance-spot_ETH-USDT_1h__nfi")


def empyrical_metrics(equity: np.ndarray, ppy: float, alpha: float = 0.05) -> dict[str, float]:
    r = ep.simple_returns(equity)
    return {
        "total_return": ep.cum_returns_final(r),
        "annual_return": ep.annual_return(r, annualization=ppy),
        "annual_volatility": ep.annual_volatility(r, annualization=ppy),
        "sharpe_ratio": ep.sharpe_ratio(r, annualization=ppy),
        "sortino_ratio": ep.sortino_ratio(r, annualization=ppy),
        "calmar_ratio": ep.calmar_ratio(r, annualization=ppy),
        "max_drawdown": ep.max_drawdown(r),
        "value_at_risk": ep.value_at_risk(r, cutoff=alpha),
        "conditional_value_at_risk": ep.conditional_value_at_risk(r, cutoff=alpha),
    }


def ours(equity: np.ndarray, ppy: float, alpha: float = 0.05) -> dict[str, float]:
    return {
        "total_return": total_return(equity),
        "annual_return": annual_return(equity, ppy),
        "annual_volatility": annual_volatility(equity, ppy),
        "sharpe_ratio": sharpe_ratio(equity, ppy),
        "sortino_ratio": sortino_ratio(equity, ppy),
        "calmar_ratio": calmar_ratio(equity, ppy),
        "max_drawdown": max_drawdown(equity),
        "value_at_risk": value_at_risk(equity, alpha),
        "conditional_value_at_risk": conditional_value_at_risk(equity, alpha),
    }


def assert_matches_empyrical(
    equity: np.ndarray, ppy: float, alpha: float = 0.05, atol: float = 0.0
) -> None:
    got, want = ours(equity, ppy, alpha), empyrical_metrics(equity, ppy, alpha)
    for key in EQUITY_KEYS:
        np.testing.assert_allclose(got[key], want[key], rtol=RTOL, atol=atol, err_msg=key)


# -- parity with empyrical on real equity curves ---------------------------------------


@pytest.mark.parametrize("asset", ["btc_1h", "eth_1h"])
def test_buy_and_hold_matches_empyrical(asset: str, request: pytest.FixtureRequest) -> None:
    close = request.getfixturevalue(asset)
    assert close.size == 5482
    assert_matches_empyrical(close, periods_per_year("1h"))
    assert_matches_empyrical(close, periods_per_year("1h"), alpha=0.01)


def test_strategy_equity_matches_empyrical(btc_1h: np.ndarray, eth_1h: np.ndarray) -> None:
    for close in (btc_1h, eth_1h):
        equity = sma_crossover(close)["equity"]
        assert np.mean(np.diff(equity) == 0.0) > 0.3  # many tied zero returns
        assert_matches_empyrical(equity, 8760.0)


@pytest.mark.parametrize(
    ("name", "timeframe"),
    [
        ("binance-spot_BTC-USDT_1d__sky1241", "1d"),
        ("binance-spot_ETH-USDT_4h__octobot", "4h"),
        ("binance-spot_BTC-USDT_1m__octobot", "1m"),
    ],
)
def test_other_timeframes_match_empyrical(shared_data: Path, name: str, timeframe: str) -> None:
    assert_matches_empyrical(closes(shared_data, name), periods_per_year(timeframe))


# -- parity on generated return series -------------------------------------------------

returns_st = st.lists(
    st.one_of(
        st.floats(-0.3, 0.3, allow_nan=False, allow_subnormal=False),
        st.sampled_from([0.0, 0.0, -0.01, 0.01]),  # ties, as flat and repeated bars give
    ),
    min_size=3,
    max_size=400,
)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # empyrical's CAGR
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rets=returns_st,
    ppy=st.sampled_from([12.0, 52.0, 365.0, 2190.0, 8760.0]),
    alpha=st.sampled_from([0.01, 0.05, 0.1, 0.25, 0.5]),
)
def test_generated_returns_match_empyrical(rets: list[float], ppy: float, alpha: float) -> None:
    equity = 100.0 * np.cumprod(np.r_[1.0, 1.0 + np.asarray(rets)])
    r = ep.simple_returns(equity)
    got, want = ours(equity, ppy, alpha), empyrical_metrics(equity, ppy, alpha)
    # Equal up to the rounding of the equity they come from (the kernels' rule).
    constant = np.ptp(r) <= 8 * np.finfo(float).eps * (1 + np.abs(r).max())
    no_losses = not (r < 0.0).any()
    # Where a value is itself rounding noise, only the noise can agree. Tolerances grow
    # with the condition number there (both implementations suffer it alike):
    # std(r) loses ~eps |mean| / std to cancellation; compounding m returns into
    # equity costs ~m eps, absolute, which a drawdown of a few ulps cannot absorb;
    # a mean of ~0 is known to ~eps max|r| only, so Sharpe and Sortino near 0 are too.
    eps, m = np.finfo(float).eps, r.size
    rtol = dict.fromkeys(EQUITY_KEYS, RTOL)
    atol = dict.fromkeys(EQUITY_KEYS, 1e-15)
    atol["total_return"] = atol["max_drawdown"] = 4 * m * eps
    atol["annual_return"] = 4 * eps * ppy * (1 + abs(want["annual_return"]))  # ^(ppy/m)
    mean_noise = 16 * eps * np.abs(r).max() * np.sqrt(ppy)
    if not constant:
        std = r.std(ddof=1)
        rtol["sharpe_ratio"] = rtol["annual_volatility"] = max(RTOL, 1e-14 * abs(r.mean()) / std)
        atol["sharpe_ratio"] = mean_noise / std
    if not no_losses:
        atol["sortino_ratio"] = mean_noise / np.sqrt(np.mean(np.minimum(r, 0) ** 2))
    if want["max_drawdown"] < 0:
        rtol["calmar_ratio"] = max(RTOL, 4 * m * eps / -want["max_drawdown"])
        # An annual return of ~0 is known to its absolute tolerance only: divided by the
        # drawdown, that is the ratio's (rets 0.01, 0.0001, -0.01 at 12 a year: ~1e-12).
        atol["calmar_ratio"] = atol["annual_return"] / -want["max_drawdown"]
    for key in EQUITY_KEYS:
        if key in ("sharpe_ratio", "annual_volatility") and constant:
            assert got[key] == 0.0 if key == "annual_volatility" else np.isnan(got[key])
        elif key == "sortino_ratio" and no_losses:
            assert np.isnan(got[key]), "no downside gives NaN, not inf"
        else:
            np.testing.assert_allclose(
                got[key], want[key], rtol=rtol[key], atol=atol[key], err_msg=key
            )


@settings(max_examples=200, deadline=None)
@given(
    rets=st.lists(st.sampled_from([-0.02, -0.01, 0.0, 0.0, 0.01, 0.03]), min_size=2, max_size=200),
    alpha=st.floats(0.0, 1.0),
)
def test_tail_on_ties_matches_numpy_and_empyrical(rets: list[float], alpha: float) -> None:
    equity = np.cumprod(np.r_[1.0, 1.0 + np.asarray(rets)])
    r = ep.simple_returns(equity)
    assert value_at_risk(equity, alpha) == pytest.approx(np.percentile(r, 100 * alpha), abs=1e-15)
    cvar = conditional_value_at_risk(equity, alpha)
    assert cvar == pytest.approx(ep.conditional_value_at_risk(r, alpha), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("zeros", [0.0, 0.5, 0.97])
@pytest.mark.parametrize("alpha", [0.0, 0.01, 0.05, 0.5, 0.999])
def test_tail_of_long_series_is_exact(zeros: float, alpha: float) -> None:
    """Long series take the sampled bracket (or its fallback); both are exact."""
    rng = np.random.default_rng(11)
    m = 200_000
    r = rng.standard_t(3, m) * 1e-3
    r[rng.random(m) < zeros] = 0.0
    equity = 1e4 * np.cumprod(np.r_[1.0, 1.0 + r])
    seen = np.diff(equity) / equity[:-1]  # the returns the kernels see
    assert value_at_risk(equity, alpha) == pytest.approx(
        np.percentile(seen, 100 * alpha), rel=1e-13, abs=1e-18
    )
    k = int((m - 1) * alpha)
    lowest = np.sort(seen)[: k + 1]
    assert conditional_value_at_risk(equity, alpha) == pytest.approx(lowest.mean(), rel=1e-12)


def test_sampled_bracket_is_taken_and_refuses_when_it_would_be_wrong() -> None:
    from grekko_research.metrics.tail import _bracketed_tail

    rng = np.random.default_rng(3)
    a = rng.normal(size=100_000)
    ok, low, high, total = _bracketed_tail(a.copy(), a.size, 4_999, 5_000)
    s = np.sort(a)
    assert ok and low == s[4_999] and high == s[5_000]
    assert total == pytest.approx(s[:5_000].sum(), rel=1e-13)
    ties = np.zeros(100_000)  # every value equal: the bracket holds them all
    assert not _bracketed_tail(ties, ties.size, 4_999, 5_000)[0]
    assert not _bracketed_tail(a[:1_000].copy(), 1_000, 49, 50)[0]  # too short to sample


def test_cvar_keeps_exactly_k_plus_one_returns_on_ties() -> None:
    # Returns -0.1, 0, 0, 0, 0, +0.1; alpha 0.25: position 1.25, k = 1, VaR = 0.
    equity = np.array([100.0, 90.0, 90.0, 90.0, 90.0, 90.0, 99.0])
    assert value_at_risk(equity, 0.25) == 0.0
    # The two worst returns, not all five returns <= VaR (mean -0.02).
    assert conditional_value_at_risk(equity, 0.25) == pytest.approx(-0.05, abs=1e-15)


# -- hand-built equity edges ------------------------------------------------------------


@pytest.mark.parametrize(
    ("equity", "depth", "bars"),
    [
        # Two drawdowns: 1 -> 4 recovers (3 bars), 5 -> end never does (10 - 5 = 5 bars).
        ([100, 110, 99, 105, 110, 120, 90, 100, 95, 100, 119], 90 / 120 - 1, 5),
        # The longest drawdown (6 bars, -10 %) is not the deepest (2 bars, -50.5 %).
        ([100, 90, 91, 92, 93, 94, 100, 101, 50, 102], 50 / 101 - 1, 6),
        # Unrecovered from bar 1 to the last bar 4.
        ([100, 120, 110, 115, 119], 110 / 120 - 1, 3),
        # Getting back exactly to the peak is a recovery.
        ([100, 90, 100, 100], -0.1, 2),
        ([100, 101, 102], 0.0, 0),
        ([100], 0.0, 0),
    ],
)
def test_drawdown_depth_and_duration(equity: list[float], depth: float, bars: int) -> None:
    eq = np.asarray(equity, dtype=np.float64)
    assert max_drawdown(eq) == pytest.approx(depth, rel=1e-12)
    assert max_drawdown_duration(eq) == bars


def test_ruin_stops_returns_but_not_the_drawdown() -> None:
    equity = np.array([100.0, 120.0, 60.0, 0.0, 0.0, 0.0])
    kept = np.array([0.2, -0.5, -1.0])  # nothing after the ruin bar
    assert total_return(equity) == -1.0
    assert annual_return(equity, 365.0) == -1.0
    assert max_drawdown(equity) == -1.0
    assert max_drawdown_duration(equity) == 4  # peak at bar 1, under water to bar 5
    assert annual_volatility(equity, 365.0) == pytest.approx(
        ep.annual_volatility(kept, annualization=365.0), rel=1e-14
    )
    assert sharpe_ratio(equity, 365.0) == pytest.approx(
        ep.sharpe_ratio(kept, annualization=365.0), rel=1e-14
    )
    assert value_at_risk(equity, 0.25) == pytest.approx(np.percentile(kept, 25), rel=1e-15)
    assert conditional_value_at_risk(equity, 0.05) == -1.0
    # A negative balance is a ruin too, capped at a -100 % return.
    negative = np.array([100.0, 50.0, -10.0, 5.0])
    assert total_return(negative) == -1.0
    assert value_at_risk(negative, 0.0) == -1.0  # alpha 0: the worst return
    assert calmar_ratio(negative, 365.0) == -1.0  # CAGR -1 over |max drawdown| 1


def test_short_and_constant_equity_give_nan_without_warnings() -> None:
    with np.errstate(all="raise"):
        for equity in (np.empty(0), np.array([100.0])):
            got = performance_summary(equity, periods_per_year=365.0)
            assert all(np.isnan(got[k]) for k in EQUITY_KEYS if k != "max_drawdown")
            assert got["max_drawdown"] == (0.0 if equity.size else np.nan) or equity.size == 0
            assert got["max_drawdown_duration"] == 0.0 or equity.size == 0
        assert np.isnan(max_drawdown(np.empty(0)))
        two = performance_summary(np.array([100.0, 110.0]), periods_per_year=365.0)
        assert two["total_return"] == pytest.approx(0.1)
        assert np.isnan(two["annual_volatility"]) and np.isnan(two["sharpe_ratio"])
        flat = performance_summary(np.full(50, 100.0), periods_per_year=365.0)
        assert flat["annual_volatility"] == 0.0
        assert np.isnan(flat["sharpe_ratio"]) and np.isnan(flat["sortino_ratio"])
        assert np.isnan(flat["calmar_ratio"]) and flat["max_drawdown"] == 0.0
        # Constant growth: empyrical's Sharpe is inf, ours NaN (zero dispersion).
        growth = 100.0 * 1.01 ** np.arange(50)
        assert annual_volatility(growth, 365.0) == 0.0
        assert np.isnan(sharpe_ratio(growth, 365.0))


def test_nan_equity_poisons_equity_metrics_in_kernels() -> None:
    equity = np.array([100.0, 101.0, np.nan, 103.0])
    assert np.isnan(total_return(equity)) and np.isnan(sharpe_ratio(equity, 365.0))
    assert np.isnan(max_drawdown(equity)) and np.isnan(value_at_risk(equity, 0.05))


# -- exposure and turnover --------------------------------------------------------------


def test_exposure_and_turnover() -> None:
    equity = np.array([100.0, 100.0, 110.0, 110.0, 120.0])
    assert exposure(np.array([0.0, 50.0, -20.0, 0.0, 0.0])) == pytest.approx(0.4)
    assert exposure(np.array([False, True, True, True, False])) == pytest.approx(0.6)
    traded = np.array([0.0, 100.0, 0.0, -110.0, 0.0])  # buy all, sell all
    assert turnover(traded, equity) == pytest.approx(210.0 / 108.0)
    # 4 bars of 1d span 4/365 years.
    assert annual_turnover(traded, equity, 365.0) == pytest.approx(210.0 / 108.0 * 365.0 / 4)
    assert np.isnan(turnover(traded[:3], equity))


# -- trade statistics -------------------------------------------------------------------


def test_trade_statistics_by_hand() -> None:
    pnl = np.array([10.0, -5.0, 0.0, 20.0, -15.0])
    ret = np.array([0.1, -0.05, 0.0, 0.2, -0.15])
    duration = np.array([3, 1, 2, 10, 4], dtype=np.int64)
    assert trade_count(pnl) == 5
    assert win_rate(pnl) == pytest.approx(0.4)  # break-even is not a win
    assert profit_factor(pnl) == pytest.approx(30.0 / 20.0)
    assert expectancy(pnl) == pytest.approx(2.0)
    assert average_win(pnl) == pytest.approx(15.0)
    assert average_loss(pnl) == pytest.approx(-10.0)
    assert best_trade(ret) == pytest.approx(0.2)
    assert worst_trade(ret) == pytest.approx(-0.15)
    assert average_trade_return(ret) == pytest.approx(0.02)
    assert average_trade_duration(duration) == pytest.approx(4.0)


def test_trade_statistics_edges() -> None:
    assert profit_factor(np.array([1.0, 2.0])) == np.inf
    assert np.isnan(average_loss(np.array([1.0, 2.0])))
    assert np.isnan(profit_factor(np.array([0.0, 0.0])))
    assert profit_factor(np.array([-1.0])) == 0.0
    assert np.isnan(average_win(np.array([-1.0])))
    assert trade_count(EMPTY_F) == 0
    for kernel in (win_rate, profit_factor, expectancy, average_win, average_loss):
        assert np.isnan(kernel(EMPTY_F)), kernel
    for kernel in (best_trade, worst_trade, average_trade_return):
        assert np.isnan(kernel(EMPTY_F)), kernel
    assert np.isnan(average_trade_duration(EMPTY_I))


# -- summary_into -----------------------------------------------------------------------


def individual(
    equity: np.ndarray,
    position_value: np.ndarray,
    traded_notional: np.ndarray,
    pnl: np.ndarray,
    ret: np.ndarray,
    duration: np.ndarray,
    ppy: float,
) -> np.ndarray:
    """Return the summary row built from the individual kernels."""
    by_name = ours(equity, ppy) | {
        "max_drawdown_duration": max_drawdown_duration(equity) if equity.size else np.nan,
        "exposure": exposure(position_value) if position_value.size == equity.size else np.nan,
        "turnover": turnover(traded_notional, equity),
        "annual_turnover": annual_turnover(traded_notional, equity, ppy),
        "trade_count": trade_count(pnl),
        "win_rate": win_rate(pnl),
        "profit_factor": profit_factor(pnl),
        "expectancy": expectancy(pnl),
        "average_win": average_win(pnl),
        "average_loss": average_loss(pnl),
        "best_trade": best_trade(ret),
        "worst_trade": worst_trade(ret),
        "average_trade_return": average_trade_return(ret),
        "average_trade_duration": average_trade_duration(duration),
    }
    assert set(by_name) == set(METRIC_NAMES)
    return np.array([by_name[name] for name in METRIC_NAMES], dtype=np.float64)


def test_summary_into_equals_individual_kernels(btc_1h: np.ndarray) -> None:
    strat = sma_crossover(btc_1h)
    args = (
        strat["equity"],
        strat["position_value"],
        strat["traded_notional"],
        strat["pnl"],
        strat["ret"],
        strat["duration"],
    )
    out = np.full(N_METRICS + 2, -7.0)  # a wider row is fine; extra cells untouched
    summary_into(out, *args[:3], TradeArrays(*args[3:]), 8760.0)
    np.testing.assert_array_equal(out[:N_METRICS], individual(*args, 8760.0))
    assert (out[N_METRICS:] == -7.0).all()
    row = dict(zip(METRIC_NAMES, out, strict=False))
    assert row["trade_count"] == strat["pnl"].size > 10
    assert 0.3 < row["exposure"] < 0.7 and row["turnover"] > 0.0
    for equity in (np.empty(0), np.array([5.0]), np.full(9, 5.0), np.array([5.0, 6.0, 0.0, 0.0])):
        row_out = np.empty(N_METRICS)
        summary_into(row_out, equity, EMPTY_F, EMPTY_F, NO_TRADES, 365.0)
        expect = individual(equity, EMPTY_F, EMPTY_F, EMPTY_F, EMPTY_F, EMPTY_I, 365.0)
        np.testing.assert_array_equal(row_out, expect)


def test_summary_into_rejects_short_out() -> None:
    with pytest.raises(ValueError, match="shorter"):
        summary_into(np.empty(N_METRICS - 1), np.ones(3), EMPTY_F, EMPTY_F, NO_TRADES, 1.0)


@njit(parallel=True)
def leverage_grid(
    asset_ret: np.ndarray, leverages: np.ndarray, ppy: float, table: np.ndarray
) -> None:
    """Fill one summary row per leverage, as a parameter-grid runner would."""
    n = asset_ret.shape[0] + 1
    for c in prange(leverages.shape[0]):
        equity = np.empty(n)
        equity[0] = 1000.0
        for i in range(1, n):
            equity[i] = max(equity[i - 1] * (1.0 + leverages[c] * asset_ret[i - 1]), 0.0)
        position = np.full(n, leverages[c])
        traded = np.zeros(n)
        traded[0] = leverages[c] * 1000.0
        pnl = np.array([equity[n - 1] - 1000.0])
        ret = np.array([equity[n - 1] / 1000.0 - 1.0])
        duration = np.array([n - 1], dtype=np.int64)
        summary_into(table[c], equity, position, traded, TradeArrays(pnl, ret, duration), ppy)


def test_summary_into_runs_inside_prange(btc_1h: np.ndarray) -> None:
    asset_ret = btc_1h[1:] / btc_1h[:-1] - 1.0
    leverages = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 60.0])  # 60x is ruined
    table = np.full((leverages.size, N_METRICS), -7.0)
    leverage_grid(asset_ret, leverages, 8760.0, table)
    for c, lev in enumerate(leverages):
        equity = np.empty(btc_1h.size)
        equity[0] = 1000.0
        for i in range(1, equity.size):
            equity[i] = max(equity[i - 1] * (1.0 + lev * asset_ret[i - 1]), 0.0)
        want = performance_summary(
            equity,
            periods_per_year=8760.0,
            position_value=np.full(equity.size, lev),
            traded_notional=np.r_[lev * 1000.0, np.zeros(equity.size - 1)],
            pnl=[equity[-1] - 1000.0],
            ret=[equity[-1] / 1000.0 - 1.0],
            duration=[equity.size - 1],
        )
        np.testing.assert_array_equal(table[c], list(want.values()), err_msg=f"leverage {lev}")
    names = list(METRIC_NAMES)
    assert table[0, names.index("exposure")] == 0.0 and table[2, names.index("exposure")] == 1.0
    assert table[-1, names.index("total_return")] == -1.0  # ruin inside the grid
    assert table[-1, names.index("max_drawdown")] == -1.0


# -- Python wrapper ---------------------------------------------------------------------


def test_performance_summary_orders_and_converts(btc_1h: np.ndarray) -> None:
    strat = sma_crossover(btc_1h)
    series = performance_summary(
        pd.Series(strat["equity"]),
        periods_per_year=periods_per_year("1h"),
        position_value=strat["position_value"] != 0,
        traded_notional=strat["traded_notional"],
        pnl=strat["pnl"],
        ret=strat["ret"],
        duration=strat["duration"].astype(float),
        as_series=True,
    )
    assert isinstance(series, pd.Series) and tuple(series.index) == METRIC_NAMES
    plain = performance_summary(strat["equity"], periods_per_year=8760.0, pnl=strat["pnl"])
    assert list(plain) == list(METRIC_NAMES)
    assert plain["sharpe_ratio"] == series["sharpe_ratio"]
    assert np.isnan(plain["exposure"]) and np.isnan(plain["average_trade_duration"])
    assert plain["win_rate"] == series["win_rate"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"equity": np.ones((3, 2))}, r"equity must be one-dimensional, got shape \(3, 2\)"),
        ({"equity": [1.0, 2.0, np.nan]}, r"equity\[2\] is nan"),
        ({"equity": [0.0, 2.0]}, r"equity\[0\] must be positive"),
        ({"equity": ["a", "b"]}, "equity must be numeric"),
        ({"periods_per_year": 0.0}, "periods_per_year must be a positive"),
        ({"alpha": 1.0}, r"alpha must be in \(0, 1\)"),
        ({"position_value": [1.0, 0.0]}, "position_value has 2 values, expected 3"),
        ({"traded_notional": [1.0, np.inf, 0.0]}, r"traded_notional\[1\] is inf"),
        ({"ret": [0.1]}, "need pnl"),
        ({"pnl": [1.0, 2.0], "ret": [0.1]}, "ret has 1 values, expected 2"),
        ({"pnl": [1.0], "duration": [-1]}, r"duration\[0\] is -1.0; durations must be whole"),
        ({"pnl": [1.0], "duration": [1.5]}, r"duration\[0\] is 1.5"),
    ],
)
def test_performance_summary_names_bad_input(kwargs: dict[str, object], message: str) -> None:
    call: dict[str, object] = {"equity": [100.0, 101.0, 99.0], "periods_per_year": 365.0}
    call.update(kwargs)
    with pytest.raises(ConfigError, match=message):
        performance_summary(**call)


@pytest.mark.parametrize(
    ("timeframe", "expected"),
    [
        ("1s", 31_536_000.0),
        ("1m", 525_600.0),
        ("5m", 105_120.0),
        ("1h", 8_760.0),
        ("4h", 2_190.0),
        ("1d", 365.0),
        ("1w", 365.0 / 7.0),
        ("1M", 12.0),
        ("3M", 4.0),
    ],
)
def test_periods_per_year(timeframe: str, expected: float) -> None:
    assert periods_per_year(timeframe) == pytest.approx(expected, rel=1e-15)


def test_periods_per_year_rejects_nonsense() -> None:
    with pytest.raises(ConfigError, match="invalid timeframe"):
        periods_per_year("1y")
