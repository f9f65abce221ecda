"""The L2 book builder: sequencing, resync, features and spoofing candidates on known cases,
a differential test against a plain-Python book, and every real capture against its bookTicker."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from grekko_research.analysis.book import (
    BookReplay,
    compare_top_of_book,
    rebuild_book,
    spoofing_candidates,
)
from grekko_research.analysis.captures import (
    DepthDiffs,
    DepthSnapshots,
    OrderBookCapture,
    Trades,
    read_capture,
    read_depth_diffs,
)
from grekko_research.errors import DataError
from tests.unit.analysis.conftest import BTC_SPOT

Row = tuple[int, int, int, int, str, float, float]  # ts, U, u, pu, side, price, qty


def snapshots(*snaps: tuple[int, int, list[tuple[str, float, float]]]) -> DepthSnapshots:
    """Snapshots from (local ts, lastUpdateId, [(side, price, qty), ...])."""
    rows = [(ts, uid, s, p, q) for ts, uid, levels in snaps for s, p, q in levels]
    starts = np.cumsum([0] + [len(levels) for _, _, levels in snaps])
    return DepthSnapshots(
        local_ts=np.array([s[0] for s in snaps], np.int64),
        last_update_id=np.array([s[1] for s in snaps], np.int64),
        start=starts.astype(np.int64),
        side=np.array([0 if r[2] == "bid" else 1 for r in rows], np.int8),
        price=np.array([r[3] for r in rows], float),
        qty=np.array([r[4] for r in rows], float),
    )


def diffs(rows: list[Row]) -> DepthDiffs:
    a = np.array([(r[0], r[1], r[2], r[3], r[5], r[6]) for r in rows], dtype=float)
    return DepthDiffs(
        local_ts=a[:, 0].astype(np.int64),
        event_ts=a[:, 0].astype(np.int64) // 1_000_000,
        first_update_id=a[:, 1].astype(np.int64),
        last_update_id=a[:, 2].astype(np.int64),
        prev_last_update_id=a[:, 3].astype(np.int64),
        side=np.array([0 if r[4] == "bid" else 1 for r in rows], np.int8),
        price=a[:, 4],
        qty=a[:, 5],
    )


def capture(snaps: DepthSnapshots, d: DepthDiffs, trades: Trades | None = None) -> OrderBookCapture:
    return OrderBookCapture("synthetic", snaps, d, None, trades)


BOOK = [("bid", 100.0, 1.0), ("bid", 99.0, 2.0), ("ask", 101.0, 1.5), ("ask", 102.0, 3.0)]
S = 1_000_000_000  # ns per second


def test_spot_sequencing_gap_and_resync() -> None:
    snaps = snapshots(
        (10 * S, 100, BOOK),
        (50 * S, 200, [("bid", 90.0, 1.0), ("ask", 91.0, 1.0)]),
    )
    rows: list[Row] = [
        (11 * S, 90, 100, -1, "bid", 100.0, 7.0),  # stale: u <= 100
        (12 * S, 95, 105, -1, "bid", 100.5, 1.0),  # first: 95 <= 101 <= 105
        (13 * S, 106, 110, -1, "ask", 101.0, 0.0),  # contiguous; deletes the best ask
        (14 * S, 115, 120, -1, "ask", 100.7, 4.0),  # gap: expected U = 111
        (40 * S, 121, 130, -1, "bid", 100.0, 9.0),  # no snapshot since the gap yet
        (60 * S, 150, 199, -1, "bid", 88.0, 1.0),  # stale for snapshot 200
        (61 * S, 195, 205, -1, "ask", 90.5, 2.0),  # first after resync
        (62 * S, 206, 210, -1, "bid", 90.2, 3.0),
    ]
    ev = rebuild_book(capture(snaps, diffs(rows))).events
    assert ev["status"].tolist() == [
        "stale", "applied", "applied", "gap", "unsynced", "stale", "applied", "applied"
    ]  # fmt: skip
    assert ev["snapshot"].tolist() == [0, 0, 0, 1, 1, 1, 1, 1]  # resynced from the next one
    got = ev[["bid_px", "bid_qty", "ask_px", "ask_qty"]].to_numpy()
    np.testing.assert_array_equal(got[1], [100.5, 1.0, 101.0, 1.5])
    np.testing.assert_array_equal(got[2], [100.5, 1.0, 102.0, 3.0])
    assert np.isnan(got[3:6]).all()  # invalid from the gap until the resync
    np.testing.assert_array_equal(got[6], [90.0, 1.0, 90.5, 2.0])
    np.testing.assert_array_equal(got[7], [90.2, 3.0, 90.5, 2.0])


def test_futures_sequencing_uses_pu() -> None:
    snaps = snapshots((0, 1000, BOOK))
    rows: list[Row] = [
        (1, 900, 990, 880, "bid", 100.0, 5.0),  # stale: u < 1000
        (2, 995, 1000, 990, "bid", 100.0, 1.0),  # U <= 1000 <= u: the first (futures rule)
        (3, 1007, 1012, 1000, "bid", 100.2, 1.0),  # ids jump, pu chains: fine
        (4, 1020, 1030, 1015, "bid", 100.3, 1.0),  # pu 1015 != 1012: gap
    ]
    ev = rebuild_book(capture(snaps, diffs(rows))).events
    assert ev["status"].tolist() == ["stale", "applied", "applied", "gap"]
    assert ev["bid_px"].iloc[2] == 100.2


def test_first_event_must_straddle_the_snapshot() -> None:
    snaps = snapshots((0, 100, BOOK))
    ev = rebuild_book(capture(snaps, diffs([(1, 103, 110, -1, "bid", 100.0, 1.0)]))).events
    assert ev["status"].tolist() == ["gap"]  # 101 and 102 were lost


def test_features_by_hand() -> None:
    snaps = snapshots((0, 100, BOOK))
    rows: list[Row] = [
        (1, 101, 101, -1, "bid", 100.0, 3.0),  # best bid size 1 -> 3 at the same price
        (2, 102, 102, -1, "ask", 100.5, 0.5),  # a better ask
    ]
    rep = rebuild_book(capture(snaps, diffs(rows)), depth_k=2)
    e = rep.events
    # OFI (Cont et al.): event 2: bid unchanged (+3 - 3), ask improved: -0.5
    np.testing.assert_allclose(e["ofi"].to_numpy(), [0.0, -0.5])
    np.testing.assert_allclose(e["bid_depth"], [5.0, 5.0])
    np.testing.assert_allclose(e["ask_depth"], [4.5, 2.0])
    np.testing.assert_allclose(e["imbalance"], [0.5 / 9.5, 3.0 / 7.0])
    last = e.iloc[1]
    assert last["microprice"] == pytest.approx((100.0 * 0.5 + 100.5 * 3.0) / 3.5)
    assert last["bid_px"] < last["microprice"] < last["ask_px"]
    # slope: cumulative depth per bp from the mid, least squares through the origin
    mid = 100.25
    x = np.array([0.25, 1.25]) / mid * 1e4
    y = np.array([3.0, 5.0])
    assert last["bid_slope"] == pytest.approx((x * y).sum() / (x * x).sum())


def python_book(snaps: DepthSnapshots, d: DepthDiffs, k: int) -> list[tuple[float, ...]]:
    """The reference: dicts, every event applied (the stream is contiguous)."""
    books: list[dict[float, float]] = [{}, {}]
    for s, p, q in zip(snaps.side, snaps.price, snaps.qty, strict=True):
        books[s][p] = q
    out = []
    ids = d.last_update_id
    for i in range(len(ids)):
        s, p, q = int(d.side[i]), float(d.price[i]), float(d.qty[i])
        if q == 0:
            books[s].pop(p, None)
        else:
            books[s][p] = q
        if i == len(ids) - 1 or ids[i + 1] != ids[i]:
            bids = sorted(books[0].items(), reverse=True)
            asks = sorted(books[1].items())
            out.append(
                (
                    bids[0][0],
                    bids[0][1],
                    asks[0][0],
                    asks[0][1],
                    sum(q for _, q in bids[:k]),
                    sum(q for _, q in asks[:k]),
                )
            )
    return out


def test_matches_a_plain_python_book_on_random_streams() -> None:
    """Levels from 0.01 to 2,000 in cents (many pages, most never touched), a busy touch, and
    sweeps that empty the touch so the best price falls back across untouched pages."""
    rng = np.random.default_rng(7)
    levels = [("bid", 999.0 - i * 0.37, 1.0 + i) for i in range(50)]
    levels += [("ask", 1001.0 + i * 0.41, 2.0 + i) for i in range(50)]
    snaps = snapshots((0, 10, levels))
    rows: list[Row] = []
    uid = 11
    for e in range(3000):
        if e % 300 == 299:  # a sweep: the touch of one side empties, the best falls back far
            side = "bid" if e % 600 == 299 else "ask"
            for i in range(1, 400):
                price = round(1000.0 - i * 0.01 if side == "bid" else 1000.0 + i * 0.01, 2)
                rows.append((e, uid, uid + 2, -1, side, price, 0.0))
            for i in range(50):  # and the snapshot's levels too
                price = round(999.0 - i * 0.37 if side == "bid" else 1001.0 + i * 0.41, 2)
                rows.append((e, uid, uid + 2, -1, side, price, 0.0))
            uid += 3
            continue
        for _ in range(int(rng.integers(1, 6))):
            side = "bid" if rng.random() < 0.5 else "ask"
            far = rng.random() < 0.1
            if side == "bid":
                price = round(
                    rng.uniform(0.01, 990.0) if far else 1000.0 - rng.integers(1, 400) * 0.01, 2
                )
            else:
                price = round(
                    rng.uniform(1010.0, 2000.0) if far else 1000.0 + rng.integers(1, 400) * 0.01, 2
                )
            qty = 0.0 if rng.random() < 0.4 else float(rng.integers(1, 100)) / 10
            rows.append((e, uid, uid + 2, -1, side, price, qty))
        uid += 3
    d = diffs(rows)
    rep = rebuild_book(capture(snaps, d), depth_k=5)
    assert (rep.events["status"] == "applied").all()
    got = rep.events[
        ["bid_px", "bid_qty", "ask_px", "ask_qty", "bid_depth", "ask_depth"]
    ].to_numpy()
    want = np.array(python_book(snaps, d, 5))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


def test_bad_rows_are_named(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "x_depth_diffs.csv"
    path.write_text(
        "local_ts_ns,event_ts_ms,first_update_id,last_update_id,prev_last_update_id,side,price,qty\n"
        "1,1,1,1,-1,bid,100.0,1.0\n2,2,2,2,-1,buy,100.0,1.0\n"
    )
    with pytest.raises(DataError, match="row 3: side must be 'bid' or 'ask'"):
        read_depth_diffs(path)
    snaps = snapshots((0, 100, BOOK))
    with pytest.raises(DataError, match=r"off the 0\.5 grid"):
        rebuild_book(capture(snaps, diffs([(1, 101, 101, -1, "bid", 100.25, 1.0)])), tick_size=0.5)


def test_a_capture_is_read_by_name_never_by_path(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A name that walks out of ``orderbook/`` reads nothing there, even if the files exist."""
    header = "local_ts_ns,event_ts_ms,last_update_id,side,price,qty\n"
    (tmp_path / "orderbook").mkdir()
    (tmp_path / "outside_depth_snapshot.csv").write_text(header)
    (tmp_path / "outside_depth_diffs.csv.gz").write_bytes(b"")
    for name in ("../outside", str(tmp_path / "outside"), "nothing"):
        with pytest.raises(DataError, match="no depth capture"):
            read_capture(tmp_path, name)


