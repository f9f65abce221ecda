"""The DEX venue on anvil against real Uniswap V2/V3 bytecode and our executor."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from grekko_research.risk.spec import DexRisk, OrderRisk, RiskSpec
from live.events import EventStore
from live.orders import Ack, FillReport, OrderState, QueryResult, Rejected
from live.venues.base import OrderRequest, Venue
from live.venues.dex import DexVenue
from live.venues.dex_gate import SwapPlan
from live.venues.errors import GiveUp
from tests.dex_live.conftest import DexWorld

T = TypeVar("T")
E18 = 10**18
_ids = itertools.count()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def clock() -> int:
    return 1_700_000_000_000


def make_venue(dex: DexWorld, tmp_path: Path, name: str = "anvil_dex", **kw: Any) -> DexVenue:
    overrides = kw.pop("overrides", {"confirmations": 1})
    store = kw.pop("store", None) or EventStore.open(tmp_path / f"log-{next(_ids)}.sqlite")
    kw.setdefault("risk", RiskSpec(dex=DexRisk(slippage_bps=50, deadline_s=600)))
    return DexVenue(dex.config(name, **overrides), dex.signer, store, clock=clock, **kw)


def order(symbol: str, side: str, qty: str, cid: str | None = None) -> OrderRequest:
    return OrderRequest(cid or f"c{next(_ids)}", symbol, side, Decimal(qty))  # type: ignore[arg-type]


async def start_closed(venue: DexVenue) -> None:
    """Start ``venue`` (expected to raise) and close its connections either way."""
    try:
        await venue.start()
    finally:
        await venue.close()


async def with_venue(venue: DexVenue, fn: Callable[[DexVenue], Coroutine[Any, Any, T]]) -> T:
    await venue.start()
    try:
        return await fn(venue)
    finally:
        await venue.close()


def test_the_venue_implements_the_protocol(dex: DexWorld, tmp_path: Path) -> None:
    venue = make_venue(dex, tmp_path)
    assert isinstance(venue, Venue)
    assert venue.capabilities.market_orders and venue.capabilities.fetch_balance


@pytest.mark.parametrize(("symbol", "side", "qty"), [
    ("A/B", "sell", "1.5"), ("A/B", "buy", "0.75"), ("C/B", "sell", "3"), ("C/B", "buy", "2.5"),
])  # fmt: skip
def test_the_exact_quote_is_what_the_executor_gets(
    dex: DexWorld, tmp_path: Path, symbol: str, side: str, qty: str
) -> None:
    """The library's exact quote (V3 PoolState / V2 pair read from the node) equals the
    executor's own eth_call of the swap to the unit; minOut is that quote less 50 bps."""

    async def go(v: DexVenue) -> tuple[SwapPlan, int]:
        plan = await v.plan(order(symbol, side, qty))
        assert isinstance(plan, SwapPlan), plan
        return plan, await v.simulate(plan)

    plan, simulated = run(with_venue(make_venue(dex, tmp_path), go))
    assert simulated == plan.quote_out
    assert plan.min_out == plan.quote_out * 9950 // 10000
    if side == "buy":
        assert plan.quote_out >= int(Decimal(qty) * E18)  # at least the base asked for


@pytest.mark.parametrize("symbol", ["A/B", "C/B"])
def test_a_sell_and_a_buy_fill_through_the_executor(
    dex: DexWorld, tmp_path: Path, symbol: str
) -> None:
    base, quote = symbol.split("/")
    w = dex.world
    ex = w["executor"].address
    before = (w.balance(base, ex), w.balance(quote, ex))

    async def go(v: DexVenue) -> tuple[list[Any], list[Any], dict[str, Decimal]]:
        sold = await v.submit(order(symbol, "sell", "2", "s1"))
        bought = await v.submit(order(symbol, "buy", "1", "b1"))
        return sold, bought, await v.positions([symbol])

    sold, bought, pos = run(with_venue(make_venue(dex, tmp_path), go))
    assert isinstance(sold[0], Ack) and isinstance(sold[1], FillReport), sold
    assert isinstance(bought[1], FillReport), bought
    s, b = sold[1], bought[1]
    assert Decimal(s.qty) == 2 and Decimal(b.qty) == 1
    after = (w.balance(base, ex), w.balance(quote, ex))
    got_quote = int(Decimal(s.qty) * Decimal(s.price) * E18)
    paid_quote = int(Decimal(b.qty) * Decimal(b.price) * E18)
    # the executor's balances moved by exactly the two fills (within the price's rounding)
    assert abs((after[1] - before[1]) - (got_quote - paid_quote)) <= 10
    assert 0 <= (after[0] - before[0]) - (-2 * E18 + E18) <= 10  # a buy may round up a few units
    assert pos[symbol] == Decimal(after[0]).scaleb(-18)
    assert Decimal(s.fee) > 0 and s.fee_asset == "ETH"  # gas paid, reported as the fill's fee


