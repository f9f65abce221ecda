"""The order manager's order forms: stop / take-profit (market and limit), time in force,
post-only, and OCO groups as one unit — validation, persistence and replay, idempotent ids."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from live.orders import (
    Ack,
    Cancelled,
    FillReport,
    Intent,
    IntentConflictError,
    InvalidIntentError,
    OrderManager,
    OrderState,
    Rejected,
)

BTC = "BTC/USDT"


def intent(seq: int, **kw: Any) -> Intent:
    base: dict[str, Any] = {"side": "sell", "qty": "0.5"}
    base.update(kw)
    return Intent("run-1", BTC, decision_ts_ms=1_000, seq=seq, **base)


def stop_pair(group: str = "g1") -> tuple[Intent, Intent]:
    stop = intent(
        10, order_type="stop_limit", stop_price="29000", limit_price="28900", group=group,
        reduce_only=True, time_in_force="GTC",
    )  # fmt: skip
    take = intent(
        11, order_type="take_profit_limit", stop_price="32000", limit_price="32000", group=group,
        reduce_only=True,
    )  # fmt: skip
    return stop, take


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"order_type": "stop_market"}, "needs a stop_price"),
        ({"order_type": "stop_limit", "stop_price": "1"}, "needs a limit_price"),
        ({"order_type": "take_profit_market", "stop_price": "1", "limit_price": "1"}, "no limit"),
        ({"order_type": "market", "stop_price": "1"}, "takes no stop_price"),
        ({"order_type": "limit", "limit_price": "1", "stop_price": "1"}, "takes no stop_price"),
        ({"order_type": "stop_market", "stop_price": "-1"}, "stop_price must be finite"),
        ({"order_type": "trailing", "stop_price": "1"}, "order_type must be one of"),
        ({"order_type": "market", "time_in_force": "IOC"}, "takes no time_in_force"),
        ({"order_type": "limit", "limit_price": "1", "time_in_force": "DAY"}, "time_in_force"),
        ({"order_type": "market", "post_only": True}, "post_only applies to a limit"),
        (
            {"order_type": "limit", "limit_price": "1", "post_only": True, "time_in_force": "IOC"},
            "must rest",
        ),
        ({"order_type": "market", "group": ""}, "group must be a string"),
        ({"order_type": "trailing_stop_market"}, "needs a trailing_pct"),
        ({"order_type": "stop_market", "stop_price": "1", "trailing_pct": "1"}, "no trailing_pct"),
    ],
)
def test_bad_intents_are_refused_with_the_field_named(kw: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidIntentError, match=match):
        intent(0, **kw)


def test_every_form_round_trips_through_the_event_log() -> None:
    om = OrderManager()
    forms = [
        intent(0, order_type="stop_market", stop_price="29000", reduce_only=True),
        intent(1, order_type="take_profit_market", stop_price="31000", reduce_only=True),
        intent(2, order_type="limit", limit_price="30500", post_only=True, time_in_force="GTX"),
        intent(3, order_type="limit", limit_price="30500", time_in_force="FOK"),
        intent(4, order_type="trailing_stop_market", trailing_pct="1.5", reduce_only=True),
        intent(5, order_type="trailing_stop_market", trailing_pct="1", stop_price="31000"),
        *stop_pair(),
    ]
    events = []
    for i in forms:
        events += om.create(i, 5)
    replayed = OrderManager.replay(events)
    assert replayed.snapshot() == om.snapshot()
    for i in forms:
        o = replayed.order(i.client_id)
        assert (o.order_type, o.stop_price, o.limit_price, o.time_in_force, o.post_only) == (
            i.order_type,
            i.stop_price,
            i.limit_price,
            i.time_in_force,
            i.post_only,
        )
        assert (o.group, o.reduce_only, o.trailing_pct) == (i.group, i.reduce_only, i.trailing_pct)
    # The same intent again is a no-op; the same id with another trigger is a conflict.
    assert om.create(forms[0], 6) == []
    with pytest.raises(IntentConflictError):
        om.create(intent(0, order_type="stop_market", stop_price="28000", reduce_only=True), 6)
    # A plain order's event carries none of the new fields (old logs read the same).
    plain = OrderManager().create(intent(9), 1)[0]["payload"]
    assert not {"stop_price", "time_in_force", "post_only", "group", "trailing_pct"} & set(plain)


def _working(om: OrderManager, *intents: Intent) -> list[str]:
    cids = []
    for n, i in enumerate(intents):
        om.create(i, 1)
        om.mark_submitted(i.client_id, 1)
        om.apply(Ack(i.client_id, f"v{n}"), 2)
        cids.append(i.client_id)
    return cids


def test_a_partial_fill_of_one_leg_cancels_its_sibling() -> None:
    om = OrderManager()
    stop, take = _working(om, *stop_pair())
    assert om.group_cancels() == []
    events = om.apply(FillReport(take, "t1", "0.2", "32000"), 3)
    assert om.order(take).state is OrderState.PARTIALLY_FILLED
    assert om.group_cancels() == [stop]
    om.apply(Cancelled(stop, "oco sibling"), 4)
    assert om.group_cancels() == []
    # The filled leg keeps working for its remainder; the group is spent.
    assert om.order(take).remaining_qty == Decimal("0.3")
    with pytest.raises(IntentConflictError, match="already been triggered"):
        om.create(intent(5, order_type="stop_market", stop_price="1", group="g1"), 5)
    assert events[0]["kind"] == "order_fill"


def test_an_ended_leg_ends_the_group_and_new_legs_are_withdrawn() -> None:
    om = OrderManager()
    stop, take = stop_pair("g2")
    cid = stop.client_id
    om.create(stop, 1)
    om.mark_submitted(cid, 1)
    om.create(take, 1)  # not sent yet
    om.apply(Rejected(cid, "venue refused"), 3)
    assert om.group_cancels() == [take.client_id]
    om.apply(Cancelled(take.client_id, "oco sibling"), 4)  # NEW -> CANCELLED: withdrawn
    assert om.order(take.client_id).state is OrderState.CANCELLED
    assert om.group_cancels() == []


def test_a_group_is_one_symbol_and_one_side() -> None:
    om = OrderManager()
    om.create(stop_pair("g3")[0], 1)
    with pytest.raises(IntentConflictError, match="OCO group 'g3'"):
        om.create(intent(7, side="buy", order_type="stop_market", stop_price="1", group="g3"), 1)
    # Replaying the log is not re-validated against the group (it holds what was accepted).
    assert len(OrderManager.replay(om.create(stop_pair("g4")[1], 2)).group("g4")) == 1
