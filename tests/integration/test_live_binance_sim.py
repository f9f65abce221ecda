"""grekko-live end to end against the local Binance simulator (``grekko-live sim``, its own
process, market clock running): a live run and a paper run of a reference strategy through the
real ccxt client, then status / orders / positions / reconcile from the command line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from live.cli import app
from live.venues.ccxt_venue import CcxtVenue
from tests.peers.durability import watch_durability
from tests.peers.sim_cli import sim_process

KEY, SECRET = "e2e-key-0123456789", "e2e-secret-abcdefghij"
# The simulator's clock is the replayed market's (2021): the clock-skew check would rightly
# halt trading against it (tests/integration/test_live_ops.py shows that it does).
REHEARSAL = ["risk.ops.max_clock_skew_ms=null"]
ENV = {"GREKKO_BINANCE_API_KEY": KEY, "GREKKO_BINANCE_API_SECRET": SECRET}


@pytest.fixture
def sim(shared_data: Path) -> Iterator[str]:
    """``grekko-live sim`` (its own process) replaying BTC/USDT from 2021-01-10, 1 s per bar."""
    with sim_process(shared_data, ENV) as url:
        yield url


def live(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, env=ENV)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def test_live_and_paper_runs_against_the_simulator(
    sim: str, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    durability = watch_durability(monkeypatch, CcxtVenue)
    common = ["--venue", "binance", "--venue-url", sim, "--strategy", "sma_cross",
              "--params", "fast=2", "--params", "slow=5", "--state-dir", str(tmp_path)]  # fmt: skip
    # 12 bars: SMA(2) crosses above SMA(5) at least once in every 12 hourly bars of the first
    # 87 after the simulator's start (8 bars missed it when the run began 6 bars late)
    code, out = live(
        ["run", *common, "--mode", "live", "--confirm-live", "binance", "--max-bars", "12",
         "risk=conservative", *REHEARSAL]
    )  # fmt: skip
    assert code == 0, out
    events = out.strip().splitlines()[-1]

    code, out = live(["status", "--events", events, "--json"])
    status = json.loads(out)
    assert status["venue"] == "binance" and status["mode"] == "live"
    assert status["bars"] == 12 and status["decisions"] == 12 and status["halted"] is None
    assert status["orders"] >= 1, "the run must trade to prove anything"
    assert status["open_orders"] == 0
    # Bars' closes and fills' acknowledgements skip the disk sync; each order still leaves
    # only once the log is on disk up to its intent (nothing it depends on can be lost).
    assert {"bar_closed", "order_acknowledged"} <= durability.lazy_kinds, durability
    assert not {"order_created", "order_submitted", "order_fill"} & durability.lazy_kinds
    assert durability.sent and not durability.sent_over_lazy, durability.sent_over_lazy

    # The bars the runner traded on are the real candles, closed, each once and in order.
    import pandas as pd

    from live.events import EventStore

    candles = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz")
    rows = candles.set_index("timestamp")
    with EventStore.open(events) as log:
        closed = [e.payload for e in log.read(kinds=["bar_closed"])]
    stamps = [c["ts"] for c in closed]
    assert stamps == sorted(set(stamps)) and stamps[1] - stamps[0] == 3_600_000
    for c in closed:
        want = rows.loc[c["ts"], ["open", "high", "low", "close", "volume"]].tolist()
        assert [row[0] for row in c["bar"]] == pytest.approx(want, rel=1e-12)

    code, out = live(["orders", "--events", events, "--json"])
    orders = json.loads(out)
    assert all(o["state"] == "FILLED" and o["venue_order_id"] for o in orders)
    net = sum(Decimal(o["filled"]) * (1 if o["side"] == "buy" else -1) for o in orders)
    code, out = live(["positions", "--events", events, "--json"])
    assert Decimal(json.loads(out)["positions"]["BTC/USDT"]) == net

    # The venue agrees: reconcile reads the simulator's orders, fills and balances.
    code, out = live(["reconcile", *common[:4], "--strategy", "sma_cross", "--params", "fast=2",
                      "--params", "slow=5", "--state-dir", str(tmp_path), "--mode", "live",
                      "risk=conservative"])  # fmt: skip
    assert code == 0 and "books agree" in out, out

    # Paper trading on the same venue's public feed: no order reaches the simulator.
    code, out = live(["run", *common, "--max-bars", "4"])
    assert code == 0, out
    code, out = live(["status", "--events", out.strip().splitlines()[-1], "--json"])
    paper = json.loads(out)
    assert paper["mode"] == "paper" and paper["venue"] == "paper" and paper["bars"] == 4
