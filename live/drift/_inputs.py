"""The attribution's inputs: a live run's event log and a backtest's result, each turned into
fills and bars (pure over what they are given: no file, no clock)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.engine.api import BacktestResult
from grekko_research.engine.layout import (
    F_AMOUNT,
    F_BAR,
    O_ASSET,
    O_BAR,
    O_FEE,
    O_PRICE,
    O_SIDE,
    O_SIZE,
    O_STATUS,
)
from grekko_research.errors import ConfigError
from live.drift._attribute import BacktestFill, LiveFill, LiveOrder, Prices, Refusal
from live.quality import order_kind

__all__ = ["LiveRun", "backtest_fills", "backtest_funding", "read_live", "stored_prices"]

_MODELLED = ("strategy", "risk_flatten", "stop")  # orders a backtest makes too


@dataclass
class LiveRun:
    """What the attribution needs of a run's log: its identity, orders, refusals and bars."""

    run_id: str = ""
    strategy: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    symbols: list[str] = field(default_factory=list)
    timeframe: str = ""
    venue: str = ""
    config_id: str = ""
    model: str | None = None
    model_version: str | None = None
    orders: list[LiveOrder] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    funding: float = 0.0
    prices: Prices | None = None

    def window(self) -> tuple[int, int]:
        if self.prices is None:
            raise ConfigError(f"run {self.run_id!r} closed no bar: there is no window to compare")
        return self.prices.first_ts, self.prices.last_ts


def read_live(events: Iterable[Any]) -> LiveRun:
    """Fold a run's events (log order) into a :class:`LiveRun`.

    Funding: the sum of ``funding`` events' ``amount`` (quote; negative paid): the venue's
    settlements the runner logged (:mod:`live.runner._funding`).
    """
    fold = _Fold()
    for e in events:
        fold.add(e)
    return fold.result()


class _Fold:
    def __init__(self) -> None:
        self.run = LiveRun()
        self.created: dict[str, dict[str, Any]] = {}
        self.fills: dict[str, list[LiveFill]] = {}
        self.opens: dict[str, dict[int, float]] = {}
        self.marks: dict[str, float] = {}
        self.first: int | None = None
        self.last: int | None = None
        self.tf_ms = 0

    def add(self, e: Any) -> None:
        kind, p = e.kind, e.payload
        if kind == "run_started" and not self.run.run_id:
            self._started(p)
        elif kind == "bar_closed":
            self._bar(p)
        elif kind == "decision":
            for r in p.get("refused") or []:
                size = abs(float(r.get("size") or 0))
                reason = str(r.get("reason") or "")
                self.run.refusals.append(Refusal(str(r["symbol"]), int(p["ts"]), size, reason))
        elif kind == "order_created":
            self.created[e.stream] = {**p, "state": "NEW", "reason": None}
            self.fills[e.stream] = []
        elif kind.startswith("order_") and e.stream in self.created:
            self._order(kind, e.stream, p, int(e.ts_ms))
        elif kind == "funding":
            self.run.funding += float(p.get("amount") or 0.0)

    def _started(self, p: dict[str, Any]) -> None:
        run = self.run
        run.run_id = str(p.get("run_id") or "")
        run.strategy = str(p.get("strategy") or "")
        run.params = dict(p.get("params") or {})
        run.symbols = [str(s) for s in p.get("symbols") or []]
        run.timeframe = str(p.get("timeframe") or "")
        run.venue = str(p.get("venue") or "")
        run.config_id = str(p.get("config_id") or "")
        run.model = p.get("model")
        run.model_version = None if p.get("model_version") is None else str(p["model_version"])
        if run.timeframe:
            from grekko_research.data.timeframes import parse_timeframe

            self.tf_ms = int(parse_timeframe(run.timeframe).ms)

    def _bar(self, p: dict[str, Any]) -> None:
        ts, bar = int(p["ts"]), p.get("bar") or []
        if len(bar) < 4:
            return
        gone = list(p.get("filled") or []) + [False] * len(self.run.symbols)
        for j, symbol in enumerate(self.run.symbols):
            if j < len(bar[0]) and not gone[j] and bar[0][j] is not None:
                self.opens.setdefault(symbol, {})[ts] = float(bar[0][j])
            close = bar[3][j] if j < len(bar[3]) else None
            if close is not None and (not gone[j] or symbol not in self.marks):
                self.marks[symbol] = float(close)
        self.first = ts if self.first is None else self.first
        self.last = ts

    def _order(self, kind: str, cid: str, p: dict[str, Any], ts: int) -> None:
        o = self.created[cid]
        if kind == "order_fill":
            qty, price = float(Decimal(str(p["qty"]))), float(Decimal(str(p["price"])))
            self.fills[cid].append(LiveFill(ts, qty, price, _fee(o, p, price)))
        if p.get("reason") and kind in ("order_rejected", "order_cancelled", "order_expired"):
            o["reason"] = str(p["reason"])
        if p.get("to"):
            o["state"] = str(p["to"])

    def result(self) -> LiveRun:
        run = self.run
        for cid, o in self.created.items():
            seq = int(o.get("seq", 0))
            run.orders.append(
                LiveOrder(
                    client_id=cid, symbol=str(o["symbol"]), side=str(o["side"]),
                    qty=float(Decimal(str(o["qty"]))),
                    decision_ts=int(o.get("decision_ts_ms", 0)), state=str(o["state"]),
                    fills=tuple(self.fills[cid]),
                    modelled=order_kind(seq, o.get("tag")) in _MODELLED, reason=o["reason"],
                )
            )  # fmt: skip
        if self.first is not None and self.last is not None and self.tf_ms > 0:
            run.prices = Prices(self.tf_ms, self.first, self.last, self.opens, self.marks)
        return run


