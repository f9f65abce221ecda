"""Workloads of ``benchmarks/engine.py``: synthetic data, the SMA-cross kernels, fused loops.

Everything here is shared by the three systems so that they see the same
inputs and the same moving-average arithmetic:

* :func:`make_ohlcv` — seeded one-minute random walk with realistic OHLC;
* :func:`sma_cross_signals_nb` / :func:`sma_cross_grid_kernel` — the SMA-cross
  decision signals fed to Grekko (the second is ``run_grid``'s signal kernel);
* :func:`fused_single_nb`, :func:`fused_grid_nb`, :func:`fused_portfolio_nb` —
  the hand-written reference: rolling sums, crossover test and the cash /
  position update in one pass, the speed of light for these semantics.

The simple moving average is computed exactly as vectorbt's
``generic.nb.rolling_mean_1d_nb`` does (a running prefix sum ``C``;
``sma[t] = (C[t] - C[t - w]) / w``, ``C[w - 1] / w`` on the first full
window), so ``vbt.MA`` gives bit-identical values. The prefix sum ``C[t - w]``
is carried as a second running sum that adds the same values in the same
order, so the fused loops need no arrays and still produce the same bits.

Semantics (docs/engine.md, tests/parity/SEMANTICS.md): a decision at bar
``t``'s close (cross up: ``fast[t] > slow[t]`` and ``fast[t-1] <= slow[t-1]``,
no signal while either SMA is NaN) fills at bar ``t + 1``'s open; an all-in
entry buys ``cash / (open * (1 + fee))`` units; an exit sells everything for
``size * open * (1 - fee)``; an entry smaller than
:data:`MIN_SIZE` units is not made (vectorbt's ``min_size``); stops are set from the entry fill, are live in
the entry bar, exit at the level or at the open when the bar gaps through it,
the stop-loss wins a bar that reaches both, and a stop exit drops the
asset's signals decided on that bar.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit, prange

SEED = 20240601
INIT_CASH = 10_000.0
FEE = 0.001
FAST, SLOW = 10, 50
STOP_LOSS, TAKE_PROFIT = 0.02, 0.04
MIN_SIZE = 1e-8  # smallest entry in units (vectorbt's min_size; SEMANTICS.md §3)
N_ASSETS_W3 = 20
GRID_FAST = np.arange(5, 51, 5)
GRID_SLOW = np.arange(20, 201, 20)
START_MS = 1_704_067_200_000  # 2024-01-01T00:00Z
MINUTE_MS = 60_000


@dataclass(frozen=True)
class Workload:
    """One benchmark case: which data it needs and how the strategy is configured."""

    key: str
    title: str
    assets: int
    stops: bool = False
    grid: bool = False
    shared_cash: bool = False


WORKLOADS = {
    "W1": Workload("W1", "SMA(10)/SMA(50) cross, all-in, fee 0.1 %", 1),
    "W2": Workload("W2", "grid fast 5..50 x slow 20..200 (100 combos)", 1, grid=True),
    "W3": Workload("W3", "20 assets, shared cash, notional init_cash/20", 20, shared_cash=True),
    "W4": Workload("W4", "W1 + stop-loss 2 % / take-profit 4 %", 1, stops=True),
}


def grid_params() -> np.ndarray:
    """Return the W2 grid as a ``(100, 2)`` float64 table of (fast, slow), fast varying slowest."""
    fast, slow = np.meshgrid(GRID_FAST, GRID_SLOW, indexing="ij")
    return np.column_stack([fast.ravel(), slow.ravel()]).astype(np.float64)


# -- data ---------------------------------------------------------------------------


@njit(cache=True)
def _log_vol_nb(shocks: np.ndarray, phi: float) -> np.ndarray:
    """AR(1) log-volatility path ``(n,)`` from ``(n,)`` shocks (volatility clustering)."""
    out = np.empty_like(shocks)
    x = 0.0
    for t in range(shocks.shape[0]):
        x = phi * x + shocks[t]
        out[t] = x
    return out


def make_ohlcv(n: int, k: int, seed: int = SEED) -> dict[str, np.ndarray]:
    """Return seeded one-minute candles: ``index`` ``(n,)`` ms and OHLCV ``(n, k)`` float64.

    Per asset: a geometric random walk of the closes with clustered volatility
    (about 0.07 % per minute on average), opens equal to the previous close
    on 70 % of the bars and slightly gapped otherwise, wicks beyond the
    open/close body, log-normal volume. Asset 0 starts at 30,000, the others
    at log-uniform prices between 0.5 and 60,000. Asset ``j`` depends on
    ``(seed, j, n)`` only.
    """
    out = {f: np.empty((n, k)) for f in ("open", "high", "low", "close", "volume")}
    for j in range(k):
        rng = np.random.default_rng([seed, j])
        p0 = 30_000.0 if j == 0 else float(np.exp(rng.uniform(np.log(0.5), np.log(60_000.0))))
        sigma = 0.0007 * np.exp(_log_vol_nb(rng.normal(0.0, 0.02, n), 0.999) - 0.1)
        log_close = np.log(p0) + np.cumsum(sigma * rng.standard_normal(n))
        close = np.exp(log_close)
        prev = np.concatenate(([p0], close[:-1]))
        gap = np.where(rng.random(n) < 0.3, rng.normal(0.0, 0.1, n) * sigma, 0.0)
        open_ = prev * np.exp(gap)
        body_hi = np.maximum(open_, close)
        body_lo = np.minimum(open_, close)
        out["open"][:, j] = open_
        out["close"][:, j] = close
        out["high"][:, j] = body_hi * np.exp(np.abs(rng.normal(0.0, 0.5, n)) * sigma)
        out["low"][:, j] = body_lo * np.exp(-np.abs(rng.normal(0.0, 0.5, n)) * sigma)
        out["volume"][:, j] = rng.lognormal(3.0, 1.0, n)
    out["index"] = START_MS + MINUTE_MS * np.arange(n, dtype=np.int64)
    return out


# -- signals (Grekko side) ------------------------------------------------------------


@njit(cache=True, nogil=True)
def _sma_cross_column_nb(
    close: np.ndarray, j: int, fast: int, slow: int, entries: np.ndarray, exits: np.ndarray
) -> None:
    """Fill column ``j`` with the state in scalars (fastest when there is one column)."""
    c = 0.0
    c_fast = 0.0  # prefix sum up to t - fast
    c_slow = 0.0
    f_prev = np.nan
    s_prev = np.nan
    for t in range(close.shape[0]):
        c = c + close[t, j]
        f = np.nan
        s = np.nan
        if t >= fast:
            c_fast = c_fast + close[t - fast, j]
            f = (c - c_fast) / fast
        elif t == fast - 1:
            f = c / fast
        if t >= slow:
            c_slow = c_slow + close[t - slow, j]
            s = (c - c_slow) / slow
        elif t == slow - 1:
            s = c / slow
        entries[t, j] = f > s and f_prev <= s_prev
        exits[t, j] = f < s and f_prev >= s_prev
        f_prev = f
        s_prev = s


@njit(cache=True, nogil=True)
def _sma_cross_rows_nb(
    close: np.ndarray, fast: int, slow: int, entries: np.ndarray, exits: np.ndarray
) -> None:
    """Fill all columns bar by bar (row-major reads: 5x faster than by column for 20 assets)."""
    n, k = close.shape
    c = np.zeros(k)
    c_fast = np.zeros(k)
    c_slow = np.zeros(k)
    f_prev = np.full(k, np.nan)
    s_prev = np.full(k, np.nan)
    for t in range(n):
        for j in range(k):
            x = c[j] + close[t, j]
            c[j] = x
            f = np.nan
            s = np.nan
            if t >= fast:
                cf = c_fast[j] + close[t - fast, j]
                c_fast[j] = cf
                f = (x - cf) / fast
            elif t == fast - 1:
                f = x / fast
            if t >= slow:
                cs = c_slow[j] + close[t - slow, j]
                c_slow[j] = cs
                s = (x - cs) / slow
            elif t == slow - 1:
                s = x / slow
            entries[t, j] = f > s and f_prev[j] <= s_prev[j]
            exits[t, j] = f < s and f_prev[j] >= s_prev[j]
            f_prev[j] = f
            s_prev[j] = s


@njit(cache=True, nogil=True)
def sma_cross_fill_nb(
    close: np.ndarray, fast: int, slow: int, entries: np.ndarray, exits: np.ndarray
) -> None:
    """Write SMA(fast)/SMA(slow) cross-up/cross-down decisions into ``entries``/``exits``.

    ``close``, ``entries`` and ``exits`` are ``(n, k)``; the boolean arrays
    are overwritten. No bars-sized temporaries: the running sums give the
    same bits as vectorbt's ``rolling_mean_1d_nb`` (see the module docstring).
    """
    if close.shape[1] == 1:
        _sma_cross_column_nb(close, 0, fast, slow, entries, exits)
    else:
        _sma_cross_rows_nb(close, fast, slow, entries, exits)


@njit(cache=True, nogil=True)
def sma_cross_signals_nb(close: np.ndarray, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(entries, exits)`` ``(n, k)`` bool: SMA(fast) crossing above / below SMA(slow)."""
    entries = np.empty(close.shape, dtype=np.bool_)
    exits = np.empty(close.shape, dtype=np.bool_)
    sma_cross_fill_nb(close, fast, slow, entries, exits)
    return entries, exits


