"""The simulator's market data: kline, trade and diff-depth streams, and the depth snapshot.

Nothing here publishes what the market clock has not reached. A kline *window* (the
subscribed interval, a multiple of the candles' own interval, aligned on the Unix epoch as
Binance's are) is published as *forming* (``"x": false``) when one of its candles becomes
current — open, high, low and volume of its closed candles plus the current candle's open as
close — and as *final* (``"x": true``, the full aggregate) once, when the clock passes its end.
Public trades replay real prints (``trades`` frames) whose time the clock has passed, besides
the account's own fills. The order book is synthetic: 20 levels a side, one basis point apart,
around the last replayed print of the current candle (else its open), with seeded quantities,
plus the account's own resting limit orders; every change is one ``depthUpdate`` whose ``U``
follows the previous ``u``, and ``GET /api/v3/depth`` answers the same book with
``lastUpdateId`` — the sequence ccxt's local order book algorithm checks.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_FLOOR, Decimal
from typing import Any, Literal

import numpy as np
import pandas as pd

from live.sim._book import STEP, Book, Fill, Symbol, fmt
from live.sim._candles import dec

__all__ = ["MarketFeed", "StreamError", "Topic", "interval_ms"]

_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DEPTH_SUFFIXES = ("depth", "depth@100ms", "depth@1000ms")
_BP = Decimal("0.0001")


class StreamError(ValueError):
    """A stream name the simulator does not serve (answered as ``{"code": 2, ...}``)."""


def interval_ms(text: str) -> int | None:
    """Milliseconds of a Binance kline interval such as ``"4h"``; ``None`` if not one."""
    number, unit = text[:-1], text[-1:]
    if not number.isdigit() or unit not in _UNIT_MS or int(number) <= 0:
        return None
    return int(number) * _UNIT_MS[unit]


@dataclass(frozen=True)
class Topic:
    """What a stream name asks for; ``key`` is the canonical name events are published under."""

    symbol: str  # Binance id, e.g. BTCUSDT
    kind: Literal["kline", "trade", "aggTrade", "depth"]
    interval: str = ""
    interval_ms: int = 0

    @property
    def key(self) -> str:
        base = self.symbol.lower()
        if self.kind == "kline":
            return f"{base}@kline_{self.interval}"
        return f"{base}@{self.kind}"


def topic_key(symbol_id: str, kind: str) -> str:
    """The canonical key of a symbol's ``trade``, ``aggTrade`` or ``depth`` stream."""
    return f"{symbol_id.lower()}@{kind}"


@dataclass
class _Tape:
    """Replayed public trades of one symbol; ``next`` is the first not yet published."""

    time: np.ndarray  # int64 ms
    trade_id: np.ndarray  # int64
    price: np.ndarray  # float64
    qty: np.ndarray  # float64
    buyer_maker: np.ndarray  # bool
    next: int = 0


@dataclass
class _Depth:
    bids: dict[Decimal, Decimal] = field(default_factory=dict)
    asks: dict[Decimal, Decimal] = field(default_factory=dict)
    update_id: int = 10_000_000


