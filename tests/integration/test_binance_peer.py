"""The real ccxt Binance clients against the local Binance peer, on real shared data.

These tests pin down the peer the downloader tests rely on: ccxt loads markets
and candles from it unmodified, paging follows Binance's rules, and every
injected fault surfaces as the ccxt error a downloader must handle.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import ccxt
import pandas as pd
import pytest

from grekko_research.data.exchanges import make_exchange
from tests.peers.binance import BinancePeer, load_shared_funding, load_shared_ohlcv

SPOT_1H = "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz"  # 5,482 rows
PERP_5M = "ohlcv/binance-usdm_BTC-USDT-PERP_5m__alpergulsen.csv.gz"  # 12,655 rows
MARK_1H = "ohlcv/binance-usdm-markprice_BTC-USDT-PERP_1h__cdw1p.csv.gz"  # 35,481 rows
FUNDING = "funding/binance-usdm_BTC-USDT-PERP_funding__sky1241.csv"  # 7,028 rows
SPOT_KLINES, FAPI_KLINES = "/api/v3/klines", "/fapi/v1/klines"
HOUR = 3_600_000


def candles(frame: pd.DataFrame) -> list[list]:
    """``frame`` as ccxt returns candles: ``[ms, open, high, low, close, volume]``."""
    return [[int(t), *map(float, rest)] for t, *rest in frame.itertuples(index=False)]


@pytest.fixture(scope="module")
def frames(shared_data: Path) -> dict[str, pd.DataFrame]:
    return {
        "spot": load_shared_ohlcv(shared_data / SPOT_1H),
        "perp": load_shared_ohlcv(shared_data / PERP_5M),
        "mark": load_shared_ohlcv(shared_data / MARK_1H),
        "funding": load_shared_funding(shared_data / FUNDING),
    }


@pytest.fixture(scope="module")
def peer(frames: dict[str, pd.DataFrame]) -> Iterator[BinancePeer]:
    with BinancePeer() as peer:
        peer.add_klines("spot", "BTCUSDT", "1h", frames["spot"])
        peer.add_symbol("spot", "ETHBTC", "ETH", "BTC")
        peer.add_klines("usdm", "BTCUSDT", "5m", frames["perp"])
        peer.add_mark_klines("BTCUSDT", "1h", frames["mark"])
        peer.add_funding("BTCUSDT", frames["funding"])
        yield peer


def unthrottled(client: ccxt.Exchange) -> ccxt.Exchange:
    """Skip ccxt's own throttle (it sleeps ``rateLimit * cost``, 250 ms per 1000-row fapi page)."""
    client.enableRateLimit = False
    client.load_markets()
    return client


@pytest.fixture(scope="module")
def spot(peer: BinancePeer) -> ccxt.Exchange:
    return unthrottled(make_exchange("binance", "spot", rest_url=peer.url))


@pytest.fixture(scope="module")
def usdm(peer: BinancePeer) -> ccxt.Exchange:
    return unthrottled(make_exchange("binance", "usdm", rest_url=peer.url))


@pytest.fixture
def small_peer(frames: dict[str, pd.DataFrame]) -> Iterator[BinancePeer]:
    """A fresh peer per fault test, so an unconsumed fault cannot leak into another test."""
    with BinancePeer() as peer:
        peer.add_klines("spot", "BTCUSDT", "1h", frames["spot"].head(200))
        peer.add_funding("BTCUSDT", frames["funding"].head(200))
        yield peer


@pytest.fixture
def client(small_peer: BinancePeer) -> ccxt.Exchange:
    """A spot client with a 300 ms timeout, markets loaded."""
    client = make_exchange("binance", "spot", rest_url=small_peer.url, timeout_ms=300)
    client.load_markets()
    return client


# ----- markets and candles


