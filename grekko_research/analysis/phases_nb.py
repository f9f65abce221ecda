"""Numba kernels of the rule-based detectors: Wyckoff phases, bull traps, capitulation.

Each takes 1-D float64 ``(n,)`` bar arrays of one symbol and decides bar ``t`` from rows
``<= t`` only: ranges and z-scores use the ``window`` bars *before* ``t``, and an event
that needs confirmation (a trap's failure, a capitulation's recovery) is reported at the
bar that confirms it, with the bar where it began. Events are ``(m, 8)`` float64 rows whose
columns are named by the wrapper; a bar with a NaN input is skipped.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = [
    "PHASE_ACCUMULATION",
    "PHASE_DISTRIBUTION",
    "PHASE_MARKDOWN",
    "PHASE_MARKUP",
    "PHASE_RANGE",
    "bull_traps_nb",
    "capitulations_nb",
    "wyckoff_nb",
]

PHASE_RANGE = 0  # a trading range with no prior trend
PHASE_ACCUMULATION = 1  # a range after a markdown
PHASE_MARKUP = 2
PHASE_DISTRIBUTION = 3  # a range after a markup
PHASE_MARKDOWN = 4

EV_SELLING_CLIMAX = 0
EV_BUYING_CLIMAX = 1
EV_SPRING = 2
EV_UPTHRUST = 3


@njit(cache=True, nogil=True)
def _window_stats(x: np.ndarray, t: int, w: int) -> tuple[float, float, float, float, int]:
    """min, max, mean, std of the finite values of ``x[t-w:t]`` and their count."""
    lo = np.inf
    hi = -np.inf
    s = 0.0
    s2 = 0.0
    m = 0
    for i in range(max(t - w, 0), t):
        v = x[i]
        if v == v:
            lo = min(lo, v)
            hi = max(hi, v)
            s += v
            s2 += v * v
            m += 1
    if m == 0:
        return np.nan, np.nan, np.nan, np.nan, 0
    mean = s / m
    var = max(s2 / m - mean * mean, 0.0)
    return lo, hi, mean, np.sqrt(var * m / max(m - 1, 1)), m


@njit(cache=True, nogil=True, inline="always")
def _phase_of(z: float, trend_z: float, last_trend: int) -> int:
    """Markup or markdown past ``±trend_z``; else a range named after the last trend."""
    if z > trend_z:
        return PHASE_MARKUP
    if z < -trend_z:
        return PHASE_MARKDOWN
    if last_trend == PHASE_MARKDOWN:
        return PHASE_ACCUMULATION
    if last_trend == PHASE_MARKUP:
        return PHASE_DISTRIBUTION
    return PHASE_RANGE


@njit(cache=True, nogil=True, inline="always")
def _event_of(
    ph: int, climax: bool, change: float, lo: float, hi: float, c: float, sup: float, res: float
) -> int:
    """The bar's Wyckoff event kind, or -1: climaxes in a trend, springs/upthrusts in a range."""
    if climax and ph == PHASE_MARKDOWN and change < 0:
        return EV_SELLING_CLIMAX
    if climax and ph == PHASE_MARKUP and change > 0:
        return EV_BUYING_CLIMAX
    if ph in (PHASE_MARKUP, PHASE_MARKDOWN):
        return -1
    if lo < sup and c > sup:
        return EV_SPRING
    if hi > res and c < res:
        return EV_UPTHRUST
    return -1


