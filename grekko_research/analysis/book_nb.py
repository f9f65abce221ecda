"""Numba kernels of the L2 order book: Binance update-id sequencing, top-of-book features, spoofing.

Prices are integer ticks (``price = level * tick_size``) on a paged grid (see
:class:`BookState`): setting a level is O(1) wherever it is (Binance streams levels
thousands of dollars from the touch), and the best price is tracked incrementally: only
when the best level empties does a scan walk to the next one, a few ticks near the touch.
Kernels are pure: arrays in, record arrays out.

Sequencing (Binance "how to manage a local order book"): after a snapshot with
``lastUpdateId = X``, events with ``u <= X`` are stale and dropped; the first applied event
must have ``U <= X + 1 <= u`` (spot; on USD-M futures ``U <= X <= u``); then each event must
follow the previous one: ``U == previous u + 1`` on spot, ``pu == previous u`` on futures
(``pu >= 0`` marks a futures stream). A break is a gap: the book is invalid until the next
snapshot requested (arrived, local time) at or after the gapped event, from which it
resyncs; events received before that snapshot arrived are applied by their ids, as a live
client buffers them, but are reported ``unsynced`` (the book was not knowable then). The
events before the first snapshot's arrival are treated the same way.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = [
    "CANDIDATE_DTYPE",
    "EVENT_DTYPE",
    "STATUS_APPLIED",
    "STATUS_GAP",
    "STATUS_STALE",
    "STATUS_UNSYNCED",
    "BookParams",
    "BookState",
    "DiffColumns",
    "SnapshotColumns",
    "StreamState",
    "best_nb",
    "load_snapshot_nb",
    "new_state_nb",
    "replay_nb",
    "set_level_nb",
    "step_event_nb",
    "step_levels_nb",
]

STATUS_APPLIED = 0  # applied; the book is valid after it
STATUS_STALE = 1  # dropped: already in the snapshot (u <= lastUpdateId)
STATUS_GAP = 2  # breaks the sequence: the book is invalid until a resync
STATUS_UNSYNCED = 3  # after a gap: the resync snapshot has not arrived yet (or none exists)

# One record per depth event (the rows sharing one update id range), after applying it.
EVENT_DTYPE = np.dtype(
    [
        ("local_ts", np.int64),
        ("first_id", np.int64),
        ("last_id", np.int64),
        ("row_end", np.int64),  # one past the event's last diff row
        ("status", np.int8),
        ("snapshot", np.int32),  # the snapshot the book was last synced from (-1: none)
        ("bid_px", np.float64),  # best bid price (NaN: no bid / book invalid)
        ("bid_qty", np.float64),
        ("ask_px", np.float64),
        ("ask_qty", np.float64),
        ("bid_depth", np.float64),  # quantity on the top k bid levels
        ("ask_depth", np.float64),
        ("bid_slope", np.float64),  # cumulative top-k bid quantity per basis point from mid
        ("ask_slope", np.float64),
        ("ofi", np.float64),  # order-flow imbalance of the event at the best levels
    ]
)

# One record per large resting order that was placed and pulled (a spoofing *candidate*).
CANDIDATE_DTYPE = np.dtype(
    [
        ("side", np.int8),
        ("price", np.float64),
        ("qty", np.float64),  # the size added in one update
        ("base_qty", np.float64),  # the level's quantity before it
        ("left_qty", np.float64),  # the level's quantity after the pull
        ("place_ts", np.int64),
        ("pull_ts", np.int64),
        ("place_row", np.int64),
        ("pull_row", np.int64),
        ("place_ticks", np.int64),  # ticks behind the own-side best when placed (0: at the touch)
        ("pull_ticks", np.int64),  # ticks behind the own-side best when pulled
        ("place_mid", np.float64),
        ("pull_mid", np.float64),
    ]
)


class DiffColumns(NamedTuple):
    """Depth-diff rows as kernel arrays, all ``(n,)``."""

    local_ts: np.ndarray  # int64
    first_id: np.ndarray  # int64
    last_id: np.ndarray  # int64
    prev_id: np.ndarray  # int64, -1 on spot
    side: np.ndarray  # int8: 0 bid, 1 ask
    level: np.ndarray  # int64 level relative to BookParams.level_lo
    qty: np.ndarray  # float64


class SnapshotColumns(NamedTuple):
    """Snapshots as kernel arrays: ``(m,)`` per snapshot, ``(r,)`` per row."""

    local_ts: np.ndarray  # (m,) int64
    last_id: np.ndarray  # (m,) int64
    start: np.ndarray  # (m + 1,) int64
    side: np.ndarray  # (r,) int8
    level: np.ndarray  # (r,) int64 relative to BookParams.level_lo
    qty: np.ndarray  # (r,) float64


PAGE_BITS = 8
PAGE = 1 << PAGE_BITS  # levels per page


class BookParams(NamedTuple):
    """Sizes and feature settings."""

    level_lo: int  # the lowest level the book can hold (level = price / tick_size)
    n_levels: int  # levels it can hold, from level_lo
    page_capacity: int  # pages one side may allocate (the wrapper counts the pages touched)
    block_capacity: int  # large blocks that may rest at once (bounded by the big updates)
    tick_size: float
    depth_k: int  # levels per side for depth, imbalance and slope
    spoof_min_qty: float  # a single update adding at least this much starts a candidate
    spoof_max_life_ns: int  # pulled within this long (ns) to count
    spoof_pulled_frac: float  # at least this fraction of the added size must leave


class BookState(NamedTuple):
    """Both sides of the book on a paged price grid (``[side, ...]``, 0 = bid, 1 = ask).

    Level ``r`` (relative to ``level_lo``) lives on page ``page_of[side, r >> PAGE_BITS]``
    at ``page * PAGE + (r & (PAGE - 1))``; pages are allocated on first touch, so a book
    spanning $15k-$200k in cents holds only the pages that ever had an order.
    """

    page_of: np.ndarray  # (2, n_levels / PAGE + 1) int32, -1: not allocated
    n_pages: np.ndarray  # (2,) int64
    qty: np.ndarray  # (2, page_capacity * PAGE) float64
    block: np.ndarray  # (2, page_capacity * PAGE) int32: a large block resting there, -1: none
    best: np.ndarray  # (2,) int64: best bid level (-1: none), best ask level (n_levels: none)
    # the large blocks (spoofing candidates), a pool of slots with a free list
    blk_ts: np.ndarray  # (b,) int64: when added
    blk_row: np.ndarray  # (b,) int64
    blk_qty: np.ndarray  # (b,) float64: its size
    blk_base: np.ndarray  # (b,) float64: the level's quantity before it
    blk_ticks: np.ndarray  # (b,) int64: ticks behind the own-side best when added
    blk_mid: np.ndarray  # (b,) float64: the mid when added
    free: np.ndarray  # (b,) int32 free slots; free[:n_free[0]]
    n_free: np.ndarray  # (1,) int64


class LevelUpdate(NamedTuple):
    """One level set by a diff row, as the spoofing tracker sees it."""

    side: int
    cell: int  # where the level lives (see BookState)
    level: int
    qty: float  # the new quantity
    old: float  # the quantity before
    row: int  # the diff row
    ts: int  # its local receive time, ns
    mid: float  # the mid before the event


class StreamState(NamedTuple):
    """What a live book keeps between events besides the book (see :func:`step_event_nb`)."""

    seq: np.ndarray  # (3,) int64: snapshot lastUpdateId, 1 once synced, the last applied u
    prev: np.ndarray  # (4,) float64: the previous top of book
    cands: np.ndarray  # (b,) CANDIDATE_DTYPE: candidates found by the event
    rec: np.ndarray  # (1,) EVENT_DTYPE: the event's record


class EventHead(NamedTuple):
    """What an event record says about the event itself."""

    ts: int
    first: int
    last: int
    row_end: int
    status: int
    snapshot: int


@njit(cache=True, nogil=True)
def new_state_nb(p: BookParams) -> BookState:
    """Return an empty book sized by ``p``."""
    b = max(p.block_capacity, 1)
    cells = p.page_capacity * PAGE
    return BookState(
        np.full((2, (p.n_levels >> PAGE_BITS) + 1), -1, dtype=np.int32),
        np.zeros(2, dtype=np.int64),
        np.zeros((2, cells)),
        np.full((2, cells), -1, dtype=np.int32),
        np.array([-1, p.n_levels], dtype=np.int64),
        np.zeros(b, dtype=np.int64),
        np.zeros(b, dtype=np.int64),
        np.zeros(b),
        np.zeros(b),
        np.zeros(b, dtype=np.int64),
        np.zeros(b),
        np.arange(b - 1, -1, -1).astype(np.int32),
        np.array([b], dtype=np.int64),
    )


@njit(cache=True, nogil=True)
def _cell(st: BookState, sd: int, r: int) -> int:
    """The cell of level ``r``, or -1 when its page was never allocated."""
    pg = st.page_of[sd, r >> PAGE_BITS]
    return -1 if pg < 0 else pg * PAGE + (r & (PAGE - 1))


@njit(cache=True, nogil=True)
def _next_level(st: BookState, sd: int, r: int, n_levels: int) -> int:
    """The next non-empty level behind ``r`` (down for bids, up for asks), or -1 / ``n_levels``."""
    step = -1 if sd == 0 else 1
    r += step
    while 0 <= r < n_levels:
        pg = st.page_of[sd, r >> PAGE_BITS]
        if pg < 0:  # skip the whole page
            r = (
                ((r >> PAGE_BITS) << PAGE_BITS) - 1
                if sd == 0
                else ((r >> PAGE_BITS) + 1) << PAGE_BITS
            )
            continue
        if st.qty[sd, pg * PAGE + (r & (PAGE - 1))] > 0.0:
            return r
        r += step
    return -1 if sd == 0 else n_levels


@njit(cache=True, nogil=True)
def set_level_nb(st: BookState, sd: int, r: int, q: float, n_levels: int) -> tuple[int, float]:
    """Set level ``r`` of side ``sd`` to ``q`` (0 deletes); return (its cell or -1, old quantity).

    Raises if the side needs more pages than it was sized for.
    """
    c = _cell(st, sd, r)
    if c < 0:
        if q == 0.0:
            return -1, 0.0
        pg = st.n_pages[sd]
        if pg * PAGE >= st.qty.shape[1]:
            raise ValueError("order book side is full: page capacity too small")
        st.page_of[sd, r >> PAGE_BITS] = pg
        st.n_pages[sd] = pg + 1
        c = pg * PAGE + (r & (PAGE - 1))
    old = st.qty[sd, c]
    st.qty[sd, c] = q
    best = st.best[sd]
    if sd == 0:
        if q > 0.0 and r > best:
            st.best[0] = r
        elif q == 0.0 and r == best:
            st.best[0] = _next_level(st, 0, r, n_levels)
    else:
        if q > 0.0 and r < best:
            st.best[1] = r
        elif q == 0.0 and r == best:
            st.best[1] = _next_level(st, 1, r, n_levels)
    return c, old


@njit(cache=True, nogil=True)
def _clear(st: BookState) -> None:
    """Empty both sides (pages stay allocated) and free every block."""
    st.qty[:, :] = 0.0
    st.block[:, :] = -1
    st.best[0] = -1
    st.best[1] = st.page_of.shape[1] * PAGE  # above any level: callers compare with n_levels
    b = st.free.shape[0]
    for i in range(b):
        st.free[i] = b - 1 - i
    st.n_free[0] = b


@njit(cache=True, nogil=True)
def load_snapshot_nb(st: BookState, snaps: SnapshotColumns, s: int, p: BookParams) -> None:
    """Reset the book to snapshot ``s``."""
    _clear(st)
    st.best[1] = p.n_levels
    for r in range(snaps.start[s], snaps.start[s + 1]):
        if snaps.qty[r] > 0.0:
            set_level_nb(st, snaps.side[r], snaps.level[r], snaps.qty[r], p.n_levels)


@njit(cache=True, nogil=True)
def best_nb(st: BookState, sd: int, n_levels: int) -> tuple[int, float]:
    """The best level of side ``sd`` (relative) and its quantity; quantity NaN when empty."""
    r = st.best[sd]
    if r < 0 or r >= n_levels:
        return r, np.nan
    return r, st.qty[sd, _cell(st, sd, r)]


@njit(cache=True, nogil=True)
def _side_stats(st: BookState, sd: int, p: BookParams, mid: float) -> tuple[float, float]:
    """Top-``k`` depth of side ``sd`` and its slope (cumulative quantity per bp from ``mid``)."""
    depth = 0.0
    sxy = 0.0
    sxx = 0.0
    r = st.best[sd]
    found = 0
    while 0 <= r < p.n_levels and found < p.depth_k:
        depth += st.qty[sd, _cell(st, sd, r)]
        found += 1
        x = abs((p.level_lo + r) * p.tick_size - mid) / mid * 1e4
        sxy += x * depth
        sxx += x * x
        r = _next_level(st, sd, r, p.n_levels)
    return depth, (sxy / sxx if sxx > 0.0 else np.nan)


@njit(cache=True, nogil=True)
def _track_block(
    st: BookState, u: LevelUpdate, p: BookParams, cands: np.ndarray, n_cands: int
) -> int:
    """Start or close a large block at the level just set; return the candidate count."""
    sd, c, r, q, old, ts = u.side, u.cell, u.level, u.qty, u.old, u.ts
    b = st.block[sd, c]
    if b >= 0 and ts - st.blk_ts[b] > p.spoof_max_life_ns:  # rested too long to count
        st.free[st.n_free[0]] = b
        st.n_free[0] += 1
        st.block[sd, c] = -1
        b = -1
    best = st.best[sd]
    behind = max((best - r) if sd == 0 else (r - best), 0)
    if b < 0:
        if q - old >= p.spoof_min_qty and st.n_free[0] > 0:
            st.n_free[0] -= 1
            b = st.free[st.n_free[0]]
            st.block[sd, c] = b
            st.blk_ts[b] = ts
            st.blk_row[b] = u.row
            st.blk_qty[b] = q - old
            st.blk_base[b] = old
            st.blk_ticks[b] = behind
            st.blk_mid[b] = u.mid
        return n_cands
    if q >= old or st.blk_base[b] + st.blk_qty[b] - q < p.spoof_pulled_frac * st.blk_qty[b]:
        return n_cands
    if n_cands < cands.shape[0]:
        rec = cands[n_cands]
        rec["side"] = sd
        rec["price"] = (p.level_lo + r) * p.tick_size
        rec["qty"] = st.blk_qty[b]
        rec["base_qty"] = st.blk_base[b]
        rec["left_qty"] = q
        rec["place_ts"] = st.blk_ts[b]
        rec["pull_ts"] = ts
        rec["place_row"] = st.blk_row[b]
        rec["pull_row"] = u.row
        rec["place_ticks"] = st.blk_ticks[b]
        rec["pull_ticks"] = behind
        rec["place_mid"] = st.blk_mid[b]
        rec["pull_mid"] = u.mid
    st.free[st.n_free[0]] = b
    st.n_free[0] += 1
    st.block[sd, c] = -1
    return n_cands + 1


@njit(cache=True, nogil=True)
def _apply_event(
    st: BookState,
    diffs: DiffColumns,
    start: int,
    stop: int,
    p: BookParams,
    cands: np.ndarray,
    n_cands: int,
) -> int:
    """Apply diff rows ``start:stop`` (one event); return the candidate count."""
    mid = 0.5 * (2 * p.level_lo + st.best[0] + st.best[1]) * p.tick_size
    for row in range(start, stop):
        sd = diffs.side[row]
        r = diffs.level[row]
        q = diffs.qty[row]
        c, old = set_level_nb(st, sd, r, q, p.n_levels)
        if c >= 0:
            u = LevelUpdate(sd, c, r, q, old, row, diffs.local_ts[row], mid)
            n_cands = _track_block(st, u, p, cands, n_cands)
    return n_cands


@njit(cache=True, nogil=True)
def _first_event_ok(first: int, last: int, prev: int, snap_id: int) -> bool:
    if prev >= 0:  # futures: the event that contains lastUpdateId
        return first <= snap_id <= last
    return first <= snap_id + 1 <= last


@njit(cache=True, nogil=True)
def _sequence(first: int, last: int, pu: int, snap_id: int, synced: bool, last_u: int) -> int:
    """The status of an event against the loaded snapshot and the last applied event."""
    if not synced:
        if last < snap_id or (last == snap_id and pu < 0):
            return STATUS_STALE
        if not _first_event_ok(first, last, pu, snap_id):
            return STATUS_GAP
        return STATUS_APPLIED
    if (pu >= 0 and pu != last_u) or (pu < 0 and first != last_u + 1):
        return STATUS_GAP
    return STATUS_APPLIED


@njit(cache=True, nogil=True)
def replay_nb(
    diffs: DiffColumns, snaps: SnapshotColumns, p: BookParams, max_candidates: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Replay ``diffs`` on ``snaps``.

    Returns (events ``(e,)`` EVENT_DTYPE, candidates ``(≤ max_candidates,)`` CANDIDATE_DTYPE,
    the number of candidates found, which may exceed ``max_candidates``). Diff rows must be
    in arrival order with an event's rows contiguous. An event's best prices and features
    are the book's state after it; NaN while the book is invalid.
    """
    n = diffs.local_ts.shape[0]
    n_events = 0
    for r in range(n):
        if r == n - 1 or diffs.last_id[r + 1] != diffs.last_id[r]:
            n_events += 1
    events = np.empty(n_events, dtype=EVENT_DTYPE)
    cands = np.empty(max_candidates, dtype=CANDIDATE_DTYPE)
    n_cands = 0
    st = new_state_nb(p)
    n_snaps = snaps.local_ts.shape[0]
    snap = 0
    load_snapshot_nb(st, snaps, 0, p)
    snap_id = snaps.last_id[0]
    known_from = snaps.local_ts[0]  # the loaded snapshot's arrival: the book is unknown before
    synced = False  # a first event has been applied since the last snapshot load
    valid = True  # False after a gap when no later snapshot exists
    last_u = -1
    prev = np.full(4, np.nan)  # best bid px, qty, best ask px, qty after the previous event
    e = 0
    start = 0
    for r in range(n):
        if not (r == n - 1 or diffs.last_id[r + 1] != diffs.last_id[r]):
            continue
        first = diffs.first_id[start]
        last = diffs.last_id[start]
        pu = diffs.prev_id[start]
        ts = diffs.local_ts[start]
        status = _sequence(first, last, pu, snap_id, synced, last_u) if valid else STATUS_UNSYNCED
        if status == STATUS_GAP:
            # Resync from the first snapshot requested after the gap; as a live client buffers
            # the stream meanwhile, events (this one included) apply to it by their ids, but
            # the book is only known once that snapshot has arrived.
            nxt = snap + 1
            while nxt < n_snaps and snaps.local_ts[nxt] < ts:
                nxt += 1
            valid = nxt < n_snaps
            if valid:
                snap = nxt
                load_snapshot_nb(st, snaps, snap, p)
                snap_id = snaps.last_id[snap]
                known_from = snaps.local_ts[snap]
                synced = False
                if _sequence(first, last, pu, snap_id, synced, last_u) == STATUS_APPLIED:
                    synced = True
                    last_u = last
                    n_cands = _apply_event(st, diffs, start, r + 1, p, cands, n_cands)
        elif status == STATUS_APPLIED:
            synced = True
            last_u = last
            n_cands = _apply_event(st, diffs, start, r + 1, p, cands, n_cands)
        if status != STATUS_GAP and valid and ts < known_from:
            status = STATUS_UNSYNCED  # applied or dropped, but the snapshot is still on its way
        head = EventHead(ts, first, last, r + 1, status, snap if valid else -1)
        _record(events[e], st, p, head, status == STATUS_APPLIED, prev)
        e += 1
        start = r + 1
    return events, cands, n_cands


