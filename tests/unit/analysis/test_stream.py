"""The streaming book and feature recorder: event by event, they give exactly what the replay and
the research sources give on the real captures (so a live runner's features equal the backtest's)."""

from __future__ import annotations

import numpy as np
import pytest

from grekko_research.analysis.book import BookReplay, spoofing_candidates
from grekko_research.analysis.book_nb import STATUS_APPLIED, STATUS_GAP
from grekko_research.analysis.captures import OrderBookCapture
from grekko_research.analysis.features import (
    BOOK_FIELDS,
    FEATURES,
    BookFeatureParams,
    TradeFlowParams,
    book_sources,
    trade_sources,
)
from grekko_research.analysis.flow import TRADE_FIELDS
from grekko_research.analysis.stream import FeatureRecorder, StreamingBook
from grekko_research.errors import ConfigError
from tests.unit.analysis.conftest import BTC_SPOT
from tests.unit.analysis.test_features import trade_bars


def events_of(
    cap: OrderBookCapture,
) -> list[tuple[int, int, int, int, int, np.ndarray, np.ndarray]]:
    """The capture's depth events: (start row, U, u, pu, local ts, bids, asks)."""
    d = cap.diffs
    u = d.last_update_id
    cut = np.flatnonzero(np.r_[u[1:] != u[:-1], True]) + 1
    out = []
    start = 0
    for stop in cut:
        rows = slice(start, stop)
        side = d.side[rows]
        lv = np.column_stack([d.price[rows], d.qty[rows]])
        out.append(
            (
                start,
                int(d.first_update_id[start]),
                int(u[start]),
                int(d.prev_last_update_id[start]),
                int(d.local_ts[start]),
                lv[side == 0],
                lv[side == 1],
            )
        )
        start = stop
    return out


def stream(
    cap: OrderBookCapture, tick: float
) -> tuple[StreamingBook, FeatureRecorder, list[np.void], np.ndarray]:
    """Feed the capture as a live client would, depth events and trades in arrival order
    (a trade before a depth event received in the same ns): buffer events until the snapshot
    arrives; record the spoofing candidates the trades do not explain."""
    snaps, t = cap.snapshots, cap.trades
    assert snaps.count >= 1 and t is not None
    first = slice(snaps.start[0], snaps.start[1])
    side = snaps.side[first]
    lv = np.column_stack([snaps.price[first], snaps.qty[first]])
    book = StreamingBook(tick, max_price=1_000_000.0)
    rec = FeatureRecorder()
    records: list = []
    raw = []
    loaded = False
    events = events_of(cap)
    ev_ts = np.array([e[4] for e in events])
    order = np.argsort(np.r_[t.local_ts, ev_ts], kind="stable")  # trades first on ties
    n_trades = len(t)
    for k in order:
        if k < n_trades:
            rec.on_trade(
                "BTC/USDT",
                int(t.local_ts[k]),
                int(t.trade_ts[k]),
                float(t.price[k]),
                float(t.qty[k]),
                bool(t.buyer_maker[k]),
            )
            continue
        _, U, u, pu, ts, bids, asks = events[k - n_trades]
        if not loaded and ts >= snaps.local_ts[0]:
            book.load_snapshot(
                int(snaps.last_update_id[0]), lv[side == 0], lv[side == 1], int(snaps.local_ts[0])
            )
            loaded = True
            for r in records:  # the buffered events, applied by their ids, not recorded
                book.apply(*r)
            records = []
        if not loaded:
            records.append((U, u, pu, bids, asks, ts))
            continue
        out = book.apply(U, u, pu, bids, asks, ts)
        rec.on_event("BTC/USDT", out)
        records.append(out)
        for cands in book.candidates:
            for c in cands:
                raw.append(c)
                rec.on_candidate("BTC/USDT", c, tick)
        book.candidates.clear()
    return book, rec, records, np.array(raw)


@pytest.fixture(scope="module")
def streamed(captures: dict[str, OrderBookCapture], replays: dict[str, BookReplay]):  # type: ignore[no-untyped-def]
    cap, rep = captures[BTC_SPOT], replays[BTC_SPOT]
    return (cap, rep, *stream(cap, rep.tick_size))


