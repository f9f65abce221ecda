"""Risk rules shared by the backtest engine and the live bridge (pure functions, numba-compatible).

- :mod:`~grekko_research.risk.spec`: the one declarative risk spec (``RiskSpec``, from
  ``conf/risk/``; see ``docs/risk.md``);
- :mod:`~grekko_research.risk.evaluate` / :mod:`~grekko_research.risk.breakers`: the spec
  evaluated, ``(spec, state, order_or_view) -> verdict`` (order decisions, breakers);
- :mod:`~grekko_research.risk.state`: the trading state and the hold state machine;
- :mod:`~grekko_research.risk.rules`: the engine's own two rules (the drawdown flatten and
  the orders per day) and the deprecated ``RiskLimits`` (turned into a spec); the backtest
  kernel evaluates the rest of the spec with the functions above (``engine/_risk.py``);
- :mod:`~grekko_research.risk.checks`: pre-trade, portfolio, market and operational checks
  returning a :class:`~grekko_research.risk.checks.Verdict` (rule, ok, value, limit);
- :mod:`~grekko_research.risk.var`: the historical VaR over a rolling window, kept sorted as
  it slides (the VaR breaker's estimator, in the kernel and live);
- :mod:`~grekko_research.risk.sizing`: fixed-fraction, volatility-target and Kelly sizing,
  called by the kernel's entry sizing and therefore by live runs too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from grekko_research._lazy import lazy_exports

if TYPE_CHECKING:
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
        check_var_window,
        check_volatility,
        check_ws_down,
        historical_var_nb,
        realized_vol_nb,
    )
    from grekko_research.risk.evaluate import decide_order
    from grekko_research.risk.rules import RULE_NAMES, RiskLimits
    from grekko_research.risk.sizing import (
        fixed_fraction_size_nb,
        kelly_entry_fraction_nb,
        kelly_estimate_nb,
        kelly_fraction_nb,
        kelly_stats_nb,
        vol_target_size_nb,
    )
    from grekko_research.risk.spec import RiskSpec
    from grekko_research.risk.state import TradingState
    from grekko_research.risk.var import VarWindow

_WHERE = {  # name -> submodule: imported on first use (numba loads only when needed)
    "RULE_NAMES": "rules",
    "RiskLimits": "rules",
    "RiskSpec": "spec",
    "TradingState": "state",
    "VarWindow": "var",
    "Verdict": "checks",
    "check_clock_skew": "checks",
    "check_daily_loss": "checks",
    "check_drawdown": "checks",
    "check_error_rate": "checks",
    "check_gross_exposure": "checks",
    "check_leverage": "checks",
    "check_max_notional": "checks",
    "check_max_position": "checks",
    "check_min_notional": "checks",
    "check_net_exposure": "checks",
    "check_order_rate": "checks",
    "check_price_band": "checks",
    "check_price_move": "checks",
    "check_price_precision": "checks",
    "check_qty_precision": "checks",
    "check_stale_data": "checks",
    "check_var": "checks",
    "check_var_window": "checks",
    "check_volatility": "checks",
    "check_ws_down": "checks",
    "decide_order": "evaluate",
    "fixed_fraction_size_nb": "sizing",
    "historical_var_nb": "checks",
    "kelly_entry_fraction_nb": "sizing",
    "kelly_estimate_nb": "sizing",
    "kelly_fraction_nb": "sizing",
    "kelly_stats_nb": "sizing",
    "realized_vol_nb": "checks",
    "vol_target_size_nb": "sizing",
}


__getattr__, __dir__ = lazy_exports(__name__, _WHERE, globals())


__all__ = [
    "RULE_NAMES",
    "RiskLimits",
    "RiskSpec",
    "TradingState",
    "VarWindow",
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
    "check_var_window",
    "check_volatility",
    "check_ws_down",
    "decide_order",
    "fixed_fraction_size_nb",
    "historical_var_nb",
    "kelly_entry_fraction_nb",
    "kelly_estimate_nb",
    "kelly_fraction_nb",
    "kelly_stats_nb",
    "realized_vol_nb",
    "vol_target_size_nb",
]