def test_load_markets_reads_exchange_info_only(peer: BinancePeer) -> None:
    before = len(peer.requests)
    client = make_exchange("binance", "spot", rest_url=peer.url)
    markets = client.load_markets()
    assert [r.path for r in peer.requests[before:]] == ["/api/v3/exchangeInfo"]
    assert set(markets) == {"BTC/USDT", "ETH/BTC"}
    btc = markets["BTC/USDT"]
    assert (btc["id"], btc["base"], btc["quote"], btc["type"]) == ("BTCUSDT", "BTC", "USDT", "spot")
    assert btc["active"] and btc["precision"]["price"] == 0.01
    assert btc["limits"]["cost"]["min"] == 5.0


def test_spot_first_page_equals_shared_rows(spot: ccxt.Exchange, frames: dict) -> None:
    first = int(frames["spot"].timestamp.iloc[0])
    rows = spot.fetch_ohlcv("BTC/USDT", "1h", since=first, limit=1000)
    assert rows == candles(frames["spot"].head(1000))


def test_kline_rows_are_binance_wire_format(spot: ccxt.Exchange, frames: dict) -> None:
    first = int(frames["spot"].timestamp.iloc[0])
    raw = spot.publicGetKlines(
        {"symbol": "BTCUSDT", "interval": "1h", "startTime": first, "limit": 2}
    )
    assert len(raw) == 2 and all(len(row) == 12 for row in raw)
    open_t, o, *_, close_t = raw[0][:7]
    assert (open_t, close_t) == (first, raw[1][0] - 1) and close_t == first + HOUR - 1
    assert isinstance(o, str) and float(o) == frames["spot"].open.iloc[0]


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        ("publicGetKlines", {"interval": "1h", "limit": 5000}, 1000),
        ("publicGetKlines", {"interval": "1h"}, 500),
        ("fapiPublicGetKlines", {"interval": "5m", "limit": 5000}, 1500),
        ("fapiPublicGetKlines", {"interval": "5m"}, 500),
        ("fapiPublicGetMarkPriceKlines", {"interval": "1h", "limit": 5000}, 1500),
        ("fapiPublicGetFundingRate", {"limit": 5000}, 1000),
        ("fapiPublicGetFundingRate", {}, 100),
    ],
)
def test_limits_default_and_clamp(
    spot: ccxt.Exchange, method: str, params: dict, expected: int
) -> None:
    rows = getattr(spot, method)({"symbol": "BTCUSDT", "startTime": 0, **params})
    assert len(rows) == expected


def test_start_and_end_time_are_inclusive(spot: ccxt.Exchange, frames: dict) -> None:
    ts = frames["spot"].timestamp
    since, until = int(ts.iloc[100]), int(ts.iloc[149])
    rows = spot.fetch_ohlcv("BTC/USDT", "1h", since=since, limit=1000, params={"until": until})
    assert rows == candles(frames["spot"].iloc[100:150])
    # a start between bars begins at the next bar
    rows = spot.fetch_ohlcv("BTC/USDT", "1h", since=since + 1, limit=3)
    assert [r[0] for r in rows] == ts.iloc[101:104].tolist()


def test_without_start_time_the_latest_rows(spot: ccxt.Exchange, frames: dict) -> None:
    assert spot.fetch_ohlcv("BTC/USDT", "1h", limit=10) == candles(frames["spot"].tail(10))
    until = int(frames["spot"].timestamp.iloc[99])
    rows = spot.fetch_ohlcv("BTC/USDT", "1h", limit=5, params={"until": until})
    assert rows == candles(frames["spot"].iloc[95:100])


def test_unknown_interval_data_is_empty_not_an_error(spot: ccxt.Exchange) -> None:
    assert spot.fetch_ohlcv("BTC/USDT", "4h") == []
    assert spot.fetch_ohlcv("ETH/BTC", "1h") == []