@njit(cache=True, nogil=True)
def step_event_nb(
    st: BookState,
    diffs: DiffColumns,
    p: BookParams,
    seq: np.ndarray,
    prev: np.ndarray,
    cands: np.ndarray,
    rec: np.ndarray,
) -> int:
    """Apply one live depth event (every row of ``diffs``) as :func:`replay_nb` would.

    ``seq`` ``(3,)`` int64 is the sequencing state (the loaded snapshot's lastUpdateId, 1 once
    an event has been applied since it, the last applied ``u``); ``prev`` ``(4,)`` the previous
    top of book (for the OFI); ``rec`` a ``(1,)`` EVENT_DTYPE array that receives the event.
    Returns the number of spoofing candidates written to ``cands`` (from 0). On a gap nothing
    is applied: the caller loads a new snapshot (:func:`load_snapshot_nb`) and resets ``seq``.
    """
    n = diffs.local_ts.shape[0]
    first, last, pu = diffs.first_id[0], diffs.last_id[0], diffs.prev_id[0]
    status = _sequence(first, last, pu, seq[0], seq[1] == 1, seq[2])
    n_cands = 0
    if status == STATUS_APPLIED:
        seq[1] = 1
        seq[2] = last
        n_cands = _apply_event(st, diffs, 0, n, p, cands, 0)
    head = EventHead(diffs.local_ts[0], first, last, n, status, 0)
    _record(rec[0], st, p, head, status == STATUS_APPLIED, prev)
    return n_cands


