"""Overfitting statistics: the DSR paper's worked example, PSR/MinTRL identities, CSCV vs brute force.

The DSR example (Bailey & López de Prado 2014): annualised SR 2.5 over
T = 1,250 daily returns, N = 100 trials whose *annualised* Sharpe ratios have
variance 0.5, skew −3, kurtosis 10. It reproduces the published E[max SR] ≈
0.1132 and DSR ≈ 0.9004 with: 250 days a year (SR = 2.5/√250, V = 0.5/250),
kurtosis 10 taken as the non-excess (Pearson) kurtosis, and √(T − 1) with
T = 1,250. ``test_dsr_example_conventions`` shows each other reading misses.

The PBO reference below recomputes every combination from the raw rows with
numpy and ranks with ``scipy.stats.rankdata`` (average ranks), independently
of the block-aggregate kernel.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from grekko_research.errors import ConfigError
from grekko_research.metrics import (
    PBOResult,
    deflated_sharpe_ratio,
    dsr_from_trials,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    psr_from_returns,
)

DAYS = 250
SR_DAILY = 2.5 / math.sqrt(DAYS)
V_DAILY = 0.5 / DAYS


# ---------------------------------------------------------------------------
# Deflated Sharpe Ratio: the paper's worked example


def test_dsr_paper_example_step_by_step() -> None:
    gamma = 0.5772156649015329
    z = (1 - gamma) * stats.norm.ppf(1 - 1 / 100) + gamma * stats.norm.ppf(1 - 1 / (100 * math.e))
    sr0 = math.sqrt(V_DAILY) * z
    assert sr0 == pytest.approx(0.1132, abs=5e-5)  # published, per day
    assert expected_max_sharpe(100, V_DAILY) == pytest.approx(sr0, rel=1e-14)
    # Annualised: sqrt(0.5) * z = 1.7894 (one cannot annualise the rounded 0.1132 exactly).
    assert expected_max_sharpe(100, V_DAILY) * math.sqrt(DAYS) == pytest.approx(1.7894, abs=5e-5)
    assert expected_max_sharpe(100, 0.5) == pytest.approx(1.7894, abs=5e-5)

    denominator = math.sqrt(1 - (-3) * SR_DAILY + (10 - 1) / 4 * SR_DAILY**2)
    z_dsr = (SR_DAILY - sr0) * math.sqrt(1250 - 1) / denominator
    assert stats.norm.cdf(z_dsr) == pytest.approx(0.9004, abs=5e-5)  # published
    dsr = deflated_sharpe_ratio(SR_DAILY, 1250, -3.0, 10.0, 100, V_DAILY)
    assert dsr == pytest.approx(0.9004, abs=5e-5)
    assert dsr == pytest.approx(stats.norm.cdf(z_dsr), rel=1e-12)
    assert dsr == pytest.approx(
        probabilistic_sharpe_ratio(SR_DAILY, 1250, -3.0, 10.0, benchmark=sr0), rel=1e-15
    )


def test_dsr_example_conventions() -> None:
    """Each other reading of the example's inputs misses the published 0.9004."""
    published = 0.9004
    kurt_excess = deflated_sharpe_ratio(SR_DAILY, 1250, -3.0, 10.0 + 3.0, 100, V_DAILY)
    sqrt_n_minus_2 = deflated_sharpe_ratio(SR_DAILY, 1249, -3.0, 10.0, 100, V_DAILY)
    year_252 = deflated_sharpe_ratio(2.5 / math.sqrt(252), 1250, -3.0, 10.0, 100, 0.5 / 252)
    v_not_converted = deflated_sharpe_ratio(SR_DAILY, 1250, -3.0, 10.0, 100, 0.5)
    assert round(kurt_excess, 4) == 0.8990
    assert round(sqrt_n_minus_2, 4) == 0.9003
    for value in (kurt_excess, sqrt_n_minus_2, year_252, v_not_converted):
        assert round(value, 4) != published
    assert v_not_converted < 1e-6


