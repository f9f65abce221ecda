"""The downloader through the real ccxt client against a local Binance peer serving real candles."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from grekko_research.data.download import Downloader, DownloadProgress, RetryPolicy
from grekko_research.data.exchanges import make_exchange
from grekko_research.data.store import ParquetStore, SeriesKey
from grekko_research.errors import (
    ConfigError,
    RetryableError,
    UnknownSymbolError,
    UnknownTimeframeError,
)
from tests.peers.binance import BinancePeer, load_shared_funding, load_shared_ohlcv

KLINES = "/api/v3/klines"
HOUR = 3_600_000
FAST = RetryPolicy(max_retries=3, base_delay=0.05, max_delay=0.2)


@pytest.fixture(scope="module")
def btc_1h(shared_data: Path) -> pd.DataFrame:
    return load_shared_ohlcv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz")


@pytest.fixture(scope="module")
def btc_5m(shared_data: Path) -> pd.DataFrame:
    return load_shared_ohlcv(shared_data / "ohlcv/binance-spot_BTC-USDT_5m__nfi.csv.gz")


@pytest.fixture
def peer(btc_1h: pd.DataFrame, btc_5m: pd.DataFrame, shared_data: Path) -> Iterator[BinancePeer]:
    with BinancePeer() as server:
        server.add_klines("spot", "BTCUSDT", "1h", btc_1h)
        server.add_klines("spot", "BTCUSDT", "5m", btc_5m)
        server.add_symbol("spot", "ETHUSDT", "ETH", "USDT")
        server.add_funding(
            "BTCUSDT",
            load_shared_funding(
                shared_data / "funding/binance-usdm_BTC-USDT-PERP_funding__sky1241.csv"
            ),
        )
        server.add_mark_klines(
            "BTCUSDT",
            "1h",
            load_shared_ohlcv(
                shared_data / "ohlcv/binance-usdm-markprice_BTC-USDT-PERP_1h__cdw1p.csv.gz"
            ),
        )
        yield server


def downloader(
    peer: BinancePeer, store: ParquetStore, market: str = "spot", **kw: object
) -> Downloader:
    timeout_ms = int(kw.pop("timeout_ms", 5_000))  # type: ignore[call-overload]
    client = make_exchange("binance", market, rest_url=peer.url, timeout_ms=timeout_ms)
    kw.setdefault("retry", FAST)
    return Downloader(client, store, exchange="binance", market=market, **kw)  # type: ignore[arg-type]


def span_of(frame: pd.DataFrame) -> tuple[int, int]:
    """Return [first, last + 1) of a frame's timestamps."""
    return int(frame["timestamp"].iloc[0]), int(frame["timestamp"].iloc[-1]) + 1


def assert_same_candles(stored: pd.DataFrame, expected: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        stored.reset_index(drop=True),
        expected[list(stored.columns)].reset_index(drop=True),
        check_dtype=False,
    )


def klines_starts(peer: BinancePeer) -> list[int]:
    return [int(r.params["startTime"]) for r in peer.requests if r.path == KLINES]


def test_pagination_across_many_pages(
    peer: BinancePeer, btc_5m: pd.DataFrame, store_dir: Path
) -> None:
    store = ParquetStore(store_dir)
    since, until = span_of(btc_5m)
    result = downloader(peer, store).download("BTC/USDT", "5m", since_ms=since, until_ms=until)
    assert_same_candles(store.read(result.key), btc_5m)
    pages = math.ceil(len(btc_5m) / 1000)
    assert peer.count(KLINES) == pages == result.requests
    assert {r.params["limit"] for r in peer.requests if r.path == KLINES} == {"1000"}
    # Each page starts one bar after the last one received: no overlap, no hole.
    starts = klines_starts(peer)
    assert starts[0] == since and starts == sorted(starts)
    assert result.fetched == len(btc_5m) and result.rows == len(btc_5m)
    assert (result.report.n_gaps, result.report.missing_bars) == (6, 177)


def test_resume_fetches_only_what_is_missing(
    peer: BinancePeer, btc_1h: pd.DataFrame, store_dir: Path
) -> None:
    store = ParquetStore(store_dir)
    since, until = span_of(btc_1h)
    middle = int(btc_1h["timestamp"].iloc[2500])
    first = downloader(peer, store).download("BTC/USDT", "1h", since_ms=since, until_ms=middle)
    assert first.rows == 2500
    del peer.requests[:]
    second = downloader(peer, store).download("BTC/USDT", "1h", until_ms=until)
    assert klines_starts(peer)[0] == middle  # resumes one bar after the stored end
    assert second.fetched == len(btc_1h) - 2500
    assert_same_candles(store.read(second.key), btc_1h)
    del peer.requests[:]
    third = downloader(peer, store).download("BTC/USDT", "1h", since_ms=since, until_ms=until)
    assert third.up_to_date and third.fetched == 0 and peer.count(KLINES) == 0
    # An earlier --since fetches the head only.
    store.write(third.key, btc_1h.iloc[100:], mode="replace")
    del peer.requests[:]
    fourth = downloader(peer, store).download("BTC/USDT", "1h", since_ms=since, until_ms=until)
    assert fourth.fetched == 100 and klines_starts(peer) == [since]
    assert_same_candles(store.read(fourth.key), btc_1h)


