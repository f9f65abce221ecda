"""The routing decision (live.routing.decide) and its config, as pure functions."""

from __future__ import annotations

import math
from typing import Any

import pytest

from grekko_research.errors import ConfigError
from live.routing import (
    BookWalkSlippage,
    Health,
    RoutingSpec,
    VenueInput,
    decide,
    venue_health,
    walk_price,
)
from live.venues.base import FailedCall, VenueHealth

OK = Health(True)


def book(top: float, qty: float = 1.0, levels: int = 10, step_bps: float = 1.0) -> tuple[Any, Any]:
    """A book around ``top`` (the best ask; the best bid one step below), ``qty`` a level."""
    step = top * step_bps / 1e4
    asks = tuple((top + k * step, qty) for k in range(levels))
    bids = tuple((top - (k + 1) * step, qty) for k in range(levels))
    return bids, asks


def venue(name: str, top: float, *, fee: float = 10.0, usdt: float = 1e9, btc: float = 1e3,
          health: Health = OK, qty: float = 1.0, lot: float = 0.0001) -> VenueInput:  # fmt: skip
    bids, asks = book(top, qty)
    return VenueInput(name, "BTC/USDT", fee, bids, asks, "book", btc, usdt, health, lot=lot)


def spec(**over: Any) -> RoutingSpec:
    base: dict[str, Any] = {"venues": ("a", "b"), "taker_fee_bps": {"a": 10.0, "b": 10.0}}
    return RoutingSpec(**{**base, **over})


def route(side: str, qty: float, *venues: VenueInput, **over: Any) -> Any:
    s = spec(**over)
    books = {(v.venue, v.symbol): (v.bids, v.asks) for v in venues}
    return decide("BTC/USDT", side, qty, venues, s, BookWalkSlippage(s.slippage_bps, books))  # type: ignore[arg-type]


def alloc(decision: Any) -> dict[str, float]:
    return {c.venue: round(c.qty, 8) for c in decision.children}


def test_walk_price_averages_the_levels_and_prices_beyond_the_book() -> None:
    asks = ((100.0, 1.0), (101.0, 1.0))
    assert walk_price(asks, 1.0, 50, "buy") == 100.0
    assert walk_price(asks, 2.0, 50, "buy") == 100.5
    assert walk_price(asks, 3.0, 100, "buy") == pytest.approx((100 + 101 + 101 * 1.01) / 3)
    bids = ((99.0, 1.0),)
    assert walk_price(bids, 2.0, 100, "sell") == pytest.approx((99 + 99 * 0.99) / 2)
    assert math.isnan(walk_price((), 1.0, 0, "buy"))


def test_the_cheaper_venue_wins_on_both_sides() -> None:
    a, b = venue("a", 100.0), venue("b", 100.1)
    assert alloc(route("buy", 0.1, a, b)) == {"a": 0.1}  # lower ask
    assert alloc(route("sell", 0.1, a, b)) == {"b": 0.1}  # higher bid


def test_fees_flip_the_choice() -> None:
    a, b = venue("a", 100.0, fee=20.0), venue("b", 100.1, fee=5.0)
    d = route("buy", 0.1, a, b, taker_fee_bps={"a": 20.0, "b": 5.0})
    assert alloc(d) == {"b": 0.1}
    assert d.children[0].expected_price == pytest.approx(100.1 * 1.0005)
    # The fixed slippage of the default estimate counts too: 20 bps on b flips it back.
    d = route("buy", 0.1, a, b, taker_fee_bps={"a": 20.0, "b": 5.0}, slippage_bps={"b": 20.0})
    assert alloc(d) == {"a": 0.1}


def test_an_unhealthy_venue_is_left_out_with_its_reasons() -> None:
    sick = Health(False, ("rate limited: fetch_order_book answered RateLimitExceeded at 5",))
    d = route("buy", 0.1, venue("a", 100.0, health=sick), venue("b", 100.1))
    assert alloc(d) == {"b": 0.1}
    a = d.candidates[0]
    assert a.excluded == "unhealthy: rate limited: fetch_order_book answered RateLimitExceeded at 5"
    assert "left out: a (unhealthy" in d.reason


