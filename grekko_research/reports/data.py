"""Everything a tearsheet shows, computed once from a backtest result at full resolution."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from grekko_research.calendar import DAYS_PER_YEAR, periods_per_year
from grekko_research.engine import BacktestResult
from grekko_research.errors import ConfigError
from grekko_research.reports import series as S
from grekko_research.reports.series import _equity, _vector

__all__ = ["TearsheetData", "default_config", "describe_window", "tearsheet_data"]


@dataclass(frozen=True, eq=False)
class TearsheetData:
    """The full-resolution series and tables of one tearsheet (plots downsample them).

    Attributes
    ----------
    index
        ``int64[n]`` bar open times, ms UTC (``result.bars.index``).
    symbols, timeframe
        Of the bars.
    init_cash
        Starting equity (``result.config.init_cash``); buy-and-hold starts there too.
    equity
        ``float64[n]`` portfolio value at each close.
    buy_and_hold
        ``float64[n]``: :func:`~grekko_research.reports.series.buy_and_hold` of the closes.
    benchmark, benchmark_name
        An optional user series rescaled to start at ``init_cash`` (else ``None``).
    drawdown
        ``float64[n]`` underwater curve of ``equity``.
    monthly
        Monthly returns (:func:`~grekko_research.reports.series.monthly_returns`).
    window, rolling_sharpe
        Rolling Sharpe window in bars and the ``float64[n]`` annualised ratio.
    periods_per_year
        Bars per year of the timeframe (the Sharpe annualisation factor is its root).
    close
        ``float64[n, k]`` closing prices.
    trades
        ``result.trades`` (open trades included, flagged ``is_open``).
    trade_returns
        Return of each closed trade.
    metrics
        ``result.metrics``.
    currency
        The quote currency shared by every symbol ("" when they differ).
    """

    index: np.ndarray
    symbols: tuple[str, ...]
    timeframe: str
    init_cash: float
    equity: np.ndarray
    buy_and_hold: np.ndarray
    benchmark: np.ndarray | None
    benchmark_name: str
    drawdown: np.ndarray
    monthly: pd.Series
    window: int
    rolling_sharpe: np.ndarray
    periods_per_year: float
    close: np.ndarray
    trades: pd.DataFrame
    trade_returns: np.ndarray
    metrics: dict[str, float]
    currency: str

    @property
    def n_bars(self) -> int:
        """Number of bars."""
        return int(self.index.shape[0])

    @property
    def enough_bars(self) -> bool:
        """True when the run is long enough for one rolling Sharpe value (``window + 1`` bars)."""
        return self.n_bars > self.window

    @property
    def window_days(self) -> float:
        """The rolling window in days of 24 hours (365 per year, as the annualisation)."""
        return self.window * DAYS_PER_YEAR / self.periods_per_year

    def monthly_table(self) -> pd.DataFrame:
        """Return the monthly returns as a year × month (1–12) table."""
        return S.monthly_return_table(self.monthly)


def _quote(symbols: tuple[str, ...]) -> str:
    quotes = {s.split("/", 1)[1].split(":", 1)[0] if "/" in s else "" for s in symbols}
    return quotes.pop() if len(quotes) == 1 else ""


def _benchmark(
    benchmark: pd.Series | npt.ArrayLike, result: BacktestResult
) -> tuple[np.ndarray, str]:
    name = "benchmark"
    if isinstance(benchmark, pd.Series):
        if benchmark.name is not None:
            name = str(benchmark.name)
        if isinstance(benchmark.index, pd.DatetimeIndex):
            expected = result.bars.datetime_index
            got = benchmark.index
            got = got.tz_localize("UTC") if got.tz is None else got.tz_convert("UTC")
            if not got.equals(expected):
                raise ConfigError(
                    "benchmark's DatetimeIndex differs from the bars' index; reindex it to "
                    "result.bars.datetime_index first"
                )
    values = _vector("benchmark", benchmark, length=result.bars.n_bars)
    if np.any(values <= 0.0):
        raise ConfigError("benchmark must be positive (prices or portfolio values)")
    return result.config.init_cash * values / values[0], name


def tearsheet_data(
    result: BacktestResult,
    *,
    benchmark: pd.Series | npt.ArrayLike | None = None,
    rolling_window: int | None = None,
) -> TearsheetData:
    """Compute every series and table of a tearsheet from ``result``.

    Parameters
    ----------
    result
        A backtest result.
    benchmark : array-like or pandas.Series, shape (n,), optional
        Prices or values of another curve, one per bar; plotted rescaled to start at
        ``init_cash``. A Series with a ``DatetimeIndex`` must have the bars' index; its
        name labels the curve.
    rolling_window
        Rolling Sharpe window in bars; default :func:`~grekko_research.reports.series.rolling_window`
        of the timeframe (90 days).

    Raises
    ------
    ConfigError
        When the result has no bars, its equity does not match its bars, or ``benchmark``
        or ``rolling_window`` is malformed.
    """
    bars = result.bars
    n = bars.n_bars
    if n == 0:
        raise ConfigError("cannot report a backtest without bars")
    equity = _equity(result.equity, length=n)
    init_cash = float(result.config.init_cash)
    ppy = periods_per_year(bars.timeframe)
    window = S.rolling_window(bars.timeframe) if rolling_window is None else rolling_window
    trades = result.trades
    closed = trades.loc[~trades["is_open"].to_numpy(dtype=bool), "return"].to_numpy(np.float64)
    bench, bench_name = (None, "") if benchmark is None else _benchmark(benchmark, result)
    return TearsheetData(
        index=np.asarray(bars.index, dtype=np.int64),
        symbols=tuple(bars.symbols),
        timeframe=bars.timeframe,
        init_cash=init_cash,
        equity=equity,
        buy_and_hold=S.buy_and_hold(np.where(bars.filled, np.nan, bars.close), init_cash),
        benchmark=bench,
        benchmark_name=bench_name,
        drawdown=S.drawdown(equity),
        monthly=S.monthly_returns(equity, bars.index),
        window=int(window),
        rolling_sharpe=S.rolling_sharpe(equity, window, ppy),
        periods_per_year=ppy,
        close=np.asarray(bars.close),
        trades=trades,
        trade_returns=closed[np.isfinite(closed)],
        metrics={k: float(v) for k, v in result.metrics.items()},
        currency=_quote(tuple(bars.symbols)),
    )


def default_config(result: BacktestResult) -> dict[str, object]:
    """Return ``dataclasses.asdict(result.config)``, the configuration a tearsheet shows by default."""
    return dataclasses.asdict(result.config)


def describe_window(data: TearsheetData) -> str:
    """Return the rolling window in words, e.g. ``"2,160 bars ≈ 90 days"``."""
    days = data.window_days
    span = f"{days:,.0f} days" if days >= 2 else f"{days * 24:,.0f} hours"
    return f"{data.window:,} bars ≈ {span}"
