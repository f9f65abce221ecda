"""Risk rules shared by the backtest engine and the live bridge (pure functions, numba-compatible)."""

from grekko_research.risk.rules import RULE_NAMES, RiskLimits

__all__ = ["RULE_NAMES", "RiskLimits"]
