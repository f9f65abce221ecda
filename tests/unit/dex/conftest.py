"""The day of Uniswap V3 USDC/WETH logs in the shared data, decoded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from grekko_research.dex.events import PoolEvent, read_raw_logs

RAW_005 = "ethereum-0x88e6a0c2ddd26feeb64f039a2c41296fcb3f5640-2024-01-05.raw.csv.gz"
RAW_030 = "ethereum-0x8ad599c3a0ff1de082011efddc58f1908eb6e6d8-2024-01-05.raw.csv.gz"
DEC_005 = "ethereum-uniswapv3_USDC-WETH-0.05pct_0x88e6a0c2_2024-01-05_swaps_decoded.csv"
DEC_030 = "ethereum-uniswapv3_USDC-WETH-0.30pct_0x8ad599c3_2024-01-05_swaps_decoded.csv"


@pytest.fixture(scope="session")
def uniswap_dir(shared_data: Path) -> Path:
    path = shared_data / "uniswap"
    if not (path / RAW_005).is_file():
        pytest.fail(f"the Uniswap logs are missing from {path}")
    return path


@pytest.fixture(scope="session")
def events_005(uniswap_dir: Path) -> list[PoolEvent]:
    return read_raw_logs(uniswap_dir / RAW_005)


@pytest.fixture(scope="session")
def events_030(uniswap_dir: Path) -> list[PoolEvent]:
    return read_raw_logs(uniswap_dir / RAW_030)