def test_balance_bounds_what_a_venue_takes() -> None:
    # a can pay for ~0.05 of the 0.1: it takes that (in slices), b the rest.
    d = route("buy", 0.1, venue("a", 100.0, usdt=5.2), venue("b", 100.1), min_child_notional=1.0)
    assert alloc(d) == {"a": 0.05, "b": 0.05}
    # Below the minimum child: all on b, and the log says why.
    d = route("buy", 0.1, venue("a", 100.0, usdt=5.0), venue("b", 100.1))
    assert alloc(d) == {"b": 0.1}
    assert d.candidates[0].excluded is not None and d.candidates[0].excluded.startswith("balance")
    # A sell needs the base asset.
    d = route("sell", 1.0, venue("a", 100.0, btc=0.0), venue("b", 99.0))
    assert alloc(d) == {"b": 1.0}
    # An order below a venue's minimum is not a balance problem, and the log says so.
    d = route("sell", 0.05, venue("a", 100.0), venue("b", 99.0))
    assert d.children == () and "below this venue's minimum child" in d.reason


def test_a_large_order_splits_where_the_books_make_it_cheaper() -> None:
    a, b = venue("a", 100.0, qty=0.5), venue("b", 100.02, qty=0.5)
    small = route("buy", 0.2, a, b)
    assert alloc(small) == {"a": 0.2} and small.saving_bps == 0
    large = route("buy", 4.0, a, b)
    split = alloc(large)
    assert set(split) == {"a", "b"} and sum(split.values()) == pytest.approx(4.0)
    assert split["a"] > split["b"]  # a's book is cheaper: it takes more
    assert large.saving_bps is not None and large.saving_bps > 1.0
    assert large.expected_price is not None and large.single_price is not None
    assert large.expected_price < large.single_price
    # split off: the cheapest one venue takes it all
    assert alloc(route("buy", 4.0, a, b, split=False)) == {"a": 4.0}


def test_children_are_on_the_lot_and_nothing_is_lost_to_rounding() -> None:
    a, b = venue("a", 100.0, qty=0.5, lot=0.001), venue("b", 100.0, qty=0.5, lot=0.01)
    d = route("buy", 1.237, a, b, split_slices=7)
    for c in d.children:
        lot = 0.001 if c.venue == "a" else 0.01
        assert abs(c.qty / lot - round(c.qty / lot)) < 1e-6
    assert sum(c.qty for c in d.children) == pytest.approx(1.237)
    assert d.unrouted_qty == 0


def test_nothing_routable_sends_nothing_and_says_why() -> None:
    sick = Health(False, ("quote failed: RetryLater",))
    d = route("buy", 1.0, venue("a", 100.0, health=sick), venue("b", 100.0, usdt=0.0))
    assert d.children == () and d.unrouted_qty == 1.0 and d.expected_price is None
    assert d.reason.startswith("not routed: a: unhealthy") and "b: balance" in d.reason
    json = d.to_json()
    assert json["children"] == [] and json["candidates"][0]["health_reasons"] == [
        "quote failed: RetryLater"
    ]


