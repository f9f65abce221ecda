"""Performance statistics of an equity curve and of closed trades: the summary and its conventions.

The single-metric numba kernels (``@njit(cache=True, nogil=True)``; arrays
and scalars in, numbers out, no Python objects) live in
:mod:`~grekko_research.metrics.equity` (returns, ratios, drawdowns, exposure,
turnover), :mod:`~grekko_research.metrics.tail` (VaR, CVaR) and
:mod:`~grekko_research.metrics.trades` (closed-trade statistics), and are
re-exported here. This module holds what combines them: the one-pass kernels
:func:`equity_statistics`, :func:`summary_parts_into` and :func:`summary_into`,
and one validating wrapper, :func:`performance_summary`. A parameter-grid
runner can call :func:`summary_into` from inside its own
``@njit(parallel=True)`` ``prange`` loop and write one row per combination
into a preallocated ``(n_combos, len(METRIC_NAMES))`` table.

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
import sys
from typing import TYPE_CHECKING, Literal, NamedTuple, overload

import numpy as np
import numpy.typing as npt
from numba import njit

from grekko_research.calendar import periods_per_year
from grekko_research.errors import ConfigError
from grekko_research.metrics._core import _SAME_RETURN, _add, _bar_return, _usable_length
from grekko_research.metrics.equity import (
    _calmar,
    _sharpe,
    _sortino,
    annual_return,
    annual_turnover,
    annual_volatility,
    calmar_ratio,
    exposure,
    max_drawdown,
    max_drawdown_duration,
    sharpe_ratio,
    sortino_ratio,
    total_return,
    turnover,
)
from grekko_research.metrics.tail import (
    _tail_of_returns,
    conditional_value_at_risk,
    value_at_risk,
)
from grekko_research.metrics.trades import (
    average_loss,
    average_trade_duration,
    average_trade_return,
    average_win,
    best_trade,
    expectancy,
    profit_factor,
    trade_count,
    win_rate,
    worst_trade,
)

if TYPE_CHECKING:  # pandas loads only for a Series result: the engine's import skips it
    import pandas as pd

__all__ = [
    "METRIC_NAMES",
    "N_METRICS",
    "TradeArrays",
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


class TradeArrays(NamedTuple):
    """The closed trades :func:`summary_into` summarises, one entry per trade (``m`` may be 0).

    A NamedTuple, so a kernel takes the three arrays as one argument (numba builds and unpacks
    it in ``njit`` code too: ``TradeArrays(pnl, ret, duration)``).
    """

    pnl: np.ndarray
    """float64[m]: profit or loss of each closed trade."""
    ret: np.ndarray
    """float64[m]: return of each closed trade; another length gives NaN best/worst/average
    trade return."""
    duration: np.ndarray
    """int64[m]: bars each trade was held; another length gives NaN."""


# Kernels use error_model="numpy" (x / 0 gives inf or nan instead of raising): every
# zero denominator is guarded explicitly, and arithmetic must not raise in a prange.


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
    std, down = _dispersion(buf, m, mean, lo, hi)
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
def _dispersion(buf: np.ndarray, m: int, mean: float, lo: float, hi: float) -> tuple[float, float]:
    """Return the standard deviation (ddof 1) and the downside deviation of ``buf[:m]``.

    The second pass of :func:`equity_statistics`, over the returns it buffered: ``mean``,
    ``lo`` and ``hi`` come from the first. A std of returns equal up to rounding is exactly
    0 (``_SAME_RETURN``); with fewer than two returns it is NaN.
    """
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
    return std, math.sqrt((ds + dc) / m)


@njit(cache=True, nogil=True, error_model="numpy")
def summary_parts_into(
    out: np.ndarray,
    stats: np.ndarray,
    n_in_market: float,
    n_bars: int,
    traded_total: float,
    trades: TradeArrays,
    periods_per_year: float,
) -> None:
    """Write :data:`METRIC_NAMES` from :func:`equity_statistics` and the exposure/turnover sums.

    ``n_in_market`` counts the bars holding a position (NaN: unknown);
    ``traded_total`` is the notional traded up to the last usable bar
    (NaN: unknown). The trade metrics come from ``trades`` as in
    :func:`summary_into`.
    """
    pnl, ret, duration = trades
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
    trades: TradeArrays,
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
    trades : TradeArrays
        ``pnl``, ``ret`` and ``duration`` of the closed trades (``m`` of them,
        possibly 0); a ``ret`` or ``duration`` of another length than ``pnl``
        gives NaN for the metrics that read it.
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
    summary_parts_into(out, stats, in_market, n, traded, trades, periods_per_year)


# -- Python API ------------------------------------------------------------------------


def _vector(name: str, values: object, *, length: int | None = None) -> np.ndarray:
    """Return ``values`` as a finite 1-D float64 array, or raise ConfigError naming it."""
    pd = sys.modules.get("pandas")  # not loaded: values cannot be a pandas object
    if pd is not None and isinstance(values, pd.Series | pd.Index):
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
    summary_into(out, eq, pos, notional, TradeArrays(pnl_a, ret_a, dur_a), ppy, float(alpha))
    values = dict(zip(METRIC_NAMES, out.tolist(), strict=True))
    if as_series:
        import pandas as pd

        return pd.Series(values, name="performance", dtype=np.float64)
    return values
