"""What a run does, as it happens, one readable console line per event, and the number and
table formats every ``grekko-live`` command prints with.

:class:`EventLines` turns one logged event into a line (or none, by the level shown);
:class:`LogFollower` follows a run's event log from its own thread and connection (SQLite in
WAL mode lets it read while the runner writes; a PostgreSQL log likewise) and prints each line.
The runner only appends events: what the console shows is exactly what the log records.

Levels (``grekko-live run --show``):

- ``alerts``: refusals (risk rule, venue, runner), risk state changes (halt / reduce / resume)
  with their reason, the kill switch, reconnections, failures;
- ``trades`` (the default): the alerts plus decisions that act, orders, fills, closed trades,
  the run's start, and the bars summarised (every bar of a real-time run, a summary line at
  most every couple of seconds of a replay);
- ``all``: every event, every bar and decision;
- ``none``: nothing but the final summary.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from live.events import Event

__all__ = [
    "LEVELS",
    "EventLines",
    "Level",
    "LogFollower",
    "duration",
    "money",
    "qty_text",
    "table",
    "utc",
]

Level = Literal["none", "alerts", "trades", "all"]
LEVELS: tuple[Level, ...] = ("none", "alerts", "trades", "all")
_RANK = {name: i for i, name in enumerate(LEVELS)}

# -- numbers and times ------------------------------------------------------------------------


def utc(ms: int | float | None, *, seconds: bool = True) -> str:
    """``2021-01-04 13:00:00Z`` (``-`` for none)."""
    if ms is None:
        return "-"
    fmt = "%Y-%m-%d %H:%M:%SZ" if seconds else "%Y-%m-%d %H:%MZ"
    return datetime.fromtimestamp(float(ms) / 1000, tz=UTC).strftime(fmt)


def duration(ms: float | None) -> str:
    """A duration with its unit: ``0.41 ms``, ``3.2 s``, ``12 min``, ``5.5 h``, ``3.0 d``."""
    if ms is None or not math.isfinite(ms):
        return "-"
    if ms < 1000:
        return f"{ms:.3g} ms"
    s = ms / 1000
    if s < 120:
        return f"{s:.3g} s"
    if s < 7200:
        return f"{s / 60:.3g} min"
    if s < 172_800:
        return f"{s / 3600:.3g} h"
    return f"{s / 86_400:.3g} d"


def _dec(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def qty_text(value: object, digits: int = 8) -> str:
    """A quantity with at most ``digits`` decimals, no trailing zeros, no exponent and no
    ``-0`` (float noise such as ``-4e-20`` is zero)."""
    d = _dec(value)
    if d is None:
        return "-" if value is None else str(value)
    d = d.quantize(Decimal(1).scaleb(-digits)) if abs(d) < Decimal(10) ** 18 else d
    if d == 0:
        return "0"
    text = format(d.normalize(), "f")
    return text


def money(value: object, digits: int = 2) -> str:
    """An amount with thousands separators and ``digits`` decimals (``-`` for none)."""
    d = _dec(value)
    if d is None:
        return "-"
    if d.quantize(Decimal(1).scaleb(-digits)) == 0:
        d = Decimal(0)
    return f"{d:,.{digits}f}"


def price_text(value: object) -> str:
    """A price: 2 decimals from 1 up, 6 significant digits below."""
    d = _dec(value)
    if d is None:
        return "-"
    return f"{d:,.2f}" if abs(d) >= 1 else f"{float(d):.6g}"


def pct(value: object, digits: int = 2) -> str:
    """A fraction as a percentage (``0.0423`` → ``4.23%``)."""
    d = _dec(value)
    return "-" if d is None else f"{float(d) * 100:+.{digits}f}%"


def params_text(params: Mapping[str, Any] | None) -> str:
    """``fast=5, slow=20, stop=0.02`` with floats to 6 significant digits."""
    if not params:
        return ""
    return ", ".join(f"{k}={_short(v)}" for k, v in params.items())


def _short(v: object) -> str:
    if isinstance(v, bool) or v is None:
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_short(x) for x in v) + "]"
    return str(v)


def table(
    console: Console,
    *columns: str,
    title: str | None = None,
    right: tuple[str, ...] = (),
    keep: tuple[str, ...] = (),
) -> Table:
    """A table that reads on a terminal (rounded box) and through a pipe (plain columns, no
    box characters, fitting the console's width, 80 when it is not a terminal). ``right``:
    right-aligned columns (numbers); ``keep``: columns never wrapped (ids to copy), the
    others fold when the width is short."""
    framed = console.is_terminal
    t = Table(
        title=title,
        box=box.ROUNDED if framed else None,
        show_edge=framed,
        pad_edge=framed,
        collapse_padding=not framed,  # one space between plain columns: more fits in 80
        header_style="bold" if framed else "",
        title_justify="left",
        title_style="bold" if framed else "",
    )
    for col in columns:
        t.add_column(
            col,
            justify="right" if col in right else "left",
            overflow="fold",
            no_wrap=col in keep,
        )
    return t


# -- one line per event -------------------------------------------------------------------------


def _cid(stream: str) -> str:
    return stream[:8]


class EventLines:
    """Turn events into console lines at a level; keeps what summarising the bars needs."""

    def __init__(
        self,
        level: Level = "trades",
        *,
        realtime: bool = True,
        summary_every_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.level = level
        self.realtime = realtime
        self.summary_every_s = summary_every_s
        self._clock = clock
        self._last_summary = clock()
        self._symbols: list[str] = []
        self._orders: dict[str, dict[str, Any]] = {}
        self._bars = 0
        self._bars_shown = 0
        self._first_bar: int | None = None
        self._last_bar: int | None = None
        self._equity: float | None = None
        self._start_equity: float | None = None
        self._last_ts: int | None = None

    def _shows(self, level: Level) -> bool:
        return _RANK[self.level] >= _RANK[level]

    def lines(self, e: Event) -> list[str]:
        """The lines (rich markup) ``e`` prints at this level, maybe none."""
        handler = getattr(self, f"_on_{e.kind}", None)
        if handler is not None:
            out: list[tuple[Level, str]] = handler(e)
        else:
            out = [("all", f"{e.kind} [dim]{escape(e.stream)}[/]")]
        self._last_ts = e.ts_ms
        stamp = utc(e.ts_ms)
        if e.stream.startswith("risk:"):  # a portfolio strategy's own risk engine
            stamp += f" [{escape(e.stream.split(':')[1])}]"
        return [f"[dim]{stamp}[/] {text}" for lvl, text in out if self._shows(lvl)]

    def flush(self) -> list[str]:
        """The summary of bars not yet summarised (at the end of a run)."""
        if self._shows("trades") and not self._shows("all") and self._bars > self._bars_shown:
            return [f"[dim]{utc(self._last_ts)}[/] {self._bar_summary()}"]
        return []

    # -- the run --------------------------------------------------------------------------

    def _on_run_started(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        self._symbols = [str(s) for s in p.get("symbols") or []]
        if p.get("strategies"):
            what = "portfolio " + ", ".join(
                f"{s.get('id')} ({s.get('strategy')})" for s in p["strategies"]
            )
        else:
            what = f"{p.get('strategy')} ({params_text(p.get('params'))})"
        where = p.get("venue")
        if p.get("feed") and p.get("feed") != where:
            where = f"{where} on {p.get('feed')} feed"
        url = f" at {p['venue_url']}" if p.get("venue_url") else ""
        return [
            (
                "trades",
                f"[bold]start[/] {escape(str(p.get('run_id')))}: {escape(what)}, "
                f"{', '.join(self._symbols)} {p.get('timeframe')}, {where}{url} "
                f"({p.get('mode')})",
            )
        ]

    def _on_run_resumed(self, e: Event) -> list[tuple[Level, str]]:
        last = e.payload.get("last_closed_ts")
        return [("trades", f"[bold]restart[/]: resuming after the bar of {utc(last)}")]

    def _on_warmed_up(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        return [("trades", f"warm-up: {p.get('bars')} bars up to {utc(p.get('last_ts'))}")]

    def _on_reconciled(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        if p.get("ok"):
            return [("all", f"reconciled: books agree ({duration(p.get('ms'))})")]
        return [("alerts", f"[red]reconciliation failed[/]: {escape(str(p))}")]

    # -- bars and decisions -------------------------------------------------------------------

    def _on_bar_closed(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        ts = int(p.get("ts") or 0)
        self._bars += 1
        self._first_bar = ts if self._first_bar is None else self._first_bar
        self._last_bar = ts
        if isinstance(p.get("equity"), int | float):
            self._equity = float(p["equity"])
            if self._start_equity is None:
                self._start_equity = self._equity
        closes = ""
        bar = p.get("bar")
        if isinstance(bar, list) and len(bar) >= 4 and isinstance(bar[3], list):
            closes = " ".join(
                f"{s} {price_text(c)}" for s, c in zip(self._symbols, bar[3], strict=False)
            )
        closes = f"{closes}, " if closes else ""
        line = f"bar {utc(ts, seconds=False)}: {closes}equity {money(self._equity)}"
        if self._shows("all") or (self.realtime and self._shows("trades")):
            self._bars_shown = self._bars
            return [("trades", line)]
        if self._clock() - self._last_summary >= self.summary_every_s:
            return [("trades", self._bar_summary())]
        return []

    def _bar_summary(self) -> str:
        self._last_summary = self._clock()
        first = self._bars_shown + 1
        self._bars_shown = self._bars
        change = ""
        if self._equity is not None and self._start_equity:
            change = f" ({pct(self._equity / self._start_equity - 1)} since the start)"
        span = f"bar {first}" if first == self._bars else f"bars {first}-{self._bars}"
        last = utc(self._last_bar, seconds=False)
        return f"{span} (the last opened {last}): equity {money(self._equity)}{change}"

    def _on_decision(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        out: list[tuple[Level, str]] = []
        planned = p.get("planned") or []
        for order in planned:
            size = float(order.get("size") or 0)
            side = "buy" if size > 0 else "sell"
            rule = f" (sized by {order['rule']})" if order.get("rule") else ""
            out.append(
                (
                    "trades",
                    f"[cyan]decide[/] {side} {qty_text(abs(size))} {order.get('symbol')} "
                    f"{order.get('kind')} ~{price_text(order.get('price'))}{rule}",
                )
            )
        for r in p.get("refused") or []:
            if isinstance(r, dict) and r.get("rule"):
                continue  # the risk engine's refusal: its risk_decision says it, with the rule
            out.append(("alerts", f"[yellow]refused by the runner[/]: {escape(_refusal(r))}"))
        if p.get("error"):
            out.append(("alerts", f"[red]strategy error[/]: {escape(str(p['error']))}"))
        for sid, part in (p.get("strategies") or {}).items():
            if isinstance(part, dict) and part.get("error"):
                out.append(
                    ("alerts", f"[red]strategy {sid} error[/]: {escape(str(part['error']))}")
                )
        if not planned:
            out.append(("all", f"decide: nothing to do (bar {utc(p.get('ts'), seconds=False)})"))
        return out

    def _on_risk_decision(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        action = str(p.get("action"))
        what = f"{p.get('side')} {qty_text(p.get('qty'))} {p.get('symbol')}"
        if action == "reject":
            return [
                (
                    "alerts",
                    f"[yellow]refused by risk rule {p.get('rule')}[/]: {what}: "
                    f"{escape(str(p.get('reason')))} (state {p.get('state')})",
                )
            ]
        if action == "shrink":
            return [
                (
                    "trades",
                    f"[yellow]shrunk by risk rule {p.get('rule')}[/]: {what} to "
                    f"{qty_text(p.get('approved_qty'))}: {escape(str(p.get('reason')))}",
                )
            ]
        return [("all", f"risk: {what} passed")]

    # -- orders ---------------------------------------------------------------------------

    def _on_order_created(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        self._orders[e.stream] = dict(p)
        limit = f" limit {price_text(p.get('limit_price'))}" if p.get("limit_price") else ""
        return [
            (
                "trades",
                f"[bold]order[/] {_cid(e.stream)} {p.get('side')} {qty_text(p.get('qty'))} "
                f"{p.get('symbol')} {p.get('order_type')}{limit}",
            )
        ]

    def _on_order_fill(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        o = self._orders.get(e.stream, {})
        fee = f", fee {qty_text(p.get('fee'), 6)} {p.get('fee_asset')}" if p.get("fee") else ""
        state = " (filled)" if p.get("to") == "FILLED" else ""
        return [
            (
                "trades",
                f"[green]fill[/] {_cid(e.stream)} {o.get('side', '')} {qty_text(p.get('qty'))} "
                f"{o.get('symbol', '')} @ {price_text(p.get('price'))}{fee}{state}",
            )
        ]

    def _on_order_rejected(self, e: Event) -> list[tuple[Level, str]]:
        reason = escape(str(e.payload.get("reason") or "no reason given"))
        return [("alerts", f"[red]rejected by the venue[/]: order {_cid(e.stream)}: {reason}")]

    def _order_end(self, e: Event, what: str) -> list[tuple[Level, str]]:
        reason = e.payload.get("reason")
        why = f": {escape(str(reason))}" if reason else ""
        return [("trades", f"order {_cid(e.stream)} {what}{why}")]

    def _on_order_cancelled(self, e: Event) -> list[tuple[Level, str]]:
        return self._order_end(e, "cancelled")

    def _on_order_expired(self, e: Event) -> list[tuple[Level, str]]:
        return self._order_end(e, "expired")

    def _on_order_unknown(self, e: Event) -> list[tuple[Level, str]]:
        return [("alerts", f"[yellow]order {_cid(e.stream)} outcome unknown[/]: resolving it")]

    def _on_trade_closed(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        side = "long" if (p.get("direction") or 0) >= 0 else "short"
        return [
            (
                "trades",
                f"trade closed: {side} {p.get('symbol')} {qty_text(p.get('size'))}, "
                f"{price_text(p.get('entry_price'))} → {price_text(p.get('exit_price'))}, "
                f"P&L {money(p.get('pnl'))} ({pct(p.get('return'))})",
            )
        ]

    # -- risk, halts, the venue ------------------------------------------------------------

    def _on_risk_breach(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        return [
            ("alerts", f"[red]risk breach[/] → {p.get('state')}: {escape(str(p.get('reason')))}")
        ]

    def _on_risk_error(self, e: Event) -> list[tuple[Level, str]]:
        return [("alerts", f"[red]risk check failed[/]: {escape(str(e.payload.get('reason')))}")]

    def _on_risk_state(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        colour = {"ACTIVE": "green", "REDUCING": "yellow"}.get(str(p.get("state")), "red")
        return [
            (
                "alerts",
                f"[{colour}]risk state {p.get('previous')} → {p.get('state')}[/]: "
                f"{escape(str(p.get('reason')))}",
            )
        ]

    def _on_halted(self, e: Event) -> list[tuple[Level, str]]:
        return [("alerts", f"[bold red]HALTED[/]: {escape(str(e.payload.get('reason')))}")]

    def _on_resumed(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        return [("alerts", f"[green]resumed[/] ({p.get('by')}): {escape(str(p.get('reason')))}")]

    def _on_kill_switch(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        if not p.get("engaged", True):
            return [("alerts", "[green]kill switch released[/]")]
        flat = ", flattening" if p.get("flatten") else ""
        return [
            (
                "alerts",
                f"[bold red]KILL SWITCH[/] ({p.get('source')}{flat}): {escape(str(p.get('reason')))}",
            )
        ]

    def _on_kill_switch_done(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        fails = f", {len(p['cancel_failures'])} cancels failed" if p.get("cancel_failures") else ""
        return [
            (
                "alerts",
                f"kill switch: {p.get('cancelled')} orders cancelled in "
                f"{duration(p.get('cancels_acknowledged_ms'))}{fails}, "
                f"{len(p.get('still_open') or [])} still open",
            )
        ]

    def _on_ws_reconnect(self, e: Event) -> list[tuple[Level, str]]:
        p = e.payload
        return [
            (
                "alerts",
                f"[yellow]reconnected[/]: {p.get('count')} stream(s) ({p.get('total')} in all)",
            )
        ]

    def _on_ops_failed(self, e: Event) -> list[tuple[Level, str]]:
        return [
            ("alerts", f"[red]venue health unreadable[/]: {escape(str(e.payload.get('reason')))}")
        ]

    def _on_resume_request_discarded(self, e: Event) -> list[tuple[Level, str]]:
        return [("alerts", "[yellow]a resume request left while no process ran was discarded[/]")]


def _refusal(r: object) -> str:
    if isinstance(r, dict):
        size = _dec(r.get("size"))
        side = "" if size is None else ("buy " if size > 0 else "sell ")
        who = f"{side}{qty_text(abs(size)) if size is not None else ''} {r.get('symbol', '')}"
        return f"{who.strip()}: {r.get('reason')}"
    return str(r)


# -- following a log ------------------------------------------------------------------------------


class LogFollower:
    """Print the lines of the events a run appends to ``target``, from a thread of its own.

    Use as a context manager around the run: on exit it reads what is left and prints the
    summary of bars not yet shown. ``after_seq``: events up to it are not shown (a restarted
    run's earlier events).
    """

    def __init__(
        self,
        target: str,
        console: Console,
        lines: EventLines,
        *,
        after_seq: int = 0,
        poll_s: float = 0.2,
    ) -> None:
        self.target = target
        self.console = console
        self.lines = lines
        self.seen = after_seq
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def __enter__(self) -> LogFollower:
        if self.lines.level != "none":
            self._thread = threading.Thread(target=self._follow, name="grekko-console", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            for line in self.lines.flush():
                self.console.print(line, highlight=False, soft_wrap=True)

    def _follow(self) -> None:
        from live.events import EventStore

        try:
            with EventStore.open(self.target) as store:
                while True:
                    stopping = self._stop.is_set()  # read once more after the run ended
                    for e in store.read(after_seq=self.seen):
                        self.seen = e.seq
                        for line in self.lines.lines(e):
                            self.console.print(line, highlight=False, soft_wrap=True)
                    if stopping:
                        return
                    self._stop.wait(self.poll_s)
        except Exception as exc:  # the console never stops the run
            self.error = exc
            self.console.print(f"[red]console stopped following the log[/]: {exc}")
