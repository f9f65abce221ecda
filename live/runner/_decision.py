"""One strategy's decision on one engine book: the step a single-strategy run and every sleeve
of a portfolio run share (one implementation, two callers).

- :func:`strategy_row` calls the strategy's ``signals`` *contained*: an exception becomes a
  :class:`StrategyFailure` (reason and traceback summary), never an escaped one — the caller
  halts what the strategy trades (the account of a single-strategy run, the sleeve of a
  portfolio run);
- :func:`plan_row` is the engine book's plan for that row (``None``: only a pending risk
  flatten);
- :func:`check_planned` is the risk engine's verdict on one planned order (approve, shrink to
  a lot multiple, or refuse with the rule);
- :func:`book_trade` books one fill and returns the trade it closed, as logged;
- :func:`portfolio_view` is the risk engine's view of a book;
- :func:`close_book` closes a bar on a book and runs the risk engine's bar breakers;
  :func:`book_drawdown` turns the book's drawdown halt into the trading state (``REDUCING``:
  no new exposure, the flatten passes) — a resume lifts both.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

import numpy as np

from grekko_research.calendar import bars_per_year
from grekko_research.data.bars import Bars
from grekko_research.engine.book import EngineBook, PlannedOrder, decision_row
from grekko_research.engine.config import EngineConfig
from grekko_research.indicators.volatility import rolling_volatility_nb
from grekko_research.strategy import Strategy
from live.risk import (
    EventDraft,
    MarketView,
    PortfolioView,
    ProposedOrder,
    RiskEngine,
    TradingState,
)
from live.runner.spec import lot_qty

__all__ = [
    "MANUAL",
    "StrategyFailure",
    "book_drawdown",
    "book_trade",
    "check_planned",
    "close_book",
    "plan_row",
    "portfolio_view",
    "sizing_vol",
    "strategy_row",
]

MANUAL = "manual"
"""The rule of the risk engine's hold that :meth:`RiskEngine.halt` / ``reduce`` set (its reason
reads ``manual: <reason>``): the run's own halts — the runner's, the kill switch's, a book's
drawdown — as opposed to a breaker's or a failed check's."""

_TB_FRAMES = 4  # the innermost frames of a strategy's traceback kept in the log
_TB_CHARS = 1200


@dataclass(frozen=True)
class StrategyFailure:
    """A strategy's ``signals`` raised: why (one line) and where (the innermost frames)."""

    reason: str
    traceback: str


def strategy_row(
    strategy: Strategy, params: Any, bars: Bars, who: str
) -> tuple[dict[str, Any] | None, StrategyFailure | None]:
    """The strategy's decision row for the last bar of ``bars``, or its failure.

    ``who`` names the strategy in the reason (``strategy sma_cross``, ``strategy trend``).
    Any exception of the strategy's code (or of its signals' shape) is caught: in live
    trading a strategy that raises halts new orders, it never lets them through.
    """
    try:
        return decision_row(bars, strategy.signals(bars, params)), None
    except Exception as exc:
        reason = f"{who} raised {type(exc).__name__}: {exc}"[:300]
        frames = traceback.extract_tb(exc.__traceback__)[-_TB_FRAMES:]
        where = [f"{f.filename}:{f.lineno} in {f.name}" for f in frames]
        summary = "\n".join([*where, f"{type(exc).__name__}: {exc}"])[-_TB_CHARS:]
        return None, StrategyFailure(reason, summary)


def sizing_vol(bars: Bars, engine: EngineConfig, tf_ms: int) -> np.ndarray | None:
    """The annualised volatility per asset at the last bar (``vol_target`` sizing only)."""
    if engine.sizing.kind != "vol_target":
        return None
    ppy = bars_per_year(tf_ms)  # the backtest's calendar (grekko_research.calendar)
    out: np.ndarray = rolling_volatility_nb(bars.close, engine.sizing.vol_window, ppy)[-1]
    return out


