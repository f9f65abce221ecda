"""The risk spec inside a backtest (engine/_risk.py): per-order checks at submission, breakers at
each close, holds and the trading state on bar times, all in the result's events — on
hand-made bars whose answers are worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Fees, Orders, Signals, backtest
from grekko_research.risk import checks as C
from grekko_research.risk.rules import RiskLimits
from grekko_research.risk.spec import (
    DailyLossBreaker,
    DrawdownBreaker,
    MarketRisk,
    OrderRisk,
    PortfolioRisk,
    PriceMoveBreaker,
    RiskSpec,
    VarBreaker,
)

HOUR = 3_600_000
DAY = 24 * HOUR
NOFEE = Fees(taker=0.0, maker=0.0)
START = 1_700_006_400_000 - 1_700_006_400_000 % DAY  # a UTC midnight


def bars_of(closes: list[float], *, start: int = START) -> Bars:
    """Hourly bars opening at the previous close (high/low ±0.5 %)."""
    c = np.asarray(closes, dtype=float)[:, None]
    o = np.vstack([c[:1], c[:-1]])
    n = len(c)
    return Bars(
        index=start + HOUR * np.arange(n),
        symbols=("S0/USDT",),
        timeframe="1h",
        open=o,
        high=np.maximum(o, c) * 1.005,
        low=np.minimum(o, c) * 0.995,
        close=c,
        volume=np.full((n, 1), 1e6),
    )


def buys(n: int, rows: list[int], size: float = 1.0) -> Orders:
    kind = np.full(n, "", dtype=object)
    kind[rows] = "market"
    return Orders(kind, np.full(n, size))


def events(result) -> list[tuple]:
    ev = result.events
    return [(int(r.bar), r.rule, r.action) for r in ev.itertuples() if r.rule not in ("",)]


def test_without_rules_nothing_is_recorded_and_the_lean_kernel_may_run() -> None:
    bars = bars_of([100.0] * 6)
    res = backtest(bars, Signals(np.eye(6, 1, dtype=bool)[:, 0]), EngineConfig(fees=NOFEE))
    assert res.kernel == "lean" and len(res.event_records) == 0
    spec = RiskSpec(order=OrderRisk(max_position=0.5))
    on = backtest(bars, Signals(np.eye(6, 1, dtype=bool)[:, 0]), EngineConfig(risk=spec))
    assert on.kernel == "general" and "risk rules" in on.kernel_reason


def test_max_position_shrinks_at_the_last_close_equity_and_is_an_event() -> None:
    bars = bars_of([100.0, 100.0, 100.0, 100.0])
    entry = np.zeros(4, dtype=bool)
    entry[0] = True
    cfg = EngineConfig(fees=NOFEE, risk=RiskSpec(order=OrderRisk(max_position=0.25)))
    res = backtest(bars, Signals(entry), cfg)
    filled = res.orders[res.orders["status"] == "filled"]
    assert filled["size"].tolist() == pytest.approx([25.0])  # 0.25 × 10 000 / 100
    assert filled["rule"].tolist() == ["max_position"]
    ev = res.events
    assert ev[["bar", "asset", "rule", "action"]].values.tolist() == [
        [1, 0, "max_position", "shrink"]
    ]
    assert ev["value"].tolist() == pytest.approx([1.0]) and ev["limit"].tolist() == [0.25]


def test_the_old_limits_map_onto_the_spec() -> None:
    bars = bars_of([100.0, 100.0, 100.0, 100.0])
    entry = np.zeros(4, dtype=bool)
    entry[0] = True
    old = backtest(
        bars, Signals(entry), EngineConfig(fees=NOFEE, risk=RiskLimits(max_position=0.25))
    )
    assert EngineConfig(risk=RiskLimits(max_position=0.25)).risk == RiskSpec(
        order=OrderRisk(max_position=0.25),
        portfolio=PortfolioRisk(daily_loss=DailyLossBreaker(action="reduce")),
    )
    assert old.orders["size"].tolist() == pytest.approx([25.0])


def test_the_order_rate_runs_on_bar_time() -> None:
    # One order in any two hours: the orders executing at the opens of bars 1, 2, 3 and 4 —
    # the one at bar 2 is an hour after bar 1's (refused), bar 3's two hours after (passes).
    bars = bars_of([100.0] * 6)
    spec = RiskSpec(order=OrderRisk(max_orders=1, order_window_s=7200))
    res = backtest(bars, buys(6, [0, 1, 2, 3]), EngineConfig(fees=NOFEE, risk=spec))
    filled = res.orders[res.orders["status"] == "filled"]
    assert filled["bar"].tolist() == [1, 3]
    refused = res.orders[res.orders["status"] == "rejected_risk"]
    assert refused[["bar", "rule"]].values.tolist() == [[2, "order_rate"], [4, "order_rate"]]
    assert events(res) == [(2, "order_rate", "reject"), (4, "order_rate", "reject")]
    assert res.events["value"].tolist() == [2.0, 2.0]


def test_a_price_move_halts_until_its_cooldown_has_passed_and_it_is_clear() -> None:
    # +20 % at bar 3's close: HALTED (every order refused) until two hours later and clear.
    closes = [100.0, 100.0, 100.0, 120.0, 120.0, 120.0, 120.0, 120.0]
    spec = RiskSpec(
        market=MarketRisk(
            price_move=PriceMoveBreaker(limit=0.1, window=1, action="halt", cooldown_s=7200)
        )
    )
    res = backtest(bars_of(closes), buys(8, [3, 4, 5, 6]), EngineConfig(fees=NOFEE, risk=spec))
    assert events(res) == [
        (3, "price_move", "halt"),
        (3, "state", "halt"),
        (4, "halted", "reject"),
        (5, "halted", "reject"),
        (5, "state", "resume"),  # close(5) = close(3) + 2 h, and the move is 0 then
    ]
    ev = res.events
    assert ev.loc[0, "value"] == pytest.approx(0.2)
    assert (ev.loc[1, "state"], ev.loc[1, "previous"], ev.loc[1, "value"]) == (
        "HALTED",
        "ACTIVE",
        2,
    )
    filled = res.orders[res.orders["status"] == "filled"]
    assert filled["bar"].tolist() == [6, 7]


def test_the_engines_flatten_passes_a_drawdown_halt_the_strategys_exit_does_not() -> None:
    # All in at bar 1's open (100). Bar 2's close (88): 12 % down, the drawdown breaker halts
    # (HALTED until resume). The strategy's exit decided then is refused at bar 3's open
    # (a halt freezes the strategy). Bar 3's close (78): 22 % down, past flatten_at — the
    # engine's own flatten at bar 4's open passes the halt (it only reduces), and the run
    # ends flat at 7 800 instead of riding the fall to 70 (it used to be refused: "halted").
    closes = [100.0, 100.0, 88.0, 78.0, 70.0, 70.0]
    entry = np.zeros(6, dtype=bool)
    exit_ = np.zeros(6, dtype=bool)
    entry[0], exit_[2] = True, True
    dd = DrawdownBreaker(limit=0.1, action="halt", flatten_at=0.2)
    cfg = EngineConfig(fees=NOFEE, risk=RiskSpec(portfolio=PortfolioRisk(drawdown=dd)))
    res = backtest(bars_of(closes), Signals(entry, exit_), cfg)
    assert events(res) == [
        (2, "drawdown", "halt"),
        (2, "state", "halt"),
        (3, "halted", "reject"),
        (3, "max_drawdown", ""),
    ]
    filled = res.orders[res.orders["status"] == "filled"]
    assert filled[["bar", "side", "kind"]].values.tolist() == [
        [1, 1, "market"],
        [4, -1, "risk_flatten"],
    ]
    assert filled["size"].abs().tolist() == pytest.approx([100.0, 100.0])
    assert res.final_equity == pytest.approx(7_800.0)
    assert res.positions[-1, 0] == 0.0


def test_a_daily_loss_reduces_until_the_next_utc_day() -> None:
    # 60 units bought at 20:00's close (filled at 21:00's open, 100); 90 at 21:00's close: −6 %
    # of the day's first close (10 000 at 21:00). REDUCING: the buy executing at 22:00 is
    # refused, the sale at 23:00 passes; the hold lifts at the close that is the next UTC
    # midnight (bar 3's), and the buy at 01:00 passes.
    start = START - 4 * HOUR  # 20:00 UTC
    closes = [100.0, 90.0, 90.0, 90.0, 90.0, 90.0]
    kind = np.array(["market", "market", "market", "", "market", ""], dtype=object)
    size = np.array([60.0, 1.0, -1.0, 0.0, 1.0, 0.0])
    loss = DailyLossBreaker(limit=0.05, action="reduce")
    cfg = EngineConfig(fees=NOFEE, risk=RiskSpec(portfolio=PortfolioRisk(daily_loss=loss)))
    res = backtest(bars_of(closes, start=start), Orders(kind, size), cfg)
    assert events(res) == [
        (1, "daily_loss", "reduce"),
        (1, "state", "reduce"),
        (2, "reducing", "reject"),
        (3, "state", "resume"),
    ]
    assert res.events.loc[0, "value"] == pytest.approx(0.06)
    filled = res.orders[res.orders["status"] == "filled"]
    assert filled["bar"].tolist() == [1, 3, 5]
    assert filled["side"].tolist() == [1, -1, 1]


def test_var_is_measured_on_the_bar_equities() -> None:
    rng = np.random.default_rng(3)
    closes = list(100 * np.exp(np.cumsum(rng.normal(0, 0.03, 60))))
    entry = np.zeros(60, dtype=bool)
    entry[0] = True
    spec = RiskSpec(portfolio=PortfolioRisk(var=VarBreaker(limit=0.01, window=20, confidence=0.9)))
    res = backtest(bars_of(closes), Signals(entry), EngineConfig(fees=NOFEE, risk=spec))
    ev = res.events
    first = ev[ev["rule"] == "var"].iloc[0]
    t = int(first["bar"])
    assert t >= 20  # not before the window holds 20 returns
    want = C.historical_var_nb(res.equity[: t + 1], 20, 0.9)
    assert first["value"] == want and first["action"] == "reduce"
    for s in range(20, t):
        assert C.historical_var_nb(res.equity[: s + 1], 20, 0.9) <= 0.01


def test_run_grid_evaluates_the_spec_as_backtest_does(shared_data) -> None:
    import pandas as pd

    from grekko_research.engine.grid import run_grid
    from tests.unit.engine.test_grid_metrics import signals_for, sma_cross_kernel

    frame = pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz")
    bars = Bars.from_frame(frame, "BTC/USDT", "1h")[:2000]
    spec = RiskSpec(
        order=OrderRisk(max_position=0.5),
        market=MarketRisk(price_move=PriceMoveBreaker(limit=0.03, window=6, action="halt")),
    )
    cfg = EngineConfig(risk=spec)
    grid = run_grid(bars, sma_cross_kernel, [[5.0, 20.0], [10.0, 40.0]], cfg)
    for i, (fast, slow) in enumerate([(5, 20), (10, 40)]):
        one = backtest(bars, signals_for(bars, fast, slow), cfg)
        assert (one.events["action"] == "reject").any()  # the halts refuse entries
        assert grid["final_equity"].iloc[i] == one.final_equity
        assert grid["n_trades"].iloc[i] == one.n_trades


def test_the_notional_per_day_shrinks_refuses_and_starts_again_the_next_utc_day() -> None:
    # 250 quote of additions per UTC day, orders of 1 unit at 100 executing at the opens of
    # bars 1-4 (day one) and 24 (00:00 of day two): 100, 100, then the 50 left (shrunk to
    # half a unit), then nothing (refused); the next day starts from 0.
    bars = bars_of([100.0] * 26)
    spec = RiskSpec(order=OrderRisk(max_notional_per_day=250.0))
    res = backtest(bars, buys(26, [0, 1, 2, 3, 23]), EngineConfig(fees=NOFEE, risk=spec))
    filled = res.orders[res.orders["status"] == "filled"]
    assert filled[["bar", "size"]].values.tolist() == [[1, 1.0], [2, 1.0], [3, 0.5], [24, 1.0]]
    assert events(res) == [
        (3, "max_notional_per_day", "shrink"),
        (4, "max_notional_per_day", "reject"),
    ]
    assert res.events["value"].tolist() == pytest.approx([300.0, 350.0])  # spent + the order
    assert res.events["limit"].tolist() == [250.0, 250.0]
    refused = res.orders[res.orders["status"] == "rejected_risk"]
    assert refused[["bar", "rule"]].values.tolist() == [[4, "max_notional_per_day"]]