@njit(cache=True, nogil=True)
def step_levels_nb(
    st: BookState,
    p: BookParams,
    live: StreamState,
    head: np.ndarray,
    bids: np.ndarray,
    asks: np.ndarray,
) -> int:
    """:func:`step_event_nb` on an event given as prices (``live``: its other arrays); ``head`` ``(4,)`` int64 is
    (``U``, ``u``, ``pu``, local time ns), ``bids``/``asks`` ``(m, 2)`` price, quantity. Levels
    outside the grid (``level_lo`` excluded, up to ``n_levels``) are skipped; an event left
    with no row still moves the ids (a no-op row on level ``0``, which is never held)."""
    m = bids.shape[0] + asks.shape[0]
    side = np.zeros(max(m, 1), dtype=np.int8)
    level = np.zeros(max(m, 1), dtype=np.int64)
    qty = np.zeros(max(m, 1))
    n = 0
    for sd in range(2):
        rows = bids if sd == 0 else asks
        for i in range(rows.shape[0]):
            r = np.int64(np.rint(rows[i, 0] / p.tick_size)) - p.level_lo
            if 0 < r < p.n_levels:
                side[n] = sd
                level[n] = r
                qty[n] = rows[i, 1]
                n += 1
    n = max(n, 1)
    diffs = DiffColumns(
        np.full(n, head[3], dtype=np.int64),
        np.full(n, head[0], dtype=np.int64),
        np.full(n, head[1], dtype=np.int64),
        np.full(n, head[2], dtype=np.int64),
        side[:n],
        level[:n],
        qty[:n],
    )
    return step_event_nb(st, diffs, p, live.seq, live.prev, live.cands, live.rec)


