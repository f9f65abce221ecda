"""The native-vs-emulated stop policy: per stop kind, from the engine's stops and what the
venue's adapter declares; ``native`` fails closed, bad settings name the key."""

from __future__ import annotations

import pytest

from grekko_research.engine import Stops
from grekko_research.errors import ConfigError
from live.orders import StopPolicy
from live.venues import make_venue
from live.venues.base import REQUIRED_CAPABILITIES, VenueCapabilities


def caps(name: str):  # type: ignore[no-untyped-def]
    return make_venue(name).capabilities


def plan(policy: StopPolicy, stops: Stops, venue: str) -> dict[str, tuple[str, str | None]]:
    return {p.kind: (p.how, p.order_type) for p in policy.plan(stops, caps(venue), venue)}


ALL = Stops(stop_loss=0.02, take_profit=0.04, trailing=0.03)


def test_auto_is_native_where_the_adapter_sends_the_type() -> None:
    auto = StopPolicy()
    assert plan(auto, ALL, "binance") == {
        "stop_loss": ("native", "stop_market"),
        "take_profit": ("native", "take_profit_market"),
        "trailing": ("emulated", None),  # Binance spot: no trailing stop sent
    }
    assert plan(auto, ALL, "binanceusdm")["trailing"] == ("native", "trailing_stop_market")
    # Coinbase has no stop-market order: stop-limits.
    assert plan(auto, ALL, "coinbase") == {
        "stop_loss": ("native", "stop_limit"),
        "take_profit": ("native", "take_profit_limit"),
        "trailing": ("emulated", None),
    }


def test_what_no_venue_holds_is_emulated() -> None:
    atr = Stops(stop_loss=2.0, stop_loss_kind="atr", trailing=3.0, trailing_kind="atr")
    assert plan(StopPolicy(), atr, "binanceusdm") == {
        "stop_loss": ("native", "stop_market"),  # a level fixed at entry: a venue can hold it
        "trailing": ("emulated", None),  # no venue trails by ATR
    }
    wide = Stops(trailing=0.2)  # 20 %: beyond USD-M's 10 % callback rate
    assert plan(StopPolicy(), wide, "binanceusdm") == {"trailing": ("emulated", None)}
    # A venue declaring no stop orders (the paper venue) holds nothing natively.
    bare = VenueCapabilities(**dict.fromkeys(REQUIRED_CAPABILITIES, True))
    assert {p.how for p in StopPolicy().plan(ALL, bare)} == {"emulated"}


def test_emulated_mode_and_native_mode_fail_closed() -> None:
    assert {h for h, _ in plan(StopPolicy(mode="emulated"), ALL, "binanceusdm").values()} == {
        "emulated"
    }
    with pytest.raises(ConfigError, match=r"mode=native but binance cannot hold the trailing"):
        StopPolicy(mode="native").plan(ALL, caps("binance"), "binance")
    assert StopPolicy(mode="native").plan(Stops(stop_loss=0.01), caps("binance"), "binance")


def test_bad_settings_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"stop_policy\.mode must be one of"):
        StopPolicy(mode="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="stop_limit_offset must be a fraction"):
        StopPolicy(stop_limit_offset=1.5)
    with pytest.raises(ConfigError, match=r"live.stop_policy: unknown keys \['moed'\]"):
        StopPolicy.from_config({"moed": "auto"}, "live.stop_policy")
    assert StopPolicy.from_config(None) == StopPolicy()
    assert StopPolicy.from_config({"mode": "native"}).mode == "native"


def test_stop_limit_sends_the_stop_loss_as_a_stop_limit_where_the_venue_has_one() -> None:
    sl_tp = Stops(stop_loss=0.02, take_profit=0.04)
    limit = StopPolicy(stop_limit=True)
    assert plan(limit, sl_tp, "binance") == {
        "stop_loss": ("native", "stop_limit"),  # STOP_LOSS_LIMIT in the OCO list
        "take_profit": ("native", "take_profit_market"),
    }
    # A venue with stop-market orders but no stop-limit: not natively (native mode refuses).
    only_market = VenueCapabilities(
        **dict.fromkeys(REQUIRED_CAPABILITIES, True), stop_orders=True, stop_limit_orders=False
    )
    assert next(p.how for p in limit.plan(sl_tp, only_market)) == "emulated"
    with pytest.raises(ConfigError, match=r"cannot hold the stop_loss .*no stop-limit order"):
        StopPolicy("native", stop_limit=True).plan(sl_tp, only_market, "v")
    with pytest.raises(ConfigError, match="stop_limit must be true or false, got 'yes'"):
        StopPolicy(stop_limit="yes")  # type: ignore[arg-type]
