"""Scoring one parameter set: backtest windows of the bars and measure them.

A window is backtested with the bars before it as warm-up: the strategy sees
them, but its signals before the window are dropped, so every trade happens
inside the window it is scored on. Several windows are chained into one
account. Also here: the daily returns a trial stores for the overfitting
statistics, packed compactly for the study storage.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Orders, Signals, TargetPositions, backtest
from grekko_research.engine import layout as L
from grekko_research.engine.api import BacktestResult
from grekko_research.errors import WarmupError
from grekko_research.metrics import performance_summary, periods_per_year
from grekko_research.strategy import SignalForm, Strategy

__all__ = ["evaluate_segments", "evaluate_window"]

_DAY_MS = 86_400_000


def _from_row(form: SignalForm, row: int) -> SignalForm:
    """The signals with every decision before ``row`` dropped."""
    if row <= 0:
        return form

    def cut(values: Any, fill: Any) -> Any:
        if values is None:
            return None
        arr = np.array(values, copy=True)
        arr[:row] = fill
        return arr

    if isinstance(form, Signals):
        return Signals(
            cut(form.entries, False),
            cut(form.exits, False),
            cut(form.short_entries, False),
            cut(form.short_exits, False),
        )
    if isinstance(form, TargetPositions):
        return TargetPositions(cut(form.target, np.nan), form.kind)
    kind = np.array(form.kind, dtype=object, copy=True)
    kind[:row] = None
    return Orders(kind, form.size, form.price, form.stop)


def evaluate_window(
    strategy: Strategy,
    params: Any,
    bars: Bars,
    engine: EngineConfig,
    start: int,
    end: int,
) -> tuple[BacktestResult, dict[str, float], np.ndarray]:
    """Backtest ``params`` on rows ``[start, end)`` (earlier rows as warm-up only).

    Returns the result, the metrics of the window (equity from the bar
    before ``start``, closed trades) and the window's equity.

    Raises
    ------
    WarmupError
        When the window is empty, or the bars up to its end cannot hold the
        parameters' warm-up and one decision (nothing to score: a sweep
        prunes such a trial and records why).
    """
    warm = strategy.warmup(params)
    if not 0 <= start < end <= bars.n_bars:
        raise WarmupError(
            f"{strategy.name}: no bar to score in rows [{start}, {end}) of {bars.n_bars} bars "
            f"({bars.timeframe}); the window starts after the longest warm-up the search allows"
        )
    if warm >= end:
        raise WarmupError(
            f"{strategy.name}: these parameters need {warm} bars of warm-up before their first "
            f"decision, but the data holds {end} bars up to the end of the window (rows "
            f"[{start}, {end}) of {bars.n_bars}, {bars.timeframe}): more data or a shorter "
            "warm-up"
        )
    lo = max(0, start - warm)
    part = bars[lo:end]
    offset = start - lo
    cfg = strategy.configure(engine, params)
    form = _from_row(strategy.signals(part, params), offset)
    result = backtest(part, form, cfg)
    equity = result.equity[max(offset - 1, 0) :]
    pnl, ret, duration = _closed_trades(result)
    metrics = performance_summary(
        equity,
        periods_per_year=periods_per_year(bars.timeframe),
        pnl=pnl,
        ret=ret,
        duration=duration,
    )
    metrics["final_equity"] = float(equity[-1])
    return result, metrics, equity


def _closed_trades(result: BacktestResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """P&L, return and bars held of the closed trades, from the raw records (no DataFrame per trial)."""
    rec = result.trade_records
    closed = rec[rec[:, L.T_IS_OPEN] == 0.0]
    duration = (closed[:, L.T_EXIT_BAR] - closed[:, L.T_ENTRY_BAR]).astype(np.int64)
    return closed[:, L.T_PNL], closed[:, L.T_RETURN], duration


def evaluate_segments(
    strategy: Strategy,
    params: Any,
    bars: Bars,
    engine: EngineConfig,
    segments: Sequence[tuple[int, int]],
) -> tuple[BacktestResult | None, dict[str, float], np.ndarray]:
    """Score ``params`` on several windows as if one account traded them back to back.

    Each window is backtested on its own (with its warm-up, see
    :func:`evaluate_window`); their bar-to-bar growth is chained into one
    equity curve starting at the initial cash and their closed trades are
    pooled. One window gives exactly :func:`evaluate_window`'s numbers (and
    its result; several give ``None`` as the result).
    """
    if len(segments) == 1:
        return evaluate_window(strategy, params, bars, engine, *segments[0])
    growth: list[np.ndarray] = []
    pnl: list[np.ndarray] = []
    ret: list[np.ndarray] = []
    duration: list[np.ndarray] = []
    for start, end in segments:
        result, _, equity = evaluate_window(strategy, params, bars, engine, start, end)
        growth.append(equity[1:] / equity[:-1])
        for pool, values in zip((pnl, ret, duration), _closed_trades(result), strict=True):
            pool.append(values)
    chained = engine.init_cash * np.concatenate(([1.0], np.cumprod(np.concatenate(growth))))
    metrics = performance_summary(
        chained,
        periods_per_year=periods_per_year(bars.timeframe),
        pnl=np.concatenate(pnl),
        ret=np.concatenate(ret),
        duration=np.concatenate(duration),
    )
    metrics["final_equity"] = float(chained[-1])
    return None, metrics, chained


def _finite(x: float) -> float:
    """The value as a float, NaN when it is not finite (JSON and Optuna take no infinities)."""
    return float(x) if math.isfinite(x) else float("nan")


def _daily_returns(index: np.ndarray, equity: np.ndarray) -> np.ndarray:
    """Simple returns of the equity at each UTC day's last bar (the first day's from its first bar)."""
    day = index // _DAY_MS
    last = np.flatnonzero(np.diff(day) != 0)
    closes = np.concatenate(([equity[0]], equity[last], [equity[-1]]))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(closes[:-1] > 0, closes[1:] / closes[:-1] - 1.0, 0.0)
    return out


def _pack(values: np.ndarray) -> str:
    return base64.b64encode(values.astype("<f4").tobytes()).decode("ascii")


def _unpack(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float64)
