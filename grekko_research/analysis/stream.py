"""The order book and the activity features one message at a time, for a live feed.

:class:`StreamingBook` runs the replay kernels of :mod:`.book_nb` on one depth event per call
(Binance's ``depthUpdate``: ``U``, ``u``, ``pu`` and the changed levels) after a REST snapshot,
with the same update-id sequencing: a gap marks the book invalid until :meth:`load_snapshot`
is called again. :class:`FeatureRecorder` keeps what the research features read — the book's
state after each event, the spoofing candidates, the trades, each keyed by when it was
received — as :class:`~.features.Sources`, so a live runner computes
``FEATURES[name].compute(window_bars, params, recorder.sources())`` with the very code the
backtest ran on the captures (``book_sources`` / ``trade_sources`` build the same tables).

    book = StreamingBook(tick_size=0.01, max_price=1_000_000.0)
    book.load_snapshot(last_update_id, bids, asks, local_ts_ns)
    rec = book.apply(U, u, pu, bids, asks, local_ts_ns)      # one EVENT_DTYPE record
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from grekko_research.analysis.book_nb import (
    CANDIDATE_DTYPE,
    EVENT_DTYPE,
    STATUS_APPLIED,
    STATUS_GAP,
    BookParams,
    SnapshotColumns,
    StreamState,
    load_snapshot_nb,
    new_state_nb,
    step_levels_nb,
)
from grekko_research.analysis.features import Sources, SourceTable, book_columns
from grekko_research.errors import ConfigError

__all__ = ["FeatureRecorder", "StreamingBook"]


class StreamingBook:
    """One symbol's book, fed a snapshot then depth events one at a time.

    Parameters
    ----------
    tick_size
        The price grid (the market's tick).
    max_price
        The highest price the grid holds; levels above it (and at or below 0) are ignored —
        they are far from any touch the features read.
    depth_k, spoof_min_qty, spoof_max_life_s, spoof_pulled_frac
        As :func:`~.book.rebuild_book` (``spoof_min_qty`` default: the 99.5th percentile of
        the first snapshot's level sizes).
    page_capacity
        Grid pages (256 levels) a side may use at first; the pool doubles when they run out.
    """

    def __init__(
        self,
        tick_size: float,
        max_price: float,
        *,
        depth_k: int = 10,
        spoof_min_qty: float | None = None,
        spoof_max_life_s: float = 60.0,
        spoof_pulled_frac: float = 0.9,
        page_capacity: int = 1024,
        block_capacity: int = 1024,
    ) -> None:
        if not tick_size > 0 or not max_price > tick_size:
            raise ConfigError(
                f"StreamingBook: need 0 < tick_size < max_price, got {tick_size}, {max_price}"
            )
        if depth_k < 1:
            raise ConfigError(f"StreamingBook: depth_k must be >= 1, got {depth_k}")
        self._spoof_min_qty = spoof_min_qty
        self.params = BookParams(
            level_lo=0,
            n_levels=round(max_price / tick_size) + 1,
            page_capacity=page_capacity,
            block_capacity=block_capacity,
            tick_size=float(tick_size),
            depth_k=depth_k,
            spoof_min_qty=float("inf") if spoof_min_qty is None else float(spoof_min_qty),
            spoof_max_life_ns=int(spoof_max_life_s * 1e9),
            spoof_pulled_frac=float(spoof_pulled_frac),
        )
        self._state = new_state_nb(self.params)
        self._seq = np.array([-1, 0, -1], dtype=np.int64)
        self._prev = np.full(4, np.nan)
        self._cands = np.empty(block_capacity, dtype=CANDIDATE_DTYPE)
        self._rec = np.empty(1, dtype=EVENT_DTYPE)
        self._live = StreamState(self._seq, self._prev, self._cands, self._rec)
        self.synced = False  # a snapshot is loaded and no gap since
        self.candidates: list[np.ndarray] = []  # raw spoofing candidates, drained by callers

    def _levels(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Price/qty rows ``(m, 2)`` → (relative levels, quantities) inside the grid."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 2)
        lv = np.rint(rows[:, 0] / self.params.tick_size).astype(np.int64)
        inside = (lv > 0) & (lv < self.params.n_levels)
        if inside.all():
            return lv, rows[:, 1]
        return lv[inside], rows[inside, 1]

    def load_snapshot(
        self, last_update_id: int, bids: np.ndarray, asks: np.ndarray, local_ts_ns: int
    ) -> None:
        """Reset the book to a REST snapshot (``bids``/``asks``: ``(m, 2)`` price, quantity)."""
        (bl, bq), (al, aq) = self._levels(bids), self._levels(asks)
        if self._spoof_min_qty is None and len(bq) + len(aq):
            q = np.r_[bq, aq]
            self.params = self.params._replace(spoof_min_qty=float(np.quantile(q[q > 0], 0.995)))
            self._spoof_min_qty = self.params.spoof_min_qty
        cols = SnapshotColumns(
            np.array([local_ts_ns], dtype=np.int64),
            np.array([last_update_id], dtype=np.int64),
            np.array([0, len(bl) + len(al)], dtype=np.int64),
            np.r_[np.zeros(len(bl), np.int8), np.ones(len(al), np.int8)],
            np.r_[bl, al],
            np.r_[bq, aq],
        )
        while True:
            try:
                load_snapshot_nb(self._state, cols, 0, self.params)
                break
            except ValueError:  # more pages than sized: grow, load again
                self._grow()
        self._seq[:] = (last_update_id, 0, -1)
        self._prev[:] = np.nan
        self.synced = True

    def _grow(self) -> None:
        """Double the page pool, keeping every level and resting block (pages keep their index)."""
        st = self._state
        extra = st.qty.shape[1]
        self.params = self.params._replace(page_capacity=self.params.page_capacity * 2)
        self._state = st._replace(
            qty=np.concatenate([st.qty, np.zeros((2, extra))], axis=1),
            block=np.concatenate([st.block, np.full((2, extra), -1, dtype=np.int32)], axis=1),
        )

    def apply(
        self,
        first_id: int,
        last_id: int,
        prev_id: int,
        bids: np.ndarray,
        asks: np.ndarray,
        local_ts_ns: int,
    ) -> np.void:
        """Apply one depth event; return its EVENT_DTYPE record (status and the book after it).

        Before a snapshot, and after a gap until the next one, the record's status is
        ``gap`` and its features NaN (:attr:`synced` is False: load a snapshot).
        """
        if not self.synced:
            self._rec[0]["status"] = STATUS_GAP
            for f in ("bid_px", "bid_qty", "ask_px", "ask_qty", "ofi"):
                self._rec[0][f] = np.nan
            self._rec[0]["local_ts"] = local_ts_ns
            return self._rec[0].copy()
        head = np.array([first_id, last_id, prev_id, local_ts_ns], dtype=np.int64)
        bids = np.ascontiguousarray(bids, dtype=np.float64).reshape(-1, 2)
        asks = np.ascontiguousarray(asks, dtype=np.float64).reshape(-1, 2)
        seq = self._seq.copy()
        while True:
            try:
                found = step_levels_nb(self._state, self.params, self._live, head, bids, asks)
                break
            except ValueError:  # the page pool ran out: grow it and apply the event again
                # (setting a level twice to one quantity is a no-op for the book)
                self._seq[:] = seq
                self._grow()
        if found:
            self.candidates.append(self._cands[: min(found, len(self._cands))].copy())
        if self._rec[0]["status"] == STATUS_GAP:
            self.synced = False
        return self._rec[0].copy()


_BOOK_COLUMNS = ("imbalance", "microprice_bps", "spread_bps", "bid_slope", "ask_slope", "ofi_cum")


class _Growing:
    """Append-only columns that double their capacity (amortised O(1) appends)."""

    def __init__(self, names: tuple[str, ...], dtypes: Mapping[str, type] | None = None) -> None:
        self.n = 0
        self.known = np.empty(1024, dtype=np.int64)
        self.cols: dict[str, np.ndarray] = {
            k: np.empty(1024, dtype=(dtypes or {}).get(k, np.float64)) for k in names
        }

    def append(self, known_ms: int, **values: float) -> None:
        if self.n == len(self.known):
            self.known = np.resize(self.known, 2 * self.n)
            self.cols = {k: np.resize(v, 2 * self.n) for k, v in self.cols.items()}
        self.known[self.n] = known_ms
        for k, v in values.items():
            self.cols[k][self.n] = v
        self.n += 1

    def table(self) -> SourceTable:
        return SourceTable(
            self.known[: self.n].copy(), {k: v[: self.n].copy() for k, v in self.cols.items()}
        )

    def trim(self, before_ms: int) -> None:
        """Drop the rows known before ``before_ms`` (running sums keep their values)."""
        k = int(np.searchsorted(self.known[: self.n], before_ms, side="left"))
        if k:
            self.known[: self.n - k] = self.known[k : self.n]
            for v in self.cols.values():
                v[: self.n - k] = v[k : self.n]
            self.n -= k


@dataclass
class _Symbol:
    book: _Growing
    spoofs: _Growing
    trades: _Growing
    ofi_cum: float = 0.0
    spoof_count: float = 0.0


class FeatureRecorder:
    """The point-in-time tables the book, spoofing and trade features read, fed live.

    Rows are keyed by local receive time in ms, like :func:`~.features.book_sources` and
    :func:`~.features.trade_sources` key the captures' rows; only *applied* book events are
    kept (the research tables keep the valid ones).
    """

    def __init__(self) -> None:
        self._symbols: dict[str, _Symbol] = {}

    def _sym(self, symbol: str) -> _Symbol:
        if symbol not in self._symbols:
            self._symbols[symbol] = _Symbol(
                _Growing(_BOOK_COLUMNS),
                _Growing(("count_cum",)),
                _Growing(
                    ("trade_ms", "qty", "buyer_maker", "price", "local_ns"),
                    {"trade_ms": np.int64, "buyer_maker": np.bool_, "local_ns": np.int64},
                ),
            )
        return self._symbols[symbol]

    def on_event(self, symbol: str, rec: np.void) -> dict[str, float] | None:
        """Record a book event (an EVENT_DTYPE record from :meth:`StreamingBook.apply`); return
        its feature columns (None when it was not applied)."""
        if rec["status"] != STATUS_APPLIED:
            return None
        s = self._sym(symbol)
        cols = {k: float(v) for k, v in book_columns(rec).items()}
        ofi = cols.pop("ofi")
        if ofi == ofi:
            s.ofi_cum += ofi
        s.book.append(int(rec["local_ts"]) // 1_000_000, **cols, ofi_cum=s.ofi_cum)
        cols["ofi"] = ofi
        return cols

    def on_candidate(
        self, symbol: str, cand: np.void, tick_size: float, max_traded_frac: float = 0.05
    ) -> bool:
        """Record a raw spoofing candidate (CANDIDATE_DTYPE) unless trades at its price while it
        rested explain it (> ``max_traded_frac`` of its size, as
        :func:`~.book.spoofing_candidates` rules); known when pulled. Return whether kept."""
        s = self._sym(symbol)
        t = s.trades
        local = t.cols["local_ns"][: t.n]
        lo = int(np.searchsorted(local, cand["place_ts"], side="left"))
        hi = int(np.searchsorted(local, cand["pull_ts"], side="right"))
        at = np.abs(t.cols["price"][lo:hi] - cand["price"]) < tick_size / 2
        if t.cols["qty"][lo:hi][at].sum() > max_traded_frac * cand["qty"]:
            return False
        s.spoof_count += 1.0
        s.spoofs.append(int(cand["pull_ts"]) // 1_000_000, count_cum=s.spoof_count)
        return True

    def on_trade(
        self,
        symbol: str,
        local_ts_ns: int,
        trade_ms: int,
        price: float,
        qty: float,
        buyer_maker: bool,
    ) -> None:
        """Record a public trade (``buyer_maker``: the aggressor sold), in arrival order."""
        self._sym(symbol).trades.append(
            local_ts_ns // 1_000_000,
            trade_ms=trade_ms,
            qty=qty,
            buyer_maker=buyer_maker,
            price=price,
            local_ns=local_ts_ns,
        )

    def sources(self) -> Sources:
        """Every table so far: ``book:``, ``spoofs:`` and ``trades:<symbol>``."""
        out: dict[str, SourceTable] = {}
        for sym, s in self._symbols.items():
            out[f"book:{sym}"] = s.book.table()
            out[f"spoofs:{sym}"] = s.spoofs.table()
            out[f"trades:{sym}"] = s.trades.table()
        return Sources(out)

    def trim(self, before_ms: int) -> None:
        """Forget rows known before ``before_ms`` (the runner's window start)."""
        for s in self._symbols.values():
            for g in (s.book, s.spoofs, s.trades):
                g.trim(before_ms)