@njit(cache=True, nogil=True)
def wyckoff_nb(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    window: int,
    trend_z: float,
    climax_z: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (phase ``(n,)`` float, NaN in warm-up; events ``(m, 8)``).

    The trend is the ``window``-bar log move in units of its own volatility,
    ``z = log(c_t / c_{t-w}) / (σ · √w)``: above ``trend_z`` markup, below ``-trend_z``
    markdown, else a range, called accumulation after a markdown and distribution after a
    markup. Events: a climax is a bar whose log-volume z-score against the prior window is at
    least ``climax_z`` in a markdown (selling climax, a down bar) or markup (buying climax,
    an up bar); a spring trades below the prior window's low and closes back above it, an
    upthrust trades above its high and closes back below, both inside a range. Event row:
    kind, bar, close, volume z, support, resistance, trend z, 0.
    """
    n = close.shape[0]
    phase = np.full(n, np.nan)
    events = np.empty((n, 8))
    m = 0
    logv = np.log(np.maximum(volume, 1e-12))
    ret = np.full(n, np.nan)
    for t in range(1, n):
        ret[t] = np.log(close[t] / close[t - 1])
    last_trend = PHASE_RANGE
    prev_close = np.nan
    back = np.full(n, -1)  # the row ``window`` valid bars back, via a ring of valid rows
    valid_rows = np.empty(n, dtype=np.int64)
    nv = 0
    for t in range(n):
        if not (
            high[t] == high[t]
            and low[t] == low[t]
            and close[t] == close[t]
            and volume[t] == volume[t]
        ):
            continue
        valid_rows[nv] = t
        nv += 1
        if nv <= window:
            prev_close = close[t]
            continue
        back[t] = valid_rows[nv - 1 - window]
        sup, _, _, _, _ = _window_stats(low, t, window)
        _, res, _, _, _ = _window_stats(high, t, window)
        _, _, _, sig, k = _window_stats(ret, t, window)
        _, _, vmean, vstd, _ = _window_stats(logv, t, window)
        z = (
            np.log(close[t] / close[back[t]]) / (sig * np.sqrt(window))
            if sig > 0 and k > 1
            else 0.0
        )
        ph = _phase_of(z, trend_z, last_trend)
        if ph in (PHASE_MARKUP, PHASE_MARKDOWN):
            last_trend = ph
        phase[t] = ph
        vz = (logv[t] - vmean) / vstd if vstd > 0 else 0.0
        kind = _event_of(
            ph, vz >= climax_z, close[t] - prev_close, low[t], high[t], close[t], sup, res
        )
        if kind >= 0:
            events[m, 0] = kind
            events[m, 1] = t
            events[m, 2] = close[t]
            events[m, 3] = vz
            events[m, 4] = sup
            events[m, 5] = res
            events[m, 6] = z
            events[m, 7] = 0.0
            m += 1
        prev_close = close[t]
    return phase, events[:m].copy()


@njit(cache=True, nogil=True)
def bull_traps_nb(
    high: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    lookback: int,
    fail_within: int,
    max_volume_ratio: float,
) -> np.ndarray:
    """Return bull traps ``(m, 8)``: breakout bar, confirm bar, level, breakout close,
    breakout volume ratio, highest high before the failure, confirm close, bars to fail.

    A breakout closes above the highest high of the prior ``lookback`` bars (the
    resistance) on volume at most ``max_volume_ratio`` times the prior bars' mean (the
    divergence: a move up that volume does not confirm); it is a trap when a close falls
    back below the resistance within ``fail_within`` bars. Reported at the failing bar.
    """
    n = close.shape[0]
    out = np.empty((n, 8))
    m = 0
    b = -1  # the pending breakout bar
    level = 0.0
    ratio = 0.0
    peak = 0.0
    for t in range(n):
        if not (high[t] == high[t] and close[t] == close[t] and volume[t] == volume[t]):
            continue
        if b >= 0:
            if close[t] < level:
                out[m, 0] = b
                out[m, 1] = t
                out[m, 2] = level
                out[m, 3] = close[b]
                out[m, 4] = ratio
                out[m, 5] = peak
                out[m, 6] = close[t]
                out[m, 7] = t - b
                m += 1
                b = -1
                continue
            peak = max(peak, high[t])
            if t - b >= fail_within:
                b = -1  # the breakout held
        if b < 0 and t >= lookback:
            _, res, _, _, k = _window_stats(high, t, lookback)
            _, _, vmean, _, _ = _window_stats(volume, t, lookback)
            if k >= lookback // 2 and close[t] > res and vmean > 0:
                r = volume[t] / vmean
                if r <= max_volume_ratio:
                    b = t
                    level = res
                    ratio = r
                    peak = high[t]
    return out[:m].copy()


@njit(cache=True, nogil=True)
def capitulations_nb(
    close: np.ndarray,
    low: np.ndarray,
    volume: np.ndarray,
    window: int,
    return_z: float,
    volume_z: float,
    recover_within: int,
    rebound: float,
) -> np.ndarray:
    """Return capitulations ``(m, 8)``: crash bar, confirm bar, return, return z, volume z,
    crash low, confirm close, rebound from the low.

    A crash bar's log return is at most ``-return_z`` and its log volume at least
    ``volume_z`` standard deviations from the prior ``window`` bars; it is a capitulation
    once a close within ``recover_within`` bars is ``rebound`` (a fraction) above the lowest
    low since the crash (selling exhausted, price recovering). Reported at that close.
    """
    n = close.shape[0]
    out = np.empty((n, 8))
    m = 0
    ret = np.full(n, np.nan)
    logv = np.full(n, np.nan)
    prev = np.nan
    for t in range(n):
        if close[t] == close[t] and volume[t] == volume[t] and low[t] == low[t]:
            if prev == prev:
                ret[t] = np.log(close[t] / prev)
            logv[t] = np.log(max(volume[t], 1e-12))
            prev = close[t]
    c = -1
    cz = 0.0
    vz = 0.0
    trough = 0.0
    for t in range(n):
        if ret[t] != ret[t]:
            continue
        if c >= 0:
            trough = min(trough, low[t])
            if close[t] >= trough * (1.0 + rebound):
                out[m, 0] = c
                out[m, 1] = t
                out[m, 2] = ret[c]
                out[m, 3] = cz
                out[m, 4] = vz
                out[m, 5] = trough
                out[m, 6] = close[t]
                out[m, 7] = close[t] / trough - 1.0
                m += 1
                c = -1
                continue
            if t - c >= recover_within:
                c = -1
        _, _, rm, rs, k = _window_stats(ret, t, window)
        _, _, vm, vs, _ = _window_stats(logv, t, window)
        if k < window // 2 or rs <= 0 or vs <= 0:
            continue
        z = (ret[t] - rm) / rs
        zv = (logv[t] - vm) / vs
        if z <= -return_z and zv >= volume_z and (c < 0 or z < cz):
            c = t
            cz = z
            vz = zv
            trough = low[t]
    return out[:m].copy()