def test_expected_max_sharpe_edges_and_monte_carlo() -> None:
    assert expected_max_sharpe(1, 0.3) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0
    assert expected_max_sharpe(1.2, 1.0) == 0.0  # the approximation goes negative: clamped
    values = [expected_max_sharpe(n, 1.0) for n in (2, 10, 100, 1000)]
    assert values == sorted(values)
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * values[2], rel=1e-15)
    # The formula approximates E[max of N standard normals]: within 1.5 % for N = 100.
    draws = np.random.default_rng(7).standard_normal((20_000, 100)).max(axis=1)
    assert values[2] == pytest.approx(draws.mean(), rel=0.015)


# ---------------------------------------------------------------------------
# PSR and MinTRL


def test_psr_equals_half_at_benchmark() -> None:
    assert probabilistic_sharpe_ratio(0.1, 500, -1.0, 6.0, benchmark=0.1) == 0.5
    assert probabilistic_sharpe_ratio(0.0, 2, 0.0, 3.0) == 0.5


def test_psr_grows_with_track_record() -> None:
    psr = [probabilistic_sharpe_ratio(0.05, n, -0.5, 5.0) for n in (10, 100, 1000, 10_000)]
    assert all(a < b for a, b in itertools.pairwise(psr))
    assert psr[0] > 0.5 and psr[-1] > 0.9999
    below = [probabilistic_sharpe_ratio(-0.05, n, 0.0, 3.0) for n in (10, 1000)]
    assert below[1] < below[0] < 0.5


def test_psr_normal_case_matches_hand_formula() -> None:
    sr, n, sr0 = 0.08, 730, 0.02
    hand = stats.norm.cdf((sr - sr0) * math.sqrt(n - 1) / math.sqrt(1 + sr**2 / 2))
    assert probabilistic_sharpe_ratio(sr, n, 0.0, 3.0, sr0) == pytest.approx(hand, rel=1e-13)
    # Negative skew and fat tails widen the Sharpe estimate's error, so the PSR falls.
    assert probabilistic_sharpe_ratio(sr, n, -2.0, 12.0, sr0) < hand


def test_psr_far_tail_keeps_precision() -> None:
    value = probabilistic_sharpe_ratio(-0.5, 1000, 0.0, 3.0)
    assert 0 < value == pytest.approx(stats.norm.cdf(-0.5 * math.sqrt(999 / 1.125)), rel=1e-9)


def test_psr_from_returns_uses_sample_moments() -> None:
    r = np.random.default_rng(3).standard_t(4, 900) * 0.01 + 0.001
    sr = r.mean() / r.std(ddof=1)
    skew = stats.skew(r)
    kurt = stats.kurtosis(r, fisher=False)
    expected = probabilistic_sharpe_ratio(sr, r.size, skew, kurt, 0.01)
    assert psr_from_returns(r, benchmark=0.01) == pytest.approx(expected, rel=1e-12)


def test_dsr_from_trials_matches_explicit_inputs() -> None:
    rng = np.random.default_rng(11)
    trials = rng.normal(0.0003, 0.01, (1000, 30))
    sharpes = trials.mean(axis=0) / trials.std(axis=0, ddof=1)
    best = trials[:, int(np.argmax(sharpes))]
    expected = deflated_sharpe_ratio(
        sharpes.max(), 1000, stats.skew(best), stats.kurtosis(best, fisher=False),
        30, np.var(sharpes, ddof=1),
    )  # fmt: skip
    assert dsr_from_trials(best, sharpes) == pytest.approx(expected, rel=1e-12)
    assert dsr_from_trials(best, sharpes) < psr_from_returns(best)


