"""How ``grekko-live status|orders|positions|runs`` print a run for a person: short tables
that fit 80 columns and read through a pipe, UTC times, quantities without float noise."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from live.console import duration, money, params_text, pct, price_text, qty_text, table, utc
from live.orders import TERMINAL
from live.runs import RunInfo
from live.state import RunFold, model_provenance

__all__ = ["print_orders", "print_parents", "print_positions", "print_runs", "print_status"]

_STATE_STYLE = {"ACTIVE": "green", "REDUCING": "yellow", "HALTED": "bold red"}


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _state(state: str, reason: str | None) -> str:
    style = _STATE_STYLE.get(state, "")
    why = f": {escape(reason)}" if reason else ""
    return f"[{style}]{state}[/]{why}" if style else f"{state}{why}"


def _model_text(run: dict[str, Any]) -> str:
    """The promoted model a run trades: URI, version, source run, its window models."""
    m = model_provenance(run)
    what = f"{m['uri']} version {m['version']}, run {m['source_run']}"
    if m["window_models"]:
        what += f"; {m['window_models']} window models, the last fitted {m['last_window']}"
    return what


def print_status(console: Console, fold: RunFold) -> None:
    """The run's state: what it trades, where, how far, its risk state and why, open orders,
    the last refusals."""
    run = fold.run
    state, reason = fold.risk()
    t = table(console, "", "", title=f"run {run.get('run_id')}")
    t.show_header = False
    if run.get("strategies"):
        what = ", ".join(f"{s.get('id')} ({s.get('strategy')})" for s in run["strategies"])
        t.add_row("strategies", escape(what))
    else:
        t.add_row("strategy", escape(f"{run.get('strategy')} ({params_text(run.get('params'))})"))
    if run.get("model"):
        t.add_row("model", escape(_model_text(run)))
    where = f"{run.get('venue')} ({run.get('mode')})"
    if run.get("feed") and run.get("feed") != run.get("venue"):
        where += f", feed {run.get('feed')}"
    if run.get("venue_url"):
        where += f" at {run['venue_url']}"
    t.add_row("venue", escape(where))
    t.add_row("market", f"{', '.join(fold.symbols)} {run.get('timeframe')}")
    restarts = f", {_n(fold.restarts, 'restart')}" if fold.restarts else ""
    t.add_row("started", f"{utc(fold.started_ts_ms)}{restarts}")
    t.add_row("last event", f"{utc(fold.last_ts_ms)} (#{fold.last_seq})")
    t.add_row("risk", _state(state, reason))
    t.add_row("bars", f"{fold.bars}, last {utc(fold.last_bar_ts, seconds=False)}")
    change = ""
    if fold.equity is not None and fold.first_equity:
        change = f" ({pct(fold.equity / fold.first_equity - 1)})"
    t.add_row("equity", f"{money(fold.equity)}{change}")
    open_orders = [o for o in fold.orders if o.state not in TERMINAL]
    t.add_row(
        "orders",
        f"{len(fold.orders)} ({len(open_orders)} open), {_n(fold.fills, 'fill')}, "
        f"{_n(fold.closed_trades, 'closed trade')}, realised P&L {money(fold.realised_pnl)}",
    )
    positions = ", ".join(f"{s} {qty_text(q)}" for s, q in fold.positions.items()) or "none"
    t.add_row("positions", positions)
    rec = fold.last_reconcile
    if rec is not None:
        verdict = "books agree" if rec.get("ok") else "DIFFER"
        t.add_row("reconciled", f"{utc(rec.get('ts_ms'))}: {verdict} ({duration(rec.get('ms'))})")
    if fold.anomalies:
        t.add_row("anomalies", escape("; ".join(fold.anomalies)))
    console.print(t)
    if open_orders:
        print_orders(console, [order_row(o) for o in open_orders], title="open orders")
    if fold.refusals:
        r = table(console, "time (UTC)", "by", "order", "why", title="last refusals")
        r.columns[0].min_width = 10  # folds at its space, never inside the date
        for x in list(fold.refusals)[-10:]:
            who = x["source"] + (f" {x['rule']}" if x.get("rule") else "")
            order = " ".join(
                str(v) for v in (x.get("side"), qty_text(x.get("qty")), x.get("symbol")) if v
            )
            r.add_row(utc(x["ts_ms"], seconds=False), who, order, escape(str(x.get("reason"))))
        console.print(r)
    if fold.sleeves:
        _print_sleeves(console, fold)


def order_row(o: Any) -> dict[str, Any]:
    """One order as a plain row (``grekko-live orders --json``; :func:`print_orders` reads it)."""
    return {
        "client_id": o.client_id,
        "symbol": o.symbol,
        "side": o.side,
        "qty": str(o.qty),
        "filled": str(o.filled_qty),
        "avg_price": None if o.avg_price is None else str(o.avg_price),
        "state": o.state.value,
        "decision_ts": o.decision_ts_ms,
        "venue_order_id": o.venue_order_id,
        "reason": o.reason,
    }


def print_orders(
    console: Console, rows: Sequence[dict[str, Any]], *, title: str | None = None
) -> None:
    """Orders, one a row: short client id, bar (UTC), side, quantity, filled, price, state."""
    cols = ("id", "bar (UTC)", "order", "filled", "avg price", "state")
    t = table(console, *cols, title=title or _n(len(rows), "order"), right=("filled", "avg price"),
              keep=("id", "order"))  # fmt: skip
    for r in rows:
        state = str(r["state"]) + (f": {r['reason']}" if r.get("reason") else "")
        filled = "all" if r["filled"] == r["qty"] else qty_text(r["filled"])
        t.add_row(
            str(r["client_id"])[:8],
            utc(r.get("decision_ts"), seconds=False).removesuffix("Z"),
            f"{r['side']} {qty_text(r['qty'])} {r['symbol']}",
            filled,
            price_text(r.get("avg_price")),
            escape(state),
        )
    console.print(t)


def print_parents(console: Console, rows: Sequence[dict[str, Any]]) -> None:
    """Parent orders, one a row: id, start bar (UTC), kind, order, filled, children, state."""
    cols = ("parent", "start (UTC)", "kind", "order", "filled", "children", "state")
    t = table(console, *cols, title=_n(len(rows), "parent"), right=("filled", "children"),
              keep=("parent", "order"))  # fmt: skip
    for r in rows:
        state = str(r["state"])
        if r.get("cancel_reason"):
            state += f" ({r.get('cancelled_by')}: {r['cancel_reason']})"
        t.add_row(
            str(r["parent_id"]),
            utc(r.get("start_ts"), seconds=False).removesuffix("Z"),
            str(r["kind"]),
            f"{r['side']} {qty_text(r['qty'])} {r['symbol']}",
            "all" if r["filled"] == r["qty"] else qty_text(r["filled"]),
            f"{r['children_filled']}/{r['children_sent']} filled",
            escape(state),
        )
    console.print(t)


def print_positions(console: Console, fold: RunFold) -> None:
    """Net positions, equity, trades, P&L and fees (and each strategy of a portfolio)."""
    t = table(console, "symbol", "quantity", "last close", "value", title="positions",
              right=("quantity", "last close", "value"))  # fmt: skip
    for symbol, q in fold.positions.items():
        close = fold.last_close.get(symbol)
        value = None if close is None else float(q) * close
        t.add_row(symbol, qty_text(q), price_text(close), money(value))
    console.print(t)
    fees = ", ".join(f"{qty_text(v, 6)} {k}" for k, v in fold.fees.items()) or "none"
    console.print(
        f"equity {money(fold.equity)}, closed trades {fold.closed_trades}, "
        f"realised P&L {money(fold.realised_pnl)}, fees {fees}",
        soft_wrap=True,
    )
    if fold.sleeves:
        _print_sleeves(console, fold)


def _print_sleeves(console: Console, fold: RunFold) -> None:
    t = table(console, "id", "strategy", "state", "equity", "target", "trades", "P&L",
              title="strategies (each on its own sleeve)", right=("equity", "trades", "P&L"))  # fmt: skip
    for sl in fold.sleeves.values():
        target = ", ".join(f"{s} {qty_text(v, 4)}" for s, v in sl.target.items()) or "-"
        t.add_row(
            sl.id, str(sl.strategy), _state(sl.state, None), money(sl.equity), target,
            str(sl.closed_trades), money(sl.realised_pnl),
        )  # fmt: skip
    console.print(t)


def print_runs(console: Console, runs: Sequence[RunInfo], folder: Path) -> None:
    """The runs of a state folder, the most recently active first."""
    if not runs:
        console.print(f"no runs in {folder}", soft_wrap=True)
        return
    t = table(console, "run", "venue", "strategy", "started", "last event", "state",
              title=f"{_n(len(runs), 'run')} in {folder} (times UTC)", keep=("run",))  # fmt: skip
    for col in t.columns[3:5]:
        col.min_width = 10  # a time folds at its space, never inside the date
    t.columns[2].min_width = t.columns[5].min_width = 9
    for r in runs:
        where = r.where + (" LIVE" if r.mode == "live" else "")
        t.add_row(
            r.run_id, escape(where), escape(str(r.strategy or "-")),
            utc(r.started, seconds=False).removesuffix("Z"),
            utc(r.last_event, seconds=False).removesuffix("Z"),
            _state(r.state, None),
        )  # fmt: skip
    console.print(t)
