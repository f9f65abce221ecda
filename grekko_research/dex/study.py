"""Exact pool fills against naive candle fills, for growing trade sizes (docs/dex.md, notebook 03).

The same signals are backtested three ways per trade size: *naive* (every fill at the bar's
price, the LP fee charged as a taker fee: what candle backtesters do), *exact* (every fill a
swap through the pool at its quote for that size: price impact, LP fee, gas; no limit), and
*exact with the limit* (orders over ``max_price_impact`` shrunk to it).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.dex.series import PoolSeries
from grekko_research.engine import EngineConfig, backtest
from grekko_research.engine.api import BacktestResult
from grekko_research.engine.config import Fees, Sizing
from grekko_research.engine.layout import ORDER_DTYPE

if TYPE_CHECKING:
    import pandas as pd

    from grekko_research.engine.api import Signals

__all__ = ["exact_vs_naive"]


def _cost_bps(res: BacktestResult) -> float:
    """Mean cost of a fill against its reference price (the bar's open), in bps."""
    table = res.order_records  # float columns in ORDER_DTYPE's order
    if len(table) == 0:
        return float("nan")
    col = {name: i for i, name in enumerate(ORDER_DTYPE.names or ())}
    side = np.where(table[:, col["side"]] > 0, 1.0, -1.0)
    slip = table[:, col["slippage"]]
    ref = table[:, col["price"]] - slip
    return float(np.mean(side * slip / ref) * 1e4)


def _mean_entry(res: BacktestResult) -> float:
    """Mean quote-currency value of the buys (what a shrunk order still bought)."""
    table = res.order_records
    col = {name: i for i, name in enumerate(ORDER_DTYPE.names or ())}
    buys = table[table[:, col["side"]] > 0]
    if len(buys) == 0:
        return float("nan")
    return float(np.mean(np.abs(buys[:, col["size"]]) * buys[:, col["price"]]))


def exact_vs_naive(
    bars: Bars,
    series: PoolSeries,
    signals: Signals,
    sizes: Sequence[float],
    *,
    max_price_impact: float = 0.01,
) -> pd.DataFrame:
    """One row per trade size (quote currency per entry): P&L and mean cost per fill each way,
    and the mean value actually bought under the price-impact limit.

    Each run starts with twice the trade size in cash and enters with ``sizes[i]`` of it
    (notional sizing), so the P&L is comparable across sizes as a return on the trade size.
    """
    import pandas as pd

    symbol = bars.symbols[0]
    lp_fee = float(series.rows[0, 1])
    loose = dataclasses.replace(
        series, rule=dataclasses.replace(series.rule, max_price_impact=0.99)
    )
    limited = dataclasses.replace(
        series, rule=dataclasses.replace(series.rule, max_price_impact=max_price_impact)
    )
    limit_col = f"exact ≤{max_price_impact:.0%} impact P&L %"
    rows = []
    for size in sizes:
        base = EngineConfig(init_cash=2.0 * size, sizing=Sizing("notional", float(size)))
        naive_cfg = dataclasses.replace(base, fees=Fees(taker=lp_fee, maker=lp_fee))
        pool_cfg = dataclasses.replace(base, fees=Fees(taker=0.0, maker=0.0))
        naive = backtest(bars, signals, naive_cfg)
        exact = backtest(bars, signals, pool_cfg, pools={symbol: loose})
        capped = backtest(bars, signals, pool_cfg, pools={symbol: limited})
        cash = 2.0 * size
        rows.append({
            "trade size": size,
            "trades": naive.n_trades,
            "naive P&L %": (naive.final_equity - cash) / size * 100,
            "exact P&L %": (exact.final_equity - cash) / size * 100,
            limit_col: (capped.final_equity - cash) / size * 100,
            "naive cost bps": lp_fee * 1e4,
            "exact cost bps": _cost_bps(exact),
            "≤limit mean entry": _mean_entry(capped),
        })  # fmt: skip
    return pd.DataFrame(rows).set_index("trade size")
