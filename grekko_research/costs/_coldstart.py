"""Cold start: slippage rows from an L2 depth snapshot and a trade capture (no fills of ours yet).

A market order of ``q`` base units walks the book from the best level: its cost is its VWAP
against the mid, in bps. The bar volume it is compared with is the capture's traded volume
per second times the bar's length (``timeframe``), so the rows speak the engine's units
(``share = q / volume`` of a bar). One snapshot has one volatility: the rows carry
``sigma_bps = 0`` and a cold-start fit leaves ``c`` at 0 (the fills of a run later fit it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from grekko_research.data.timeframes import parse_timeframe
from grekko_research.errors import DataError

__all__ = ["DEFAULT_SHARES", "book_walk_rows"]

DEFAULT_SHARES = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
"""Order sizes as shares of a bar's volume that a cold start walks the book for."""


def _walk(prices: np.ndarray, qtys: np.ndarray, size: float) -> float:
    """VWAP of taking ``size`` from levels in walking order (NaN if the book is too thin)."""
    cum = np.cumsum(qtys)
    if cum[-1] < size:
        return math.nan
    i = int(np.searchsorted(cum, size))
    taken = qtys[:i].sum()
    cost = float(np.dot(prices[:i], qtys[:i]) + prices[i] * (size - taken))
    return cost / size


def book_walk_rows(
    snapshot: str | Path | pd.DataFrame,
    trades: str | Path | pd.DataFrame,
    *,
    symbol: str,
    venue: str,
    timeframe: str,
    shares: Sequence[float] = DEFAULT_SHARES,
) -> pd.DataFrame:
    """Return fit rows (``grekko_research.costs.ROW_COLUMNS``) of market orders walking the
    book of ``snapshot`` (columns ``side`` bid/ask, ``price``, ``qty``: the shared captures'
    ``*_depth_snapshot.csv``), one buy and one sell per share of a ``timeframe`` bar's volume
    (from ``trades``: ``trade_ts_ms``, ``qty``: ``*_trades.csv``). Sizes the book cannot fill
    are left out."""
    book = snapshot if isinstance(snapshot, pd.DataFrame) else pd.read_csv(snapshot)
    tr = trades if isinstance(trades, pd.DataFrame) else pd.read_csv(trades)
    for frame, cols, what in ((book, ("side", "price", "qty"), "snapshot"),
                              (tr, ("trade_ts_ms", "qty"), "trades")):  # fmt: skip
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise DataError(f"book_walk_rows: the {what} lacks columns {missing}")
    bids = book[book.side == "bid"].sort_values("price", ascending=False)
    asks = book[book.side == "ask"].sort_values("price")
    if bids.empty or asks.empty:
        raise DataError("book_walk_rows: the snapshot needs bids and asks")
    best_bid, best_ask = float(bids.price.iloc[0]), float(asks.price.iloc[0])
    if best_bid >= best_ask:
        raise DataError(f"book_walk_rows: crossed snapshot (bid {best_bid} ≥ ask {best_ask})")
    mid = (best_bid + best_ask) / 2
    span_s = (int(tr.trade_ts_ms.max()) - int(tr.trade_ts_ms.min())) / 1000
    if span_s <= 0:
        raise DataError("book_walk_rows: the trades span no time")
    bar_s = parse_timeframe(timeframe).ms / 1000
    volume = float(tr.qty.sum()) / span_s * bar_s
    rows = []
    for share in shares:
        size = share * volume
        for side, levels, sign in (("buy", asks, 1.0), ("sell", bids, -1.0)):
            vwap = _walk(levels.price.to_numpy(float), levels.qty.to_numpy(float), size)
            if not math.isfinite(vwap):
                continue
            rows.append({
                "venue": venue, "symbol": symbol, "order_type": "market", "side": side,
                "qty": size, "volume": volume, "share": share, "sigma_bps": 0.0,
                "slip_bps": sign * (vwap - mid) / mid * 1e4,
            })  # fmt: skip
    return pd.DataFrame(rows)
