"""Order flow and trading-bot footprints per bar: kernels for the causal bar features.

Two sources of order flow:

* **bulk volume classification** (Easley, López de Prado & O'Hara 2012, "Flow toxicity and
  liquidity in a high-frequency world"): from bars alone, each bar's volume is split into buys
  and sells by ``Φ(Δp / σ)``, the standard normal CDF of the close-to-close change in units of
  the changes' standard deviation over the previous ``sigma_window`` bars. The imbalance over
  ``flow_window`` bars is ``Σ v·(2Φ − 1) / Σ v`` in [-1, 1]. It needs nothing the live bar feed
  lacks, so a strategy on it replays in live exactly as in the backtest.
* **trades** (exact): each trade's aggressor side is in the public stream (``buyer_maker``), so a
  bar's taker imbalance, trade count and the bot footprints of :mod:`.bots` (arrival
  regularity, same-millisecond sweeps, round sizes) are computed per bar from the trades
  *received* inside it.

Kernels are pure (arrays in, arrays out); ``features.py`` wraps them as features.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["TRADE_FIELDS", "bvc_imbalance_nb", "trade_bars_nb"]

# What ``trade_bars_nb`` returns per bar, in column order.
TRADE_FIELDS = ("imbalance", "trades", "interval_cv", "same_ms_share", "round_share")


@njit(cache=True, nogil=True)
def bvc_imbalance_nb(
    close: np.ndarray, volume: np.ndarray, sigma_window: int, flow_window: int
) -> np.ndarray:
    """Return the bulk-volume order-flow imbalance, ``(n, k)`` from ``(n, k)`` close and volume.

    Row ``t`` uses rows ``t - flow_window - sigma_window + 1 … t`` only: the change of bar
    ``u`` is scaled by the standard deviation of the ``sigma_window`` changes before it
    (``u`` excluded, so a jump does not shrink itself). NaN until both windows are full, or
    where the window traded nothing.
    """
    n, k = close.shape
    out = np.full((n, k), np.nan)
    signed = np.empty(n)
    for j in range(k):
        signed[:] = np.nan
        for u in range(sigma_window + 1, n):
            s = 0.0
            s2 = 0.0
            for i in range(u - sigma_window, u):
                d = close[i, j] - close[i - 1, j]
                s += d
                s2 += d * d
            mean = s / sigma_window
            var = s2 / sigma_window - mean * mean
            d = close[u, j] - close[u - 1, j]
            if var > 0.0:
                z = d / math.sqrt(var)
            else:
                z = 0.0 if d == 0.0 else (50.0 if d > 0.0 else -50.0)
            signed[u] = volume[u, j] * math.erf(z / math.sqrt(2.0))  # v · (2Φ(z) − 1)
        for t in range(sigma_window + flow_window, n):
            num = 0.0
            den = 0.0
            for u in range(t - flow_window + 1, t + 1):
                num += signed[u]
                den += volume[u, j]
            if den > 0.0:
                out[t, j] = num / den
    return out


@njit(cache=True, nogil=True)
def trade_bars_nb(
    bar: np.ndarray,
    ts_ms: np.ndarray,
    qty: np.ndarray,
    buyer_maker: np.ndarray,
    round_size: np.ndarray,
    n_bars: int,
) -> np.ndarray:
    """Return ``(n_bars, 5)`` per-bar trade statistics (columns :data:`TRADE_FIELDS`).

    ``bar[i]`` is the bar in which trade ``i`` became known (-1: before the first bar or after
    the last; skipped), trades in arrival order. Per bar: taker imbalance
    ``(buy − sell) / (buy + sell)`` in quantity; the number of trades; the coefficient of
    variation of the inter-arrival gaps ending in the bar (1 for Poisson arrivals, near 0 for a
    clock-driven bot; NaN with fewer than 3 gaps); the share of trades printed in the same
    millisecond as the previous one (an order sweeping levels); the share of round sizes.
    NaN imbalance/shares where the bar has no trade (the count is 0 there).
    """
    buy = np.zeros(n_bars)
    sell = np.zeros(n_bars)
    count = np.zeros(n_bars)
    gaps = np.zeros(n_bars)
    gap_s = np.zeros(n_bars)
    gap_s2 = np.zeros(n_bars)
    same = np.zeros(n_bars)
    rnd = np.zeros(n_bars)
    for i in range(len(bar)):
        b = bar[i]
        if b < 0 or b >= n_bars:
            continue
        if buyer_maker[i]:
            sell[b] += qty[i]
        else:
            buy[b] += qty[i]
        count[b] += 1.0
        if round_size[i]:
            rnd[b] += 1.0
        if i > 0:
            g = float(ts_ms[i] - ts_ms[i - 1])
            gaps[b] += 1.0
            gap_s[b] += g
            gap_s2[b] += g * g
            if g == 0.0:
                same[b] += 1.0
    out = np.full((n_bars, 5), np.nan)
    for b in range(n_bars):
        out[b, 1] = count[b]
        if count[b] > 0:
            out[b, 0] = (buy[b] - sell[b]) / (buy[b] + sell[b]) if buy[b] + sell[b] > 0 else 0.0
            out[b, 3] = same[b] / count[b]
            out[b, 4] = rnd[b] / count[b]
        if gaps[b] >= 3:
            mean = gap_s[b] / gaps[b]
            var = max(gap_s2[b] / gaps[b] - mean * mean, 0.0)
            out[b, 2] = math.sqrt(var) / mean if mean > 0 else np.nan
    return out
