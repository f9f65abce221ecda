"""Real OHLCV bars from ``../shared/data`` for the indicator tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

FIELDS = ("open", "high", "low", "close", "volume")
# dataset id -> (file stem, bars per year)
DATASETS = {
    "btc_1h": ("binance-spot_BTC-USDT_1h__nfi", 8760.0),
    "btc_1d": ("binance-spot_BTC-USDT_1d__sky1241", 365.0),
    "eth_15m": ("binance-spot_ETH-USDT_15m__octobot", 35040.0),
}


def load_bars(shared_data: Path, stem: str) -> dict[str, np.ndarray]:
    frame = pd.read_csv(shared_data / "ohlcv" / f"{stem}.csv.gz")
    return {f: frame[f].to_numpy(dtype=np.float64) for f in FIELDS}


@pytest.fixture(scope="session", params=list(DATASETS))
def real(request: pytest.FixtureRequest, shared_data: Path) -> tuple[dict[str, np.ndarray], float]:
    """One real dataset per parameter: its bars and its bars per year."""
    stem, ppy = DATASETS[request.param]
    return load_bars(shared_data, stem), ppy


@pytest.fixture(scope="session")
def btc_1h(shared_data: Path) -> dict[str, np.ndarray]:
    return load_bars(shared_data, DATASETS["btc_1h"][0])


@pytest.fixture(scope="session")
def pair_1h(shared_data: Path) -> dict[str, np.ndarray]:
    """BTC and ETH hourly bars on the same timestamps as ``(n, 2)`` arrays."""
    btc = pd.read_csv(shared_data / "ohlcv" / "binance-spot_BTC-USDT_1h__nfi.csv.gz")
    eth = pd.read_csv(shared_data / "ohlcv" / "binance-spot_ETH-USDT_1h__nfi.csv.gz")
    assert (btc["timestamp"].to_numpy() == eth["timestamp"].to_numpy()).all()
    return {f: np.column_stack([btc[f].to_numpy(float), eth[f].to_numpy(float)]) for f in FIELDS}
