"""Performance statistics of an equity curve and of closed trades.

Numba kernels (``@njit(cache=True, nogil=True)``; arrays and scalars in,
numbers out, no Python objects) sit beside one validating wrapper,
:func:`performance_summary`. A parameter-grid runner can call
:func:`summary_into` from inside its own ``@njit(parallel=True)`` ``prange``
loop and write one row per combination into a preallocated
``(n_combos, len(METRIC_NAMES))`` table.

Conventions
-----------
equity
    ``float64[n]``: portfolio value at each bar close. The per-bar simple
    return is ``r[i] = (equity[i] - equity[i-1]) / equity[i-1]`` for
    ``i = 1 .. n-1`` (as :func:`empyrical.simple_returns`), so there are
    ``m = n - 1`` returns and the curve spans ``m / periods_per_year`` years.
ruin
    The first bar whose equity is ``<= 0`` ends the usable curve: its return
    is ``-1`` (a negative balance counts as a total loss) and later bars are
    ignored, because returns on zero capital are undefined. Only the
    drawdown duration looks past it: the account stays under water to the
    last bar.
short input
    Metrics need at least one return (``n >= 2``); volatility, Sharpe and
    Sortino need two. Below that they are NaN, never an exception.
zero dispersion
    When every return is equal the standard deviation is exactly 0, the
    annualised volatility is 0 and Sharpe is NaN (not ±inf, not a warning);
    when no return is negative Sortino is NaN likewise. Returns count as
    equal when they differ by no more than the rounding of the equity they
    come from (``max - min <= 8 eps (1 + max|r|)``): steady compounding
    ``equity = c * g**k`` yields returns a few ulps apart, whose "std" of
    ~1e-17 would otherwise give a Sharpe ratio of ~1e16.
NaN
    The kernels do not validate. A NaN in the usable part of ``equity`` makes
    every equity metric NaN; NaN in the other inputs propagates through sums
    and is ignored by comparisons. :func:`performance_summary` rejects
    non-finite inputs, naming the array and the index.
optional inputs
    ``position_value``, ``traded_notional``, ``ret`` and ``duration`` may be
    empty (length 0): the metrics that need them are NaN.
"""

from __future__ import annotations

import math
from typing import Literal, overload

import numpy as np
import numpy.typing as npt
import pandas as pd
from numba import njit

from grekko_research.data.timeframes import parse_timeframe
from grekko_research.errors import ConfigError

__all__ = [
    "METRIC_NAMES",
    "N_METRICS",
    "annual_return",
    "annual_turnover",
    "annual_volatility",
    "average_loss",
    "average_trade_duration",
    "average_trade_return",
    "average_win",
    "best_trade",
    "calmar_ratio",
    "conditional_value_at_risk",
    "expectancy",
    "exposure",
    "max_drawdown",
    "max_drawdown_duration",
    "performance_summary",
    "periods_per_year",
    "profit_factor",
    "sharpe_ratio",
    "sortino_ratio",
    "summary_into",
    "total_return",
    "trade_count",
    "turnover",
    "value_at_risk",
    "win_rate",
    "worst_trade",
]

METRIC_NAMES: tuple[str, ...] = (
    "total_return",
    "annual_return",
    "annual_volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "calmar_ratio",
    "max_drawdown",
    "max_drawdown_duration",
    "value_at_risk",
    "conditional_value_at_risk",
    "exposure",
    "turnover",
    "annual_turnover",
    "trade_count",
    "win_rate",
    "profit_factor",
    "expectancy",
    "average_win",
    "average_loss",
    "best_trade",
    "worst_trade",
    "average_trade_return",
    "average_trade_duration",
)
"""Order of the values :func:`summary_into` writes."""

N_METRICS = len(METRIC_NAMES)

_YEAR_MS = 365 * 86_400_000  # crypto trades every day of the year
_SAME_RETURN = 8.0 * float(np.finfo(np.float64).eps)  # see "zero dispersion" above

# Kernels use error_model="numpy" (x / 0 gives inf or nan instead of raising): every
# zero denominator is guarded explicitly, and arithmetic must not raise in a prange.


# -- private helpers -------------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def _usable_length(equity: np.ndarray) -> tuple[int, bool]:
    """Return ``(n_used, has_nan)``: bars up to and including the first ruin bar."""
    n = equity.shape[0]
    has_nan = False
    for i in range(n):
        v = equity[i]
        if v <= 0.0:
            return i + 1, has_nan
        if math.isnan(v):
            has_nan = True
    return n, has_nan


@njit(cache=True, nogil=True, error_model="numpy")
def _bar_return(equity: np.ndarray, i: int) -> float:
    """Return the simple return of bar ``i`` (``i >= 1``); ``-1`` on the ruin bar."""
    cur = equity[i]
    if cur <= 0.0:
        return -1.0
    prev = equity[i - 1]
    return (cur - prev) / prev


