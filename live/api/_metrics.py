"""Prometheus metrics of one run, fed from its event log (one registry per hub).

Counters count events of the log from its start (the API replays the whole log when it starts,
so after an API restart they come back to the same values, not to zero).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from live.api._sniper_metrics import SNIPER_METRIC_NAMES, SniperMetrics
from live.api._staleness import DataAge
from live.events import Event
from live.quality import QUALITY_METRIC_NAMES, QualityFold, QualityMetrics
from live.state import RISK_LEVELS, Rejection, RunFold, reason_class

__all__ = ["LATENCY_BUCKETS", "METRIC_NAMES", "HubMetrics"]

LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
_PENDING_KEPT = 10_000  # submitted orders awaiting their ack; bars awaiting their decision

METRIC_NAMES = (
    "grekko_run_info",
    "grekko_orders_total",
    "grekko_fills_total",
    "grekko_rejections_total",
    "grekko_closed_trades_total",
    "grekko_fees_total",
    "grekko_reconciliations_total",
    "grekko_ws_reconnects_total",
    "grekko_equity",
    "grekko_realised_pnl",
    "grekko_position",
    "grekko_exposure",
    "grekko_open_orders",
    "grekko_risk_state",
    "grekko_halted",
    "grekko_kill_switch_engaged",
    "grekko_last_event_timestamp_seconds",
    "grekko_last_bar_timestamp_seconds",
    "grekko_log_last_seq",
    "grekko_bar_to_intent_seconds",
    "grekko_intent_to_ack_seconds",
    "grekko_hub_errors_total",
    "grekko_strategy_equity",
    "grekko_strategy_realised_pnl",
    "grekko_strategy_target",
    "grekko_strategy_risk_state",
    "grekko_data_age_seconds",
    "grekko_data_stale_after_seconds",
    "grekko_data_stale",
    "grekko_clock_rate",
    *QUALITY_METRIC_NAMES,
    *SNIPER_METRIC_NAMES,
)
"""Every metric family the API exposes (counters as exposed, with ``_total``)."""


class HubMetrics:
    """The metrics of one run in their own :class:`CollectorRegistry` (never the global one)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.run_info = Gauge(
            "grekko_run_info",
            "The run being watched (always 1).",
            ["run_id", "strategy", "venue", "mode", "timeframe"],
            registry=r,
        )
        self.orders = Counter(
            "grekko_orders",
            "Order state transitions, by the state entered (NEW: created).",
            ["status"],
            registry=r,
        )
        self.fills = Counter("grekko_fills", "Fills (order_fill events).", registry=r)
        self.rejections = Counter(
            "grekko_rejections",
            "Refused orders and intents, by who refused (venue, runner, risk) and reason class "
            "(the rule's name for the risk engine's refusals).",
            ["source", "reason"],
            registry=r,
        )
        self.trades = Counter("grekko_closed_trades", "Round trips closed.", registry=r)
        self.fees = Counter("grekko_fees", "Fees paid, by asset.", ["asset"], registry=r)
        self.reconciliations = Counter(
            "grekko_reconciliations",
            "Reconciliations with the venue, by outcome.",
            ["ok"],
            registry=r,
        )
        self.reconnects = Counter(
            "grekko_ws_reconnects", "Venue websocket reconnections (ws_reconnect).", registry=r
        )
        self.equity = Gauge("grekko_equity", "Equity at the last closed bar.", registry=r)
        self.realised = Gauge("grekko_realised_pnl", "Sum of closed trades' P&L.", registry=r)
        self.position = Gauge(
            "grekko_position", "Net position from the run's fills.", ["symbol"], registry=r
        )
        self.exposure = Gauge(
            "grekko_exposure", "Position × last close (quote currency).", ["symbol"], registry=r
        )
        self.open_orders = Gauge("grekko_open_orders", "Orders not yet final.", registry=r)
        self.risk_state = Gauge(
            "grekko_risk_state", "Risk state: 0 ACTIVE, 1 REDUCING, 2 HALTED.", registry=r
        )
        self.halted = Gauge("grekko_halted", "1 while trading is halted.", registry=r)
        self.killed = Gauge(
            "grekko_kill_switch_engaged", "1 while the kill switch is engaged.", registry=r
        )
        self.last_event = Gauge(
            "grekko_last_event_timestamp_seconds",
            "Time stamp of the last logged event.",
            registry=r,
        )
        self.last_bar = Gauge(
            "grekko_last_bar_timestamp_seconds", "Open time of the last closed bar.", registry=r
        )
        self.last_seq = Gauge(
            "grekko_log_last_seq", "Sequence number of the last event.", registry=r
        )
        self.bar_to_intent = Histogram(
            "grekko_bar_to_intent_seconds",
            "Bar closed → decision with intents (the decision's latency_ms, else the log times).",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.strategy_equity = Gauge(
            "grekko_strategy_equity",
            "A portfolio run's strategy: its sleeve's equity at the last close.",
            ["strategy"],
            registry=r,
        )
        self.strategy_realised = Gauge(
            "grekko_strategy_realised_pnl",
            "A portfolio run's strategy: the sum of its sleeve's closed trades' P&L.",
            ["strategy"],
            registry=r,
        )
        self.strategy_target = Gauge(
            "grekko_strategy_target",
            "A portfolio run's strategy: its sleeve's target position (units).",
            ["strategy", "symbol"],
            registry=r,
        )
        self.strategy_risk = Gauge(
            "grekko_strategy_risk_state",
            "A portfolio run's strategy: its risk state (0 ACTIVE, 1 REDUCING, 2 HALTED).",
            ["strategy"],
            registry=r,
        )
        self.intent_to_ack = Histogram(
            "grekko_intent_to_ack_seconds",
            "Order submitted → acknowledged by the venue, per client order id.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "grekko_hub_errors", "Log reads or events the API could not process.", registry=r
        )
        # Ages on the run's own clock (the market's on a simulator), taken at scrape time.
        self.data_age = Gauge(
            "grekko_data_age_seconds",
            "Age of the last closed bar (or of the run's start), on the run's clock.",
            registry=r,
        )
        self.stale_after = Gauge(
            "grekko_data_stale_after_seconds",
            "Data age from which the run's data is stale (stale_bars × timeframe).",
            registry=r,
        )
        self.stale = Gauge(
            "grekko_data_stale", "1 while the run's data is stale (/health degraded).", registry=r
        )
        self.clock_rate = Gauge(
            "grekko_clock_rate",
            "The run's clock in seconds per wall second (1: wall clock; 3600: sim --speed 3600).",
            registry=r,
        )
        self.sniper = SniperMetrics(r)  # a Solana sniper run's (live/solana)
        # Execution quality (issue 27): each order observed once, when its log says it ended.
        self.quality = QualityMetrics(r)
        self._quality = QualityFold(bounded=True)
        self._bar_logged: OrderedDict[int, int] = OrderedDict()  # bar ts -> bar_closed ts_ms
        self._submitted: OrderedDict[str, int] = OrderedDict()  # client id -> submitted ts_ms

    def observe_age(self, age: DataAge) -> None:
        """Set the data-age gauges (the API calls it at each scrape and health check)."""
        self.data_age.set(math.nan if age.last_bar_age_s is None else age.last_bar_age_s)
        self.stale_after.set(math.nan if age.stale_after_s is None else age.stale_after_s)
        self.stale.set(1 if age.stale else 0)
        self.clock_rate.set(age.rate)

    def seen(self, e: Event) -> None:
        """Record the position in the log (all an event that could not be folded changes)."""
        self.last_event.set(e.ts_ms / 1000)
        self.last_seq.set(e.seq)

    def observe(self, e: Event, fold: RunFold, rejections: list[Rejection]) -> None:
        """Update the metrics with one event, already folded into ``fold``."""
        kind, p = e.kind, e.payload
        self.seen(e)
        for order in self._quality.add(e):
            self.quality.observe(order)
        for rej in rejections:
            self.rejections.labels(rej.source, rej.rule or reason_class(rej.reason)).inc()
        if kind.startswith("order_"):
            self._on_order(e)
        elif kind == "run_started":
            labels = ("run_id", "strategy", "venue", "mode", "timeframe")
            self.run_info.labels(*(str(fold.run.get(k) or "") for k in labels)).set(1)
        elif kind == "bar_closed":
            _remember(self._bar_logged, int(p["ts"]), e.ts_ms)
            if fold.equity is not None:
                self.equity.set(fold.equity)
            self.last_bar.set(int(p["ts"]) / 1000)
            self._positions(fold)
        elif kind == "decision" and p.get("intents"):
            self._on_decision(e)
        elif kind == "trade_closed" and not e.stream.startswith("strategy:"):
            # the account's trades (a portfolio's sleeves record their own, attributed)
            self.trades.inc()
            self.realised.set(fold.realised_pnl)
        elif kind == "reconciled":
            self.reconciliations.labels("true" if p.get("ok") else "false").inc()
        elif kind == "ws_reconnect":
            self.reconnects.inc(max(1, int(p.get("count") or 1)))
        elif kind.startswith("sniper_"):
            self.sniper.observe(e)
        self._state_after(kind, fold)

    def _state_after(self, kind: str, fold: RunFold) -> None:
        """The gauges of the run's state after an event of ``kind``: risk level, halt, kill
        switch, and (when the event can change them) sleeves, open orders and positions."""
        state, _ = fold.risk()
        self.risk_state.set(RISK_LEVELS[state])
        self.halted.set(1 if state == "HALTED" else 0)
        self.killed.set(1 if fold.kill is not None else 0)
        if fold.sleeves and kind in ("bar_closed", "decision", "trade_closed", "risk_state"):
            self._sleeves(fold)
        if kind.startswith("order_"):
            self.open_orders.set(len(fold.om.open_orders()))
            if kind == "order_fill":
                self._positions(fold)

    def _on_order(self, e: Event) -> None:
        kind, p = e.kind, e.payload
        to: Any = "NEW" if kind == "order_created" else p.get("to")
        if to:
            self.orders.labels(str(to)).inc()
        if kind == "order_fill":
            self.fills.inc()
            if p.get("fee") is not None and p.get("fee_asset"):
                fee = float(p["fee"])
                if fee > 0:
                    self.fees.labels(str(p["fee_asset"])).inc(fee)
        elif kind == "order_submitted":
            _remember(self._submitted, e.stream, e.ts_ms)
        elif kind == "order_acknowledged":
            sent = self._submitted.pop(e.stream, None)
            if sent is not None:
                self.intent_to_ack.observe(max(e.ts_ms - sent, 0) / 1000)
        elif p.get("to") in ("FILLED", "CANCELLED", "REJECTED", "EXPIRED"):
            self._submitted.pop(e.stream, None)  # final without an ack: nothing to time

    def _on_decision(self, e: Event) -> None:
        p = e.payload
        latency_ms = p.get("latency_ms")
        if isinstance(latency_ms, int | float) and not isinstance(latency_ms, bool):
            self.bar_to_intent.observe(max(float(latency_ms), 0.0) / 1000)
            return
        closed = self._bar_logged.get(int(p["ts"]))
        if closed is not None:
            self.bar_to_intent.observe(max(e.ts_ms - closed, 0) / 1000)

    def _sleeves(self, fold: RunFold) -> None:
        for sid, sleeve in fold.sleeves.items():
            if sleeve.equity is not None:
                self.strategy_equity.labels(sid).set(sleeve.equity)
            self.strategy_realised.labels(sid).set(sleeve.realised_pnl)
            self.strategy_risk.labels(sid).set(RISK_LEVELS[sleeve.state])
            for symbol, qty in sleeve.target.items():
                self.strategy_target.labels(sid, symbol).set(qty)

    def _positions(self, fold: RunFold) -> None:
        positions = fold.om.positions()
        exposure = fold.exposure()
        for symbol in {*fold.symbols, *positions}:
            self.position.labels(symbol).set(float(positions.get(symbol, 0)))
            if symbol in exposure:
                self.exposure.labels(symbol).set(exposure[symbol])


def _remember(memo: OrderedDict[Any, int], key: Any, value: int) -> None:
    memo[key] = value
    memo.move_to_end(key)
    while len(memo) > _PENDING_KEPT:
        memo.popitem(last=False)