def test_only_closed_bars_are_stored(
    peer: BinancePeer, btc_1h: pd.DataFrame, store_dir: Path
) -> None:
    store = ParquetStore(store_dir)
    since = int(btc_1h["timestamp"].iloc[0])
    now = since + 10 * HOUR + 25 * 60_000  # 25 minutes into the 11th bar
    result = downloader(peer, store, clock=lambda: now).download("BTC/USDT", "1h", since_ms=since)
    stored = store.read(result.key)
    assert int(stored["timestamp"].iloc[-1]) == since + 9 * HOUR  # the forming bar is left out
    assert len(stored) == 10


def test_429_waits_for_retry_after(
    peer: BinancePeer, btc_1h: pd.DataFrame, store_dir: Path
) -> None:
    store = ParquetStore(store_dir)
    since, until = span_of(btc_1h)
    peer.fail_next(KLINES, 429, headers={"Retry-After": "1"})
    result = downloader(peer, store).download("BTC/USDT", "1h", since_ms=since, until_ms=until)
    assert result.retries == 1
    calls = [r for r in peer.requests if r.path == KLINES]
    assert calls[0].status == 429 and calls[1].status == 200
    assert calls[1].t - calls[0].t >= 1.0  # honoured Retry-After, not the 0.05 s backoff
    assert_same_candles(store.read(result.key), btc_1h)


def test_5xx_and_timeouts_are_retried(
    peer: BinancePeer, btc_1h: pd.DataFrame, store_dir: Path
) -> None:
    store = ParquetStore(store_dir)
    since, until = span_of(btc_1h)
    middle = int(btc_1h["timestamp"].iloc[2500])
    peer.fail_next(KLINES, 503, times=2)
    first = downloader(peer, store).download("BTC/USDT", "1h", since_ms=since, until_ms=middle)
    assert first.retries == 2
    assert [r.status for r in peer.requests if r.path == KLINES][:3] == [503, 503, 200]
    del peer.requests[:]
    peer.delay_next(KLINES, 2.0)  # outlasts the client's 0.4 s timeout
    second = downloader(peer, store, timeout_ms=400).download("BTC/USDT", "1h", until_ms=until)
    assert second.retries == 1
    calls = [r for r in peer.requests if r.path == KLINES]
    assert calls[0].params["startTime"] == calls[1].params["startTime"] == str(middle)
    assert_same_candles(store.read(second.key), btc_1h)


def test_exhausted_retries_keep_fetched_pages_and_rerun_completes(
    peer: BinancePeer, btc_5m: pd.DataFrame, store_dir: Path
) -> None:
    store = ParquetStore(store_dir)
    since, until = span_of(btc_5m)
    pages_before_outage = []

    def outage_after_three_pages(event: DownloadProgress) -> None:
        pages_before_outage.append(event.rows)
        if len(pages_before_outage) == 3:
            peer.fail_next(KLINES, 502, times=100)

    flaky = downloader(peer, store, checkpoint_rows=1, on_progress=outage_after_three_pages)
    with pytest.raises(RetryableError, match="rerun the same command later to resume"):
        flaky.download("BTC/USDT", "5m", since_ms=since, until_ms=until)
    key = SeriesKey.make("binance", "BTC/USDT", "5m")
    assert store.span(key) == (since, int(btc_5m["timestamp"].iloc[2999]), 3000)
    with peer._lock:  # clear the outage
        peer._faults["fail"].clear()
    result = downloader(peer, store).download("BTC/USDT", "5m", until_ms=until)
    assert result.fetched == len(btc_5m) - 3000
    assert_same_candles(store.read(key), btc_5m)


def test_ctrl_c_keeps_validated_pages(
    peer: BinancePeer, btc_5m: pd.DataFrame, store_dir: Path
) -> None:
    store = ParquetStore(store_dir)
    since, until = span_of(btc_5m)
    seen: list[int] = []

    def interrupt(event: DownloadProgress) -> None:
        seen.append(event.rows)
        if len(seen) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        downloader(peer, store, on_progress=interrupt).download(
            "BTC/USDT", "5m", since_ms=since, until_ms=until
        )
    key = SeriesKey.make("binance", "BTC/USDT", "5m")
    assert store.span(key) is not None and store.span(key)[2] == 2000  # type: ignore[index]
    downloader(peer, store).download("BTC/USDT", "5m", until_ms=until)
    assert_same_candles(store.read(key), btc_5m)


