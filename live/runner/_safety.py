"""The runner's safety: the kill switch (flag file, call, breakers), resume, and the operational
checks and between-bar breakers fed from the venue's health and live prices."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from live.orders import (
    Cancelled,
    Intent,
    NotFound,
    OrderState,
    Report,
)
from live.risk import (
    OpsView,
    PortfolioView,
    TradingState,
)
from live.runner._clock import STALL_GRACE_S, ClockWatch, LoopStalls
from live.runner._decision import MANUAL
from live.runner._reconcile import Reconciliation
from live.runner.spec import (
    KILL_SEQ,
    RESUME_FILE,
)
from live.venues.errors import OrderMissing, VenueError

__all__ = ["Safety"]


class Safety(Reconciliation):
    """The kill switch and the live watches of a run."""

    _clock_watch: ClockWatch | None = None  # which clock the run lives on (first ops round)
    _stalls: LoopStalls | None = None  # when the runner's own loop was held up (ops rounds late)

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
        halt = f"kill switch: {reason}"
        drafts = list(self.risk.halt(halt, now_ms=self.clock())) if first else []
        self.summary.halted = halt
        blocked_ms = (time.perf_counter() - t0) * 1000
        if first:
            self._append(
                [
                    (
                        "kill_switch",
                        "runner",
                        {"engaged": True, "reason": reason, "flatten": flatten, "source": source},
                    ),
                    ("halted", "runner", {"reason": halt}),
                    *drafts,
                ]
            )
        opened, failed = await self._cancel_open()
        cancelled_ms = (time.perf_counter() - t0) * 1000
        flattened: list[str] = []
        if flatten:
            flattened = await self._flatten_all(reason)
        still_open = [o.client_id for o in self.om.open_orders()]
        outcome = {
            "reason": reason,
            "blocked_ms": round(blocked_ms, 3),
            "cancels_acknowledged_ms": round(cancelled_ms, 3),
            "cancelled": opened,
            "cancel_failures": failed,
            "still_open": still_open,
            "flattened": flattened,
        }
        self._append([("kill_switch_done", "runner", outcome)])
        return outcome

    async def _cancel_open(self) -> tuple[int, list[str]]:
        """Cancel every order sent and still open, withdraw the ones never sent; return how
        many were open and the cancels that failed."""
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
        return len(opened), failed

    async def _cancel_for_kill(self, cid: str) -> None:
        order = self.om.order(cid)
        try:
            reports = await self.venue.cancel(order.symbol, cid)
        except OrderMissing:
            reports = [NotFound(cid)]
        self._apply_reports(reports)

    async def _flatten_all(self, reason: str) -> list[str]:
        """Close every position with market orders (the only orders a kill lets through).

        A market order still open after the cancels (sent, its outcome not known yet: a swap
        mined but not final cannot be cancelled) counts as filled: flattening around it would
        trade its quantity twice once it lands."""
        ts = self.last_closed_ts or 0
        taken = {(o.symbol, o.decision_ts_ms, o.seq) for o in self.om.orders()}
        in_flight: dict[str, Decimal] = {}
        for o in self.om.open_orders():
            if o.order_type == "market":
                left = o.qty - o.filled_qty
                in_flight[o.symbol] = in_flight.get(o.symbol, Decimal(0)) + (
                    left if o.side == "buy" else -left
                )
        events: list[Mapping[str, Any]] = []
        for symbol in self.spec.symbols:
            pos = self.om.position(symbol) + in_flight.get(symbol, Decimal(0))
            if pos == 0:
                continue
            seq = KILL_SEQ
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
        """A risk engine HALTED by a breaker's hold that only ``resume`` lifts (drawdown, an
        error inside a check) engages the kill switch, cancelling open orders too. A halt
        that lifts by itself when its condition clears (an operational check, VaR) only blocks
        new orders, through the risk engine, for as long as it lasts."""
        if self._killed is not None or self.risk.state is not TradingState.HALTED:
            return
        # The MANUAL hold is the run's own halt (the runner's, the kill switch's): not a
        # breaker's, it blocks new orders without engaging the switch.
        sticky = [h for h in self.risk.holds
                  if h["state"] == "HALTED" and not h["level"] and h["rule"] != MANUAL]  # fmt: skip
        if sticky:
            await self.kill(f"risk engine halted: {sticky[0]['reason']}", source="breaker")

    # -- operations -------------------------------------------------------------------------

    async def _watch_ops(self) -> None:
        """On a real-time venue, feed the risk engine's operational checks every
        ``ops_every_s`` (data age, websocket down, error rate, clock skew) and its between-bar
        breakers every ``tick_every_s`` (drawdown, daily loss, price move on live prices);
        record the venue's websocket reconnections (``ws_reconnect``) and which clock the run
        lives on (``run_clock``, see :mod:`live.runner._clock`)."""
        stalls = self._stalls = self._stalls or LoopStalls()
        while True:
            try:
                if not await self.check_ops():
                    return  # a replay: its clock is the data's, nothing to watch
            except VenueError as e:
                self._append([("ops_failed", "runner", {"reason": str(e)[:200]})])
            await stalls.sleep(self.spec.ops_every_s)

    async def check_ops(self) -> bool:
        """One round of :meth:`_watch_ops`; returns whether the venue is real-time."""
        h = await self.venue.health()
        watch = self._clock_watch = self._clock_watch or ClockWatch(self.clock)
        watch.sample(realtime=h.realtime)
        record = watch.record()
        drafts: list[tuple[str, str, dict[str, Any]]] = (
            [] if record is None else [("run_clock", "runner", record)]
        )
        if not h.realtime:
            self._append(drafts)
            return False
        now = self.clock()
        if h.reconnects > self._reconnects_seen:
            drafts.append(
                ("ws_reconnect", "venue",
                 {"count": h.reconnects - self._reconnects_seen, "total": h.reconnects})
            )  # fmt: skip
            self._reconnects_seen = h.reconnects
        last_data = self._last_data_ms
        if last_data is not None and watch.faster:
            # The data's age is on the market's clock, but the runner's own work is not
            # accelerated: allow it a few wall seconds (see STALL_GRACE_S), plus the wall time
            # its loop was held up since that data (a strategy compiling its first decision:
            # 17 s on a cold numba cache, 17 market hours at 3600x) — no data could be taken in
            # meanwhile, however punctual the feed.
            since_s = (now - last_data) / (watch.rate * 1000)
            held_s = self._stalls.within(since_s) if self._stalls is not None else 0.0
            last_data = min(now, last_data + int(watch.rate * (STALL_GRACE_S + held_s) * 1000))
        ops = OpsView(
            last_data_ms=last_data,
            ws_down_since_ms=h.ws_down_since_ms,
            error_times_ms=h.error_times_ms,
            failed_calls=h.failed_calls,
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
        """Engage the kill switch when the flag file appears (``grekko-live kill``, the API's
        ``/kill``); lift it when the flag goes, when a ``RESUME`` request file appears (the
        API's ``/resume``), or when another process logs ``resumed`` (``grekko-live resume``).
        """
        path = self.spec.kill_file
        if path is None:
            return
        request = path.with_name(RESUME_FILE)
        if request.exists():
            # A request left while no process ran is not for a halt this start may find
            # (positions that differ, say): fail closed, and say so.
            stale = _read_flag(request)
            request.unlink(missing_ok=True)
            self._append([("resume_request_discarded", "runner", {"request": stale})])
        last_log_check = 0.0
        while True:
            if self._killed is None and path.exists():
                flag = _read_flag(path)
                await self.kill(
                    str(flag.get("reason") or "kill flag file"),
                    flatten=bool(flag.get("flatten")),
                    source="flag",
                )
            elif self._killed is not None and self._kill_source == "flag" and not path.exists():
                self.resume("kill flag removed (grekko-live resume, or the API's /resume)")
            if request.exists() and not path.exists():
                reason = str(_read_flag(request).get("reason") or "resume requested")
                self.resume(f"resume requested: {reason}")
                request.unlink(missing_ok=True)
            if time.monotonic() - last_log_check >= 0.25:
                last_log_check = time.monotonic()
                self._follow_external_resumes()
            await asyncio.sleep(self.spec.kill_poll_s)

    def _follow_external_resumes(self) -> None:
        """Apply ``resumed`` events another process appended to the log (``grekko-live
        resume`` while this run is live): the halt lifts here too, without logging it twice."""
        for e in self.store.read(after_seq=self._log_seen, kinds=["resumed"]):
            self._log_seen = max(self._log_seen, e.seq)
            if e.payload.get("by") == "runner":
                continue
            self.resume(str(e.payload.get("reason") or "resumed"), logged=True)
        head = self.store.head()
        self._log_seen = max(self._log_seen, head.seq if head is not None else 0)

    def resume(self, reason: str, *, logged: bool = False) -> None:
        """Lift the kill switch or a halt explicitly: the one trading state back to ACTIVE
        (the run's and any strategy's of a portfolio), the engine books' drawdown halts lifted
        and the order manager's anomalies acknowledged; recorded with ``reason`` (``logged``:
        another process recorded it)."""
        held = [s for s in self.sleeves if s.risk.state is not TradingState.ACTIVE]
        books = [b for b in [self.book, *(s.book for s in self.sleeves)] if b is not None]
        if (
            self.risk.state is TradingState.ACTIVE
            and self._killed is None
            and not held
            and not self.om.halted
            and not any(b.halted for b in books)
        ):
            return
        now = self.clock()
        was = self.halted or (None if self.risk.state is TradingState.ACTIVE else self.risk.reason)
        record = [] if logged else [
            ("resumed", "runner", {"reason": reason, "halt": was, "by": "runner"})
        ]  # fmt: skip
        self._append([*record, *self._lift(reason, now)])
        self._killed = None
        self.summary.halted = None


def _read_flag(path: Path) -> dict[str, Any]:
    try:
        body = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return body if isinstance(body, dict) else {}


def _withdrawn(cid: str) -> Report:
    return Cancelled(cid, "withdrawn by the kill switch before it was sent")
