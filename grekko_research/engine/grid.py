"""Parameter grids: one signal kernel evaluated over many parameter rows in parallel.

Each row runs signals → simulation → metrics in native code and leaves one
row of a ``(n_combos, len(GRID_COLUMNS))`` table behind, so memory does not
grow with the number of combinations beyond that table: each worker thread
reuses its own bars-sized scratch arrays from one combination to the next.

The workers are Python threads around ``nogil`` numba calls: the user's
signal kernel (which must be compiled with ``nogil=True`` to run in
parallel) and :func:`_lean_combination_nb` (or :func:`_general_combination_nb`
when the configuration or the run leaves the lean kernel's scope), which
simulates and measures one combination. A ``prange`` loop would have to take the signal kernel as a
function-typed argument, which numba cannot cache, and every new process
would pay seconds of compilation (and the compiler's memory) again.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal, NamedTuple

import numba
import numpy as np
from numba import njit

from grekko_research.data.bars import Bars
from grekko_research.engine import layout as L
from grekko_research.engine._risk import risk_rules
from grekko_research.engine._state import Decisions, Market, Rules, make_rules
from grekko_research.engine.analysis import result_metrics_into
from grekko_research.engine.api import _EMPTY_F, _EMPTY_I, _lean_config, _periods_per_year
from grekko_research.engine.config import EngineConfig
from grekko_research.engine.nb import simulate_nb
from grekko_research.engine.nb_fast import no_stop_scan, simulate_simple_nb
from grekko_research.errors import ConfigError
from grekko_research.metrics.performance import METRIC_NAMES, N_METRICS

if TYPE_CHECKING:  # pandas loads for the result table only
    import pandas as pd

__all__ = ["GRID_COLUMNS", "run_grid"]

GRID_COLUMNS = (*METRIC_NAMES, "final_equity", "n_trades")
CURVE_METRICS = (*METRIC_NAMES[:10], "turnover", "annual_turnover")
"""The metrics that need the equity curve: NaN when a grid runs with ``metrics="trades"``."""

_EMPTY_1D = np.zeros(0)


@njit(cache=True, nogil=True)
def _lean_combination_nb(
    market: Market,
    dec: Decisions,
    rules: Rules,
    periods_per_year: float,
    curve: bool,
    equity: np.ndarray,
    row: np.ndarray,
) -> bool:
    """Simulate one combination with the lean kernel and write its row; False if it cannot.

    ``equity`` is ``(n,)`` scratch for the curve, or empty when ``curve`` is
    False. False (``row`` untouched) when the run met a sale the lean kernel
    refuses: :func:`_general_combination_nb` runs it instead. The two are
    separate native functions so that a grid in the lean kernel's scope never
    compiles, loads or keeps the general kernel's code (compile time and
    memory of a fresh process).
    """
    if market.close.shape[1] == 1:  # one asset sizes its buffers from its signal rows
        counts = (0, 0)
    else:
        counts = (int(np.count_nonzero(dec.entries)), int(np.count_nonzero(dec.exits)))
    scan = no_stop_scan(market.close)  # the stop scan reads every held bar
    orders, trades, final = simulate_simple_nb(market, dec, rules, equity, False, counts, scan)
    if final != final:
        return False
    _write_row(row, equity, orders, trades, final, market, periods_per_year, curve)
    return True


@njit(cache=True, nogil=True)
def _general_combination_nb(
    market: Market,
    dec: Decisions,
    rules: Rules,
    periods_per_year: float,
    curve: bool,
    equity: np.ndarray,
    row: np.ndarray,
) -> None:
    """Simulate one combination with the general kernel and write its row; ``equity`` is ``(n,)``."""
    orders, trades, _, _ = simulate_nb(market, dec, rules, equity)
    final = equity[equity.shape[0] - 1]
    _write_row(row, equity, orders, trades, final, market, periods_per_year, curve)


@njit(cache=True, nogil=True)
def _write_row(
    row: np.ndarray,
    equity: np.ndarray,
    orders: np.ndarray,
    trades: np.ndarray,
    final: float,
    market: Market,
    periods_per_year: float,
    curve: bool,
) -> None:
    """Write the metrics, final equity and trade count of one combination's records.

    The structured records are measured as they are: no float tables (two
    more copies of every record, per worker thread) are built.
    """
    result_metrics_into(row, equity, orders, trades, market.close, market.filled,
                        periods_per_year, curve)  # fmt: skip
    row[N_METRICS] = final
    row[N_METRICS + 1] = trades.shape[0]


class _Job(NamedTuple):
    """What every combination of one grid shares."""

    market: Market
    rules: Rules
    periods_per_year: float
    lean: bool
    curve: bool


def _simulate_row(job: _Job, dec: Decisions, scratch: list[np.ndarray], row: np.ndarray) -> None:
    """Simulate and measure one combination into ``row``: lean kernel first when in scope.

    ``scratch`` holds the thread's equity buffers: ``[0]`` the lean run's
    (``(n,)``, or empty without the curve), ``[1]`` the general kernel's
    (always ``(n,)``: it writes the curve), allocated on first need.
    """
    m, r, ppy = job.market, job.rules, job.periods_per_year
    if job.lean and _lean_combination_nb(m, dec, r, ppy, job.curve, scratch[0], row):
        return
    n = m.close.shape[0]
    full = scratch[0] if scratch[0].shape[0] == n else scratch[1]
    if full.shape[0] != n:
        full = scratch[1] = np.empty(n)
    _general_combination_nb(m, dec, r, ppy, job.curve, full, row)


def _param_table(
    params: np.ndarray | Sequence[Sequence[float]], param_names: Sequence[str] | None
) -> tuple[np.ndarray, list[str]]:
    """Return the ``(n_combos, n_params)`` float64 table and the parameters' names."""
    table = np.ascontiguousarray(np.atleast_2d(np.asarray(params, dtype=np.float64)))
    if table.ndim != 2 or table.shape[0] == 0:
        raise ConfigError("params must be a non-empty (n_combos, n_params) table")
    names = (
        list(param_names) if param_names is not None else [f"p{i}" for i in range(table.shape[1])]
    )
    if len(names) != table.shape[1]:
        raise ConfigError(f"{len(names)} param_names for {table.shape[1]} parameter columns")
    return table, names


