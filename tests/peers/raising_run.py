"""``grekko-live`` with a strategy whose ``signals()`` raises from its N-th call on.

Run: ``python tests/peers/raising_run.py run --venue binance ...`` with ``GREKKO_TEST_RAISE_AT=N``
(and ``GREKKO_TEST_RAISE_STRATEGY``, default ``sma_cross``): the real command line in a real
process, the strategy's own code broken as a user's bug would break it — a ``ZeroDivisionError``
a few frames deep in an "indicator" — and it stays broken (every later call raises too).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def _broken_indicator(window: int) -> float:
    return 1.0 / (window - window)  # the user's bug


def _indicator(bars: Any) -> float:
    return _broken_indicator(len(bars.index))


def main() -> None:
    from grekko_research.strategy import get_strategy
    from live.cli import main as grekko_live

    at = int(os.environ["GREKKO_TEST_RAISE_AT"])
    cls = type(get_strategy(os.environ.get("GREKKO_TEST_RAISE_STRATEGY", "sma_cross")))
    original = cls.signals
    calls = {"n": 0}

    def signals(self: Any, bars: Any, params: Any) -> Any:
        calls["n"] += 1
        if calls["n"] >= at:
            _indicator(bars)
        return original(self, bars, params)

    cls.signals = signals  # type: ignore[method-assign]
    sys.argv[0] = "grekko-live"
    grekko_live()


if __name__ == "__main__":
    main()
