"""Metrics of a backtest from its records, and parameter grids run in parallel.

A grid evaluates one signal kernel over many parameter rows. Each row runs in
a numba ``prange`` worker: signals → simulation → metrics, all in native
code; only one ``(n_combos, n_metrics + 2)`` table is kept, so memory does
not grow with the number of combinations beyond that table (each worker holds
its own bars-sized scratch arrays while it runs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from numba import njit, prange

from grekko_research.data.bars import Bars
from grekko_research.engine import layout as L
from grekko_research.engine.analysis import result_metrics_into
from grekko_research.engine.api import _EMPTY_F, _EMPTY_I, _lean_config, _periods_per_year
from grekko_research.engine.config import EngineConfig
from grekko_research.engine.nb import simulate_nb
from grekko_research.engine.nb_fast import simulate_simple_nb
from grekko_research.errors import ConfigError
from grekko_research.metrics.performance import METRIC_NAMES, N_METRICS

__all__ = ["GRID_COLUMNS", "run_grid"]

GRID_COLUMNS = (*METRIC_NAMES, "final_equity", "n_trades")


@njit(cache=True, parallel=True)
def _grid_nb(
    signal_kernel: Callable[..., None],
    params: np.ndarray,
    index: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    filled: np.ndarray,
    funding: np.ndarray,
    atr: np.ndarray,
    vol: np.ndarray,
    lot: np.ndarray,
    tick: np.ndarray,
    min_notional: np.ndarray,
    cfg: np.ndarray,
    limits: np.ndarray,
    periods_per_year: float,
    empty_f: np.ndarray,
    empty_i: np.ndarray,
    lean: bool,
    out: np.ndarray,
) -> None:
    n, k = close.shape
    for c in prange(params.shape[0]):
        entries = np.zeros((n, k), dtype=np.bool_)
        exits = np.zeros((n, k), dtype=np.bool_)
        short_entries = np.zeros((n, k), dtype=np.bool_)
        short_exits = np.zeros((n, k), dtype=np.bool_)
        signal_kernel(open_, high, low, close, volume, params[c], entries, exits, short_entries,
                      short_exits)  # fmt: skip
        equity = np.empty(n)
        if lean:
            n_entries = 0
            n_exits = 0
            for t in range(n):
                for j in range(k):
                    n_entries += entries[t, j]
                    n_exits += exits[t, j]
            orders, trades, _ = simulate_simple_nb(
                open_, high, low, close, entries, exits, cfg, equity, False,
                2 * n_entries + n_exits + k + 1, n_entries + k + 1,
            )  # fmt: skip
        else:
            orders, trades, _, _ = simulate_nb(
                index, open_, high, low, close, volume, filled, entries, exits, short_entries,
                short_exits, empty_f, empty_i, empty_f, empty_f, empty_f, funding,
                atr, vol, lot, tick, min_notional, cfg, limits, equity,
            )  # fmt: skip
        row = out[c]
        result_metrics_into(row, equity, orders, trades, close, filled, periods_per_year)
        row[N_METRICS] = equity[n - 1]
        row[N_METRICS + 1] = trades.shape[0]


def run_grid(
    bars: Bars,
    signal_kernel: Callable[..., None],
    params: np.ndarray | Sequence[Sequence[float]],
    config: EngineConfig | None = None,
    *,
    param_names: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Backtest ``signal_kernel`` for every row of ``params`` in parallel; return one row each.

    Parameters
    ----------
    signal_kernel
        An ``@njit`` function ``(open, high, low, close, volume, params_row,
        entries, exits, short_entries, short_exits) -> None`` that fills the
        four ``(n, k)`` boolean arrays (all False on entry) in place, causally.
    params
        ``(n_combos, n_params)`` float64.
    config
        Engine configuration shared by every combination (signals form).

    Returns
    -------
    pandas.DataFrame
        The parameters (named ``param_names`` or ``p0, p1, …``), every metric
        of :data:`~grekko_research.metrics.METRIC_NAMES`, ``final_equity`` and
        ``n_trades``.
    """
    config = config or EngineConfig()
    table = np.ascontiguousarray(np.atleast_2d(np.asarray(params, dtype=np.float64)))
    if table.ndim != 2 or table.shape[0] == 0:
        raise ConfigError("params must be a non-empty (n_combos, n_params) table")
    names = (
        list(param_names) if param_names is not None else [f"p{i}" for i in range(table.shape[1])]
    )
    if len(names) != table.shape[1]:
        raise ConfigError(f"{len(names)} param_names for {table.shape[1]} parameter columns")
    if config.stops.needs_atr or config.sizing.kind == "vol_target":
        raise ConfigError("grids do not support ATR stops or volatility-target sizing yet")
    cfg = config.to_array(L.MODE_SIGNALS)
    lot, tick, min_notional = config.market.arrays(bars.n_assets)
    out = np.full((table.shape[0], len(GRID_COLUMNS)), np.nan)
    _grid_nb(
        signal_kernel, table, bars.index, bars.open, bars.high, bars.low, bars.close, bars.volume,
        bars.filled, _EMPTY_F, _EMPTY_F, _EMPTY_F, lot, tick, min_notional, cfg,
        config.risk.to_array(), _periods_per_year(bars.timeframe), _EMPTY_F, _EMPTY_I,
        _lean_config(config, bars), out,
    )  # fmt: skip
    frame = pd.DataFrame(out, columns=list(GRID_COLUMNS))
    for i, name in enumerate(names):
        frame.insert(i, name, table[:, i])
    frame["n_trades"] = frame["n_trades"].astype(np.int64)
    return frame
