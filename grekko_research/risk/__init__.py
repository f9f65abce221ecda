"""Risk rules shared by the backtest engine and the live bridge (pure functions, numba-compatible).

- :mod:`~grekko_research.risk.rules`: the limits the backtest kernel applies (``RiskLimits``);
- :mod:`~grekko_research.risk.checks`: pre-trade, portfolio, market and operational checks
  returning a :class:`~grekko_research.risk.checks.Verdict` (rule, ok, value, limit);
- :mod:`~grekko_research.risk.sizing`: fixed-fraction, volatility-target and Kelly sizing,
  called by the kernel's entry sizing and therefore by live runs too.
"""

from grekko_research.risk.checks import (
    Verdict,
    check_clock_skew,
    check_daily_loss,
    check_drawdown,
    check_error_rate,
    check_gross_exposure,
    check_leverage,
    check_max_notional,
    check_max_position,
    check_min_notional,
    check_net_exposure,
    check_order_rate,
    check_price_band,
    check_price_move,
    check_price_precision,
    check_qty_precision,
    check_stale_data,
    check_var,
    check_volatility,
    check_ws_down,
    historical_var_nb,
    realized_vol_nb,
)
from grekko_research.risk.rules import RULE_NAMES, RiskLimits
from grekko_research.risk.sizing import (
    fixed_fraction_size_nb,
    kelly_entry_fraction_nb,
    kelly_estimate_nb,
    kelly_fraction_nb,
    kelly_stats_nb,
    vol_target_size_nb,
)

__all__ = [
    "RULE_NAMES",
    "RiskLimits",
    "Verdict",
    "check_clock_skew",
    "check_daily_loss",
    "check_drawdown",
    "check_error_rate",
    "check_gross_exposure",
    "check_leverage",
    "check_max_notional",
    "check_max_position",
    "check_min_notional",
    "check_net_exposure",
    "check_order_rate",
    "check_price_band",
    "check_price_move",
    "check_price_precision",
    "check_qty_precision",
    "check_stale_data",
    "check_var",
    "check_volatility",
    "check_ws_down",
    "fixed_fraction_size_nb",
    "historical_var_nb",
    "kelly_entry_fraction_nb",
    "kelly_estimate_nb",
    "kelly_fraction_nb",
    "kelly_stats_nb",
    "realized_vol_nb",
    "vol_target_size_nb",
]