def test_usdm_market_and_candles(usdm: ccxt.Exchange, peer: BinancePeer, frames: dict) -> None:
    market = usdm.market("BTC/USDT:USDT")
    assert market["swap"] and market["linear"] and market["settle"] == "USDT"
    assert market["created"] == int(frames["funding"].timestamp.iloc[0])  # onboardDate
    first = int(frames["perp"].timestamp.iloc[0])
    before = peer.count(FAPI_KLINES)
    rows = usdm.fetch_ohlcv("BTC/USDT:USDT", "5m", since=first, limit=1000)
    assert rows == candles(frames["perp"].head(1000))
    assert peer.count(FAPI_KLINES) == before + 1


def test_mark_price_candles(usdm: ccxt.Exchange, peer: BinancePeer, frames: dict) -> None:
    first = int(frames["mark"].timestamp.iloc[0])
    before = peer.count("/fapi/v1/markPriceKlines")
    rows = usdm.fetch_ohlcv(
        "BTC/USDT:USDT", "1h", since=first, limit=1000, params={"price": "mark"}
    )
    assert rows == candles(frames["mark"].head(1000))
    assert peer.count("/fapi/v1/markPriceKlines") == before + 1


def test_paging_a_35k_row_series_reproduces_it(usdm: ccxt.Exchange, frames: dict) -> None:
    rows: list[list] = []
    pages = 0
    since = int(frames["mark"].timestamp.iloc[0])
    while page := usdm.fetch_ohlcv("BTC/USDT:USDT", "1h", since, 1000, {"price": "mark"}):
        rows += page
        pages += 1
        since = page[-1][0] + 1
    assert rows == candles(frames["mark"])
    assert pages == -(-len(rows) // 1000)  # full pages of 1,000 and one short page, no empty one


def test_funding_history(usdm: ccxt.Exchange, frames: dict) -> None:
    funding = frames["funding"]
    first = int(funding.timestamp.iloc[0])
    history = usdm.fetch_funding_rate_history("BTC/USDT:USDT", since=first, limit=1000)
    got = [(h["timestamp"], h["fundingRate"], h["symbol"]) for h in history]
    expected = [(int(t), r, "BTC/USDT:USDT") for t, r in funding.head(1000).itertuples(index=False)]
    assert got == expected
    # no startTime: the most recent rows
    latest = usdm.fapiPublicGetFundingRate({"symbol": "BTCUSDT", "limit": 3})
    assert [row["fundingTime"] for row in latest] == funding.timestamp.tail(3).tolist()


def test_funding_mark_price_comes_from_mark_klines(usdm: ccxt.Exchange, frames: dict) -> None:
    mark = frames["mark"].set_index("timestamp").open
    start = int(mark.index[0])
    rows = usdm.fapiPublicGetFundingRate({"symbol": "BTCUSDT", "startTime": start, "limit": 3})
    assert [float(r["markPrice"]) for r in rows] == mark.loc[
        [r["fundingTime"] for r in rows]
    ].tolist()
    early = usdm.fapiPublicGetFundingRate({"symbol": "BTCUSDT", "startTime": 0, "limit": 1})
    assert early[0]["markPrice"] == ""  # before the mark series, as for Binance's oldest rows


def test_server_time_and_headers(
    spot: ccxt.Exchange, usdm: ccxt.Exchange, peer: BinancePeer
) -> None:
    assert abs(spot.fetch_time() - time.time() * 1000) < 5_000
    assert abs(usdm.fetch_time() - time.time() * 1000) < 5_000
    with urllib.request.urlopen(peer.url + "/fapi/v1/ping") as response:
        assert response.read() == b"{}"
        assert response.headers["Content-Type"] == "application/json"
        assert int(response.headers["X-MBX-USED-WEIGHT-1M"]) >= 1
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(peer.url + "/api/v3/nope")
    exc.value.close()
    assert exc.value.code == 404


# ----- errors and injected faults


def test_unknown_symbol_is_bad_symbol(client: ccxt.Exchange, small_peer: BinancePeer) -> None:
    with pytest.raises(ccxt.BadSymbol, match="-1121"):
        client.publicGetKlines({"symbol": "NOPE", "interval": "1h"})
    with pytest.raises(ccxt.BadSymbol):
        client.fapiPublicGetFundingRate({"symbol": "NOPE"})
    assert [r.status for r in small_peer.requests[-2:]] == [400, 400]


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("publicGetKlines", {"symbol": "BTCUSDT", "interval": "7m"}, "-1120"),
        ("fapiPublicGetKlines", {"symbol": "BTCUSDT", "interval": "1s"}, "-1120"),
        ("publicGetKlines", {"interval": "1h"}, "-1102"),
        ("publicGetKlines", {"symbol": "BTCUSDT"}, "-1102"),
        ("publicGetKlines", {"symbol": "BTCUSDT", "interval": "1h", "startTime": "x"}, "-1100"),
    ],
)
def test_bad_parameters_are_bad_request(
    client: ccxt.Exchange, method: str, params: dict, code: str
) -> None:
    with pytest.raises(ccxt.BadRequest, match=code):
        getattr(client, method)(params)