@pytest.mark.parametrize(("sr", "skew", "kurt", "sr0", "conf"), [
    (0.1, 0.0, 3.0, 0.0, 0.95),
    (0.05, -1.5, 9.0, 0.01, 0.99),
    (0.3, 0.8, 4.0, 0.2, 0.6),
])  # fmt: skip
def test_min_track_record_length_inverts_psr(
    sr: float, skew: float, kurt: float, sr0: float, conf: float
) -> None:
    n = min_track_record_length(sr, skew, kurt, benchmark=sr0, confidence=conf)
    assert n > 1
    assert probabilistic_sharpe_ratio(sr, n, skew, kurt, sr0) == pytest.approx(conf, rel=1e-12)
    # A record one observation shorter is not enough, one longer is.
    assert probabilistic_sharpe_ratio(sr, n - 1 + 1e-9, skew, kurt, sr0) < conf
    assert probabilistic_sharpe_ratio(sr, n + 1, skew, kurt, sr0) > conf


def test_min_track_record_length_normal_case_and_edges() -> None:
    z = stats.norm.ppf(0.95)
    assert min_track_record_length(0.1, 0.0, 3.0) == pytest.approx(
        1 + (1 + 0.1**2 / 2) * (z / 0.1) ** 2, rel=1e-13
    )
    assert min_track_record_length(0.1, 0.0, 3.0, benchmark=0.1) == math.inf
    assert min_track_record_length(-0.1, 0.0, 3.0) == math.inf
    assert min_track_record_length(0.1, 0.0, 3.0, confidence=0.5) == 1.0


