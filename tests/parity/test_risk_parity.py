"""One risk system: a backtest with ``risk=conservative`` and a ``grekko-live replay`` of the same
bars (the live runner, its risk engine and the paper venue, in process) record the same
refusals, reductions, breaker breaches and trading-state changes at the same bars, and fill
the same orders.

The backtest evaluates the spec inside the kernel (``engine/_risk.py``), the replay in
``live/risk``'s :class:`~live.risk.RiskEngine`; both call the pure functions of
:mod:`grekko_research.risk.evaluate` / :mod:`grekko_research.risk.breakers`. May 2021 on BTC
1h: the conservative spec halves every all-in entry (``max_position`` 0.5, shrink), the crash's
10 % moves halt trading (``market.price_move``, ``action: halt``), its volatility holds the run
at ``REDUCING`` (``market.volatility``) and the entries decided then are refused (``reducing``).
January 2021 with TradingView alerts (``tradingview_alerts``): a short-to-long reversal is a
close then an open, each checked against the positions the orders before it leave.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from grekko_research.alpha.store import AltKey, AltStore
from grekko_research.config import compose_config
from grekko_research.data.files import import_file
from grekko_research.data.store import ParquetStore
from grekko_research.runs import run_backtest
from grekko_research.strategy import register_strategy
from live.app import plan_run, run_plan
from live.events import EventStore
from strategies.tradingview_alerts import TradingViewAlerts
from tests.peers.replay_fills import backtest_fills, live_fills

CASE = [
    "strategy=sma_cross",
    "strategy.params.fast=5",
    "strategy.params.slow=20",
    "data.start=2021-05-10",
    "data.end=2021-05-25",  # the May 2021 crash, hourly bars
    "engine.taker_fee=0.001",
    "risk=conservative",
]
BREAKERS = ("drawdown", "daily_loss", "var", "volatility", "price_move")

Row = tuple[Any, ...]


def backtest_risk(run: Any) -> tuple[list[Row], list[Row], list[Row]]:
    """(order decisions, breaches, state changes) of a backtest's event records, by bar."""
    ev = run.result.events
    symbols = run.bars.symbols
    orders, breaches, states = [], [], []
    for r in ev.itertuples():
        if r.action in ("reject", "shrink"):
            orders.append((r.bar, symbols[r.asset], r.rule, r.action, r.value, r.limit))
        elif r.rule in BREAKERS:
            symbol = None if r.asset < 0 else symbols[r.asset]
            breaches.append((r.bar, symbol, r.rule, r.action, r.value, r.limit))
        elif r.rule == "state":
            states.append((r.bar, r.state, r.previous))
    return orders, breaches, states


def live_risk(events: list[Any], index: np.ndarray) -> tuple[list[Row], list[Row], list[Row]]:
    """The same rows from a replay's risk events: an order is checked at its execution bar's
    open, the breakers run at a bar's close (the next bar's open)."""
    opens = {int(ts): i for i, ts in enumerate(index)}
    closes = {int(ts): i - 1 for i, ts in enumerate(index)}
    closes[int(index[-1] + (index[1] - index[0]))] = len(index) - 1
    orders, breaches, states = [], [], []
    for e in events:
        p = e.payload
        if e.kind == "risk_decision" and p["action"] in ("reject", "shrink"):
            value = math.nan if p["value"] is None else p["value"]
            limit = math.nan if p["limit"] is None else p["limit"]
            orders.append((opens[p["at_ms"]], p["symbol"], p["rule"], p["action"], value, limit))
        elif e.kind == "risk_breach":
            action = "halt" if p["state"] == "HALTED" else "reduce"
            row = (closes[p["at_ms"]], p["symbol"], p["rule"], action, p["value"], p["limit"])
            breaches.append(row)
        elif e.kind == "risk_state" and p["state"] != p["previous"]:
            states.append((closes[p["at_ms"]], p["state"], p["previous"]))
    return orders, breaches, states


def _same(got: list[Row], want: list[Row]) -> None:
    """Rows equal; their measured values equal to 1e-9 (the live side sends Decimal lots)."""
    assert [r[:4] for r in got] == [r[:4] for r in want]
    for g, w in zip(got, want, strict=True):
        for a, b in zip(g[4:], w[4:], strict=True):
            assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9), (g, w)


