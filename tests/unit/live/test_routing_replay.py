"""A logged route is decided again from the inputs its event records (live.routing._replay):
the same children, or the fields that differ."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from grekko_research.engine.costs import CostModel
from live.routing import (
    BookWalkSlippage,
    Health,
    NotReplayable,
    RoutingSpec,
    SlippageEstimate,
    VenueInput,
    decide,
    replay_route,
    route_differences,
)
from live.routing._calibrated import CalibratedSlippage
from live.routing._replay import inputs_record, slippage_record, spec_record


def venue(name: str, top: float, fee: float, qty: float = 0.7) -> VenueInput:
    step = top * 1e-4
    asks = tuple((top + k * step, qty) for k in range(8))
    bids = tuple((top - (k + 1) * step, qty) for k in range(8))
    return VenueInput(name, "BTC/USDT", fee, bids, asks, "book", 50.0, 1e7, Health(True),
                      lot=0.0001, min_notional=5.0)  # fmt: skip


def logged(side: str, qty: float, inputs: list[VenueInput], spec: RoutingSpec,
           slippage: SlippageEstimate) -> dict[str, Any]:  # fmt: skip
    """The payload SmartRouter logs, through JSON as the event store keeps it."""
    d = decide("BTC/USDT", side, qty, inputs, spec, slippage)  # type: ignore[arg-type]
    payload = {"requested": {"symbol": "BTC/USDT", "side": side, "qty": qty}, **d.to_json(),
               "inputs": inputs_record(inputs), "routing_spec": spec_record(spec),
               "slippage": slippage_record(slippage)}  # fmt: skip
    return json.loads(json.dumps(payload))


SPEC = RoutingSpec(("a", "b", "c"), {"a": 10.0, "b": 7.5, "c": 20.0}, slippage_bps={"c": 2.0})
# c quotes from its ticker only: a one-level book of unknown size.
C = replace(venue("c", 19_990.0, 20.0), bids=((19_989.0, math.inf),),
            asks=((19_990.0, math.inf),), quote_source="reference")  # fmt: skip
INPUTS = [venue("a", 20_000.0, 10.0), venue("b", 20_006.0, 7.5), C]


def book_walk() -> BookWalkSlippage:
    books = {(v.venue, v.symbol): (v.bids, v.asks) for v in INPUTS if v.quote_source == "book"}
    return BookWalkSlippage(SPEC.slippage_bps, books, SPEC.beyond_book_bps)


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_a_split_route_replays_to_the_same_children(side: str) -> None:
    payload = logged(side, 6.0, INPUTS, SPEC, book_walk())
    assert len(payload["children"]) >= 2  # split: the replay has something to get wrong
    assert route_differences(payload) == []
    again = replay_route(payload)
    assert [(c.venue, c.qty) for c in again.children] == [
        (c["venue"], c["qty"]) for c in payload["children"]
    ]


def test_a_calibrated_model_is_recorded_and_replayed() -> None:
    model = CostModel("BTC/USDT", venue="a", a=3.0, b=40.0, c=0.1)
    slippage = CalibratedSlippage({("a", "BTC/USDT"): model}, {("a", "BTC/USDT"): (12.0, 30.0)},
                                  book_walk())  # fmt: skip
    payload = logged("buy", 2.0, INPUTS, SPEC, slippage)
    assert payload["slippage"]["kind"] == "calibrated"
    assert route_differences(payload) == []
    # Without the model's record the same route decides otherwise: the record matters.
    payload["slippage"] = payload["slippage"]["fallback"]
    assert route_differences(payload)


def test_a_changed_input_or_spec_shows_as_the_fields_it_moves() -> None:
    payload = logged("buy", 3.0, INPUTS, SPEC, book_walk())
    payload["inputs"][1]["fee_bps"] = 30.0  # b dearer than logged
    diffs = route_differences(payload)
    assert any(d.startswith("children:") for d in diffs)
    assert any(d.startswith("candidates:") for d in diffs)
    payload = logged("buy", 3.0, INPUTS, SPEC, book_walk())
    payload["routing_spec"]["split"] = False
    assert any(d.startswith("children:") for d in route_differences(payload))


def test_what_cannot_be_replayed_says_why() -> None:
    payload = logged("buy", 1.0, INPUTS, SPEC, book_walk())
    del payload["inputs"]
    with pytest.raises(NotReplayable, match=r"does not record \['inputs'\]"):
        route_differences(payload)

    class Mine:
        def expected_slippage_bps(self, *a: Any) -> float:
            return 1.0

    payload = logged("buy", 1.0, INPUTS, SPEC, Mine())
    with pytest.raises(NotReplayable, match="'Mine' is not recorded"):
        replay_route(payload)


def test_the_routes_command_exits_1_when_a_replay_differs(tmp_path: Any) -> None:
    from typer.testing import CliRunner

    from live.cli import app
    from live.events import EventStore

    same = logged("buy", 6.0, INPUTS, SPEC, book_walk())
    moved = logged("sell", 6.0, INPUTS, SPEC, book_walk())
    moved["routing_spec"]["split"] = False  # not what decided it
    path = tmp_path / "events.db"
    with EventStore.open(path) as store:
        store.append_many(
            [("route_decision", "route:1", same, 1), ("route_decision", "route:2", moved, 2)]
        )
    out = CliRunner().invoke(app, ["routes", "--events", str(path), "--json"])
    assert out.exit_code == 1, out.output
    doc = json.loads(out.stdout)
    assert [r["replay"] for r in doc["routes"]] == ["same", "differs"] and doc["differ"] == 1
    assert doc["routes"][1]["differences"][0].startswith("children: logged")
    out = CliRunner().invoke(app, ["routes", "--events", str(path)])  # the table
    assert out.exit_code == 1 and "route:2" in out.stdout, out.output
