"""Fills of a backtest and of a live replay, in one comparable shape (live-parity tests).

The readers are the parity gate's own (``live/parity.py``): the tests compare exactly what
``grekko-live parity`` compares.
"""

from __future__ import annotations

from live.parity import Fill, backtest_fills, live_fills

__all__ = ["Fill", "backtest_fills", "live_fills"]
