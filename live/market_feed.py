"""The market-analysis detectors on a live feed: the L2 book, order flow, spoofing, trades.

:class:`MarketAnalysisFeed` taps a ``ccxt.pro`` Binance client (spot or USD-M; the simulator in
:mod:`live.sim` speaks the same protocol): every websocket message ccxt handles passes through
:meth:`MarketAnalysisFeed.on_message` first, where ``depthUpdate`` events go to a
:class:`~grekko_research.analysis.stream.StreamingBook` per symbol (Binance's update-id
sequencing after a REST snapshot fetched through the same client; a gap refetches it) and
``trade`` events to the recorder. ccxt keeps its own book; this one is the research replay's
kernels, so what a strategy reads live is what it read in the backtest:

* :meth:`sources` gives the ``book:``, ``spoofs:`` and ``trades:<symbol>`` tables the research
  features read (``FEATURES["book"]``, ``FEATURES["trade_flow"]``): a runner computes them on
  its bar window with the same code as the backtest;
* Prometheus gauges and counters (``grekko_book_*``, ``grekko_trade*``, ``grekko_spoof*``, the
  per-message processing time ``grekko_analysis_message_seconds``) in a registry the caller
  serves.

    feed = MarketAnalysisFeed(client, ["BTC/USDT"])
    await feed.start()          # subscribes (watch_order_book / watch_trades) and taps
    ...
    feed.sources()              # point-in-time tables for the features
    await feed.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from grekko_research.analysis.book_nb import STATUS_GAP
from grekko_research.analysis.features import Sources, with_features
from grekko_research.analysis.stream import FeatureRecorder, StreamingBook
from grekko_research.data.bars import Bars

__all__ = ["FEED_METRICS", "FeedStats", "MarketAnalysisFeed"]

log = logging.getLogger("live.market_feed")

FEED_METRICS = (
    "grekko_book_synced",
    "grekko_book_imbalance",
    "grekko_book_microprice_bps",
    "grekko_book_spread_bps",
    "grekko_book_ofi_total",
    "grekko_book_events_total",
    "grekko_book_gaps_total",
    "grekko_spoof_candidates_total",
    "grekko_trades_total",
    "grekko_trade_qty_total",
    "grekko_analysis_message_seconds",
)
_SECONDS = (1e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 5e-3, 1e-2)


class _Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        s = ("symbol",)
        self.synced = Gauge(
            "grekko_book_synced", "1 while the book is in sequence", s, registry=registry
        )
        self.imbalance = Gauge(
            "grekko_book_imbalance", "top-k depth imbalance (B - A) / (B + A)", s, registry=registry
        )
        self.micro = Gauge(
            "grekko_book_microprice_bps", "microprice minus mid, bp", s, registry=registry
        )
        self.spread = Gauge("grekko_book_spread_bps", "spread over mid, bp", s, registry=registry)
        self.ofi = Gauge(
            "grekko_book_ofi_total",
            "order-flow imbalance at the touch, summed",
            s,
            registry=registry,
        )
        self.events = Counter("grekko_book_events", "depth events applied", s, registry=registry)
        self.gaps = Counter("grekko_book_gaps", "sequence gaps (resyncs)", s, registry=registry)
        self.spoofs = Counter(
            "grekko_spoof_candidates", "large orders placed and pulled", s, registry=registry
        )
        self.trades = Counter("grekko_trades", "public trades", s, registry=registry)
        self.qty = Counter(
            "grekko_trade_qty",
            "traded quantity by aggressor side",
            ("symbol", "side"),
            registry=registry,
        )
        self.seconds = Histogram(
            "grekko_analysis_message_seconds",
            "processing time of one market message (book or trade), seconds",
            ("kind",),
            buckets=_SECONDS,
            registry=registry,
        )


class _SymbolMetrics:
    """One symbol's labelled children (``labels()`` costs more than the update itself)."""

    def __init__(self, m: _Metrics, sym: str) -> None:
        self.synced = m.synced.labels(sym)
        self.imbalance = m.imbalance.labels(sym)
        self.micro = m.micro.labels(sym)
        self.spread = m.spread.labels(sym)
        self.ofi = m.ofi.labels(sym)
        self.events = m.events.labels(sym)
        self.gaps = m.gaps.labels(sym)
        self.spoofs = m.spoofs.labels(sym)
        self.trades = m.trades.labels(sym)
        self.buy = m.qty.labels(sym, "buy")
        self.sell = m.qty.labels(sym, "sell")


