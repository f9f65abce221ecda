"""The book's top read at a decision (live.runner._quotes): what answers is recorded, what
fails or is late is named, and nothing waits past the timeout."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

from live.runner._quotes import read_quotes
from live.venues.base import OrderBook


class Books:
    """Order books by symbol: a book, an error to raise, or a delay that outlasts the read."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, int]] = []

    async def order_book(self, symbol: str, depth: int = 20) -> OrderBook:
        self.asked.append((symbol, depth))
        if symbol == "SLOW/USDT":
            await asyncio.sleep(5)
        if symbol == "DOWN/USDT":
            raise ConnectionError("connection reset")
        level = {"BTC/USDT": ("99.9", "100.3"), "CROSS/USDT": ("101", "100")}.get(symbol)
        if level is None:  # one side empty
            return OrderBook(symbol, ((Decimal("5"), Decimal("1")),), (), 0)
        bid, ask = (Decimal(v) for v in level)
        return OrderBook(symbol, ((bid, Decimal("1")),), ((ask, Decimal("2")),), 0)


def test_each_symbol_gets_its_top_or_the_reason_it_has_none() -> None:
    venue = Books()
    symbols = ["BTC/USDT", "SLOW/USDT", "DOWN/USDT", "CROSS/USDT", "HALF/USDT"]
    t0 = time.perf_counter()
    quotes, errors = asyncio.run(read_quotes(venue, symbols, timeout_ms=200))
    elapsed = time.perf_counter() - t0
    assert quotes == [[99.9, 100.3], None, None, None, None]
    assert errors == {
        "SLOW/USDT": "no answer within 200 ms",
        "DOWN/USDT": "ConnectionError: connection reset",
        "CROSS/USDT": "ValueError: a crossed or empty book: bid 101, ask 100",
        "HALF/USDT": "an empty side of the book",
    }
    # The reads ran at once (one timeout in all, not one a symbol), five levels a side.
    assert elapsed < 2
    assert sorted(venue.asked) == sorted((s, 5) for s in symbols)


def test_no_symbol_no_read() -> None:
    venue = Books()
    assert asyncio.run(read_quotes(venue, [], timeout_ms=200)) == ([], {})
    assert venue.asked == []