def test_streamed_events_equal_the_replay(streamed) -> None:  # type: ignore[no-untyped-def]
    _, rep, _, _, records, _ = streamed
    valid = rep.valid
    mine = np.array([r for r in records if r["status"] == STATUS_APPLIED])
    assert len(mine) == len(valid) > 6000
    for f in (
        "local_ts",
        "last_id",
        "bid_px",
        "bid_qty",
        "ask_px",
        "ask_qty",
        "bid_depth",
        "ask_depth",
        "bid_slope",
        "ask_slope",
        "ofi",
    ):
        np.testing.assert_array_equal(mine[f], valid[f].to_numpy(), err_msg=f)


def test_streamed_sources_give_the_research_features(streamed) -> None:  # type: ignore[no-untyped-def]
    cap, rep, _, rec, _, _ = streamed
    bars = trade_bars(cap)
    live = rec.sources()
    research = book_sources({"BTC/USDT": rep}, {"BTC/USDT": spoofing_candidates(rep, cap.trades)})
    for field in BOOK_FIELDS:
        p = BookFeatureParams(field)
        np.testing.assert_array_equal(
            FEATURES["book"].compute(bars, p, live), FEATURES["book"].compute(bars, p, research)
        )
    tr = trade_sources({"BTC/USDT": cap.trades})
    for field in TRADE_FIELDS:
        p2 = TradeFlowParams(field)
        np.testing.assert_array_equal(
            FEATURES["trade_flow"].compute(bars, p2, live),
            FEATURES["trade_flow"].compute(bars, p2, tr),
        )


def test_spoofing_candidates_stream_like_the_replay(streamed) -> None:  # type: ignore[no-untyped-def]
    cap, rep, _, rec, _, got = streamed
    assert len(got) == len(rep.candidates) > 1000
    np.testing.assert_array_equal(got["pull_ts"], rep.candidates["pull_ts"].to_numpy())
    np.testing.assert_array_equal(got["price"], rep.candidates["price"].to_numpy())
    kept = spoofing_candidates(rep, cap.trades)  # the trades filter, live as in the research
    assert len(rec.sources().table("spoofs:BTC/USDT").known_ms) == len(kept) < len(got)


def test_a_gap_invalidates_until_a_new_snapshot() -> None:
    book = StreamingBook(0.01, 1000.0, spoof_min_qty=100.0)
    book.load_snapshot(10, np.array([[99.0, 1.0], [98.0, 2.0]]), np.array([[101.0, 1.5]]), 0)
    r = book.apply(11, 11, -1, np.array([[99.5, 3.0]]), np.zeros((0, 2)), 1)
    assert r["status"] == STATUS_APPLIED and r["bid_px"] == 99.5 and r["ask_px"] == 101.0
    assert r["ofi"] == 0.0  # the first event after a snapshot has no previous top (as replayed)
    r = book.apply(12, 12, -1, np.array([[99.7, 2.0]]), np.zeros((0, 2)), 1)
    assert r["ofi"] == 2.0  # a better bid: its size flows in (Cont, Kukanov & Stoikov)
    r = book.apply(14, 14, -1, np.array([[99.6, 1.0]]), np.zeros((0, 2)), 2)  # 13 is missing
    assert r["status"] == STATUS_GAP and np.isnan(r["bid_px"]) and not book.synced
    r = book.apply(15, 15, -1, np.zeros((0, 2)), np.zeros((0, 2)), 3)
    assert r["status"] == STATUS_GAP  # still unknown
    book.load_snapshot(15, np.array([[99.0, 1.0]]), np.array([[100.0, 1.0]]), 4)
    r = book.apply(16, 16, -1, np.zeros((0, 2)), np.array([[100.0, 0.0]]), 5)  # deletes the ask
    assert r["status"] == STATUS_APPLIED and np.isnan(r["ask_qty"])


def test_the_grid_grows_when_levels_spread() -> None:
    book = StreamingBook(0.01, 100_000.0, page_capacity=1)
    bids = np.column_stack([np.arange(1, 2001) * 10.0, np.ones(2000)])  # 2,000 pages apart
    book.load_snapshot(1, bids, np.array([[30_000.0, 1.0]]), 0)
    assert book.params.page_capacity >= 2000 and book.synced
    r = book.apply(2, 2, -1, np.array([[20_000.5, 1.0]]), np.zeros((0, 2)), 1)
    assert r["bid_px"] == 20_000.5


def test_bad_grid_refused() -> None:
    with pytest.raises(ConfigError, match="tick_size"):
        StreamingBook(0.0, 100.0)
