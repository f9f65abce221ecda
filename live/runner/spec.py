"""What a live run is (:class:`RunnerSpec`), what it did (:class:`RunSummary`), and the small
pieces the runner's parts share: the bar window and lot rounding."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.engine.config import EngineConfig
from grekko_research.engine.follow import FollowSpec
from grekko_research.errors import ConfigError
from grekko_research.strategy import Strategy
from live.orders import StopPolicy
from live.parents import ALGO_SEQ  # execution algorithms' children (live.runner._algos)
from live.risk import RiskSpec
from live.risk.config import as_spec

if TYPE_CHECKING:
    from live.runner.sleeves import CoordinatorSpec, SleeveSpec

__all__ = [
    "ALGO_SEQ",
    "CRASH_POINTS",
    "MANUAL_DIR",
    "MANUAL_SEQ",
    "RESUME_FILE",
    "BarWindow",
    "RunSummary",
    "RunnerSpec",
    "VolumeHistory",
    "lot_qty",
]


RESUME_FILE = "RESUME"
"""A resume request in a run's state folder (the API's ``/resume`` writes it): the running
process lifts its halt and kill switch, logs ``resumed`` and removes the file."""

CRASH_POINTS = ("before_intent", "before_send", "after_send", "before_fill")
"""Where a test hook may kill the process: before the decision and its intents are persisted;
after ``order_submitted`` is persisted, before the create is sent; after the venue answered,
before anything of the answer is persisted; after a fill is received, before it is persisted."""

RETRYABLE_REJECT = ("not found", "not accepted")
MAX_RETRIES = 3
FLATTEN_SEQ = 10_000  # intents of a risk flatten take seq from here (retries add 1 each)
KILL_SEQ = 20_000  # intents of a kill switch's flatten
MANUAL_SEQ = 50_000  # manual orders (live.runner._manual): never a flatten, never past a halt
MANUAL_DIR = "manual"  # the folder of manual-order requests, beside the KILL flag


@dataclass(frozen=True)
class VolumeHistory:
    """Where a VWAP parent's volume profile comes from: the research store's candles at
    ``root`` (:class:`~grekko_research.data.store.ParquetStore`) of ``exchange`` / ``market``,
    the ``days`` before the parent's start (the runner falls back to its window's bars when
    the store holds less than a day of them)."""

    root: str
    exchange: str
    market: str = "spot"
    days: int = 30


@dataclass(frozen=True)
class RunnerSpec:
    """What one live run trades and how (everything the log's ``run_started`` event records)."""

    run_id: str
    strategy: Strategy | None  # None: a portfolio run (``sleeves``)
    params: Any
    engine: EngineConfig
    symbols: tuple[str, ...]
    timeframe: str
    config_id: str = ""
    grace_ms: int = 10_000
    reconcile_every_ms: int = 60_000
    max_bars: int | None = None
    resolve_timeout_ms: int = 120_000
    kill_file: Path | None = None
    kill_poll_s: float = 0.05
    ops_every_s: float = 1.0  # operational checks (real-time venues): stream, errors, clock
    tick_every_s: float = 5.0  # drawdown, daily loss and price move between bars (live prices)
    # The book's top read at each decision (venues with ``order_book``): the arrival mid of
    # execution quality (live.runner._quotes); 0: not read.
    quote_timeout_ms: int = 1_000
    risk: RiskSpec | None = None  # the run's risk spec (None: fail-closed only)
    meta: Mapping[str, Any] = field(default_factory=dict)
    sleeves: tuple[SleeveSpec, ...] = ()  # several strategies (``engine``: the account's)
    coordinator: CoordinatorSpec | None = None  # how the sleeves' targets merge
    # Adds the strategies' non-price series (alternative data, issue 23) to each window's bars,
    # computed from the bars' own index exactly as the backtest's loader does (parity).
    extras: Callable[[Bars], Bars] | None = None
    # Where position stops live (``live.stop_policy``): emulated by the runner (the default),
    # or native venue orders where the adapter sends them (``auto``; ``native``: or refuse).
    stop_policy: StopPolicy = field(default_factory=lambda: StopPolicy(mode="emulated"))
    # A VWAP parent's volume profile from the research store (None: the window's bars).
    volume_history: VolumeHistory | None = None
    # The account follows its one sleeve (the strategy's book) through parents worked by this
    # algorithm (``execution.algo``, live.runner._follow); None: the account trades the plan.
    follow: FollowSpec | None = None
    # Perpetual funding times are the multiples of this interval since the epoch (Binance
    # USD-M: 00:00, 08:00, 16:00 UTC); the venue's settlements are asked for only once one has
    # passed (live.runner._funding). 0: at every decision.
    funding_interval_ms: int = 8 * 3_600_000

    def __post_init__(self) -> None:
        # A deprecated LiveRiskConfig is converted (with a warning): the run holds a spec.
        object.__setattr__(self, "risk", as_spec(self.risk, "RunnerSpec.risk"))
        if self.funding_interval_ms < 0:
            raise ConfigError(
                f"live.funding_interval_h must be >= 0 (0: every bar), got "
                f"{self.funding_interval_ms / 3_600_000:g}"
            )
        if (self.strategy is None) == (not self.sleeves):
            raise ConfigError("a run trades either one strategy or a portfolio of sleeves")
        if self.follow is not None and len(self.sleeves) != 1:
            raise ConfigError("execution.algo works one strategy's orders, not a portfolio's")
        ids = [s.id for s in self.sleeves]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"portfolio strategy ids must be unique, got {ids}")
        traders = [(self.strategy, self.symbols)] if self.strategy is not None else []
        traders += [(s.strategy, s.symbols or self.symbols) for s in self.sleeves]
        for strategy, own in traders:
            unknown = [x for x in own if x not in self.symbols]
            if unknown:
                raise ConfigError(
                    f"strategy {strategy.name!r} trades {unknown}, not among the run's symbols "
                    f"{list(self.symbols)} (live.symbols)"
                )
            if len(own) < strategy.min_assets:
                raise ConfigError(
                    f"strategy {strategy.name!r} needs at least {strategy.min_assets} symbols, "
                    f"it is given {list(own)} (live.symbols)"
                )


