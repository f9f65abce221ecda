"""The book's top at each decision: the *arrival* mid that execution quality measures against.

Where the venue reads its order book (``capabilities.order_book``), the runner reads every
symbol's best bid and ask while it decides (the reads run beside the strategy's planning, so
they cost the decision only what they take beyond it) and records them in the ``decision``
event as ``quotes``: per symbol ``[bid, ask]``, or ``null`` when that side was empty, the read
failed or it did not answer within ``RunnerSpec.quote_timeout_ms``. A quote never holds an
order back: what is missing is recorded (``quote_errors``) and the quality table falls back to
the decision's reference price.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from typing import Any

from live.venues.base import BookVenue

__all__ = ["DecisionQuotes", "read_quotes"]

DecisionQuotes = tuple[list[list[float] | None], dict[str, str]]
"""Per symbol ``[bid, ask]`` (``None``: no quote), and why a symbol has none."""


async def _top(venue: BookVenue, symbol: str) -> list[float] | None:
    book = await venue.order_book(symbol, 5)
    bid, ask = book.best_bid, book.best_ask
    if bid is None or ask is None:
        return None
    b, a = float(bid), float(ask)
    if not (math.isfinite(b) and math.isfinite(a) and 0 < b <= a):
        raise ValueError(f"a crossed or empty book: bid {bid}, ask {ask}")
    return [b, a]


async def read_quotes(venue: Any, symbols: Sequence[str], timeout_ms: int) -> DecisionQuotes:
    """Read each symbol's best bid and ask at once, within ``timeout_ms`` in all."""
    if not symbols:
        return [], {}
    tasks = [asyncio.ensure_future(_top(venue, s)) for s in symbols]
    done, pending = await asyncio.wait(tasks, timeout=timeout_ms / 1000)
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    quotes: list[list[float] | None] = []
    errors: dict[str, str] = {}
    for symbol, t in zip(symbols, tasks, strict=True):
        if t not in done:
            quotes.append(None)
            errors[symbol] = f"no answer within {timeout_ms} ms"
        elif (e := t.exception()) is not None:
            quotes.append(None)
            errors[symbol] = f"{type(e).__name__}: {e}"[:200]
        else:
            top = t.result()
            quotes.append(top)
            if top is None:
                errors[symbol] = "an empty side of the book"
    return quotes, errors
