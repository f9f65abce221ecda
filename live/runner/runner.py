"""The runner: closed bars → the strategy's signals → the engine's sizing and risk rules →
order manager → venue, every step recorded in the event store before it is acted on.

One bar, in order (``ts`` is the bar's open time)::

    bar_closed  {ts, t, bar, book}          the engine book closed the bar (marks, drawdown and
                                            daily-loss rules); its snapshot after the close
    decision    {ts, signal, planned, ...}  \
    order_created × n                       / one transaction: the decision and its intents
    order_submitted → venue.submit → order_acknowledged / order_fill / ...   for each intent

A restart folds the log: the order manager replays every ``order_*`` event, the engine book
restores the last ``bar_closed`` snapshot and books the fills recorded after it. If the last
closed bar has no ``decision`` yet, the decision is taken again (same bars, same book: the
same intents, whose client ids make it idempotent). Then, before any strategy code runs,
every order not known to be final is resolved against the venue by its client id, missing
fills are fetched, and positions are compared with the venue's; a difference that does not
resolve halts trading with the reason (recorded as a ``halted`` event).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.engine.book import EngineBook, PlannedOrder, decision_row
from grekko_research.engine.config import EngineConfig
from grekko_research.errors import ConfigError, GrekkoError
from grekko_research.portfolio import merge_targets
from grekko_research.strategy import Strategy
from live.events import EventStore
from live.orders import (
    Cancelled,
    FillReport,
    HaltedError,
    Intent,
    NotFound,
    OrderManager,
    OrderState,
    Rejected,
    Report,
    Timeout,
)
from live.risk import (
    LiveRiskConfig,
    MarketView,
    OpsView,
    PortfolioView,
    ProposedOrder,
    RiskEngine,
    TradingState,
)
from live.runner.payloads import json_floats, planned_payload, signal_payload
from live.runner.sleeves import CoordinatorSpec, Sleeve, SleeveSpec, sizing_vol, window_size
from live.venues.base import Bar, OrderRequest, Venue, VenueFill
from live.venues.errors import GiveUp, OrderMissing, OutcomeUnknown, RetryLater, VenueError

__all__ = ["CRASH_POINTS", "RunSummary", "Runner", "RunnerSpec"]

CRASH_POINTS = ("before_intent", "before_send", "after_send", "before_fill")
"""Where a test hook may kill the process: before the decision and its intents are persisted;
after ``order_submitted`` is persisted, before the create is sent; after the venue answered,
before anything of the answer is persisted; after a fill is received, before it is persisted."""

_RETRYABLE_REJECT = ("not found", "not accepted")
_MAX_RETRIES = 3
_FLATTEN_SEQ = 10_000  # intents of a risk flatten take seq from here (retries add 1 each)
_KILL_SEQ = 20_000  # intents of a kill switch's flatten


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
    risk: LiveRiskConfig | None = None  # the live risk engine's limits (None: fail-closed only)
    meta: Mapping[str, Any] = field(default_factory=dict)
    sleeves: tuple[SleeveSpec, ...] = ()  # several strategies (``engine``: the account's)
    coordinator: CoordinatorSpec | None = None  # how the sleeves' targets merge

    def __post_init__(self) -> None:
        if (self.strategy is None) == (not self.sleeves):
            raise ConfigError("a run trades either one strategy or a portfolio of sleeves")
        ids = [s.id for s in self.sleeves]
        if len(set(ids)) != len(ids):
            raise ConfigError(f"portfolio strategy ids must be unique, got {ids}")


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


class _Window:
    """The last ``size`` closed bars of every symbol, as the strategy's ``Bars``."""

    def __init__(self, symbols: Sequence[str], timeframe: str, size: int) -> None:
        self.symbols = tuple(symbols)
        self.timeframe = timeframe
        self.rows: deque[tuple[int, np.ndarray, np.ndarray]] = deque(maxlen=size)

    def push(self, ts: int, ohlcv: np.ndarray, filled: np.ndarray) -> None:
        self.rows.append((ts, ohlcv, filled))

    def bars(self, last: int | None = None) -> Bars:
        """The window (its ``last`` rows only, when given) as ``Bars``."""
        rows = list(self.rows)[-last:] if last else list(self.rows)
        index = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        data = np.stack([r[1] for r in rows])  # (n, 5, k)
        filled = np.stack([r[2] for r in rows])
        return Bars(
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


def _qty(value: float, lot: Decimal) -> Decimal:
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


class Runner:
    """Runs one strategy on one venue, recording everything in ``store`` (see the module doc).

    Parameters
    ----------
    spec
        The run.
    venue
        Where orders go and where closed bars come from.
    store
        The run's event log (opened by the caller; the runner never closes it).
    clock
        Time in ms for the log and the grace windows; default the venue's clock.
    hook
        Called with a name from :data:`CRASH_POINTS` at each point (tests kill the process
        there); ``None`` in production.
    """

    def __init__(
        self,
        spec: RunnerSpec,
        venue: Venue,
        store: EventStore,
        *,
        clock: Callable[[], int] | None = None,
        hook: Callable[[str], None] | None = None,
    ) -> None:
        self.spec = spec
        self.venue = venue
        self.store = store
        self.clock = clock or venue.now_ms
        self.hook = hook or (lambda point: None)
        self.tf_ms = parse_timeframe(spec.timeframe).ms
        self.sleeves = [Sleeve(s) for s in spec.sleeves]
        if spec.strategy is not None:
            self.window_size = window_size(spec.strategy, spec.params, spec.engine)
        else:
            self.window_size = max(s.window_size for s in self.sleeves)
        self.window = _Window(spec.symbols, spec.timeframe, self.window_size)
        self.om = OrderManager(grace_ms=spec.grace_ms)
        self.book: EngineBook | None = None
        self.last_closed_ts: int | None = None
        self.last_decided_ts: int | None = None
        self.baseline: dict[str, Decimal] = {}
        self.halted: str | None = None
        self.summary = RunSummary()
        self._last_reconcile_ms = 0
        self._market_rules: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._stream_task: asyncio.Task[None] | None = None
        self._links: list[dict[str, str]] = []
        self._retries: dict[str, int] = {}
        self._first_ts = 0
        self._pending_decision: int | None = None
        self._killed: str | None = None
        self._kill_source = "call"
        self.risk = RiskEngine(spec.risk)
        self._kill_task: asyncio.Task[None] | None = None
        self._lots: list[Decimal] = [Decimal(0)] * len(spec.symbols)
        self._history_until: int | None = None
        self._market_cache: tuple[tuple[int, int] | None, MarketView] | None = None
        self._ops_task: asyncio.Task[None] | None = None
        self._last_data_ms: int | None = None
        self._reconnects_seen = 0
        self._last_tick = 0.0

    # -- the log -------------------------------------------------------------------------

    def _append(self, drafts: Sequence[tuple[str, str, dict[str, Any]]]) -> None:
        if not drafts:
            return
        now = self.clock()
        self.store.append_many([(k, s, p, now) for k, s, p in drafts])

    def _persist_om(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Persist order-manager events, with the trades their fills closed in the engine book,
        in one transaction, and book the fills."""
        if not events:
            return
        trades: list[tuple[str, str, dict[str, Any], int]] = []
        for e in events:
            if e["kind"] == "order_fill":
                trade = self._book_fill(e["stream"], e["payload"])
                if trade is not None:
                    trades.append(("trade_closed", e["stream"], trade, e["ts_ms"]))
        self.store.append_many(
            [(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in events] + trades
        )
        self.summary.fills += sum(e["kind"] == "order_fill" for e in events)

    def _book_fill(self, cid: str, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        """Book one recorded fill in the engine book; return the trade it closed, if any."""
        if self.book is None:
            return None
        order = self.om.order(cid)
        j = self.spec.symbols.index(order.symbol)
        qty = float(Decimal(payload["qty"]))
        size = qty if order.side == "buy" else -qty
        kind = "risk_flatten" if order.seq >= _FLATTEN_SEQ else "market"
        out = self.book.fill(j, size, float(Decimal(payload["price"])), kind=kind)
        trade = out["trade"]
        if trade is None:
            return None
        trade = {k: (v if math.isfinite(v) else None) for k, v in trade.items()}
        trade["symbol"] = order.symbol
        return trade

    # -- restart -------------------------------------------------------------------------

    def _restore(self) -> None:
        """Fold the log into the order manager, the engine book and the runner's state."""
        events = list(self.store.read())
        self.om = OrderManager.replay(events, grace_ms=self.spec.grace_ms)
        snap_at = -1
        for i, e in enumerate(events):
            if e.kind == "run_started":
                self.baseline = {s: Decimal(q) for s, q in e.payload["baseline"].items()}
                self._check_same_sleeves(e.payload)
            elif e.kind == "bar_closed":
                snap_at = i
                self.last_closed_ts = int(e.payload["ts"])
            elif e.kind == "decision":
                self.last_decided_ts = int(e.payload["ts"])
            elif e.kind == "halted":
                self.halted = str(e.payload["reason"])
            elif e.kind == "kill_switch":
                self._killed = str(e.payload["reason"])
                self._kill_source = str(e.payload.get("source", "call"))
            elif e.kind == "resumed":
                self.halted = None
                self._killed = None
            elif e.kind == "retry_created":
                self._links.append({"of": str(e.payload["of"]), "retry": str(e.payload["retry"])})
        if snap_at < 0:
            return
        snap = events[snap_at].payload
        if snap.get("risk_engine") is not None:
            self.risk.restore(snap["risk_engine"])
        self._first_ts = int(snap["first_ts"])
        self.book = self._new_book(int(snap["first_ts"]))
        self.book.restore(snap["book"])
        for sleeve in self.sleeves:
            sleeve.restore(snap["sleeves"][sleeve.id])
        next_ts = int(snap["ts"]) + self.tf_ms
        if self.last_decided_ts == self.last_closed_ts:
            self.book.start_bar(next_ts)
            self.book.consume_flatten()
        for e in events[snap_at + 1 :]:
            if e.kind == "decision" and e.payload.get("strategies"):
                for sleeve in self.sleeves:  # the sleeves booked their own fills with it
                    sleeve.rebook(e.payload["strategies"][sleeve.id], next_ts)
            elif e.kind == "order_fill":
                self._book_fill(e.stream, e.payload)  # its trade, if any, is in the log
            elif e.kind == "resumed":
                self.risk.resume(str(e.payload.get("reason", "resumed")), now_ms=e.ts_ms)

    def _check_same_sleeves(self, started: Mapping[str, Any]) -> None:
        """A log is resumed only by the strategies that wrote it (a sleeve's book cannot be
        restored into another strategy, nor a portfolio's into one strategy)."""
        logged = [str(s["id"]) for s in started.get("strategies") or []]
        here = [s.id for s in self.sleeves]
        if logged != here:
            raise ConfigError(
                f"run {self.spec.run_id!r} was started with strategies {logged or 'of one'}, "
                f"this configuration has {here or 'one strategy'}: pick another live.run_id"
            )

    def _new_book(self, first_ts: int) -> EngineBook:
        """The account's engine book (and each sleeve's own, in a portfolio run)."""
        for sleeve in self.sleeves:
            sleeve.new_book(self.spec.symbols, first_ts, self._market_rules)
        lot, tick, mn = self._market_rules or (None, None, None)
        return EngineBook(
            self.spec.engine, self.spec.symbols, first_ts, lot=lot, tick=tick, min_notional=mn
        )

    # -- reconciliation ------------------------------------------------------------------

    async def _load_market_rules(self) -> None:
        """The stricter of the engine's market rules and the venue's, per symbol."""
        lot, tick, mn = self.spec.engine.market.arrays(len(self.spec.symbols))
        for j, symbol in enumerate(self.spec.symbols):
            info = await self.venue.market(symbol)
            lot[j] = max(lot[j], float(info.lot))
            tick[j] = max(tick[j], float(info.tick))
            mn[j] = max(mn[j], float(info.min_notional))
        self._market_rules = (lot, tick, mn)
        self._lots = [Decimal(repr(float(x))) for x in lot]

    async def resolve(self, *, wait: bool) -> None:
        """Resolve every order the manager says needs it (query by client id, fetch fills).

        With ``wait``, keep going until nothing is pending (orders "not found" are re-queried
        until their grace window passes), or ``resolve_timeout_ms`` passes (then halt).
        """
        deadline = time.monotonic() + self.spec.resolve_timeout_ms / 1000
        while True:
            pending = self.om.needs_resolution(self.clock())
            waiting = [
                o
                for o in self.om.open_orders()
                if o.state is OrderState.SUBMITTED
                and not any(p.client_id == o.client_id for p in pending)
            ]
            if not pending and not (wait and waiting):
                return
            for p in pending:
                await self._resolve_one(p.client_id, p.reason)
            for o in waiting if wait else []:
                await self._resolve_one(o.client_id, "unacknowledged")
            await self._reissue_lost()
            if not wait:
                return
            if not self.om.needs_resolution(self.clock()) and not [
                o for o in self.om.open_orders() if o.state is OrderState.SUBMITTED
            ]:
                return
            if time.monotonic() > deadline:
                await self._halt(
                    "orders still unresolved after "
                    f"{self.spec.resolve_timeout_ms} ms: "
                    + ", ".join(p.client_id for p in self.om.needs_resolution(self.clock()))
                )
                return
            await asyncio.sleep(min(0.05, self.spec.grace_ms / 4000))

    async def _resolve_one(self, cid: str, reason: str) -> None:
        order = self.om.order(cid)
        try:
            report = await self.venue.query(order.symbol, cid)
        except (RetryLater, OutcomeUnknown) as e:
            await asyncio.sleep(min(getattr(e, "retry_after", None) or 0.2, 5.0))
            return
        except OrderMissing:
            report = NotFound(cid)
        self._persist_om(self.om.apply(report, self.clock()))
        order = self.om.order(cid)
        if order.venue_filled_qty > order.filled_qty or reason == "missing_fills":
            await self._fetch_order_fills(cid)

    async def _fetch_order_fills(self, cid: str) -> None:
        """Fetch one order's executions from the venue and merge the ones not yet recorded."""
        order = self.om.order(cid)
        for f in await self.venue.order_fills(order.symbol, cid, order.venue_order_id):
            self._merge_fill(cid, f)

    def _merge_fill(self, cid: str, f: VenueFill) -> None:
        report: Report = FillReport(
            cid, f.trade_id, f.qty, f.price, source="rest", fee=f.fee, fee_asset=f.fee_asset
        )
        self._persist_om(self.om.apply(report, self.clock()))

    async def _fetch_fills(self, symbol: str, since_ms: int | None) -> None:
        """Fetch the account's executions on ``symbol`` and merge those of this run's orders."""
        known = {o.client_id for o in self.om.orders()}
        for f in await self.venue.fills(symbol, since_ms=since_ms):
            if f.client_id in known:
                self._merge_fill(f.client_id, f)

    async def _reissue_lost(self) -> None:
        """Send again, under a new client id, the orders whose create never reached the venue."""
        drafts: list[tuple[str, str, dict[str, Any]]] = []
        events: list[Mapping[str, Any]] = []
        taken = {(o.symbol, o.decision_ts_ms, o.seq) for o in self.om.orders()}
        if self.halted:
            return
        for o in self.om.orders():
            if o.state is not OrderState.REJECTED or not (o.reason or "").startswith(
                _RETRYABLE_REJECT
            ):
                continue
            if any(link["of"] == o.client_id for link in self._links):
                continue  # already re-issued
            # Re-issues counted in this process: a create the venue keeps refusing gives up
            # here; one lost to our own crash is re-issued again after the restart.
            n = self._retries.get(o.client_id, 0)
            if n >= _MAX_RETRIES:
                continue
            seq = o.seq + 1
            while (o.symbol, o.decision_ts_ms, seq) in taken:
                seq += 1
            intent = Intent(
                o.run_id, o.symbol, o.side, o.qty, o.decision_ts_ms, seq=seq,
                order_type=o.order_type, limit_price=o.limit_price,
            )  # fmt: skip
            new = self.om.create(intent, self.clock())
            events += new
            self._retries[intent.client_id] = n + 1
            drafts.append(
                ("retry_created", o.client_id, {"of": o.client_id, "retry": intent.client_id})
            )
            self._links.append({"of": o.client_id, "retry": intent.client_id})
            taken.add((o.symbol, o.decision_ts_ms, seq))
        if events:
            self.store.append_many(
                [(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in events]
                + [(k, s, p, self.clock()) for k, s, p in drafts]
            )
            for e in events:
                await self._send(e["stream"])

    async def reconcile(self) -> bool:
        """Query every order not known to be final, fetch missing fills, compare positions.

        Returns whether the books agree. Positions that differ get a second look with the
        account's whole trade list; a difference that survives it halts trading.
        """
        t0 = time.perf_counter()
        for o in self.om.open_orders():
            if o.state is not OrderState.NEW:  # a NEW order was never sent
                await self._resolve_one(o.client_id, "reconcile")
        await self.resolve(wait=True)
        diff = await self._position_diff()
        if diff:
            for symbol in self.spec.symbols:
                await self._fetch_fills(symbol, since_ms=None)
            diff = await self._position_diff()
        ms = (time.perf_counter() - t0) * 1000
        self.summary.reconcile_ms.append(ms)
        if diff:
            await self._halt("positions differ from the venue's: " + "; ".join(diff))
            return False
        try:
            balances = {a: str(q) for a, q in (await self.venue.balances()).items()}
        except VenueError as e:
            balances = {"error": str(e)[:200]}
        self._append(
            [("reconciled", "runner", {"ok": True, "ms": round(ms, 3), "balances": balances})]
        )
        return True

    async def _position_diff(self) -> list[str]:
        venue_pos = await self.venue.positions(self.spec.symbols)
        out = []
        for symbol in self.spec.symbols:
            base = symbol.split("/")[0]
            local = self.om.position(symbol)
            fees = sum(
                (f.fee for f in self.om.fills() if f.fee is not None and f.fee_asset == base
                 and self.om.order(f.client_id).symbol == symbol),
                Decimal(0),
            )  # fmt: skip
            expected = self.baseline.get(symbol, Decimal(0)) + local - fees
            have = venue_pos.get(symbol, Decimal(0))
            if abs(have - expected) > Decimal("1e-9") * max(Decimal(1), abs(expected)):
                out.append(
                    f"{symbol}: venue {have}, expected {expected} (baseline "
                    f"{self.baseline.get(symbol, Decimal(0))} + fills {local} - fees {fees})"
                )
        return out

    # -- kill switch ---------------------------------------------------------------------

    @property
    def killed(self) -> bool:
        """Whether the kill switch is engaged (it stays so across restarts until resumed)."""
        return self._killed is not None

    async def kill(
        self, reason: str, *, flatten: bool = False, source: str = "call"
    ) -> dict[str, Any]:
        """Engage the kill switch: block new orders at once, cancel every open order, and
        optionally flatten every position with market orders. Idempotent.

        Returns what it did, with the two timings the switch is judged by: trigger → new
        orders blocked, and trigger → every cancel acknowledged.
        """
        t0 = time.perf_counter()
        first = self._killed is None
        self._killed = reason
        self._kill_source = source
        self.halted = f"kill switch: {reason}"
        self.summary.halted = self.halted
        blocked_ms = (time.perf_counter() - t0) * 1000
        if first:
            self._append(
                [
                    (
                        "kill_switch",
                        "runner",
                        {"engaged": True, "reason": reason, "flatten": flatten, "source": source},
                    ),
                    ("halted", "runner", {"reason": self.halted}),
                ]
            )
        opened = [o for o in self.om.open_orders() if o.state is not OrderState.NEW]
        failed: list[str] = []
        for _ in range(3):  # creates in flight at the trigger land meanwhile: look again
            live_orders = [o for o in self.om.open_orders() if o.state is not OrderState.NEW]
            if not live_orders:
                break
            results = await asyncio.gather(
                *(self._cancel_for_kill(o.client_id) for o in live_orders),
                return_exceptions=True,
            )
            failed = [str(r)[:200] for r in results if isinstance(r, BaseException)]
            await self.resolve(wait=False)
        for o in self.om.open_orders():
            if o.state is OrderState.NEW:  # never sent: withdraw
                self._persist_om(self.om.apply(_withdrawn(o.client_id), self.clock()))
        cancelled_ms = (time.perf_counter() - t0) * 1000
        flattened: list[str] = []
        if flatten:
            flattened = await self._flatten_all(reason)
        still_open = [o.client_id for o in self.om.open_orders()]
        outcome = {
            "reason": reason,
            "blocked_ms": round(blocked_ms, 3),
            "cancels_acknowledged_ms": round(cancelled_ms, 3),
            "cancelled": len(opened),
            "cancel_failures": failed,
            "still_open": still_open,
            "flattened": flattened,
        }
        self._append([("kill_switch_done", "runner", outcome)])
        return outcome

    async def _cancel_for_kill(self, cid: str) -> None:
        order = self.om.order(cid)
        try:
            reports = await self.venue.cancel(order.symbol, cid)
        except OrderMissing:
            reports = [NotFound(cid)]
        self._apply_reports(reports)

    async def _flatten_all(self, reason: str) -> list[str]:
        """Close every position with market orders (the only orders a kill lets through)."""
        ts = self.last_closed_ts or 0
        taken = {(o.symbol, o.decision_ts_ms, o.seq) for o in self.om.orders()}
        events: list[Mapping[str, Any]] = []
        for symbol in self.spec.symbols:
            pos = self.om.position(symbol)
            if pos == 0:
                continue
            seq = _KILL_SEQ
            while (symbol, ts, seq) in taken:
                seq += 1
            side: Literal["buy", "sell"] = "sell" if pos > 0 else "buy"
            intent = Intent(self.spec.run_id, symbol, side, abs(pos), ts, seq=seq)
            events += self.om.create(intent, self.clock())
        self._persist_om(events)
        for e in events:
            await self._send(e["stream"], force=True)
        return [e["stream"] for e in events]

    async def _breaker_kill(self) -> None:
        """A risk engine HALTED by a hold that only ``resume`` lifts (drawdown, an error inside a
        check, an operator's halt) engages the kill switch, cancelling open orders too. A halt
        that lifts by itself when its condition clears (an operational check, VaR) only blocks
        new orders, through the risk engine, for as long as it lasts."""
        if self._killed is not None or self.risk.state is not TradingState.HALTED:
            return
        sticky = [h for h in self.risk.holds if h["state"] == "HALTED" and not h["level"]]
        if sticky:
            await self.kill(f"risk engine halted: {sticky[0]['reason']}", source="breaker")

    # -- operations -------------------------------------------------------------------------

    async def _watch_ops(self) -> None:
        """On a real-time venue, feed the risk engine's operational checks every
        ``ops_every_s`` (data age, websocket down, error rate, clock skew) and its between-bar
        breakers every ``tick_every_s`` (drawdown, daily loss, price move on live prices);
        record the venue's websocket reconnections (``ws_reconnect``)."""
        health = getattr(self.venue, "health", None)
        if health is None:
            return
        while True:
            try:
                if not await self.check_ops():
                    return  # a replay: its clock is the data's, nothing to watch
            except VenueError as e:
                self._append([("ops_failed", "runner", {"reason": str(e)[:200]})])
            await asyncio.sleep(self.spec.ops_every_s)

    async def check_ops(self) -> bool:
        """One round of :meth:`_watch_ops`; returns whether the venue is real-time."""
        h = await self.venue.health()
        if not h.realtime:
            return False
        now = self.clock()
        drafts: list[tuple[str, str, dict[str, Any]]] = []
        if h.reconnects > self._reconnects_seen:
            drafts.append(
                ("ws_reconnect", "venue",
                 {"count": h.reconnects - self._reconnects_seen, "total": h.reconnects})
            )  # fmt: skip
            self._reconnects_seen = h.reconnects
        ops = OpsView(
            last_data_ms=self._last_data_ms,
            ws_down_since_ms=h.ws_down_since_ms,
            error_times_ms=h.error_times_ms,
            clock_skew_ms=h.clock_skew_ms,
        )
        drafts += self.risk.on_ops(ops, now_ms=now)
        if time.monotonic() - self._last_tick >= self.spec.tick_every_s and self.window.rows:
            self._last_tick = time.monotonic()
            drafts += await self._tick(now)
        self._append(drafts)
        await self._breaker_kill()
        return True

    async def _tick(self, now: int) -> list[tuple[str, str, dict[str, Any]]]:
        """The between-bar breakers on the venue's current prices: the account marked at them
        (its last close's equity plus each position's move since that close)."""
        if self.book is None:
            return []
        market = self._market_view()
        prices = {s: float(await self.venue.reference_price(s)) for s in self.spec.symbols}
        last = self.window.rows[-1][1][3]
        equity = self.book.equity + sum(
            self.book.position(j) * (prices[s] - float(last[j]))
            for j, s in enumerate(self.spec.symbols)
            if math.isfinite(prices[s]) and math.isfinite(float(last[j]))
        )
        view = PortfolioView(equity=equity, positions=self._portfolio_view().positions)
        return self.risk.on_tick(view, replace(market, prices=prices), now_ms=now)

    async def _watch_kill_file(self) -> None:
        """Engage the kill switch when the flag file appears (``grekko-live kill``, the API)."""
        path = self.spec.kill_file
        if path is None:
            return
        while True:
            if self._killed is None and path.exists():
                try:
                    flag = json.loads(path.read_text() or "{}")
                except (OSError, ValueError):
                    flag = {}
                await self.kill(
                    str(flag.get("reason") or "kill flag file"),
                    flatten=bool(flag.get("flatten")),
                    source="flag",
                )
            elif self._killed is not None and self._kill_source == "flag" and not path.exists():
                self.resume("kill flag removed (grekko-live resume, or the API's /resume)")
            await asyncio.sleep(self.spec.kill_poll_s)

    def resume(self, reason: str) -> None:
        """Lift the kill switch or a halt explicitly; recorded with ``reason``."""
        if self.halted is None and self._killed is None:
            return
        self._append(
            [
                ("resumed", "runner", {"reason": reason, "halt": self.halted}),
                *list(self.risk.resume(reason, now_ms=self.clock())),
            ]
        )
        self.halted = None
        self._killed = None
        self.summary.halted = None

    async def _halt(self, reason: str) -> None:
        if self.halted == reason:
            return
        self.halted = reason
        self.summary.halted = reason
        self._append([("halted", "runner", {"reason": reason})])

    # -- orders --------------------------------------------------------------------------

    async def _send(self, cid: str, *, force: bool = False) -> None:
        """Send one NEW order: persist ``order_submitted``, send, persist what comes back.

        While halted nothing is sent (the order stays NEW) unless ``force`` (a kill's flatten).
        """
        order = self.om.order(cid)
        if order.state is not OrderState.NEW:
            return
        if self.halted and not force:
            return  # stays NEW: sent once trading resumes, or withdrawn by a kill
        self._persist_om(self.om.mark_submitted(cid, self.clock()))
        self.hook("before_send")
        request = OrderRequest(
            cid, order.symbol, order.side, order.qty, order.order_type, order.limit_price
        )
        try:
            reports: list[Report] = list(await self.venue.submit(request))
        except OutcomeUnknown as e:
            self.hook("after_send")
            self._persist_om(self.om.apply(Timeout(cid, str(e)[:200]), self.clock()))
            return
        except RetryLater as e:
            self._persist_om(
                self.om.apply(Rejected(cid, f"not accepted: {str(e)[:200]}"), self.clock())
            )
            await asyncio.sleep(min(e.retry_after or 1.0, 30.0))
            return
        except GiveUp as e:
            self._persist_om(self.om.apply(Rejected(cid, str(e)[:200]), self.clock()))
            return
        self.hook("after_send")
        self._apply_reports(reports)

    def _apply_reports(self, reports: Sequence[Report]) -> None:
        """Persist non-fill reports first, then the fills (so a crash can fall between)."""
        others = [r for r in reports if not isinstance(r, FillReport)]
        fills = [r for r in reports if isinstance(r, FillReport)]
        for r in others:
            self._persist_om(self.om.apply(r, self.clock()))
        for f in fills:
            events = self.om.apply(f, self.clock())
            if events:
                self.hook("before_fill")
            self._persist_om(events)

    async def _consume_stream(self) -> None:
        """Apply the venue's pushed order updates as they come."""
        known = lambda cid: any(o.client_id == cid for o in self.om.orders())  # noqa: E731
        async for report in self.venue.reports():
            if not known(report.client_id):
                continue  # not one of this run's orders
            try:
                self._apply_reports([report])
            except GrekkoError as e:
                await self._halt(f"venue update {report!r} could not be applied: {e}")

    # -- bars and decisions ---------------------------------------------------------------

    async def _on_bar(self, ts: int, ohlcv: np.ndarray, filled: np.ndarray) -> None:
        if self.last_closed_ts is not None and ts <= self.last_closed_ts:
            if ts > (self.window.rows[-1][0] if self.window.rows else -1):
                self.window.push(ts, ohlcv, filled)  # history the run already closed
            return
        t_received = time.perf_counter()
        self.window.push(ts, ohlcv, filled)
        if self.book is None:
            self.book = self._new_book(ts)
            self._first_ts = ts
        risk = self.book.close_bar(ohlcv[1], ohlcv[2], ohlcv[3], filled)
        market = self._market_view()
        risk_events = self.risk.on_bar(self._portfolio_view(), market, now_ms=self.clock())
        sleeves: dict[str, Any] = {}
        for sleeve in self.sleeves:
            sleeves[sleeve.id], drafts = sleeve.close_bar(ohlcv, filled, market, self.clock())
            risk_events += drafts
        snap = self.book.snapshot()
        self._append(
            [
                (
                    "bar_closed",
                    "runner",
                    {
                        "ts": ts,
                        "first_ts": self._first_ts,
                        "bar": json_floats(ohlcv.tolist()),
                        "filled": filled.tolist(),
                        "book": snap,
                        "risk": risk,
                        "equity": self.book.equity,
                        "risk_engine": self.risk.snapshot(),
                        **({"sleeves": sleeves} if self.sleeves else {}),
                    },
                ),
                *risk_events,
            ]
        )
        self.last_closed_ts = ts
        self.summary.bars += 1
        await self._breaker_kill()
        await self._decide(ts, t_received)

    async def _decide(self, ts: int, t_received: float | None = None) -> None:
        assert self.book is not None
        if self.last_decided_ts == ts:
            return
        if self.om.needs_resolution(self.clock()) or any(
            o.state is OrderState.SUBMITTED for o in self.om.open_orders()
        ):
            # Decide on the book with every fill the venue already made: an order whose
            # outcome or fills are still unknown is resolved first.
            await self.resolve(wait=True)
        await self._cancel_stale_market_orders()
        prices = np.empty(len(self.spec.symbols))
        high = np.full(len(self.spec.symbols), np.inf)
        low = np.full(len(self.spec.symbols), -np.inf)
        volume = np.full(len(self.spec.symbols), np.nan)
        for j, symbol in enumerate(self.spec.symbols):
            prices[j] = float(await self.venue.reference_price(symbol))
            nxt = getattr(self.venue, "execution_bar", None)
            bar = nxt(symbol) if nxt is not None else None
            if bar is not None:
                high[j], low[j], volume[j] = bar.high, bar.low, bar.volume
        self.book.start_bar(ts + self.tf_ms)
        market = self._market_view()
        risk_events: list[tuple[str, str, dict[str, Any]]] = []
        if self.spec.strategy is not None:
            bars = self.window.bars()
            row = decision_row(bars, self.spec.strategy.signals(bars, self.spec.params))
            vol = sizing_vol(bars, self.spec.engine, self.tf_ms)
            planned = self.book.plan(row, prices, high=high, low=low, volume=volume, vol=vol)
            about: dict[str, Any] = {
                "signal": signal_payload(row),
                "planned": [planned_payload(p) for p in planned],
            }
        else:
            planned, about = self._portfolio_plan(ts, prices, (high, low, volume), market)
            risk_events += about.pop("events")
        intents: list[Intent] = []
        refused: list[dict[str, Any]] = []
        for i, po in enumerate(planned):
            if po.status != "filled":
                continue
            if self.halted:
                refused.append(
                    {"symbol": po.symbol, "size": po.size, "reason": f"halted: {self.halted}"}
                )
                continue
            seq = _FLATTEN_SEQ + i * 100 if po.kind == "risk_flatten" else i * 100
            qty = _qty(abs(po.size), self._lots[po.asset])
            if qty <= 0:
                refused.append({"symbol": po.symbol, "size": po.size, "reason": "below one lot"})
                continue
            side: Literal["buy", "sell"] = "buy" if po.size > 0 else "sell"
            intent = Intent(self.spec.run_id, po.symbol, side, qty, ts, seq=seq)
            price = po.price if math.isfinite(po.price) else None
            verdict = self.risk.check_order(
                ProposedOrder(po.symbol, side, float(qty), price, client_id=intent.client_id),
                self._portfolio_view(),
                market,
                now_ms=self.clock(),
            )
            risk_events += verdict.events
            if verdict.action == "reject":
                refused.append({"symbol": po.symbol, "size": po.size, "reason": verdict.reason,
                                "rule": verdict.rule})  # fmt: skip
                continue
            if verdict.action == "shrink":
                qty = _qty(verdict.qty, self._lots[po.asset])
                if qty <= 0:
                    refused.append({"symbol": po.symbol, "size": po.size, "rule": verdict.rule,
                                    "reason": "shrunk below one lot"})  # fmt: skip
                    continue
                intent = Intent(self.spec.run_id, po.symbol, side, qty, ts, seq=seq)
            intents.append(intent)
        events: list[Mapping[str, Any]] = []
        try:
            for intent in intents:
                events += self.om.create(intent, self.clock())
        except HaltedError as e:
            events = []
            refused += [{"symbol": i.symbol, "size": str(i.qty), "reason": str(e)} for i in intents]
            intents = []
        latency_ms = None if t_received is None else (time.perf_counter() - t_received) * 1000
        decision = {
            "ts": ts,
            "latency_ms": None if latency_ms is None else round(latency_ms, 3),
            **about,
            "intents": [i.client_id for i in intents],
            "refused": refused,
            "prices": json_floats(prices.tolist()),
        }
        if intents:
            self.hook("before_intent")
        now = self.clock()
        self.store.append_many(
            [("decision", "runner", decision, now)]
            + [(k, st, p, now) for k, st, p in risk_events]
            + [(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in events]
        )
        self.last_decided_ts = ts
        self.summary.decisions += 1
        await self._breaker_kill()
        self.summary.orders += len(intents)
        if t_received is not None and intents:
            self.summary.bar_to_intent_ms.append((time.perf_counter() - t_received) * 1000)
        await self._execute_pending()

    def _portfolio_plan(
        self,
        ts: int,
        prices: np.ndarray,
        bounds: tuple[np.ndarray, np.ndarray, np.ndarray],
        market: MarketView,
    ) -> tuple[list[PlannedOrder], dict[str, Any]]:
        """Every sleeve decides on its own book; the coordinator merges their targets; the
        account's orders are the differences between the merged targets and what it holds.

        Returns those orders and the decision's record: each sleeve's part (under
        ``strategies``), the merge, and under ``events`` the sleeves' risk and trade events.
        """
        assert self.book is not None
        symbols = self.spec.symbols
        parts: dict[str, Any] = {}
        events: list[tuple[str, str, dict[str, Any]]] = []
        targets = np.zeros((len(self.sleeves), len(symbols)))
        for i, sleeve in enumerate(self.sleeves):
            bars = self.window.bars(sleeve.window_size)
            parts[sleeve.id], drafts = sleeve.decide(
                bars, ts + self.tf_ms, prices, bounds, market, self.tf_ms, self.clock()
            )
            events += drafts
            targets[i] = parts[sleeve.id]["target"]
        c = self.spec.coordinator or CoordinatorSpec()
        merged = merge_targets(
            targets,
            np.array([s.spec.weight for s in self.sleeves]),
            prices,
            self.book.equity,
            rule=c.rule,
            quorum=c.quorum,
            max_position=c.max_position,
            max_gross=c.max_gross,
        )
        held = np.array([float(self.om.position(s)) for s in symbols])
        planned: list[PlannedOrder] = []
        for j, symbol in enumerate(symbols):
            delta = float(merged.target[j] - held[j])
            scale = max(1.0, abs(float(merged.target[j])), abs(float(held[j])))
            if not math.isfinite(prices[j]) or abs(delta) <= 1e-9 * scale:
                continue  # no market now, or already there
            qty = float(_qty(abs(delta), self._lots[j]))
            if qty > 0:  # within a lot of the target: nothing to trade
                planned.append(
                    PlannedOrder(j, symbol, math.copysign(qty, delta), float(prices[j]),
                                 math.nan, "market", "filled", None)
                )  # fmt: skip
        about = {
            "strategies": parts,
            "merge": {
                "rule": c.rule,
                "targets": json_floats(targets.tolist()),
                "raw": json_floats(merged.raw.tolist()),
                "target": json_floats(merged.target.tolist()),
                "capped": list(merged.capped),
                "held": held.tolist(),
            },
            "planned": [planned_payload(p) for p in planned],
            "events": events,
        }
        return planned, about

    async def _cancel_stale_market_orders(self) -> None:
        """Cancel what is left of market orders from earlier bars (a market order should not
        rest; a venue that left part of one open would otherwise trade it behind the book's
        back). Their fills stay; the cancel's answer is recorded like any report."""
        for o in self.om.open_orders():
            if o.order_type != "market" or o.state not in (
                OrderState.ACKNOWLEDGED,
                OrderState.PARTIALLY_FILLED,
            ):
                continue
            try:
                reports = await self.venue.cancel(o.symbol, o.client_id)
            except (RetryLater, OutcomeUnknown, GiveUp) as e:
                self._append([("cancel_failed", o.client_id, {"reason": str(e)[:200]})])
                continue
            except OrderMissing:
                reports = [NotFound(o.client_id)]
            self._apply_reports(reports)
            if self.om.order(o.client_id).venue_filled_qty > self.om.order(o.client_id).filled_qty:
                await self._fetch_order_fills(o.client_id)

    async def _execute_pending(self) -> None:
        for o in self.om.orders():
            if o.state is OrderState.NEW:
                await self._send(o.client_id)
        await self.resolve(wait=False)
        await self._reissue_lost()

    # -- the run -------------------------------------------------------------------------

    async def start(self) -> None:
        """Restore from the log, reconcile with the venue, and record the (re)start."""
        await self.venue.start()
        self._last_data_ms = self.clock()  # the data's age counts from the start
        await self._load_market_rules()
        self._restore()
        first = not any(True for _ in self.store.read(kinds=["run_started"]))
        if first:
            baseline = await self.venue.positions(self.spec.symbols)
            self.baseline = {s: baseline.get(s, Decimal(0)) for s in self.spec.symbols}
            self._append(
                [
                    (
                        "run_started",
                        "runner",
                        {
                            "run_id": self.spec.run_id,
                            **self._strategy_payload(),
                            "symbols": list(self.spec.symbols),
                            "timeframe": self.spec.timeframe,
                            "venue": self.venue.name,
                            "config_id": self.spec.config_id,
                            "baseline": {s: str(q) for s, q in self.baseline.items()},
                            **dict(self.spec.meta),
                        },
                    )
                ]
            )
        else:
            self._append([("run_resumed", "runner", {"last_closed_ts": self.last_closed_ts})])
        await self.reconcile()
        if self.last_closed_ts is not None and self.last_decided_ts != self.last_closed_ts:
            # Killed between closing a bar and persisting its decision: decide it once the
            # feed has given the window back (see _close_group).
            self._pending_decision = self.last_closed_ts
        else:
            await self._execute_pending()

    async def run(self) -> RunSummary:
        """Start, then process closed bars until the feed ends or ``max_bars`` is reached."""
        await self.start()
        self._stream_task = asyncio.create_task(self._consume_stream())
        self._kill_task = asyncio.create_task(self._watch_kill_file())
        self._ops_task = asyncio.create_task(self._watch_ops())
        try:
            since = None
            if self.last_closed_ts is not None:
                since = self.last_closed_ts - (self.window_size - 1) * self.tf_ms
            else:
                since = await self._warm_up()
            group: dict[str, Bar] = {}
            group_ts: int | None = None
            async for bar in self.venue.bars(self.spec.symbols, self.spec.timeframe, since):
                if group_ts is not None and bar.ts_ms != group_ts:
                    await self._close_group(group_ts, group)
                    group = {}
                    if self._done():
                        break
                group_ts = bar.ts_ms
                group[bar.symbol] = bar
                if len(group) == len(self.spec.symbols):
                    await self._close_group(group_ts, group)
                    group, group_ts = {}, None
                    if self._done():
                        break
            else:
                if group_ts is not None and group:
                    await self._close_group(group_ts, group)
            await self.resolve(wait=True)
        finally:
            for task in (self._stream_task, self._kill_task, self._ops_task):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        return self.summary

    def _strategy_payload(self) -> dict[str, Any]:
        """What ``run_started`` records of the strategy, or of each sleeve and the merge."""
        if self.spec.strategy is not None:
            return {
                "strategy": self.spec.strategy.name,
                "params": _params_payload(self.spec.params),
            }
        c = self.spec.coordinator or CoordinatorSpec()
        return {
            "strategy": f"portfolio:{c.name}",
            "params": {},
            "strategies": [
                {
                    "id": s.id,
                    "strategy": s.spec.strategy.name,
                    "params": _params_payload(s.spec.params),
                    "weight": s.spec.weight,
                    "capital": s.spec.engine.init_cash,
                }
                for s in self.sleeves
            ],
            "coordinator": {
                "name": c.name,
                "rule": c.rule,
                "quorum": c.quorum,
                "max_position": c.max_position,
                "max_gross": c.max_gross,
            },
        }

    def _portfolio_view(self) -> PortfolioView:
        assert self.book is not None
        return PortfolioView(
            equity=self.book.equity,
            positions={s: self.book.position(j) for j, s in enumerate(self.spec.symbols)},
        )

    def _market_view(self) -> MarketView:
        """The risk engine's view of the market after the newest bar (built once per bar: the
        bar's close and its decision both use it)."""
        rows = list(self.window.rows)
        key = (rows[-1][0], len(rows)) if rows else None
        if self._market_cache is not None and self._market_cache[0] == key:
            return self._market_cache[1]
        view = self._build_market_view(rows)
        self._market_cache = (key, view)
        return view

    def _build_market_view(self, rows: list[tuple[int, np.ndarray, np.ndarray]]) -> MarketView:
        closes = {s: np.array([r[1][3, j] for r in rows]) for j, s in enumerate(self.spec.symbols)}
        lot, tick, mn = self._market_rules or self.spec.engine.market.arrays(len(self.spec.symbols))
        return MarketView(
            prices={s: float(c[-1]) for s, c in closes.items() if len(c)},
            closes=closes,
            periods_per_year=365.25 * 86_400_000 / self.tf_ms,
            lot={s: float(lot[j]) for j, s in enumerate(self.spec.symbols)},
            tick={s: float(tick[j]) for j, s in enumerate(self.spec.symbols)},
            min_notional={s: float(mn[j]) for j, s in enumerate(self.spec.symbols)},
        )

    async def _warm_up(self) -> int | None:
        """A fresh run on a live feed: load the bars the strategy needs before its first
        decision into the window (they were closed before the run began: no orders on them).
        Returns where the feed must resume, ``None`` when there is no history (replay)."""
        history = await self.venue.history(self.spec.symbols, self.spec.timeframe, self.window_size)
        groups: dict[int, dict[str, Bar]] = {}
        for bar in history:
            groups.setdefault(bar.ts_ms, {})[bar.symbol] = bar
        last = None
        for ts in sorted(groups):
            ohlcv, filled = self._group_arrays(groups[ts])
            self.window.push(ts, ohlcv, filled)
            last = ts
        if last is None:
            return None
        self._append([("warmed_up", "runner", {"bars": len(groups), "last_ts": last})])
        self._history_until = last
        return last + self.tf_ms

    def _done(self) -> bool:
        return self.spec.max_bars is not None and self.summary.bars >= self.spec.max_bars

    def _group_arrays(self, group: Mapping[str, Bar]) -> tuple[np.ndarray, np.ndarray]:
        """One time step of every symbol as ``(5, k)`` OHLCV and the ``(k,)`` no-market flags
        (a symbol missing from the step repeats its last close, with no market)."""
        k = len(self.spec.symbols)
        ohlcv = np.empty((5, k))
        filled = np.zeros(k, dtype=np.bool_)
        prev = self.window.rows[-1][1] if self.window.rows else None
        for j, symbol in enumerate(self.spec.symbols):
            b = group.get(symbol)
            if b is None:
                last = prev[3, j] if prev is not None else math.nan
                ohlcv[:, j] = (last, last, last, last, 0.0)
                filled[j] = True
            else:
                ohlcv[:, j] = (b.open, b.high, b.low, b.close, b.volume)
                filled[j] = b.filled
        return ohlcv, filled

    async def _close_group(self, ts: int, group: Mapping[str, Bar]) -> None:
        self._last_data_ms = self.clock()
        if self._history_until is not None and ts <= self._history_until:
            return  # already in the window from the warm-up
        ohlcv, filled = self._group_arrays(group)
        if self._pending_decision is not None and ts == self._pending_decision:
            if not self.window.rows or self.window.rows[-1][0] < ts:
                self.window.push(ts, ohlcv, filled)
            self._pending_decision = None
            await self._decide(ts)
            return
        await self._on_bar(ts, ohlcv, filled)
        now = self.clock()
        if now - self._last_reconcile_ms >= self.spec.reconcile_every_ms:
            self._last_reconcile_ms = now
            await self.reconcile()


def _withdrawn(cid: str) -> Report:
    return Cancelled(cid, "withdrawn by the kill switch before it was sent")


def _params_payload(params: Any) -> dict[str, Any]:
    from grekko_research.strategy import params_to_mapping

    return dict(params_to_mapping(params))