def test_a_retried_create_never_sends_a_second_swap(dex: DexWorld, tmp_path: Path) -> None:
    async def go(v: DexVenue) -> tuple[list[Any], list[Any], int]:
        first = await v.submit(order("A/B", "sell", "1", "dup"))
        again = await v.submit(order("A/B", "sell", "1", "dup"))
        return first, again, len(v.nonces.txs)

    first, again, n = run(with_venue(make_venue(dex, tmp_path), go))
    assert n == 1
    assert isinstance(again[0], QueryResult) and again[0].status == OrderState.FILLED
    assert again[0].venue_order_id == first[1].trade_id


@pytest.mark.parametrize(("risk", "rule"), [
    (RiskSpec(dex=DexRisk(max_price_impact=0.004, slippage_bps=50)), "price_impact"),
    (RiskSpec(dex=DexRisk(max_gas_to_notional=1e-12, slippage_bps=50)), "gas_to_notional"),
    (RiskSpec(OrderRisk(max_notional=1.0), dex=DexRisk(slippage_bps=50)), "max_notional"),
])  # fmt: skip
def test_pre_trade_limits_refuse_before_anything_is_signed(
    dex: DexWorld, tmp_path: Path, risk: RiskSpec, rule: str
) -> None:
    venue = make_venue(dex, tmp_path, risk=risk)
    nonce = dex.world.w3.eth.get_transaction_count(dex.signer.address)

    async def go(v: DexVenue) -> list[Any]:
        return await v.submit(order("A/B", "sell", "20"))

    reports = run(with_venue(venue, go))
    assert len(reports) == 1 and isinstance(reports[0], Rejected)
    assert rule in reports[0].reason
    assert venue.nonces.txs == {}
    assert dex.world.w3.eth.get_transaction_count(dex.signer.address) == nonce


def test_a_price_move_after_the_quote_reverts_the_simulation(dex: DexWorld, tmp_path: Path) -> None:
    """minOut protects: another trader moves the pool between our quote and our send; the
    eth_call simulation reverts with the executor's InsufficientOutput and nothing is sent."""
    w = dex.world

    async def go(v: DexVenue) -> str:
        plan = await v.plan(order("A/B", "sell", "5"))
        assert isinstance(plan, SwapPlan)
        mover = w["mover"]  # another trader sells A into the same pool first
        w.send(mover.functions.swapExactIn(w["A"].address, [w["v3AB"].address], 500 * E18, 1, 2**40),
               w.other)  # fmt: skip
        with pytest.raises(GiveUp) as err:
            await v.simulate(plan)
        return str(err.value)

    said = run(with_venue(make_venue(dex, tmp_path), go))
    assert "InsufficientOutput" in said


def test_the_kill_switch_stops_the_venue(dex: DexWorld, tmp_path: Path) -> None:
    """A paused executor (the hot key's own kill switch) refuses to start, and a pause while
    running turns every order into a rejection at the simulation."""
    w = dex.world
    venue = make_venue(dex, tmp_path)

    async def go(v: DexVenue) -> list[Any]:
        await v.start()
        w.send(w["executor"].functions.pause(), w.owner)
        try:
            return await v.submit(order("A/B", "sell", "1"))
        finally:
            await v.close()

    reports = run(go(venue))
    assert isinstance(reports[0], Rejected) and "EnforcedPause" in reports[0].reason
    with pytest.raises(GiveUp, match="kill switch"):
        run(start_closed(make_venue(dex, tmp_path)))


def test_a_wrong_chain_or_a_key_without_the_role_fails_closed(
    dex: DexWorld, tmp_path: Path
) -> None:
    with pytest.raises(GiveUp, match="config says 1"):
        run(start_closed(make_venue(dex, tmp_path, overrides={"chain_id": 1})))
    w = dex.world
    w.send(w["executor"].functions.setExecutor(dex.signer.address, False))
    with pytest.raises(GiveUp, match="lacks the executor role"):
        run(start_closed(make_venue(dex, tmp_path)))
