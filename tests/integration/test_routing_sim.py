"""Smart order routing against two Binance spot simulators side by side (different books and fee
rates), through the real ccxt client: the cheaper venue wins, fees flip the choice, a
rate-limited venue is avoided, a short balance routes to the other venue, a large order splits,
every child goes through the risk engine and its venue's order manager, the decision is logged
with its reasons before any child is sent, and a crash between two children neither loses nor
doubles one."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from grekko_research.risk.spec import OrderRisk, RiskSpec
from live.cli import app as live_app
from live.events import EventStore
from live.orders import OrderState
from live.risk import ProposedOrder, RiskEngine
from live.risk.views import MarketView, PortfolioView
from live.routing import RouteResult, RoutingSpec, SmartRouter
from live.sim import Simulator, start_simulator
from live.sim.coinbase import new_cdp_key, start_coinbase_simulator
from live.venues import CcxtVenue, Credentials, make_venue

KEY, SECRET = "sim-key-0123456789", "sim-secret-abcdefghijkl"
BTC = "BTC/USDT"
RICH = {"USDT": "2000000", "BTC": "50"}
Scenario = Callable[
    [dict[str, Simulator], SmartRouter, Callable[..., SmartRouter]], Awaitable[None]
]


def scaled(frame: pd.DataFrame, factor: float) -> pd.DataFrame:
    """The candles with every price multiplied by ``factor`` (another venue's book)."""
    out = frame.copy()
    for c in ("open", "high", "low", "close"):
        out[c] = (out[c] * factor).round(2)
    return out


def spec(**over: Any) -> RoutingSpec:
    base: dict[str, Any] = {
        "venues": ("a", "b"),
        "taker_fee_bps": {"a": 10.0, "b": 10.0},
        "split_slices": 10,
    }
    return RoutingSpec(**{**base, **over})


def run(
    btc: pd.DataFrame,
    tmp_path: Path,
    scenario: Scenario,
    *,
    routing: RoutingSpec,
    b_factor: float = 1.0,
    a_sim: dict[str, Any] | None = None,
    b_sim: dict[str, Any] | None = None,
    risk: RiskSpec | None = None,
) -> EventStore:
    """Start simulators ``a`` and ``b`` (``b``'s prices × ``b_factor``), connect an adapter to
    each, build a router over a fresh log and run ``scenario(sims, router, rebuild)``;
    ``rebuild()`` makes a new router on the same log (a restart). Returns the log, reopened."""
    log = tmp_path / "events.db"
    start = int(btc.timestamp[10])

    async def main() -> None:
        sims = {
            "a": await start_simulator(
                candles={"BTCUSDT": btc}, api_key=KEY, api_secret=SECRET, start_ms=start,
                **{"balances": RICH, **(a_sim or {})},
            ),
            "b": await start_simulator(
                candles={"BTCUSDT": scaled(btc, b_factor)}, api_key=KEY, api_secret=SECRET,
                start_ms=start, **{"balances": RICH, **(b_sim or {})},
            ),
        }  # fmt: skip
        venues: dict[str, CcxtVenue] = {
            n: make_venue(
                "binance", urls=s.url, credentials=Credentials(KEY, SECRET),
                timeout_ms=2000, rate_limit=False,
            )
            for n, s in sims.items()
        }  # fmt: skip
        store = EventStore.open(log)

        def rebuild(**kw: Any) -> SmartRouter:
            return SmartRouter(
                routing, venues, store, RiskEngine(risk), run_id="sor-test",
                clock=lambda: int(time.time() * 1000), **kw,
            )  # fmt: skip

        try:
            await asyncio.gather(*(v.start() for v in venues.values()))
            await scenario(sims, rebuild(), rebuild)
        finally:
            store.close()
            for v in venues.values():
                await v.close()
            for s in sims.values():
                await s.close()

    asyncio.run(main())
    return EventStore.open(log)


async def buy(router: SmartRouter, qty: str, seq: int = 0) -> RouteResult:
    return await router.route(
        BTC, "buy", Decimal(qty), decision_ts_ms=1_000, seq=seq,
        portfolio=PortfolioView(equity=1_000_000.0),
    )  # fmt: skip


def venues_of(result: RouteResult) -> dict[str, Decimal]:
    return {v: o.qty for v, o in result.children}


def test_the_cheaper_venue_wins_and_the_log_says_why(btc: pd.DataFrame, tmp_path: Path) -> None:
    seen: dict[str, RouteResult] = {}

    async def scenario(sims: dict[str, Simulator], router: SmartRouter, _: Any) -> None:
        seen["r"] = await buy(router, "0.01")

    store = run(btc, tmp_path, scenario, routing=spec(), b_factor=1.001)  # b 10 bps dearer
    r = seen["r"]
    assert venues_of(r) == {"a": Decimal("0.01")}
    assert all(o.state is OrderState.FILLED for _, o in r.children)
    events = list(store.read())
    kinds = [e.kind for e in events]
    # The decision, the child's risk verdict and its creation precede its submission.
    first_submit = kinds.index("order_submitted")
    assert kinds.index("route_decision") < kinds.index("risk_decision") < first_submit
    assert kinds.index("order_created") < first_submit
    decision = next(e.payload for e in events if e.kind == "route_decision")
    cands = {c["venue"]: c for c in decision["candidates"]}
    assert cands["a"]["quote_source"] == cands["b"]["quote_source"] == "book"
    assert cands["b"]["best_ask"] > cands["a"]["best_ask"] * 1.0008
    assert cands["a"]["all_in_price"] < cands["b"]["all_in_price"]
    assert cands["a"]["fee_bps"] == 10.0 and cands["a"]["quote_balance"] == 2_000_000.0
    assert cands["a"]["healthy"] and cands["a"]["excluded"] is None
    assert [c["venue"] for c in decision["child_orders"]] == ["a"]
    assert decision["child_orders"][0]["risk"] == "approve"
    assert "cheapest all-in price" in decision["reason"]
    store.close()


def test_fees_flip_the_choice(btc: pd.DataFrame, tmp_path: Path) -> None:
    """b is 10 bps dearer on the book but charges 5 bps instead of a's 20: b wins."""
    seen: dict[str, RouteResult] = {}

    async def scenario(sims: dict[str, Simulator], router: SmartRouter, _: Any) -> None:
        seen["r"] = await buy(router, "0.01")

    fees = {"a": 20.0, "b": 5.0}
    store = run(
        btc, tmp_path, scenario, routing=spec(taker_fee_bps=fees), b_factor=1.001,
        a_sim={"fee_rate": "0.002"}, b_sim={"fee_rate": "0.0005"},
    )  # fmt: skip
    assert venues_of(seen["r"]) == {"b": Decimal("0.01")}
    fill = next(e.payload for e in store.read(kinds=["order_fill"]))
    assert Decimal(fill["fee"]) / (Decimal(fill["qty"]) * Decimal(fill["price"])) == Decimal(
        "0.0005"
    )
    store.close()


def test_fees_read_from_the_venues_route_and_a_venue_that_cannot_tell_is_left_out(
    btc: pd.DataFrame, tmp_path: Path
) -> None:
    """fee_from_venue: each account's taker rate comes from its venue (ccxt's
    fetch_trading_fee: the simulator's /sapi/v1/asset/tradeFee), read once an hour; b's 5 bps
    beat a's 20 as in the test above. A venue whose fee read fails is left out (a fee is
    never guessed), and the logged route replays from what it read."""
    from live.routing import route_differences

    seen: dict[str, Any] = {}

    async def scenario(sims: dict[str, Simulator], router: SmartRouter, rebuild: Any) -> None:
        seen["first"] = await buy(router, "0.01", seq=0)
        seen["second"] = await buy(router, "0.01", seq=1)
        seen["reads"] = [r.path for r in sims["a"].requests].count("/sapi/v1/asset/tradeFee")
        sims["b"].set_fault("refuse", path="/sapi/v1/asset/tradeFee", status=400, code=-1121,
                            msg="Invalid symbol.")  # fmt: skip
        seen["b down"] = await buy(rebuild(), "0.01", seq=2)

    routing = spec(taker_fee_bps={}, fee_from_venue=("a", "b"))
    store = run(
        btc, tmp_path, scenario, routing=routing, b_factor=1.001,
        a_sim={"fee_rate": "0.002"}, b_sim={"fee_rate": "0.0005"},
    )  # fmt: skip
    first = seen["first"].payload
    fees = {c["venue"]: c["fee_bps"] for c in first["candidates"]}
    assert fees == {"a": pytest.approx(20.0), "b": pytest.approx(5.0)}
    assert venues_of(seen["first"]) == {"b": Decimal("0.01")} == venues_of(seen["second"])
    assert seen["reads"] == 1  # the second route used the fee read for the first
    down = seen["b down"].payload
    cands = {c["venue"]: c for c in down["candidates"]}
    assert "fee failed" in cands["b"]["excluded"] and cands["b"]["fee_bps"] is None
    assert venues_of(seen["b down"]) == {"a": Decimal("0.01")}
    for e in store.read(kinds=["route_decision"]):
        assert route_differences(e.payload) == []
    store.close()


def test_a_rate_limited_venue_is_avoided(btc: pd.DataFrame, tmp_path: Path) -> None:
    seen: dict[str, RouteResult] = {}

    async def scenario(sims: dict[str, Simulator], router: SmartRouter, _: Any) -> None:
        sims["a"].set_fault("rate_limit", path="/api/v3/depth", retry_after=1)
        seen["r"] = await buy(router, "0.01")

    store = run(btc, tmp_path, scenario, routing=spec(), b_factor=1.001)
    assert venues_of(seen["r"]) == {"b": Decimal("0.01")}  # the dearer, healthy one
    a = next(c for c in seen["r"].payload["candidates"] if c["venue"] == "a")
    assert not a["healthy"] and a["excluded"].startswith("unhealthy")
    assert any("RetryLater" in r for r in a["health_reasons"])
    assert any(r.startswith("rate limited: fetch_order_book") for r in a["health_reasons"])
    store.close()


def test_a_short_balance_routes_to_the_other_venue(btc: pd.DataFrame, tmp_path: Path) -> None:
    seen: dict[str, RouteResult] = {}

    async def scenario(sims: dict[str, Simulator], router: SmartRouter, _: Any) -> None:
        seen["r"] = await buy(router, "0.01")
        router.risk.halt("operator", now_ms=int(time.time() * 1000))
        seen["halted"] = await buy(router, "0.01", seq=1)  # decided, logged, refused, not sent

    store = run(
        btc, tmp_path, scenario, routing=spec(), b_factor=1.001, a_sim={"balances": {"USDT": "8"}}
    )
    halted = seen["halted"]
    assert halted.children == [] and [c["venue"] for c in halted.payload["child_orders"]] == ["b"]
    assert halted.payload["child_orders"][0]["sent"] is False
    assert halted.payload["child_orders"][0]["risk_rule"] == "halted"
    assert len(list(store.read(kinds=["order_created"]))) == 1  # the first route's child only
    assert venues_of(seen["r"]) == {"b": Decimal("0.01")}  # the dearer one that can pay
    a = next(c for c in seen["r"].payload["candidates"] if c["venue"] == "a")
    assert a["quote_balance"] == 8.0 and a["excluded"].startswith("balance: quote balance takes")
    store.close()


def test_a_large_order_splits_and_each_child_passes_the_risk_engine(
    btc: pd.DataFrame, tmp_path: Path
) -> None:
    """The same book on both venues: a small order stays whole, 4 BTC splits (the book walk
    makes it cheaper); each child is checked by the risk engine, which shrinks it to
    ``order.max_notional``, and is one order on its own venue."""
    seen: dict[str, Any] = {}

    async def scenario(sims: dict[str, Simulator], router: SmartRouter, _: Any) -> None:
        seen["small"] = await buy(router, "0.01", seq=0)
        seen["large"] = await buy(router, "4", seq=1)
        seen["booked"] = {n: [o.client_order_id for o in s.book.orders] for n, s in sims.items()}

    limits = RiskSpec(order=OrderRisk(max_notional=30_000))
    store = run(btc, tmp_path, scenario, routing=spec(), risk=limits)
    assert len(seen["small"].children) == 1
    large = seen["large"].payload
    planned = {c["venue"]: c["qty"] for c in large["children"]}
    assert set(planned) == {"a", "b"} and sum(planned.values()) == pytest.approx(4)
    assert large["saving_bps"] > 0.5 and "split saves" in large["reason"]
    risk = {e.stream: e.payload for e in store.read(kinds=["risk_decision"])}
    for child, (venue, order) in zip(large["child_orders"], seen["large"].children, strict=True):
        verdict = risk[order.client_id]
        assert (child["risk"], verdict["action"], verdict["rule"]) == ("shrink",) * 2 + (
            "max_notional",
        )
        assert order.qty == Decimal(child["qty"]) < Decimal(child["planned_qty"])
        assert order.avg_price is not None and order.qty * order.avg_price <= 30_000 * Decimal(
            "1.001"
        )
        assert order.state is OrderState.FILLED
        assert seen["booked"][venue].count(order.client_id) == 1
    store.close()
    # Both routes, decided again from what their events record (the books, balances, health,
    # spec and slippage model read from the simulators), give the same children.
    out = CliRunner().invoke(live_app, ["routes", "--events", str(tmp_path / "events.db"),
                                        "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert [r["replay"] for r in doc["routes"]] == ["same", "same"] and doc["differ"] == 0
    assert {c["venue"]: c["qty"] for c in doc["routes"][1]["children"]} == planned


def warm_up_the_risk_kernels() -> None:
    order = ProposedOrder(BTC, "buy", 1.0, 1.0)
    RiskEngine().check_order(order, PortfolioView(1.0), MarketView(prices={BTC: 1.0}), now_ms=0)


class Crash(Exception):
    """The process dies here (the hook's stand-in for a SIGKILL)."""


def test_a_crash_after_the_sends_neither_loses_nor_doubles_a_child(
    btc: pd.DataFrame, tmp_path: Path
) -> None:
    """Both children are sent and the process dies before either answer is persisted; the
    restarted router finds both by client id, sends nothing twice, and the same route asked
    again is not decided again."""
    seen: dict[str, Any] = {}

    def die(point: str) -> None:
        if point == "after_send":
            raise Crash(point)

    async def scenario(sims: dict[str, Simulator], _: SmartRouter, rebuild: Any) -> None:
        with pytest.raises(Crash):
            await buy(rebuild(hook=die), "4")
        restarted = rebuild()
        unsettled = [o.state for om in restarted.managers.values() for o in om.orders()]
        assert unsettled == [OrderState.SUBMITTED, OrderState.SUBMITTED]
        assert len(await restarted.recover()) == 1
        seen["again"] = await buy(restarted, "4")  # the same route: resumed, not re-decided
        seen["booked"] = {n: [o.client_order_id for o in s.book.orders] for n, s in sims.items()}

    store = run(btc, tmp_path, scenario, routing=spec())
    again = seen["again"]
    assert {v for v, _ in again.children} == {"a", "b"}
    for venue, order in again.children:
        assert order.state is OrderState.FILLED and order.filled_qty == order.qty
        assert seen["booked"][venue] == [order.client_id]  # one create each, never two
    assert len(list(store.read(kinds=["route_decision"]))) == 1
    assert len(list(store.read(kinds=["order_submitted"]))) == 2
    store.close()


def test_a_childs_create_lost_before_its_send_is_created_again_once(
    btc: pd.DataFrame, tmp_path: Path
) -> None:
    """A route of a run's order (``parent``): the process dies after each child's
    ``order_submitted`` is logged, before its create leaves. Restarted, the router finds
    neither at its venue; past the grace each is REJECTED and created again under a new id
    (``route_reissue``, logged with its ``order_created``), sent once and filled; asked
    again, nothing more is created. A cancelled route's lost child is not created again."""
    seen: dict[str, Any] = {}

    def die(point: str) -> None:
        if point == "before_send":
            raise Crash(point)

    async def route(router: SmartRouter, parent: str) -> RouteResult:
        return await router.route(BTC, "buy", Decimal("4"), decision_ts_ms=0, parent=parent,
                                  portfolio=PortfolioView(1e9))  # fmt: skip

    async def scenario(sims: dict[str, Simulator], _: SmartRouter, rebuild: Any) -> None:
        for parent in ("parent-1", "parent-2"):
            with pytest.raises(Crash):
                await route(rebuild(hook=die), parent)
        restarted = rebuild(grace_ms=0)
        restarted.cancel("route:parent-2")  # its order called off: nothing more is sent
        seen["first"] = await route(restarted, "parent-1")
        seen["again"] = await route(rebuild(grace_ms=0), "parent-1")
        seen["cancelled"] = await route(rebuild(grace_ms=0), "parent-2")
        seen["booked"] = {n: [o.client_order_id for o in s.book.orders] for n, s in sims.items()}

    store = run(btc, tmp_path, scenario, routing=spec())
    first = seen["first"]
    sent = [(v, o) for v, o in first.children if o.state is OrderState.FILLED]
    assert {v for v, _ in sent} == {"a", "b"}
    assert sum(o.filled_qty for _, o in sent) == Decimal("4")
    lost = [o for _, o in first.children if o.state is OrderState.REJECTED]
    assert len(lost) == 2 and all((o.reason or "").startswith("not found") for o in lost)
    for venue, order in sent:
        assert seen["booked"][venue] == [order.client_id]  # the re-issue only, once
    assert [(v, o.state) for v, o in seen["again"].children] == [
        (v, o.state) for v, o in first.children
    ]
    assert all(o.filled_qty == 0 for _, o in seen["cancelled"].children)
    reissues = [e.payload for e in store.read(kinds=["route_reissue"])]
    assert sorted(r["of"] for r in reissues) == sorted(o.client_id for o in lost)
    assert len(list(store.read(kinds=["route_cancelled"]))) == 1
    store.close()


def test_binance_and_coinbase_side_by_side(btc: pd.DataFrame, tmp_path: Path) -> None:
    """Two different simulators and adapters: Binance spot (BTC/USDT, 10 bps) and Coinbase
    (BTC/USD by ``live.routing.symbols``, 120 bps taker, its book 2 % cheaper): Coinbase's all-in
    price wins despite its fee, its book read through ``/market/product_book``."""
    log = tmp_path / "events.db"
    key, secret = new_cdp_key()
    start = int(btc.timestamp[10])
    routing = RoutingSpec(
        venues=("binance", "coinbase"), taker_fee_bps={"binance": 10.0, "coinbase": 120.0},
        symbols={BTC: {"coinbase": "BTC/USD"}},
    )  # fmt: skip
    seen: dict[str, Any] = {}

    async def main() -> None:
        bn = await start_simulator(
            candles={"BTCUSDT": btc}, api_key=KEY, api_secret=SECRET, start_ms=start, balances=RICH
        )
        cb = await start_coinbase_simulator(
            candles={"BTC-USD": scaled(btc, 0.98)}, api_key=key, api_secret=secret,
            start_ms=start, balances={"USD": "100000"},
        )  # fmt: skip
        venues = {
            "binance": make_venue("binance", urls=bn.url, credentials=Credentials(KEY, SECRET),
                                  rate_limit=False),
            "coinbase": make_venue("coinbase", urls=cb.url, credentials=Credentials(key, secret),
                                   rate_limit=False, price_timeframe="1h"),
        }  # fmt: skip
        store = EventStore.open(log)
        try:
            await asyncio.gather(*(v.start() for v in venues.values()))
            assert all(v.capabilities.order_book for v in venues.values())
            router = SmartRouter(
                routing, venues, store, RiskEngine(), run_id="sor-cb",
                clock=lambda: int(time.time() * 1000),
            )  # fmt: skip
            seen["r"] = await buy(router, "0.01")
            seen["cb"] = [(o.client_order_id, o.status) for o in cb.orders]
        finally:
            store.close()
            for v in venues.values():
                await v.close()
            await bn.close()
            await cb.close()

    asyncio.run(main())
    r = seen["r"]
    (venue, order), *_ = r.children
    assert (len(r.children), venue, order.symbol) == (1, "coinbase", "BTC/USD")
    assert order.state is OrderState.FILLED
    assert [c for c, _ in seen["cb"]] == [order.client_id]
    cands = {c["venue"]: c for c in r.payload["candidates"]}
    assert (
        cands["coinbase"]["quote_source"] == "book"
        and cands["coinbase"]["quote_balance"] == 100_000
    )
    assert cands["coinbase"]["all_in_price"] < cands["binance"]["all_in_price"]


@contextmanager
def simulators_process(btc: pd.DataFrame) -> Iterator[dict[str, str]]:
    """Simulators ``a`` and ``b`` served by a forked process (killed on exit); their URLs."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)

        async def serve() -> None:
            urls = []
            for _ in range(2):
                sim = await start_simulator(candles={"BTCUSDT": btc}, api_key=KEY,
                                            api_secret=SECRET, start_ms=int(btc.timestamp[10]),
                                            balances=RICH)  # fmt: skip
                urls.append(sim.url)
            os.write(write, (" ".join(urls) + "\n").encode())
            await asyncio.Event().wait()

        try:
            asyncio.run(serve())
        finally:
            os._exit(0)
    os.close(write)
    try:
        with os.fdopen(read) as pipe:
            yield dict(zip(("a", "b"), pipe.readline().split(), strict=True))
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def test_a_sigkill_between_the_children_loses_and_doubles_nothing(
    btc: pd.DataFrame, tmp_path: Path
) -> None:
    """A router process is SIGKILLed by its own hook once the second child's create has been
    answered, before that answer is persisted; a new router on the same log finds the child by
    its client id: both children FILLED, and each simulator lists exactly one fill, of it, and
    no open order (read through the real client)."""
    log = tmp_path / "events.db"
    warm_up_the_risk_kernels()  # here, once: the forked router inherits them compiled

    async def router_run(urls: dict[str, str], hook: Any) -> tuple[RouteResult, Any]:
        venues = {n: make_venue("binance", urls=u, credentials=Credentials(KEY, SECRET),
                                rate_limit=False) for n, u in urls.items()}  # fmt: skip
        store = EventStore.open(log)
        try:
            router = SmartRouter(spec(), venues, store, RiskEngine(), run_id="sor-kill",
                                 clock=lambda: int(time.time() * 1000), hook=hook)  # fmt: skip
            await router.recover()
            result = await buy(router, "4")
            return result, {n: (await v.open_orders([BTC]), await v.fills(BTC))
                            for n, v in venues.items()}  # fmt: skip
        finally:
            store.close()
            for v in venues.values():
                await v.close()

    answered = 0

    def kill(point: str) -> None:
        nonlocal answered
        answered += point == "after_send"
        if answered == 2:
            os.kill(os.getpid(), signal.SIGKILL)

    with simulators_process(btc) as urls:
        pid = os.fork()
        if pid == 0:  # the router process: killed at the second answered create
            try:
                asyncio.run(router_run(urls, kill))
            finally:
                os._exit(3)  # not killed: the exit status fails the test
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
        result, listed = asyncio.run(router_run(urls, None))
    assert {v for v, _ in result.children} == {"a", "b"}
    for venue, order in result.children:
        assert order.state is OrderState.FILLED
        open_orders, fills = listed[venue]
        assert open_orders == [] and [f.client_id for f in fills] == [order.client_id]
    with EventStore.open(log) as store:
        assert len(list(store.read(kinds=["route_decision"]))) == 1
        assert len(list(store.read(kinds=["order_submitted"]))) == 2
