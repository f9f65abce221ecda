"""The market routes over real data: the daily BTC/USDT candles (as a shared file and from the
store), a replayed run's bars, and the ETH/USDT L2 capture's heat map, each against an
independent reading of the same files; then every broken input gets its clear refusal."""

from __future__ import annotations

import gzip
import math
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from grekko_research.analysis.detectors import (
    PHASE_NAMES,
    bull_traps,
    capitulations,
    wyckoff_phases,
)
from live.api import ApiTokens, FlagFileControl, LogHub, create_app
from tests.console.conftest import (
    DAILY_BTC,
    ETH_CAPTURE,
    REPLAY_BARS,
    REPLAY_WINDOW,
    market_folder,
)

with warnings.catch_warnings():  # starlette's notice about httpx2, at import time
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

READ = "market-read-0123456789"
AUTH = {"Authorization": f"Bearer {READ}"}
DAILY_ID = "shared/" + Path(DAILY_BTC).name
DAY = 86_400_000


def _day(text: str) -> int:
    return int(pd.Timestamp(text, tz="UTC").value // 1_000_000)


@pytest.fixture(scope="module")
def client(
    shared_data: Path, replayed_log: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """The API over the replayed run, a store holding the daily candles, and a shared folder of
    links to real files plus one broken candle file."""
    from grekko_research.data.files import import_file
    from grekko_research.data.store import ParquetStore

    store = tmp_path_factory.mktemp("market-store")
    import_file(shared_data / DAILY_BTC, store=ParquetStore(store))
    shared = market_folder(shared_data, tmp_path_factory.mktemp("market-shared"), broken=True)
    with LogHub(replayed_log) as hub:
        app = create_app(
            hub,
            FlagFileControl(replayed_log.parent),
            ApiTokens.of([READ]),
            data_dir=store,
            shared_dir=shared,
        )
        with TestClient(app) as c:
            yield c


def _get(client: TestClient, path: str, **params: Any) -> Any:
    r = client.get(path, params=params, headers=AUTH)
    assert r.status_code == 200, r.text
    return r.json()


def _daily(shared_data: Path) -> pd.DataFrame:
    with gzip.open(shared_data / DAILY_BTC, "rt") as f:
        return pd.read_csv(f)


def test_series_lists_the_store_the_shared_files_and_the_run(client: TestClient) -> None:
    found = {s["id"]: s for s in _get(client, "/market/series")}
    assert set(found) == {
        "store/binance/spot/BTC-USDT/1d",
        DAILY_ID,
        "shared/" + Path(REPLAY_BARS).name,
        "shared/binance-spot_ETH-USDT_1d__broken.csv",
        "run/BTC-USDT",
    }
    assert found["run/BTC-USDT"]["source"] == "run" and found["run/BTC-USDT"]["timeframe"] == "1h"
    assert found[DAILY_ID]["symbol"] == "BTC/USDT" and found[DAILY_ID]["timeframe"] == "1d"
    caps = _get(client, "/market/captures")
    assert [c["id"] for c in caps] == [ETH_CAPTURE] and caps[0]["trades"] is True


def test_the_daily_chart_is_the_file_thinned_with_the_librarys_regimes_and_events(
    client: TestClient, shared_data: Path
) -> None:
    raw = _daily(shared_data)
    chart = _get(client, "/market/chart", series=DAILY_ID, points=1000)
    n = len(raw)
    k = math.ceil(n / 1000)
    assert chart["bars_total"] == n and chart["bars_per_point"] == k and chart["bar_ms"] == DAY
    groups = raw.groupby(np.arange(n) // k)
    assert chart["t"] == groups["timestamp"].first().tolist()
    assert chart["o"] == groups["open"].first().tolist()
    assert chart["h"] == groups["high"].max().tolist()
    assert chart["l"] == groups["low"].min().tolist()
    assert chart["c"] == groups["close"].last().tolist()
    assert np.allclose(chart["v"], groups["volume"].sum().to_numpy())
    # the README's known low of 2020-03-13 survives the thinning
    at = np.searchsorted(chart["t"], _day("2020-03-13"), side="right") - 1
    assert chart["l"][at] == 3_782.13

    h, lo, c, v = (raw[x].to_numpy(float) for x in ("high", "low", "close", "volume"))
    caps, traps = capitulations(c, lo, v), bull_traps(h, c, v)
    counts = chart["event_counts"]
    assert counts["capitulation"] == len(caps) == 12 and counts["bull_trap"] == len(traps) == 17
    ev = {(e["kind"], e["ts"]): e for e in chart["events"]}
    crash = ev[("capitulation", _day("2020-03-12"))]
    assert crash["confirmed_ts"] == _day("2020-03-13") and "low 3,782.13" in crash["detail"]
    trap = ev[("bull_trap", _day("2017-12-16"))]
    assert trap["confirmed_ts"] == _day("2017-12-19") and "peak 19,798.68" in trap["detail"]
    assert [e["ts"] for e in chart["events"]] == sorted(e["ts"] for e in chart["events"])

    # bands: at full resolution they are the runs of the library's Wyckoff phases
    full = _get(client, "/market/chart", series=DAILY_ID, points=5000)
    assert full["bars_per_point"] == 1 and not full["bands_coarsened"]
    phase, _ = wyckoff_phases(h, lo, c, v)
    ts = raw["timestamp"].to_numpy()
    want = []
    for i, code in enumerate(phase):
        label = PHASE_NAMES[int(code)] if np.isfinite(code) else None
        if want and want[-1][2] == label and want[-1][1] == ts[i]:
            want[-1][1] = ts[i] + DAY
        else:
            want.append([int(ts[i]), int(ts[i] + DAY), label])
    want = [{"start": a, "end": b, "label": x} for a, b, x in want if x is not None]
    assert full["bands"] == want and len(want) > 100
    assert full["regimes"] == list(PHASE_NAMES)


def test_the_store_series_draws_what_its_file_does(client: TestClient) -> None:
    a = _get(client, "/market/chart", series=DAILY_ID, points=800)
    b = _get(client, "/market/chart", series="store/binance/spot/BTC-USDT/1d", points=800)
    for key in ("t", "o", "h", "l", "c", "v", "bands", "events", "event_counts"):
        assert a[key] == b[key], key


def test_a_window_with_hmm_states(client: TestClient, shared_data: Path) -> None:
    from grekko_research.analysis.regimes import hmm_regimes

    raw = _daily(shared_data)
    lo, hi = _day("2019-03-01"), _day("2020-01-01")  # 306 bars: fits at bars 250 and 300
    chart = _get(client, "/market/chart", series=DAILY_ID, regime="hmm", start="2019-03-01",
                 end="2020-01-01", points=5000)  # fmt: skip
    window = raw[(raw["timestamp"] >= lo) & (raw["timestamp"] < hi)]
    assert chart["t"] == window["timestamp"].tolist() and chart["t"][0] == lo
    label = hmm_regimes(window["close"].to_numpy(float)).label
    names = chart["regimes"]
    assert names == ["hmm 0: bearish", "hmm 1: neutral", "hmm 2: bullish"]
    per_bar = {}
    for b in chart["bands"]:
        for t in range(b["start"], b["end"], DAY):
            per_bar[t] = b["label"]
    got = [per_bar.get(t) for t in window["timestamp"]]
    assert got == [names[int(x)] if np.isfinite(x) else None for x in label]
    assert sum(x is not None for x in got) == len(window) - 250  # labelled from bar 250 on


def test_the_runs_bars_are_the_candles_it_closed(client: TestClient, shared_data: Path) -> None:
    with gzip.open(shared_data / REPLAY_BARS, "rt") as f:
        raw = pd.read_csv(f)
    lo, hi = _day(REPLAY_WINDOW[0]), _day(REPLAY_WINDOW[1])
    want = raw[(raw["timestamp"] >= lo) & (raw["timestamp"] < hi)]
    chart = _get(client, "/market/chart", series="run/BTC-USDT", points=5000)
    assert chart["timeframe"] == "1h" and chart["bars_per_point"] == 1
    got = chart["t"]
    assert len(got) >= 72 and set(got) <= set(want["timestamp"])  # the bars after warm-up
    rows = want.set_index("timestamp").loc[got]
    for col, key in (("open", "o"), ("high", "h"), ("low", "l"), ("close", "c"), ("volume", "v")):
        assert chart[key] == rows[col].tolist(), col
    assert chart["bands"], "a Wyckoff phase after its 50-bar window"


def _dict_book(cap: Any, until_ns: int) -> dict[tuple[int, float], float]:
    """The book from the first snapshot and every later diff row received by ``until_ns``, in
    plain Python (the capture has no gap: each event follows the last)."""
    snaps = cap.snapshots
    book = {}
    for i in range(snaps.start[0], snaps.start[1]):
        book[(int(snaps.side[i]), float(snaps.price[i]))] = float(snaps.qty[i])
    d = cap.diffs
    newer = (d.last_update_id > snaps.last_update_id[0]) & (d.local_ts <= until_ns)
    for side, px, q in zip(d.side[newer], d.price[newer], d.qty[newer], strict=True):
        book[(int(side), float(px))] = float(q)
    return book


def test_the_heat_map_is_the_books_depth_and_the_trades(
    client: TestClient, shared_data: Path
) -> None:
    from grekko_research.analysis.captures import read_capture

    got = _get(client, "/market/book", capture=ETH_CAPTURE, times=60, prices=40, span_bps=10)
    assert got["gaps"] == 0 and got["mismatches"] == 0 and got["checked"] == 3432
    assert len(got["times"]) == 60 and len(got["price_edges"]) == 41
    assert len(got["qty"]) == 40 and all(len(r) == 60 for r in got["qty"])
    cap = read_capture(shared_data, ETH_CAPTURE)
    edges = np.array(got["price_edges"])
    for col in (0, 29, 59):
        book = _dict_book(cap, got["times"][col] * 1_000_000 + 999_999)
        want = np.zeros(40)
        for (_, px), q in book.items():
            i = np.searchsorted(edges, px + 1e-9, side="right") - 1  # on the tick grid
            if 0 <= i < 40:
                want[i] += q
        assert np.allclose([r[col] for r in got["qty"]], want, rtol=1e-5, atol=1e-6), col
        bids = [px for (s, px), q in book.items() if s == 0 and q > 0]
        asks = [px for (s, px), q in book.items() if s == 1 and q > 0]
        assert got["best_bid"][col] == max(bids) and got["best_ask"][col] == min(asks)
    # the traded price per column (whole milliseconds after the previous column's end), from
    # the trades file; the first column starts at the first valid event: left out
    tr = pd.read_csv(shared_data / "trades" / f"{ETH_CAPTURE}_trades.csv")
    ends = np.array(got["times"])
    ms = tr["local_ts_ns"].to_numpy() // 1_000_000
    tr = tr[(ms > ends[0]) & (ms <= ends[-1])]
    col = np.searchsorted(ends, tr["local_ts_ns"].to_numpy() // 1_000_000, "left")
    by = tr.assign(col=col, pq=tr["price"] * tr["qty"]).groupby("col")
    vwap = (by["pq"].sum() / by["qty"].sum()).reindex(range(1, 60)).to_numpy()
    shown = np.array([np.nan if x is None else x for x in got["trade_vwap"][1:]])
    assert np.isfinite(shown).sum() > 50
    assert np.allclose(shown, vwap, equal_nan=True, rtol=1e-7)
    buys = tr.assign(col=col)[~tr["is_buyer_maker"]].groupby("col")["qty"].sum()
    assert np.allclose(got["buy_qty"][1:], buys.reindex(range(1, 60), fill_value=0.0).to_numpy())
    assert got["spoofs_total"] == 59 and 0 < len(got["spoofs"]) <= 59
    assert all(got["price_edges"][0] <= s["price"] < got["price_edges"][-1] for s in got["spoofs"])


def test_broken_inputs_get_a_clear_refusal(client: TestClient) -> None:
    def refused(path: str, status: int, *words: str, **params: Any) -> None:
        r = client.get(path, params=params, headers=AUTH)
        assert r.status_code == status, (params, r.text)
        for w in words:
            assert w in r.text, (w, r.text)

    refused("/market/chart", 404, "no series", "/market/series", series="store/../../etc")
    refused("/market/chart", 422, "start", "invalid time", series=DAILY_ID, start="yesterday-ish")
    refused("/market/chart", 422, "must be after start", series=DAILY_ID, start="2021-01-02",
            end="2021-01-01")  # fmt: skip
    refused("/market/chart", 422, "points", series=DAILY_ID, points=10)
    refused("/market/chart", 422, "regime", series=DAILY_ID, regime="astrology")
    refused("/market/chart", 422, "no bars in the window", series=DAILY_ID, start="2030-01-01")
    hourly = "shared/" + Path(REPLAY_BARS).name  # 5,482 bars
    refused("/market/chart", 422, "regime=hmm: at most 3000 bars", "start/end", series=hourly,
            regime="hmm")  # fmt: skip
    broken = "shared/binance-spot_ETH-USDT_1d__broken.csv"
    refused("/market/chart", 422, "binance-spot_ETH-USDT_1d__broken.csv", "row", series=broken)
    refused("/market/book", 404, "no capture", capture="../orderbook/" + ETH_CAPTURE)
    refused("/market/book", 422, "times", capture=ETH_CAPTURE, times=5000)
    refused("/market/book", 422, "span_bps", capture=ETH_CAPTURE, span_bps=-1)
    refused("/market/chart", 422, "series", series="")
