"""Execution algorithms on the bar clock: TWAP, VWAP, iceberg and a passive-then-aggressive
limit chaser, as one parent order split into child orders.

One implementation of each schedule serves both drivers: the live runner
(``live.runner._algos``) sends the children this module sizes and prices, and a backtest
simulates the same parent through :func:`schedule_orders`, which expands it into orders-mode
:class:`~grekko_research.engine.api.Orders` before the kernel (the kernel's own fill rules then
price every child). Times are bars: a parent starts at the decision on bar ``start`` (a bar's
open time; its children execute from the open of the bar after it, as every decision does).

- ``twap``: ``slices`` market children, one every ``every`` bars from ``start``, equal sizes.
- ``vwap``: the same, sized by ``weights`` (a volume profile, :func:`volume_profile`).
- ``iceberg``: limit children of ``clip`` each (the last takes the remainder) at one price;
  each is placed at the decision after the one before it filled.
- ``chase``: one passive limit ``offset_bps`` inside the reference price; still unfilled after
  ``passive_bars`` bars, it is cancelled and the remainder goes as a market order.

Sizes are Decimals, floored to the lot, the remainder on the last child (:func:`child_sizes`);
limit prices are rounded to the tick away from the market (:func:`passive_price`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any, Literal

import numpy as np

from grekko_research.engine._fills import limit_touch_nb
from grekko_research.errors import ConfigError

__all__ = [
    "ALGO_KINDS",
    "AlgoSpec",
    "Child",
    "Parent",
    "child_sizes",
    "limit_fill_bar",
    "parse_algo",
    "passive_price",
    "resting_at_cancel",
    "schedule_orders",
    "simulate_parent",
    "volume_profile",
]

AlgoKind = Literal["twap", "vwap", "iceberg", "chase"]
ALGO_KINDS: tuple[str, ...] = ("twap", "vwap", "iceberg", "chase")
DEFAULT_LOT = Decimal("0.00000001")


@dataclass(frozen=True)
class AlgoSpec:
    """How one parent order is worked (see the module doc)."""

    kind: AlgoKind
    slices: int = 1
    """twap / vwap: the number of children."""
    every: int = 1
    """twap / vwap: bars between two children."""
    clip: Decimal | None = None
    """iceberg: the visible quantity of each child."""
    offset_bps: float = 0.0
    """iceberg / chase: how far inside the reference price the limit rests (buy: below)."""
    passive_bars: int = 1
    """chase: bars the passive limit rests before the remainder goes to market."""
    weights: tuple[float, ...] | None = None
    """vwap: one weight per child (normalised here), ``None`` until the parent starts (the
    runner fills in :func:`volume_profile` and logs it); twap: none (equal)."""

    def __post_init__(self) -> None:
        if self.kind not in ALGO_KINDS:
            raise ConfigError(f"algo kind must be one of {list(ALGO_KINDS)}, got {self.kind!r}")
        for name in ("slices", "every", "passive_bars"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"algo {name} must be an integer >= 1, got {v!r}")
        if not (math.isfinite(self.offset_bps) and 0 <= self.offset_bps < 10_000):
            raise ConfigError(f"algo offset_bps must be in [0, 10000), got {self.offset_bps!r}")
        if self.kind == "iceberg" and (self.clip is None or self.clip <= 0):
            raise ConfigError(f"an iceberg needs clip > 0 (the visible quantity), got {self.clip}")
        if self.kind == "vwap" and self.weights is not None:  # None: profiled at the start
            w = self.weights
            if len(w) != self.slices:
                raise ConfigError(f"a vwap needs {self.slices} weights (one a slice), got {w}")
            if not all(math.isfinite(x) and x >= 0 for x in w) or sum(w) <= 0:
                raise ConfigError(f"vwap weights must be >= 0 with a positive sum, got {w}")

    def payload(self) -> dict[str, Any]:
        """The spec as the event log records it (:func:`parse_algo` reads it back)."""
        return {
            "kind": self.kind,
            "slices": self.slices,
            "every": self.every,
            "clip": None if self.clip is None else str(self.clip),
            "offset_bps": self.offset_bps,
            "passive_bars": self.passive_bars,
            "weights": None if self.weights is None else list(self.weights),
        }


def _bars_of(value: Any, tf_ms: int, name: str) -> int:
    """A duration (``"6h"``, ``"90m"``) or a bar count as whole bars of ``tf_ms``."""
    if isinstance(value, bool):
        raise ConfigError(f"algo {name} must be bars or a duration such as '6h', got {value!r}")
    if isinstance(value, int):
        return value
    from grekko_research.data.timeframes import parse_timeframe

    ms = parse_timeframe(str(value)).ms
    if ms % tf_ms:
        raise ConfigError(f"algo {name} {value!r} is not a whole number of {tf_ms} ms bars")
    return ms // tf_ms


def parse_algo(raw: Mapping[str, Any], tf_ms: int) -> AlgoSpec:
    """An :class:`AlgoSpec` from a request's ``algo`` object, e.g. ``{"kind": "twap",
    "slices": 6, "over": "6h"}`` (``over``: the schedule's length, ``slices`` children spread
    evenly over it; or ``every`` bars between children), ``{"kind": "iceberg", "clip": "0.01",
    "offset_bps": 5}``, ``{"kind": "chase", "offset_bps": 10, "passive": "2h"}``.

    Raises
    ------
    ConfigError
        On an unknown field, kind or value, naming it.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"algo must be an object, got {raw!r}")
    known = {"kind", "slices", "over", "every", "clip", "offset_bps", "passive", "weights"}
    unknown = sorted(set(raw) - known - {"passive_bars"})
    if unknown:
        raise ConfigError(f"unknown algo fields {unknown}; known: {sorted(known)}")
    slices = 1 if raw.get("slices") is None else raw["slices"]
    every = 1
    if raw.get("over") is not None:
        span = _bars_of(raw["over"], tf_ms, "over")
        if not isinstance(slices, int) or slices < 1 or span % slices:
            raise ConfigError(f"algo over {raw['over']!r} does not split into {slices!r} slices")
        every = span // slices
    elif raw.get("every") is not None:
        every = _bars_of(raw["every"], tf_ms, "every")
    passive = raw.get("passive")
    passive = raw.get("passive_bars") if passive is None else passive
    passive = 1 if passive is None else passive
    clip = raw.get("clip")
    try:
        clip_d = None if clip is None else Decimal(str(clip))
        offset = float(raw.get("offset_bps") or 0.0)
    except (InvalidOperation, TypeError, ValueError):
        raise ConfigError(f"algo clip / offset_bps must be numbers, got {clip!r}") from None
    weights = raw.get("weights")
    return AlgoSpec(
        kind=raw.get("kind"),  # type: ignore[arg-type]  # checked by AlgoSpec
        slices=slices,
        every=every,
        clip=clip_d,
        offset_bps=offset,
        passive_bars=_bars_of(passive, tf_ms, "passive"),
        weights=None if weights is None else tuple(float(w) for w in weights),
    )


