"""The state every part of the runner shares, and its plumbing: appending to the log, sending
orders and applying the venue's answers, and the risk engine's views of the account and the
market. :class:`~live.runner.Runner` is this plus its reconciliation
(:mod:`live.runner._reconcile`), safety (:mod:`live.runner._safety`) and decisions."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from grekko_research.calendar import bars_per_year
from grekko_research.data.timeframes import parse_timeframe
from grekko_research.engine.book import EngineBook
from grekko_research.errors import GrekkoError
from live.events import EventStore, VerifyReport
from live.orders import (
    FillReport,
    OrderManager,
    OrderState,
    Rejected,
    Report,
    Timeout,
)
from live.risk import (
    EventDraft,
    MarketView,
    PortfolioView,
    RiskEngine,
    TradingState,
    risk_spec,
)
from live.runner._decision import MANUAL, book_trade, portfolio_view
from live.runner.sleeves import Sleeve, window_size
from live.runner.spec import (
    FLATTEN_SEQ,
    MANUAL_SEQ,
    BarWindow,
    RunnerSpec,
    RunSummary,
)
from live.venues.base import OrderRequest, Venue
from live.venues.errors import GiveUp, OutcomeUnknown, RetryLater

__all__ = ["RunnerBase"]


class RunnerBase:
    """The runner's state (see :class:`~live.runner.Runner` for the parameters)."""

    def __init__(
        self,
        spec: RunnerSpec,
        venue: Venue,
        store: EventStore,
        *,
        clock: Callable[[], int] | None = None,
        hook: Callable[[str], None] | None = None,
        accept_log: str | None = None,
    ) -> None:
        self.spec = spec
        self.venue = venue
        self.store = store
        self.clock = clock or venue.now_ms
        self.hook = hook or (lambda point: None)
        self.accept_log = accept_log  # the operator's reason to run on a log failing verification
        self.log_report: VerifyReport | None = None  # the start's verification verdict
        self.tf_ms = parse_timeframe(spec.timeframe).ms
        self.sleeves = [Sleeve(s, spec.symbols) for s in spec.sleeves]
        if spec.strategy is not None:
            self.window_size = window_size(spec.strategy, spec.params, spec.engine)
        else:
            self.window_size = max(s.window_size for s in self.sleeves)
        # The market breakers read their own windows of closes (as a backtest does).
        self.window_size = max(self.window_size, risk_spec(spec.risk).closes_len)
        self.window = BarWindow(spec.symbols, spec.timeframe, self.window_size, spec.extras)
        self.om = OrderManager(grace_ms=spec.grace_ms)
        self.book: EngineBook | None = None
        self.last_closed_ts: int | None = None
        self.last_decided_ts: int | None = None
        self.baseline: dict[str, Decimal] = {}
        self.summary = RunSummary()
        self._last_reconcile_ms = 0
        self._last_reconcile_wall = -math.inf  # time.monotonic() of the last (see _reconcile_due)
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
        self._log_seen = 0  # the log read so far for resumes logged by other processes
        self._anomalies_halted = 0  # the order manager's anomalies already turned into a halt

    # -- the trading state ---------------------------------------------------------------

    @property
    def halted(self) -> str | None:
        """Why new orders are blocked until ``resume``, or ``None``.

        The run has one trading state, the risk engine's (``self.risk``: ACTIVE / REDUCING /
        HALTED with its reason and holds). The run is *halted* when that state is HALTED by a
        hold only ``resume`` lifts: the runner's own halts (unresolved orders, positions that
        differ, an order-manager anomaly, a strategy that raised), the kill switch, a breaker
        or a check that raised. A hold that lifts by itself (an operational check, VaR) only
        blocks new orders through the risk engine's verdicts while it lasts.
        """
        for h in self.risk.holds:
            if h["state"] == TradingState.HALTED.value and not h["level"]:
                return str(h["reason"]).removeprefix(f"{MANUAL}: ")
        return None

    def _halt_drafts(self, reason: str, **detail: Any) -> list[EventDraft]:
        """Halt the run (the one trading state: a hold of the risk engine's) and return what to
        log: ``halted`` (alerted) and the risk engine's ``risk_state``. A halt already held for
        the same reason logs nothing."""
        if self.halted == reason:
            return []
        drafts = list(self.risk.halt(reason, now_ms=self.clock()))
        self.summary.halted = reason
        return [("halted", "runner", {"reason": reason, **detail}), *drafts]

    def _anomaly_drafts(self) -> list[EventDraft]:
        """An anomaly the order manager recorded (an overfill, a fill on a rejected order)
        halts the run until a human resumes it (which acknowledges the anomalies so far)."""
        anomalies = self.om.anomalies
        if not self.om.halted or len(anomalies) <= self._anomalies_halted:
            return []
        self._anomalies_halted = len(anomalies)
        text = "; ".join(f"{a.client_id}: {a.kind}: {a.detail}" for a in anomalies[-3:])
        return self._halt_drafts(f"order manager anomaly: {text}"[:500])

    # -- the log -------------------------------------------------------------------------

    def _append(
        self, drafts: Sequence[tuple[str, str, dict[str, Any]]], *, durable: bool = True
    ) -> None:
        """Append at the venue's time; ``durable=False`` only where a durable append follows
        before anything leaves the process (see :meth:`EventStore.append_many`)."""
        if not drafts:
            return
        now = self.clock()
        self.store.append_many([(k, s, p, now) for k, s, p in drafts], durable=durable)

    def _persist_om(self, events: Sequence[Mapping[str, Any]], *, durable: bool = True) -> None:
        """Persist order-manager events, with the trades their fills closed in the engine book,
        in one transaction, and book the fills (``durable`` as in :meth:`_append`)."""
        if not events:
            return
        trades: list[tuple[str, str, dict[str, Any], int]] = []
        for e in events:
            if e["kind"] == "order_fill":
                trade = self._book_fill(e["stream"], e["payload"])
                if trade is not None:
                    trades.append(("trade_closed", e["stream"], trade, e["ts_ms"]))
        now = self.clock()
        halt = [(k, s, p, now) for k, s, p in self._anomaly_drafts()]  # with its cause
        self.store.append_many(
            [(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in events] + trades + halt,
            durable=durable,
        )
        fills = sum(e["kind"] == "order_fill" for e in events)
        self.summary.fills += fills
        if fills:
            self.hook("after_fill")

    def _book_fill(self, cid: str, payload: Mapping[str, Any]) -> dict[str, Any] | None:
        """Book one recorded fill in the engine book; return the trade it closed, if any."""
        if self.book is None:
            return None
        order = self.om.order(cid)
        j = self.spec.symbols.index(order.symbol)
        qty = float(Decimal(payload["qty"]))
        size = qty if order.side == "buy" else -qty
        if order.tag is not None:
            kind = order.tag  # a position stop's exit
        else:
            kind = "risk_flatten" if FLATTEN_SEQ <= order.seq < MANUAL_SEQ else "market"
        price = float(Decimal(payload["price"]))
        return book_trade(self.book, j, size, price, kind, atr=self._fill_atr(j))

    def _fill_atr(self, j: int) -> float:
        """The ATR a fill that opens a position arms its ATR stops with (see ``_stops``)."""
        return float("nan")

    async def _halt(self, reason: str, *, cancel: bool = False, **detail: Any) -> None:
        """Halt the run for ``reason`` (see :meth:`_halt_drafts`); with ``cancel``, also cancel
        every open order (a strategy that raised: nothing it asked for stays working)."""
        self._append(self._halt_drafts(reason, **detail))
        if cancel:
            await self._cancel_open()

    async def _cancel_open(self) -> tuple[int, list[str]]:
        """Cancel every open order (see :class:`~live.runner._safety.Safety`)."""
        raise NotImplementedError

    def _lift(self, reason: str, now_ms: int, *, om: bool = True) -> list[EventDraft]:
        """What a resume does to the trading state: lift the risk engines' holds (the run's and
        every sleeve's), the engine books' drawdown halts, and (``om``) acknowledge the order
        manager's anomalies so far. Returns the risk engines' events."""
        drafts = list(self.risk.resume(reason, now_ms=now_ms))
        if self.book is not None:
            self.book.clear_halt()
        for sleeve in self.sleeves:
            drafts += sleeve.resume(reason, now_ms)
        if om:
            self.om.acknowledge()
            self._anomalies_halted = len(self.om.anomalies)
        return drafts

    # -- orders --------------------------------------------------------------------------

    async def _send(self, cid: str, *, force: bool = False) -> None:
        """Send one NEW order: persist ``order_submitted``, send, persist what comes back.

        While halted nothing is sent (the order stays NEW) unless ``force`` (a kill's flatten)
        or it is a flatten (a risk flatten's seq: the risk system's own exit, which the risk
        engine let through as protective).
        """
        order = self.om.order(cid)
        if order.state is not OrderState.NEW:
            return
        if self.halted and not (force or FLATTEN_SEQ <= order.seq < MANUAL_SEQ):
            return  # stays NEW: sent once trading resumes, or withdrawn by a kill
        self._persist_om(self.om.mark_submitted(cid, self.clock()))
        self.hook("before_send")
        request = OrderRequest(
            cid, order.symbol, order.side, order.qty, order.order_type, order.limit_price,
            reduce_only=order.reduce_only, trigger_price=order.trigger_price,
            trigger_ts_ms=order.trigger_ts_ms, stop_price=order.stop_price,
            time_in_force=order.time_in_force, post_only=order.post_only,
            trailing_pct=order.trailing_pct,
        )  # fmt: skip
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
        """Persist non-fill reports first, then the fills (so a crash can fall between). Each
        fill is durable when persisted; the reports before fills do not wait for the disk, the
        fill's commit puts them there with it (one disk sync per answer of a filled market
        order instead of three: ``benchmarks/live_sim.py``). When every fill was recorded
        already, the next durable append does (an order is always sent after one); an
        acknowledgement a power cut loses meanwhile is what a restart's query finds again."""
        others = [r for r in reports if not isinstance(r, FillReport)]
        fills = [r for r in reports if isinstance(r, FillReport)]
        for r in others:
            self._persist_om(self.om.apply(r, self.clock()), durable=not fills)
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

    # -- views for the risk engine ---------------------------------------------------------

    def _portfolio_view(self) -> PortfolioView:
        assert self.book is not None
        return portfolio_view(self.book)

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
            periods_per_year=bars_per_year(self.tf_ms),
            lot={s: float(lot[j]) for j, s in enumerate(self.spec.symbols)},
            tick={s: float(tick[j]) for j, s in enumerate(self.spec.symbols)},
            min_notional={s: float(mn[j]) for j, s in enumerate(self.spec.symbols)},
        )