@njit(cache=True, nogil=True, error_model="numpy")
def _add(s: float, c: float, x: float) -> tuple[float, float]:
    """Add ``x`` to the Neumaier-compensated sum ``(s, c)`` and return the new pair."""
    t = s + x
    if abs(s) >= abs(x):
        c += (s - t) + x
    else:
        c += (x - t) + s
    return t, c


@njit(cache=True, nogil=True, error_model="numpy")
def _return_moments(equity: np.ndarray) -> tuple[int, float, float, float]:
    """Return ``(m, mean, std, downside)`` of the per-bar returns of ``equity``.

    ``std`` uses ``ddof=1`` and is exactly 0 when all returns are equal (to
    rounding, see "zero dispersion" above);
    ``downside = sqrt(mean(min(r, 0)**2))``. ``m`` is the number of returns;
    ``m = -1`` flags a NaN in the usable equity.
    """
    n_used, has_nan = _usable_length(equity)
    m = n_used - 1
    if has_nan:
        return -1, np.nan, np.nan, np.nan
    if m < 1:
        return m, np.nan, np.nan, np.nan
    s, c = 0.0, 0.0
    lo, hi = np.inf, -np.inf
    for i in range(1, n_used):
        r = _bar_return(equity, i)
        s, c = _add(s, c, r)
        lo = min(lo, r)
        hi = max(hi, r)
    mean = (s + c) / m
    ss, sc, ds, dc = 0.0, 0.0, 0.0, 0.0
    for i in range(1, n_used):
        r = _bar_return(equity, i)
        d = r - mean
        ss, sc = _add(ss, sc, d * d)
        if r < 0.0:
            ds, dc = _add(ds, dc, r * r)
    if m < 2:
        std = np.nan
    elif hi - lo <= _SAME_RETURN * (1.0 + max(abs(lo), abs(hi))):
        std = 0.0  # equal returns; the centred sum would keep a rounding residue
    else:
        std = math.sqrt((ss + sc) / (m - 1))
    return m, mean, std, math.sqrt((ds + dc) / m)


@njit(cache=True, nogil=True, error_model="numpy")
def _sharpe(mean: float, std: float, periods_per_year: float) -> float:
    """Return the Sharpe ratio from the return moments (NaN when ``std`` is 0 or NaN)."""
    return mean / std * math.sqrt(periods_per_year) if std > 0.0 else np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def _sortino(m: int, mean: float, down: float, periods_per_year: float) -> float:
    """Return the Sortino ratio from the return moments (NaN without downside)."""
    if m < 2 or not down > 0.0:
        return np.nan
    return (mean * periods_per_year) / (down * math.sqrt(periods_per_year))


