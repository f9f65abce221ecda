"""Execution algorithms for a strategy's own orders (``execution.algo``): the account follows
the strategy's book through parent orders.

The strategy decides on its own book, the *intent* book: every order it sizes fills at once at
the decision's price, exactly as in a plain backtest (in a live run it is a sleeve's book,
:mod:`live.runner.sleeves`). Each decision that moves the intent position of a symbol by ``d``
(rounded to the lot) starts one parent of the account on that symbol, worked by the
:mod:`~grekko_research.engine.algos` schedule (TWAP or VWAP):

- no parent of the symbol working (all its children placed): the new parent is ``d``;
- one working: it is cancelled at this decision (none of its children from here on) and the
  new parent carries ``d`` plus what the old one had still to place, ``d + (Q − placed)``
  (signed). A zero sum starts nothing: the target came back.

So the account never orders twice what a working parent will still trade: it plans on the
position the schedule is building towards, the intent's. "Placed" is the schedule's: the sizes
of the children due at earlier decisions, whether or not the account filled them. A backtest
and a live run therefore start the same parents from the same intent book; a child the account
refuses (buying power, a risk rule) is not made up by a later parent, and the execution-quality
and drift reports show the shortfall.

The risk rules guard the account: the intent book runs without them (:func:`intent_config`),
the children pass them one by one (the backtest's orders mode, the live risk engine). What
cannot be followed is refused by :func:`check_follow`, naming the key.

:func:`follow_backtest` is the backtest: the intent pass (the kernel on the strategy's
signals), the parents (:func:`follow_parents`), their children as orders-mode orders
(:func:`~grekko_research.engine.algos.schedule_orders`) and the account pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.engine.algos import (
    DEFAULT_LOT,
    AlgoSpec,
    Parent,
    child_sizes,
    parse_algo,
    schedule_orders,
    volume_profile,
)
from grekko_research.engine.config import EngineConfig
from grekko_research.errors import ConfigError
from grekko_research.risk.spec import RiskSpec

__all__ = [
    "FOLLOW_KINDS",
    "FollowResult",
    "FollowSpec",
    "check_follow",
    "follow_backtest",
    "follow_parents",
    "follow_qty",
    "intent_config",
    "lot_delta",
    "placed",
    "stored_volumes",
]

FOLLOW_KINDS: tuple[str, ...] = ("twap", "vwap")
"""The algorithms a strategy's orders can be worked with. An iceberg or a chaser leaves a limit
resting whose fill decides what the next parent carries: not followed yet."""

DAY_MS = 86_400_000
MAX_PROFILE_DAYS = 400
"""The most days of bars a VWAP's volume profile reads (``execution.profile_days``)."""

VolumeRows = tuple[np.ndarray, np.ndarray]
"""One asset's bars as (open times in ms, volumes), both ``(m,)``."""


@dataclass(frozen=True)
class FollowSpec:
    """``execution.algo`` of a run: the schedule of every parent, and the days of bars before
    a VWAP parent's start its volume profile is read from."""

    algo: AlgoSpec
    profile_days: int = 30

    def __post_init__(self) -> None:
        if self.algo.kind not in FOLLOW_KINDS:
            raise ConfigError(
                f"execution.algo={self.algo.kind!r} cannot work a strategy's orders: one of "
                f"{list(FOLLOW_KINDS)} can (an {self.algo.kind}'s resting limit decides what "
                "the next parent carries; use it for manual orders)"
            )
        if self.algo.weights is not None:
            raise ConfigError("execution.algo takes no weights: a VWAP is profiled at each start")
        p = self.profile_days
        if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= MAX_PROFILE_DAYS:
            raise ConfigError(
                f"execution.profile_days must be an integer in [1, {MAX_PROFILE_DAYS}], got {p!r}"
            )

    @classmethod
    def parse(cls, raw: Mapping[str, Any], tf_ms: int, profile_days: int = 30) -> FollowSpec:
        """From an ``algo`` object as a request gives it (:func:`parse_algo`)."""
        return cls(parse_algo(raw, tf_ms), profile_days)

    def payload(self) -> dict[str, Any]:
        return {"algo": self.algo.payload(), "profile_days": self.profile_days}


