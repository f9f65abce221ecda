"""A create the venue never accepted is re-issued under a new client id with its whole order
form: a stop-limit keeps its stop price, time in force and post-only flag (the re-issue used to
copy only the type and limit price, and an ``Intent`` without the stop price raised)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from live.orders import Intent, OrderManager, Rejected
from live.runner._reconcile import Reconciliation


class _Store:
    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def append_many(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows += rows


class _Probe(Reconciliation):
    """Just what ``_reissue_lost`` reads; nothing is sent."""

    halted = False  # type: ignore[assignment]

    def __init__(self, om: OrderManager) -> None:  # no RunnerBase set-up: no venue, no log
        self.om, self.store, self.sent = om, _Store(), []  # type: ignore[assignment]
        self._links: list[dict[str, str]] = []
        self._retries: dict[str, int] = {}
        self.clock = lambda: 5  # type: ignore[method-assign]

    async def _send(self, cid: str, *, force: bool = False) -> None:
        self.sent.append(cid)


def test_a_lost_stop_limit_is_reissued_with_its_trigger() -> None:
    om = OrderManager()
    lost = Intent(
        "run-1", "BTC/USDT", "sell", "0.5", 1_000, 0, order_type="stop_limit",
        stop_price="29000", limit_price="28900", time_in_force="GTC",
    )  # fmt: skip
    om.create(lost, 1)
    om.mark_submitted(lost.client_id, 1)
    om.apply(Rejected(lost.client_id, "not accepted: rate limited"), 2)
    probe = _Probe(om)
    asyncio.run(probe._reissue_lost())
    (again,) = probe.sent
    o = om.order(again)
    assert (o.order_type, o.stop_price, o.limit_price, o.time_in_force, o.seq) == (
        "stop_limit", Decimal("29000"), Decimal("28900"), "GTC", 1,
    )  # fmt: skip
    assert [r[0] for r in probe.store.rows] == ["order_created", "retry_created"]


def test_a_lost_stop_exit_is_reissued_as_the_same_exit() -> None:
    """An emulated stop's exit keeps reduce-only, its tag and the price and bar that fired it
    (re-issued as a plain market order it would be booked as a strategy order)."""
    om = OrderManager()
    lost = Intent(
        "run-1", "BTC/USDT", "sell", "0.5", 1_000, 0, reduce_only=True, tag="stop_loss",
        trigger_price="28950", trigger_ts_ms=3_600_000,
    )  # fmt: skip
    om.create(lost, 1)
    om.mark_submitted(lost.client_id, 1)
    om.apply(Rejected(lost.client_id, "not accepted: rate limited"), 2)
    probe = _Probe(om)
    asyncio.run(probe._reissue_lost())
    (again,) = probe.sent
    o = om.order(again)
    assert (o.reduce_only, o.tag, o.trigger_price, o.trigger_ts_ms, o.order_type) == (
        True, "stop_loss", Decimal("28950"), 3_600_000, "market",
    )  # fmt: skip


def test_a_lost_oco_leg_is_not_reissued_alone() -> None:
    om = OrderManager()
    legs = [
        Intent("run-1", "BTC/USDT", "sell", "0.5", 1_000, 0, order_type="stop_market",
               stop_price="29000", group="exit-1"),
        Intent("run-1", "BTC/USDT", "sell", "0.5", 1_000, 1, order_type="limit",
               limit_price="31000", group="exit-1"),
    ]  # fmt: skip
    for leg in legs:
        om.create(leg, 1)
        om.mark_submitted(leg.client_id, 1)
    om.apply(Rejected(legs[0].client_id, "not accepted: rate limited"), 2)
    probe = _Probe(om)
    asyncio.run(probe._reissue_lost())
    assert probe.sent == []
    assert om.group_cancels() == [legs[1].client_id]