def child_sizes(qty: Decimal, weights: Sequence[float], lot: Decimal | None) -> list[Decimal]:
    """Split ``qty`` by ``weights``: each child floored to the lot, the last takes what is left
    (so the children sum to ``qty`` exactly). A child may be 0 (sent as nothing)."""
    step = lot if lot is not None and lot > 0 else DEFAULT_LOT
    total = sum(weights)
    sizes: list[Decimal] = []
    for w in weights[:-1]:
        share = qty * Decimal(repr(float(w))) / Decimal(repr(float(total)))
        sizes.append((share / step).to_integral_value(rounding=ROUND_FLOOR) * step)
    sizes.append(qty - sum(sizes, Decimal(0)))
    return [s.normalize() if s else Decimal(0) for s in sizes]


def passive_price(
    side: str, reference: float | Decimal, offset_bps: float, tick: Decimal | None
) -> Decimal:
    """A resting limit ``offset_bps`` inside ``reference`` (a buy below it), rounded to the tick
    away from the market (a buy down, a sell up)."""
    ref = Decimal(repr(float(reference)))
    k = Decimal(repr(float(offset_bps))) / Decimal(10_000)
    raw = ref * (1 - k) if side == "buy" else ref * (1 + k)
    step = tick if tick is not None and tick > 0 else DEFAULT_LOT
    rounding = ROUND_FLOOR if side == "buy" else ROUND_CEILING
    return ((raw / step).to_integral_value(rounding=rounding) * step).normalize()