def _both(overrides: list[str], research_store: Path, tmp_path: Path) -> tuple[Any, list[Any]]:
    """Backtest and replay ``overrides``; assert they record the same risk events and fills;
    return the backtest and the replay's events."""
    cfg = compose_config([*overrides, f"live.state_dir={tmp_path}"])
    store = ParquetStore(research_store)
    backtest = run_backtest(cfg, store=store)
    orders, breaches, states = backtest_risk(backtest)
    plan = plan_run(cfg, replay=True)
    summary = run_plan(plan, store=store)
    assert summary.bars == backtest.bars.n_bars
    with EventStore.open(plan.events) as log:
        events = list(log.read())
    l_orders, l_breaches, l_states = live_risk(events, backtest.bars.index)

    _same(l_orders, orders)
    _same(l_breaches, breaches)
    assert l_states == states
    # And what passed filled alike: every fill, exactly.
    assert live_fills(events) == backtest_fills(backtest)
    return backtest, events


def test_conservative_backtest_and_replay_record_the_same_risk_events(
    research_store: Path, tmp_path: Path
) -> None:
    backtest, _ = _both(CASE, research_store, tmp_path)
    orders, breaches, states = backtest_risk(backtest)
    # The spec bites on these bars: reductions, refusals and halts, each more than once.
    assert sum(1 for r in orders if r[3] == "shrink") >= 3
    assert sum(1 for r in orders if r[3] == "reject") >= 3
    assert sum(1 for r in states if r[1] == "HALTED") >= 3
    assert {r[2] for r in breaches} == {"price_move", "volatility"}


def test_the_notional_per_day_refuses_and_shrinks_the_same_orders_in_both(
    research_store: Path, tmp_path: Path
) -> None:
    # 3 000 USDT of additions per UTC day (order.max_notional_per_day): a day's first entry
    # (about half the account, max_position 0.5) is cut to 3 000 and its later entries are
    # refused — in the kernel (engine/_risk.py) and in the replay's RiskEngine alike, with the
    # same rule, spend and limit; every UTC midnight starts again.
    case = [*CASE, "risk.order.max_notional_per_day=3000"]
    backtest, _ = _both(case, research_store, tmp_path)
    orders = backtest_risk(backtest)[0]
    daily = [r for r in orders if r[2] == "max_notional_per_day"]
    assert {r[3] for r in daily} == {"shrink", "reject"}
    assert all(r[4] > r[5] == 3000.0 for r in daily)  # spent + the order, over the limit
    o = backtest.result.orders
    index = backtest.bars.index
    days: dict[int, float] = {}
    for r in o[o["status"] == "filled"].itertuples():
        if r.side > 0:  # sma_cross is long only: every buy adds exposure
            day = int(index[r.bar]) // 86_400_000
            days[day] = days.get(day, 0.0) + r.size * r.price
    # checked at the expected price, filled with slippage: within 1 % (an entry is ~5 000)
    assert days and max(days.values()) <= 3000.0 * 1.01


def test_the_engines_flatten_passes_a_drawdown_halt_in_both(
    research_store: Path, tmp_path: Path
) -> None:
    # A 3 % drawdown halts (HALTED until resume) at 2021-05-14 20:00; the strategy's orders
    # are refused from then on; at 5 % the engine's own flatten is due and passes the halt —
    # in the kernel (engine/_risk.py) and in the replay (the book's flatten through the risk
    # engine as a protective order, sent although the breaker engaged the kill switch).
    case = [*CASE, "risk.portfolio.drawdown.limit=0.03", "risk.portfolio.drawdown.flatten_at=0.05"]
    backtest, events = _both(case, research_store, tmp_path)
    ev = backtest.result.events
    halt = ev[(ev["rule"] == "drawdown") & (ev["action"] == "halt")]["bar"].tolist()
    assert len(halt) == 1
    o = backtest.result.orders
    flat = o[o["kind"] == "risk_flatten"]
    assert flat["status"].tolist() == ["filled"] and int(flat["bar"].iloc[0]) > halt[0]
    # Between the halt and the flatten the state stays HALTED and the strategy is refused.
    refused = ev[(ev["action"] == "reject") & (ev["rule"] == "halted")]["bar"].tolist()
    assert refused and all(halt[0] < b < int(flat["bar"].iloc[0]) for b in refused)
    states = [r for r in backtest_risk(backtest)[2] if r[0] > halt[0]]
    assert states == []  # HALTED to the end: a drawdown without cool-down lifts at resume
    protective = [e.payload for e in events
                  if e.kind == "risk_decision" and e.payload.get("protective")]  # fmt: skip
    assert [(p["action"], p["state"]) for p in protective] == [("approve", "HALTED")]
    assert backtest.result.positions[-1, 0] == 0.0


