"""What a notebook shows of a backtest result: a short ``repr`` and a ``stats()`` Series.

The statistics are the engine's own metrics (:mod:`grekko_research.metrics`), relabelled
and put in units a person reads (percent, money, durations), in the shape of vectorbt's
``Portfolio.stats()``: one labelled row per statistic, so ``stats()["Sharpe Ratio"]`` and
``pd.concat([a.stats(), b.stats()], axis=1)`` work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from grekko_research.data.timeframes import parse_timeframe
from grekko_research.engine import layout as L

if TYPE_CHECKING:
    from grekko_research.engine.api import BacktestResult

__all__ = ["result_repr", "result_stats"]

_REJECTED = (L.STATUS_REJECTED_MIN_NOTIONAL, L.STATUS_REJECTED_RISK, L.STATUS_REJECTED_FUNDS)


def _bar_length(timeframe: str) -> pd.Timedelta | None:
    tf = parse_timeframe(timeframe)
    return None if tf.is_calendar else pd.Timedelta(milliseconds=tf.ms)


def _span(result: BacktestResult) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timedelta]:
    """First bar's open, last bar's close (open + one bar), and the time between."""
    index = result.bars.datetime_index
    bar = _bar_length(result.bars.timeframe)
    start = pd.Timestamp(index[0])
    last = pd.Timestamp(index[-1])
    end = last + bar if bar is not None else last
    return start, end, end - start


def _quote(symbols: tuple[str, ...]) -> str:
    quotes = {s.split("/", 1)[1].split(":", 1)[0] for s in symbols if "/" in s}
    return quotes.pop() if len(quotes) == 1 else ""


def _bars_to_time(value: float, timeframe: str) -> pd.Timedelta | float:
    bar = _bar_length(timeframe)
    if bar is None or not np.isfinite(value):
        return value
    return (bar * float(value)).round("1s")


def _pct(value: float) -> float:
    return float(value) * 100.0


def _benchmark_return(result: BacktestResult) -> float:
    """Total return of holding the symbols equally from the first bar (the tearsheet's curve)."""
    from grekko_research.reports.series import buy_and_hold

    bars = result.bars
    curve = buy_and_hold(np.where(bars.filled, np.nan, bars.close), result.config.init_cash)
    last = curve[np.isfinite(curve)]
    return float(last[-1] / result.config.init_cash - 1.0) if len(last) else float("nan")


def result_stats(result: BacktestResult) -> pd.Series:
    """Return the statistics of ``result`` as a labelled Series (see the module doc)."""
    m = result.metrics
    bars = result.bars
    tf = bars.timeframe
    start, end, period = _span(result)
    orders = result.order_records
    filled = orders[orders[:, L.O_STATUS] == L.STATUS_FILLED]
    trades = result.trade_records
    n_open = int(np.count_nonzero(trades[:, L.T_IS_OPEN] > 0))
    init = float(result.config.init_cash)
    rows: dict[str, Any] = {
        "Start": start,
        "End": end,
        "Period": period,
        "Bars": bars.n_bars,
        "Symbols": ", ".join(bars.symbols),
        "Timeframe": tf,
        "Start Value": init,
        "End Value": result.final_equity,
        "Total Return [%]": _pct(m["total_return"]),
        "Benchmark Return [%]": _pct(_benchmark_return(result)),
        "Annual Return [%]": _pct(m["annual_return"]),
        "Annual Volatility [%]": _pct(m["annual_volatility"]),
        "Max Drawdown [%]": _pct(m["max_drawdown"]),
        "Max Drawdown Duration": _bars_to_time(m["max_drawdown_duration"], tf),
        "Exposure [%]": _pct(m["exposure"]),
        "Turnover [×]": float(m["turnover"]),
        "Total Fees Paid": float(filled[:, L.O_FEE].sum()),
        "Total Funding": float(result.funding_records[:, L.F_AMOUNT].sum()),
        "Orders Filled": len(filled),
        "Orders Rejected": int(np.count_nonzero(np.isin(orders[:, L.O_STATUS], _REJECTED))),
        "Total Trades": len(trades),
        "Open Trades": n_open,
        "Win Rate [%]": _pct(m["win_rate"]),
        "Best Trade [%]": _pct(m["best_trade"]),
        "Worst Trade [%]": _pct(m["worst_trade"]),
        "Avg Trade [%]": _pct(m["average_trade_return"]),
        "Avg Winning Trade": float(m["average_win"]),
        "Avg Losing Trade": float(m["average_loss"]),
        "Avg Trade Duration": _bars_to_time(m["average_trade_duration"], tf),
        "Profit Factor": float(m["profit_factor"]),
        "Expectancy": float(m["expectancy"]),
        "Sharpe Ratio": float(m["sharpe_ratio"]),
        "Sortino Ratio": float(m["sortino_ratio"]),
        "Calmar Ratio": float(m["calmar_ratio"]),
        "Value at Risk [%]": _pct(m["value_at_risk"]),
        "Risk Events": len(result.event_records),
    }
    return pd.Series(rows, dtype=object, name="stats")


def _days(period: pd.Timedelta) -> str:
    days = period / pd.Timedelta(days=1)
    return f"{days:,.1f} days" if days >= 2 else f"{days * 24:,.1f} hours"


def result_repr(result: BacktestResult) -> str:
    """Return a few lines: span, bars, symbols, trades, final equity, return, Sharpe, max DD."""
    bars = result.bars
    if bars.n_bars == 0:
        return f"<BacktestResult: no bars, {', '.join(bars.symbols)} {bars.timeframe}>"
    start, end, period = _span(result)
    m = result.metrics
    quote = _quote(tuple(bars.symbols))
    unit = f" {quote}" if quote else ""
    symbols = ", ".join(bars.symbols[:4]) + (
        f" (+{len(bars.symbols) - 4} more)" if len(bars.symbols) > 4 else ""
    )
    n_open = int(np.count_nonzero(result.trade_records[:, L.T_IS_OPEN] > 0))
    opened = f" ({n_open} open)" if n_open else ""
    init = float(result.config.init_cash)
    final = result.final_equity
    lines = [
        f"<BacktestResult {symbols} {bars.timeframe}",
        f"  {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC, "
        f"{bars.n_bars:,} bars ({_days(period)})",
        f"  {result.n_trades:,} trade{'' if result.n_trades == 1 else 's'}{opened}; "
        f"equity {init:,.2f} → {final:,.2f}{unit} "
        f"({final / init - 1.0:+.2%})",
        f"  Sharpe {_maybe(m['sharpe_ratio'], '.2f')}, "
        f"max drawdown {_maybe(m['max_drawdown'], '.2%')}, "
        f"win rate {_maybe(m['win_rate'], '.2%')}>",
    ]
    return "\n".join(lines)


def _maybe(value: float, spec: str) -> str:
    return "n/a" if not np.isfinite(value) else format(value, spec)