@njit(cache=True, nogil=True)
def _record(
    rec: np.void, st: BookState, p: BookParams, head: EventHead, ok: bool, prev: np.ndarray
) -> None:
    """Fill one event record with the book's top and features (NaN when not ``ok``)."""
    rec["local_ts"] = head.ts
    rec["first_id"] = head.first
    rec["last_id"] = head.last
    rec["row_end"] = head.row_end
    rec["status"] = head.status
    rec["snapshot"] = head.snapshot
    bb, bq = best_nb(st, 0, p.n_levels)
    ba, aq = best_nb(st, 1, p.n_levels)
    if not ok or bq != bq or aq != aq:
        rec["bid_px"] = np.nan
        rec["bid_qty"] = np.nan
        rec["ask_px"] = np.nan
        rec["ask_qty"] = np.nan
        rec["bid_depth"] = np.nan
        rec["ask_depth"] = np.nan
        rec["bid_slope"] = np.nan
        rec["ask_slope"] = np.nan
        rec["ofi"] = np.nan
        prev[:] = np.nan
        return
    bpx = (p.level_lo + bb) * p.tick_size
    apx = (p.level_lo + ba) * p.tick_size
    mid = 0.5 * (bpx + apx)
    rec["bid_px"] = bpx
    rec["bid_qty"] = bq
    rec["ask_px"] = apx
    rec["ask_qty"] = aq
    d, s = _side_stats(st, 0, p, mid)
    rec["bid_depth"] = d
    rec["bid_slope"] = s
    d, s = _side_stats(st, 1, p, mid)
    rec["ask_depth"] = d
    rec["ask_slope"] = s
    # Cont, Kukanov & Stoikov (2014): bid-side inflow minus ask-side inflow at the touch
    ofi = 0.0
    if prev[0] == prev[0]:
        if bpx >= prev[0]:
            ofi += bq
        if bpx <= prev[0]:
            ofi -= prev[1]
        if apx <= prev[2]:
            ofi -= aq
        if apx >= prev[2]:
            ofi += prev[3]
    rec["ofi"] = ofi
    prev[0] = bpx
    prev[1] = bq
    prev[2] = apx
    prev[3] = aq
