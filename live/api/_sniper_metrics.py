"""Prometheus metrics of a Solana sniper run (``grekko-live sniper run``), from its event log.

Fed by :class:`~live.api._metrics.HubMetrics` with the log's ``sniper_*`` events (see
:mod:`live.solana.sniper` for what each holds), in the hub's own registry: the same API, the
same replay-from-the-start semantics as the CEX runner's metrics.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from live.events import Event

__all__ = ["SNIPER_METRIC_NAMES", "SniperMetrics"]

SNIPER_METRIC_NAMES = (
    "grekko_sniper_launches_total",
    "grekko_sniper_verdicts_total",
    "grekko_sniper_decisions_total",
    "grekko_sniper_buys_total",
    "grekko_sniper_exits_total",
    "grekko_sniper_open_positions",
    "grekko_sniper_sol_spent_total",
    "grekko_sniper_realised_sol",
    "grekko_sniper_rpc_errors_total",
    "grekko_sniper_ws_reconnects_total",
    "grekko_sniper_slot_gaps_total",
    "grekko_sniper_frame_to_verdict_seconds",
)
"""The sniper's metric families (counters as exposed, with ``_total``)."""

_VERDICT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_LAMPORTS = 1e9


class SniperMetrics:
    """The sniper's counters, gauges and the frame → verdict histogram, in ``registry``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.launches = Counter("grekko_sniper_launches", "Launches seen.", registry=r)
        self.verdicts = Counter(
            "grekko_sniper_verdicts",
            "Safety verdicts on new launches, by verdict and reason code (a verdict with "
            "several reasons counts once per reason; one without any under reason 'none').",
            ["verdict", "reason"],
            registry=r,
        )
        self.decisions = Counter(
            "grekko_sniper_decisions",
            "Buys and exits refused or held, by action and rule (safety, a risk rule: "
            "max_notional_per_day is the daily SOL budget, curve, simulation ...).",
            ["action", "rule"],
            registry=r,
        )
        self.buys = Counter("grekko_sniper_buys", "Buys filled (dry-run included).", registry=r)
        self.exits = Counter("grekko_sniper_exits", "Positions sold, by exit rule.", ["rule"],
                             registry=r)  # fmt: skip
        self.open_positions = Gauge("grekko_sniper_open_positions", "Positions held.", registry=r)
        self.spent = Counter(
            "grekko_sniper_sol_spent", "SOL spent on buys (fees included).", registry=r
        )
        self.realised = Gauge(
            "grekko_sniper_realised_sol", "Realised P&L of the sells, in SOL.", registry=r
        )
        self.rpc_errors = Counter(
            "grekko_sniper_rpc_errors",
            "RPC calls that failed (error, timeout, malformed answer), by where.",
            ["where"],
            registry=r,
        )
        self.reconnects = Counter(
            "grekko_sniper_ws_reconnects", "PubSub websocket reconnections.", registry=r
        )
        self.gaps = Counter("grekko_sniper_slot_gaps", "Missed-slot gaps reported.", registry=r)
        self.frame_to_verdict = Histogram(
            "grekko_sniper_frame_to_verdict_seconds",
            "Notification frame received → safety verdict (the analysis's RPC round trips "
            "included).",
            buckets=_VERDICT_BUCKETS,
            registry=r,
        )
        self._held: set[str] = set()
        self._realised_lamports = 0

    def observe(self, e: Event) -> None:
        """Update the metrics with one ``sniper_*`` event."""
        kind, p = e.kind, e.payload
        if kind == "sniper_launch":
            self.launches.inc()
        elif kind == "sniper_verdict" and not p.get("recheck"):
            codes = [str(r.get("code")) for r in p.get("reasons") or []] or ["none"]
            for code in codes:
                self.verdicts.labels(str(p.get("verdict")), code).inc()
            latency_ms = p.get("frame_to_verdict_ms")
            if isinstance(latency_ms, int | float) and not isinstance(latency_ms, bool):
                self.frame_to_verdict.observe(max(float(latency_ms), 0.0) / 1000)
        elif kind == "sniper_decision":
            self.decisions.labels(str(p.get("action")), str(p.get("rule"))).inc()
        elif kind == "sniper_fill":
            self._fill(p)
        elif kind == "sniper_reconciled" and p.get("closed"):
            self._held.discard(str(p.get("mint")))
        elif kind == "sniper_rpc_error":
            self.rpc_errors.labels(str(p.get("where"))).inc()
        elif kind == "sniper_reconnect":
            self.reconnects.inc()
        elif kind == "sniper_gap":
            self.gaps.inc()
        self.open_positions.set(len(self._held))

    def _fill(self, p: dict[str, object]) -> None:
        mint = str(p.get("mint"))
        if p.get("side") == "buy":
            self.buys.inc()
            self.spent.inc(max(int(p.get("lamports") or 0), 0) / _LAMPORTS)  # type: ignore[call-overload]
            self._held.add(mint)
        else:
            self.exits.labels(str(p.get("rule"))).inc()
            self._realised_lamports += int(p.get("pnl_lamports") or 0)  # type: ignore[call-overload]
            self.realised.set(self._realised_lamports / _LAMPORTS)
            self._held.discard(mint)
