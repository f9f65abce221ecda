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
* with ``record=True``, a recording of every message it used (trades, depth diffs, the REST
  snapshots; kept in memory until written), which
  :meth:`write_recording` merges into a :class:`~grekko_research.data.ticks.TickStore`: a
  backtest on it (``runs.load_run_bars(..., ticks=...)``) computes the features the run read;
* Prometheus gauges and counters (``grekko_book_*``, ``grekko_trade*``, ``grekko_spoof*``, the
  per-message processing time ``grekko_analysis_message_seconds``) in a registry the caller
  serves.

    feed = MarketAnalysisFeed(client, ["BTC/USDT"], record=True)
    await feed.start()          # subscribes (watch_order_book / watch_trades) and taps
    ...
    feed.sources()              # point-in-time tables for the features
    await feed.stop()
    feed.write_recording(TickStore(root), "binance", "spot")

Each message is stamped with when it became known: by default the local clock (``clock_ns``)
at receipt; with ``stamp="event"`` the venue's event time (a trade's time ``T``, a depth
event's ``E``: the clock the bars' closes are on; a REST snapshot, which has none, takes the
previous stamp) — what a runner uses, so that
the features line up with its bars whatever the local clock says (a simulator's market clock
runs at its own rate). Stamps are made strictly increasing, so the recording keeps the arrival
order. Once a window's features are
computed for a bar (:meth:`extras`), nothing received later is stamped at or before that bar's
close: what the strategy read at a close is what the recording holds up to it.
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
from typing import Any, Literal

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from grekko_research.analysis.book_nb import STATUS_GAP
from grekko_research.analysis.features import Sources, bar_closes, with_features
from grekko_research.analysis.stream import FeatureRecorder, StreamingBook
from grekko_research.data.bars import Bars
from grekko_research.data.ticks import TickKey, TickStore
from grekko_research.errors import ConfigError
from live.unified_book import UnifiedDepth

