"""The live feed keeps the depth event that broke the sequence and applies it to the resync
snapshot by its ids, as the research replay does (it used to drop it, and then gapped again)."""

from __future__ import annotations

import asyncio
from typing import Any

from live.market_feed import MarketAnalysisFeed


def depth(first: int, last: int, bids: list[list[str]], asks: list[list[str]]) -> dict[str, Any]:
    return {"e": "depthUpdate", "E": 1, "s": "XY", "U": first, "u": last, "b": bids, "a": asks}


def test_the_gapped_event_applies_to_the_resync_snapshot() -> None:
    async def scenario() -> MarketAnalysisFeed:
        feed = MarketAnalysisFeed(None, [])  # messages handed over here, snapshots too
        feed.add_symbol("X/Y", "XY", 0.5)
        feed.load_snapshot("X/Y", 100, [["100", "1"]], [["101", "1"]])
        feed.on_message(depth(101, 101, [["100", "2"]], []))
        feed.on_message(depth(105, 106, [["99.5", "3"]], []))  # 102..104 never came: a gap
        assert not feed.synced("X/Y") and feed.stats.gaps == 1
        await asyncio.sleep(0)  # the resync's REST call fails here (no client): logged
        feed.load_snapshot("X/Y", 104, [["100", "2"]], [["101", "1"]])  # its answer
        feed.on_message(depth(107, 107, [], [["101", "2"]]))
        return feed

    feed = asyncio.run(scenario())
    last = feed.last["X/Y"]
    assert feed.synced("X/Y") and feed.stats.gaps == 1
    assert int(last["last_id"]) == 107 and last["ask_qty"] == 2.0
    assert last["bid_depth"] == 2.0 + 3.0  # the gapped event's level is in the book