def test_venue_health_reads_errors_bans_streams_and_latency() -> None:
    s = spec(max_errors=2, error_window_s=10, ban_window_s=60, max_quote_latency_ms=500)
    now = 100_000
    assert venue_health(VenueHealth(), quote_latency_ms=10, now_ms=now, spec=s).ok
    errs = VenueHealth(error_times_ms=(1_000, 95_000, 99_000))
    h = venue_health(errs, quote_latency_ms=10, now_ms=now, spec=s)
    assert not h.ok and h.errors == 2 and h.reasons == ("2 failed calls in 10 s (max 1)",)
    banned = VenueHealth(failed_calls=(FailedCall(50_000, "create_order", "DDoSProtection"),))
    h = venue_health(banned, quote_latency_ms=10, now_ms=now, spec=s)
    assert h.reasons == ("rate limited: create_order answered DDoSProtection at 50000",)
    old_ban = VenueHealth(failed_calls=(FailedCall(30_000, "create_order", "DDoSProtection"),))
    assert venue_health(old_ban, quote_latency_ms=10, now_ms=now, spec=s).ok
    assert not venue_health(
        VenueHealth(ws_down_since_ms=1), quote_latency_ms=1, now_ms=now, spec=s
    ).ok
    slow = venue_health(VenueHealth(), quote_latency_ms=700, now_ms=now, spec=s)
    assert slow.reasons == ("quote took 700 ms (max 500)",)
    assert not venue_health(None, quote_latency_ms=None, now_ms=now, spec=s).ok


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"venues": ("a",)}, "two or more distinct venues"),
        ({"taker_fee_bps": {"a": 10.0}}, "has no fee for ['b']"),
        ({"taker_fee_bps": {"a": 10.0, "b": -1.0}}, "taker_fee_bps.b must be a number"),
        ({"slippage_bps": {"c": 1.0}}, "names venues not routed to: ['c']"),
        ({"split_slices": 0}, "split_slices is out of range"),
        ({"balance_buffer": 1.0}, "balance_buffer is out of range"),
        ({"symbols": {"BTC/USDT": {"z": "BTC/USD"}}}, "symbols.BTC/USDT names venues not routed"),
        ({"fee_from_venue": ("a",)}, "['a'] both set taker_fee_bps and read it from the venue"),
        ({"fee_from_venue": ("z",)}, "fee_from_venue names venues not routed to: ['z']"),
    ],
)
def test_the_spec_refuses_bad_config_naming_the_key(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=r"live\.routing") as err:
        spec(**over)
    assert message in str(err.value)


def test_the_spec_from_config_maps_symbols_and_refuses_unknown_keys() -> None:
    raw = {"venues": [{"name": "binance", "taker_fee_bps": 10},
                      {"name": "coinbase", "taker_fee_bps": 60, "slippage_bps": 2,
                       "symbols": [{"run": "BTC/USDT", "venue": "BTC/USD"}]}]}  # fmt: skip
    s = RoutingSpec.from_config(raw)
    assert s.symbol_on("BTC/USDT", "coinbase") == "BTC/USD"
    assert s.symbol_on("BTC/USDT", "binance") == "BTC/USDT"
    assert s.slippage_bps == {"binance": 0.0, "coinbase": 2}
    with pytest.raises(ConfigError, match=r"unknown keys \['fee'\]"):
        RoutingSpec.from_config({**raw, "fee": 1})
    no_fee = {"venues": [{"name": "binance"}, {"name": "coinbase", "taker_fee_bps": 60}]}
    with pytest.raises(ConfigError, match=r"live\.routing\.venues\[0\]\.taker_fee_bps is required"):
        RoutingSpec.from_config(no_fee)
    read = {"venues": [{"name": "binance", "fee_from_venue": True},
                       {"name": "coinbase", "taker_fee_bps": 60}]}  # fmt: skip
    s = RoutingSpec.from_config(read)
    assert s.fee_from_venue == ("binance",) and s.taker_fee_bps == {"coinbase": 60}
    read["venues"][0]["taker_fee_bps"] = 10  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"venues\[0\]: taker_fee_bps or fee_from_venue"):
        RoutingSpec.from_config(read)


def test_the_live_routing_config_section_composes_into_the_spec() -> None:
    """``live.routing``'s defaults are the spec's; off without venues; on from overrides."""
    from dataclasses import asdict, fields

    from grekko_research.config.compose import compose_config
    from live.routing import routing_spec

    cfg = compose_config([])
    assert routing_spec(asdict(cfg.live.routing)) is None
    cfg = compose_config([
        "live.routing.venues=[{name:binance,taker_fee_bps:10},"
        "{name:coinbase,taker_fee_bps:60,symbols:[{run:BTC/USDT,venue:BTC/USD}]}]"
    ])  # fmt: skip
    s = routing_spec(asdict(cfg.live.routing))
    assert s is not None and s.venues == ("binance", "coinbase")
    assert s.taker_fee_bps == {"binance": 10.0, "coinbase": 60.0}
    assert s.symbol_on("BTC/USDT", "coinbase") == "BTC/USD"
    defaults = RoutingSpec(venues=("a", "b"), taker_fee_bps={"a": 1.0, "b": 1.0})
    for f in fields(RoutingSpec):
        if f.name not in ("venues", "taker_fee_bps", "symbols", "slippage_bps"):
            assert getattr(s, f.name) == getattr(defaults, f.name), f.name
