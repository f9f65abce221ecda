"""The point-in-time store and alignment: a row is never visible before its knowable time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grekko_research._atomic import PARTIAL_SUFFIX
from grekko_research.alpha.pit import asof_last, bar_sum, check_alt_feature, knowable_ms
from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.errors import ConfigError, DataError, DataNotFoundError

H = 3_600_000
T0 = 1_700_000_000_000 // H * H


def rows(n: int = 200, seed: int = 3) -> pd.DataFrame:
    """Irregular rows over ~50 hours, published up to 3 h after their event."""
    rng = np.random.default_rng(seed)
    event = T0 + np.sort(rng.integers(0, 50 * H, size=n))
    published = event + rng.integers(0, 3 * H, size=n)
    return pd.DataFrame(
        {
            "id": [f"r{i}" for i in range(n)],
            "event_ms": event,
            "published_ms": published,
            "ingested_ms": published + rng.integers(0, 5 * H, size=n),
            "score": rng.normal(size=n),
            "text": [f"post {i}" for i in range(n)],
        }
    )


def test_store_round_trip_dedups_and_keeps_first_ingestion(tmp_path: Path) -> None:
    store = AltStore(tmp_path)
    key = AltKey("reddit", "CryptoCurrency")
    first = rows(50)
    assert store.write(key, first) == (50, 50)
    again = rows(60)
    again["ingested_ms"] += 10 * H  # a later re-download of the same items
    added, total = store.write(key, again, cursor="r59")
    assert (added, total) == (10, 60)
    back = store.read(key)
    assert list(back["published_ms"]) == sorted(back["published_ms"])
    kept = back.set_index("id").loc[first["id"], "ingested_ms"].to_numpy()
    assert np.array_equal(kept, first["ingested_ms"].to_numpy())  # what was known when stays
    assert store.cursor(key) == "r59"
    assert store.series() == [key]
    assert store.span(key) == {
        "rows": 60,
        "first_ms": int(back["published_ms"].min()),
        "last_ms": int(back["published_ms"].max()),
    }
    assert list(back["text"][:1]) == [back["text"].iloc[0]]  # strings survive


def test_store_write_clears_a_killed_writers_partial_and_keeps_its_footer(tmp_path: Path) -> None:
    store = AltStore(tmp_path)
    key = AltKey("x", "BTC")
    store.write(key, rows(5))
    stale = store.path(key).parent / f".{store.path(key).name}.dead{PARTIAL_SUFFIX}"
    stale.write_bytes(b"half a parquet file")
    store.write(key, rows(8), cursor="r7")
    assert not stale.exists()  # the shared atomic writer (grekko_research._atomic) cleared it
    assert len(store.read(key)) == 8
    meta = store.metadata(key)
    assert (meta["source"], meta["entity"], meta["cursor"]) == ("x", "BTC", "r7")


def test_store_refuses_bad_rows_and_writes_nothing(tmp_path: Path) -> None:
    store = AltStore(tmp_path)
    key = AltKey("news", "BTC")
    bad = rows(10)
    bad.loc[4, "published_ms"] = bad.loc[4, "event_ms"] - 1  # stamped before it happened
    with pytest.raises(
        DataError, match=r"news/BTC: row 4 \(id r4\) is published at .* before its event"
    ):
        store.write(key, bad)
    assert not store.exists(key)
    with pytest.raises(DataError, match="lack columns"):
        store.write(key, bad.drop(columns=["ingested_ms"]))
    dup = rows(3)
    dup.loc[2, "id"] = "r0"
    with pytest.raises(DataError, match="duplicate id 'r0'"):
        store.write(key, dup)
    with pytest.raises(DataNotFoundError, match="grekko alpha download news"):
        store.read(key)
    with pytest.raises(ConfigError, match="invalid alternative-data entity"):
        AltKey("news", "a/b")


def test_bar_sum_and_asof_use_only_rows_known_at_the_close() -> None:
    index = T0 + H * np.arange(5, dtype=np.int64)
    # knowable exactly at bar 0's close, just after it, and exactly at bar 2's open
    known = np.array([T0 + H, T0 + H + 1, T0 + 2 * H, T0 + 10 * H], dtype=np.int64)
    vals = np.array([1.0, 2.0, 4.0, 8.0])
    assert list(bar_sum(known, vals, index, H)) == [1.0, 6.0, 0.0, 0.0, 0.0]
    last = asof_last(known, vals, index, H)
    assert list(last) == [1.0, 4.0, 4.0, 4.0, 4.0]
    assert np.isnan(asof_last(known, vals, index - H, H)[0])  # nothing known yet


def test_ingested_mode_and_delay() -> None:
    r = rows(5)
    assert np.array_equal(knowable_ms(r), r["published_ms"].to_numpy())
    both = np.maximum(r["published_ms"], r["ingested_ms"]).to_numpy() + 7
    assert np.array_equal(knowable_ms(r, mode="ingested", delay_ms=7), both)
    with pytest.raises(ConfigError, match="point-in-time mode"):
        knowable_ms(r, mode="event")


def _aligned(index: np.ndarray, r: pd.DataFrame) -> np.ndarray:
    return bar_sum(knowable_ms(r), r["score"].to_numpy(), index, H)


def _leaky_by_event(index: np.ndarray, r: pd.DataFrame) -> np.ndarray:
    # the classic mistake: align on when it happened, not when it was known
    return bar_sum(r["event_ms"].to_numpy(), r["score"].to_numpy(), index, H)


def _leaky_by_open(index: np.ndarray, r: pd.DataFrame) -> np.ndarray:
    # known at the bar's open + 2 h: reads the next bars' rows
    return bar_sum(knowable_ms(r) - 2 * H, r["score"].to_numpy(), index, H)


def test_lookahead_check_passes_causal_alignment_and_catches_leaks() -> None:
    index = T0 + H * np.arange(60, dtype=np.int64)
    r = rows()
    assert check_alt_feature(_aligned, r, index, H, cuts=10).ok
    for leaky in (_leaky_by_event, _leaky_by_open):
        report = check_alt_feature(leaky, r, index, H, cuts=10)
        assert not report.ok, leaky.__name__
        assert "before their time" in str(report)


def test_lookahead_check_catches_a_deliberately_early_row() -> None:
    """One row stamped 6 h earlier than the store knows it: the check finds the bar it leaks into."""
    index = T0 + H * np.arange(60, dtype=np.int64)
    r = rows()

    def reads_an_early_stamp(idx: np.ndarray, seen: pd.DataFrame) -> np.ndarray:
        doctored = seen.copy()  # e.g. a join with a second copy that carries the wrong time
        doctored.loc[doctored["id"] == "r100", "published_ms"] -= 6 * H
        return _aligned(idx, doctored)

    report = check_alt_feature(reads_an_early_stamp, r, index, H, cuts=200, seed=5)
    assert not report.ok
    assert "before their time" in str(report)
    # the same row at its true time passes, on the same cuts
    assert check_alt_feature(_aligned, r, index, H, cuts=200, seed=5).ok