@pytest.mark.parametrize(("call", "match"), [
    (lambda: probabilistic_sharpe_ratio(0.1, 100, 0.0, 0.0), "non-excess"),
    (lambda: probabilistic_sharpe_ratio(0.1, 100, 2.0, 4.0), "1 \\+ skew"),
    (lambda: probabilistic_sharpe_ratio(0.1, 1, 0.0, 3.0), "n_obs must be > 1"),
    (lambda: probabilistic_sharpe_ratio(math.nan, 100, 0.0, 3.0), "sharpe must be finite"),
    (lambda: probabilistic_sharpe_ratio(0.1, 100, 0.0, "x"), "kurtosis must be a number"),
    (lambda: expected_max_sharpe(0, 1.0), "n_trials must be >= 1"),
    (lambda: expected_max_sharpe(10, -0.1), "sharpe_variance must be >= 0"),
    (lambda: min_track_record_length(0.1, 0.0, 3.0, confidence=1.0), "confidence"),
    (lambda: psr_from_returns(np.full(10, 0.01)), "all equal"),
    (lambda: psr_from_returns(np.array([0.1, np.nan, 0.2])), r"returns\[1\] is nan"),
    (lambda: psr_from_returns(np.ones((3, 2))), "1-D"),
    (lambda: dsr_from_trials(np.array([0.1, -0.1, 0.2]), np.array([0.1])), "at least 2"),
])  # fmt: skip
def test_scalar_validation(call: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        call()  # type: ignore[operator]


# ---------------------------------------------------------------------------
# PBO: brute-force reference


def _brute_metric(rows: np.ndarray, metric: str) -> np.ndarray:
    if metric == "mean":
        return rows.mean(axis=0)
    if metric == "total_return":
        return np.prod(1.0 + rows, axis=0) - 1.0
    std = rows.std(axis=0, ddof=1)
    flat = np.ptp(rows, axis=0) == 0
    return np.where(flat, 0.0, rows.mean(axis=0) / np.where(flat, 1.0, std))


def brute_force_pbo(
    m: np.ndarray, n_splits: int, metric: str | Callable[[np.ndarray], np.ndarray]
) -> dict[str, np.ndarray]:
    """CSCV the slow way: every combination from the raw rows, ranks by scipy."""
    n_trials = m.shape[1]
    blocks = np.array_split(np.arange(m.shape[0]), n_splits)
    out: dict[str, list[float]] = {"selected": [], "rank": [], "is": [], "oos": []}
    for chosen in itertools.combinations(range(n_splits), n_splits // 2):
        rows_is = np.concatenate([blocks[b] for b in chosen])
        rows_oos = np.concatenate([blocks[b] for b in range(n_splits) if b not in chosen])
        if isinstance(metric, str):
            is_val, oos_val = _brute_metric(m[rows_is], metric), _brute_metric(m[rows_oos], metric)
        else:
            is_val, oos_val = metric(m[rows_is]), metric(m[rows_oos])
        best = int(np.argmax(is_val))
        out["selected"].append(best)
        out["rank"].append(stats.rankdata(oos_val, method="average")[best])
        out["is"].append(is_val[best])
        out["oos"].append(oos_val[best])
    rank = np.asarray(out["rank"])
    return {
        "selected": np.asarray(out["selected"]),
        "logits": np.log(rank / (n_trials + 1.0 - rank)),
        "is": np.asarray(out["is"]),
        "oos": np.asarray(out["oos"]),
    }


def small_matrix(seed: int = 5) -> np.ndarray:
    """103 rows (not a multiple of 8) x 7 trials, with ties and flat stretches."""
    rng = np.random.default_rng(seed)
    m = rng.normal(-0.001, 0.01, (103, 7))
    m[:, 0] = 0.0  # two flat trials: Sharpe exactly 0, tied with each other
    m[:, 4] = 0.0
    m[40:70, 2] = 0.0  # a trial flat for a while: some halves have no dispersion in it
    # Constant over blocks 0-3, so without dispersion in sample in combination 0. This value's
    # shifted sums round to a variance of ~1e-22 > 0 there: only the exact min == max test
    # keeps its Sharpe at 0 instead of ~6e7.
    m[:52, 5] = 0.00074
    return m


@pytest.mark.parametrize("metric", ["sharpe", "mean", "total_return"])
def test_pbo_matches_brute_force(metric: str) -> None:
    m = small_matrix()
    res = probability_of_backtest_overfitting(m, n_splits=8, metric=metric)  # type: ignore[arg-type]
    ref = brute_force_pbo(m, 8, metric)
    assert res.n_combinations == math.comb(8, 4) == len(ref["logits"])
    np.testing.assert_array_equal(res.selected, ref["selected"])
    np.testing.assert_array_equal(res.logits, ref["logits"])  # exact: same ranks, same formula
    np.testing.assert_allclose(res.is_metric, ref["is"], rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(res.oos_metric, ref["oos"], rtol=1e-9, atol=1e-15)
    if metric == "sharpe":  # trial 5 is constant in sample in combination 0: Sharpe 0, not huge
        assert res.selected[0] != 5
    assert res.pbo == np.mean(ref["logits"] <= 0)
    assert res.probability_of_loss == np.mean(ref["oos"] < 0)
    slope, intercept = np.polyfit(ref["is"], ref["oos"], 1)
    assert res.performance_degradation.slope == pytest.approx(slope, rel=1e-9)
    assert res.performance_degradation.intercept == pytest.approx(intercept, rel=1e-9, abs=1e-15)


def test_pbo_ties_follow_the_stated_convention() -> None:
    # Trials 0 and 4 are flat (Sharpe 0) and the others drift down: the first flat trial wins
    # in sample, shares its out-of-sample rank with the other flat one, and the halves where
    # both rank above the median give logits > 0 of one value only.
    m = small_matrix()
    m[:, [1, 3, 6]] -= 0.01
    res = probability_of_backtest_overfitting(m, n_splits=8)
    assert set(np.unique(res.selected)) <= {0, 2, 4, 5}
    assert 0 in set(res.selected.tolist())
    np.testing.assert_array_equal(res.logits, brute_force_pbo(m, 8, "sharpe")["logits"])
    tied = res.selected == 0
    assert np.all(res.oos_metric[tied] == 0.0)


def test_pbo_callable_metric_matches_brute_force_and_builtin() -> None:
    m = np.random.default_rng(9).normal(0, 0.01, (96, 6))

    def median_return(rows: np.ndarray) -> np.ndarray:
        return np.median(rows, axis=0)

    res = probability_of_backtest_overfitting(m, n_splits=6, metric=median_return)
    ref = brute_force_pbo(m, 6, median_return)
    assert res.metric == "median_return"
    np.testing.assert_array_equal(res.logits, ref["logits"])
    np.testing.assert_array_equal(res.selected, ref["selected"])

    def mean_return(rows: np.ndarray) -> np.ndarray:
        return rows.mean(axis=0)

    by_callable = probability_of_backtest_overfitting(m, n_splits=6, metric=mean_return)
    builtin = probability_of_backtest_overfitting(m, n_splits=6, metric="mean")
    np.testing.assert_array_equal(by_callable.logits, builtin.logits)


def test_pbo_on_noise_is_high() -> None:
    m = np.random.default_rng(2024).normal(0.0, 0.01, (2000, 50))
    res = probability_of_backtest_overfitting(m, n_splits=16)
    print(f"\nPBO on noise (T=2000, N=50, S=16): {res.pbo:.4f}")
    assert 0.35 <= res.pbo <= 1.0
    assert res.n_combinations == 12_870
    assert res.logits.shape == res.selected.shape == (12_870,)
    # Selecting on noise: a better in-sample Sharpe promises nothing out of sample.
    assert res.performance_degradation.slope < 0.1
    assert 0.25 < res.probability_of_loss < 0.75


def test_pbo_with_a_dominant_trial_is_near_zero() -> None:
    rng = np.random.default_rng(2024)
    m = rng.normal(0.0, 0.01, (2000, 50))
    m[:, 17] += 0.003  # Sharpe 0.3 a period, far above what noise reaches
    res = probability_of_backtest_overfitting(m, n_splits=16)
    print(f"\nPBO with a dominant trial: {res.pbo:.4f}")
    assert res.pbo < 0.05
    assert np.mean(res.selected == 17) > 0.95
    assert res.probability_of_loss == 0.0
    assert np.all(res.logits > 0)


def test_pbo_result_is_frozen() -> None:
    res = probability_of_backtest_overfitting(small_matrix(), n_splits=4)
    assert isinstance(res, PBOResult)
    with pytest.raises(ValueError, match="read-only"):
        res.logits[0] = 1.0
    with pytest.raises(AttributeError):
        res.pbo = 0.0  # type: ignore[misc]


def test_pbo_at_sweep_scale() -> None:
    """T=9000, N=1000, S=16 runs from block aggregates (0.2-0.3 s on 2 cores; not asserted)."""
    m = np.random.default_rng(1).normal(0.0, 0.01, (9000, 1000))
    start = time.perf_counter()
    res = probability_of_backtest_overfitting(m, n_splits=16)
    print(f"\nT=9000 N=1000 S=16: PBO {res.pbo:.4f} in {time.perf_counter() - start:.2f} s")
    assert res.n_combinations == 12_870 and res.n_trials == 1000
    assert 0.25 <= res.pbo <= 1.0


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"n_splits": 7}, "even integer"),
    ({"n_splits": 0}, "even integer"),
    ({"n_splits": True}, "even integer"),
    ({"n_splits": 4.0}, "even integer"),
    ({"n_splits": 24}, "2,704,156 combinations"),
    ({"n_splits": 200}, "fewer than n_splits=200"),
    ({"metric": "sortino"}, "metric must be one of"),
    ({"metric": lambda rows: rows.mean()}, r"returned shape \(\)"),
    ({"metric": lambda rows: np.full(rows.shape[1], np.nan)}, "returned nan for trial 0"),
])  # fmt: skip
def test_pbo_validation(kwargs: dict[str, object], match: str) -> None:
    m = np.random.default_rng(0).normal(0, 0.01, (100, 5))
    with pytest.raises(ConfigError, match=match):
        probability_of_backtest_overfitting(m, **kwargs)  # type: ignore[arg-type]


