"""Real captures and candles for the market-analysis tests.

The real-data tests need the shared data folder (``$GREKKO_SHARED_DATA``, which ``make test``
and the CI set); without it they are skipped with that reason, and the synthetic tests run.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from grekko_research.analysis.book import BookReplay, rebuild_book
from grekko_research.analysis.captures import OrderBookCapture, find_captures, read_capture
from grekko_research.data.bars import Bars
from grekko_research.paths import shared_data_dir

BTC_SPOT = "binance-spot_BTC-USDT_20240808T2354Z-20240809T0005Z__hftbacktest"


@pytest.fixture(scope="session")
def shared() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("GREKKO_SHARED_DATA is unset and no ../shared/data beside the checkout")
    if not (path / "orderbook").is_dir():
        pytest.fail(f"GREKKO_SHARED_DATA={path} has no orderbook/ folder")
    return path


@pytest.fixture(scope="session")
def captures(shared: Path) -> dict[str, OrderBookCapture]:
    names = find_captures(shared)
    assert len(names) >= 3, f"expected the three Binance depth captures in {shared / 'orderbook'}"
    return {n: read_capture(shared, n) for n in names}


@pytest.fixture(scope="session")
def replays(captures: dict[str, OrderBookCapture]) -> dict[str, BookReplay]:
    return {n: rebuild_book(c) for n, c in captures.items()}


@pytest.fixture(scope="session")
def btc_daily(shared: Path) -> Bars:
    frame = pd.read_csv(shared / "ohlcv" / "binance-spot_BTC-USDT_1d__sky1241.csv.gz")
    return Bars.from_frame(frame, "BTC/USDT", "1d")
