"""Causal feature sets for models: numbers per bar built from the indicator library.

A feature set is chosen and shaped by a few declared parameters (:class:`FeatureParams`,
mixed into a model strategy's ``Params``), so ``grekko sweep`` searches them like any other
parameter. Every column at row ``t`` uses rows ``<= t`` only, from finite windows, so a
feature matrix computed on a later start agrees with the full one after
:func:`feature_warmup` bars (the conformance warm-up check relies on it).

Sets
----
``price``
    Log returns over ``lags`` doubling horizons, the close against its SMA, rolling
    volatility, the Bollinger %b, the position in the Donchian channel and the close's
    z-score, at ``window`` (and twice ``window`` for the volatility and the SMA).
``price_volume``
    ``price`` plus the z-score of log volume and the return-signed volume ratio.
``wide``
    ``price_volume`` at the windows ``window * m`` for ``m`` in 1, 2, 3, 4 plus many
    return lags: about 50 columns, the benchmark's width.

Optional extras (off by default, never required): ``use_extras`` appends every
``Bars.extras`` series present (funding, sentiment, analysis features added with
:func:`grekko_research.analysis.features.with_features`), and ``use_analysis`` appends the
market-analysis package's ``vol_regime`` and ``bvc_flow`` when it can be imported.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.errors import ConfigError
from grekko_research.indicators import bollinger, donchian, sma, zscore
from grekko_research.strategy.params import param

__all__ = [
    "FEATURE_SETS",
    "FeatureMatrix",
    "FeatureParams",
    "build_features",
    "feature_warmup",
]

FEATURE_SETS = ("price", "price_volume", "wide")


@dataclass(frozen=True)
class FeatureParams:
    """The feature set of a model, declared like a strategy's parameters (searchable)."""

    feature_set: str = param("price", choices=FEATURE_SETS, doc="which columns (module notes)")
    window: int = param(24, low=4, high=48, doc="base window of the rolling features, bars")
    lags: int = param(5, low=1, high=8, doc="log-return horizons 1, 2, 4, … 2**(lags-1) bars")
    use_extras: bool = param(False, doc="append every Bars.extras series as a column")
    use_analysis: bool = param(False, doc="append analysis vol_regime and bvc_flow if present")


@dataclass(frozen=True)
class FeatureMatrix:
    """Features per bar and symbol: ``values`` ``(n_bars, n_symbols, n_features)``, NaN in warm-up."""

    values: np.ndarray
    names: tuple[str, ...]


def _windows(p: Any) -> tuple[int, ...]:
    return (1, 2, 3, 4) if p.feature_set == "wide" else (1,)


def _lag_list(p: Any) -> list[int]:
    lags = [2**i for i in range(int(p.lags))]
    if p.feature_set == "wide":  # dense short horizons too
        lags = sorted(set(lags) | set(range(1, 13)))
    return lags


def feature_warmup(p: Any) -> int:
    """Rows before every column of the set is defined and start-independent."""
    longest = max(2 * p.window * max(_windows(p)), max(_lag_list(p)))
    extra = 0
    if p.use_analysis:  # the analysis defaults: vol_regime 24 + 250, bvc_flow 50 + 12
        extra = 24 + 250 + 1
    return max(longest, extra) + 1


def _log_close(bars: Bars) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.where(bars.close > 0, bars.close, np.nan))


def _lagged_return(logc: np.ndarray, lag: int) -> np.ndarray:
    out = np.full_like(logc, np.nan)
    out[lag:] = logc[lag:] - logc[:-lag]
    return out


def _rolling_std(x: np.ndarray, window: int) -> np.ndarray:
    """Sample std of the last ``window`` values (NaN while any is missing): exact, start-free."""
    n = x.shape[0]
    out = np.full_like(x, np.nan)
    if n >= window:
        view = np.lib.stride_tricks.sliding_window_view(x, window, axis=0)
        out[window - 1 :] = view.std(axis=-1, ddof=1)
    return out


def _price_columns(bars: Bars, logc: np.ndarray, w: int, suffix: str) -> dict[str, np.ndarray]:
    close = bars.close
    r1 = _lagged_return(logc, 1)
    mid, upper, lower = bollinger(close, w, 2.0)
    hi, lo, _ = donchian(bars.high, bars.low, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols = {
            f"sma_ratio{suffix}": close / sma(close, w) - 1.0,
            f"sma2_ratio{suffix}": close / sma(close, 2 * w) - 1.0,
            f"vol{suffix}": _rolling_std(r1, w),
            f"vol_ratio{suffix}": _rolling_std(r1, w) / _rolling_std(r1, 2 * w),
            f"bb_pctb{suffix}": (close - lower) / (upper - lower),
            f"donchian_pos{suffix}": (close - lo) / (hi - lo),
            f"zscore{suffix}": zscore(close, w),
        }
    del mid
    return cols


def _volume_columns(bars: Bars, logc: np.ndarray, w: int, suffix: str) -> dict[str, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        logv = np.log1p(np.where(bars.volume > 0, bars.volume, 0.0))
        signed = np.sign(_lagged_return(logc, 1)) * bars.volume
        return {
            f"volume_z{suffix}": zscore(logv, w),
            f"signed_volume{suffix}": sma(signed, w) / sma(bars.volume, w),
        }


def _analysis_columns(bars: Bars) -> dict[str, np.ndarray]:
    """The market-analysis package's features at their defaults, if it is importable."""
    try:
        mod = importlib.import_module("grekko_research.analysis.features")
    except ImportError:  # the ML package never requires it
        return {}
    src = mod.Sources()
    out = {}
    for name in ("vol_regime", "bvc_flow"):
        feat = mod.FEATURES.get(name)
        if feat is not None:
            out[f"analysis_{name}"] = np.asarray(feat.compute(bars, feat.Params(), src), float)
    return out


def build_features(bars: Bars, p: Any) -> FeatureMatrix:
    """Compute the feature set ``p`` (a :class:`FeatureParams`-like object) on ``bars``.

    Raises
    ------
    ConfigError
        For an unknown ``feature_set``.
    """
    if p.feature_set not in FEATURE_SETS:
        raise ConfigError(f"feature_set {p.feature_set!r}: expected one of {list(FEATURE_SETS)}")
    logc = _log_close(bars)
    cols: dict[str, np.ndarray] = {}
    for lag in _lag_list(p):
        cols[f"ret_{lag}"] = _lagged_return(logc, lag)
    for m in _windows(p):
        suffix = "" if m == 1 else f"_x{m}"
        cols.update(_price_columns(bars, logc, p.window * m, suffix))
        if p.feature_set in ("price_volume", "wide"):
            cols.update(_volume_columns(bars, logc, p.window * m, suffix))
    if p.use_analysis:
        cols.update(_analysis_columns(bars))
    if p.use_extras:
        for name, values in sorted(bars.extras.items()):
            cols[f"extra_{name}"] = np.asarray(values, dtype=np.float64)
    names = tuple(cols)
    values = np.stack([np.asarray(cols[c], dtype=np.float64) for c in names], axis=-1)
    values[~np.isfinite(values)] = np.nan
    # rounded to float32's precision: rolling sums started at another row differ in the last
    # bits, which would make every live window's training rows (and model cache keys) differ
    values = values.astype(np.float32).astype(np.float64)
    return FeatureMatrix(values, names)