@njit(cache=True, nogil=True)
def sma_cross_grid_kernel(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    params: np.ndarray,
    entries: np.ndarray,
    exits: np.ndarray,
    short_entries: np.ndarray,
    short_exits: np.ndarray,
) -> None:
    """``run_grid`` signal kernel: ``params = (fast, slow)``; long only."""
    sma_cross_fill_nb(close, int(params[0]), int(params[1]), entries, exits)


# -- the fused reference loops -----------------------------------------------------


@njit(cache=True, nogil=True)
def fused_single_nb(
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    fast: int,
    slow: int,
    fee: float,
    init_cash: float,
    stop_loss: float,
    take_profit: float,
) -> tuple[float, int]:
    """SMA cross, long only, all-in, one asset, in one pass; return ``(final equity, trades)``.

    ``open_``, ``high``, ``low``, ``close`` are ``(n,)``. ``stop_loss`` /
    ``take_profit`` are fractions of the entry fill, NaN when off. Trades
    count entries, so a position still open at the end counts too.
    """
    n = close.shape[0]
    use_stops = stop_loss == stop_loss or take_profit == take_profit
    cash = init_cash
    pos = 0.0
    trades = 0
    sl_level = np.nan
    tp_level = np.nan
    c = 0.0
    c_fast = 0.0
    c_slow = 0.0
    f_prev = np.nan
    s_prev = np.nan
    order = 0  # decided at the previous close: +1 enter, -1 exit
    for t in range(n):
        o = open_[t]
        if order > 0:
            size = cash / (o * (1.0 + fee))
            if size >= MIN_SIZE:
                cash = 0.0  # all of it: size * o plus the fee on it
                pos = size
                trades += 1
                if use_stops:
                    sl_level = o - o * stop_loss
                    tp_level = o + o * take_profit
        elif order < 0:
            cash += pos * o * (1.0 - fee)
            pos = 0.0
        order = 0
        stopped = False
        if use_stops and pos > 0.0:
            px = np.nan
            if o <= sl_level or o >= tp_level:
                px = o  # gapped through a level: out at the open
            elif low[t] <= sl_level:
                px = sl_level  # checked first: the stop-loss wins a bar that reaches both
            elif high[t] >= tp_level:
                px = tp_level
            if px == px:
                cash += pos * px * (1.0 - fee)
                pos = 0.0
                stopped = True
        x = close[t]
        c = c + x
        f = np.nan
        s = np.nan
        if t >= fast:
            c_fast = c_fast + close[t - fast]
            f = (c - c_fast) / fast
        elif t == fast - 1:
            f = c / fast
        if t >= slow:
            c_slow = c_slow + close[t - slow]
            s = (c - c_slow) / slow
        elif t == slow - 1:
            s = c / slow
        if not stopped:
            if pos == 0.0:
                if f > s and f_prev <= s_prev:
                    order = 1
            elif f < s and f_prev >= s_prev:
                order = -1
        f_prev = f
        s_prev = s
    return cash + pos * close[n - 1], trades


