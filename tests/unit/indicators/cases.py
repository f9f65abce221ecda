"""Every public indicator as a case: which bar fields it reads and how to call it.

The generic tests (causality, NaN rule, shapes, multi-column) loop over
``CASES``; each call returns a tuple of outputs so one-output and
three-output indicators are handled alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import grekko_research.indicators as ind

Bars = dict[str, np.ndarray]


@dataclass(frozen=True)
class Case:
    name: str
    fields: tuple[str, ...]
    call: Callable[[Bars], tuple[np.ndarray, ...]]
    skips_nan: bool = True  # NaN bars are skipped (not the engine's restart rule)
    columnwise: bool = True  # column j of the output depends on column j of the input only


HLC = ("high", "low", "close")
CASES: list[Case] = [
    Case("sma", ("close",), lambda b: (ind.sma(b["close"], 20),)),
    Case("ema", ("close",), lambda b: (ind.ema(b["close"], 20),)),
    Case("wma", ("close",), lambda b: (ind.wma(b["close"], 20),)),
    Case("rsi", ("close",), lambda b: (ind.rsi(b["close"], 14),)),
    Case("macd", ("close",), lambda b: ind.macd(b["close"], 12, 26, 9)),
    Case("atr", HLC, lambda b: (ind.atr(b["high"], b["low"], b["close"], 14),)),
    Case("bollinger", ("close",), lambda b: ind.bollinger(b["close"], 20, 2.0)),
    Case("donchian", ("high", "low"), lambda b: ind.donchian(b["high"], b["low"], 20)),
    Case("keltner", HLC, lambda b: ind.keltner(b["high"], b["low"], b["close"], 20, 10, 2.0)),
    Case("adx", HLC, lambda b: ind.adx(b["high"], b["low"], b["close"], 14)),
    Case("obv", ("close", "volume"), lambda b: (ind.obv(b["close"], b["volume"]),)),
    Case(
        "vwap",
        (*HLC, "volume"),
        lambda b: (ind.vwap(b["high"], b["low"], b["close"], b["volume"], 24),),
    ),
    Case("zscore", ("close",), lambda b: (ind.zscore(b["close"], 20),)),
    Case("volatility", ("close",), lambda b: (ind.volatility(b["close"], 24, 8760),)),
    Case(
        "volatility_simple",
        ("close",),
        lambda b: (ind.volatility(b["close"], 24, 8760, returns="simple"),),
        skips_nan=False,
    ),
    Case("parkinson", ("high", "low"), lambda b: (ind.parkinson(b["high"], b["low"], 24, 8760),)),
    Case(
        "garman_klass",
        ("open", *HLC),
        lambda b: (ind.garman_klass(b["open"], b["high"], b["low"], b["close"], 24, 8760),),
    ),
    Case("xs_rank", ("close",), lambda b: (ind.xs_rank(b["close"]),), columnwise=False),
]
CASE_IDS = [c.name for c in CASES]