def trades(rows: list[tuple[int, float, float]]) -> Trades:
    a = np.array(rows, dtype=float).reshape(-1, 3)
    return Trades(
        local_ts=a[:, 0].astype(np.int64),
        trade_ts=a[:, 0].astype(np.int64) // 1_000_000,
        price=a[:, 1],
        qty=a[:, 2],
        buyer_maker=np.zeros(len(a), bool),
    )


def test_spoofing_candidates_known_cases() -> None:
    snaps = snapshots((0, 100, BOOK))
    rows: list[Row] = [
        (1 * S, 101, 101, -1, "ask", 103.0, 50.0),  # big block 2 ticks (tick 1.0) behind the touch
        (2 * S, 102, 102, -1, "ask", 103.0, 0.0),  # pulled 1 s later, nothing traded: a candidate
        (3 * S, 103, 103, -1, "bid", 98.0, 40.0),  # big bid
        (4 * S, 104, 104, -1, "bid", 98.0, 0.0),  # gone, but 40 traded at 98: fills, not a pull
        (5 * S, 105, 105, -1, "ask", 104.0, 60.0),  # big ask
        (200 * S, 106, 106, -1, "ask", 104.0, 0.0),  # pulled after the 60 s limit: not counted
        (201 * S, 107, 107, -1, "ask", 102.0, 33.0),  # 30 added on top of 3
        (202 * S, 108, 108, -1, "ask", 102.0, 10.0),  # 23 of 30 gone (77% < 90%): not a pull
    ]
    cap = capture(snaps, diffs(rows), trades([(int(3.5 * S), 98.0, 40.0)]))
    rep = rebuild_book(cap, spoof_min_qty=20.0)
    assert len(rep.candidates) == 2  # the ask at 103 and the bid at 98
    got = spoofing_candidates(rep, cap.trades)
    assert len(got) == 1
    c = got.iloc[0]
    assert (c["side"], c["price"], c["qty"], c["place_ticks"], c["life_s"]) == (
        "ask",
        103.0,
        50.0,
        2,
        1.0,
    )
    assert c["traded_qty"] == 0.0
    assert c["notional"] == 50.0 * 103.0
    assert c["place_bps"] == pytest.approx((103.0 / 100.5 - 1) * 1e4)  # mid 100.5 when placed
    assert spoofing_candidates(rep, cap.trades, max_distance_bps=200.0).empty
    assert len(spoofing_candidates(rep, cap.trades, max_distance_bps=300.0)) == 1


