"""The runner: closed bars → the strategy's signals → the engine's sizing and risk rules →
order manager → venue, every step recorded in the event store before it is acted on.

One bar, in order (``ts`` is the bar's open time)::

    bar_closed  {ts, t, bar, book}          the engine book closed the bar (marks, drawdown and
                                            daily-loss rules); its snapshot after the close
    funding × n {symbol, ts_ms, amount, ...} settlements the venue made since (perpetuals)
    decision    {ts, signal, planned, ...}  \
    order_created × n                       / one transaction: the decision and its intents
    order_submitted → venue.submit → order_acknowledged / order_fill / ...   for each intent

Before anything else, a start checks the log (:meth:`EventStore.verify` from its last
checkpoint: the checkpoint's signature, the log still holding its ``seq`` and hash, every event
after it in full); a keyed store also checks the MAC of every event the restore reads. A log
that fails is refused (:class:`~live.events.TamperedError` naming the ``seq`` and what failed)
unless the run was given ``accept_log`` (the operator's reason), which is recorded in the log
(``log_accepted``). The verdict is logged as ``log_verified`` (the alerts send it out).

A restart folds the log: the order manager replays every ``order_*`` event, the engine book
restores the last ``bar_closed`` snapshot and books the fills recorded after it. If the last
closed bar has no ``decision`` yet, the decision is taken again (same bars, same book: the
same intents, whose client ids make it idempotent). Then, before any strategy code runs,
every order not known to be final is resolved against the venue by its client id, missing
fills are fetched, and positions are compared with the venue's; a difference that does not
resolve halts trading with the reason (recorded as a ``halted`` event).

The run has one trading state, the risk engine's (``runner.risk``: ACTIVE / REDUCING /
HALTED with its reason): the runner's own halts (positions that differ, orders unresolved, an
order-manager anomaly, a strategy whose ``signals()`` raised), the kill switch and the engine
book's drawdown rule (REDUCING: the book refuses new exposure, its flatten passes) all set it,
and :meth:`~live.runner._safety.Safety.resume` lifts them together, the book's halt included.
One strategy decides through the same steps as each sleeve of a portfolio run
(:mod:`live.runner._decision`): contained signals, the book's plan, the risk engine's verdicts,
fill booking.

The class is built in layers, one concern each: :mod:`live.runner._base` (state, the log,
sending orders, the risk engine's views), :mod:`live.runner._reconcile` (resolving and
reconciling with the venue), :mod:`live.runner._safety` (kill switch, resume, operational
watches), :mod:`live.runner._manual` (an operator's manual orders), :mod:`live.runner._funding`
(funding settlements of perpetuals) and this module (restart, bars, decisions, the run);
:mod:`live.runner.spec` holds what a run is, :mod:`live.runner.sleeves` the strategies of a
portfolio run.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

import numpy as np

from grekko_research.engine.book import EngineBook, PlannedOrder, target_row
from grekko_research.errors import ConfigError
from grekko_research.portfolio import merge_targets
from live.events import TamperedError, VerifyReport
from live.orders import (
    HaltedError,
    Intent,
    OrderManager,
    OrderState,
)
from live.risk import (
    EventDraft,
    MarketView,
)
from live.runner._decision import check_planned, close_book, plan_row, strategy_row
from live.runner._follow import FollowOrders
from live.runner._funding import FundingSettlements
from live.runner._quotes import DecisionQuotes, read_quotes
from live.runner.payloads import json_floats, planned_payload, signal_payload
from live.runner.sleeves import CoordinatorSpec
from live.runner.spec import (
    CRASH_POINTS,
    FLATTEN_SEQ,
    RunnerSpec,
    RunSummary,
    lot_qty,
)
from live.venues.base import Bar

__all__ = ["CRASH_POINTS", "RunSummary", "Runner", "RunnerSpec"]


class Runner(FundingSettlements, FollowOrders):
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
    accept_log
        Run even on a log that fails verification, for this reason (recorded in the log);
        ``None`` (the default) refuses such a log.
    """

    # -- the log's integrity ---------------------------------------------------------------

    def _verify_log(self) -> None:
        """Check the log from its last checkpoint; refuse it, or record its acceptance."""
        report = self.store.verify(incremental=True)
        self.log_report = report
        if not report.ok:
            self._refuse_or_accept(report)

    def _refuse_or_accept(self, report: VerifyReport) -> None:
        if self.accept_log is None:
            raise TamperedError(
                report,
                hint=" — refusing to run on it. Investigate (grekko-live verify); to run on it "
                "anyway, pass --accept-log REASON (recorded in the log).",
            )
        self.store.accept(report, self.accept_log, by="run")
        self.log_report = report

    def _restore_verified(self) -> None:
        """Restore; a keyed store checks each event's MAC as it reads (the read fails before
        any state changes, so a restore after an accepted failure starts clean)."""
        try:
            self._restore()
        except TamperedError as e:
            self._refuse_or_accept(e.report)
            self._restore()

    def _log_verified_payload(self) -> dict[str, Any]:
        r = self.log_report
        head = self.store.head()
        return {
            "ok": r is not None and r.ok,
            "mode": None if r is None else r.mode,
            "keyed": self.store.keyed,
            "checked": None if r is None else r.checked,
            "anchor_seq": None if r is None else r.anchor_seq,
            "failed_seq": None if r is None or r.ok else r.first_bad_seq,
            "failure": None if r is None or r.ok else r.reason,
            "accepted": self.accept_log if r is not None and not r.ok else None,
            "head_seq": 0 if head is None else head.seq,
            "head_hash": None if head is None else head.hash,
        }

    # -- restart -------------------------------------------------------------------------

    def _restore(self) -> None:
        """Fold the log into the order manager, the engine book and the runner's state."""
        events = list(self.store.read())
        self.om = OrderManager.replay(events, grace_ms=self.spec.grace_ms)
        snap_at = -1
        halt: str | None = None  # the last halt's reason, unless a resume followed it
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
                halt = str(e.payload["reason"])
            elif e.kind == "kill_switch":
                self._killed = str(e.payload["reason"])
                self._kill_source = str(e.payload.get("source", "call"))
            elif e.kind == "resumed":
                halt = None
                self._killed = None
            elif e.kind == "retry_created":
                self._links.append({"of": str(e.payload["of"]), "retry": str(e.payload["retry"])})
        if snap_at >= 0:
            self._restore_stops(events, snap_at)
            self._restore_books(events, snap_at)
        # The trading state: the risk engine's snapshot, the resumes since it, and the last
        # halt still standing (one logged after the snapshot, or by a runner that kept no
        # hold for it in its snapshot).
        if halt is not None and self.halted != halt:
            self.risk.halt(halt, now_ms=self.clock())
        if halt is not None or not self.om.halted:
            self._anomalies_halted = len(self.om.anomalies)

    def _restore_books(self, events: list[Any], snap_at: int) -> None:
        """Restore the engine books and risk engines from the last ``bar_closed`` snapshot,
        then book what the log holds after it (fills, sleeves' decisions, resumes)."""
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
            if e.kind == "decision":
                self._rebook_atr(e.payload)
            if e.kind == "decision" and e.payload.get("strategies"):
                for sleeve in self.sleeves:  # the sleeves booked their own fills with it
                    sleeve.rebook(e.payload["strategies"][sleeve.id], next_ts)
            elif e.kind == "order_fill":
                self._book_fill(e.stream, e.payload)  # its trade, if any, is in the log
            elif e.kind == "funding":
                self._book_funding(e.payload)
            elif e.kind == "resumed":
                why = str(e.payload.get("reason", "resumed"))
                self._lift(why, e.ts_ms, om=False)  # the manager replayed it already

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
            sleeve.new_book(first_ts, self._market_rules)
        lot, tick, mn = self._market_rules or (None, None, None)
        return EngineBook(
            self.spec.engine, self.spec.symbols, first_ts, lot=lot, tick=tick, min_notional=mn
        )

    # -- bars and decisions ---------------------------------------------------------------

    async def _on_bar(self, ts: int, ohlcv: np.ndarray, filled: np.ndarray) -> None:
        if self.last_closed_ts is not None and ts <= self.last_closed_ts:
            if ts > (self.window.rows[-1][0] if self.window.rows else -1):
                self.window.push(ts, ohlcv, filled)  # history the run already closed
            return
        await self._sync_native()  # a fill that came after the last decision armed stops
        t_received = time.perf_counter()
        self.window.push(ts, ohlcv, filled)
        self._note_bar(ohlcv)
        if self.book is None:
            self.book = self._new_book(ts)
            self._first_ts = ts
            if self.spec.engine.costs and len(self.window.rows) > 1:  # the history before it
                before = np.stack([r[1] for r in list(self.window.rows)[:-1]])
                self.book.seed_closes(before[:, 3], before[:, 4])
        # Stops inside the bar, before its close is booked (the backtest's intrabar phase).
        o = np.where(filled, np.nan, ohlcv[0])
        await self._fire_stops(ts, (o, ohlcv[1], ohlcv[2], ohlcv[4]), at_open=False)
        market = self._market_view()
        risk, risk_events = close_book(self.book, self.risk, ohlcv, filled, market, self.clock())
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
            ],
            # The bar's decision is appended durably next, before any order of it is sent (a
            # stop fired before it, or a kill's cancels, append their own durable events
            # first): one disk sync per bar instead of two. A power cut between them is a
            # crash before the close, which a restart closes again from the feed.
            durable=False,
        )
        self._hook_holding()
        self.last_closed_ts = ts
        self.summary.bars += 1
        await self._breaker_kill()
        await self._decide(ts, t_received)

    async def _decide(self, ts: int, t_received: float | None = None) -> None:
        assert self.book is not None
        if self.last_decided_ts == ts:
            return
        # The position carried into the next open pays its funding first.
        await self._settle_funding(ts + self.tf_ms)
        if self.om.needs_resolution(self.clock()) or any(
            o.state is OrderState.SUBMITTED for o in self.om.open_orders()
        ):
            # Decide on the book with every fill the venue already made: an order whose
            # outcome or fills are still unknown is resolved first.
            await self.resolve(wait=True)
        await self._cancel_stale_market_orders()
        quoting = self._start_quotes()
        try:
            await self._decide_with(ts, t_received, quoting)
        finally:
            if quoting is not None and not quoting.done():
                quoting.cancel()

    def _start_quotes(self) -> asyncio.Task[DecisionQuotes] | None:
        """Read the book's top of every symbol beside the decision (``live.runner._quotes``),
        where the venue reads its book and ``quote_timeout_ms`` is on."""
        if not self.venue.capabilities.order_book or self.spec.quote_timeout_ms <= 0:
            return None
        reading = read_quotes(self.venue, self.spec.symbols, self.spec.quote_timeout_ms)
        return asyncio.ensure_future(reading)

    async def _decide_with(
        self, ts: int, t_received: float | None, quoting: asyncio.Task[DecisionQuotes] | None
    ) -> None:
        assert self.book is not None
        prices = np.empty(len(self.spec.symbols))
        high = np.full(len(self.spec.symbols), np.inf)
        low = np.full(len(self.spec.symbols), -np.inf)
        volume = np.full(len(self.spec.symbols), np.nan)
        for j, symbol in enumerate(self.spec.symbols):
            prices[j] = float(await self.venue.reference_price(symbol))
            caps = self.venue.capabilities  # declared by the adapter, never probed
            bar = self.venue.execution_bar(symbol) if caps.execution_bar else None
            if bar is not None:
                high[j], low[j], volume[j] = bar.high, bar.low, bar.volume
        # Stops the open has gapped through exit before the decision executes there.
        await self._fire_stops(ts, (prices, high, low, volume), at_open=True)
        self.book.start_bar(ts + self.tf_ms)
        market = self._market_view()
        risk_events: list[tuple[str, str, dict[str, Any]]] = []
        if self.spec.strategy is not None:
            planned, about = await self._single_plan(prices, (high, low, volume))
        else:
            planned, about = self._portfolio_plan(ts, prices, (high, low, volume), market)
            risk_events += about.pop("events")
        refused: list[dict[str, Any]] = []
        intents = self._intents(planned, ts, market, risk_events, refused)
        # Execution algorithms' children due on this bar (live.runner._algos): in this
        # decision's transaction, after the strategy's orders.
        intents += await self._algo_children(ts, prices, market, risk_events, refused)
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
            **({"atr": atr} if (atr := self._decision_atr()) is not None else {}),
            "intents": [i.client_id for i in intents],
            "refused": refused,
            "prices": json_floats(prices.tolist()),
        }
        if quoting is not None:
            decision["quotes"], errors = await quoting
            if errors:
                decision["quote_errors"] = errors
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

    async def _single_plan(
        self, prices: np.ndarray, bounds: tuple[np.ndarray, np.ndarray, np.ndarray]
    ) -> tuple[list[PlannedOrder], dict[str, Any]]:
        """The strategy decides on the account's book (a portfolio of one sleeve whose book is
        the account's). A strategy that raises halts the run: ``halted`` with the traceback
        summary (alerted), resting orders cancelled; only a pending risk flatten is planned
        (it passes while halted: the risk system's own exit). The run goes on closing bars until it is resumed or
        stopped."""
        assert self.book is not None
        assert self.spec.strategy is not None
        bars = self.window.bars()
        strategy = self.spec.strategy
        row, failure = strategy_row(strategy, self.spec.params, bars, f"strategy {strategy.name}")
        about: dict[str, Any] = {"signal": None if row is None else signal_payload(row)}
        if failure is not None:
            about.update(error=failure.reason, traceback=failure.traceback)
            await self._halt(failure.reason, cancel=True, traceback=failure.traceback)
        planned = plan_row(self.book, row, bars, self.spec.engine, self.tf_ms, prices, bounds)
        about["planned"] = [planned_payload(p) for p in planned]
        return planned, about

    def _intents(
        self,
        planned: list[PlannedOrder],
        ts: int,
        market: MarketView,
        risk_events: list[EventDraft],
        refused: list[dict[str, Any]],
    ) -> list[Intent]:
        """The account's intents for the planned orders the trading state and the risk engine
        let through (refusals appended to ``refused``, the engine's events to
        ``risk_events``)."""
        intents: list[Intent] = []
        # Each order is checked against the positions the ones before it leave (as if they
        # filled), as the backtest checks them: a reversal's open leg after its close.
        view = self._portfolio_view()
        for i, po in enumerate(planned):
            if po.status != "filled":
                continue
            seq = FLATTEN_SEQ + i * 100 if po.kind == "risk_flatten" else i * 100
            qty = lot_qty(abs(po.size), self._lots[po.asset])
            if qty <= 0:
                refused.append({"symbol": po.symbol, "size": po.size, "reason": "below one lot"})
                continue
            side: Literal["buy", "sell"] = "buy" if po.size > 0 else "sell"
            intent = Intent(self.spec.run_id, po.symbol, side, qty, ts, seq=seq)
            # The risk engine decides while halted too (one decision, recorded as a backtest
            # records it): HALTED refuses every order but the book's flatten (protective).
            n = len(refused)
            passed, shrunk = check_planned(
                self.risk, po, float(qty), client_id=intent.client_id,
                portfolio=view, market=market, now_ms=self.clock(),
                lot=self._lots[po.asset], drafts=risk_events, refused=refused,
            )  # fmt: skip
            if not passed:
                if self.halted and refused[n:] and refused[n].get("rule") == "halted":
                    refused[n]["reason"] = f"halted: {self.halted}"  # the run's halt, named
                continue
            if shrunk is not None:
                intent = Intent(self.spec.run_id, po.symbol, side, shrunk, ts, seq=seq)
            intents.append(intent)
            view = view.after(po.symbol, float(intent.qty) * (1.0 if side == "buy" else -1.0))
        return intents

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
        # the account follows its one sleeve: what it held before deciding
        before = self.sleeves[0].target() if self.spec.follow is not None else None
        for i, sleeve in enumerate(self.sleeves):
            bars = self.window.bars(sleeve.window_size)
            parts[sleeve.id], drafts = sleeve.decide(
                bars, ts + self.tf_ms, prices, bounds, market, self.tf_ms, self.clock()
            )
            events += drafts
            targets[i] = sleeve.target()
        if before is not None:  # the account follows its one sleeve: parents
            drafts, moves = self._follow(ts, before, targets[0])
            about = {"strategies": parts, "follow": moves, "planned": [],
                     "events": events + drafts}  # fmt: skip
            return [], about
        c = self.spec.coordinator or CoordinatorSpec()
        merged = merge_targets(
            targets,
            np.array([s.spec.weight for s in self.sleeves]),
            prices,
            self.book.equity,
            rule=c.rule,
            quorum=c.quorum,
            max_position=c.max_position,
            # Never more than the account can carry: its leverage bounds the gross by default.
            max_gross=c.max_gross if c.max_gross is not None else self.spec.engine.leverage,
        )
        held = np.array([self.book.position(j) for j in range(len(symbols))])
        # The account's book sizes the way to the merged targets with the engine's own rules
        # (lot, minimum notional, buying power with fees and slippage), as a backtest of those
        # targets would; a symbol without a market keeps its position.
        high, low, volume = bounds
        wanted = np.where(np.isfinite(prices), merged.target, np.nan)
        planned = self.book.plan(target_row(wanted), prices, high=high, low=low, volume=volume)
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

    # -- the run -------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the log, restore from it, reconcile with the venue, record the (re)start."""
        self._verify_log()
        await self.venue.start()
        self._last_data_ms = self.clock()  # the data's age counts from the start
        await self._load_market_rules()
        self._restore_verified()
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
            if self._stops_on:  # re-armed from the log, before the strategy runs again
                self._append([("stops_armed", "runner", {"positions": self._stops_payload()})])
        self._append([("log_verified", "runner", self._log_verified_payload())])
        self._append(self._anomaly_drafts())  # one a crash kept from being turned into a halt
        await self.reconcile()
        head = self.store.head()
        self._log_seen = head.seq if head is not None else 0  # later resumes are other processes'
        if self.last_closed_ts is not None and self.last_decided_ts != self.last_closed_ts:
            # Killed between closing a bar and persisting its decision: decide it once the
            # feed has given the window back (see _close_group).
            self._pending_decision = self.last_closed_ts
        else:
            await self._execute_pending()
        await self._sync_native()  # found by client id, or placed: before the strategy runs

    async def run(self) -> RunSummary:
        """Start, then process closed bars until the feed ends or ``max_bars`` is reached."""
        await self.start()
        self._stream_task = asyncio.create_task(self._consume_stream())
        self._kill_task = asyncio.create_task(self._watch_kill_file())
        self._ops_task = asyncio.create_task(self._watch_ops())
        self._manual_task = asyncio.create_task(self._watch_manual())
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
            for task in (self._stream_task, self._kill_task, self._ops_task, self._manual_task):
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
                    "symbols": list(s.symbols),
                    **dict(s.spec.meta),
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
        if self._reconcile_due(now):
            self._last_reconcile_ms = now
            self._last_reconcile_wall = time.monotonic()
            await self.reconcile()

    def _reconcile_due(self, now_ms: int) -> bool:
        """Whether ``reconcile_every_ms`` has passed since the last reconciliation: on the run's
        clock, and on a clock running faster than the wall clock (an accelerated simulator)
        also in wall time. A reconciliation's requests (the account twice, every open order)
        spend the venue's request budget, which is counted in wall time: at 3600x, 60 market
        seconds pass every 17 wall ms, and reconciling on every bar spent ~0.45 s of ccxt's
        Binance throttle per bar (benchmarks/live_sim.py). On a real-time or replayed clock
        the two are one condition."""
        if now_ms - self._last_reconcile_ms < self.spec.reconcile_every_ms:
            return False
        watch = self._clock_watch
        if watch is None or not watch.faster:
            return True
        return time.monotonic() - self._last_reconcile_wall >= self.spec.reconcile_every_ms / 1000


def _params_payload(params: Any) -> dict[str, Any]:
    from grekko_research.strategy import params_to_mapping

    return dict(params_to_mapping(params))
