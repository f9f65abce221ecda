"""Resting depth over time from a rebuilt L2 book: the order-book heat map, with the trades.

    replay = rebuild_book(cap)
    grid = depth_map(cap, replay, times=240, prices=100)
    grid.qty           # (prices, times): quantity resting in each price bin at each column's end
    grid.trades_vwap   # (times,): volume-weighted traded price in each column (NaN: no trade)

The book is stepped through the replay's own verdict on each event (:func:`~.book.rebuild_book`
decides the sequencing: applied, stale, gap, unsynced, and which snapshot the book was synced
from), so nothing here re-decides Binance's update-id rules. At each column's end the book's
levels are summed into price bins. A column is NaN while the book is not knowable (before the
first applied event, after a gap until the resync). After every applied event the stepped
book's best bid and ask are compared with the replay's: ``mismatches`` counts the events where
they differ (0 on the shared captures; a test asserts it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from grekko_research.analysis.book import BookReplay, diff_columns, snapshot_columns
from grekko_research.analysis.book_nb import (
    PAGE,
    PAGE_BITS,
    STATUS_APPLIED,
    STATUS_UNSYNCED,
    BookParams,
    BookState,
    DiffColumns,
    SnapshotColumns,
    load_snapshot_nb,
    new_state_nb,
    set_level_nb,
)
from grekko_research.analysis.captures import OrderBookCapture
from grekko_research.errors import ConfigError, DataError

__all__ = ["DepthMap", "MapGrid", "ReplayEvents", "depth_map", "depth_map_nb"]

_END = 9_223_372_036_854_775_807  # after every event: flush the remaining columns


@dataclass(frozen=True, eq=False)
class DepthMap:
    """Resting quantity per price bin (rows) and time column; the trades of each column."""

    times_ns: np.ndarray  # (t,) int64: each column's end (local receive time, ns)
    price_edges: np.ndarray  # (p + 1,) float64: bin ``i`` holds prices in [edges[i], edges[i+1])
    qty: np.ndarray  # (p, t) float64: base quantity resting in the bin (NaN: book not known)
    best_bid: np.ndarray  # (t,) at the column's end
    best_ask: np.ndarray  # (t,)
    trades_vwap: np.ndarray  # (t,) NaN when the column has no trade
    trades_high: np.ndarray  # (t,)
    trades_low: np.ndarray  # (t,)
    buy_qty: np.ndarray  # (t,) taker buys
    sell_qty: np.ndarray  # (t,) taker sells
    mismatches: int  # applied events whose stepped top of book differs from the replay's
    checked: int  # applied events compared


@njit(cache=True, nogil=True)
def _same(a: float, b: float, tick: float) -> bool:
    """Two prices on one tick grid are the same level (both NaN: both sides empty)."""
    if a != a or b != b:
        return a != a and b != b
    return abs(a - b) < 0.5 * tick


@njit(cache=True, nogil=True)
def _not_stale(last: int, pu: int, snap_id: int) -> bool:
    """An event the replay applied by its ids while its snapshot was on its way (status
    unsynced): the ones the snapshot does not already hold."""
    return not (last < snap_id or (last == snap_id and pu < 0))


class ReplayEvents(NamedTuple):
    """The replay's verdict on each depth event, all ``(e,)``."""

    status: np.ndarray  # int8 status code (book_nb.STATUS_*)
    snapshot: np.ndarray  # int64: the snapshot the book was synced from (-1: none)
    row_end: np.ndarray  # int64: one past the event's last diff row
    ts: np.ndarray  # int64 local receive time, ns
    bid: np.ndarray  # float64 best bid price after it (NaN: none / book invalid)
    ask: np.ndarray  # float64


class MapGrid(NamedTuple):
    """Where the book is sampled: column ends ``(t,)`` int64 sorted, and price bins: bin ``i``
    holds relative levels ``bin_lo + i * bin_levels`` .. ``+ bin_levels - 1``."""

    col_end: np.ndarray
    bin_lo: int
    bin_levels: int