def test_pbo_validation_of_the_matrix() -> None:
    m = np.random.default_rng(0).normal(0, 0.01, (100, 5))
    m[12, 3] = np.nan
    with pytest.raises(ConfigError, match=r"returns_matrix\[12, 3\] is nan"):
        probability_of_backtest_overfitting(m)
    with pytest.raises(ConfigError, match="2-D"):
        probability_of_backtest_overfitting(np.zeros(100))
    with pytest.raises(ConfigError, match="at least 2 trials"):
        probability_of_backtest_overfitting(np.zeros((100, 1)))
    with pytest.raises(ConfigError, match="at least 2 rows per half"):
        probability_of_backtest_overfitting(np.ones((3, 4)), n_splits=2)
    # "mean" needs one row per block only.
    assert (
        probability_of_backtest_overfitting(np.eye(3, 4), n_splits=2, metric="mean").n_splits == 2
    )


# ---------------------------------------------------------------------------
# PBO on real data: 50 SMA-cross configurations on Binance BTC/USDT 1h


def sma_cross_returns(close: np.ndarray, fast: int, slow: int) -> np.ndarray:
    """Per-bar returns of long-when-fast-SMA-above-slow, acting on the next bar."""
    csum = np.r_[0.0, np.cumsum(close)]
    sma_f = np.full(close.size, np.nan)
    sma_s = np.full(close.size, np.nan)
    sma_f[fast - 1 :] = (csum[fast:] - csum[:-fast]) / fast
    sma_s[slow - 1 :] = (csum[slow:] - csum[:-slow]) / slow
    held = np.zeros(close.size)
    held[slow - 1 :] = sma_f[slow - 1 :] > sma_s[slow - 1 :]  # flat during the warm-up
    return held[:-1] * (close[1:] / close[:-1] - 1.0)