def volume_profile(
    index: np.ndarray, volume: np.ndarray, tf_ms: int, start: int, slices: int, every: int
) -> tuple[float, ...]:
    """VWAP weights: for each child, the mean volume of past bars (``index < start``) at the
    same time of day as the ``every`` bars it stands for. A slot no past bar covers weighs the
    mean of the others (all equal without history).

    ``index`` is the bars' open times (ms), ``volume`` their volumes, both ``(n,)``.
    """
    day = 86_400_000
    past = index < start
    by_slot: dict[int, list[float]] = {}
    for ts, v in zip(index[past].tolist(), volume[past].tolist(), strict=True):
        if math.isfinite(v):
            by_slot.setdefault(int(ts) % day, []).append(float(v))
    mean = {k: sum(v) / len(v) for k, v in by_slot.items()}
    out: list[float] = []
    for i in range(slices):
        # Child i trades at the open of bar start + (i * every + 1) bars and stands for the
        # ``every`` bars from there.
        cells = [
            mean.get((start + (i * every + 1 + b) * tf_ms) % day, math.nan) for b in range(every)
        ]
        known = [c for c in cells if math.isfinite(c)]
        out.append(sum(known) / len(known) if known else math.nan)
    fallback = [w for w in out if math.isfinite(w)]
    fill = sum(fallback) / len(fallback) if fallback else 1.0
    return tuple(w if math.isfinite(w) and w > 0 else fill for w in out)


@dataclass(frozen=True)
class Child:
    """One child of a parent: placed at the decision on bar ``bar`` (an index into the bars)."""

    index: int
    bar: int
    kind: Literal["market", "limit"]
    qty: Decimal
    price: Decimal | None = None


@dataclass(frozen=True)
class Parent:
    """A parent order for :func:`schedule_orders`: ``qty`` on ``side`` of asset column
    ``asset``, started at the decision on bar index ``start``; ``limit``: the iceberg's or the
    chaser's resting price (from :func:`passive_price`); ``cancel``: cancelled before the
    decision on that bar (index) — no child from it on, a resting one cancelled before the
    bar trades."""

    asset: int
    side: Literal["buy", "sell"]
    qty: Decimal
    start: int
    spec: AlgoSpec
    limit: Decimal | None = None
    lot: Decimal | None = None
    children: list[Child] = field(default_factory=list)
    cancel: int | None = None


def limit_fill_bar(
    side: str, price: float, placed: int, open_: np.ndarray, high: np.ndarray, low: np.ndarray
) -> int:
    """The bar a limit decided on bar ``placed`` fills on under the engine's bar model
    (``_fills.limit_touch_nb``, the kernel's own rule: at the next open if the open is at or
    through the limit, else on the first bar whose range touches it); ``-1``: never in these
    bars. A differential test holds this to the kernel's fills."""
    buy = side == "buy"
    for t in range(placed + 1, len(open_)):
        o, h, lo = float(open_[t]), float(high[t]), float(low[t])
        if t == placed + 1 and limit_touch_nb(buy, price, o, h, lo, True)[2]:
            return t
        if limit_touch_nb(buy, price, o, h, lo, False)[2]:
            return t
    return -1


def simulate_parent(p: Parent, open_: np.ndarray, high: np.ndarray, low: np.ndarray) -> list[Child]:
    """The children of ``p`` on these bars (one asset's ``(n,)`` columns), in placement order:
    the schedule the live runner follows, with the fill-dependent steps (iceberg's next clip,
    the chaser's market remainder) decided by :func:`limit_fill_bar`; a cancelled parent's
    children up to its cancel."""
    out = _schedule(p, open_, high, low)
    return out if p.cancel is None else [c for c in out if c.bar < p.cancel]


