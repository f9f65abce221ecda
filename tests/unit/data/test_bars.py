"""``Bars`` construction: shapes, read-only views, no needless copies."""

from __future__ import annotations

import numpy as np
import pytest

from grekko_research.data.bars import Bars
from grekko_research.errors import DataError


def _arrays(n: int = 5) -> dict[str, np.ndarray]:
    close = np.linspace(100.0, 104.0, n)[:, None]
    return {
        "open": close.copy(),
        "high": close + 1.0,
        "low": close - 1.0,
        "close": close,
        "volume": np.ones((n, 1)),
    }


def test_bars_share_float64_inputs_read_only_without_freezing_them() -> None:
    arrays = _arrays()
    index = np.arange(5, dtype=np.int64) * 60_000
    bars = Bars(index=index, symbols=("BTC/USDT",), timeframe="1m", **arrays)
    assert np.shares_memory(bars.close, arrays["close"])
    assert np.shares_memory(bars.index, index)
    assert not bars.close.flags.writeable and not bars.index.flags.writeable
    assert arrays["close"].flags.writeable and index.flags.writeable  # the caller's stay writable
    with pytest.raises(ValueError, match="read-only"):
        bars.close[0, 0] = 1.0


def test_bars_convert_other_dtypes_and_check_shapes() -> None:
    arrays = _arrays()
    arrays["volume"] = np.ones((5, 1), dtype=np.int32)
    bars = Bars(index=np.arange(5) * 60_000, symbols=("BTC/USDT",), timeframe="1m", **arrays)
    assert bars.volume.dtype == np.float64 and not np.shares_memory(bars.volume, arrays["volume"])
    arrays["high"] = np.ones((4, 1))
    with pytest.raises(DataError, match=r"Bars.high has shape \(4, 1\), expected \(5, 1\)"):
        Bars(index=np.arange(5) * 60_000, symbols=("BTC/USDT",), timeframe="1m", **arrays)
