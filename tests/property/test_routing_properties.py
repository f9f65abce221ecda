"""Properties of the routing decision over random books, fees and balances: the children never
exceed the order, a venue's capacity or fall below its minimum; the routed quantity is what the
venues can take; and with split on, the routing never costs more than the best single venue."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from live.routing import BookWalkSlippage, Health, RoutingSpec, VenueInput, decide

NAMES = ("a", "b", "c")


@st.composite
def venues(draw: st.DrawFn) -> list[VenueInput]:
    out = []
    for name in NAMES:
        top = draw(st.floats(95.0, 105.0))
        step = draw(st.floats(0.001, 0.5))
        sizes = draw(st.lists(st.floats(0.01, 3.0), min_size=1, max_size=8))
        asks = tuple((top + k * step, q) for k, q in enumerate(sizes))
        bids = tuple((top - (k + 1) * step, q) for k, q in enumerate(sizes))
        out.append(VenueInput(
            name, "X/USD", draw(st.floats(0.0, 30.0)), bids, asks, "book",
            base_balance=draw(st.floats(0.0, 20.0)), quote_balance=draw(st.floats(0.0, 2_000.0)),
            health=Health(draw(st.booleans()) or name == "a"), lot=0.001,
        ))  # fmt: skip
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    venues(),
    st.sampled_from(["buy", "sell"]),
    st.floats(0.01, 15.0),
    st.integers(1, 30),
    st.booleans(),
)
def test_routing_invariants(
    vs: list[VenueInput], side: str, qty: float, slices: int, split: bool
) -> None:
    spec = RoutingSpec(
        venues=NAMES, taker_fee_bps={v.venue: v.fee_bps for v in vs}, split=split,
        split_slices=slices, min_child_notional=1.0,
    )  # fmt: skip
    books = {(v.venue, v.symbol): (v.bids, v.asks) for v in vs}
    d = decide("X/USD", side, qty, vs, spec, BookWalkSlippage({}, books))  # type: ignore[arg-type]
    caps = {c.venue: c.capacity_qty for c in d.candidates}
    routed = sum(c.qty for c in d.children)
    assert routed <= qty * (1 + 1e-9)
    assert d.unrouted_qty == (0.0 if qty - routed <= 1e-12 else max(0.0, qty - routed))
    for c in d.children:
        cand = next(x for x in d.candidates if x.venue == c.venue)
        assert cand.healthy and cand.excluded is None
        assert 0 < c.qty <= caps[c.venue] * (1 + 1e-9)
        assert c.qty * c.top >= 1.0 * (1 - 1e-9)  # min_child_notional
        assert abs(c.qty / 0.001 - round(c.qty / 0.001)) < 1e-6  # on the lot
    if not split:
        assert len(d.children) <= 1
    if split and d.single_price is not None and d.expected_price is not None:
        # Greedy slices on convex costs: never dearer than the best venue taking it all.
        worse = (d.expected_price - d.single_price) * (1 if side == "buy" else -1)
        assert worse <= d.single_price * 1e-9 or not math.isclose(routed, qty, rel_tol=1e-9)