def plan_row(
    book: EngineBook,
    row: dict[str, Any] | None,
    bars: Bars,
    engine: EngineConfig,
    tf_ms: int,
    prices: np.ndarray,
    bounds: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> list[PlannedOrder]:
    """The orders the engine book executes now for ``row`` (the bar was started already)."""
    high, low, volume = bounds
    vol = sizing_vol(bars, engine, tf_ms) if row is not None else None
    return book.plan(row, prices, high=high, low=low, volume=volume, vol=vol)


def portfolio_view(book: EngineBook) -> PortfolioView:
    """The risk engine's view of a book: its equity and positions."""
    return PortfolioView(
        equity=book.equity,
        positions={s: book.position(j) for j, s in enumerate(book.symbols)},
    )


def check_planned(
    risk: RiskEngine,
    po: PlannedOrder,
    qty: float,
    *,
    client_id: str,
    portfolio: PortfolioView,
    market: MarketView,
    now_ms: int,
    lot: Decimal,
    drafts: list[EventDraft],
    refused: list[dict[str, Any]],
) -> tuple[bool, Decimal | None]:
    """The risk engine's verdict on ``qty`` units of a planned order.

    Returns ``(passed, shrunk)``: ``shrunk`` is the quantity a shrink left (a multiple of
    ``lot``), ``None`` when the order passes as planned. A refusal is appended to ``refused``
    (with the rule), the engine's events to ``drafts``.
    """
    side: Literal["buy", "sell"] = "buy" if po.size > 0 else "sell"
    price = po.price if math.isfinite(po.price) else None
    verdict = risk.check_order(
        # The book's drawdown flatten is the risk system's own exit: protective.
        ProposedOrder(
            po.symbol, side, qty, price, client_id=client_id, protective=po.kind == "risk_flatten"
        ),
        portfolio,
        market,
        now_ms=now_ms,
    )
    drafts += verdict.events
    if verdict.action == "reject":
        refused.append({"symbol": po.symbol, "size": po.size, "reason": verdict.reason,
                        "rule": verdict.rule})  # fmt: skip
        return False, None
    if verdict.action == "shrink":
        shrunk = lot_qty(verdict.qty, lot)
        if shrunk <= 0:
            refused.append({"symbol": po.symbol, "size": po.size, "rule": verdict.rule,
                            "reason": "shrunk below one lot"})  # fmt: skip
            return False, None
        return True, shrunk
    return True, None


def book_trade(
    book: EngineBook, j: int, size: float, price: float, kind: str, *, atr: float = math.nan
) -> dict[str, Any] | None:
    """Book one fill of ``size`` signed units at ``price`` (``atr``: the decision bar's, for
    ATR stops); return the trade it closed (JSON: no NaN, with its symbol), if any."""
    trade = book.fill(j, size, price, kind=kind, atr=atr)["trade"]
    if trade is None:
        return None
    out: dict[str, Any] = {k: (v if math.isfinite(v) else None) for k, v in trade.items()}
    out["symbol"] = book.symbols[j]
    return out


def close_book(
    book: EngineBook,
    risk: RiskEngine,
    ohlcv: np.ndarray,
    filled: np.ndarray,
    market: MarketView,
    now_ms: int,
    who: str = "engine",
) -> tuple[list[dict[str, Any]], list[EventDraft]]:
    """Close a bar on a book (marks, the engine's drawdown and daily-loss rules) and run the
    risk engine's bar breakers on it; return the book's rule events and the risk events."""
    rules = book.close_bar(ohlcv[1], ohlcv[2], ohlcv[3], filled, ohlcv[4])
    drafts = book_drawdown(risk, rules, now_ms, who)
    drafts += risk.on_bar(portfolio_view(book), market, now_ms=now_ms)
    return rules, drafts


def book_drawdown(
    risk: RiskEngine, rules: Sequence[dict[str, Any]], now_ms: int, who: str = "engine"
) -> list[EventDraft]:
    """Put a book's drawdown halt (a ``max_drawdown`` event of its close) into the trading
    state: ``REDUCING`` with the reason — no new exposure (the book refuses it), the flatten
    due at the next decision passes. A ``HALTED`` state of the operator's or the runner's
    making is kept (a reduce would replace it); ``resume`` lifts both and the book's halt."""
    hit = [r for r in rules if r.get("rule") == "max_drawdown"]
    if not hit:
        return []
    if any(h["rule"] == MANUAL and h["state"] == TradingState.HALTED.value for h in risk.holds):
        return []
    r = hit[0]
    reason = (
        f"{who} max_drawdown: drawdown {r['value']:.4g} reached the limit {r['limit']:.4g} "
        "(no new exposure; positions flattened at the next decision; resume lifts it)"
    )
    return list(risk.reduce(reason, now_ms=now_ms))