class MarketFeed:
    """Market-data events of one :class:`Book`, computed as its clock and orders move.

    Parameters
    ----------
    book
        The simulated venue (candles, clock, the account's orders).
    trades
        Binance symbol id → public trades with columns ``timestamp`` (ms), ``trade_id``,
        ``price``, ``qty``, ``is_buyer_maker``; replayed on ``<symbol>@trade`` / ``@aggTrade``.
    levels, level_notional
        Synthetic book depth: levels a side and the quote value of the first level.
    """

    def __init__(
        self,
        book: Book,
        trades: Mapping[str, pd.DataFrame] | None = None,
        *,
        levels: int = 20,
        level_notional: float = 5_000.0,
    ) -> None:
        self.book = book
        self._levels, self._notional = levels, Decimal(repr(level_notional))
        self._tapes: dict[str, _Tape] = {}
        self._last: dict[str, tuple[int, Decimal]] = {}  # symbol → (time, price) of last print
        for sid, frame in (trades or {}).items():
            book.symbol(sid)  # unknown symbols fail here, not in the middle of a replay
            ordered = frame.sort_values(["timestamp", "trade_id"], kind="stable")
            tape = _Tape(
                ordered["timestamp"].to_numpy(np.int64),
                ordered["trade_id"].to_numpy(np.int64),
                ordered["price"].to_numpy(np.float64),
                ordered["qty"].to_numpy(np.float64),
                ordered["is_buyer_maker"].to_numpy(bool),
            )
            tape.next = int(np.searchsorted(tape.time, book.now, "right"))
            self._tapes[sid] = tape
        self._depth = {sid: _Depth() for sid in book.symbols}
        for sid in book.symbols:
            self.refresh_depth(sid)

    # -- stream names -----------------------------------------------------------------------

    def parse(self, name: str) -> Topic:
        """The topic of a stream name such as ``btcusdt@kline_1h``; :class:`StreamError` if unknown."""
        base, _, rest = name.partition("@")
        sid = base.upper()
        if base != base.lower() or sid not in self.book.symbols:
            raise StreamError(f"Invalid request: unknown stream {name!r}")
        if rest in ("trade", "aggTrade"):
            return Topic(sid, "trade" if rest == "trade" else "aggTrade")
        if rest in _DEPTH_SUFFIXES:
            return Topic(sid, "depth")
        if rest.startswith("kline_"):
            interval = rest[len("kline_") :]
            ms, own = interval_ms(interval), self.book.symbols[sid].interval_ms
            if ms is None or ms % own:
                raise StreamError(
                    f"Invalid request: {name!r}: the simulator replays {sid} candles of "
                    f"{own // 1000} s; subscribe to a multiple of that interval"
                )
            return Topic(sid, "kline", interval, ms)
        raise StreamError(f"Invalid request: unknown stream {name!r}")

    # -- events ------------------------------------------------------------------------------

    def on_subscribe(self, topic: Topic) -> list[dict[str, Any]]:
        """What a new subscriber gets at once: the forming kline, if any (as Binance does)."""
        if topic.kind != "kline":
            return []
        sym = self.book.symbols[topic.symbol]
        now = self.book.now
        if sym.index_at(now) < 0:
            return []
        start = now // topic.interval_ms * topic.interval_ms
        kline = self._kline(sym, topic, start, now, final=False)
        return [] if kline is None else [kline]

    def on_clock(
        self, before: int, now: int, wanted: Iterable[str]
    ) -> list[tuple[str, dict[str, Any]]]:
        """Events the move from ``before`` to ``now`` caused, as ``(topic key, payload)``.

        ``wanted`` holds the subscribed topic keys (klines and trades are built only for those);
        the synthetic book is refreshed whatever is subscribed, so update ids stay in sequence.
        """
        wanted = set(wanted)
        out: list[tuple[str, dict[str, Any]]] = []
        for key in sorted(wanted):
            topic = self.parse(key)
            if topic.kind == "kline":
                out.extend((key, k) for k in self._klines(topic, before, now))
        for sid, tape in self._tapes.items():
            out.extend(self._replay(sid, tape, now, wanted))
        for sid in self.book.symbols:
            if update := self.refresh_depth(sid):
                out.append((topic_key(sid, "depth"), update))
        return out

    def own_trade(self, fill: Fill) -> list[tuple[str, dict[str, Any]]]:
        """The account's fill as a public print (``m``: the buyer was the maker)."""
        buyer_maker = (fill.side == "BUY") == fill.is_maker
        return self._prints(
            fill.symbol, fill.trade_id, fmt(fill.price), fmt(fill.qty), fill.time, buyer_maker
        )

    def _prints(
        self, sid: str, trade_id: int, price: str, qty: str, t: int, buyer_maker: bool
    ) -> list[tuple[str, dict[str, Any]]]:
        now = self.book.now
        trade = {
            "e": "trade",
            "E": now,
            "s": sid,
            "t": trade_id,
            "p": price,
            "q": qty,
            "T": t,
            "m": buyer_maker,
            "M": True,
        }
        agg = {
            "e": "aggTrade",
            "E": now,
            "s": sid,
            "a": trade_id,
            "p": price,
            "q": qty,
            "f": trade_id,
            "l": trade_id,
            "T": t,
            "m": buyer_maker,
            "M": True,
        }
        return [(topic_key(sid, "trade"), trade), (topic_key(sid, "aggTrade"), agg)]

    def _replay(
        self, sid: str, tape: _Tape, now: int, wanted: set[str]
    ) -> list[tuple[str, dict[str, Any]]]:
        stop = int(np.searchsorted(tape.time, now, "right"))
        if stop <= tape.next:
            return []
        start, tape.next = tape.next, stop
        self._last[sid] = (int(tape.time[stop - 1]), dec(tape.price[stop - 1]))
        keys = {topic_key(sid, "trade"), topic_key(sid, "aggTrade")}
        if not keys & wanted:
            return []
        out = []
        for i in range(start, stop):
            out.extend(
                self._prints(
                    sid,
                    int(tape.trade_id[i]),
                    f"{tape.price[i]:.8f}",
                    f"{tape.qty[i]:.8f}",
                    int(tape.time[i]),
                    bool(tape.buyer_maker[i]),
                )
            )
        return [(k, p) for k, p in out if k in wanted]

    # -- klines ------------------------------------------------------------------------------

    def _klines(self, topic: Topic, before: int, now: int) -> list[dict[str, Any]]:
        sym, iv = self.book.symbols[topic.symbol], topic.interval_ms
        window_ends = (sym.opens // iv + 1) * iv  # non-decreasing, like the opens
        lo = int(np.searchsorted(window_ends, before, "right"))
        hi = int(np.searchsorted(window_ends, now, "right"))
        out = []
        for start in sorted({int(e) - iv for e in window_ends[lo:hi]}):
            if (kline := self._kline(sym, topic, start, now, final=True)) is not None:
                out.append(kline)
        current = sym.index_at(now)
        if current >= 0 and sym.opens[current] > before:  # a candle became current: forming
            start = now // iv * iv
            if (kline := self._kline(sym, topic, start, now, final=False)) is not None:
                out.append(kline)
        return out

    def _kline(
        self, sym: Symbol, topic: Topic, start: int, now: int, *, final: bool
    ) -> dict[str, Any] | None:
        """The window opening at ``start`` as the clock at ``now`` knows it."""
        a = int(np.searchsorted(sym.opens, start, "left"))
        b = int(np.searchsorted(sym.opens, start + topic.interval_ms, "left"))
        closed = [i for i in range(a, b) if int(sym.opens[i]) + sym.interval_ms <= now]
        current = sym.index_at(now)
        ohlc = sym.ohlc
        highs = [float(ohlc[i, 1]) for i in closed]
        lows = [float(ohlc[i, 2]) for i in closed]
        if final:
            if not closed or len(closed) < b - a:
                return None  # never publish a window before all its candles closed
            close = float(ohlc[closed[-1], 3])
        else:
            if not a <= current < b:
                return None
            close = float(ohlc[current, 0])  # the current candle is known by its open only
            highs.append(close)
            lows.append(close)
        volume = sum(float(sym.volume[i]) for i in closed)
        return {
            "e": "kline",
            "E": now,
            "s": sym.id,
            "k": {
                "t": start,
                "T": start + topic.interval_ms - 1,
                "s": sym.id,
                "i": topic.interval,
                "f": -1,
                "L": -1,
                "o": f"{float(ohlc[a, 0]):.8f}",
                "c": f"{close:.8f}",
                "h": f"{max(highs):.8f}",
                "l": f"{min(lows):.8f}",
                "v": f"{volume:.8f}",
                "n": 0,
                "x": final,
                "q": "0",
                "V": "0",
                "Q": "0",
                "B": "0",
            },
        }

    # -- order book --------------------------------------------------------------------------

    def last_price(self, symbol_id: str) -> Decimal | None:
        """The last price of the current bar: its last replayed print, else its open (what the
        book and the tickers centre on); ``None`` when no bar is current."""
        sym = self.book.symbols[symbol_id]
        i = sym.index_at(self.book.now)
        if i < 0:
            return None
        last = self._last.get(sym.id)
        if last is not None and last[0] >= sym.opens[i]:
            return last[1]
        return dec(sym.ohlc[i, 0])

    def best_levels(self, symbol_id: str) -> tuple[list[str] | None, list[str] | None]:
        """The best bid and ask ``[price, qty]`` as published (``None`` for an empty side)."""
        depth = self._depth[symbol_id]
        bids, asks = _sides(depth.bids, depth.asks)
        return (bids[0] if bids else None), (asks[0] if asks else None)

    def depth_snapshot(self, symbol_id: str, limit: int = 100) -> dict[str, Any]:
        """``GET /api/v3/depth``: the book as of ``lastUpdateId``, best levels first."""
        depth = self._depth[self.book.symbol(symbol_id).id]
        bids, asks = _sides(depth.bids, depth.asks)
        return {"lastUpdateId": depth.update_id, "bids": bids[:limit], "asks": asks[:limit]}

    def refresh_depth(self, symbol_id: str) -> dict[str, Any] | None:
        """Rebuild one symbol's book; return its ``depthUpdate`` event, or ``None`` if unchanged."""
        depth = self._depth[symbol_id]
        bids, asks = self._target(self.book.symbols[symbol_id])
        changed_bids = _changes(depth.bids, bids)
        changed_asks = _changes(depth.asks, asks)
        count = len(changed_bids) + len(changed_asks)
        if not count:
            return None
        first = depth.update_id + 1
        depth.bids, depth.asks, depth.update_id = bids, asks, depth.update_id + count
        b, a = _sides(changed_bids, changed_asks)
        return {
            "e": "depthUpdate",
            "E": self.book.now,
            "s": symbol_id,
            "U": first,
            "u": depth.update_id,
            "b": b,
            "a": a,
        }

    def _target(self, sym: Symbol) -> tuple[dict[Decimal, Decimal], dict[Decimal, Decimal]]:
        bids: dict[Decimal, Decimal] = {}
        asks: dict[Decimal, Decimal] = {}
        mid = self.last_price(sym.id)
        if mid is not None:
            i = sym.index_at(self.book.now)
            step = max(1, int(mid * _BP / sym.tick)) * sym.tick  # ~1 bp, on the tick grid
            best_bid = (mid / step).to_integral_value(ROUND_FLOOR) * step
            if best_bid >= mid:
                best_bid -= step
            rng = random.Random(f"{sym.id}:{i}")
            base_qty = self._notional / mid
            for k in range(self._levels):
                for side, price in ((bids, best_bid - k * step), (asks, best_bid + (k + 1) * step)):
                    scale = Decimal(1 + k / 4) * Decimal(repr(0.5 + rng.random()))
                    qty = max(STEP, (base_qty * scale).quantize(STEP, ROUND_DOWN))
                    if price > 0:
                        side[price] = qty
        for order in self.book.orders:  # the account's resting limit orders are in the book
            if order.symbol == sym.id and order.is_open and order.type == "LIMIT":
                side = bids if order.side == "BUY" else asks
                side[order.price] = side.get(order.price, Decimal(0)) + order.remaining
        return bids, asks


def _changes(old: dict[Decimal, Decimal], new: dict[Decimal, Decimal]) -> dict[Decimal, Decimal]:
    """Levels whose quantity changed; a removed level has quantity 0."""
    out = {p: q for p, q in new.items() if old.get(p) != q}
    out.update({p: Decimal(0) for p in old if p not in new})
    return out


def _sides(
    bids: dict[Decimal, Decimal], asks: dict[Decimal, Decimal]
) -> tuple[list[list[str]], list[list[str]]]:
    b = [[fmt(p), fmt(q)] for p, q in sorted(bids.items(), reverse=True)]
    a = [[fmt(p), fmt(q)] for p, q in sorted(asks.items())]
    return b, a
