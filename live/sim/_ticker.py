"""The simulator's tickers: ``GET /api/v3/ticker/24hr``, ``ticker/price`` and
``ticker/bookTicker``, as of the market clock.

The last price is the current bar's last replayed print, else its open (what a market order
fills at, and what the synthetic book centres on); bid and ask are the book's best levels. The
24-hour statistics cover the candles that opened in the 24 hours before the clock: the closed
ones in full, the current one by its open and last price only (nothing the clock has not
reached is shown). Without a ``symbol`` (or ``symbols``, a JSON list) every listed symbol is
answered, as Binance does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import numpy as np

from live.sim._book import ApiError, Book, fmt
from live.sim._candles import dec
from live.sim._market import MarketFeed

__all__ = ["Tickers"]

_DAY_MS = 86_400_000


class Tickers:
    """Ticker answers of one :class:`Book` and its :class:`MarketFeed`."""

    def __init__(self, book: Book, feed: MarketFeed) -> None:
        self.book, self.feed = book, feed

    def day(self, p: Mapping[str, str]) -> dict[str, Any] | list[dict[str, Any]]:
        """``GET /api/v3/ticker/24hr``."""
        return self._each(p, self._day)

    def price(self, p: Mapping[str, str]) -> dict[str, Any] | list[dict[str, Any]]:
        """``GET /api/v3/ticker/price``."""
        return self._each(p, lambda sid: {"symbol": sid, "price": fmt(self._last(sid))})

    def book_ticker(self, p: Mapping[str, str]) -> dict[str, Any] | list[dict[str, Any]]:
        """``GET /api/v3/ticker/bookTicker``."""
        return self._each(p, self._book_ticker)

    # -- one symbol ------------------------------------------------------------------------

    def _each(self, p: Mapping[str, str], one: Any) -> dict[str, Any] | list[dict[str, Any]]:
        if p.get("symbol"):
            return dict(one(self.book.symbol(p["symbol"]).id))
        if p.get("symbols"):
            try:
                wanted = json.loads(p["symbols"])
            except ValueError:
                wanted = None
            if not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted):
                raise ApiError(-1100, "Illegal characters found in parameter 'symbols'.")
            return [one(self.book.symbol(s).id) for s in wanted]
        return [one(sid) for sid in sorted(self.book.symbols)]

    def _last(self, sid: str) -> Decimal:
        last = self.feed.last_price(sid)
        if last is None:
            raise ApiError(-1013, f"No market data for {sid} at {self.book.now}.")
        return last

    def _book_ticker(self, sid: str) -> dict[str, Any]:
        bid, ask = self.feed.best_levels(sid)
        zero = ["0.00000000", "0.00000000"]
        bid, ask = bid or zero, ask or zero
        return {"symbol": sid, "bidPrice": bid[0], "bidQty": bid[1], "askPrice": ask[0],
                "askQty": ask[1]}  # fmt: skip

    def _day(self, sid: str) -> dict[str, Any]:
        sym, now = self.book.symbols[sid], self.book.now
        last = self._last(sid)
        current = sym.index_at(now)
        first = int(np.searchsorted(sym.opens, now - _DAY_MS, "left"))
        closed = sym.ohlcv[first:current]  # the day's closed candles
        open_ = dec(sym.ohlcv[first, 0]) if first <= current else last
        prices = [float(last), float(sym.ohlcv[current, 0])]
        high = dec(max([*closed[:, 1].tolist(), *prices]))
        low = dec(min([*closed[:, 2].tolist(), *prices]))
        volume = float(closed[:, 4].sum())
        quote = float((closed[:, 4] * closed[:, 3]).sum())
        change = last - open_
        bid, ask = self.feed.best_levels(sid)
        return {
            "symbol": sid,
            "priceChange": fmt(change),
            "priceChangePercent": f"{change / open_ * 100:.3f}" if open_ else "0.000",
            "weightedAvgPrice": fmt(dec(quote / volume)) if volume else fmt(last),
            "prevClosePrice": fmt(dec(sym.ohlcv[current - 1, 3]) if current > 0 else open_),
            "lastPrice": fmt(last),
            "lastQty": "0.00000000",
            "bidPrice": bid[0] if bid else "0.00000000",
            "bidQty": bid[1] if bid else "0.00000000",
            "askPrice": ask[0] if ask else "0.00000000",
            "askQty": ask[1] if ask else "0.00000000",
            "openPrice": fmt(open_),
            "highPrice": fmt(high),
            "lowPrice": fmt(low),
            "volume": f"{volume:.8f}",
            "quoteVolume": f"{quote:.8f}",
            "openTime": max(int(sym.opens[0]), now - _DAY_MS),
            "closeTime": now,
            "firstId": -1,
            "lastId": -1,
            "count": 0,
        }