@njit(cache=True, nogil=True, error_model="numpy")
def _calmar(cagr: float, dd: float) -> float:
    """Return ``cagr / |dd|``, NaN without a drawdown or when infinite."""
    value = cagr / -dd if dd < 0.0 else np.nan
    return value if math.isfinite(value) else np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def _select(a: np.ndarray, m: int, k: int) -> float:
    """Reorder ``a[:m]`` in place so ``a[:k] <= a[k] <= a[k+1:m]``; return ``a[k]``.

    Wirth's selection with a median-of-three pivot: O(m) on average and
    well-behaved with many equal values (flat bars give many zero returns).
    """
    lo, hi = 0, m - 1
    while lo < hi:
        x0, x1, x2 = a[lo], a[(lo + hi) // 2], a[hi]
        x = max(min(x0, x1), min(max(x0, x1), x2))
        i, j = lo, hi
        while i <= j:
            while a[i] < x:
                i += 1
            while x < a[j]:
                j -= 1
            if i <= j:
                a[i], a[j] = a[j], a[i]
                i += 1
                j -= 1
        if j < k:
            lo = i
        if k < i:
            hi = j
    return a[k]


_SAMPLE = 4096  # sample size that brackets the order statistics of a long series


@njit(cache=True, nogil=True, error_model="numpy")
def _bracketed_tail(a: np.ndarray, m: int, k: int, need: int) -> tuple[bool, float, float, float]:
    """Order statistics ``k`` and ``need >= k`` of ``a[:m]`` and the sum of the ``k + 1`` lowest.

    A strided sample of :data:`_SAMPLE` values, sorted, gives bounds ``lo``,
    ``hi`` that very likely enclose both statistics; one pass counts (and
    sums) the values below ``lo`` and a second copies those in ``[lo, hi]``
    to a small sorted buffer where the statistics are read off. Exact:
    when the bounds miss (or enclose too much) the first value returned is
    False and the caller falls back to a full selection. Two linear passes
    instead of a selection's many, and ``a`` is left untouched.
    """
    if m < 16 * _SAMPLE:
        return False, np.nan, np.nan, np.nan
    step = m // _SAMPLE
    sample = np.empty(_SAMPLE)
    for i in range(_SAMPLE):
        sample[i] = a[i * step]
    sample.sort()
    q = k / m
    pad = 4.0 * math.sqrt(_SAMPLE * q * (1.0 - q)) + 16.0
    i_lo = int(q * _SAMPLE - pad)
    i_hi = int(need / m * _SAMPLE + pad) + 1
    lo = sample[i_lo] if i_lo >= 0 else -np.inf
    hi = sample[i_hi] if i_hi < _SAMPLE else np.inf
    below = 0
    inside = 0
    s, c = 0.0, 0.0
    for i in range(m):
        x = a[i]
        if x < lo:
            below += 1
            s, c = _add(s, c, x)
        elif x <= hi:
            inside += 1
    if below > k or need >= below + inside or inside > m // 8:
        return False, np.nan, np.nan, np.nan
    cand = np.empty(inside)
    j = 0
    for i in range(m):
        x = a[i]
        if lo <= x <= hi:
            cand[j] = x
            j += 1
    cand.sort()
    for i in range(k + 1 - below):
        s, c = _add(s, c, cand[i])
    return True, cand[k - below], cand[need - below], s + c


@njit(cache=True, nogil=True, error_model="numpy")
def _tail(equity: np.ndarray, alpha: float) -> tuple[float, float]:
    """Return ``(VaR, CVaR)`` of the per-bar returns at level ``alpha``."""
    n_used, has_nan = _usable_length(equity)
    m = n_used - 1
    if has_nan or m < 1 or not 0.0 <= alpha <= 1.0:
        return np.nan, np.nan
    buf = np.empty(m)
    for i in range(1, n_used):
        buf[i - 1] = _bar_return(equity, i)
    return _tail_of_returns(buf, m, alpha)


@njit(cache=True, nogil=True, error_model="numpy")
def _tail_of_returns(buf: np.ndarray, m: int, alpha: float) -> tuple[float, float]:
    """Return ``(VaR, CVaR)`` of the returns ``buf[:m]`` (``m >= 1``), which it may reorder."""
    if not 0.0 <= alpha <= 1.0:
        return np.nan, np.nan
    h = (m - 1) * alpha  # numpy's default ("linear") virtual index
    k = int(h)
    t = h - k
    interpolate = t != 0.0 and k + 1 < m
    ok, low, high, total = _bracketed_tail(buf, m, k, k + 1 if interpolate else k)
    if ok:
        if not interpolate:
            return low, total / (k + 1)
        diff = high - low
        var = high - diff * (1.0 - t) if t >= 0.5 else low + diff * t
        return var, total / (k + 1)
    low = _select(buf, m, k)
    s, c = 0.0, 0.0
    for i in range(k + 1):
        s, c = _add(s, c, buf[i])
    cvar = (s + c) / (k + 1)
    if t == 0.0 or k + 1 >= m:
        return low, cvar
    high = buf[k + 1]
    for i in range(k + 2, m):
        high = min(high, buf[i])
    diff = high - low
    # numpy's _lerp: interpolate from the nearer end.
    var = high - diff * (1.0 - t) if t >= 0.5 else low + diff * t
    return var, cvar


@njit(cache=True, nogil=True, error_model="numpy")
def _drawdown(equity: np.ndarray) -> tuple[float, int]:
    """Return ``(max_drawdown, longest_duration)``; NaN and 0 when undefined."""
    n = equity.shape[0]
    n_used, has_nan = _usable_length(equity)
    if n == 0 or has_nan:
        return np.nan, 0
    peak = equity[0]
    peak_i = 0
    worst = 0.0
    longest = 0
    under = False
    for i in range(1, n_used):
        v = max(equity[i], 0.0)
        if v >= peak:
            if under:
                longest = max(longest, i - peak_i)
                under = False
            peak = v
            peak_i = i
        else:
            under = True
            worst = min(worst, (v - peak) / peak)
    if under:
        # Unrecovered (or ruined, which is permanent): under water to the last bar.
        longest = max(longest, n - 1 - peak_i)
    return worst, longest


@njit(cache=True, nogil=True, error_model="numpy")
def _cagr(equity: np.ndarray, periods_per_year: float) -> float:
    n_used, has_nan = _usable_length(equity)
    m = n_used - 1
    if has_nan or m < 1:
        return np.nan
    growth = max(equity[n_used - 1], 0.0) / equity[0]
    if growth <= 0.0:
        return -1.0
    return growth ** (1.0 / (m / periods_per_year)) - 1.0


# -- equity kernels --------------------------------------------------------------------
# Shared parameters: ``equity: float64[n]`` (value at each bar close),
# ``periods_per_year: float`` (bars per 365-day year, 8760 for 1h bars),
# ``alpha: float`` (tail probability in [0, 1]). ``r`` are the ``m = n - 1``
# per-bar simple returns, cut at a ruin (see the module notes).


@njit(cache=True, nogil=True, error_model="numpy")
def total_return(equity: np.ndarray) -> float:
    """Return the total return ``equity[-1] / equity[0] - 1``: -1 after ruin, NaN if ``n < 2``."""
    n_used, has_nan = _usable_length(equity)
    if has_nan or n_used < 2:
        return np.nan
    return max(equity[n_used - 1], 0.0) / equity[0] - 1.0


@njit(cache=True, nogil=True, error_model="numpy")
def annual_return(equity: np.ndarray, periods_per_year: float) -> float:
    """Return the compound annual growth rate ``(1 + total) ** (ppy / m) - 1``.

    The ``m`` returns span ``m / ppy`` years, as in ``empyrical.annual_return``
    with ``annualization=ppy``. -1 after ruin; NaN when ``n < 2``.
    """
    return _cagr(equity, periods_per_year)


@njit(cache=True, nogil=True, error_model="numpy")
def annual_volatility(equity: np.ndarray, periods_per_year: float) -> float:
    """Return ``std(r, ddof=1) * sqrt(ppy)``: 0 for equal returns, NaN if ``m < 2``."""
    std = _return_moments(equity)[2]
    return std * math.sqrt(periods_per_year)


@njit(cache=True, nogil=True, error_model="numpy")
def sharpe_ratio(equity: np.ndarray, periods_per_year: float) -> float:
    """Return the Sharpe ratio ``mean(r) / std(r, ddof=1) * sqrt(ppy)`` (risk-free rate 0).

    NaN when the standard deviation is 0 (equal returns) or undefined (``m < 2``).
    """
    _, mean, std, _ = _return_moments(equity)
    return _sharpe(mean, std, periods_per_year)


@njit(cache=True, nogil=True, error_model="numpy")
def sortino_ratio(equity: np.ndarray, periods_per_year: float) -> float:
    """Return the Sortino ratio ``mean(r) * ppy / (sqrt(mean(min(r, 0)**2)) * sqrt(ppy))``.

    The downside deviation averages over *all* returns with target 0, as
    ``empyrical.sortino_ratio``. NaN when ``m < 2`` or no return is negative
    (where empyrical gives +inf).
    """
    m, mean, _, down = _return_moments(equity)
    return _sortino(m, mean, down, periods_per_year)


@njit(cache=True, nogil=True, error_model="numpy")
def max_drawdown(equity: np.ndarray) -> float:
    """Return the deepest fall ``min(equity / cummax(equity) - 1)``, a fraction ``<= 0``.

    -0.25 for a 25 % fall, -1 on ruin, 0 when ``n == 1``, NaN when ``n == 0``.
    """
    return _drawdown(equity)[0]


@njit(cache=True, nogil=True, error_model="numpy")
def max_drawdown_duration(equity: np.ndarray) -> int:
    """Return the longest stretch under water, in bars (0 without a drawdown).

    A stretch runs from a peak bar ``p`` to the first later bar ``q`` whose
    equity is back at or above the peak and lasts ``q - p`` bars; one that
    never recovers lasts ``n - 1 - p``. The longest stretch need not be the
    deepest drawdown's.
    """
    return _drawdown(equity)[1]


@njit(cache=True, nogil=True, error_model="numpy")
def calmar_ratio(equity: np.ndarray, periods_per_year: float) -> float:
    """Return the Calmar ratio ``annual_return / |max_drawdown|``.

    NaN without a drawdown or when the ratio is infinite (as empyrical).
    """
    return _calmar(_cagr(equity, periods_per_year), _drawdown(equity)[0])


@njit(cache=True, nogil=True, error_model="numpy")
def value_at_risk(equity: np.ndarray, alpha: float = 0.05) -> float:
    """Return the historical VaR, the ``alpha``-quantile of ``r`` (e.g. -0.012).

    Linear interpolation between order statistics at position
    ``(m - 1) * alpha``: ``numpy.percentile``'s default, as
    ``empyrical.value_at_risk``. NaN when ``n < 2``.
    """
    return _tail(equity, alpha)[0]


@njit(cache=True, nogil=True, error_model="numpy")
def conditional_value_at_risk(equity: np.ndarray, alpha: float = 0.05) -> float:
    """Return the historical CVaR, the mean of the ``k + 1`` lowest returns.

    ``k = floor((m - 1) * alpha)`` indexes the order statistic at or just
    below the VaR, as in ``empyrical.conditional_value_at_risk``. That is the
    mean of the returns ``<= VaR``, except that ties at the cut stay out: the
    tail always holds exactly ``k + 1`` returns. NaN when ``n < 2``.
    """
    return _tail(equity, alpha)[1]


@njit(cache=True, nogil=True, error_model="numpy")
def exposure(position_value: np.ndarray) -> float:
    """Return the fraction of bars with a non-zero position, NaN when ``n == 0``.

    ``position_value: float64[n]`` (any sign) or ``bool[n]`` (in the market).
    """
    n = position_value.shape[0]
    if n == 0:
        return np.nan
    count = 0
    for i in range(n):
        if position_value[i] != 0:
            count += 1
    return count / n


@njit(cache=True, nogil=True, error_model="numpy")
def turnover(traded_notional: np.ndarray, equity: np.ndarray) -> float:
    """Return the total turnover ``sum(|traded_notional|) / mean(equity)``.

    How many times the average capital changed hands: buying with all the
    equity and later selling is a turnover of about 2. ``traded_notional:
    float64[n]`` is the notional traded at each bar, any sign. Both sums stop
    at a ruin. NaN when the lengths differ or ``n == 0``.
    """
    n = equity.shape[0]
    n_used, has_nan = _usable_length(equity)
    if n == 0 or traded_notional.shape[0] != n or has_nan:
        return np.nan
    ts, tc, es, ec = 0.0, 0.0, 0.0, 0.0
    for i in range(n_used):
        ts, tc = _add(ts, tc, abs(traded_notional[i]))
        es, ec = _add(es, ec, max(equity[i], 0.0))
    mean_equity = (es + ec) / n_used
    return (ts + tc) / mean_equity if mean_equity > 0.0 else np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def annual_turnover(
    traded_notional: np.ndarray, equity: np.ndarray, periods_per_year: float
) -> float:
    """Return the turnover per year, ``turnover * ppy / m``; NaN when ``n < 2``."""
    m = _usable_length(equity)[0] - 1
    if m < 1:
        return np.nan
    return turnover(traded_notional, equity) * (periods_per_year / m)


# -- trade kernels ---------------------------------------------------------------------
# Closed trades: ``pnl: float64[m]`` (profit net of costs), ``ret: float64[m]``
# (return of each trade), ``duration: int64[m]`` (bars held); ``m`` may be 0.


@njit(cache=True, nogil=True, error_model="numpy")
def trade_count(pnl: np.ndarray) -> int:
    """Return the number of closed trades, ``len(pnl)``, as an int."""
    return pnl.shape[0]


@njit(cache=True, nogil=True, error_model="numpy")
def win_rate(pnl: np.ndarray) -> float:
    """Return the fraction of trades with ``pnl > 0`` (break-even is no win); NaN if none."""
    m = pnl.shape[0]
    if m == 0:
        return np.nan
    wins = 0
    for i in range(m):
        if pnl[i] > 0.0:
            wins += 1
    return wins / m


@njit(cache=True, nogil=True, error_model="numpy")
def _gross(pnl: np.ndarray) -> tuple[float, int, float, int]:
    """Return ``(gross_profit, n_wins, gross_loss, n_losses)``; the loss is ``<= 0``."""
    ps, pc, ls, lc = 0.0, 0.0, 0.0, 0.0
    wins, losses = 0, 0
    for i in range(pnl.shape[0]):
        p = pnl[i]
        if p > 0.0:
            ps, pc = _add(ps, pc, p)
            wins += 1
        elif p < 0.0:
            ls, lc = _add(ls, lc, p)
            losses += 1
    return ps + pc, wins, ls + lc, losses


@njit(cache=True, nogil=True, error_model="numpy")
def profit_factor(pnl: np.ndarray) -> float:
    """Return gross profit / gross loss, ``sum(pnl[pnl > 0]) / |sum(pnl[pnl < 0])|``.

    +inf with profits and no losses; NaN without trades or when all broke even.
    """
    profit, wins, loss, losses = _gross(pnl)
    if losses == 0:
        return np.inf if wins > 0 else np.nan
    return profit / -loss


@njit(cache=True, nogil=True, error_model="numpy")
def expectancy(pnl: np.ndarray) -> float:
    """Return the mean profit per trade, ``mean(pnl)``; NaN without trades."""
    m = pnl.shape[0]
    if m == 0:
        return np.nan
    s, c = 0.0, 0.0
    for i in range(m):
        s, c = _add(s, c, pnl[i])
    return (s + c) / m


@njit(cache=True, nogil=True, error_model="numpy")
def average_win(pnl: np.ndarray) -> float:
    """Return the mean pnl of winning trades (``pnl > 0``); NaN without wins."""
    profit, wins, _, _ = _gross(pnl)
    return profit / wins if wins > 0 else np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def average_loss(pnl: np.ndarray) -> float:
    """Return the mean pnl of losing trades (``pnl < 0``, so negative); NaN without losses."""
    _, _, loss, losses = _gross(pnl)
    return loss / losses if losses > 0 else np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def best_trade(ret: np.ndarray) -> float:
    """Return the highest per-trade return, ``max(ret)``; NaN without trades."""
    if ret.shape[0] == 0:
        return np.nan
    best = ret[0]
    for i in range(1, ret.shape[0]):
        best = max(best, ret[i])
    return best


@njit(cache=True, nogil=True, error_model="numpy")
def worst_trade(ret: np.ndarray) -> float:
    """Return the lowest per-trade return, ``min(ret)``; NaN without trades."""
    if ret.shape[0] == 0:
        return np.nan
    worst = ret[0]
    for i in range(1, ret.shape[0]):
        worst = min(worst, ret[i])
    return worst


@njit(cache=True, nogil=True, error_model="numpy")
def average_trade_return(ret: np.ndarray) -> float:
    """Return the mean per-trade return, ``mean(ret)``; NaN without trades."""
    return expectancy(ret)


@njit(cache=True, nogil=True, error_model="numpy")
def average_trade_duration(duration: np.ndarray) -> float:
    """Return the mean holding time in bars, ``mean(duration)``; NaN without trades."""
    m = duration.shape[0]
    if m == 0:
        return np.nan
    total = 0.0
    for i in range(m):
        total += duration[i]
    return total / m


# -- everything at once ----------------------------------------------------------------


@njit(cache=True, nogil=True, error_model="numpy")
def equity_statistics(equity: np.ndarray, periods_per_year: float, alpha: float) -> np.ndarray:
    """Return the equity half of the summary in two passes over the curve.

    Values, in order: ``total_return``, ``annual_return``,
    ``annual_volatility``, ``sharpe_ratio``, ``sortino_ratio``,
    ``calmar_ratio``, ``max_drawdown``, ``max_drawdown_duration``,
    ``value_at_risk``, ``conditional_value_at_risk`` (the first ten of
    :data:`METRIC_NAMES`, equal to the single-metric kernels), then the
    number of usable bars and the mean usable equity (for turnover), NaN
    when a NaN makes them undefined.

    The single-metric kernels each walk the curve; this computes the
    returns once (into a buffer the VaR selection reuses), the drawdown and
    the compensated sums in the same pass, and the centred moments in a
    second one: the summary of a grid row costs a few passes, not dozens.
    """
    out = np.full(12, np.nan)
    n = equity.shape[0]
    n_used, has_nan = _usable_length(equity)
    m = n_used - 1
    out[10] = n_used
    if n == 0:
        return out
    if has_nan:
        out[7] = np.nan
        return out
    out[7] = 0.0
    out[6] = 0.0
    es, ec = _add(0.0, 0.0, max(equity[0], 0.0))
    if m < 1:
        out[11] = (es + ec) / n_used
        return out
    buf = np.empty(m)
    s, c = 0.0, 0.0
    lo, hi = np.inf, -np.inf
    peak = equity[0]
    peak_i = 0
    worst = 0.0
    longest = 0
    under = False
    for i in range(1, n_used):
        r = _bar_return(equity, i)
        buf[i - 1] = r
        s, c = _add(s, c, r)
        lo = min(lo, r)
        hi = max(hi, r)
        v = max(equity[i], 0.0)
        es, ec = _add(es, ec, v)
        if v >= peak:
            if under:
                longest = max(longest, i - peak_i)
                under = False
            peak = v
            peak_i = i
        else:
            under = True
            worst = min(worst, (v - peak) / peak)
    if under:
        longest = max(longest, n - 1 - peak_i)
    mean = (s + c) / m
    ss, sc, ds, dc = 0.0, 0.0, 0.0, 0.0
    for i in range(m):
        r = buf[i]
        d = r - mean
        ss, sc = _add(ss, sc, d * d)
        if r < 0.0:
            ds, dc = _add(ds, dc, r * r)
    if m < 2:
        std = np.nan
    elif hi - lo <= _SAME_RETURN * (1.0 + max(abs(lo), abs(hi))):
        std = 0.0
    else:
        std = math.sqrt((ss + sc) / (m - 1))
    down = math.sqrt((ds + dc) / m)
    growth = max(equity[n_used - 1], 0.0) / equity[0]
    cagr = -1.0 if growth <= 0.0 else growth ** (1.0 / (m / periods_per_year)) - 1.0
    out[0] = growth - 1.0
    out[1] = cagr
    out[2] = std * math.sqrt(periods_per_year)
    out[3] = _sharpe(mean, std, periods_per_year)
    out[4] = _sortino(m, mean, down, periods_per_year)
    out[5] = _calmar(cagr, worst)
    out[6] = worst
    out[7] = longest
    out[8], out[9] = _tail_of_returns(buf, m, alpha)
    out[11] = (es + ec) / n_used
    return out


@njit(cache=True, nogil=True, error_model="numpy")
def summary_parts_into(
    out: np.ndarray,
    stats: np.ndarray,
    n_in_market: float,
    n_bars: int,
    traded_total: float,
    pnl: np.ndarray,
    ret: np.ndarray,
    duration: np.ndarray,
    periods_per_year: float,
) -> None:
    """Write :data:`METRIC_NAMES` from :func:`equity_statistics` and the exposure/turnover sums.

    ``n_in_market`` counts the bars holding a position (NaN: unknown);
    ``traded_total`` is the notional traded up to the last usable bar
    (NaN: unknown). The trade metrics come from ``pnl``/``ret``/``duration``
    as in :func:`summary_into`.
    """
    for i in range(10):
        out[i] = stats[i]
    n_used = int(stats[10])
    m = n_used - 1
    mean_equity = stats[11]
    out[10] = n_in_market / n_bars if n_bars > 0 else np.nan
    if n_bars == 0 or math.isnan(mean_equity):
        out[11] = np.nan
    else:
        out[11] = traded_total / mean_equity if mean_equity > 0.0 else np.nan
    out[12] = out[11] * (periods_per_year / m) if m >= 1 else np.nan
    k = pnl.shape[0]
    out[13] = k
    out[14] = win_rate(pnl)
    out[15] = profit_factor(pnl)
    out[16] = expectancy(pnl)
    out[17] = average_win(pnl)
    out[18] = average_loss(pnl)
    ok_ret = ret.shape[0] == k
    out[19] = best_trade(ret) if ok_ret else np.nan
    out[20] = worst_trade(ret) if ok_ret else np.nan
    out[21] = average_trade_return(ret) if ok_ret else np.nan
    out[22] = average_trade_duration(duration) if duration.shape[0] == k else np.nan


@njit(cache=True, nogil=True, error_model="numpy")
def summary_into(
    out: np.ndarray,
    equity: np.ndarray,
    position_value: np.ndarray,
    traded_notional: np.ndarray,
    pnl: np.ndarray,
    ret: np.ndarray,
    duration: np.ndarray,
    periods_per_year: float,
    alpha: float = 0.05,
) -> None:
    """Write every metric of :data:`METRIC_NAMES`, in that order, into ``out``.

    Callable from other njit code, including ``prange`` loops: each call
    allocates one temporary of ``n - 1`` floats (for the VaR selection) and
    touches nothing else but ``out``.

    Parameters
    ----------
    out : float64[K]
        Destination, ``K >= len(METRIC_NAMES)``; e.g. one row of an
        ``(n_combos, K)`` table.
    equity : float64[n]
        Portfolio value at each bar close.
    position_value : float64[n] or bool[n]
        Position value or in-market flag per bar; length 0 gives NaN exposure.
    traded_notional : float64[n]
        Notional traded per bar; length 0 gives NaN turnover.
    pnl : float64[m]
        Profit or loss of each closed trade (``m`` may be 0).
    ret : float64[m]
        Return of each closed trade; length other than ``m`` gives NaN
        best/worst/average trade return.
    duration : int64[m]
        Bars each trade was held; length other than ``m`` gives NaN.
    periods_per_year : float
        Bars per year.
    alpha : float
        VaR/CVaR tail probability.
    """
    if out.shape[0] < N_METRICS:
        raise ValueError("summary_into: out is shorter than len(METRIC_NAMES)")
    n = equity.shape[0]
    stats = equity_statistics(equity, periods_per_year, alpha)
    n_used = int(stats[10])
    in_market = np.nan
    if position_value.shape[0] == n:
        count = 0
        for i in range(n):
            if position_value[i] != 0:
                count += 1
        in_market = count
    traded = np.nan
    if traded_notional.shape[0] == n:
        ts, tc = 0.0, 0.0
        for i in range(n_used):
            ts, tc = _add(ts, tc, abs(traded_notional[i]))
        traded = ts + tc
    summary_parts_into(out, stats, in_market, n, traded, pnl, ret, duration, periods_per_year)


# -- Python API ------------------------------------------------------------------------


def periods_per_year(timeframe: str) -> float:
    """Return how many bars of ``timeframe`` fit in a year of 365 days.

    Crypto trades every day, so ``1h`` gives 8760, ``1m`` 525 600, ``1d``
    365, ``1w`` 365 / 7; calendar months give 12 per year (``3M`` gives 4).

    Raises
    ------
    ConfigError
        If ``timeframe`` is not a valid timeframe string.
    """
    tf = parse_timeframe(timeframe)
    if tf.is_calendar:
        return 12.0 / tf.count
    return _YEAR_MS / tf.ms


def _vector(name: str, values: object, *, length: int | None = None) -> np.ndarray:
    """Return ``values`` as a finite 1-D float64 array, or raise ConfigError naming it."""
    if isinstance(values, pd.Series | pd.Index):
        values = values.to_numpy()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ConfigError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if length is not None and arr.shape[0] != length:
        raise ConfigError(f"{name} has {arr.shape[0]} values, expected {length}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ConfigError(f"{name}[{bad[0]}] is {arr[bad[0]]}; {name} must be finite")
    return arr


@overload
def performance_summary(
    equity: npt.ArrayLike,
    *,
    periods_per_year: float,
    position_value: npt.ArrayLike | None = ...,
    traded_notional: npt.ArrayLike | None = ...,
    pnl: npt.ArrayLike | None = ...,
    ret: npt.ArrayLike | None = ...,
    duration: npt.ArrayLike | None = ...,
    alpha: float = ...,
    as_series: Literal[False] = ...,
) -> dict[str, float]: ...


@overload
def performance_summary(
    equity: npt.ArrayLike,
    *,
    periods_per_year: float,
    position_value: npt.ArrayLike | None = ...,
    traded_notional: npt.ArrayLike | None = ...,
    pnl: npt.ArrayLike | None = ...,
    ret: npt.ArrayLike | None = ...,
    duration: npt.ArrayLike | None = ...,
    alpha: float = ...,
    as_series: Literal[True],
) -> pd.Series: ...


def performance_summary(
    equity: npt.ArrayLike,
    *,
    periods_per_year: float,
    position_value: npt.ArrayLike | None = None,
    traded_notional: npt.ArrayLike | None = None,
    pnl: npt.ArrayLike | None = None,
    ret: npt.ArrayLike | None = None,
    duration: npt.ArrayLike | None = None,
    alpha: float = 0.05,
    as_series: bool = False,
) -> dict[str, float] | pd.Series:
    """Validate the inputs and return every metric of :data:`METRIC_NAMES`.

    Parameters
    ----------
    equity : array-like, shape (n,)
        Portfolio value at each bar close: finite, ``equity[0] > 0``; a later
        value ``<= 0`` is a ruin (see the module notes).
    periods_per_year
        Bars per year, e.g. ``periods_per_year("1h")`` = 8760.
    position_value : array-like, shape (n,), optional
        Position value or boolean in-market flag per bar; exposure is NaN
        without it.
    traded_notional : array-like, shape (n,), optional
        Notional traded per bar; turnover is NaN without it.
    pnl, ret, duration : array-like, shape (m,), optional
        Profit, return and bars held of each closed trade. Without ``pnl``
        there are no trades; ``ret`` and ``duration`` need ``pnl``.
    alpha
        VaR/CVaR tail probability, in ``(0, 1)``.
    as_series
        Return a ``pandas.Series`` named ``"performance"`` instead of a dict.

    Returns
    -------
    dict[str, float] or pandas.Series
        Metric name to value, in the order of :data:`METRIC_NAMES`.

    Raises
    ------
    ConfigError
        Naming the argument (and index) that is malformed, non-finite or of
        the wrong length.
    """
    eq = _vector("equity", equity)
    n = eq.shape[0]
    if n and not eq[0] > 0.0:
        raise ConfigError(f"equity[0] must be positive, got {eq[0]}")
    ppy = float(periods_per_year)
    if not (math.isfinite(ppy) and ppy > 0.0):
        raise ConfigError(f"periods_per_year must be a positive finite number, got {ppy}")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    pos = (
        np.empty(0)
        if position_value is None
        else _vector("position_value", position_value, length=n)
    )
    notional = (
        np.empty(0)
        if traded_notional is None
        else _vector("traded_notional", traded_notional, length=n)
    )
    if pnl is None:
        if ret is not None or duration is not None:
            raise ConfigError("ret and duration describe trades and need pnl as well")
        pnl_a = np.empty(0)
    else:
        pnl_a = _vector("pnl", pnl)
    k = pnl_a.shape[0]
    ret_a = np.empty(0) if ret is None else _vector("ret", ret, length=k)
    if duration is None:
        dur_a = np.zeros(0, dtype=np.int64)
    else:
        dur_f = _vector("duration", duration, length=k)
        bad = np.flatnonzero((dur_f < 0) | (dur_f != np.round(dur_f)))
        if bad.size:
            raise ConfigError(
                f"duration[{bad[0]}] is {dur_f[bad[0]]}; durations must be whole bars >= 0"
            )
        dur_a = dur_f.astype(np.int64)
    out = np.empty(N_METRICS)
    summary_into(out, eq, pos, notional, pnl_a, ret_a, dur_a, ppy, float(alpha))
    values = dict(zip(METRIC_NAMES, out.tolist(), strict=True))
    if as_series:
        return pd.Series(values, name="performance", dtype=np.float64)
    return values
