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


def test_extras_are_read_only_and_follow_slices_and_stacks() -> None:
    arrays = _arrays(6)
    index = np.arange(6, dtype=np.int64) * 3_600_000
    rate = np.array([[0.0], [0.001], [0.0], [0.0], [-0.002], [0.0]])
    bars = Bars(index=index, symbols=("BTC/USDT",), timeframe="1h", **arrays)
    with_rate = bars.with_extras(funding_rate=rate)
    assert not bars.extras and "funding_rate" in with_rate.extras
    assert not with_rate.extras["funding_rate"].flags.writeable
    with pytest.raises(TypeError):
        with_rate.extras["other"] = rate  # type: ignore[index]
    np.testing.assert_array_equal(with_rate[2:5].extras["funding_rate"], rate[2:5])
    other = Bars(index=index, symbols=("ETH/USDT",), timeframe="1h", **_arrays(6))
    stacked = Bars.stack([with_rate, other])
    np.testing.assert_array_equal(stacked.extras["funding_rate"][:, 0], rate[:, 0])
    np.testing.assert_array_equal(stacked.extras["funding_rate"][:, 1], 0.0)  # none given
    with pytest.raises(DataError, match=r"Bars.extras\['funding_rate'\] has shape"):
        bars.with_extras(funding_rate=rate[:4])


def test_backtest_books_funding_from_the_bars_extras() -> None:
    from grekko_research.engine import EngineConfig, Signals, backtest

    arrays = _arrays(6)
    index = np.arange(6, dtype=np.int64) * 3_600_000
    rate = np.array([[0.0], [0.0], [0.0], [0.01], [0.0], [0.0]])
    bars = Bars(index=index, symbols=("BTC/USDT",), timeframe="1h", **arrays)
    entries = np.zeros(6, dtype=bool)
    entries[0] = True
    plain = backtest(bars, Signals(entries), EngineConfig())
    perp = backtest(bars.with_extras(funding_rate=rate), Signals(entries), EngineConfig())
    explicit = backtest(bars, Signals(entries), EngineConfig(), funding=rate)
    assert perp.final_equity == explicit.final_equity < plain.final_equity
    assert len(perp.funding_records) == 1


def test_select_takes_columns_in_the_order_asked() -> None:
    from grekko_research.errors import ConfigError

    one = _arrays()
    arrays = {k: np.hstack([v, v * 2, v * 3]) for k, v in one.items()}
    bars = Bars(index=np.arange(5) * 60_000, symbols=("A/X", "B/X", "C/X"), timeframe="1m",
                **arrays)  # fmt: skip
    got = bars.select(["C/X", "A/X"])
    assert got.symbols == ("C/X", "A/X")
    np.testing.assert_array_equal(got.close, arrays["close"][:, [2, 0]])
    with pytest.raises(ConfigError, match="D/X"):
        bars.select(["D/X"])