def test_unknown_symbol_and_timeframe_fail_at_once(peer: BinancePeer, store_dir: Path) -> None:
    store = ParquetStore(store_dir)
    with pytest.raises(UnknownSymbolError) as info:
        downloader(peer, store).download("BTC/USDTT", "1h", since_ms=0)
    assert "BTC/USDT" in info.value.close_matches
    assert "close matches: BTC/USDT" in str(info.value)
    with pytest.raises(UnknownTimeframeError) as tf_info:
        downloader(peer, store).download("BTC/USDT", "7m", since_ms=0)
    assert tf_info.value.close_matches == ["5m", "15m", "3m"]  # nearest in log-length
    assert peer.count(KLINES) == 0
    assert store.series() == []
    with pytest.raises(ConfigError, match="give a start date"):
        downloader(peer, store).download("BTC/USDT", "1h")
    with pytest.raises(ConfigError, match="only for perpetuals"):
        downloader(peer, store).download("BTC/USDT", None, kind="funding", since_ms=0)


def test_funding_history(peer: BinancePeer, shared_data: Path, store_dir: Path) -> None:
    store = ParquetStore(store_dir)
    expected = load_shared_funding(
        shared_data / "funding/binance-usdm_BTC-USDT-PERP_funding__sky1241.csv"
    )
    since, until = span_of(expected)
    result = downloader(peer, store, market="usdm").download(
        "BTC/USDT", None, kind="funding", since_ms=since, until_ms=until
    )
    assert result.key.kind == "funding" and result.key.market == "usdm"
    stored = store.read(result.key)
    np.testing.assert_array_equal(stored["timestamp"], expected["timestamp"])
    np.testing.assert_allclose(stored["funding_rate"], expected["funding_rate"], rtol=0, atol=1e-15)
    assert peer.count("/fapi/v1/fundingRate") == math.ceil(len(expected) / 1000)


def test_mark_price_candles(peer: BinancePeer, shared_data: Path, store_dir: Path) -> None:
    store = ParquetStore(store_dir)
    expected = load_shared_ohlcv(
        shared_data / "ohlcv/binance-usdm-markprice_BTC-USDT-PERP_1h__cdw1p.csv.gz"
    ).iloc[:4000]
    since, until = span_of(expected)
    result = downloader(peer, store, market="usdm").download(
        "BTC/USDT", "1h", kind="markprice", since_ms=since, until_ms=until
    )
    assert_same_candles(store.read(result.key), expected)
    calls = [r for r in peer.requests if r.path == "/fapi/v1/markPriceKlines"]
    # ccxt caps Binance kline pages at 1000 rows, futures included.
    assert len(calls) == 4 and {c.params["limit"] for c in calls} == {"1000"}


def test_killed_download_resumes_without_duplicates_or_holes(
    peer: BinancePeer, btc_5m: pd.DataFrame, store_dir: Path
) -> None:
    """Kill ``grekko data download`` with SIGKILL part-way, rerun it, compare with the source."""
    since, until = span_of(btc_5m)
    grekko = str(Path(sys.executable).parent / "grekko")
    args = [
        grekko, "data", "download", "--symbol", "BTC/USDT", "--timeframe", "5m",
        "--since", str(since), "--until", str(until), "--data-dir", str(store_dir),
        "--rest-url", peer.url, "--checkpoint-rows", "1000", "--json",
    ]  # fmt: skip
    store = ParquetStore(store_dir)
    key = SeriesKey.make("binance", "BTC/USDT", "5m")
    peer.latency = 0.05
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            span = store.span(key) if store.path(key).is_file() else None
            if span is not None and span[2] >= 5000:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed_at = store.span(key)
    assert killed_at is not None and 5000 <= killed_at[2] < len(btc_5m)
    partial = store.read(key)
    assert_same_candles(partial, btc_5m.iloc[: len(partial)])  # a clean prefix
    peer.latency = 0.0
    del peer.requests[:]
    rerun = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    stored = store.read(key)
    assert not stored["timestamp"].duplicated().any()
    assert_same_candles(stored, btc_5m)
    next_bar = killed_at[1] + 5 * 60_000
    assert klines_starts(peer)[0] >= next_bar  # resumed after the kill point
    assert not list(store.path(key).parent.glob("*.partial"))


def test_main_job_downloads_when_online(
    peer: BinancePeer, shared_data: Path, tmp_path: Path
) -> None:
    eth = load_shared_ohlcv(shared_data / "ohlcv/binance-spot_ETH-USDT_1h__nfi.csv.gz")
    peer.add_klines("spot", "ETHUSDT", "1h", eth)
    env = {
        **os.environ,
        "GREKKO_DATA_DIR": str(tmp_path / "data"),
        "GREKKO_REPORTS_DIR": str(tmp_path / "reports"),
        "GREKKO_SAMPLE_DATA": "",
    }
    grekko = str(Path(sys.executable).parent / "grekko")
    out = subprocess.run(
        [grekko, "run", "--rest-url", peer.url, "--json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    import json

    summary = json.loads(out.stdout)
    assert {s["source"] for s in summary["series"]} == {"download from binance"}
    assert [s["rows"] for s in summary["series"]] == [5_482, 5_482]
    assert peer.count(KLINES) >= 12