def check_follow(config: EngineConfig) -> None:
    """Refuse the engine settings a followed run cannot reproduce, naming the key.

    Position stops exit at once on the intent book (not worked); the engine's own account rules
    (the drawdown flatten, the daily order count) would act on the account's book, which plans
    no orders of its own here; ``execution=close`` leaves no bar to work a parent over.
    """
    if config.execution != "next_open":
        raise ConfigError("execution.algo needs engine.execution=next_open")
    st = config.stops
    on = [n for n in ("stop_loss", "take_profit", "trailing") if getattr(st, n) is not None]
    if on:
        raise ConfigError(
            f"execution.algo cannot follow position stops ({', '.join(on)}): a stop exits at "
            "once, a parent works over bars; use one or the other"
        )
    r = config.risk
    if r.portfolio.drawdown.flatten_at is not None:
        raise ConfigError(
            "execution.algo: risk.portfolio.drawdown.flatten_at flattens the account's book, "
            "which follows the strategy's and plans nothing itself: not with execution.algo"
        )
    if r.order.max_orders_per_day is not None:
        raise ConfigError(
            "execution.algo: risk.order.max_orders_per_day counts the account's orders, which "
            "are children here: use risk.order.max_orders (the risk engine's count) instead"
        )


def intent_config(config: EngineConfig) -> EngineConfig:
    """The intent book's configuration: the run's, without the risk rules (they guard the
    account's children)."""
    return dataclasses.replace(config, risk=RiskSpec())


def _step(lot: float | Decimal | None) -> Decimal:
    if lot is None:
        return DEFAULT_LOT
    d = lot if isinstance(lot, Decimal) else Decimal(repr(float(lot)))
    return d if d > 0 else DEFAULT_LOT


def lot_delta(before: float, after: float, lot: float | Decimal | None) -> Decimal:
    """``after − before`` (floats of the intent book) as a Decimal of whole lots, to the
    nearest (the book's sizes are whole lots; the float difference may miss by an ulp)."""
    step = _step(lot)
    d = Decimal(repr(float(after) - float(before)))
    return ((d / step).to_integral_value(rounding=ROUND_HALF_EVEN) * step).normalize()


