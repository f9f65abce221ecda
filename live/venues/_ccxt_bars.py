"""The closed-bar stream behind :meth:`CcxtVenue.bars <live.venues.ccxt_venue.CcxtVenue.bars>`.

It uses its adapter only through :class:`BarHost`: the few public members listed there,
never the adapter's private state (a test scans this module for that).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import Any, Protocol

import ccxt

from grekko_research.calendar import bar_ms
from live.venues._ccxt_util import HealthLog, brief, dec
from live.venues.base import Bar, VenueCapabilities
from live.venues.errors import RetryLater

__all__ = ["FATAL_STREAM", "BarHost", "BarStream", "bar_of", "rest_closed_bars", "rest_history"]

log = logging.getLogger("live.venues.ccxt_venue")

FATAL_STREAM = (ccxt.AuthenticationError, ccxt.PermissionDenied, ccxt.AccountSuspended)
"""Stream errors that reconnecting cannot cure."""


class BarHost(Protocol):
    """What :class:`BarStream` uses of its adapter (:class:`~live.venues.ccxt_venue.CcxtVenue`).

    ``capabilities.stream_bars`` says whether to watch klines (else REST is polled);
    ``client`` is the ccxt client (``watch_ohlcv``); ``health_log`` notes each kline
    subscription lost and back; ``calling`` translates an error into the venue error tree and
    dates it; ``closed_bars`` reads closed candles over REST (``ohlcv_page_limit`` a page);
    ``note_close`` remembers the newest close (the adapter's reference price of last resort).
    """

    name: str
    client: Any
    poll_interval_s: float
    reconnect_delays_s: tuple[float, ...]
    health_log: HealthLog
    capabilities: VenueCapabilities

    @property
    def ohlcv_page_limit(self) -> int: ...

    async def start(self) -> None: ...

    def now_ms(self) -> int: ...

    def calling(self, operation: str) -> AbstractContextManager[None]: ...

    async def closed_bars(
        self, symbol: str, timeframe: str, since_ms: int | None, *, limit: int | None = None
    ) -> list[Bar]: ...

    def note_close(self, symbol: str, close: Decimal) -> None: ...


class BarStream:
    """The state of one :meth:`CcxtVenue.bars` iteration."""

    def __init__(
        self, venue: BarHost, symbols: list[str], timeframe: str, since_ms: int | None
    ) -> None:
        self.venue, self.symbols, self.timeframe, self.since_ms = (
            venue,
            symbols,
            timeframe,
            since_ms,
        )
        self.tf = bar_ms(timeframe)
        self.last: dict[str, int | None] = dict.fromkeys(symbols)  # newest closed bar seen
        self.forming: dict[str, list[float]] = {}  # newest candle from the stream, not closed
        self.heap: list[tuple[int, int, Bar]] = []
        self.emitted_ts: int | None = None
        self.ws = venue.capabilities.stream_bars  # declared (a NotSupported turns it off)
        self.retry_at: dict[str, float] = {}
        self.next_poll: dict[str, float] = {}
        self.failures: dict[str, int] = {}
        # each symbol's kline subscription, as the venue's health log names it
        self.streams = {s: venue.health_log.stream(f"klines {s} {timeframe}") for s in symbols}

    def _push(self, symbol: str, bars: Sequence[Bar]) -> None:
        for bar in bars:
            last = self.last[symbol]
            if last is not None and bar.ts_ms <= last:
                continue
            self.last[symbol] = bar.ts_ms
            self.venue.note_close(symbol, Decimal(str(bar.close)))
            heapq.heappush(self.heap, (bar.ts_ms, self.symbols.index(symbol), bar))

    def _ready(self) -> Iterator[Bar]:
        marks = list(self.last.values())
        if any(t is None for t in marks):
            return
        watermark = min(t for t in marks if t is not None)
        while self.heap and self.heap[0][0] <= watermark:
            ts, _, bar = heapq.heappop(self.heap)
            if self.emitted_ts is not None and ts < self.emitted_ts:
                log.warning(
                    "%s: bar %s %d came after %d; dropped",
                    self.venue.name,
                    bar.symbol,
                    ts,
                    self.emitted_ts,
                )
                continue
            self.emitted_ts = ts
            yield bar

    async def _rest(self, symbol: str) -> None:
        last = self.last[symbol]
        since = self.since_ms if last is None else last + self.tf
        bars = await self.venue.closed_bars(symbol, self.timeframe, since)
        self._push(symbol, bars)

    async def _start(self) -> None:
        for symbol in self.symbols:
            if self.since_ms is None:  # from now on: the newest closed bar marks the start
                latest = await self.venue.closed_bars(symbol, self.timeframe, None, limit=2)
                self.last[symbol] = latest[-1].ts_ms if latest else self.venue.now_ms() - self.tf
            else:
                await self._rest(symbol)

    def _on_candles(self, symbol: str, candles: Sequence[Sequence[Any]]) -> bool:
        """Take stream candles; return ``True`` when a gap calls for a REST backfill."""
        gap = False
        for candle in sorted(candles, key=lambda c: c[0]):
            held = self.forming.get(symbol)
            if held is not None and candle[0] > held[0]:  # a later candle closes the held one
                last = self.last[symbol]
                if last is None or held[0] == last + self.tf:
                    self._push(symbol, [bar_of(symbol, held)])
                elif held[0] > last:
                    gap = True
            if held is None or candle[0] >= held[0]:
                self.forming[symbol] = list(candle)
        last = self.last[symbol]
        held = self.forming.get(symbol)
        if held is not None and last is not None and held[0] >= last + 2 * self.tf:
            gap = True
        return gap

    def _due(self, symbol: str) -> bool:
        """Whether to read ``symbol`` over REST now: the clock says a bar after the last one
        has closed (or none was seen yet), and the last poll is ``poll_interval_s`` old."""
        if self.next_poll.get(symbol, 0.0) > time.monotonic():
            return False
        last = self.last[symbol]
        due = last is None or self.venue.now_ms() >= last + 2 * self.tf
        if due:
            self.next_poll[symbol] = time.monotonic() + self.venue.poll_interval_s
        return due

    async def run(self) -> AsyncIterator[Bar]:
        venue = self.venue
        await venue.start()
        await self._start()
        for bar in self._ready():
            yield bar
        watchers: dict[str, asyncio.Task[Any]] = {}
        try:
            while True:
                if self.ws:
                    need_rest = await self._watch(watchers)
                else:
                    need_rest = set()
                    await asyncio.sleep(venue.poll_interval_s)
                need_rest |= {s for s in self.symbols if self._due(s)}
                await self._backfill(need_rest)
                for bar in self._ready():
                    yield bar
        except (GeneratorExit, asyncio.CancelledError):
            for name in self.streams.values():  # not read any more: neither up nor lost
                venue.health_log.ended(name)
            raise
        finally:
            for task in watchers.values():
                task.cancel()
            await asyncio.gather(*watchers.values(), return_exceptions=True)

    async def _watch(self, watchers: dict[str, asyncio.Task[Any]]) -> set[str]:
        """One round of the kline streams: (re)subscribe the symbols due, wait up to a poll
        interval for one to answer, take what came; return the symbols to read over REST.
        ``watchers`` (the pending subscriptions, by symbol) is updated in place."""
        venue = self.venue
        now = time.monotonic()
        for symbol in self.symbols:
            if symbol not in watchers and self.retry_at.get(symbol, 0) <= now:
                watchers[symbol] = asyncio.create_task(
                    venue.client.watch_ohlcv(symbol, self.timeframe)
                )
        if watchers:
            done, _ = await asyncio.wait(
                watchers.values(),
                timeout=venue.poll_interval_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        else:
            done = set()
            await asyncio.sleep(venue.poll_interval_s)
        need_rest: set[str] = set()
        for symbol, task in list(watchers.items()):
            if task not in done:
                continue
            del watchers[symbol]
            need_rest |= self._on_watch_result(symbol, task)
        return need_rest

    async def _backfill(self, need_rest: set[str]) -> None:
        """Read the symbols in ``need_rest`` over REST, in the stream's symbol order; a
        ``RetryLater`` is logged and left to the next round."""
        for symbol in self.symbols:
            if symbol in need_rest:
                try:
                    await self._rest(symbol)
                except RetryLater as err:
                    log.info("%s: bars of %s: %s", self.venue.name, symbol, err)

    def _on_watch_result(self, symbol: str, task: asyncio.Task[Any]) -> set[str]:
        exc = task.exception()
        if exc is None:
            self.failures[symbol] = 0
            self.venue.health_log.back(self.streams[symbol])
            return {symbol} if self._on_candles(symbol, task.result()) else set()
        if isinstance(exc, ccxt.NotSupported):
            log.warning("%s: no kline stream (%s); polling REST", self.venue.name, brief(exc))
            self.ws = False
            for name in self.streams.values():  # polled from now on: no stream to lose
                self.venue.health_log.ended(name)
            return set()
        self.venue.health_log.lost(self.streams[symbol])
        if isinstance(exc, FATAL_STREAM):
            with self.venue.calling("watch_ohlcv"):
                raise exc
        n = self.failures.get(symbol, 0)
        self.failures[symbol] = n + 1
        delays = self.venue.reconnect_delays_s
        delay = delays[min(n, len(delays) - 1)]
        self.retry_at[symbol] = time.monotonic() + delay
        self.forming.pop(symbol, None)  # stale after a disconnect; the gap is read over REST
        log.warning(
            "%s: kline stream of %s lost (%s); retry in %g s",
            self.venue.name,
            symbol,
            brief(exc),
            delay,
        )
        return {symbol}


def bar_of(symbol: str, candle: Sequence[Any]) -> Bar:
    ts, o, h, low, c, v = (candle[i] for i in range(6))
    return Bar(symbol, int(ts), float(o), float(h), float(low), float(c), float(v or 0))


async def rest_closed_bars(
    host: BarHost, symbol: str, timeframe: str, since_ms: int | None, limit: int | None
) -> list[Bar]:
    """:meth:`CcxtVenue.closed_bars <live.venues.ccxt_venue.CcxtVenue.closed_bars>`: REST pages
    of candles from ``since_ms`` (the latest ``limit`` if ``None``), the closed ones only."""
    tf = bar_ms(timeframe)  # the one calendar (ConfigError naming a bad timeframe)
    page_limit = limit or host.ohlcv_page_limit
    out: list[Bar] = []
    since = since_ms
    while True:
        with host.calling("fetch_ohlcv"):
            candles = await host.client.fetch_ohlcv(symbol, timeframe, since, page_limit)
        candles = [c for c in candles if since is None or c[0] >= since]
        if not candles:
            return out
        now, newest = host.now_ms(), candles[-1][0]
        out.extend(bar_of(symbol, c) for c in candles if c[0] < newest or c[0] + tf <= now)
        if out:
            host.note_close(symbol, dec(out[-1].close))
        if since is None or len(candles) < page_limit:
            return out
        since = int(newest) + 1


async def rest_history(
    host: BarHost, symbols: Sequence[str], timeframe: str, count: int
) -> list[Bar]:
    """The last ``count`` closed bars of each symbol over REST, in time order."""
    await host.start()
    out: list[Bar] = []
    for symbol in dict.fromkeys(symbols):
        out += (await host.closed_bars(symbol, timeframe, None, limit=count + 1))[-count:]
    out.sort(key=lambda b: (b.ts_ms, list(symbols).index(b.symbol)))
    return out