def _fee(order: dict[str, Any], p: dict[str, Any], price: float) -> float:
    """A fill's fee in the quote currency (a base-asset fee at the fill's price)."""
    if p.get("fee") is None:
        return 0.0
    fee = float(Decimal(str(p["fee"])))
    asset = str(p.get("fee_asset") or "")
    base, _, quote = str(order["symbol"]).partition("/")
    if asset in ("", quote.split(":")[0]):
        return fee
    if asset == base:
        return fee * price
    if fee == 0:
        return 0.0
    raise ConfigError(
        f"order {order.get('client_id', '?')}: a fee in {asset!r} (neither {base} nor "
        f"{quote}) cannot be priced: the drift's fee term would be wrong"
    )


def backtest_fills(result: BacktestResult, bars: Bars) -> list[BacktestFill]:
    """Every filled order of a backtest, with its bar model's price (the open it executed at)."""
    tf = _tf(bars)
    rec = result.order_records
    out = []
    for r in rec[rec[:, O_STATUS] == 0]:
        b, j = int(r[O_BAR]), int(r[O_ASSET])
        ts = int(bars.index[b])
        out.append(
            BacktestFill(
                bars.symbols[j], "buy" if r[O_SIDE] > 0 else "sell", abs(float(r[O_SIZE])),
                float(r[O_PRICE]), float(r[O_FEE]), ts - tf, ts, float(bars.open[b, j]),
            )
        )  # fmt: skip
    return out


def backtest_funding(result: BacktestResult, bars: Bars, first_ts: int, last_ts: int) -> float:
    """Funding the backtest received (negative: paid) on the bars of the window."""
    rec = result.funding_records
    if len(rec) == 0:
        return 0.0
    ts = bars.index[rec[:, F_BAR].astype(np.int64)]
    keep = (ts >= first_ts) & (ts <= last_ts)
    return float(math.fsum(rec[keep, F_AMOUNT]))


def stored_prices(bars: Bars, first_ts: int, last_ts: int) -> Prices:
    """The backtest's bars over ``[first_ts, last_ts]`` as :class:`Prices`."""
    index = bars.index
    rows = np.flatnonzero((index >= first_ts) & (index <= last_ts))
    if len(rows) == 0 or int(index[rows[-1]]) != last_ts:
        raise ConfigError(
            f"the stored bars ({bars.symbols}, {bars.timeframe}) do not reach the live run's "
            f"last bar {last_ts}: download them first (grekko data download)"
        )
    opens: dict[str, dict[int, float]] = {}
    marks: dict[str, float] = {}
    for j, symbol in enumerate(bars.symbols):
        col = {int(index[i]): float(bars.open[i, j]) for i in rows
               if not bars.filled[i, j] and math.isfinite(bars.open[i, j])}  # fmt: skip
        opens[symbol] = col
        marks[symbol] = float(bars.close[rows[-1], j])
    return Prices(_tf(bars), first_ts, last_ts, opens, marks)


def _tf(bars: Bars) -> int:
    from grekko_research.data.timeframes import parse_timeframe

    return int(parse_timeframe(bars.timeframe).ms)
