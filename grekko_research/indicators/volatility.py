"""Volatility: ATR, bands and channels, and annualised volatility estimators.

Kernels take ``(n, k)`` float64 arrays (bars × assets) and return ``(n, k)``
float64 arrays (or tuples of them), column by column. The value at row ``t``
uses rows ``≤ t`` only; warm-up rows are NaN. A bar with a NaN in any input
the indicator reads is skipped (it neither enters a window nor advances a
recursion) and gives NaN, except in ``rolling_volatility_nb``, the engine's
kernel, where a NaN close restarts the window.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
from numba import njit

from grekko_research.errors import ConfigError
from grekko_research.indicators._api import (
    as_matrices,
    as_matrix,
    check_float,
    check_int,
    restore,
)
from grekko_research.indicators._rolling import ema_1d, rolling_extreme_1d, rolling_moments_1d

__all__ = [
    "atr",
    "atr_nb",
    "bollinger",
    "bollinger_nb",
    "donchian",
    "donchian_nb",
    "garman_klass",
    "garman_klass_nb",
    "keltner",
    "keltner_nb",
    "parkinson",
    "parkinson_nb",
    "rolling_volatility_nb",
    "volatility",
    "volatility_nb",
]


@njit(cache=True, nogil=True)
def atr_nb(high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int) -> np.ndarray:
    """Return Wilder's Average True Range, ``(n, k)``.

    True range at ``t`` is ``max(high − low, |high − close[t−1]|, |low − close[t−1]|)``
    (``high − low`` on the first bar); the ATR seeds with the mean of the first
    ``window`` true ranges and then smooths with ``α = 1 / window``.
    """
    n, k = close.shape
    out = np.full((n, k), np.nan)
    for j in range(k):
        count = 0
        acc = 0.0
        value = np.nan
        prev_close = np.nan
        for t in range(n):
            h, lo, c = high[t, j], low[t, j], close[t, j]
            if not (h == h and lo == lo and c == c):
                continue  # a bar without trades does not move the ATR
            tr = h - lo
            if prev_close == prev_close:
                tr = max(tr, abs(h - prev_close), abs(lo - prev_close))
            prev_close = c
            if count < window:
                acc += tr
                count += 1
                if count == window:
                    value = acc / window
                    out[t, j] = value
            else:
                value += (tr - value) / window
                out[t, j] = value
    return out


@njit(cache=True, nogil=True)
def rolling_volatility_nb(close: np.ndarray, window: int, periods_per_year: float) -> np.ndarray:
    """Return the annualised close-to-close volatility over ``window`` returns, ``(n, k)``.

    Standard deviation (ddof=1) of simple returns ``close[t] / close[t−1] − 1``
    times ``sqrt(periods_per_year)``. NaN closes break the window.

    Each value is computed from its own window's returns alone (two passes: the mean, then the
    squared deviations), never from running sums carried through the history: a live book holding only the last
    ``window + 1`` closes gets the backtest's value bit for bit (vol-target sizing parity).
    O(window) per bar.
    """
    n, k = close.shape
    out = np.full((n, k), np.nan)
    scale = np.sqrt(periods_per_year)
    ret = np.empty(n)
    for j in range(k):
        count = 0  # valid returns in a row, ending at t
        for t in range(1, n):
            a, b = close[t - 1, j], close[t, j]
            if not (a == a and b == b and a > 0.0):
                count = 0
                continue
            ret[t] = b / a - 1.0
            count += 1
            if count >= window and window > 1:
                lo = t - window + 1  # the window's returns: ret[lo..t], contiguous
                mean = _window_sum(ret, lo, t + 1, 0.0, False) / window
                ss = _window_sum(ret, lo, t + 1, mean, True)
                out[t, j] = np.sqrt(ss / (window - 1)) * scale
    return out


@njit(cache=True, nogil=True, inline="always")
def _window_sum(x: np.ndarray, lo: int, hi: int, shift: float, square: bool) -> float:
    """``Σ x[lo:hi]`` (or ``Σ (x − shift)²``) in four interleaved partial sums: a fixed order
    that depends on the window alone (so a live window and a whole history agree bit for bit)
    and lets the CPU overlap the additions."""
    s0 = s1 = s2 = s3 = 0.0
    i = lo
    while i + 4 <= hi:
        a, b, c, d = x[i] - shift, x[i + 1] - shift, x[i + 2] - shift, x[i + 3] - shift
        if square:
            a, b, c, d = a * a, b * b, c * c, d * d
        s0 += a
        s1 += b
        s2 += c
        s3 += d
        i += 4
    while i < hi:
        a = x[i] - shift
        s0 += a * a if square else a
        i += 1
    return (s0 + s1) + (s2 + s3)


@njit(cache=True, nogil=True)
def bollinger_nb(
    x: np.ndarray, window: int, k_std: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return Bollinger ``(mid, upper, lower)``, each ``(n, k)``.

    ``mid`` is the SMA of the last ``window`` valid values and the bands are
    ``mid ± k_std·σ`` with the population standard deviation (ddof=0, as
    TA-Lib's ``BBANDS`` and ``ta``). Warm-up: the first ``window − 1`` rows.
    """
    n, k = x.shape
    mid = np.empty((n, k))
    upper = np.empty((n, k))
    lower = np.empty((n, k))
    col = np.empty(n)
    mean = np.empty(n)
    var = np.empty(n)
    for j in range(k):
        col[:] = x[:, j]
        rolling_moments_1d(col, window, 0, mean, var)
        for t in range(n):
            width = k_std * np.sqrt(var[t])
            mid[t, j] = mean[t]
            upper[t, j] = mean[t] + width
            lower[t, j] = mean[t] - width
    return mid, upper, lower


