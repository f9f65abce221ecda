"""Runs: a composed configuration in, a run directory of results out."""

from grekko_research.runs.backtest import BacktestRun, load_run_bars, run_backtest, write_run

__all__ = ["BacktestRun", "load_run_bars", "run_backtest", "write_run"]