def _check_grid(config: EngineConfig, metrics: str) -> None:
    """Refuse what a grid cannot run (rather than run it without)."""
    if metrics not in ("all", "trades"):
        raise ConfigError(f"metrics must be 'all' or 'trades', not {metrics!r}")
    if config.stops.needs_atr or config.sizing.kind == "vol_target":
        raise ConfigError("grids do not support ATR stops or volatility-target sizing yet")
    if config.costs:
        raise ConfigError(
            "grids do not support calibrated cost models (EngineConfig.costs) yet: run each "
            "combination with backtest(), or leave costs empty"
        )


def run_grid(
    bars: Bars,
    signal_kernel: Callable[..., None],
    params: np.ndarray | Sequence[Sequence[float]],
    config: EngineConfig | None = None,
    *,
    param_names: Sequence[str] | None = None,
    metrics: Literal["all", "trades"] = "all",
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """Backtest ``signal_kernel`` for every row of ``params`` in parallel; return one row each.

    Parameters
    ----------
    signal_kernel
        An ``@njit(nogil=True)`` function ``(open, high, low, close, volume,
        params_row, entries, exits, short_entries, short_exits) -> None``
        that fills the four ``(n, k)`` boolean arrays (all False on entry)
        in place, causally. Without ``nogil`` the rows run one at a time.
    params
        ``(n_combos, n_params)`` float64.
    config
        Engine configuration shared by every combination (signals form).
    metrics
        ``"all"`` (default) computes every metric of
        :data:`~grekko_research.metrics.METRIC_NAMES`; ``"trades"`` skips
        the equity curve (the :data:`CURVE_METRICS` are NaN), which makes a
        row of a long-only signal grid several times cheaper: final equity,
        trade count, exposure and the trade statistics remain.
    n_jobs
        Worker threads; default ``numba.get_num_threads()`` (all cores, or
        ``NUMBA_NUM_THREADS``).

    Returns
    -------
    pandas.DataFrame
        The parameters (named ``param_names`` or ``p0, p1, …``), every column
        of :data:`GRID_COLUMNS`.
    """
    config = config or EngineConfig()
    table, names = _param_table(params, param_names)
    _check_grid(config, metrics)
    if not getattr(signal_kernel, "targetoptions", {}).get("nogil", False):
        warnings.warn(
            "the grid's signal kernel is not compiled with nogil=True: rows run one at a time",
            RuntimeWarning,
            stacklevel=2,
        )
    cfg = config.to_array(L.MODE_SIGNALS)
    risk = risk_rules(config.risk, _periods_per_year(bars.timeframe), bars.index)
    rules = make_rules(cfg, config.risk.to_array(), *config.market.arrays(bars.n_assets), risk)
    market = Market(bars.index, bars.open, bars.high, bars.low, bars.close, bars.volume,
                    bars.filled, _EMPTY_F)  # fmt: skip
    lean = _lean_config(config, bars)
    curve = metrics == "all" or not lean  # the general kernel always writes the curve
    job = _Job(market, rules, _periods_per_year(bars.timeframe), lean, curve)
    out = np.full((table.shape[0], len(GRID_COLUMNS)), np.nan)
    n_jobs = max(1, min(n_jobs or numba.get_num_threads(), table.shape[0]))
    rows = itertools.count()  # shared work queue: next() is atomic under the GIL
    errors: list[str] = []

    def work() -> None:
        shape = (bars.n_bars, bars.n_assets)
        signals = [np.zeros(shape, dtype=np.bool_) for _ in range(4)]
        e, x, se, sx = signals
        dec = Decisions(e, x, se, sx, _EMPTY_F, _EMPTY_I, _EMPTY_F, _EMPTY_F, _EMPTY_F, _EMPTY_F,
                        _EMPTY_F)  # fmt: skip
        scratch = [np.empty(bars.n_bars) if curve else _EMPTY_1D, _EMPTY_1D]
        # Long only: a short signal ends the grid (below), so the short arrays stay all False
        # and need no reset per combination (two bars-sized writes saved).
        reset = signals if config.allow_short else signals[:2]
        while not errors:
            c = next(rows)
            if c >= table.shape[0]:
                return
            for a in reset:
                a.fill(False)
            signal_kernel(bars.open, bars.high, bars.low, bars.close, bars.volume, table[c],
                          *signals)  # fmt: skip
            if not config.allow_short and (signals[2].any() or signals[3].any()):
                errors.append(f"row {c} ({table[c].tolist()}) gave short signals")
                return
            _simulate_row(job, dec, scratch, out[c])

    with ThreadPoolExecutor(n_jobs) as pool:
        for future in [pool.submit(work) for _ in range(n_jobs)]:
            future.result()
    if errors:
        raise ConfigError(f"{errors[0]} but EngineConfig.allow_short is False")
    import pandas as pd

    frame = pd.DataFrame(out, columns=list(GRID_COLUMNS))
    for i, name in enumerate(names):
        frame.insert(i, name, table[:, i])
    frame["n_trades"] = frame["n_trades"].astype(np.int64)
    return frame