@njit(cache=True, nogil=True)
def donchian_nb(
    high: np.ndarray, low: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return Donchian ``(upper, lower, mid)``, each ``(n, k)``.

    ``upper`` is the highest high and ``lower`` the lowest low of the last
    ``window`` valid bars, the current bar included; ``mid`` is their mean.
    A bar is valid when both its high and low are. Warm-up: ``window − 1`` rows.
    """
    n, k = high.shape
    upper = np.empty((n, k))
    lower = np.empty((n, k))
    mid = np.empty((n, k))
    hcol = np.empty(n)
    lcol = np.empty(n)
    hi = np.empty(n)
    lo = np.empty(n)
    for j in range(k):
        for t in range(n):
            h, l_ = high[t, j], low[t, j]
            ok = h == h and l_ == l_
            hcol[t] = h if ok else np.nan
            lcol[t] = l_ if ok else np.nan
        rolling_extreme_1d(hcol, window, True, hi)
        rolling_extreme_1d(lcol, window, False, lo)
        for t in range(n):
            upper[t, j] = hi[t]
            lower[t, j] = lo[t]
            mid[t, j] = 0.5 * (hi[t] + lo[t])
    return upper, lower, mid


@njit(cache=True, nogil=True)
def keltner_nb(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    window: int,
    atr_window: int,
    mult: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return Keltner ``(mid, upper, lower)``, each ``(n, k)``.

    ``mid`` is the SMA-seeded EMA (span ``window``, see ``ema_nb``) of the
    close and the bands are ``mid ± mult·ATR(atr_window)`` (``atr_nb``). A bar
    is valid when its high, low and close are. Warm-up:
    ``max(window, atr_window) − 1`` rows.
    """
    n, k = close.shape
    band = atr_nb(high, low, close, atr_window)
    mid = np.empty((n, k))
    upper = np.empty((n, k))
    lower = np.empty((n, k))
    col = np.empty(n)
    res = np.empty(n)
    alpha = 2.0 / (window + 1.0)
    for j in range(k):
        for t in range(n):
            h, l_, c = high[t, j], low[t, j], close[t, j]
            col[t] = c if (h == h and l_ == l_) else np.nan
        ema_1d(col, alpha, window, res)
        for t in range(n):
            a = band[t, j]
            m = res[t] if a == a else np.nan
            mid[t, j] = m
            upper[t, j] = m + mult * a
            lower[t, j] = m - mult * a
    return mid, upper, lower


@njit(cache=True, nogil=True)
def _annualised_mean_1d(
    u: np.ndarray, window: int, ddof: int, use_var: bool, ppy: float, out: np.ndarray
) -> None:
    """Write ``sqrt(max(stat, 0)·ppy)`` where ``stat`` is the rolling variance or mean of ``u``."""
    n = u.shape[0]
    mean = np.empty(n)
    var = np.empty(n)
    rolling_moments_1d(u, window, ddof, mean, var)
    for t in range(n):
        stat = var[t] if use_var else mean[t]
        out[t] = np.sqrt(max(stat, 0.0) * ppy) if stat == stat else np.nan


@njit(cache=True, nogil=True)
def volatility_nb(close: np.ndarray, window: int, periods_per_year: float) -> np.ndarray:
    """Return the annualised close-to-close volatility of log returns, ``(n, k)``.

    Sample standard deviation (ddof=1) of the last ``window`` log returns
    ``ln(close[t] / close[prev valid])`` times ``sqrt(periods_per_year)``.
    Non-positive closes count as missing. Warm-up: the first ``window`` rows
    (``window`` returns need ``window + 1`` closes).
    """
    n, k = close.shape
    out = np.empty((n, k))
    ret = np.empty(n)
    res = np.empty(n)
    for j in range(k):
        prev = np.nan
        for t in range(n):
            c = close[t, j]
            if not c > 0.0:  # NaN or non-positive
                ret[t] = np.nan
                continue
            ret[t] = np.log(c / prev) if prev == prev else np.nan
            prev = c
        _annualised_mean_1d(ret, window, 1, True, periods_per_year, res)
        out[:, j] = res
    return out


@njit(cache=True, nogil=True)
def parkinson_nb(
    high: np.ndarray, low: np.ndarray, window: int, periods_per_year: float
) -> np.ndarray:
    """Return Parkinson's annualised high–low volatility, ``(n, k)``.

    ``sqrt(mean(ln(high/low)²) / (4·ln 2) · periods_per_year)`` over the last
    ``window`` valid bars (high and low finite and positive). Warm-up:
    ``window − 1`` rows.
    """
    n, k = high.shape
    out = np.empty((n, k))
    u = np.empty(n)
    res = np.empty(n)
    scale = periods_per_year / (4.0 * np.log(2.0))
    for j in range(k):
        for t in range(n):
            h, l_ = high[t, j], low[t, j]
            if h > 0.0 and l_ > 0.0:
                r = np.log(h / l_)
                u[t] = r * r
            else:
                u[t] = np.nan
        _annualised_mean_1d(u, window, 0, False, scale, res)
        out[:, j] = res
    return out


@njit(cache=True, nogil=True)
def garman_klass_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    window: int,
    periods_per_year: float,
) -> np.ndarray:
    """Return the Garman–Klass annualised volatility, ``(n, k)``.

    Per bar ``0.5·ln(high/low)² − (2·ln 2 − 1)·ln(close/open)²``, averaged
    over the last ``window`` valid bars (all four prices finite and positive),
    floored at 0, times ``periods_per_year``, square-rooted. Warm-up:
    ``window − 1`` rows.
    """
    n, k = close.shape
    out = np.empty((n, k))
    u = np.empty(n)
    res = np.empty(n)
    c_oc = 2.0 * np.log(2.0) - 1.0
    for j in range(k):
        for t in range(n):
            o, h, l_, c = open_[t, j], high[t, j], low[t, j], close[t, j]
            if o > 0.0 and h > 0.0 and l_ > 0.0 and c > 0.0:
                hl = np.log(h / l_)
                oc = np.log(c / o)
                u[t] = 0.5 * hl * hl - c_oc * oc * oc
            else:
                u[t] = np.nan
        _annualised_mean_1d(u, window, 0, False, periods_per_year, res)
        out[:, j] = res
    return out