def placed(qty: Decimal, spec: AlgoSpec, lot: float | Decimal | None, steps: int) -> Decimal:
    """What a parent of ``qty`` (unsigned) has placed ``steps`` bars after its start, before
    that decision: the sizes of its children due at the decisions before it."""
    weights = spec.weights if spec.kind == "vwap" and spec.weights else (1.0,) * spec.slices
    due = 0 if steps <= 0 else min(spec.slices, (steps - 1) // spec.every + 1)
    sizes = child_sizes(qty, weights, _step(lot))
    return sum(sizes[:due], Decimal(0))


def follow_qty(
    delta: Decimal,
    working: tuple[Decimal, AlgoSpec, int] | None,
    lot: float | Decimal | None,
) -> tuple[Decimal, bool]:
    """The signed quantity of the parent a decision starts (0: none) and whether the symbol's
    working parent is cancelled by it. ``working``: that parent's signed quantity, schedule and
    the bars since its start (None: none). Called only when ``delta`` is not 0."""
    if working is None:
        return delta, False
    qty, spec, steps = working
    last = (spec.slices - 1) * spec.every  # the step of its last child
    if steps > last:
        return delta, False  # every child placed: nothing to carry
    left = abs(qty) - placed(abs(qty), spec, lot, steps)
    return delta + (left if qty > 0 else -left), True


@dataclass(frozen=True)
class FollowResult:
    """The account's backtest, the intent book's, and the parents between them."""

    account: Any  # BacktestResult
    intent: Any  # BacktestResult
    parents: list[Parent]


def _lots(config: EngineConfig, k: int) -> list[Decimal]:
    raw = np.broadcast_to(np.asarray(config.market.lot_size, dtype=np.float64), (k,))
    return [_step(float(x)) for x in raw]


def follow_parents(
    positions: np.ndarray,
    bars: Bars,
    spec: FollowSpec,
    lots: Sequence[Decimal],
    before: Sequence[VolumeRows | None] | None = None,
) -> list[Parent]:
    """The account's parents for the intent book's ``positions`` (``(n, k)``: each bar's close;
    the move from bar t to t+1 is the decision on bar t, which fills at t+1's open).
    ``before``: per asset, the stored bars before ``bars`` a VWAP's profile may read.

    A cancelled parent is returned with ``cancel`` set (the decision that cancelled it)."""
    k = positions.shape[1]
    out: list[Parent] = []
    working: list[int | None] = [None] * k  # index into out of each symbol's last parent
    moved = np.flatnonzero(np.any(positions[1:] != positions[:-1], axis=1))
    for t in moved.tolist():
        for j in range(k):
            d = lot_delta(positions[t, j], positions[t + 1, j], lots[j])
            if d == 0:
                continue
            w = working[j]
            old = None if w is None else out[w]
            signed = None
            if old is not None:
                signed = (old.qty if old.side == "buy" else -old.qty, old.spec, t - old.start)
            qty, cancel = follow_qty(d, signed, lots[j])
            if cancel:
                assert w is not None
                assert old is not None
                out[w] = dataclasses.replace(old, cancel=t, children=[])
            working[j] = None
            if qty == 0:
                continue
            algo = spec.algo
            if algo.kind == "vwap":
                algo = dataclasses.replace(
                    algo, weights=_profile(bars, j, t, spec, before[j] if before else None)
                )
            out.append(Parent(j, "buy" if qty > 0 else "sell", abs(qty), t, algo, lot=lots[j]))
            working[j] = len(out) - 1
    return out


def stored_volumes(
    store: Any, exchange: str, market: str, symbol: str, timeframe: str, start: int, days: int
) -> VolumeRows | None:
    """The ``days`` of ``symbol``'s candles before ``start`` (ms) in a
    :class:`~grekko_research.data.store.ParquetStore`, as (open times, volumes); None when it
    holds none (a VWAP's profile then reads the bars at hand). The backtest and the live
    runner read a profile's history here."""
    from grekko_research.data.store import SeriesKey
    from grekko_research.errors import GrekkoError

    try:
        key = SeriesKey.make(exchange, symbol, timeframe, market=market)
        frame = store.read(key, start_ms=start - days * DAY_MS, end_ms=start)
    except GrekkoError:  # none stored, or a name the store cannot hold
        return None
    frame = frame[frame.timestamp < start]
    return frame.timestamp.to_numpy(np.int64), frame.volume.to_numpy(np.float64)


def _profile(
    bars: Bars, j: int, t: int, spec: FollowSpec, before: VolumeRows | None
) -> tuple[float, ...]:
    """A VWAP parent's weights at decision ``t``: the volumes of the ``profile_days`` of bars
    before the decision's bar (``before``: the asset's stored bars before the backtest's
    first, so that its first days read what the live runner reads from the store)."""
    from grekko_research.data.timeframes import parse_timeframe

    tf_ms = parse_timeframe(bars.timeframe).ms
    start = int(bars.index[t])
    index, volume = bars.index[:t], bars.volume[:t, j]
    if before is not None:
        index = np.concatenate([before[0], index])
        volume = np.concatenate([before[1], volume])
    keep = index >= start - spec.profile_days * DAY_MS
    a = spec.algo
    return volume_profile(index[keep], volume[keep], tf_ms, start, a.slices, a.every)


def follow_backtest(
    bars: Bars,
    signals: Any,
    config: EngineConfig,
    spec: FollowSpec,
    *,
    before: Sequence[VolumeRows | None] | None = None,
    **kw: Any,
) -> FollowResult:
    """Backtest ``signals`` with the account following the strategy's book through ``spec``'s
    parents (see the module doc); ``before``: per asset, stored bars before ``bars`` for a
    VWAP's profile (:func:`follow_parents`); ``kw`` goes to both passes' :func:`backtest`."""
    from grekko_research.engine.api import Orders, backtest

    check_follow(config)
    intent = backtest(bars, signals, intent_config(config), **kw)
    lots = _lots(config, len(bars.symbols))
    parents = follow_parents(intent.positions, bars, spec, lots, before)
    arrays = schedule_orders(bars.n_bars, len(bars.symbols), parents, bars)
    account = backtest(bars, Orders(**arrays), config, **kw)
    return FollowResult(account, intent, parents)
