"""A run whose orders are routed across two Binance simulators (``live.venues.routed``),
through the real ccxt client: the runner trades one account, every order goes where its
all-in price is best (here: buys where the book is cheaper, sells where it is dearer), the
routes are logged beside the run's log and replay, the quality table prices each order at its
children's fills, and the run's position is the venues' together. Also: ``live.routing`` in the
configuration gives a run this venue (``make_plan_venue``)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from grekko_research.config import compose_config
from grekko_research.engine import EngineConfig, Fees, MarketRules
from grekko_research.strategy import get_strategy
from live.cli import app as live_app
from live.events import EventStore
from live.orders import OrderManager, OrderState
from live.quality import quality_table
from live.risk import RiskEngine
from live.routing import RoutingSpec, SmartRouter
from live.runner import Runner, RunnerSpec
from live.sim import start_simulator
from live.venues import Credentials, make_venue
from live.venues.routed import RoutedVenue
from tests.integration.test_quality_sim import SimReplay, wall_ms

KEY, SECRET = "routed-key-0123456789", "routed-secret-abcdefghij"
BARS = 72
B_FACTOR = 1.002  # b's prices 20 bps above a's: buys are cheaper on a, sells dearer on b


def scaled(frame: pd.DataFrame, factor: float) -> pd.DataFrame:
    out = frame.copy()
    for c in ("open", "high", "low", "close"):
        out[c] = (out[c] * factor).round(2)
    return out


@pytest.fixture(scope="module")
def routed_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """sma_cross 2/5 over 72 hourly bars, its orders routed across simulators a and b."""
    frame = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz").head(BARS)
    folder = tmp_path_factory.mktemp("routed")
    out: dict[str, Any] = {"folder": folder}

    async def main() -> None:
        # b holds enough BTC for every sell (a venue short of it is left out: another test)
        sims = {
            "a": await start_simulator(candles={"BTCUSDT": frame}, api_key=KEY,
                                       api_secret=SECRET, balances={"USDT": "100000"}),
            "b": await start_simulator(candles={"BTCUSDT": scaled(frame, B_FACTOR)},
                                       api_key=KEY, api_secret=SECRET,
                                       balances={"USDT": "100000", "BTC": "50"}),
        }  # fmt: skip
        adapters = {n: make_venue("binance", urls=s.url, credentials=Credentials(KEY, SECRET),
                                  rate_limit=False) for n, s in sims.items()}  # fmt: skip
        # a's bars replayed; both simulators' clocks moved to the next bar's open
        venues = {"a": SimReplay(adapters["a"], sims["a"], frame, others=(sims["b"],)),
                  "b": adapters["b"]}  # fmt: skip
        routing = RoutingSpec(venues=("a", "b"), taker_fee_bps={"a": 10.0, "b": 10.0})
        routes = EventStore.open(folder / "routes.db")
        router = SmartRouter(routing, venues, routes, RiskEngine(None), run_id="routed",
                             clock=wall_ms, grace_ms=2_000)  # fmt: skip
        strategy = get_strategy("sma_cross")
        engine = EngineConfig(fees=Fees(taker=0.001), market=MarketRules(lot_size=0.00001))
        spec = RunnerSpec("routed", strategy, strategy.params({"fast": 2, "slow": 5}), engine,
                          ("BTC/USDT",), "1h", grace_ms=2_000, reconcile_every_ms=1)  # fmt: skip
        try:
            with EventStore.open(folder / "events.db") as store:
                venue = RoutedVenue("a", router, owns_store=True)
                runner = Runner(spec, venue, store, clock=wall_ms)
                out["summary"] = await runner.run()
                out["positions"] = await venue.positions(["BTC/USDT"])
            for n, s in sims.items():
                out[n] = [(o.client_order_id, o.side, o.status) for o in s.book.orders]
        finally:
            for s in sims.values():
                await s.close()

    asyncio.run(main())
    return out


def test_each_order_goes_where_its_all_in_price_is_best(routed_run: dict[str, Any]) -> None:
    folder = routed_run["folder"]
    assert routed_run["summary"].halted is None
    with EventStore.open(folder / "events.db") as log:
        events = list(log.read())
    with EventStore.open(folder / "routes.db") as log:
        routes = [e.payload for e in log.read(kinds=["route_decision"])]
    om = OrderManager.replay(events)
    orders = om.orders()
    assert len(orders) >= 6, "the run must trade to prove anything"
    assert {o.side for o in orders} == {"buy", "sell"}
    # One account: each order routed once, filled whole by its children.
    assert sorted(r["requested"]["parent"] for r in routes) == sorted(o.client_id for o in orders)
    assert all(o.state is OrderState.FILLED and o.filled_qty == o.qty for o in orders)
    # Where the book is cheaper for the side: buys on a, sells on b, the log says why.
    for r in routes:
        venues = {c["venue"] for c in r["child_orders"] if c["sent"]}
        assert venues == ({"a"} if r["side"] == "buy" else {"b"}), r["reason"]
        assert r["candidates"] and r["reason"]
    assert {s for _, s, _ in routed_run["a"]} == {"BUY"}
    assert {s for _, s, _ in routed_run["b"]} == {"SELL"}
    # The order's fills are its children's: every child id is at its venue once.
    children = [c["client_id"] for r in routes for c in r["child_orders"] if c["sent"]]
    at_venues = [cid for v in ("a", "b") for cid, _, _ in routed_run[v]]
    assert sorted(children) == sorted(at_venues)
    # The run's position is what it bought on a less what it sold on b.
    held = sum((f.qty if o.side == "buy" else -f.qty for o in orders
                for f in om.fills(o.client_id)), Decimal(0))  # fmt: skip
    assert om.position("BTC/USDT") == held
    # ... and the two venues' together (the account's reconciliation ran at every bar)
    baseline = next(e.payload["baseline"] for e in events if e.kind == "run_started")
    assert routed_run["positions"]["BTC/USDT"] - Decimal(baseline["BTC/USDT"]) == held
    assert Decimal(baseline["BTC/USDT"]) == 50
    assert len([e for e in events if e.kind == "reconciled"]) >= BARS // 2
    assert not [e for e in events if e.kind == "halted"]


def test_routes_replay_and_the_quality_table_prices_the_orders(
    routed_run: dict[str, Any],
) -> None:
    folder = routed_run["folder"]
    result = CliRunner().invoke(
        live_app, ["routes", "--events", str(folder / "events.db"), "--json"]
    )
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert len(listed["routes"]) >= 6
    assert {r["replay"] for r in listed["routes"]} == {"same"}
    with EventStore.open(folder / "events.db") as log:
        table = quality_table(log.read())
    filled = table[table.state == "FILLED"]
    assert len(filled) >= 6
    # A sell fills at b's prices, 20 bps above a's open, the bar model's: the table shows it.
    sells = filled[filled.side == "sell"]
    assert (sells.slip_model_bps < -15).all()


def test_live_routing_in_the_config_gives_the_run_a_routed_venue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREKKO_BINANCE_API_KEY", KEY)  # each venue's exchange's credentials
    monkeypatch.setenv("GREKKO_BINANCE_API_SECRET", SECRET)
    cfg = compose_config([
        "live.venue=a", f"live.state_dir={tmp_path}", "risk=conservative",
        "+live.routing.venues=[{name: a, exchange: binance, url: 'http://127.0.0.1:1', "
        "taker_fee_bps: 10}, {name: b, exchange: binance, url: 'http://127.0.0.1:2', "
        "taker_fee_bps: 20}]",
    ])  # fmt: skip
    from live.app import make_plan_venue, plan_run

    plan = plan_run(replace(cfg, live=replace(cfg.live, mode="live")))
    venue = make_plan_venue(plan)
    try:
        assert isinstance(venue, RoutedVenue)
        assert venue.router.spec.taker_fee_bps == {"a": 10.0, "b": 20.0}
        assert set(venue.router.venues) == {"a", "b"}
        assert (tmp_path / plan.spec.run_id / "routes.db").exists()
    finally:
        asyncio.run(venue.close())
    bad = replace(cfg, live=replace(cfg.live, mode="live", venue="c"))
    with pytest.raises(Exception, match=r"must be one of live\.routing\.venues"):
        make_plan_venue(plan_run(bad))
    # The compliance policy checks each routed venue's exchange, not its label.
    from live.compliance.policy import check_plan

    check_plan(plan)
    routing = replace(cfg.live.routing, venues=[*cfg.live.routing.venues[:1],
                      replace(cfg.live.routing.venues[1], exchange="kraken")])  # fmt: skip
    elsewhere = replace(cfg, live=replace(cfg.live, mode="live", routing=routing))
    with pytest.raises(Exception, match="venue 'kraken'"):
        check_plan(plan_run(elsewhere))
