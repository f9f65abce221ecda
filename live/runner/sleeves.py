"""Several strategies in one run: each on its own *sleeve*, merged by a coordinator.

A sleeve is one strategy's own account inside the run, on the run's symbols or some of them
(it abstains on the others: a NaN target): its capital, its engine configuration
(sizing, the engine's risk rules) and its own live risk engine (per-strategy limits). At each
decision the sleeve's strategy decides on the run's bars, its engine book plans the orders the
backtest would make, its risk engine checks them, and the sleeve books what passed at the
planned price, exactly as its backtest would fill them. What the sleeve then holds is its
*target*. The runner's coordinator merges the sleeves' targets into one target per symbol
(:func:`grekko_research.portfolio.merge_targets`); the account's own engine book plans the
orders that take the account there (the engine's lot, minimum-notional and buying-power rules,
as a backtest of those targets would), and they pass the run's (global) risk engine.

The sleeves go on deciding while the account is halted or killed (their records stay the
strategies' own); the account does not follow them then. Once trading resumes, the next
decision trades the account to the merged target of that moment.

So each strategy's record is its own: its signals, planned and booked orders, refusals, target
and closed trades (``trade_closed`` on stream ``strategy:<id>``) are in the decision events,
and its risk engine writes on stream ``risk:<id>``. The account's orders name the sleeves
whose targets they serve.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from grekko_research.data.bars import Bars
from grekko_research.engine.book import EngineBook, PlannedOrder
from grekko_research.engine.config import EngineConfig
from grekko_research.strategy import Strategy
from live.risk import (
    EventDraft,
    MarketView,
    PortfolioView,
    RiskEngine,
    RiskSpec,
)
from live.risk.config import as_spec
from live.runner._decision import (
    book_trade,
    check_planned,
    close_book,
    plan_row,
    portfolio_view,
    sizing_vol,
    strategy_row,
)
from live.runner.payloads import json_floats, planned_payload, signal_payload

__all__ = ["CoordinatorSpec", "Sleeve", "SleeveSpec", "sizing_vol", "window_size"]


@dataclass(frozen=True)
class SleeveSpec:
    """One strategy of a portfolio run (``engine.init_cash`` is the sleeve's capital)."""

    id: str
    strategy: Strategy
    params: Any
    engine: EngineConfig
    weight: float = 1.0
    risk: RiskSpec | None = None  # its own risk engine's spec (None: fail-closed only)
    meta: Mapping[str, Any] = field(default_factory=dict)  # a promoted model's provenance
    symbols: tuple[str, ...] = ()  # the run's symbols it trades (empty: all of them)

    def __post_init__(self) -> None:
        # A deprecated LiveRiskConfig is converted (with a warning): the sleeve holds a spec.
        object.__setattr__(self, "risk", as_spec(self.risk, "SleeveSpec.risk"))


@dataclass(frozen=True)
class CoordinatorSpec:
    """How the sleeves' targets become the account's (see :mod:`grekko_research.portfolio`)."""

    name: str = "portfolio"
    rule: str = "sum"
    quorum: float = 0.5
    max_position: float | None = None
    max_gross: float | None = None


def window_size(strategy: Strategy, params: Any, engine: EngineConfig) -> int:
    """Bars a strategy decides on: its warm-up plus the decision bar (and the volatility
    window of ``vol_target`` sizing)."""
    warm = strategy.warmup(params)
    vol_window = engine.sizing.vol_window if engine.sizing.kind == "vol_target" else 0
    return max(warm, vol_window) + 1


class Sleeve:
    """One strategy's book, risk engine and decisions inside a portfolio run."""

    def __init__(self, spec: SleeveSpec, run_symbols: Sequence[str]) -> None:
        self.spec = spec
        self.id = spec.id
        self.symbols = tuple(spec.symbols) or tuple(run_symbols)
        self.cols = np.array([list(run_symbols).index(s) for s in self.symbols], dtype=np.int64)
        self._all = len(self.symbols) == len(run_symbols)
        self._n_run = len(run_symbols)
        self.stream = f"strategy:{spec.id}"
        self.risk = RiskEngine(spec.risk, stream=f"risk:{spec.id}")
        self.window_size = window_size(spec.strategy, spec.params, spec.engine)
        self.book: EngineBook | None = None

    def new_book(
        self, first_ts: int, rules: tuple[np.ndarray, np.ndarray, np.ndarray] | None
    ) -> None:
        """The sleeve's engine book (``rules``: the run's lot, tick and minimum notional)."""
        lot, tick, mn = (r[self.cols] for r in rules) if rules else (None, None, None)
        self.book = EngineBook(
            self.spec.engine, self.symbols, first_ts, lot=lot, tick=tick, min_notional=mn
        )

    def target(self) -> np.ndarray:
        """What the sleeve holds, in the run's columns (NaN: a symbol it does not trade)."""
        out = np.full(self._n_run, np.nan)
        out[self.cols] = self.positions()
        return out

    def portfolio_view(self) -> PortfolioView:
        assert self.book is not None
        return portfolio_view(self.book)

    def positions(self) -> np.ndarray:
        assert self.book is not None
        return np.array([self.book.position(j) for j in range(len(self.book.symbols))])

    def holding(self, symbol: str) -> float:
        """The sleeve's position in one of the run's symbols (0: none, or not one it trades)."""
        assert self.book is not None
        return self.book.position(self.symbols.index(symbol)) if symbol in self.symbols else 0.0

    def fund(self, symbol: str, amount: float) -> None:
        """Book the sleeve's share of a funding settlement (live.runner._funding): received in
        the quote, negative paid, as its backtest's funding phase books it."""
        assert self.book is not None
        self.book.fund(self.symbols.index(symbol), amount)

    # -- a bar's close --------------------------------------------------------------------

    def close_bar(
        self, ohlcv: np.ndarray, filled: np.ndarray, market: MarketView, now_ms: int
    ) -> tuple[dict[str, Any], list[EventDraft]]:
        """Close the bar on the sleeve's book and run its breakers; return the sleeve's part of
        the ``bar_closed`` event (book and risk-engine snapshots) and the risk events."""
        assert self.book is not None
        ohlcv, filled = ohlcv[:, self.cols], filled[self.cols]
        who = f"strategy {self.id} engine"
        rules, drafts = close_book(self.book, self.risk, ohlcv, filled, market, now_ms, who)
        part = {
            "book": self.book.snapshot(),
            "risk": rules,
            "equity": self.book.equity,
            "risk_engine": self.risk.snapshot(),
        }
        return part, drafts

    def resume(self, reason: str, now_ms: int) -> list[EventDraft]:
        """Lift the sleeve's halt: its risk engine's holds and its book's drawdown halt."""
        if self.book is not None:
            self.book.clear_halt()
        return list(self.risk.resume(reason, now_ms=now_ms))

    def restore(self, part: Mapping[str, Any]) -> None:
        assert self.book is not None
        self.book.restore(dict(part["book"]))
        if part.get("risk_engine") is not None:
            self.risk.restore(dict(part["risk_engine"]))

    # -- a decision -----------------------------------------------------------------------

    def decide(
        self,
        bars: Bars,
        next_ts: int,
        prices: np.ndarray,
        bounds: tuple[np.ndarray, np.ndarray, np.ndarray],
        market: MarketView,
        tf_ms: int,
        now_ms: int,
    ) -> tuple[dict[str, Any], list[EventDraft]]:
        """Decide, plan, check and book one decision of this sleeve.

        Returns the sleeve's part of the ``decision`` event (signal, planned, booked and
        refused orders, target) and the events to append with it (risk decisions, trades the
        booked fills closed). A strategy that raises halts this sleeve (its risk engine), and
        the sleeve keeps what it holds; the other sleeves go on.
        """
        assert self.book is not None
        if not self._all:
            bars = bars.select(self.symbols)
            prices = prices[self.cols]
            bounds = (bounds[0][self.cols], bounds[1][self.cols], bounds[2][self.cols])
        drafts: list[EventDraft] = []
        part: dict[str, Any] = {"signal": None}
        row, failure = strategy_row(
            self.spec.strategy, self.spec.params, bars, f"strategy {self.id}"
        )
        if failure is None:
            assert row is not None
            part["signal"] = signal_payload(row)
        else:
            part["error"], part["traceback"] = failure.reason, failure.traceback
            drafts += self.risk.halt(failure.reason, now_ms=now_ms)  # only a pending flatten
        self.book.start_bar(next_ts)
        planned = plan_row(self.book, row, bars, self.spec.engine, tf_ms, prices, bounds)
        booked: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        for i, po in enumerate(planned):
            if po.status != "filled":
                continue
            size = self._checked_size(po, i, next_ts, market, now_ms, drafts, refused)
            if size == 0.0:
                continue
            booked.append(self.book_fill(po.asset, size, po.price, po.kind, drafts))
        part.update(
            planned=[planned_payload(p) for p in planned],
            booked=booked,
            refused=refused,
            target=json_floats(self.target().tolist()),
            equity=self.book.equity,
            state=self.risk.state.value,
        )
        return part, drafts

    def _checked_size(
        self,
        po: PlannedOrder,
        i: int,
        next_ts: int,
        market: MarketView,
        now_ms: int,
        drafts: list[EventDraft],
        refused: list[dict[str, Any]],
    ) -> float:
        """The size of a planned order after this sleeve's risk engine (0: refused)."""
        assert self.book is not None
        lot = Decimal(repr(float(self.book.lot[po.asset])))
        passed, shrunk = check_planned(
            self.risk, po, abs(po.size), client_id=f"{self.stream}:{next_ts}:{i}",
            portfolio=self.portfolio_view(), market=market, now_ms=now_ms, lot=lot,
            drafts=drafts, refused=refused,
        )  # fmt: skip
        if not passed:
            return 0.0
        return po.size if shrunk is None else math.copysign(float(shrunk), po.size)

    def book_fill(
        self, asset: int, size: float, price: float, kind: str, drafts: list[EventDraft]
    ) -> dict[str, Any]:
        """Book one of the sleeve's own fills; a trade it closes is appended to ``drafts``."""
        assert self.book is not None
        trade = book_trade(self.book, asset, size, price, kind)
        if trade is not None:
            drafts.append(("trade_closed", self.stream, trade))
        return {"symbol": self.book.symbols[asset], "asset": asset, "size": size, "price": price,
                "kind": kind}  # fmt: skip

    def rebook(self, part: Mapping[str, Any], next_ts: int) -> None:
        """Replay a logged decision's bookings on a book restored to before it (restart)."""
        assert self.book is not None
        self.book.start_bar(next_ts)
        self.book.consume_flatten()
        for b in part.get("booked") or []:
            self.book.fill(
                int(b["asset"]), float(b["size"]), float(b["price"]), kind=str(b["kind"])
            )
