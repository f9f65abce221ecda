"""The routing section of a live run's config (``live.routing``), checked into a frozen spec."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from grekko_research.errors import ConfigError

__all__ = ["RoutingSpec", "routing_spec"]

_FIELDS = (
    "venues",
    "book_depth",
    "split",
    "split_slices",
    "min_child_notional",
    "balance_buffer",
    "beyond_book_bps",
    "max_errors",
    "error_window_s",
    "ban_window_s",
    "max_quote_latency_ms",
    "avoid_stream_down",
)


@dataclass(frozen=True)
class RoutingSpec:
    """How orders of a symbol listed on several venues are routed (see :mod:`live.routing`).

    Attributes
    ----------
    venues
        The venues an order may go to, by name (two or more to route at all).
    symbols
        A run symbol → ``{venue: that venue's symbol}`` where a venue lists it under another
        name (``BTC/USDT`` on Binance is ``BTC/USD`` … on another); unlisted: the same name.
    taker_fee_bps
        The taker fee per venue, in bps of the notional (every venue must have one, or be in
        ``fee_from_venue``: an unknown fee never routes an order).
    fee_from_venue
        Venues whose taker fee is read from the venue (the account's own rate,
        ``FeeVenue.taker_fee_bps``) instead of configured; a venue that cannot tell it is left
        out of every route, with the reason.
    slippage_bps
        Expected slippage per venue beyond the book walk, in bps (default 0): the default
        :class:`~live.routing.SlippageEstimate`'s fixed part.
    book_depth
        Book levels read per side.
    split
        Split an order across venues when that is cheaper (else the cheapest one venue that
        can take it all).
    split_slices
        The order is cut into this many equal slices, each given to the venue where it adds
        the least expected cost (the greedy split is optimal for costs convex in size, which a
        book walk is).
    min_child_notional
        No child smaller than this quote notional (its slices go to the other venues).
    balance_buffer
        Fraction of a venue's quote balance kept aside (fees, rounding): a venue buys at most
        what ``(1 - buffer) ×`` its quote balance buys; it sells all the base it holds (the fee
        of a spot sell is charged in the quote received).
    beyond_book_bps
        A size beyond the levels read is priced at the last level read plus this.
    max_errors, error_window_s
        A venue with this many failed calls in the window is unhealthy.
    ban_window_s
        A venue that answered "rate limited" / "banned" in this window is unhealthy.
    max_quote_latency_ms
        A venue whose quote took longer is unhealthy.
    avoid_stream_down
        A venue whose user stream is down is unhealthy (its fills would arrive late).
    """

    venues: tuple[str, ...]
    taker_fee_bps: Mapping[str, float]
    symbols: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    slippage_bps: Mapping[str, float] = field(default_factory=dict)
    fee_from_venue: tuple[str, ...] = ()
    book_depth: int = 20
    split: bool = True
    split_slices: int = 20
    min_child_notional: float = 10.0
    balance_buffer: float = 0.01
    beyond_book_bps: float = 50.0
    max_errors: int = 3
    error_window_s: float = 60.0
    ban_window_s: float = 300.0
    max_quote_latency_ms: float = 2_000.0
    avoid_stream_down: bool = True

    def __post_init__(self) -> None:
        where = "live.routing"
        venues = tuple(self.venues)
        if len(venues) < 2 or len(set(venues)) != len(venues):
            raise ConfigError(f"{where}.venues must name two or more distinct venues, got {venues}")
        object.__setattr__(self, "venues", venues)
        self._check_fees(where, venues)
        for symbol, names in self.symbols.items():
            if not isinstance(names, Mapping) or not all(
                isinstance(s, str) and s for s in names.values()
            ):
                raise ConfigError(
                    f"{where}.symbols.{symbol} must map venues to symbols, got {names!r}"
                )
            extra = sorted(set(names) - set(venues))
            if extra:
                raise ConfigError(f"{where}.symbols.{symbol} names venues not routed to: {extra}")
        checks: tuple[tuple[str, Any, bool], ...] = (
            ("book_depth", self.book_depth, isinstance(self.book_depth, int) and self.book_depth >= 1),
            ("split_slices", self.split_slices,
             isinstance(self.split_slices, int) and 1 <= self.split_slices <= 1_000),
            ("min_child_notional", self.min_child_notional,
             _num(self.min_child_notional) and self.min_child_notional >= 0),
            ("balance_buffer", self.balance_buffer,
             _num(self.balance_buffer) and 0 <= self.balance_buffer < 1),
            ("beyond_book_bps", self.beyond_book_bps,
             _num(self.beyond_book_bps) and self.beyond_book_bps >= 0),
            ("max_errors", self.max_errors, isinstance(self.max_errors, int) and self.max_errors >= 1),
            ("error_window_s", self.error_window_s, _num(self.error_window_s) and self.error_window_s > 0),
            ("ban_window_s", self.ban_window_s, _num(self.ban_window_s) and self.ban_window_s >= 0),
            ("max_quote_latency_ms", self.max_quote_latency_ms,
             _num(self.max_quote_latency_ms) and self.max_quote_latency_ms > 0),
        )  # fmt: skip
        for name, value, ok in checks:
            if isinstance(value, bool) or not ok:
                raise ConfigError(f"{where}.{name} is out of range: {value!r}")

    def _check_fees(self, where: str, venues: tuple[str, ...]) -> None:
        """Each venue's fee: configured (a number in bps) or read from the venue, not both."""
        for name, table in (
            ("taker_fee_bps", self.taker_fee_bps),
            ("slippage_bps", self.slippage_bps),
        ):
            extra = sorted(set(table) - set(venues))
            if extra:
                raise ConfigError(f"{where}.{name} names venues not routed to: {extra}")
            for v, bps in table.items():
                if not _num(bps) or not 0 <= float(bps) < 1_000:
                    raise ConfigError(
                        f"{where}.{name}.{v} must be a number in [0, 1000), got {bps!r}"
                    )
        object.__setattr__(self, "fee_from_venue", tuple(self.fee_from_venue))
        extra = sorted(set(self.fee_from_venue) - set(venues))
        if extra:
            raise ConfigError(f"{where}.fee_from_venue names venues not routed to: {extra}")
        both = sorted(set(self.fee_from_venue) & set(self.taker_fee_bps))
        if both:
            raise ConfigError(f"{where}: {both} both set taker_fee_bps and read it from the venue")
        missing = [
            v for v in venues if v not in self.taker_fee_bps and v not in self.fee_from_venue
        ]
        if missing:
            raise ConfigError(
                f"{where}.taker_fee_bps has no fee for {missing} (or set fee_from_venue: true)"
            )

    def symbol_on(self, symbol: str, venue: str) -> str:
        """``symbol`` as ``venue`` lists it."""
        return self.symbols.get(symbol, {}).get(venue, symbol)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], where: str = "live.routing") -> RoutingSpec:
        """Check a config mapping (``asdict`` of the ``live.routing`` section: ``venues`` a list
        of ``{name, taker_fee_bps, slippage_bps, symbols: [{run, venue}]}``) into a spec."""
        unknown = sorted(set(raw) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}; known: {sorted(_FIELDS)}")
        values = {k: v for k, v in raw.items() if k != "venues"}
        names, fees, slips, from_venue = [], {}, {}, []
        symbols: dict[str, dict[str, str]] = {}
        for i, v in enumerate(raw.get("venues") or ()):
            here = f"{where}.venues[{i}]"
            name = v.get("name") if isinstance(v, Mapping) else None
            if not isinstance(name, str) or not name:
                raise ConfigError(f"{here}.name must be a venue name, got {name!r}")
            names.append(name)
            if v.get("fee_from_venue"):
                if v.get("taker_fee_bps") is not None:
                    raise ConfigError(f"{here}: taker_fee_bps or fee_from_venue, not both")
                from_venue.append(name)
            elif v.get("taker_fee_bps") is None:
                raise ConfigError(
                    f"{here}.taker_fee_bps is required (the venue's taker fee in bps), or "
                    "fee_from_venue: true to read the account's rate from the venue"
                )
            else:
                fees[name] = v["taker_fee_bps"]
            slips[name] = v.get("slippage_bps") or 0.0
            for alias in v.get("symbols") or ():
                run, there = alias.get("run"), alias.get("venue")
                if not (isinstance(run, str) and run and isinstance(there, str) and there):
                    raise ConfigError(f"{here}.symbols needs run and venue symbols, got {alias!r}")
                symbols.setdefault(run, {})[name] = there
        return cls(venues=tuple(names), taker_fee_bps=fees, slippage_bps=slips, symbols=symbols,
                   fee_from_venue=tuple(from_venue), **values)  # fmt: skip


def _num(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(float(x))


def routing_spec(raw: Mapping[str, Any], where: str = "live.routing") -> RoutingSpec | None:
    """The spec of a ``live.routing`` mapping, or ``None`` when it routes nowhere (no venues)."""
    if not raw.get("venues"):
        return None
    return RoutingSpec.from_config(raw, where)