def test_pbo_on_real_sma_grid(shared_data: Path) -> None:
    frame = pd.read_csv(shared_data / "ohlcv" / "binance-spot_BTC-USDT_1h__nfi.csv.gz")
    close = frame["close"].to_numpy(dtype=np.float64)
    params = [(f, s) for f in (4, 8, 12, 16, 24) for s in (30, *range(48, 241, 24))]
    assert len(params) == 50
    m = np.column_stack([sma_cross_returns(close, f, s) for f, s in params])
    start = time.perf_counter()
    res = probability_of_backtest_overfitting(m, n_splits=16)
    elapsed = time.perf_counter() - start
    print(
        f"\nBTC/USDT 1h, {m.shape[0]} returns x 50 SMA crosses: PBO {res.pbo:.4f}, "
        f"P(loss) {res.probability_of_loss:.4f}, degradation slope "
        f"{res.performance_degradation.slope:.3f}, {elapsed:.3f} s"
    )
    assert 0.0 <= res.pbo <= 1.0
    assert res.n_trials == 50 and res.n_combinations == 12_870
    assert np.all(np.isfinite(res.logits))
    # Combination 0 puts blocks 0..7 in sample: its winner's Sharpe, recomputed from the rows.
    blocks = np.array_split(np.arange(m.shape[0]), 16)
    rows_is, rows_oos = np.concatenate(blocks[:8]), np.concatenate(blocks[8:])
    sharpe_is = m[rows_is].mean(axis=0) / m[rows_is].std(axis=0, ddof=1)
    assert res.selected[0] == np.argmax(sharpe_is)
    assert res.is_metric[0] == pytest.approx(sharpe_is.max(), rel=1e-9)
    winner_oos = m[rows_oos, res.selected[0]]
    assert res.oos_metric[0] == pytest.approx(winner_oos.mean() / winner_oos.std(ddof=1), rel=1e-9)
