"""Candles as the simulated books hold them, whatever the venue.

A frame (``timestamp`` = bar open in ms, ``open, high, low, close``, optional ``volume``)
becomes ``opens`` (int64), ``ohlcv`` (float64, shape (n, 5), volume 0 where the frame has
none) and the bar interval (the median step between opens). The market clock sits on bar
opens: the bar *current* at a time is the last one opening at or before it, and there is
none before the first open or from the last bar's close on. Prices leave the float arrays
through :func:`dec` (the shortest decimal that reads back as the same float).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pandas as pd

__all__ = ["bar_at", "candle_arrays", "dec"]


def dec(x: float) -> Decimal:
    """``x`` as a decimal, written as Python prints the float (``30989.5``, not its binary)."""
    return Decimal(repr(float(x)))


def candle_arrays(name: str, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, int]:
    """``(opens, ohlcv, interval_ms)`` of the candle ``frame`` listed as ``name``."""
    opens = frame["timestamp"].to_numpy(np.int64)
    if len(opens) < 2 or np.any(np.diff(opens) <= 0):
        raise ValueError(f"{name}: need two or more strictly increasing timestamps")
    volume = frame["volume"] if "volume" in frame else pd.Series(0.0, index=frame.index)
    columns = [frame["open"], frame["high"], frame["low"], frame["close"], volume]
    ohlcv = np.column_stack([c.to_numpy(np.float64) for c in columns])
    return opens, ohlcv, int(np.median(np.diff(opens)))


def bar_at(opens: np.ndarray, interval_ms: int, ts_ms: int) -> int:
    """Index of the bar current at ``ts_ms``; -1 before the first open or after the end."""
    if ts_ms >= int(opens[-1]) + interval_ms:
        return -1
    return int(np.searchsorted(opens, ts_ms, "right")) - 1
