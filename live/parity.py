"""Live-replay parity: does the live runner trade what the backtest tested?

:func:`check_parity` backtests a configuration with the research engine, replays the
same bars through the live runner and the paper venue (``grekko-live replay``), and
compares, in order: every fill (execution time, symbol, side, quantity, price), every
closed trade (entry/exit bar and price, size, P&L, fees) and the equity at the last
close, all exactly. The first difference is reported with both sides.

``grekko-live parity --json`` prints :meth:`ParityReport.as_dict`; ``grekko sweep``
runs it in a subprocess on the last out-of-sample window (``grekko_research`` never
imports ``live``) and records the result as the promotion gate "live parity check".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from grekko_research.config import GrekkoConfig
from grekko_research.data.store import ParquetStore
from grekko_research.engine.layout import ORDER_FIELDS, TRADE_FIELDS

__all__ = ["Fill", "ParityReport", "backtest_fills", "check_parity", "live_fills"]

_O = {n: i for i, n in enumerate(ORDER_FIELDS)}
_T = {n: i for i, n in enumerate(TRADE_FIELDS)}
Fill = tuple[int, str, str, float, float]
"""(execution time in ms, symbol, side, quantity, price) of one fill."""
_TRADE_KEYS = ("entry_bar", "exit_bar", "entry_price", "exit_price", "size", "pnl", "fees")


@dataclass(frozen=True)
class ParityReport:
    """The comparison's verdict, what it compared, and the first difference (``None``: none)."""

    passed: bool
    fills: int
    trades: int
    bars: int
    first_difference: dict[str, Any] | None
    events: str

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``grekko-live parity --json``)."""
        return {
            "passed": self.passed, "fills": self.fills, "trades": self.trades, "bars": self.bars,
            "first_difference": self.first_difference, "events": self.events,
        }  # fmt: skip


def backtest_fills(run: Any) -> list[Fill]:
    """Every filled order of a backtest run (``grekko_research.runs``) as a :data:`Fill`."""
    rec = run.result.order_records
    rows = rec[rec[:, _O["status"]] == 0]
    return [
        (int(run.bars.index[int(r[_O["bar"]])]), run.bars.symbols[int(r[_O["asset"]])],
         "buy" if r[_O["side"]] > 0 else "sell", float(r[_O["size"]]), float(r[_O["price"]]))
        for r in rows
    ]  # fmt: skip


def live_fills(events: Iterable[Any]) -> list[Fill]:
    """Every fill the order manager folds from a live run's events, as a :data:`Fill`."""
    from live.orders import OrderManager

    om = OrderManager.replay(events)
    out: list[Fill] = []
    for f in om.fills():
        order = om.order(f.client_id)
        out.append((f.ts_ms, order.symbol, order.side, float(f.qty), float(f.price)))
    return out


def _first_difference(
    what: str, backtest: list[Any], live: list[Any], fields: tuple[str, ...]
) -> dict[str, Any] | None:
    for i, (want, got) in enumerate(zip(backtest, live, strict=False)):
        if want != got:
            return {"what": what, "index": i,
                    "backtest": dict(zip(fields, want, strict=True)),
                    "live": dict(zip(fields, got, strict=True))}  # fmt: skip
    if len(backtest) != len(live):
        return {"what": what, "index": min(len(backtest), len(live)),
                "backtest": f"{len(backtest)} {what}", "live": f"{len(live)} {what}"}  # fmt: skip
    return None


def check_parity(cfg: GrekkoConfig, *, store: ParquetStore | None = None) -> ParityReport:
    """Backtest ``cfg`` and replay it through the runner and paper venue; compare exactly.

    The replay's log goes under ``cfg.live.state_dir`` (give a fresh folder: a run id
    that already has a log continues it). With ``live.model``, both sides trade the promoted
    model (its window models, for a learning strategy).
    """
    from grekko_research.runs import run_backtest
    from live.app import load_promoted_model, plan_run, run_plan
    from live.events import EventStore

    chosen = None
    if cfg.live.model and not cfg.portfolio.strategies:
        strategy, params, _ = load_promoted_model(cfg)
        chosen = (strategy, params)
    backtest = run_backtest(cfg, store=store, chosen=chosen)
    plan = plan_run(cfg, replay=True)
    summary = run_plan(plan, store=store)
    with EventStore.open(plan.events) as log:
        events = list(log.read())
    want, got = backtest_fills(backtest), live_fills(events)
    diff = _first_difference("fills", want, got, ("time_ms", "symbol", "side", "qty", "price"))
    rec = backtest.result.trade_records
    closed = rec[rec[:, _T["is_open"]] == 0]
    bt_trades = [tuple(float(row[_T[k]]) for k in _TRADE_KEYS) for row in closed]
    live_trades = [tuple(float(e.payload[k]) for k in _TRADE_KEYS)
                   for e in events if e.kind == "trade_closed"]  # fmt: skip
    diff = diff or _first_difference("trades", bt_trades, live_trades, _TRADE_KEYS)
    if diff is None:
        if summary.halted is not None:
            diff = {"what": "halt", "backtest": "no halt", "live": summary.halted}
        elif summary.bars != backtest.bars.n_bars:
            diff = {"what": "bars", "backtest": backtest.bars.n_bars, "live": summary.bars}
        else:
            closes = [e.payload for e in events if e.kind == "bar_closed"]
            equity = float(closes[-1]["equity"]) if closes else float("nan")
            if equity != float(backtest.result.final_equity):
                diff = {"what": "final equity", "backtest": float(backtest.result.final_equity),
                        "live": equity}  # fmt: skip
    return ParityReport(diff is None, len(want), len(bt_trades), summary.bars, diff,
                        str(plan.events))  # fmt: skip
