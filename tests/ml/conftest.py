"""Real hourly BTC/USDT bars for the ML tests (small: models fit in milliseconds on them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from grekko_research.data.bars import Bars
from tests.peers.frames import real_bars


@pytest.fixture(scope="module")
def btc_1h(shared_data: Path) -> Bars:
    """The first 1,600 real Binance BTC/USDT hourly bars (from 2020-12-01)."""
    return real_bars(shared_data, ["BTC-USDT"], 1600)