@njit(cache=True, nogil=True)
def _sample_nb(
    st: BookState, p: BookParams, g: MapGrid, col: int, out: np.ndarray, top: np.ndarray
) -> None:
    """Sum both sides' quantity per bin into ``out[:, col]``; the best prices into ``top``."""
    page_of, qty = st.page_of, st.qty  # plain arrays in the loop (the paged layout of BookState)
    for i in range(out.shape[0]):
        s = 0.0
        lo = g.bin_lo + i * g.bin_levels
        for r in range(max(lo, 0), min(lo + g.bin_levels, p.n_levels)):
            for sd in range(2):
                pg = page_of[sd, r >> PAGE_BITS]
                if pg >= 0:
                    s += qty[sd, pg * PAGE + (r & (PAGE - 1))]
        out[i, col] = s
    b, a = st.best[0], st.best[1]
    top[0, col] = (p.level_lo + b) * p.tick_size if b >= 0 else np.nan
    top[1, col] = (p.level_lo + a) * p.tick_size if a < p.n_levels else np.nan


@njit(cache=True, nogil=True)
def _applies(
    ev: ReplayEvents, e: int, diffs: DiffColumns, row: int, snaps: SnapshotColumns
) -> bool:
    """Whether the replay applied event ``e`` (its first diff row ``row``) to the book."""
    status = ev.status[e]
    if status == STATUS_APPLIED:
        return True
    s_idx = ev.snapshot[e]
    if status == STATUS_UNSYNCED and s_idx >= 0:
        return _not_stale(diffs.last_id[row], diffs.prev_id[row], snaps.last_id[s_idx])
    return False


@njit(cache=True, nogil=True)
def depth_map_nb(
    diffs: DiffColumns,
    snaps: SnapshotColumns,
    p: BookParams,
    ev: ReplayEvents,
    g: MapGrid,
    out: np.ndarray,
    top: np.ndarray,
) -> tuple[int, int]:
    """Step the book through the replay's events ``ev``; sample it at each column's end.

    A column holds the book after every event received at or before its end: ``out``
    ``(p, t)`` the summed quantity of both sides per bin (NaN while the book is not known),
    ``top`` ``(2, t)`` the best bid and ask prices. Returns (events whose stepped best prices
    differ from the replay's, events compared).
    """
    n_cols = g.col_end.shape[0]
    st = new_state_nb(p)
    snap = -1
    known = False
    col = 0
    start = 0
    bad = 0
    checked = 0
    n_ev = ev.status.shape[0]
    for e in range(n_ev + 1):
        ts = ev.ts[e] if e < n_ev else _END
        while col < n_cols and g.col_end[col] < ts:
            if known:
                _sample_nb(st, p, g, col, out, top)
            col += 1
        if e == n_ev:
            break
        stop = ev.row_end[e]
        if ev.snapshot[e] >= 0 and ev.snapshot[e] != snap:
            snap = ev.snapshot[e]
            load_snapshot_nb(st, snaps, snap, p)
        if _applies(ev, e, diffs, start, snaps):
            for row in range(start, stop):
                set_level_nb(st, diffs.side[row], diffs.level[row], diffs.qty[row], p.n_levels)
        known = ev.status[e] == STATUS_APPLIED
        if known:
            checked += 1
            b, a = st.best[0], st.best[1]
            bid = (p.level_lo + b) * p.tick_size if b >= 0 else np.nan
            ask = (p.level_lo + a) * p.tick_size if a < p.n_levels else np.nan
            if not (_same(bid, ev.bid[e], p.tick_size) and _same(ask, ev.ask[e], p.tick_size)):
                bad += 1
        start = stop
    return bad, checked


