"""Bad arguments raise ConfigError naming the function and the argument."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

import grekko_research.indicators as ind
from grekko_research.errors import ConfigError

X = np.linspace(100.0, 110.0, 50)
X2 = np.column_stack([X, X + 1.0])

BAD: list[tuple[Callable[[], Any], str]] = [
    (lambda: ind.sma(X, 0), "sma: window must be >= 1, got 0"),
    (lambda: ind.sma(X, 2.5), "sma: window must be an integer, got 2.5"),
    (lambda: ind.sma(X, True), "sma: window must be an integer, got True"),
    (lambda: ind.ema(X, -3), "ema: span must be >= 1, got -3"),
    (lambda: ind.wma(X, None), "wma: window must be an integer, got None"),
    (lambda: ind.rsi(X, 0), "rsi: period must be >= 1, got 0"),
    (lambda: ind.macd(X, fast=0), "macd: fast must be >= 1, got 0"),
    (lambda: ind.macd(X, fast=26, slow=12), "macd: fast must be < slow, got fast=26, slow=12"),
    (lambda: ind.macd(X, signal=0), "macd: signal must be >= 1, got 0"),
    (lambda: ind.atr(X, X, X, 0), "atr: window must be >= 1, got 0"),
    (
        lambda: ind.atr(X, X[:-1], X),
        r"atr: inputs must have the same shape, got high=\(50,\), low=\(49,\)",
    ),
    (lambda: ind.atr(X, X2, X2), r"atr: inputs must have the same shape"),
    (lambda: ind.bollinger(X, 20, -1.0), "bollinger: k must be a finite number >= 0, got -1.0"),
    (
        lambda: ind.bollinger(X, 20, float("nan")),
        "bollinger: k must be a finite number >= 0, got nan",
    ),
    (lambda: ind.bollinger(X, 20, "2"), "bollinger: k must be a number, got '2'"),
    (lambda: ind.donchian(X, X, 0), "donchian: window must be >= 1, got 0"),
    (lambda: ind.keltner(X, X, X, atr_window=0), "keltner: atr_window must be >= 1, got 0"),
    (
        lambda: ind.keltner(X, X, X, mult=float("inf")),
        "keltner: mult must be a finite number >= 0, got inf",
    ),
    (lambda: ind.adx(X, X, X, 0), "adx: window must be >= 1, got 0"),
    (
        lambda: ind.obv(X, X2),
        r"obv: inputs must have the same shape, got close=\(50,\), volume=\(50, 2\)",
    ),
    (lambda: ind.vwap(X, X, X, X, 0), "vwap: window must be >= 1, got 0"),
    (lambda: ind.zscore(X, 1), "zscore: window must be >= 2, got 1"),
    (lambda: ind.volatility(X, 1, 365), "volatility: window must be >= 2, got 1"),
    (
        lambda: ind.volatility(X, 10, 0),
        "volatility: periods_per_year must be a finite number > 0, got 0.0",
    ),
    (
        lambda: ind.volatility(X, 10, 365, returns="pct"),
        "volatility: returns must be 'log' or 'simple', got 'pct'",
    ),
    (
        lambda: ind.parkinson(X, X, 10, -1),
        "parkinson: periods_per_year must be a finite number > 0, got -1.0",
    ),
    (lambda: ind.garman_klass(X, X, X, X, 0, 365), "garman_klass: window must be >= 1, got 0"),
    (lambda: ind.sma(np.zeros((3, 3, 3)), 2), r"sma: x must be 1-D or 2-D, got shape \(3, 3, 3\)"),
    (lambda: ind.sma(np.float64(3.0), 2), r"sma: x must be 1-D or 2-D, got shape \(\)"),
    (lambda: ind.xs_rank(np.array(["a", "b"])), "xs_rank: x must be numeric, got dtype <U1"),
    (lambda: ind.ema([[1.0, 2.0], [3.0]], 2), "ema: x must be a numeric array, got list"),
    (lambda: ind.sma(pd.Series(["a", "b"]), 1), "sma: x must be a numeric array, got Series"),
    (lambda: ind.zscore(X.astype(complex), 5), "zscore: x must be numeric, got dtype complex128"),
]


@pytest.mark.parametrize(
    ("call", "message"), BAD, ids=[m.split(":")[0] + str(i) for i, (_, m) in enumerate(BAD)]
)
def test_bad_argument_raises_config_error(call: Callable[[], Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="sma: window"):
        ind.sma(X, 0)


def test_accepts_numpy_scalars_for_arguments() -> None:
    np.testing.assert_array_equal(ind.sma(X, np.int32(5)), ind.sma(X, 5))
    np.testing.assert_array_equal(
        ind.bollinger(X, np.int64(5), np.float32(1.5))[1], ind.bollinger(X, 5, 1.5)[1]
    )
    np.testing.assert_array_equal(ind.volatility(X, 5, 365), ind.volatility(X, 5, 365.0))
