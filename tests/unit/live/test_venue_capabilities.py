"""Venue capabilities are declared, never probed (STYLE principle 12).

- every registered adapter (the dedicated ones, the generic ccxt one, the paper venue on a
  replay and on a venue's feed) declares every required capability, and a broken adapter is
  refused naming what it lacks;
- no module of ``live/venues`` reaches into another object's private attributes (the ccxt
  stream and bar helpers use the small ``StreamHost``/``BarHost`` protocols), and nothing in
  ``live/`` probes a venue with ``getattr``/``hasattr`` — two AST scans, each shown to fail on
  a deliberately broken source.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine.config import EngineConfig
from grekko_research.errors import ConfigError
from live.venues.base import (
    OPTIONAL_CAPABILITIES,
    REQUIRED_CAPABILITIES,
    FundingVenue,
    OrderRequest,
    Venue,
    VenueCapabilities,
    missing_capabilities,
    unsupported_request,
)
from live.venues.ccxt_venue import CcxtVenue
from live.venues.paper import PaperVenue, ReplayFeed
from live.venues.registry import ADAPTERS, check_capabilities, make_venue

ROOT = Path(__file__).resolve().parents[3]
VENUES = ROOT / "live" / "venues"


def _bars() -> Bars:
    index = np.arange(5, dtype=np.int64) * 3_600_000
    price = np.full((5, 1), 100.0)
    return Bars(index, ("BTC/USDT",), "1h", price, price, price, price, np.ones((5, 1)))


def registered_venues() -> dict[str, Venue]:
    """One instance of every adapter a run can be given (no network: nothing is started)."""
    out: dict[str, Venue] = {name: make_venue(name) for name in ADAPTERS}
    out["kraken (generic ccxt)"] = make_venue("kraken")
    out["paper on a replay"] = PaperVenue(EngineConfig(), ["BTC/USDT"], ReplayFeed(_bars()))
    out["paper on binance's feed"] = PaperVenue(
        EngineConfig(), ["BTC/USDT"], make_venue("binance", require=("fetch_ohlcv",))
    )
    return out


def undeclared(venues: dict[str, Any]) -> dict[str, list[str]]:
    """Each venue's missing required capabilities (empty: complete)."""
    out = {}
    for name, venue in venues.items():
        caps = venue.capabilities if hasattr(venue, "capabilities") else None
        if lacking := missing_capabilities(caps):
            out[name] = lacking
    return out


def test_every_registered_adapter_declares_every_required_capability() -> None:
    venues = registered_venues()
    assert set(ADAPTERS) <= set(venues)
    assert undeclared(venues) == {}
    for venue in venues.values():
        assert isinstance(venue, Venue)
        assert isinstance(venue.capabilities, VenueCapabilities)


def test_the_declaration_check_fails_on_broken_adapters() -> None:
    class Lacking(CcxtVenue):
        capability_overrides: ClassVar[dict[str, bool]] = {"cancel_orders": False}

    class Silent:  # an adapter that declares nothing
        name = "silent"

    broken = {
        "lacking": Lacking(make_venue("kraken").client),
        "silent": Silent(),
    }
    assert undeclared(broken) == {
        "lacking": ["cancel_orders"],
        "silent": list(REQUIRED_CAPABILITIES),
    }