def atr(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, window: int = 14
) -> npt.NDArray[np.float64]:
    """Return Wilder's Average True Range (``atr_nb``).

    Parameters
    ----------
    high, low, close
        Same-shaped ``(n,)`` or ``(n, k)`` prices; a bar with any NaN is skipped.
    window
        ``>= 1``. The first true range is ``high − low`` (no previous close), the
        ATR seeds with the mean of the first ``window`` true ranges, as the
        ``ta`` package does; TA-Lib drops the first bar and starts one row later.

    Returns
    -------
    numpy.ndarray
        Same shape as ``close``; the first ``window − 1`` rows are NaN.
    """
    window = check_int("atr", "window", window, 1)
    (h, lo, c), was_1d = as_matrices("atr", high=high, low=low, close=close)
    return restore(atr_nb(h, lo, c, window), was_1d)


def bollinger(
    x: npt.ArrayLike, window: int = 20, k: float = 2.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return Bollinger ``(mid, upper, lower)``: SMA ± ``k`` population (ddof=0) std.

    Parameters
    ----------
    x
        ``(n,)`` or ``(n, k)`` prices.
    window
        ``>= 1``.
    k
        Band width in standard deviations, finite and ``>= 0``.

    Returns
    -------
    tuple of numpy.ndarray
        Each the shape of ``x``; the first ``window − 1`` rows are NaN.
    """
    window = check_int("bollinger", "window", window, 1)
    k_std = check_float("bollinger", "k", k, positive=False)
    mat, was_1d = as_matrix("bollinger", "x", x)
    mid, upper, lower = bollinger_nb(mat, window, k_std)
    return restore(mid, was_1d), restore(upper, was_1d), restore(lower, was_1d)


def donchian(
    high: npt.ArrayLike, low: npt.ArrayLike, window: int = 20
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return Donchian ``(upper, lower, mid)``: highest high, lowest low, their mean.

    Parameters
    ----------
    high, low
        Same-shaped ``(n,)`` or ``(n, k)`` prices.
    window
        Bars in the channel, the current one included, ``>= 1``. (Breakout
        rules compare a price with the previous bar's channel.)

    Returns
    -------
    tuple of numpy.ndarray
        Each the shape of ``high``; the first ``window − 1`` rows are NaN.
    """
    window = check_int("donchian", "window", window, 1)
    (h, lo), was_1d = as_matrices("donchian", high=high, low=low)
    upper, lower, mid = donchian_nb(h, lo, window)
    return restore(upper, was_1d), restore(lower, was_1d), restore(mid, was_1d)


def keltner(
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    window: int = 20,
    atr_window: int = 10,
    mult: float = 2.0,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return Keltner ``(mid, upper, lower)``: EMA(close) ± ``mult``·ATR.

    Parameters
    ----------
    high, low, close
        Same-shaped ``(n,)`` or ``(n, k)`` prices.
    window
        Span of the SMA-seeded EMA of the close, ``>= 1``.
    atr_window
        Window of :func:`atr`, ``>= 1``.
    mult
        Band width in ATRs, finite and ``>= 0``.

    Returns
    -------
    tuple of numpy.ndarray
        Each the shape of ``close``; the first ``max(window, atr_window) − 1``
        rows are NaN.
    """
    window = check_int("keltner", "window", window, 1)
    atr_window = check_int("keltner", "atr_window", atr_window, 1)
    mult_f = check_float("keltner", "mult", mult, positive=False)
    (h, lo, c), was_1d = as_matrices("keltner", high=high, low=low, close=close)
    mid, upper, lower = keltner_nb(h, lo, c, window, atr_window, mult_f)
    return restore(mid, was_1d), restore(upper, was_1d), restore(lower, was_1d)


def volatility(
    close: npt.ArrayLike,
    window: int,
    periods_per_year: float | str,
    *,
    returns: Literal["log", "simple"] = "log",
) -> npt.NDArray[np.float64]:
    """Return the annualised close-to-close volatility (sample std, ddof=1).

    Parameters
    ----------
    close
        ``(n,)`` or ``(n, k)`` prices.
    window
        Number of returns, ``>= 2``.
    periods_per_year
        Bars per year, finite and ``> 0``, or the bars' timeframe (``"1h"``: 8760 bars of
        the year of :mod:`grekko_research.calendar`, the engine's and the metrics').
    returns
        ``"log"`` (default, :func:`volatility_nb`): log returns against the
        previous valid close, NaN bars skipped. ``"simple"``: exactly the
        engine's ``rolling_volatility_nb`` (simple returns; a NaN close
        restarts the window).

    Returns
    -------
    numpy.ndarray
        Same shape as ``close``; the first ``window`` rows are NaN.
    """
    window = check_int("volatility", "window", window, 2)
    ppy = _periods("volatility", periods_per_year)
    if returns not in ("log", "simple"):
        raise ConfigError(f"volatility: returns must be 'log' or 'simple', got {returns!r}")
    mat, was_1d = as_matrix("volatility", "close", close)
    kernel = volatility_nb if returns == "log" else rolling_volatility_nb
    return restore(kernel(mat, window, ppy), was_1d)


def parkinson(
    high: npt.ArrayLike, low: npt.ArrayLike, window: int, periods_per_year: float | str
) -> npt.NDArray[np.float64]:
    """Return Parkinson's annualised volatility from the high–low range.

    Parameters
    ----------
    high, low
        Same-shaped ``(n,)`` or ``(n, k)`` prices; non-positive or NaN bars are skipped.
    window
        Bars averaged, ``>= 1``.
    periods_per_year
        Bars per year, finite and ``> 0``, or the bars' timeframe (``"1h"``: 8760 bars of
        the year of :mod:`grekko_research.calendar`, the engine's and the metrics').

    Returns
    -------
    numpy.ndarray
        Same shape as ``high``; the first ``window − 1`` rows are NaN.
    """
    window = check_int("parkinson", "window", window, 1)
    ppy = _periods("parkinson", periods_per_year)
    (h, lo), was_1d = as_matrices("parkinson", high=high, low=low)
    return restore(parkinson_nb(h, lo, window, ppy), was_1d)


def garman_klass(
    open: npt.ArrayLike,
    high: npt.ArrayLike,
    low: npt.ArrayLike,
    close: npt.ArrayLike,
    window: int,
    periods_per_year: float | str,
) -> npt.NDArray[np.float64]:
    """Return the Garman–Klass annualised volatility from OHLC bars.

    Parameters
    ----------
    open, high, low, close
        Same-shaped ``(n,)`` or ``(n, k)`` prices; non-positive or NaN bars are skipped.
    window
        Bars averaged, ``>= 1``.
    periods_per_year
        Bars per year, finite and ``> 0``, or the bars' timeframe (``"1h"``: 8760 bars of
        the year of :mod:`grekko_research.calendar`, the engine's and the metrics').

    Returns
    -------
    numpy.ndarray
        Same shape as ``close``; the first ``window − 1`` rows are NaN.
    """
    window = check_int("garman_klass", "window", window, 1)
    ppy = _periods("garman_klass", periods_per_year)
    (o, h, lo, c), was_1d = as_matrices("garman_klass", open=open, high=high, low=low, close=close)
    return restore(garman_klass_nb(o, h, lo, c, window, ppy), was_1d)


def _periods(name: str, periods_per_year: float | str) -> float:
    """Bars per year: a positive number as given, or a timeframe through the one calendar."""
    if isinstance(periods_per_year, str):
        from grekko_research.calendar import periods_per_year as calendar_periods

        try:
            return calendar_periods(periods_per_year)
        except ConfigError as exc:
            raise ConfigError(f"{name}: periods_per_year: {exc}") from None
    return check_float(name, "periods_per_year", periods_per_year, positive=True)
