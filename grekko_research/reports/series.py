"""The series a tearsheet plots, computed from arrays: pure functions, no plotting, no I/O.

Every function validates its inputs and raises :class:`~grekko_research.errors.ConfigError`
naming the argument when one is malformed (wrong shape, wrong length, non-finite).

Conventions (the same as :mod:`grekko_research.metrics`)
--------------------------------------------------------
equity
    ``float64[n]`` portfolio value at each bar close, ``equity[0] > 0``. The first bar whose
    equity is ``<= 0`` is a ruin: from there the account is worth nothing (a negative
    balance counts as a total loss), its return is ``-1`` and later returns are undefined
    (NaN).
index
    ``int64[n]`` bar open times in milliseconds since the epoch (UTC), as ``Bars.index``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd

from grekko_research.calendar import DAYS_PER_YEAR, periods_per_year
from grekko_research.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_POINTS",
    "ROLLING_SHARPE_DAYS",
    "bar_returns",
    "buy_and_hold",
    "downsample_indices",
    "drawdown",
    "even_subset",
    "monthly_return_table",
    "monthly_returns",
    "rolling_sharpe",
    "rolling_window",
    "trade_return_histogram",
]

DEFAULT_MAX_POINTS = 5_000
"""Most points a plotted trace keeps (see :func:`downsample_indices`)."""

ROLLING_SHARPE_DAYS = 90.0
"""Calendar days the rolling Sharpe window spans by default (see :func:`rolling_window`)."""

_SAME_RETURN = 8.0 * float(np.finfo(np.float64).eps)  # "zero dispersion", as the metrics


# -- validation ------------------------------------------------------------------------


def _vector(name: str, values: npt.ArrayLike, *, length: int | None = None) -> np.ndarray:
    """Return ``values`` as a finite 1-D float64 array, or raise ConfigError naming it."""
    arr = np.asarray(values.to_numpy() if isinstance(values, pd.Series) else values)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ConfigError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if length is not None and arr.shape[0] != length:
        raise ConfigError(f"{name} has {arr.shape[0]} values, expected {length}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ConfigError(f"{name}[{bad[0]}] is not finite ({arr[bad[0]]})")
    return arr


def _equity(equity: npt.ArrayLike, *, length: int | None = None) -> np.ndarray:
    eq = _vector("equity", equity, length=length)
    if eq.shape[0] == 0:
        raise ConfigError("equity is empty")
    if not eq[0] > 0.0:
        raise ConfigError(f"equity[0] must be positive, got {eq[0]}")
    return eq


def _index(index: npt.ArrayLike, length: int) -> np.ndarray:
    idx = np.asarray(index)
    if idx.ndim != 1 or idx.dtype.kind not in "iu":
        raise ConfigError(f"index must be 1-D integer milliseconds, got {idx.dtype} {idx.shape}")
    if idx.shape[0] != length:
        raise ConfigError(f"index has {idx.shape[0]} values but equity has {length}")
    idx = idx.astype(np.int64)
    if idx.shape[0] > 1 and not np.all(np.diff(idx) > 0):
        raise ConfigError("index must be strictly increasing")
    return idx


# -- curves ----------------------------------------------------------------------------


def bar_returns(equity: npt.ArrayLike) -> np.ndarray:
    """Return the simple return of every bar, ``(n,)``.

    ``r[0]`` is NaN (no previous close); ``r[i] = equity[i] / equity[i-1] - 1``; the ruin
    bar's return is ``-1`` and every later one NaN.
    """
    eq = _equity(equity)
    n = eq.shape[0]
    out = np.full(n, np.nan)
    ruined = np.flatnonzero(eq <= 0.0)
    used = int(ruined[0]) + 1 if ruined.size else n
    if used > 1:
        out[1:used] = np.maximum(eq[1:used], 0.0) / eq[: used - 1] - 1.0
    return out


def buy_and_hold(close: npt.ArrayLike, init_cash: float) -> np.ndarray:
    """Return the value of an equal-weight buy-and-hold of every column of ``close``.

    Parameters
    ----------
    close : array-like, shape (n,) or (n, k)
        Closing prices; NaN where a symbol has no price yet (not listed) or on a bar that
        did not trade (carried forward).
    init_cash
        Starting value, split equally between the ``k`` symbols.

    Returns
    -------
    numpy.ndarray, shape (n,)
        ``init_cash / k × Σ_j close[t, j] / close[first_j, j]``, bought at each symbol's first
        priced close, without costs; a symbol's share is held as cash until its first price.
        With one symbol it ends at ``init_cash × close[-1] / close[0]``.
    """
    arr = np.asarray(close, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[1] == 0:
        raise ConfigError(f"close must have shape (n,) or (n, k), got {np.shape(close)}")
    if not (math.isfinite(init_cash) and init_cash > 0):
        raise ConfigError(f"init_cash must be a positive number, got {init_cash!r}")
    if np.any(np.isinf(arr)) or np.any(arr[np.isfinite(arr)] <= 0.0):
        raise ConfigError("close must hold positive prices (NaN for bars without one)")
    n, k = arr.shape
    share = init_cash / k
    out = np.zeros(n)
    rows = np.arange(n)
    for j in range(k):
        col = arr[:, j]
        priced = np.isfinite(col)
        if not priced.any():
            out += share
            continue
        last = np.maximum.accumulate(np.where(priced, rows, -1))  # forward fill
        first = int(np.argmax(priced))
        held = np.full(n, share)
        held[first:] = share * col[last[first:]] / col[first]
        out += held
    return out


def drawdown(equity: npt.ArrayLike) -> np.ndarray:
    """Return the underwater curve ``equity / running peak - 1`` (fractions ``<= 0``).

    Equity below zero counts as zero, so a ruin shows as ``-1`` (a 100 % drawdown).
    """
    eq = np.maximum(_equity(equity), 0.0)
    return eq / np.maximum.accumulate(eq) - 1.0


def monthly_returns(equity: npt.ArrayLike, index: npt.ArrayLike) -> pd.Series:
    """Return the return of each calendar month (UTC) in which a bar opened.

    A month's return compares its last equity with the previous month's last equity; the
    first month compares with ``equity[0]`` (the first bar's close), so the returns
    compound to ``equity[-1] / equity[0] - 1``. After a ruin the month of the ruin is
    ``-1`` and later months are NaN. A month without bars is absent; the month after it
    compares with the last month that had bars.

    Returns
    -------
    pandas.Series
        Fractions indexed by a monthly ``PeriodIndex`` named ``month``.
    """
    eq = np.maximum(_equity(equity), 0.0)
    idx = _index(index, eq.shape[0])
    months = idx.astype("datetime64[ms]").astype("datetime64[M]").astype(np.int64)
    last = np.flatnonzero(np.r_[months[1:] != months[:-1], True])  # last bar of each month
    end = eq[last]
    start = np.r_[eq[0], end[:-1]]
    with np.errstate(divide="ignore", invalid="ignore"):
        ret = np.where(start > 0.0, end / start - 1.0, np.nan)
    periods = pd.DatetimeIndex(months[last].astype("datetime64[M]")).to_period("M")
    return pd.Series(ret, index=periods.rename("month"), name="return")


def monthly_return_table(monthly: pd.Series) -> pd.DataFrame:
    """Pivot :func:`monthly_returns` into a year × month table (columns 1–12, NaN when absent)."""
    if not isinstance(monthly.index, pd.PeriodIndex):
        raise ConfigError("monthly must be indexed by a monthly PeriodIndex (monthly_returns)")
    frame = pd.DataFrame(
        {"year": monthly.index.year, "month": monthly.index.month, "ret": monthly.to_numpy()}
    )
    table = frame.pivot(index="year", columns="month", values="ret")
    return table.reindex(columns=range(1, 13)).rename_axis(index="year", columns="month")


def rolling_window(timeframe: str, days: float = ROLLING_SHARPE_DAYS) -> int:
    """Return how many bars of ``timeframe`` span ``days`` calendar days (at least 2).

    ``1h`` gives 2160 for 90 days, ``1d`` 90, ``1m`` 129,600.
    """
    if not (math.isfinite(days) and days > 0):
        raise ConfigError(f"days must be a positive number, got {days!r}")
    return max(2, round(periods_per_year(timeframe) * days / DAYS_PER_YEAR))


def rolling_sharpe(equity: npt.ArrayLike, window: int, periods_per_year: float) -> np.ndarray:
    """Return the annualised Sharpe ratio of the last ``window`` bar returns, at each bar.

    ``mean(r) / std(r, ddof=1) × sqrt(periods_per_year)`` over returns ``r[i-window+1..i]``
    (see :func:`bar_returns`), risk-free rate 0, as ``metrics.sharpe_ratio``. NaN for the
    first ``window`` bars, where the returns do not vary (flat, out of the market) and on
    windows that reach past a ruin. With fewer than ``window + 1`` bars every value is NaN.
    """
    if not isinstance(window, int | np.integer) or window < 2:
        raise ConfigError(f"window must be an integer >= 2, got {window!r}")
    ppy = float(periods_per_year)
    if not (math.isfinite(ppy) and ppy > 0):
        raise ConfigError(f"periods_per_year must be a positive number, got {periods_per_year!r}")
    ret = pd.Series(bar_returns(equity))
    roll = ret.rolling(int(window), min_periods=int(window))
    mean, std = roll.mean().to_numpy(), roll.std(ddof=1).to_numpy()
    high, low = roll.max().to_numpy(), roll.min().to_numpy()
    scale = np.maximum(np.abs(high), np.abs(low))
    varies = (std > 0.0) & (high - low > _SAME_RETURN * (1.0 + scale))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(varies, mean / std * math.sqrt(ppy), np.nan)


# -- reduction for plots ---------------------------------------------------------------


def downsample_indices(values: npt.ArrayLike, max_points: int = DEFAULT_MAX_POINTS) -> np.ndarray:
    """Return sorted indices of at most ``max_points`` points that keep a curve's shape.

    The series is cut into buckets of consecutive points; each bucket keeps its lowest and
    highest finite point (min/max decimation) and, when it holds missing values (NaN), the
    first of them, so a line drawn through the points still breaks there. The first and
    last points are always kept. So every local spike survives, the global minimum and
    maximum are kept, and in every bucket the line covers the same vertical range as the
    full series. There are ``(max_points - 2) // 2`` buckets, or ``// 3`` when some value
    is not finite. A series of at most ``max_points`` values is returned whole.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ConfigError(f"values must be one-dimensional, got shape {arr.shape}")
    if not isinstance(max_points, int | np.integer) or max_points < 5:
        raise ConfigError(f"max_points must be an integer >= 5, got {max_points!r}")
    n = arr.shape[0]
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    finite = np.isfinite(arr)
    gaps = not finite.all()
    buckets = (int(max_points) - 2) // (3 if gaps else 2)
    size = -(-n // buckets)  # ceil: at most `buckets` non-empty buckets
    lows = np.full(buckets * size, np.inf)
    highs = np.full(buckets * size, -np.inf)
    lows[:n] = np.where(finite, arr, np.inf)
    highs[:n] = np.where(finite, arr, -np.inf)
    lows2, highs2 = lows.reshape(buckets, size), highs.reshape(buckets, size)
    offsets = np.arange(buckets, dtype=np.int64) * size
    i_low = offsets + np.argmin(lows2, axis=1)
    i_high = offsets + np.argmax(highs2, axis=1)
    chosen = [
        np.array([0, n - 1]),
        i_low[np.isfinite(lows2.min(axis=1))],
        i_high[np.isfinite(highs2.max(axis=1))],
    ]
    if gaps:
        missing = np.zeros(buckets * size, dtype=bool)
        missing[:n] = ~finite
        missing2 = missing.reshape(buckets, size)
        has = missing2.any(axis=1)
        chosen.append((offsets + np.argmax(missing2, axis=1))[has])
    return np.unique(np.concatenate(chosen))


def even_subset(n: int, limit: int) -> np.ndarray:
    """Return ``min(n, limit)`` indices spread evenly over ``range(n)``, first and last included."""
    if n <= limit:
        return np.arange(n, dtype=np.int64)
    if limit < 2:
        raise ConfigError(f"limit must be at least 2, got {limit}")
    return np.unique(np.round(np.linspace(0, n - 1, limit)).astype(np.int64))


def trade_return_histogram(
    returns: npt.ArrayLike, max_bins: int = 60
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(counts, edges)`` of a histogram of trade returns.

    About ``min(max_bins, max(10, ceil(2 × m ** (1/3))))`` equal bins (Rice's rule, at
    least ten) over the returns' range. When there are gains and losses the bins are
    shifted so that 0 is an edge (one more bin at most): each bin then holds only winners
    or only losers. Equal returns get one bin one percentage point wide; no trades give
    empty arrays. Binned here rather than by plotly so a million trades still embed as a
    few dozen numbers.
    """
    ret = _vector("returns", returns)
    if not isinstance(max_bins, int | np.integer) or max_bins < 1:
        raise ConfigError(f"max_bins must be a positive integer, got {max_bins!r}")
    if ret.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    lo, hi = float(ret.min()), float(ret.max())
    if hi == lo:
        edges = np.array([lo - 0.005, lo + 0.005])
    else:
        bins = min(int(max_bins), max(10, math.ceil(2.0 * ret.shape[0] ** (1.0 / 3.0))))
        width = (hi - lo) / bins
        if lo < 0.0 < hi:
            edges = width * np.arange(math.floor(lo / width), math.ceil(hi / width) + 1)
            edges[0], edges[-1] = min(edges[0], lo), max(edges[-1], hi)
        else:
            edges = np.linspace(lo, hi, bins + 1)
    counts, edges = np.histogram(ret, bins=edges)
    return counts.astype(np.int64), edges