def _alerts(shared_data: Path, root: Path, plan: list[tuple[str, float, float]]) -> list[str]:
    """A store of BTC 1h bars and the TradingView alerts of ``plan`` (sent at, target, size),
    each arrived 2 s after it was sent; the overrides of a conservative run trading them."""
    register_strategy(TradingViewAlerts)
    import_file(
        shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz", store=ParquetStore(root)
    )
    rows = []
    for i, (sent, target, size) in enumerate(plan):
        ms = pd.Timestamp(sent).value // 1_000_000
        rows.append({"id": f"a{i}", "event_ms": ms, "published_ms": ms + 2000,
                     "ingested_ms": ms + 2000, "target": target, "size": size, "price": 1.0,
                     "ticker": "BTCUSDT", "action": "alert"})  # fmt: skip
    AltStore(root).write(AltKey("tradingview", "BTC"), pd.DataFrame(rows))
    return ["strategy=tradingview_alerts", "data=btc_1h", f"data.store={root}",
            "data.start=2021-01-04", "data.end=2021-01-12", "risk=conservative"]  # fmt: skip


def _at(when: str) -> int:
    return int(pd.Timestamp(when).value // 1_000_000)


def _fills_at(events: list[Any], when: str) -> list[tuple[Any, ...]]:
    return [f for f in live_fills(events) if f[0] == _at(when)]


def test_a_reversal_checks_its_opening_leg_after_the_close_in_both(
    shared_data: Path, tmp_path: Path
) -> None:
    # Short half the account, then a long alert (0.8) arriving in the bar before 2021-01-08
    # 10:00: the engine splits the reversal into a close (buy the short back) and an open. The
    # open is checked against the flat position the close leaves — max_position (0.5) shrinks
    # it — in the kernel and in the replay alike. Before, the replay checked it against the
    # short held before the decision (net +0.077 BTC, within the cap) and bought 0.2109 BTC
    # where the backtest bought 0.1318.
    plan = [("2021-01-05T10:17:00Z", 1.0, 1.0), ("2021-01-06T03:40:00Z", 0.0, 1.0),
            ("2021-01-07T15:05:00Z", -1.0, 0.5), ("2021-01-08T09:59:30Z", 1.0, 0.8),
            ("2021-01-09T20:00:00Z", 0.0, 1.0)]  # fmt: skip
    case = _alerts(shared_data, tmp_path / "store", plan)
    _, events = _both(case, tmp_path / "store", tmp_path / "state")
    close, open_ = _fills_at(events, "2021-01-08T10:00:00Z")
    assert close[2] == open_[2] == "buy"
    short = _fills_at(events, "2021-01-07T16:00:00Z")
    assert [f[2:4] for f in short] == [("sell", close[3])]  # the short, bought back
    # The open leg is held to max_position of the last close's equity, by the risk engine.
    shrinks = [e.payload for e in events if e.kind == "risk_decision"
               and e.payload["at_ms"] == _at("2021-01-08T10:00:00Z")
               and e.payload["action"] == "shrink"]  # fmt: skip
    assert [(p["side"], p["rule"], p["limit"]) for p in shrinks] == [("buy", "max_position", 0.5)]
    assert shrinks[0]["value"] > 0.5 and shrinks[0]["qty"] > open_[3]
    assert shrinks[0]["approved_qty"] == pytest.approx(open_[3], rel=1e-9)


def test_a_reversal_while_reducing_only_closes_in_both(shared_data: Path, tmp_path: Path) -> None:
    # The long alert arrives at 2021-01-08 20:30, while the volatility breaker holds the run at
    # REDUCING: the close leg passes, the open leg — checked against the flat position the
    # close leaves — adds exposure and is refused (``reducing``), in both drivers; the account
    # ends flat. Before, the replay checked the open leg against the short held before the
    # decision, cut it to "the closing part" and went long that much while REDUCING.
    plan = [("2021-01-07T15:05:00Z", -1.0, 0.5), ("2021-01-08T20:30:00Z", 1.0, 0.8),
            ("2021-01-09T20:00:00Z", 0.0, 1.0)]  # fmt: skip
    case = _alerts(shared_data, tmp_path / "store", plan)
    backtest, events = _both(case, tmp_path / "store", tmp_path / "state")
    assert len(_fills_at(events, "2021-01-08T21:00:00Z")) == 1  # the close leg only
    refused = [(e.payload["side"], e.payload["rule"], e.payload["state"]) for e in events
               if e.kind == "risk_decision" and e.payload["action"] == "reject"
               and e.payload["at_ms"] == _at("2021-01-08T21:00:00Z")]  # fmt: skip
    assert refused == [("buy", "reducing", "REDUCING")]
    assert backtest.result.positions[-1, 0] == 0.0
