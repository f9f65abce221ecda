"""``Bars.block_range`` and the lean kernel's block-at-a-time stop scan."""

from __future__ import annotations

import numpy as np
import pytest

from grekko_research.data.bars import RANGE_BLOCK, Bars
from grekko_research.engine import EngineConfig, Fees, Signals, Stops, backtest

HOUR = 3_600_000


def _bars(open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray) -> Bars:
    n = open_.shape[0]
    filled = np.isnan(close)
    return Bars(
        index=HOUR * np.arange(n),
        symbols=tuple(f"A{j}/USDT" for j in range(open_.shape[1])),
        timeframe="1h",
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=np.ones_like(close),
        filled=filled,
    )


def test_block_range_is_the_lowest_and_highest_price_of_each_block() -> None:
    rng = np.random.default_rng(7)
    n, k = 3 * RANGE_BLOCK + 5, 2  # a short last block
    close = 100 + rng.normal(0, 1, (n, k)).cumsum(axis=0)
    open_ = close + rng.normal(0, 0.5, (n, k))
    high = np.maximum(open_, close) + rng.random((n, k))
    low = np.minimum(open_, close) - rng.random((n, k))
    open_[3, 1] = low[3, 1] - 2.0  # an open below the low still counts as a price reached
    for a in (open_, high, low, close):
        a[RANGE_BLOCK + 2, 0] = np.nan  # a bar that did not trade
    lo, hi = _bars(open_, high, low, close).block_range
    assert lo.shape == hi.shape == (4, k)
    for b in range(4):
        rows = slice(b * RANGE_BLOCK, min((b + 1) * RANGE_BLOCK, n))
        for j in range(k):
            if b == 1 and j == 0:  # never looks quiet: the scan reads it bar by bar
                assert (lo[b, j], hi[b, j]) == (-np.inf, np.inf)
                continue
            assert lo[b, j] == min(open_[rows, j].min(), low[rows, j].min())
            assert hi[b, j] == max(open_[rows, j].max(), high[rows, j].max())
    with pytest.raises(ValueError, match="read-only"):
        lo[0, 0] = 0.0


def test_ohlc_rows_hold_each_bars_four_prices_side_by_side() -> None:
    rng = np.random.default_rng(11)
    n, k = 2 * RANGE_BLOCK + 3, 3
    close = 100 + rng.normal(0, 1, (n, k)).cumsum(axis=0)
    open_, high, low = close + 0.1, close + 1.0, close - 1.0
    rows = _bars(open_, high, low, close).ohlc_rows
    assert rows.shape == (k, n, 4)
    assert rows[0].flags.c_contiguous  # one asset's bars one after another
    for j, field in enumerate((open_, high, low, close)):
        np.testing.assert_array_equal(rows[:, :, j], field.T)
    with pytest.raises(ValueError, match="read-only"):
        rows[0, 0, 0] = 0.0


@pytest.mark.parametrize("execution", ["next_open", "close"])
@pytest.mark.parametrize("hit", [9, 15, 16, 17, 23, 24, 40, 61])
def test_a_long_hold_stops_on_the_same_bar_as_the_general_kernel(hit: int, execution: str) -> None:
    """One entry and no exit: the stop must fire on bar ``hit``, wherever it falls in a block."""
    n = 64 + 3  # a short last block
    close = np.full((n, 1), 100.0)
    open_, high, low = close.copy(), close + 0.5, close - 0.5
    low[hit, 0] = 90.0  # the only bar that reaches a 5 % stop-loss
    high[hit + 2, 0] = 120.0  # and a later one a 10 % take-profit: must not be taken first
    entries = np.zeros((n, 1), dtype=bool)
    entries[2, 0] = True
    config = EngineConfig(
        execution=execution,
        fees=Fees(taker=0.001),
        stops=Stops(stop_loss=0.05, take_profit=0.10),
    )
    bars = _bars(open_, high, low, close)
    signals = Signals(entries, np.zeros_like(entries))
    lean = backtest(bars, signals, config, kernel="lean")
    general = backtest(bars, signals, config, kernel="general")
    np.testing.assert_array_equal(lean.order_records, general.order_records)
    assert int(lean.order_records[-1, 0]) == hit  # column 0: the bar