def test_every_capture_rebuilds_to_the_recorded_top_of_book(captures, replays) -> None:  # type: ignore[no-untyped-def]
    """Every valid event's best bid/ask equals Binance's bookTicker at the same update id,
    except where the diff stream itself never showed the ticker's level (explained below)."""
    for name, cap in captures.items():
        rep: BookReplay = replays[name]
        assert len(rep.gaps) == 0, f"{name}: {len(rep.gaps)} sequence gaps"
        # before the snapshot arrived: events buffered (unsynced) or already in it (stale)
        head = rep.events["local_ts"] < cap.snapshots.local_ts[0]
        assert rep.events.loc[head, "status"].isin(["unsynced", "stale"]).all()
        assert rep.events.loc[~head, "status"].isin(["applied", "stale"]).all()
        assert cap.bbo is not None
        check = compare_top_of_book(rep, cap.bbo)
        assert check.compared == len(rep.valid) > 3000, name
        assert check.before_first_ticker == 0
        assert check.qty_matches >= check.compared - 2, (name, check.mismatches)
        for m in check.mismatches.itertuples():
            _assert_explained(cap, rep, m)


def _assert_explained(cap: OrderBookCapture, rep: BookReplay, m) -> None:  # type: ignore[no-untyped-def]
    """A mismatch is explained when the ticker shows a level the depth stream never added in
    that event and a trade of exactly that size at that price follows within 50 ms: an order
    that rested for a few ms between two 100 ms depth pushes and was filled."""
    side, px, qty = (
        (0, m.ticker_bid_price, m.ticker_bid_qty)
        if m.ticker_bid_price != m.bid_px
        else (1, m.ticker_ask_price, m.ticker_ask_qty)
    )
    ev = rep.events.set_index("last_id").loc[m.last_id]
    start = int(ev["row_end"]) - int((cap.diffs.last_update_id == m.last_id).sum())
    rows = slice(start, int(ev["row_end"]))
    d = cap.diffs
    added = (d.side[rows] == side) & (np.abs(d.price[rows] - px) < 1e-9) & (d.qty[rows] > 0)
    assert not added.any(), f"the diff stream did add {px}: an unexplained mismatch {m}"
    assert cap.trades is not None
    near = (np.abs(cap.trades.price - px) < 1e-9) & (np.abs(cap.trades.qty - qty) < 1e-12)
    lag = cap.trades.local_ts[near] - m.ticker_local_ts
    assert ((lag >= 0) & (lag < 50_000_000)).any(), f"no fill of {qty} at {px} within 50 ms: {m}"


def test_real_spoofing_candidates_carry_their_evidence(captures, replays) -> None:  # type: ignore[no-untyped-def]
    cap, rep = captures[BTC_SPOT], replays[BTC_SPOT]
    got = spoofing_candidates(rep, cap.trades)
    assert 0 < len(got) <= len(rep.candidates)
    assert (got["qty"] >= rep.spoof_min_qty).all()
    assert (got["life_s"] <= 60.0).all() and (got["life_s"] > 0).all()
    assert (got["traded_qty"] <= 0.05 * got["qty"]).all()
    assert ((got["qty"] + got["base_qty"] - got["left_qty"]) >= 0.9 * got["qty"] - 1e-9).all()
    assert set(got["side"]) == {"bid", "ask"}
    # the rows point at the real diff rows that placed and pulled each block
    px = cap.diffs.price
    np.testing.assert_allclose(px[got["place_row"].to_numpy()], got["price"])
    np.testing.assert_allclose(px[got["pull_row"].to_numpy()], got["price"])
    assert isinstance(got, pd.DataFrame)