def resting_at_cancel(p: Parent, open_: np.ndarray, high: np.ndarray, low: np.ndarray) -> bool:
    """Whether a cancelled parent's last child is a limit still resting when the cancel
    reaches the venue (before bar ``p.cancel`` trades): the cancel takes it off the book."""
    if p.cancel is None or not p.children or p.children[-1].kind != "limit":
        return False
    last = p.children[-1]
    assert last.price is not None
    filled = limit_fill_bar(p.side, float(last.price), last.bar, open_, high, low)
    return filled < 0 or filled >= p.cancel


def _schedule(p: Parent, open_: np.ndarray, high: np.ndarray, low: np.ndarray) -> list[Child]:
    s = p.spec
    out: list[Child] = []
    if s.kind in ("twap", "vwap"):
        if s.kind == "vwap" and s.weights is None:
            raise ConfigError("a vwap parent needs its weights (volume_profile at its start)")
        weights = s.weights if s.kind == "vwap" and s.weights else (1.0,) * s.slices
        for i, q in enumerate(child_sizes(p.qty, weights, p.lot)):
            out.append(Child(i, p.start + i * s.every, "market", q))
        return out
    assert p.limit is not None, f"a {s.kind} parent needs its limit price"
    if s.kind == "iceberg":
        assert s.clip is not None
        n = int((p.qty / s.clip).to_integral_value(rounding=ROUND_CEILING))
        bar = p.start
        for i in range(n):
            q = min(s.clip, p.qty - s.clip * i)
            out.append(Child(i, bar, "limit", q, p.limit))
            bar = limit_fill_bar(p.side, float(p.limit), bar, open_, high, low)
            if bar < 0:
                break
        return out
    out.append(Child(0, p.start, "limit", p.qty, p.limit))
    filled = limit_fill_bar(p.side, float(p.limit), p.start, open_, high, low)
    chase = p.start + s.passive_bars
    if (filled < 0 or filled > chase) and chase < len(open_):
        out.append(Child(1, chase, "market", p.qty))
    return out


def schedule_orders(
    n_bars: int, n_assets: int, parents: Sequence[Parent], bars: Any
) -> dict[str, np.ndarray]:
    """The orders-mode arrays (``kind``, ``size``, ``price``; ``(n, k)``) of ``parents`` on
    ``bars`` (a :class:`~grekko_research.data.bars.Bars`), for
    ``backtest(bars, Orders(**arrays), config)``. Each parent's children are also stored on it
    (``parent.children``). Two children on one bar and asset cannot be expressed (one order per
    asset and bar): refused with both named."""
    kind = np.full((n_bars, n_assets), "", dtype=object)
    size = np.zeros((n_bars, n_assets))
    price = np.full((n_bars, n_assets), np.nan)
    for p in parents:
        j = p.asset
        cols = bars.open[:, j], bars.high[:, j], bars.low[:, j]
        p.children[:] = simulate_parent(p, *cols)
        cancel_at = skip = None
        if p.cancel is not None and resting_at_cancel(p, *cols):
            cancel_at = p.cancel - 1  # decided at that bar's close: off before the next trades
            if p.children[-1].bar == cancel_at:  # placed and cancelled before a bar traded
                cancel_at, skip = None, p.children[-1]
        for c in p.children:
            if c.bar >= n_bars or c.qty <= 0 or c is skip:
                continue
            if kind[c.bar, j]:
                raise ConfigError(
                    f"two orders on bar {c.bar} of asset {j}: child {c.index} of a {p.spec.kind}"
                    " parent and an earlier one (one order per asset and bar)"
                )
            kind[c.bar, j] = c.kind
            size[c.bar, j] = float(c.qty) * (1.0 if p.side == "buy" else -1.0)
            if c.price is not None:
                price[c.bar, j] = float(c.price)
        if cancel_at is not None and cancel_at < n_bars:
            if kind[cancel_at, j]:
                raise ConfigError(f"two orders on bar {cancel_at} of asset {j}: the cancel of a "
                                  f"{p.spec.kind} parent and another order")  # fmt: skip
            kind[cancel_at, j] = "cancel"
    return {"kind": kind, "size": size, "price": price}
