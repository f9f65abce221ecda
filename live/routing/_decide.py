"""The routing decision: pure functions of what each venue quoted, charges, holds and how it
behaves — no I/O, no clock (``now_ms`` is an argument), so every case is a unit test.

An order of ``qty`` on ``side`` costs, on one venue taking ``q`` of it::

    buy:  q × top × (1 + slippage_bps(q) / 10⁴) × (1 + fee_bps / 10⁴)     (paid)
    sell: q × top × (1 − slippage_bps(q) / 10⁴) × (1 − fee_bps / 10⁴)     (received)

``top`` is the best ask (buy) or bid (sell); ``slippage_bps(q)`` is a
:class:`SlippageEstimate` (by default :class:`BookWalkSlippage`: the venue's fixed bps plus the
walk of its book for ``q``). A venue is a candidate when it quoted, is healthy
(:func:`venue_health`) and its balance covers at least one minimum order; it takes at most what
its balance pays for (buy: quote asset; sell: base asset). The order is cut into
``split_slices`` equal slices and each goes where it adds the least cost (greedy on the
marginal cost, which is optimal when each venue's cost is convex in size); without ``split``,
the cheapest venue that can take it all gets it all. A child below a venue's minimum drops that
venue and the split is redone; a split dearer per unit than the best venue alone gives way to it. Quantities are floored to each venue's lot; what no venue can
take is ``unrouted_qty`` (never sent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from live.routing._spec import RoutingSpec
from live.venues.base import VenueHealth

__all__ = [
    "BAN_ERRORS",
    "BookWalkSlippage",
    "Candidate",
    "Child",
    "Health",
    "Levels",
    "RouteDecision",
    "SlippageEstimate",
    "VenueInput",
    "decide",
    "venue_health",
    "walk_price",
]

Side = Literal["buy", "sell"]
Levels = tuple[tuple[float, float], ...]
"""``(price, qty)`` book levels, best first."""

BAN_ERRORS = frozenset({"RateLimitExceeded", "DDoSProtection"})
"""Error classes (ccxt's) of a failed call that mean the venue is throttling or banning us."""


@runtime_checkable
class SlippageEstimate(Protocol):
    """Expected slippage of a taker order, in bps of ``price`` (positive: a cost).

    ``price`` is the top of the venue's book on the order's side (the best ask for a buy).
    The calibrated models (issue 27, item 3) implement this; :class:`BookWalkSlippage` is the
    default.
    """

    def expected_slippage_bps(
        self, venue: str, symbol: str, side: str, qty: float, price: float
    ) -> float: ...


def walk_price(levels: Levels, qty: float, beyond_bps: float, side: str) -> float:
    """The average price of a ``side`` order taking ``qty`` through ``levels`` (best first: the
    asks of a buy, the bids of a sell); a size beyond them is priced at the last level moved
    ``beyond_bps`` further against the taker. NaN without levels."""
    if not levels:
        return math.nan
    if qty <= 0:
        return levels[0][0]
    left, paid = qty, 0.0
    for price, size in levels:
        take = min(left, size)
        paid += take * price
        left -= take
        if left <= 0:
            return paid / qty
    sign = 1.0 if side == "buy" else -1.0
    worse = levels[-1][0] * (1 + sign * beyond_bps / 1e4)
    return (paid + left * worse) / qty


@dataclass(frozen=True)
class BookWalkSlippage:
    """The default :class:`SlippageEstimate`: a fixed bps per venue (``live.routing.slippage_bps``)
    plus, where the venue gave its book, the walk of that book for the size against its top.

    ``books``: ``(venue, symbol)`` → ``(bids, asks)`` as read for this decision.
    """

    fixed_bps: Mapping[str, float] = field(default_factory=dict)
    books: Mapping[tuple[str, str], tuple[Levels, Levels]] = field(default_factory=dict)
    beyond_book_bps: float = 50.0

    def expected_slippage_bps(
        self, venue: str, symbol: str, side: str, qty: float, price: float
    ) -> float:
        fixed = float(self.fixed_bps.get(venue, 0.0))
        book = self.books.get((venue, symbol))
        if book is None or not price > 0:
            return fixed
        levels = book[1] if side == "buy" else book[0]
        avg = walk_price(levels, qty, self.beyond_book_bps, side)
        if math.isnan(avg):
            return fixed
        sign = 1.0 if side == "buy" else -1.0
        return fixed + sign * (avg - price) / price * 1e4


@dataclass(frozen=True)
class Health:
    """Whether a venue may be routed to, and why not (``reasons``)."""

    ok: bool
    reasons: tuple[str, ...] = ()
    errors: int = 0
    quote_latency_ms: float | None = None


def venue_health(
    health: VenueHealth | None,
    *,
    quote_latency_ms: float | None,
    now_ms: int,
    spec: RoutingSpec,
    failure: str | None = None,
) -> Health:
    """The routing verdict on one venue from its :class:`~live.venues.base.VenueHealth`, how
    long its quote took and what failed while reading it (``failure``)."""
    reasons: list[str] = []
    if failure is not None:
        reasons.append(failure)
    errors = 0
    if health is None:
        reasons.append("no health reading")
    else:
        window = now_ms - spec.error_window_s * 1000
        errors = sum(1 for t in health.error_times_ms if t >= window)
        if errors >= spec.max_errors:
            reasons.append(
                f"{errors} failed calls in {spec.error_window_s:g} s (max {spec.max_errors - 1})"
            )
        ban_from = now_ms - spec.ban_window_s * 1000
        bans = [c for c in health.failed_calls if c.error in BAN_ERRORS and c.ts_ms >= ban_from]
        if bans:
            last = bans[-1]
            reasons.append(f"rate limited: {last.call} answered {last.error} at {last.ts_ms}")
        if spec.avoid_stream_down and health.ws_down_since_ms is not None:
            reasons.append(f"stream down since {health.ws_down_since_ms}")
    if quote_latency_ms is not None and quote_latency_ms > spec.max_quote_latency_ms:
        reasons.append(f"quote took {quote_latency_ms:.0f} ms (max {spec.max_quote_latency_ms:g})")
    return Health(not reasons, tuple(reasons), errors, quote_latency_ms)


@dataclass(frozen=True)
class VenueInput:
    """What one venue offers for the order, as read just before deciding.

    ``bids`` / ``asks``: its book (best first; one level when only a ticker's best bid/ask or
    reference price was available, ``quote_source`` says which). ``base_balance`` /
    ``quote_balance``: the account's balances of the symbol's assets there.
    """

    venue: str
    symbol: str
    fee_bps: float
    bids: Levels
    asks: Levels
    quote_source: str
    base_balance: float
    quote_balance: float
    health: Health
    lot: float = 0.0
    min_qty: float = 0.0
    min_notional: float = 0.0

    def top(self, side: Side) -> float | None:
        levels = self.asks if side == "buy" else self.bids
        return levels[0][0] if levels else None


@dataclass(frozen=True)
class Candidate:
    """One venue as the decision saw it (what the log records): its top of book, fee,
    slippage and all-in price for the whole order, what its balance allows, its health, and
    why it was left out (``excluded``)."""

    venue: str
    symbol: str
    quote_source: str
    best_bid: float | None
    best_ask: float | None
    fee_bps: float
    slippage_bps: float | None
    all_in_price: float | None
    base_balance: float
    quote_balance: float
    capacity_qty: float
    healthy: bool
    health_reasons: tuple[str, ...]
    errors: int
    quote_latency_ms: float | None
    excluded: str | None = None


@dataclass(frozen=True)
class Child:
    """One child order: ``qty`` on ``venue`` (its ``symbol``), expected at ``expected_price``
    all-in (fee and slippage included) from ``top`` with ``slippage_bps``."""

    venue: str
    symbol: str
    qty: float
    top: float
    slippage_bps: float
    fee_bps: float
    expected_price: float


@dataclass(frozen=True)
class RouteDecision:
    """The routing of one order (the ``route_decision`` event's payload is :meth:`to_json`).

    ``children``: what to send where; ``unrouted_qty``: what no venue could take (not sent);
    ``expected_price``: the children's all-in average; ``single_venue`` / ``single_price``:
    the best venue able to take the whole order alone and its all-in price (``None``: none
    could); ``saving_bps``: what the chosen routing saves against it; ``reason``: one line.
    """

    symbol: str
    side: Side
    qty: float
    children: tuple[Child, ...]
    candidates: tuple[Candidate, ...]
    unrouted_qty: float
    expected_price: float | None
    single_venue: str | None
    single_price: float | None
    saving_bps: float | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["children"] = [asdict(c) for c in self.children]
        out["candidates"] = [
            {**asdict(c), "health_reasons": list(c.health_reasons)} for c in self.candidates
        ]
        return _finite(out)


def _finite(x: Any) -> Any:
    """JSON-safe: NaN/inf become None."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def _floor(qty: float, lot: float) -> float:
    if lot <= 0:
        return qty
    return math.floor(qty / lot + 1e-9) * lot


class _Cost:
    """All-in cost of ``q`` on one venue (paid for a buy, minus received for a sell)."""

    def __init__(self, v: VenueInput, side: Side, slippage: SlippageEstimate) -> None:
        self.v, self.side, self.slippage = v, side, slippage
        self.top = float(v.top(side) or math.nan)
        self.sign = 1.0 if side == "buy" else -1.0

    def slip(self, q: float) -> float:
        s = float(
            self.slippage.expected_slippage_bps(self.v.venue, self.v.symbol, self.side, q, self.top)
        )
        return s if math.isfinite(s) else math.inf

    def price(self, q: float) -> float:
        """All-in price per unit of ``q``."""
        s = self.sign
        return self.top * (1 + s * self.slip(q) / 1e4) * (1 + s * self.v.fee_bps / 1e4)

    def cost(self, q: float) -> float:
        return 0.0 if q <= 0 else self.sign * q * self.price(q)


def _capacity(v: VenueInput, side: Side, cost: _Cost, qty: float, buffer: float) -> float:
    """The most ``v``'s balance lets it take of the order (floored to its lot): a sell all of
    the base held (a spot sell's fee is charged in the quote it receives, so a routed run can
    close what it bought there), a buy what ``(1 - buffer)`` of the quote buys."""
    if side == "sell":
        room = v.base_balance
    else:
        unit = cost.price(qty)  # the whole order's all-in price: conservative per unit
        room = v.quote_balance * (1 - buffer) / unit if unit > 0 and math.isfinite(unit) else 0.0
    return max(0.0, _floor(min(room, qty), v.lot))


def _minimum(v: VenueInput, top: float) -> float:
    """The smallest child ``v`` accepts (qty), with the routing's own floor."""
    return max(v.min_qty, v.lot, v.min_notional / top if top > 0 else math.inf)


def decide(
    symbol: str,
    side: Side,
    qty: float,
    venues: Sequence[VenueInput],
    spec: RoutingSpec,
    slippage: SlippageEstimate,
) -> RouteDecision:
    """Route ``qty`` of ``symbol`` on ``side`` across ``venues`` (see the module docstring)."""
    if side not in ("buy", "sell"):
        raise ValueError(f"side must be 'buy' or 'sell', got {side!r}")
    if not (math.isfinite(qty) and qty > 0):
        raise ValueError(f"qty must be a finite number > 0, got {qty!r}")
    costs: dict[str, _Cost] = {}
    caps: dict[str, float] = {}
    mins: dict[str, float] = {}
    excluded: dict[str, str] = {}
    for v in venues:
        c = _Cost(v, side, slippage)
        costs[v.venue] = c
        if not v.health.ok:
            excluded[v.venue] = "unhealthy: " + "; ".join(v.health.reasons)
            caps[v.venue] = 0.0
            continue
        if not (c.top > 0):
            excluded[v.venue] = f"no {'ask' if side == 'buy' else 'bid'} quoted"
            caps[v.venue] = 0.0
            continue
        caps[v.venue] = _capacity(v, side, c, qty, spec.balance_buffer)
        mins[v.venue] = max(_minimum(v, c.top), spec.min_child_notional / c.top)
        if qty < mins[v.venue]:
            excluded[v.venue] = f"the order is below this venue's minimum child {mins[v.venue]:g}"
        elif caps[v.venue] < mins[v.venue]:
            asset = "base" if side == "sell" else "quote"
            excluded[v.venue] = (
                f"balance: {asset} balance takes {caps[v.venue]:g}, below the minimum child {mins[v.venue]:g}"
            )
        elif not math.isfinite(c.price(qty)):
            excluded[v.venue] = "no slippage estimate"
    # The best single venue able to take the whole order (the baseline of the log's saving).
    whole = [
        v.venue
        for v in venues
        if v.venue not in excluded and caps[v.venue] >= _floor(qty, v.lot) > 0
    ]
    single = min(whole, key=lambda n: costs[n].cost(qty), default=None)
    alloc = _allocate(qty, venues, spec, costs, caps, mins, excluded, single)
    if single is not None and len(alloc) > 1:
        # Never dearer than the best venue alone (a venue dropped for a small child can leave
        # a split that is): the single venue's all-in cost against the split's, for the same qty.
        lone = _floor(qty, next(v.lot for v in venues if v.venue == single))
        routed = sum(alloc.values())
        split_unit = sum(costs[m].cost(q) for m, q in alloc.items()) / routed
        if lone >= routed * (1 - 1e-12) and costs[single].cost(lone) / lone < split_unit:
            alloc = {single: lone}
    children = tuple(
        Child(
            venue=v.venue,
            symbol=v.symbol,
            qty=alloc[v.venue],
            top=costs[v.venue].top,
            slippage_bps=costs[v.venue].slip(alloc[v.venue]),
            fee_bps=v.fee_bps,
            expected_price=costs[v.venue].price(alloc[v.venue]),
        )
        for v in venues
        if alloc.get(v.venue, 0.0) > 0
    )
    routed = sum(c.qty for c in children)
    expected = sum(c.qty * c.expected_price for c in children) / routed if routed > 0 else None
    single_price = costs[single].price(qty) if single is not None else None
    saving = None
    if expected is not None and single_price is not None:
        saving = (1 if side == "buy" else -1) * (single_price - expected) / single_price * 1e4
    candidates = tuple(
        Candidate(
            venue=v.venue,
            symbol=v.symbol,
            quote_source=v.quote_source,
            best_bid=v.bids[0][0] if v.bids else None,
            best_ask=v.asks[0][0] if v.asks else None,
            fee_bps=v.fee_bps,
            slippage_bps=costs[v.venue].slip(qty) if costs[v.venue].top > 0 else None,
            all_in_price=costs[v.venue].price(qty) if costs[v.venue].top > 0 else None,
            base_balance=v.base_balance,
            quote_balance=v.quote_balance,
            capacity_qty=caps[v.venue],
            healthy=v.health.ok,
            health_reasons=v.health.reasons,
            errors=v.health.errors,
            quote_latency_ms=v.health.quote_latency_ms,
            excluded=excluded.get(v.venue),
        )
        for v in venues
    )
    unrouted = max(0.0, qty - routed)
    return RouteDecision(
        symbol=symbol,
        side=side,
        qty=qty,
        children=children,
        candidates=candidates,
        unrouted_qty=unrouted if unrouted > 1e-12 else 0.0,
        expected_price=expected,
        single_venue=single,
        single_price=single_price,
        saving_bps=saving,
        reason=_reason(children, excluded, single, saving, unrouted),
    )


def _allocate(
    qty: float,
    venues: Sequence[VenueInput],
    spec: RoutingSpec,
    costs: Mapping[str, _Cost],
    caps: Mapping[str, float],
    mins: Mapping[str, float],
    excluded: dict[str, str],
    single: str | None,
) -> dict[str, float]:
    """Child quantities by venue (floored to the lots); may leave part of ``qty`` unrouted."""
    lots = {v.venue: v.lot for v in venues}
    if not spec.split:
        if single is None:
            return {}
        return {single: _floor(qty, lots[single])}
    while True:
        live = [v.venue for v in venues if v.venue not in excluded]
        if not live:
            return {}
        alloc = _greedy(qty, live, spec.split_slices, costs, caps)
        small = [m for m in live if 0 < alloc[m] < mins[m]]
        if not small:
            break
        for m in small:
            excluded[m] = f"child {alloc[m]:g} below its minimum {mins[m]:g}"
    out = {m: min(_floor(q, lots[m]), caps[m]) for m, q in alloc.items() if q > 0}
    # What the lot floors left: to the venues in order of their all-in price, within capacity.
    left = qty - sum(out.values())
    for m in sorted(out, key=lambda m: costs[m].price(out[m])):
        extra = _floor(min(left, caps[m] - out[m]), lots[m])
        if extra > 0:
            out[m] += extra
            left -= extra
    return {m: q for m, q in out.items() if q > 0}


def _greedy(
    qty: float, live: Sequence[str], n: int, costs: Mapping[str, _Cost], caps: Mapping[str, float]
) -> dict[str, float]:
    """``n`` slices of ``qty``, each to the venue it adds the least cost to (within capacity;
    a slice no venue has room for fills the venue with the most room left, up to it)."""
    piece = qty / n
    alloc = dict.fromkeys(live, 0.0)
    for _ in range(n):
        best, best_cost = None, math.inf
        for name in live:
            after = alloc[name] + piece
            if after > caps[name] * (1 + 1e-9):
                continue
            marginal = costs[name].cost(after) - costs[name].cost(alloc[name])
            if marginal < best_cost - 1e-12:
                best, best_cost = name, marginal
        if best is None:
            roomy = max(live, key=lambda m: caps[m] - alloc[m])
            alloc[roomy] = min(caps[roomy], alloc[roomy] + piece)
        else:
            alloc[best] += piece
    return alloc


def _reason(
    children: Sequence[Child],
    excluded: Mapping[str, str],
    single: str | None,
    saving: float | None,
    unrouted: float,
) -> str:
    if not children:
        why = "; ".join(f"{v}: {r}" for v, r in excluded.items()) or "no venue"
        return f"not routed: {why}"
    parts = [", ".join(f"{c.qty:g} on {c.venue} at {c.expected_price:.6g}" for c in children)]
    if len(children) > 1 and saving is not None and single is not None:
        parts.append(f"split saves {saving:.2f} bps against all on {single}")
    elif len(children) == 1:
        parts.append("cheapest all-in price")
    if excluded:
        parts.append("left out: " + "; ".join(f"{v} ({r})" for v, r in excluded.items()))
    if unrouted > 1e-12:
        parts.append(f"{unrouted:g} unrouted")
    return "; ".join(parts)
