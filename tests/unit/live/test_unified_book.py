"""ccxt's unified books → depth steps: the first book and any book after a break are snapshots,
later ones the levels that changed; the builder's book then equals ccxt's top levels."""

from __future__ import annotations

import numpy as np

from grekko_research.analysis.book_nb import STATUS_APPLIED
from grekko_research.analysis.stream import StreamingBook
from live.unified_book import UnifiedDepth


def book(
    bids: list[tuple[float, float]], asks: list[tuple[float, float]], nonce: int | None = None
):  # type: ignore[no-untyped-def]
    return {"bids": [list(b) for b in bids], "asks": [list(a) for a in asks], "nonce": nonce}


def test_books_become_a_snapshot_then_events_the_builder_follows() -> None:
    u = UnifiedDepth(limit=3)
    books = [
        book([(100.0, 1), (99.0, 2), (98.0, 3)], [(101.0, 1), (102.0, 2)], nonce=5),
        book([(100.0, 1.5), (99.0, 2), (98.0, 3)], [(101.0, 1), (102.0, 2)], nonce=6),
        # a better bid pushes 98 out of the top 3: it leaves our view (quantity 0)
        book([(100.5, 4), (100.0, 1.5), (99.0, 2), (98.0, 3)], [(102.0, 2)], nonce=7),
        book([(100.5, 4), (100.0, 1.5), (99.0, 2)], [(102.0, 2)], nonce=8),  # nothing changed
    ]
    sb = StreamingBook(0.5, max_price=1000.0, depth_k=3)
    steps = [u.step(b) for b in books]
    assert [s.kind for s in steps] == ["snapshot", "event", "event", "none"]
    s0 = steps[0]
    sb.load_snapshot(s0.first, s0.bids, s0.asks, 0)
    for i, s in enumerate(steps[1:3], start=1):
        rec = sb.apply(s.first, s.last, -1, s.bids, s.asks, i)
        assert rec["status"] == STATUS_APPLIED
    assert (rec["bid_px"], rec["bid_qty"], rec["ask_px"], rec["ask_qty"]) == (100.5, 4, 102.0, 2)
    assert rec["bid_depth"] == 4 + 1.5 + 2  # 98 left the top 3
    np.testing.assert_array_equal(steps[2].asks, [[101.0, 0.0]])


def test_a_break_makes_the_next_book_a_snapshot() -> None:
    u = UnifiedDepth(limit=10)
    b = book([(100.0, 1)], [(101.0, 1)], nonce=10)
    assert u.step(b).kind == "snapshot"
    assert u.step(book([(100.0, 2)], [(101.0, 1)], nonce=11)).kind == "event"
    back = u.step(book([(100.0, 3)], [(101.0, 1)], nonce=3))  # ccxt rebuilt from a new snapshot
    assert back.kind == "snapshot" and back.resync
    u.reset()  # the watch raised
    assert u.step(book([(100.0, 3)], [(101.0, 2)], nonce=4)).kind == "snapshot"
    assert u.step(book([(101.0, 3)], [(100.0, 2)], nonce=5)).kind == "none"  # crossed
    after = u.step(book([(100.0, 3)], [(101.0, 2)], nonce=6))
    assert after.kind == "snapshot" and after.resync
    ids = [after.first]
    ids.append(u.step(book([(100.0, 4)], [(101.0, 2)], nonce=7)).first)
    assert ids[1] == ids[0] + 1  # the builder's sequence never gaps on its own