__all__ = ["FEED_METRICS", "FeedStats", "MarketAnalysisFeed", "Recording"]

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
class Recording:
    """The messages one symbol's analysis used, as the tick store's rows (see
    :mod:`grekko_research.data.ticks`): trades, and depth (diff events and REST snapshots)."""

    trades: list[tuple[int, int, int, float, float, bool]] = field(default_factory=list)
    depth: list[tuple[int, int, int, int, np.ndarray, np.ndarray, int]] = field(
        default_factory=list
    )  # (local ns, U, u, pu, bids, asks, snapshot)

    def frames(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(trades, depth)`` frames with the store's columns."""
        t = pd.DataFrame(
            self.trades,
            columns=["timestamp", "local_ts", "trade_id", "price", "qty", "buyer_maker"],
        )
        parts = []
        for local, first, last, prev, bids, asks, snap in self.depth:
            n_b, n = len(bids), len(bids) + len(asks)
            rows = np.concatenate([bids, asks]) if n else np.empty((0, 2))
            parts.append(
                pd.DataFrame(
                    {
                        "timestamp": local // 1_000_000,
                        "local_ts": local,
                        "first_update_id": first,
                        "last_update_id": last,
                        "prev_update_id": prev,
                        "side": np.r_[np.zeros(n_b, np.int8), np.ones(n - n_b, np.int8)],
                        "price": rows[:, 0],
                        "qty": rows[:, 1],
                        "snapshot": snap,
                    }
                )
            )
        d = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        return t, d


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
        record: bool = False,
        stamp: Literal["receive", "event"] = "receive",
        protocol: Literal["binance", "unified"] | None = None,
        unified_limit: int = 100,
    ) -> None:
        if stamp not in ("receive", "event"):
            raise ConfigError(f"MarketAnalysisFeed: stamp must be receive or event, got {stamp!r}")
        self.client = client
        self.symbols = tuple(symbols)
        self.registry = registry or CollectorRegistry()
        self.metrics = _Metrics(self.registry)
        self.recorder = FeatureRecorder()
        self.stats = FeedStats()
        self._depth_k = depth_k
        self._limit = snapshot_limit
        self._clock = clock_ns
        self._by_event = stamp == "event"
        # Binance's raw depth messages (update ids), or ccxt's unified book (any other venue)
        # (no client: messages are handed to on_message, as a benchmark or a test does)
        binance = client is None or str(client.id) in ("binance", "binanceusdm")
        self.protocol = protocol or ("binance" if binance else "unified")
        if self.protocol not in ("binance", "unified"):
            raise ConfigError(f"MarketAnalysisFeed: unknown protocol {self.protocol!r}")
        self._unified: dict[str, UnifiedDepth] = {}
        self._unified_limit = unified_limit
        self._trade_ids: dict[str, deque[str]] = {}  # recent unified trade ids (dedupe)
        self._last_ns = 0  # the last receive time given (strictly increasing)
        self._floor_ns = 0  # nothing is stamped before: the close a decision has read, + 1 ms
        self.record = record
        self.recordings: dict[str, Recording] = {}
        self._books: dict[str, _Book] = {}
        self._m: dict[str, _SymbolMetrics] = {}
        self._seconds = {
            "depthUpdate": self.metrics.seconds.labels("depth"),
            "trade": self.metrics.seconds.labels("trade"),
        }
        self.last: dict[str, np.void] = {}  # each symbol's last applied event (EVENT_DTYPE)
        self._ids: dict[str, str] = {}  # exchange id (BTCUSDT) -> symbol
        self._tasks: list[asyncio.Task[None]] = []
        self._handle: Callable[[Any, Any], Any] | None = None  # the client's own handler
        self._tapping = False

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Load markets, tap the client's message handler, subscribe to depth and trades."""
        await self.client.load_markets()
        for sym in self.symbols:
            m = self.client.market(sym)
            self.add_symbol(sym, m["id"], float(m["precision"]["price"]))
        if self.protocol == "unified":
            for sym in self.symbols:
                self._tasks.append(asyncio.create_task(self._watch_unified(sym, book=True)))
                self._tasks.append(asyncio.create_task(self._watch_unified(sym, book=False)))
            return
        self._handle = self.client.handle_message
        self._tapping = True
        self.client.handle_message = self._tap
        for sym in self.symbols:
            self._tasks.append(asyncio.create_task(self._watch(self.client.watch_order_book, sym)))
            self._tasks.append(asyncio.create_task(self._watch(self.client.watch_trades, sym)))

    def add_symbol(self, symbol: str, market_id: str, tick_size: float) -> None:
        """Follow ``symbol`` (``market_id`` as the venue's messages name it; its price tick)."""
        self._ids[market_id] = symbol
        self._books[symbol] = _Book(tick_size)
        self._unified[symbol] = UnifiedDepth(self._unified_limit)
        self._trade_ids[symbol] = deque(maxlen=10_000)
        self.recordings[symbol] = Recording()
        self._m[symbol] = _SymbolMetrics(self.metrics, symbol)

    async def stop(self) -> None:
        """Cancel the subscriptions' loops and untap the client (the client stays open)."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self._tapping:
            # connections opened meanwhile keep calling the tap: it passes them on untouched
            self.client.handle_message = self._handle
            self._tapping = False

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

    async def _watch_unified(self, symbol: str, *, book: bool) -> None:
        """Follow ccxt's unified book (or trades) of ``symbol``: each result is analysed."""
        watch = self.client.watch_order_book if book else self.client.watch_trades
        while True:
            try:
                got = await watch(symbol)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # ccxt resubscribes on the next call: snapshot again
                log.warning("%s %s: %s", watch.__name__, symbol, exc)
                if book:
                    self._unified[symbol].reset()
                await asyncio.sleep(0.5)
                continue
            try:
                if book:
                    self.on_unified_book(symbol, got)
                else:
                    self.on_unified_trades(symbol, got)
            except Exception:  # the analysis never stops the subscription
                log.exception("market analysis failed on a unified update of %s", symbol)

    def _tap(self, conn: Any, message: Any) -> Any:
        if self._tapping:
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
        # event time: a trade's own time (a replaying venue may publish late), a depth event's E
        now = self._stamp(data.get("T") if kind == "trade" else data.get("E"))
        if kind == "depthUpdate":
            self._depth(sym, data, now)
        else:
            self._trade(sym, data, now)
        took = time.perf_counter_ns() - t0
        self.stats.latency_ns.append(took)
        self._seconds[kind].observe(took / 1e9)

    def _now(self, at_ns: int) -> int:
        """This message's stamp: ``at_ns``, strictly after the previous one and after every
        close a decision has read (see the module)."""
        self._last_ns = max(at_ns, self._last_ns + 1, self._floor_ns)
        return self._last_ns

    def seal(self, close_ms: int) -> None:
        """A decision reads the tables as of ``close_ms``: stamp what arrives later after it."""
        self._floor_ns = max(self._floor_ns, (int(close_ms) + 1) * 1_000_000)

    def _stamp(self, event_ms: Any) -> int:
        """A stamp for a message with the venue's event time ``event_ms`` (may be None)."""
        if self._by_event:
            return self._now(int(event_ms) * 1_000_000 if event_ms else 0)
        return self._now(self._clock())

    def on_unified_book(self, sym: str, book: Mapping[str, Any]) -> None:
        """Process ccxt's unified book of ``sym`` after an update (see :mod:`live.unified_book`)."""
        t0 = time.perf_counter_ns()
        now = self._stamp(book.get("timestamp"))
        st = self._unified[sym].step(book)
        if st.kind == "none":
            return
        self.stats.depth_events += 1
        if st.kind == "snapshot":
            if st.resync:
                self.stats.gaps += 1
                self._m[sym].gaps.inc()
            self.load_snapshot(sym, st.first, st.bids, st.asks, arrived_ns=now)
        else:
            self._apply_depth(sym, (st.first, st.last, -1, st.bids, st.asks, now))
        took = time.perf_counter_ns() - t0
        self.stats.latency_ns.append(took)
        self._seconds["depthUpdate"].observe(took / 1e9)

    def on_unified_trades(self, sym: str, trades: Sequence[Mapping[str, Any]]) -> None:
        """Process the new trades ccxt's ``watch_trades`` returned (each once, by its id)."""
        seen = self._trade_ids[sym]
        for t in trades:
            tid = str(t.get("id"))
            if t.get("id") is not None and tid in seen:
                continue
            seen.append(tid)
            t0 = time.perf_counter_ns()
            now = self._stamp(t.get("timestamp"))
            ident = int(tid) if tid.isdigit() else -1
            at = int(t.get("timestamp") or now // 1_000_000)
            maker = t.get("side") == "sell"  # the taker sold: the buyer was the maker
            self._trade_values(sym, now, at, float(t["price"]), float(t["amount"]), maker, ident)
            took = time.perf_counter_ns() - t0
            self.stats.latency_ns.append(took)
            self._seconds["trade"].observe(took / 1e9)

    def _trade(self, sym: str, data: dict[str, Any], now: int) -> None:
        qty, maker, price, at = float(data["q"]), bool(data["m"]), float(data["p"]), int(data["T"])
        self._trade_values(sym, now, at, price, qty, maker, int(data.get("t", -1)))

    def _trade_values(
        self, sym: str, now: int, at: int, price: float, qty: float, maker: bool, ident: int
    ) -> None:
        self.recorder.on_trade(sym, now, at, price, qty, maker)
        if self.record:
            self.recordings[sym].trades.append((at, now, ident, price, qty, maker))
        self.stats.trades += 1
        m = self._m[sym]
        m.trades.inc()
        (m.sell if maker else m.buy).inc(qty)

    def _depth(self, sym: str, data: dict[str, Any], now: int) -> None:
        ev = (
            int(data["U"]),
            int(data["u"]),
            int(data.get("pu", -1)),
            _levels(data.get("b", ())),
            _levels(data.get("a", ())),
            now,
        )
        self.stats.depth_events += 1
        self._apply_depth(sym, ev)

    def _apply_depth(self, sym: str, ev: tuple[int, int, int, np.ndarray, np.ndarray, int]) -> None:
        """Apply (or buffer until a snapshot) one depth event ``(U, u, pu, bids, asks, t)``."""
        b = self._books[sym]
        if self.record:
            self.recordings[sym].depth.append((ev[5], *ev[:5], 0))
        if self.protocol == "unified" and (b.book is None or not b.book.synced):
            self._unified[sym].reset()  # ccxt's next book is the snapshot
            return
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
            # The gapped event applies to the resync snapshot by its ids (as the replay does).
            b.buffer.append(ev)
            if not b.fetching:
                b.fetching = True
                self._tasks.append(asyncio.get_running_loop().create_task(self._resync(sym)))

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

    def load_snapshot(
        self, sym: str, nonce: int, bids: Any, asks: Any, *, arrived_ns: int | None = None
    ) -> None:
        """Load a REST snapshot (``[price, quantity, ...]`` levels) of ``sym``, then apply the
        events buffered meanwhile by their ids (known only now: applied, not recorded, as the
        replay reports them unsynced)."""
        b = self._books[sym]
        arrived = arrived_ns or self._now(0 if self._by_event else self._clock())
        bid = np.array([lv[:2] for lv in bids], dtype=np.float64).reshape(-1, 2)
        ask = np.array([lv[:2] for lv in asks], dtype=np.float64).reshape(-1, 2)
        if b.book is None:  # room for 20x the highest price quoted
            top = float(max(bid[:, 0].max(initial=0.0), ask[:, 0].max(initial=0.0)))
            b.book = StreamingBook(
                b.tick, max_price=max(20.0 * top, 1e4 * b.tick), depth_k=self._depth_k
            )
        b.book.load_snapshot(nonce, bid, ask, arrived)
        if self.record:
            self.recordings[sym].depth.append((arrived, nonce, nonce, -1, bid, ask, 1))
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
        computed on what the feed has received so far; from now on nothing is stamped at or
        before the last bar's close (:meth:`seal`)."""
        if bars.n_bars:
            self.seal(int(bar_closes(bars)[-1]))
        return with_features(bars, specs, self.sources())

    def write_recording(self, store: TickStore, exchange: str, market: str) -> dict[str, int]:
        """Merge what was recorded since the last call into ``store``'s ``trades`` and
        ``depth`` series of ``exchange``/``market`` (the depth with the market's tick), then
        forget it; return the rows added per series label."""
        out: dict[str, int] = {}
        for sym, rec in self.recordings.items():
            trades, depth = rec.frames()
            for kind, frame in (("trades", trades), ("depth", depth)):
                if len(frame):
                    key = TickKey.make(kind, exchange, sym, market)
                    meta = {"tick_size": repr(self._books[sym].tick)} if kind == "depth" else {}
                    out[key.label()] = store.write(key, frame, metadata=meta)
            self.recordings[sym] = Recording()
        return out

    def summary(self) -> dict[str, Any]:
        """What the feed has seen: per symbol its book (synced, top, features of the last
        applied event), trades and spoofing candidates; overall the counts and the processing
        time per message (p50/p99 µs) — what ``grekko-live feed`` prints."""
        lat = np.fromiter(self.stats.latency_ns, dtype=np.int64)
        per: dict[str, dict[str, Any]] = {}
        tables = self.sources().tables
        for sym in self.symbols or tuple(self._books):
            last = self.last.get(sym)
            top = (
                {k: float(last[k]) for k in ("bid_px", "bid_qty", "ask_px", "ask_qty")}
                if last is not None
                else {}
            )
            book = tables.get(f"book:{sym}")
            cols = (
                {k: float(book.columns[k][-1]) for k in ("imbalance", "spread_bps")}
                if book is not None and len(book.known_ms)
                else {}
            )
            trades = tables.get(f"trades:{sym}")
            spoofs = tables.get(f"spoofs:{sym}")
            per[sym] = {
                "synced": self.synced(sym),
                **top,
                **cols,
                "book_events": 0 if book is None else len(book.known_ms),
                "trades": 0 if trades is None else len(trades.known_ms),
                "spoof_candidates": 0 if spoofs is None else len(spoofs.known_ms),
            }
        return {
            "symbols": per,
            "depth_events": self.stats.depth_events,
            "trades": self.stats.trades,
            "gaps": self.stats.gaps,
            "snapshots": self.stats.snapshots,
            "p50_us": float(np.percentile(lat, 50)) / 1e3 if len(lat) else None,
            "p99_us": float(np.percentile(lat, 99)) / 1e3 if len(lat) else None,
        }

    def synced(self, symbol: str) -> bool:
        """Whether ``symbol``'s book is in sequence."""
        book = self._books[symbol].book
        return book is not None and book.synced
