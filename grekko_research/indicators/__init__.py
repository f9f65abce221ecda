"""Technical indicators as numba kernels over ``(n_bars, n_assets)`` arrays."""

from grekko_research.indicators.volatility import atr_nb, rolling_volatility_nb

__all__ = ["atr_nb", "rolling_volatility_nb"]
