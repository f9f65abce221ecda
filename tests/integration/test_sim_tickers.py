"""The simulator's tickers through the real ccxt client: the adapter's reference price comes
from ``/api/v3/ticker/24hr`` without a failed call (the README's rehearsal counted every
missing ticker as a venue error and its error-rate breaker halted the run)."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from live.sim import Simulator, start_simulator
from live.venues import CcxtVenue, Credentials, make_venue
from tests.peers.sim_clients import drive

KEY, SECRET = "tick-key-0123456789", "tick-secret-abcdefghij"


def _run(btc: pd.DataFrame, eth: pd.DataFrame, scenario: object) -> Simulator:
    def connect(sim: Simulator) -> CcxtVenue:
        return make_venue("binance", urls=sim.url, credentials=Credentials(KEY, SECRET),
                          timeout_ms=2000, rate_limit=False)  # fmt: skip

    return drive(
        lambda: start_simulator(candles={"BTCUSDT": btc, "ETHUSDT": eth}, api_key=KEY,
                                api_secret=SECRET, start_ms=int(btc.timestamp[30]) + 1_000),
        connect,
        scenario,  # type: ignore[arg-type]
        ready=lambda venue: venue.start(),
    )  # fmt: skip


def test_reference_prices_come_from_the_ticker_without_errors(
    btc: pd.DataFrame, eth: pd.DataFrame
) -> None:
    seen: dict[str, object] = {}

    async def scenario(sim: Simulator, venue: CcxtVenue) -> None:
        for _ in range(12):  # more than conservative's error limit (10)
            seen["BTC"] = await venue.reference_price("BTC/USDT")
        seen["ETH"] = await venue.reference_price("ETH/USDT")
        seen["ticker"] = await venue.client.fetch_ticker("BTC/USDT")
        seen["tickers"] = await venue.client.fetch_tickers(["BTC/USDT", "ETH/USDT"])
        seen["health"] = await venue.health()
        sim.advance_to(int(btc.timestamp[31]) + 5_000)
        seen["next"] = await venue.reference_price("BTC/USDT")

    sim = _run(btc, eth, scenario)
    # The current bar (30) is priced at its open: what a market order sent now fills at.
    assert seen["BTC"] == Decimal(repr(float(btc.open[30])))
    assert seen["ETH"] == Decimal(repr(float(eth.open[30])))
    assert seen["next"] == Decimal(repr(float(btc.open[31])))
    assert seen["health"].error_times_ms == ()  # type: ignore[attr-defined]
    ticker = seen["ticker"]
    assert isinstance(ticker, dict)
    # The 24 h window: the closed bars 7..29 and the current bar's open, nothing later.
    day = btc.iloc[7:30]
    assert ticker["open"] == float(btc.open[7])
    assert ticker["high"] == max(day.high.max(), float(btc.open[30]))
    assert ticker["low"] == min(day.low.min(), float(btc.open[30]))
    assert ticker["baseVolume"] == round(float(day.volume.sum()), 8)
    assert ticker["bid"] < ticker["last"] < ticker["ask"]
    assert set(seen["tickers"]) == {"BTC/USDT", "ETH/USDT"}  # type: ignore[arg-type]
    paths = {r.path for r in sim.requests}
    assert "/api/v3/ticker/24hr" in paths
    assert all(r.status == 200 for r in sim.requests if r.path.startswith("/api/v3/ticker"))