def test_make_venue_refuses_a_venue_lacking_a_required_capability(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class NoFills(CcxtVenue):
        capability_overrides: ClassVar[dict[str, bool]] = {"fetch_fills": False}

    monkeypatch.setitem(ADAPTERS, "kraken", (NoFills, {}))
    with pytest.raises(
        ConfigError, match="venue 'kraken' lacks required capabilities: fetch_fills"
    ):
        make_venue("kraken")
    # a data feed asks for bars only
    assert make_venue("kraken", require=("fetch_ohlcv",)).capabilities.fetch_fills is False
    with pytest.raises(ConfigError, match=r"unknown venue capabilities \['teleport'\]"):
        check_capabilities("kraken", make_venue("binance").capabilities, ["teleport"])


def test_what_each_adapter_declares() -> None:
    v = registered_venues()
    spot, usdm, cb = (
        v["binance"].capabilities,
        v["binanceusdm"].capabilities,
        v["coinbase"].capabilities,
    )
    assert (spot.stream_bars, spot.stream_orders, spot.stream_trades) == (True, True, True)
    assert (spot.reduce_only, spot.funding, spot.contract_positions) == (False, False, False)
    assert (usdm.reduce_only, usdm.funding, usdm.contract_positions) == (True, True, True)
    assert isinstance(v["binanceusdm"], FundingVenue)  # what capabilities.funding promises
    # Coinbase: ccxt streams its order updates, neither candles nor the account's trades
    assert (cb.stream_orders, cb.stream_bars, cb.stream_trades) == (True, False, False)
    # Binance spot: its native stops, take-profits, LIMIT_MAKER, IOC/FOK and OCO lists.
    assert (spot.stop_orders, spot.stop_limit_orders, spot.post_only, spot.oco) == (True,) * 4
    assert spot.time_in_force == {"GTC", "IOC", "FOK"}
    for caps in (spot, usdm, cb):
        assert caps.market_orders and caps.limit_orders and "GTC" in caps.time_in_force
        assert not caps.execution_bar
    # Binance USD-M: STOP_MARKET / TAKE_PROFIT_MARKET / TRAILING_STOP_MARKET (algo orders), GTX.
    assert (usdm.stop_orders, usdm.trailing_stop_orders, usdm.post_only) == (True,) * 3
    assert usdm.time_in_force == {"GTC", "IOC", "FOK", "GTX"}
    # ... and STOP / TAKE_PROFIT with a limit price (algo orders too); no OCO list.
    assert usdm.stop_limit_orders and not usdm.oco
    # Coinbase: stop_limit_stop_limit_gtc, post-only limits and an exit pair as one
    # trigger_bracket_gtc order; no stop-market order exists.
    assert (cb.stop_limit_orders, cb.post_only, cb.oco) == (True, True, True)
    assert not cb.stop_orders and cb.time_in_force == {"GTC"}
    replay, fed = v["paper on a replay"].capabilities, v["paper on binance's feed"].capabilities
    assert replay.execution_bar and not replay.limit_orders and not replay.stream_bars
    assert not fed.execution_bar and fed.stream_bars and fed.ticker


def test_capabilities_are_typed() -> None:
    base = dict.fromkeys(REQUIRED_CAPABILITIES, True)
    with pytest.raises(TypeError, match=r"VenueCapabilities\.fetch_fills must be a bool"):
        VenueCapabilities(**base | {"fetch_fills": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="time_in_force must be a frozenset"):
        VenueCapabilities(**base, time_in_force=frozenset({"GTD"}))
    caps = VenueCapabilities(**base)
    assert set(caps.enabled()) == set(REQUIRED_CAPABILITIES)
    assert not set(OPTIONAL_CAPABILITIES) & set(REQUIRED_CAPABILITIES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        caps.fetch_fills = False  # type: ignore[misc]


def test_requests_beyond_the_declared_order_types_are_named() -> None:
    caps = VenueCapabilities(**dict.fromkeys(REQUIRED_CAPABILITIES, True))
    limit = OrderRequest("c1", "BTC/USDT", "buy", 1, "limit", 100)  # type: ignore[arg-type]
    market = OrderRequest("c2", "BTC/USDT", "buy", 1)  # type: ignore[arg-type]
    assert unsupported_request(market, caps) is None
    assert unsupported_request(limit, caps) == "this venue's adapter sends no limit orders"
    assert unsupported_request(limit, dataclasses.replace(caps, limit_orders=True)) is None


# -- the AST scans ---------------------------------------------------------------------------


def private_reaches(source: str) -> list[str]:
    """``obj._name`` accesses (and ``getattr(obj, "_name")``) on anything but ``self``, ``cls``
    or ``super()``: a module touching another object's private attributes."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            name, owner = node.attr, node.value
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            name, owner = node.args[1].value, node.args[0]
        else:
            continue
        private = name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
        own = (isinstance(owner, ast.Name) and owner.id in ("self", "cls")) or (
            isinstance(owner, ast.Call)
            and isinstance(owner.func, ast.Name)
            and owner.func.id == "super"
        )
        if private and not own:
            out.append(f"{node.lineno}: {ast.unparse(node)}")
    return out


def venue_probes(source: str) -> list[str]:
    """``getattr``/``hasattr`` calls on a venue (capabilities are read, never probed)."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and node.args
            and "venue" in ast.unparse(node.args[0]).lower()
        ):
            out.append(f"{node.lineno}: {ast.unparse(node)}")
    return out


def test_venue_modules_touch_no_other_objects_private_attributes() -> None:
    found = {
        str(path.relative_to(ROOT)): hits
        for path in sorted(VENUES.rglob("*.py"))
        if (hits := private_reaches(path.read_text()))
    }
    assert found == {}


def test_nothing_in_live_probes_a_venue() -> None:
    found = {
        str(path.relative_to(ROOT)): hits
        for path in sorted((ROOT / "live").rglob("*.py"))
        if (hits := venue_probes(path.read_text()))
    }
    assert found == {}


@pytest.mark.parametrize(
    "source",
    [
        # today's main, _ccxt_stream.py / _ccxt_bars.py: the helpers read the adapter's state
        "def f(venue, order):\n    return venue._cid_by_oid.get(str(order.get('id')))",
        "class B:\n    def _push(self, s, bar):\n        self.venue._last_close[s] = bar.close",
        "tf = venue._timeframe_ms(timeframe)",
        "x = getattr(venue, '_orders')",
    ],
)
def test_the_private_attribute_scan_catches_a_reach(source: str) -> None:
    assert private_reaches(source)


def test_the_private_attribute_scan_allows_own_state_and_public_members() -> None:
    ok = (
        "class A(B):\n    def f(self):\n        self._x = self.venue.tracker.get(1)\n"
        "        return super()._f() or self.__class__"
    )
    assert private_reaches(ok) == []


@pytest.mark.parametrize(
    "source",
    [
        # today's main, live/runner/runner.py and live/runner/_safety.py
        "nxt = getattr(self.venue, 'execution_bar', None)",
        "health = getattr(self.venue, 'health', None)",
        "if hasattr(venue, 'cancel_all'):\n    pass",
    ],
)
def test_the_probe_scan_catches_a_probe(source: str) -> None:
    assert venue_probes(source)