@njit(cache=True, parallel=True)
def fused_grid_nb(
    open_: np.ndarray,
    close: np.ndarray,
    params: np.ndarray,
    fee: float,
    init_cash: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Run :func:`fused_single_nb` (no stops) for every ``(fast, slow)`` row, parallel over rows.

    ``open_``, ``close`` ``(n,)``; ``params`` ``(m, 2)``. Return ``(final
    equity (m,), trades (m,))``.
    """
    m = params.shape[0]
    equity = np.empty(m)
    trades = np.empty(m, dtype=np.int64)
    for i in prange(m):
        e, n_tr = fused_single_nb(
            open_,
            open_,
            open_,
            close,
            int(params[i, 0]),
            int(params[i, 1]),
            fee,
            init_cash,
            np.nan,
            np.nan,
        )
        equity[i] = e
        trades[i] = n_tr
    return equity, trades


@njit(cache=True, nogil=True)
def fused_portfolio_nb(
    open_: np.ndarray,
    close: np.ndarray,
    fast: int,
    slow: int,
    fee: float,
    init_cash: float,
    notional: float,
) -> tuple[float, int]:
    """SMA cross on ``k`` assets sharing one cash account, fixed ``notional`` per entry.

    ``open_``, ``close`` ``(n, k)``. At each open the previous close's exits
    fill first (assets in order), then its entries (assets in order); an
    entry the cash cannot cover buys what the cash allows
    (``cash / (open * (1 + fee))``, leaving exactly 0) and none at all below
    :data:`MIN_SIZE` units.
    Return ``(final equity, trades)``.
    """
    n, k = close.shape
    cash = init_cash
    pos = np.zeros(k)
    order = np.zeros(k, dtype=np.int8)
    c = np.zeros(k)
    c_fast = np.zeros(k)
    c_slow = np.zeros(k)
    f_prev = np.full(k, np.nan)
    s_prev = np.full(k, np.nan)
    trades = 0
    for t in range(n):
        for j in range(k):
            if order[j] < 0:
                cash += pos[j] * open_[t, j] * (1.0 - fee)
                pos[j] = 0.0
        for j in range(k):
            if order[j] > 0:
                o = open_[t, j]
                size = notional / o
                value = size * o
                cost = value + fee * value
                if cost > cash:  # the cash cannot cover it: spend all of it
                    size = cash / (o * (1.0 + fee))
                    cost = cash
                if size >= MIN_SIZE:
                    cash = cash - cost if cost < cash else 0.0
                    pos[j] = size
                    trades += 1
            order[j] = 0
        for j in range(k):
            x = close[t, j]
            c[j] = c[j] + x
            f = np.nan
            s = np.nan
            if t >= fast:
                c_fast[j] = c_fast[j] + close[t - fast, j]
                f = (c[j] - c_fast[j]) / fast
            elif t == fast - 1:
                f = c[j] / fast
            if t >= slow:
                c_slow[j] = c_slow[j] + close[t - slow, j]
                s = (c[j] - c_slow[j]) / slow
            elif t == slow - 1:
                s = c[j] / slow
            if pos[j] == 0.0:
                if f > s and f_prev[j] <= s_prev[j]:
                    order[j] = 1
            elif f < s and f_prev[j] >= s_prev[j]:
                order[j] = -1
            f_prev[j] = f
            s_prev[j] = s
    equity = cash
    for j in range(k):
        equity += pos[j] * close[n - 1, j]
    return equity, trades