def depth_map(
    capture: OrderBookCapture,
    replay: BookReplay,
    *,
    times: int = 240,
    prices: int = 100,
    span_bps: float = 10.0,
) -> DepthMap:
    """Sum the book's resting quantity into ``prices`` bins × ``times`` columns.

    Parameters
    ----------
    capture, replay
        A capture and :func:`~.book.rebuild_book` of it (the replay's tick and verdicts).
    times
        Columns, evenly spaced from the first to the last applied event (each ends on the last
        nanosecond of a millisecond).
    prices
        Price bins, evenly spaced (whole ticks) from the lowest mid less ``span_bps`` to the
        highest mid plus ``span_bps``.
    span_bps
        How far beyond the traded range of the mid the map reaches, in basis points.
    """
    if not 2 <= times <= 5000 or not 2 <= prices <= 2000:
        raise ConfigError(
            f"depth_map: need 2 <= times <= 5000 and 2 <= prices <= 2000, got {times}, {prices}"
        )
    if not 0 <= span_bps <= 5000:
        raise ConfigError(f"depth_map: span_bps must be in [0, 5000], got {span_bps}")
    ev = replay.events
    valid = ev[ev["status"] == "applied"]
    if valid.empty:
        raise DataError(f"{capture.name}: the book is never valid (no applied event)")
    tick = replay.tick_size
    snaps, diffs = capture.snapshots, capture.diffs
    snap_lv = np.round(snaps.price / tick).astype(np.int64)
    diff_lv = np.round(diffs.price / tick).astype(np.int64)
    level_lo = int(min(snap_lv.min(), diff_lv.min()))  # the grid rebuild_book used
    n_levels = int(max(snap_lv.max(), diff_lv.max())) - level_lo + 1
    pages = 1 + max(
        len(
            np.unique(
                np.r_[snap_lv[snaps.side == sd], diff_lv[diffs.side == sd]] - level_lo >> PAGE_BITS
            )
        )
        for sd in (0, 1)
    )
    params = BookParams(level_lo, n_levels, pages, 1, tick, replay.depth_k, np.inf, 0, 1.0)

    mid = valid["mid"].to_numpy()
    lo_px = float(np.nanmin(mid)) * (1 - span_bps / 1e4)
    hi_px = float(np.nanmax(mid)) * (1 + span_bps / 1e4)
    bin_levels = max(1, int(np.ceil((hi_px - lo_px) / tick / prices)))
    bin_lo = int(np.floor(lo_px / tick)) - level_lo
    edges = (level_lo + bin_lo + bin_levels * np.arange(prices + 1)) * tick

    t0, t1 = int(valid["local_ts"].iloc[0]), int(valid["local_ts"].iloc[-1])
    # columns end on a millisecond's last nanosecond: a column holds whole milliseconds
    col_end = np.linspace(t0, t1, times + 1)[1:].astype(np.int64) // 1_000_000 * 1_000_000
    col_end += 999_999
    out = np.full((prices, times), np.nan)
    top = np.full((2, times), np.nan)
    codes = ev["status"].cat.codes.to_numpy(np.int8)
    events = ReplayEvents(
        codes,
        ev["snapshot"].to_numpy(np.int64),
        ev["row_end"].to_numpy(np.int64),
        ev["local_ts"].to_numpy(np.int64),
        ev["bid_px"].to_numpy(np.float64),
        ev["ask_px"].to_numpy(np.float64),
    )
    bad, checked = depth_map_nb(
        diff_columns(diffs, diff_lv - level_lo),
        snapshot_columns(snaps, snap_lv - level_lo),
        params,
        events,
        MapGrid(col_end, bin_lo, bin_levels),
        out,
        top,
    )
    vwap, high, low, buy, sell = _trade_columns(capture, t0, col_end)
    return DepthMap(col_end, edges, out, top[0], top[1], vwap, high, low, buy, sell, bad, checked)


def _trade_columns(
    capture: OrderBookCapture, t0: int, col_end: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Per column (``(col_end[k-1], col_end[k]]``, the first from ``t0``): VWAP, high, low,
    taker buy and sell quantity of the trades received in it."""
    n = len(col_end)
    vwap, high, low = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    buy, sell = np.zeros(n), np.zeros(n)
    tr = capture.trades
    if tr is None or len(tr) == 0:
        return vwap, high, low, buy, sell
    order = np.argsort(tr.local_ts, kind="stable")
    ts, px, q, maker = tr.local_ts[order], tr.price[order], tr.qty[order], tr.buyer_maker[order]
    inside = (ts >= t0) & (ts <= col_end[-1])
    ts, px, q, maker = ts[inside], px[inside], q[inside], maker[inside]
    col = np.searchsorted(col_end, ts, side="left")
    notional = np.bincount(col, px * q, n)
    volume = np.bincount(col, q, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        vwap = np.where(volume > 0, notional / volume, np.nan)
    np.fmax.at(high, col, px)
    np.fmin.at(low, col, px)
    taken = np.bincount(col, np.where(maker, 0.0, q), n)
    given = np.bincount(col, np.where(maker, q, 0.0), n)
    return vwap, high, low, taken, given
