"""Fixtures of the live tests: real Binance spot candles for the simulator scenarios.

Modules that drive another venue's peer (USD-M, Coinbase) or want fewer bars define their
own ``btc``/``eth`` (see :mod:`tests.peers.frames`), which take precedence over these.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.peers.frames import SPOT_BTC_1H, SPOT_ETH_1H, real_candles


@pytest.fixture(scope="module")
def btc(shared_data: Path) -> pd.DataFrame:
    """The first 300 real Binance BTC/USDT hourly candles (from 2020-12-01)."""
    return real_candles(shared_data, SPOT_BTC_1H, 300)


@pytest.fixture(scope="module")
def eth(shared_data: Path) -> pd.DataFrame:
    """The first 300 real Binance ETH/USDT hourly candles (from 2020-12-01)."""
    return real_candles(shared_data, SPOT_ETH_1H, 300)
