"""Technical indicators: numba kernels over ``(n_bars, n_assets)`` arrays and their wrappers.

Wrappers (plain names) accept 1-D or 2-D arrays, Series or DataFrames, check
their arguments (raising :class:`~grekko_research.errors.ConfigError`) and
return numpy arrays of the input's shape. Kernels (``*_nb``) take C-contiguous
float64 ``(n, k)`` arrays and can be called from other numba code. All are
causal (row ``t`` uses rows ``≤ t``), NaN during warm-up, and skip NaN bars.
Each module documents its conventions: :mod:`.moving`, :mod:`.momentum`,
:mod:`.volatility`, :mod:`.volume`, :mod:`.stats`.
"""

from grekko_research.indicators.momentum import adx, adx_nb, macd, macd_nb, rsi, rsi_nb
from grekko_research.indicators.moving import ema, ema_nb, sma, sma_nb, wma, wma_nb
from grekko_research.indicators.stats import xs_rank, xs_rank_nb, zscore, zscore_nb
from grekko_research.indicators.volatility import (
    atr,
    atr_nb,
    bollinger,
    bollinger_nb,
    donchian,
    donchian_nb,
    garman_klass,
    garman_klass_nb,
    keltner,
    keltner_nb,
    parkinson,
    parkinson_nb,
    rolling_volatility_nb,
    volatility,
    volatility_nb,
)
from grekko_research.indicators.volume import obv, obv_nb, vwap, vwap_nb

__all__ = [
    "adx",
    "adx_nb",
    "atr",
    "atr_nb",
    "bollinger",
    "bollinger_nb",
    "donchian",
    "donchian_nb",
    "ema",
    "ema_nb",
    "garman_klass",
    "garman_klass_nb",
    "keltner",
    "keltner_nb",
    "macd",
    "macd_nb",
    "obv",
    "obv_nb",
    "parkinson",
    "parkinson_nb",
    "rolling_volatility_nb",
    "rsi",
    "rsi_nb",
    "sma",
    "sma_nb",
    "volatility",
    "volatility_nb",
    "vwap",
    "vwap_nb",
    "wma",
    "wma_nb",
    "xs_rank",
    "xs_rank_nb",
    "zscore",
    "zscore_nb",
]
