"""Momentum and trend strength: RSI, MACD, ADX with ±DI.

Kernels take ``(n, k)`` float64 arrays (bars × assets) and return ``(n, k)``
float64 arrays, column by column. The value at row ``t`` uses rows ``≤ t``
only; warm-up rows are NaN; a NaN input row (for ADX: NaN high, low or close)
is skipped, so differences are taken against the previous valid bar, and its
output is NaN.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

from grekko_research.errors import ConfigError
from grekko_research.indicators._api import as_matrices, as_matrix, check_int, restore
from grekko_research.indicators._rolling import ema_1d

__all__ = ["adx", "adx_nb", "macd", "macd_nb", "rsi", "rsi_nb"]


@njit(cache=True, nogil=True)
def rsi_nb(x: np.ndarray, period: int) -> np.ndarray:
    """Return Wilder's Relative Strength Index (0–100), ``(n, k)``.

    Gains and losses are the positive and negative parts of the change from
    the previous valid value; their averages seed with the mean of the first
    ``period`` changes and then smooth with ``avg = (avg·(period − 1) + new) /
    period`` (TA-Lib's ``RSI``). ``RSI = 100·gain / (gain + loss)``, and 50
    when both averages are 0 (a flat window). Warm-up: the first ``period`` rows.
    """
    n, k = x.shape
    out = np.full((n, k), np.nan)
    for j in range(k):
        prev = np.nan
        count = 0
        gain = 0.0
        loss = 0.0
        for t in range(n):
            v = x[t, j]
            if v != v:
                continue
            if prev != prev:
                prev = v
                continue
            d = v - prev
            prev = v
            g = d if d > 0.0 else 0.0
            lo = -d if d < 0.0 else 0.0
            if count < period:
                gain += g
                loss += lo
                count += 1
                if count < period:
                    continue
                gain /= period
                loss /= period
            else:
                gain = (gain * (period - 1) + g) / period
                loss = (loss * (period - 1) + lo) / period
            total = gain + loss
            out[t, j] = 100.0 * gain / total if total > 0.0 else 50.0
    return out


@njit(cache=True, nogil=True)
def macd_nb(
    x: np.ndarray, fast: int, slow: int, signal: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(macd, signal, hist)``, each ``(n, k)``.

    ``macd = EMA(fast) − EMA(slow)`` with SMA-seeded EMAs (see ``ema_nb``);
    ``signal`` is the SMA-seeded EMA of the MACD line over ``signal`` values;
    ``hist = macd − signal``. Warm-up: ``slow − 1`` rows for ``macd``,
    ``slow + signal − 2`` rows for ``signal`` and ``hist``. TA-Lib's ``MACD``
    seeds its fast EMA later (aligned to the slow one), which differs only
    until the seed has decayed.
    """
    n, k = x.shape
    line = np.empty((n, k))
    sig = np.empty((n, k))
    hist = np.empty((n, k))
    col = np.empty(n)
    ema_fast = np.empty(n)
    ema_slow = np.empty(n)
    res = np.empty(n)
    for j in range(k):
        col[:] = x[:, j]
        ema_1d(col, 2.0 / (fast + 1.0), fast, ema_fast)
        ema_1d(col, 2.0 / (slow + 1.0), slow, ema_slow)
        for t in range(n):
            col[t] = ema_fast[t] - ema_slow[t]
        ema_1d(col, 2.0 / (signal + 1.0), signal, res)
        for t in range(n):
            line[t, j] = col[t]
            sig[t, j] = res[t]
            hist[t, j] = col[t] - res[t]
    return line, sig, hist


@njit(cache=True, nogil=True)
def adx_nb(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return Wilder's ``(adx, plus_di, minus_di)``, each ``(n, k)``.

    From the second valid bar on: ``+DM = up`` if ``up > down`` and ``up > 0``
    (else 0), ``−DM`` likewise with ``down``, where ``up = high − prev_high``
    and ``down = prev_low − low``; TR is the true range. Wilder sums seed with
    the sum of the first ``window`` values and then move by
    ``S ← S − S/window + new``; ``±DI = 100·S(±DM) / S(TR)`` (0 when
    ``S(TR) = 0``); ``DX = 100·|+DI − −DI| / (+DI + −DI)`` (0 when both are 0);
    ADX seeds with the mean of the first ``window`` DX values and then smooths
    with ``(adx·(window − 1) + dx) / window``. Warm-up: ``window`` rows for the
    DIs and ``2·window − 1`` rows for ADX (TA-Lib's lookbacks; TA-Lib seeds its
    sums with ``window − 1`` values, which differs only until the seed decays).
    """
    n, k = close.shape
    adx_out = np.full((n, k), np.nan)
    pdi_out = np.full((n, k), np.nan)
    mdi_out = np.full((n, k), np.nan)
    for j in range(k):
        ph = np.nan
        pl = np.nan
        pc = np.nan
        count = 0
        s_tr = 0.0
        s_p = 0.0
        s_m = 0.0
        dx_count = 0
        adx = 0.0
        for t in range(n):
            h, lo, c = high[t, j], low[t, j], close[t, j]
            if not (h == h and lo == lo and c == c):
                continue
            if pc != pc:
                ph, pl, pc = h, lo, c
                continue
            up = h - ph
            down = pl - lo
            pdm = up if (up > down and up > 0.0) else 0.0
            mdm = down if (down > up and down > 0.0) else 0.0
            tr = max(h - lo, abs(h - pc), abs(lo - pc))
            ph, pl, pc = h, lo, c
            if count < window:
                s_tr += tr
                s_p += pdm
                s_m += mdm
                count += 1
                if count < window:
                    continue
            else:
                s_tr = s_tr - s_tr / window + tr
                s_p = s_p - s_p / window + pdm
                s_m = s_m - s_m / window + mdm
            pdi = 100.0 * s_p / s_tr if s_tr > 0.0 else 0.0
            mdi = 100.0 * s_m / s_tr if s_tr > 0.0 else 0.0
            pdi_out[t, j] = pdi
            mdi_out[t, j] = mdi
            total = pdi + mdi
            dx = 100.0 * abs(pdi - mdi) / total if total > 0.0 else 0.0
            if dx_count < window:
                adx += dx
                dx_count += 1
                if dx_count < window:
                    continue
                adx /= window
            else:
                adx = (adx * (window - 1) + dx) / window
            adx_out[t, j] = adx
    return adx_out, pdi_out, mdi_out


def rsi(x: npt.ArrayLike, period: int = 14) -> npt.NDArray[np.float64]:
    """Return Wilder's RSI (0–100) with SMA-seeded averages (TA-Lib's convention).

    Parameters
    ----------
    x
        ``(n,)`` or ``(n, k)`` prices.
    period
        ``>= 1``.

    Returns
    -------
    numpy.ndarray
        Same shape as ``x``; the first ``period`` rows are NaN; 50 where the
        window has neither gains nor losses.
    """
    period = check_int("rsi", "period", period, 1)
    mat, was_1d = as_matrix("rsi", "x", x)
    return restore(rsi_nb(mat, period), was_1d)


def macd(
    x: npt.ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return ``(macd, signal, hist)``: EMA(fast) − EMA(slow), its EMA, and their difference.

    Parameters
    ----------
    x
        ``(n,)`` or ``(n, k)`` prices.
    fast, slow
        EMA spans, ``1 <= fast < slow``; EMAs are SMA-seeded (see :func:`ema`).
    signal
        Span of the signal EMA, ``>= 1``, seeded with the mean of the first
        ``signal`` MACD values.

    Returns
    -------
    tuple of numpy.ndarray
        Each the shape of ``x``; ``macd`` is NaN for the first ``slow − 1``
        rows, ``signal`` and ``hist`` for the first ``slow + signal − 2``.
    """
    fast = check_int("macd", "fast", fast, 1)
    slow = check_int("macd", "slow", slow, 1)
    signal = check_int("macd", "signal", signal, 1)
    if fast >= slow:
        raise ConfigError(f"macd: fast must be < slow, got fast={fast}, slow={slow}")
    mat, was_1d = as_matrix("macd", "x", x)
    line, sig, hist = macd_nb(mat, fast, slow, signal)
    return restore(line, was_1d), restore(sig, was_1d), restore(hist, was_1d)


def adx(
    high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, window: int = 14
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Return Wilder's ``(adx, plus_di, minus_di)`` (0–100).

    Parameters
    ----------
    high, low, close
        Same-shaped ``(n,)`` or ``(n, k)`` prices; a bar with any of them NaN
        is skipped.
    window
        Wilder period, ``>= 1``.

    Returns
    -------
    tuple of numpy.ndarray
        Each the shape of ``close``; the DIs are NaN for the first ``window``
        rows and ADX for the first ``2·window − 1``.
    """
    window = check_int("adx", "window", window, 1)
    (h, lo, c), was_1d = as_matrices("adx", high=high, low=low, close=close)
    a, p, m = adx_nb(h, lo, c, window)
    return restore(a, was_1d), restore(p, was_1d), restore(m, was_1d)