def test_429_is_ddos_protection_with_retry_after(
    client: ccxt.Exchange, small_peer: BinancePeer
) -> None:
    small_peer.fail_next(SPOT_KLINES, 429, headers={"Retry-After": "1"})
    with pytest.raises(ccxt.DDoSProtection):  # Binance's handle_errors maps 418/429 to it
        client.fetch_ohlcv("BTC/USDT", "1h", limit=5)
    assert client.last_response_headers["Retry-After"] == "1"  # ccxt keeps headers on errors
    assert json.loads(client.last_http_response)["code"] == -1003
    assert small_peer.requests[-1].status == 429
    assert len(client.fetch_ohlcv("BTC/USDT", "1h", limit=5)) == 5  # the fault is used up


def test_5xx_is_exchange_not_available(client: ccxt.Exchange, small_peer: BinancePeer) -> None:
    small_peer.fail_next(SPOT_KLINES, 503, times=2)
    for _ in range(2):
        with pytest.raises(ccxt.ExchangeNotAvailable):
            client.fetch_ohlcv("BTC/USDT", "1h", limit=5)
    assert len(client.fetch_ohlcv("BTC/USDT", "1h", limit=5)) == 5
    assert [r.status for r in small_peer.requests[-3:]] == [503, 503, 200]
    assert small_peer.count(SPOT_KLINES) == 3


def test_custom_error_body(client: ccxt.Exchange, small_peer: BinancePeer) -> None:
    small_peer.fail_next(SPOT_KLINES, 400, body={"code": -1121, "msg": "Invalid symbol."})
    with pytest.raises(ccxt.BadSymbol):
        client.fetch_ohlcv("BTC/USDT", "1h", limit=5)


def test_delay_past_timeout_is_request_timeout(
    client: ccxt.Exchange, small_peer: BinancePeer
) -> None:
    small_peer.delay_next(SPOT_KLINES, 3.0)
    with pytest.raises(ccxt.RequestTimeout):
        client.fetch_ohlcv("BTC/USDT", "1h", limit=5)
    assert len(client.fetch_ohlcv("BTC/USDT", "1h", limit=5)) == 5
    assert [r.status for r in small_peer.requests[-2:]] == [0, 200]  # the slow one is unanswered
    started = time.monotonic()
    small_peer.stop()  # interrupts the sleeping answer
    assert time.monotonic() - started < 1


def test_latency_slows_data_requests_only(client: ccxt.Exchange, small_peer: BinancePeer) -> None:
    small_peer.latency = 0.15
    started = time.monotonic()
    client.fetch_ohlcv("BTC/USDT", "1h", limit=5)
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    client.fetch_time()
    assert time.monotonic() - started < 0.15


def test_stopped_peer_is_a_network_error(client: ccxt.Exchange, small_peer: BinancePeer) -> None:
    small_peer.stop()
    with pytest.raises(ccxt.NetworkError):
        client.fetch_ohlcv("BTC/USDT", "1h", limit=5)