@dataclass
class RunSummary:
    """What a run did (returned by :meth:`Runner.run`)."""

    bars: int = 0
    decisions: int = 0
    orders: int = 0
    fills: int = 0
    halted: str | None = None
    reconcile_ms: list[float] = field(default_factory=list)
    bar_to_intent_ms: list[float] = field(default_factory=list)


class BarWindow:
    """The last ``size`` closed bars of every symbol, as the strategy's ``Bars``."""

    def __init__(
        self,
        symbols: Sequence[str],
        timeframe: str,
        size: int,
        extras: Callable[[Bars], Bars] | None = None,
    ) -> None:
        self.symbols = tuple(symbols)
        self.timeframe = timeframe
        self.rows: deque[tuple[int, np.ndarray, np.ndarray]] = deque(maxlen=size)
        self.extras = extras

    def push(self, ts: int, ohlcv: np.ndarray, filled: np.ndarray) -> None:
        self.rows.append((ts, ohlcv, filled))

    def bars(self, last: int | None = None) -> Bars:
        """The window (its ``last`` rows only, when given) as ``Bars``."""
        rows = list(self.rows)[-last:] if last else list(self.rows)
        index = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        data = np.stack([r[1] for r in rows])  # (n, 5, k)
        filled = np.stack([r[2] for r in rows])
        bars = Bars(
            index=index,
            symbols=self.symbols,
            timeframe=self.timeframe,
            open=np.ascontiguousarray(data[:, 0]),
            high=np.ascontiguousarray(data[:, 1]),
            low=np.ascontiguousarray(data[:, 2]),
            close=np.ascontiguousarray(data[:, 3]),
            volume=np.ascontiguousarray(data[:, 4]),
            filled=filled,
        )
        return bars if self.extras is None else self.extras(bars)


def lot_qty(value: float, lot: Decimal) -> Decimal:
    """A planned float quantity as the Decimal the venue takes.

    Without a lot, the Decimal of the float's shortest repr (``float()`` gives the same float
    back). With one, the multiple of the lot the engine meant: its sizes are floored to the lot
    in floating point (``0.52452`` comes out as ``0.5245200000000001``), so the nearest
    multiple is taken when the float is that close to it, else the one below.
    """
    exact = Decimal(repr(float(value)))
    if lot <= 0:
        return exact
    steps = exact / lot
    nearest = steps.to_integral_value(rounding=ROUND_HALF_EVEN)
    if abs(steps - nearest) <= Decimal("1e-6"):
        return (nearest * lot).normalize() if nearest else Decimal(0)
    return (steps.to_integral_value(rounding=ROUND_FLOOR) * lot).normalize()