@dataclass
class FeedStats:
    """Counts and per-message processing times (ns) since the start."""

    depth_events: int = 0
    trades: int = 0
    gaps: int = 0
    snapshots: int = 0
    latency_ns: deque[int] = field(default_factory=lambda: deque(maxlen=100_000))  # the last


@dataclass
class _Book:
    tick: float
    book: StreamingBook | None = None  # built at the first snapshot (its prices size the grid)
    buffer: list[tuple[int, int, int, np.ndarray, np.ndarray, int]] = field(default_factory=list)
    fetching: bool = False


def _levels(rows: Sequence[Sequence[str]]) -> np.ndarray:
    """Binance's ``[["price", "qty"], ...]`` as a ``(m, 2)`` float array (``float()`` per string
    is several times faster than numpy's conversion of a list of strings)."""
    flat = np.fromiter(map(float, chain.from_iterable(rows)), dtype=np.float64, count=2 * len(rows))
    return flat.reshape(-1, 2)


class MarketAnalysisFeed:
    """The analysis of one ccxt.pro Binance client's depth and trade streams (see the module)."""

    def __init__(
        self,
        client: Any,
        symbols: Sequence[str],
        *,
        registry: CollectorRegistry | None = None,
        depth_k: int = 10,
        snapshot_limit: int = 1000,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.client = client
        self.symbols = tuple(symbols)
        self.registry = registry or CollectorRegistry()
        self.metrics = _Metrics(self.registry)
        self.recorder = FeatureRecorder()
        self.stats = FeedStats()
        self._depth_k = depth_k
        self._limit = snapshot_limit
        self._clock = clock_ns
        self._books: dict[str, _Book] = {}
        self._m: dict[str, _SymbolMetrics] = {}
        self._seconds = {
            "depthUpdate": self.metrics.seconds.labels("depth"),
            "trade": self.metrics.seconds.labels("trade"),
        }
        self.last: dict[str, np.void] = {}  # each symbol's last applied event (EVENT_DTYPE)
        self._ids: dict[str, str] = {}  # exchange id (BTCUSDT) -> symbol
        self._tasks: list[asyncio.Task[None]] = []
        self._handle: Callable[[Any, Any], Any] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Load markets, tap the client's message handler, subscribe to depth and trades."""
        await self.client.load_markets()
        for sym in self.symbols:
            m = self.client.market(sym)
            self.add_symbol(sym, m["id"], float(m["precision"]["price"]))
        self._handle = self.client.handle_message
        self.client.handle_message = self._tap
        for sym in self.symbols:
            self._tasks.append(asyncio.create_task(self._watch(self.client.watch_order_book, sym)))
            self._tasks.append(asyncio.create_task(self._watch(self.client.watch_trades, sym)))

    def add_symbol(self, symbol: str, market_id: str, tick_size: float) -> None:
        """Follow ``symbol`` (``market_id`` as the venue's messages name it; its price tick)."""
        self._ids[market_id] = symbol
        self._books[symbol] = _Book(tick_size)
        self._m[symbol] = _SymbolMetrics(self.metrics, symbol)

    async def stop(self) -> None:
        """Cancel the subscriptions' loops and untap the client (the client stays open)."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self._handle is not None:
            self.client.handle_message = self._handle
            self._handle = None

    async def _watch(self, watch: Callable[..., Any], symbol: str) -> None:
        """Keep a subscription alive (what ccxt returns is not needed: the tap saw it)."""
        while True:
            try:
                await watch(symbol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # ccxt reconnects on the next call
                log.warning("%s %s: %s", getattr(watch, "__name__", "watch"), symbol, exc)
                await asyncio.sleep(0.5)

    def _tap(self, conn: Any, message: Any) -> Any:
        try:
            self.on_message(message)
        except Exception:  # the analysis never breaks the client's own handling
            log.exception("market analysis failed on a message; the client goes on")
        assert self._handle is not None
        return self._handle(conn, message)

    # -- messages -------------------------------------------------------------------------

    def on_message(self, message: Any) -> None:
        """Process one raw Binance websocket message (others are ignored)."""
        if not isinstance(message, dict):
            return
        data = message.get("data", message)  # combined streams wrap the event
        kind = data.get("e") if isinstance(data, dict) else None
        if kind not in ("depthUpdate", "trade"):
            return
        sym = self._ids.get(str(data.get("s", "")))
        if sym is None:
            return
        t0 = time.perf_counter_ns()
        now = self._clock()
        if kind == "depthUpdate":
            self._depth(sym, data, now)
        else:
            self._trade(sym, data, now)
        took = time.perf_counter_ns() - t0
        self.stats.latency_ns.append(took)
        self._seconds[kind].observe(took / 1e9)

    def _trade(self, sym: str, data: dict[str, Any], now: int) -> None:
        qty, maker = float(data["q"]), bool(data["m"])
        self.recorder.on_trade(sym, now, int(data["T"]), float(data["p"]), qty, maker)
        self.stats.trades += 1
        m = self._m[sym]
        m.trades.inc()
        (m.sell if maker else m.buy).inc(qty)

    def _depth(self, sym: str, data: dict[str, Any], now: int) -> None:
        b = self._books[sym]
        ev = (
            int(data["U"]),
            int(data["u"]),
            int(data.get("pu", -1)),
            _levels(data.get("b", ())),
            _levels(data.get("a", ())),
            now,
        )
        self.stats.depth_events += 1
        if b.book is None or not b.book.synced:
            b.buffer.append(ev)
            if not b.fetching:
                b.fetching = True
                self._tasks.append(asyncio.get_running_loop().create_task(self._resync(sym)))
            return
        rec = b.book.apply(*ev)
        self._record(sym, b, rec)
        if rec["status"] == STATUS_GAP:
            self.stats.gaps += 1
            self._m[sym].gaps.inc()
            self._m[sym].synced.set(0)

    def _record(self, sym: str, b: _Book, rec: np.void) -> None:
        assert b.book is not None
        cols = self.recorder.on_event(sym, rec)
        m = self._m[sym]
        for cands in b.book.candidates:
            for c in cands:
                if self.recorder.on_candidate(sym, c, b.tick):
                    m.spoofs.inc()
        b.book.candidates.clear()
        if cols is None:
            return
        self.last[sym] = rec
        m.events.inc()
        m.imbalance.set(cols["imbalance"])
        m.micro.set(cols["microprice_bps"])
        m.spread.set(cols["spread_bps"])
        if cols["ofi"] == cols["ofi"]:
            m.ofi.inc(cols["ofi"])

    async def _resync(self, sym: str) -> None:
        """Fetch a REST snapshot, load it, apply the buffered events by their ids."""
        b = self._books[sym]
        try:
            snap = await self.client.fetch_order_book(sym, self._limit)
            self.load_snapshot(sym, int(snap["nonce"]), snap["bids"], snap["asks"])
        except Exception as exc:  # the next depth event asks again
            log.warning("snapshot of %s failed: %s", sym, exc)
        finally:
            b.fetching = False

    def load_snapshot(self, sym: str, nonce: int, bids: Any, asks: Any) -> None:
        """Load a REST snapshot (``[price, quantity, ...]`` levels) of ``sym``, then apply the
        events buffered meanwhile by their ids (known only now: applied, not recorded, as the
        replay reports them unsynced)."""
        b = self._books[sym]
        arrived = self._clock()
        bid = np.array([lv[:2] for lv in bids], dtype=np.float64).reshape(-1, 2)
        ask = np.array([lv[:2] for lv in asks], dtype=np.float64).reshape(-1, 2)
        if b.book is None:  # room for 20x the highest price quoted
            top = float(max(bid[:, 0].max(initial=0.0), ask[:, 0].max(initial=0.0)))
            b.book = StreamingBook(
                b.tick, max_price=max(20.0 * top, 1e4 * b.tick), depth_k=self._depth_k
            )
        b.book.load_snapshot(nonce, bid, ask, arrived)
        self.stats.snapshots += 1
        buffered, b.buffer = b.buffer, []
        for ev in buffered:
            if b.book.apply(*ev)["status"] == STATUS_GAP:
                break
        self._m[sym].synced.set(1 if b.book.synced else 0)

    # -- outputs --------------------------------------------------------------------------

    def sources(self) -> Sources:
        """The point-in-time tables the book and trade features read (see the module)."""
        return self.recorder.sources()

    def extras(self, bars: Bars, specs: Mapping[str, tuple[str, Any]]) -> Bars:
        """The runner's window ``bars`` with the requested features as ``Bars.extras``
        (``{name: (feature, params)}``, see :func:`~grekko_research.analysis.features.with_features`),
        computed on what the feed has received so far."""
        return with_features(bars, specs, self.sources())

    def synced(self, symbol: str) -> bool:
        """Whether ``symbol``'s book is in sequence."""
        book = self._books[symbol].book
        return book is not None and book.synced
