"""Position stops held by the runner (emulated): stop-loss, take-profit and trailing stops, as
a percentage, an absolute distance or a multiple of the ATR, exactly as the backtest has them.

The engine book arms a position's stops when it books the fill that opens it (the engine's
``_arm_stops``: from the average entry price, ATR stops with the decision bar's ATR), moves the
trailing peak at each close, and clears them when the position closes. The levels are part of
the book's state, so every ``bar_closed`` snapshot in the event log holds them and a restart
re-arms them from the log (the snapshot, then the fills logged after it) before the strategy
runs. Nothing about a stop lives only in memory.

The runner asks the book, with the engine's own trigger rule
(:meth:`~grekko_research.engine.book.EngineBook.stop_exits`), at the two points where the
backtest checks stops:

- *at the open*, before the decision that executes there: a level the open has passed exits
  at the open (the gap rule);
- *inside the bar*, when it closes: a level the bar's range reached exits at the level (both
  reached: ``stops.both_touch``), a position opened at this bar's open only with
  ``stops.on_entry_bar``.

An exit is an order of its own (``stop_triggered`` then ``order_created``, one transaction):
reduce-only, tagged with the stop's kind, carrying the price that fired it (the level or the
gapped open) and the bar it fired in. Exits are market orders, except a take-profit's on a
replayed venue: a limit at its level (the engine fills it there without slippage). On a live
venue the market fills them now; a replayed venue (whose clock is past the trigger) fills them
at the trigger, which is what makes a replay equal the backtest to the bit. Their client ids
come from (bar, asset, open/inside): re-running a bar after a crash creates the same exit,
never a second one.

While the kill switch is engaged, emulated stops do not fire (the switch cancels every working
order, these included); they fire again after a resume. Other halts do not stop them: an exit
only reduces a position (it is sent with the kill's force).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any, Literal

import numpy as np

from grekko_research.engine.book import STOP_KINDS, decision_atr
from grekko_research.errors import ConfigError
from live.orders import HaltedError, Intent, OrderState
from live.runner._safety import Safety
from live.runner.payloads import json_floats
from live.runner.spec import lot_qty

__all__ = ["STOP_CRASH_POINTS", "STOP_SEQ", "EmulatedStops", "has_stops"]

STOP_CRASH_POINTS = ("after_fill", "stop_created", "stop_held")
"""Crash points of runs with stops (besides :data:`~live.runner.spec.CRASH_POINTS`): after a
fill is persisted (its stops armed in the book, not yet in a snapshot); after a stop's exit
is persisted, before it is sent; after a bar's snapshot is persisted while a position holds
armed stops (the restart re-arms them from that snapshot alone)."""

STOP_SEQ = 30_000
"""Exits of emulated stops take seq ``STOP_SEQ + 10 * asset`` (``+ 1`` for a gap at the open)."""


def has_stops(engine: Any) -> bool:
    """Whether an engine configuration sets any position stop."""
    st = engine.stops
    return any(getattr(st, n) is not None for n in ("stop_loss", "take_profit", "trailing"))


class EmulatedStops(Safety):
    """The runner's position stops (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._init_stops()

    def _init_stops(self) -> None:
        self._stops_on = has_stops(self.spec.engine)
        if self.spec.strategy is None and (
            self._stops_on or any(has_stops(s.spec.engine) for s in self.sleeves)
        ):
            raise ConfigError(
                "position stops (engine.stops) are supported in single-strategy live runs; a "
                "portfolio run's sleeves cannot hold them yet"
            )
        self._needs_atr = self._stops_on and self.spec.engine.stops.needs_atr
        # Every closed bar's high, low and close since the run's first (ATR stops only): the
        # ATR is Wilder's recursion, so only the whole history gives the backtest's value.
        self._atr_rows: list[np.ndarray] = []
        self._entry_atr: np.ndarray | None = None

    # -- the ATR of the decision bar ------------------------------------------------------

    def _note_bar(self, ohlcv: np.ndarray) -> None:
        if self._needs_atr:
            self._atr_rows.append(np.array(ohlcv[1:4], dtype=np.float64))

    def _restore_stops(self, events: list[Any], snap_at: int) -> None:
        """Rebuild the ATR history from the log's closed bars, and the decision ATR logged
        after the last snapshot (fills booked on restore arm their stops with it)."""
        if not self._needs_atr:
            return
        self._atr_rows = [
            np.array(e.payload["bar"], dtype=np.float64)[1:4]
            for e in events
            if e.kind == "bar_closed"
        ]
        for e in events[: snap_at + 1] if snap_at >= 0 else []:
            if e.kind == "decision" and e.payload.get("atr") is not None:
                self._entry_atr = _floats(e.payload["atr"])

    def _rebook_atr(self, payload: Mapping[str, Any]) -> None:
        """A decision logged after the snapshot: its ATR arms the fills that follow it."""
        if payload.get("atr") is not None:
            self._entry_atr = _floats(payload["atr"])

    def _decision_atr(self) -> list[float | None] | None:
        """The ATR per asset at the bar just closed (entries decided now arm with it)."""
        if not self._needs_atr or not self._atr_rows:
            return None
        rows = np.stack(self._atr_rows)  # (n, 3, k)
        atr = decision_atr(self.spec.engine, rows[:, 0], rows[:, 1], rows[:, 2])
        self._entry_atr = atr
        return None if atr is None else json_floats(atr.tolist())

    def _fill_atr(self, j: int) -> float:
        return float(self._entry_atr[j]) if self._entry_atr is not None else float("nan")

    # -- firing ---------------------------------------------------------------------------

    async def _fire_stops(
        self,
        ts: int,
        bar: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        *,
        at_open: bool,
    ) -> None:
        """Send the exits of the stops bar ``(open, high, low, volume)`` reaches.

        ``ts`` is the last closed bar's open time (the exits' decision time). ``at_open``: the
        next bar has just opened at ``open`` (its range is known only when replaying); else
        bar ``ts`` has closed.
        """
        if not self._stops_on or self.book is None or self._killed is not None:
            return
        o, high, low, volume = bar
        exits = self.book.stop_exits(o, high, low, at_open=at_open, volume=volume)
        trigger_ts = ts + self.tf_ms if at_open else ts
        intents: list[Intent] = []
        for po in exits:
            if po.status != "filled" or po.kind not in STOP_KINDS:
                continue
            if not self._emulates(po.asset, po.kind):
                continue  # a native venue order holds it (see live.runner._native)
            qty = lot_qty(abs(po.size), self._lots[po.asset])
            if qty <= 0:
                continue
            side: Literal["buy", "sell"] = "buy" if po.size > 0 else "sell"
            level = Decimal(repr(po.trigger))
            # A take-profit exits with a limit at its level where the venue fills at the
            # trigger (a replay: the engine's fill, no slippage). Live, the runner learns of
            # the trigger at the close: a limit there may rest unfilled and lock the balance
            # the stop-loss would need, so it exits at the market like the others.
            tp = po.kind == "take_profit" and self.venue.capabilities.execution_bar
            limit = self._limit_on_tick(po.asset, level, side) if tp else None
            intent = Intent(
                self.spec.run_id, po.symbol, side, qty, ts,
                seq=STOP_SEQ + 10 * po.asset + (1 if at_open else 0),
                order_type="limit" if tp else "market", limit_price=limit,
                reduce_only=True, tag=po.kind, trigger_price=level, trigger_ts_ms=trigger_ts,
            )  # fmt: skip
            intents.append(intent)
        if not intents:
            return
        events: list[Mapping[str, Any]] = []
        try:
            for intent in intents:
                events += self.om.create(intent, self.clock())
        except HaltedError as e:
            await self._halt(f"position stop could not be placed: {e}")
            return
        now = self.clock()
        fired = [
            {"symbol": i.symbol, "kind": i.tag, "side": i.side, "qty": str(i.qty),
             "trigger": str(i.trigger_price), "bar_ts": trigger_ts, "at_open": at_open,
             "client_id": i.client_id}
            for i in intents
        ]  # fmt: skip
        self.store.append_many(
            [("stop_triggered", "runner", {"ts": ts, "exits": fired}, now)]
            + [(e["kind"], e["stream"], e["payload"], e["ts_ms"]) for e in events]
        )
        self.summary.orders += len(events)
        self.hook("stop_created")
        for intent in intents:
            await self._send(intent.client_id, force=True)
        if any(self.om.order(i.client_id).state is not OrderState.FILLED for i in intents):
            await self.resolve(wait=True)  # the book must hold the exit before anyone decides

    async def _sync_native(self) -> None:
        """Native stops (see :mod:`live.runner._native`): none here."""

    def _emulates(self, asset: int, kind: str) -> bool:
        """Whether the runner fires this stop (else a native venue order holds it)."""
        return True

    def _limit_on_tick(self, j: int, level: Decimal, side: str) -> Decimal:
        """A take-profit's limit on the venue's tick grid, on the side that keeps it marketable
        at its level (a sell rounds down, a buy up): a venue refuses an off-grid price."""
        ticks = self._market_rules[1] if self._market_rules is not None else None
        tick = Decimal(repr(float(ticks[j]))) if ticks is not None else Decimal(0)
        if tick <= 0:
            return level
        steps = (level / tick).to_integral_value(ROUND_FLOOR if side == "sell" else ROUND_CEILING)
        return (steps * tick).normalize()

    def _hook_holding(self) -> None:
        """The ``stop_held`` crash point: a bar's snapshot is persisted with a position open."""
        if self._stops_on and self.book is not None and self.book.stop_levels():
            self.hook("stop_held")

    def _stops_payload(self) -> list[dict[str, Any]]:
        """The armed stops of the open positions (logged at start: what a restart re-armed)."""
        if not self._stops_on or self.book is None:
            return []
        out = []
        for s in self.book.stop_levels():
            sl, tp, trail = json_floats([s.stop_loss, s.take_profit, s.trailing])
            out.append({"symbol": s.symbol, "position": s.position, "stop_loss": sl,
                        "take_profit": tp, "trailing": trail})  # fmt: skip
        return out


def _floats(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
