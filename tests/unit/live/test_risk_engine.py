"""The live risk engine: states, pre-trade decisions, breakers, fail-closed behaviour, events.

The engine takes the run's :class:`~grekko_research.risk.spec.RiskSpec`; the deprecated flat
``LiveRiskConfig`` appears only where a test is about it."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grekko_research.config import compose_config, config_id
from grekko_research.errors import ConfigError
from grekko_research.risk import checks
from grekko_research.risk.spec import (
    DailyLossBreaker,
    DrawdownBreaker,
    MarketRisk,
    OpsRisk,
    OrderRisk,
    PortfolioRisk,
    PriceMoveBreaker,
    RiskConfigDeprecationWarning,
    RiskSpec,
    VarBreaker,
    VolatilityBreaker,
)
from live.events import canonical_json
from live.orders import Intent
from live.risk import (
    DAY_MS,
    LiveRiskConfig,
    MarketView,
    OpsView,
    PortfolioView,
    ProposedOrder,
    RiskEngine,
    TradingState,
    live_risk_config,
)

FAST = settings(max_examples=40, deadline=None)
T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS  # a UTC midnight
BTC = "BTC/USDT"
MARKET = MarketView(prices={BTC: 100.0, "ETH/USDT": 10.0})
FLAT = PortfolioView(10_000.0, {})
LONG = PortfolioView(10_000.0, {BTC: 10.0})

ACTIVE, REDUCING, HALTED = TradingState.ACTIVE, TradingState.REDUCING, TradingState.HALTED


def buy(qty: float, **kw: Any) -> ProposedOrder:
    return ProposedOrder(BTC, "buy", qty, **kw)


def sell(qty: float, **kw: Any) -> ProposedOrder:
    return ProposedOrder(BTC, "sell", qty, **kw)


def kinds(events: Any) -> list[str]:
    return [e[0] for e in events]


def assert_json(events: Any) -> None:
    for kind, stream, payload in events:
        assert isinstance(kind, str) and isinstance(stream, str)
        canonical_json(payload)  # the event store refuses NaN and infinities


# -- states ---------------------------------------------------------------------------------


def test_active_engine_without_limits_approves_and_records_the_decision() -> None:
    engine = RiskEngine()
    d = engine.check_order(buy(1.0, client_id="cid-1"), FLAT, MARKET, now_ms=T0)
    assert d.action == "approve" and d.approved and d.qty == 1.0 and d.state is ACTIVE
    (kind, stream, payload), *_ = d.events
    assert (kind, stream) == ("risk_decision", "cid-1")
    assert payload["action"] == "approve" and payload["approved_qty"] == 1.0
    assert_json(d.events)


def test_an_intent_becomes_a_proposed_order_whose_decision_is_on_its_stream() -> None:
    intent = Intent("run-1", BTC, "sell", Decimal("0.5"), T0, seq=3)
    order = ProposedOrder.from_intent(intent, price=99.5)
    assert (order.side, order.qty, order.price, order.client_id) == (
        "sell", 0.5, 99.5, intent.client_id,
    )  # fmt: skip
    d = RiskEngine().check_order(order, LONG, MARKET, now_ms=T0)
    assert d.events[-1][:2] == ("risk_decision", intent.client_id)


def test_reducing_lets_a_reduction_through_and_blocks_an_increase() -> None:
    engine = RiskEngine()
    events = engine.reduce("operator", now_ms=T0)
    assert engine.state is REDUCING and "operator" in engine.reason
    assert kinds(events) == ["risk_state"]
    assert engine.check_order(sell(4.0), LONG, MARKET, now_ms=T0).action == "approve"
    assert engine.check_order(sell(10.0), LONG, MARKET, now_ms=T0).action == "approve"
    up = engine.check_order(buy(1.0), LONG, MARKET, now_ms=T0)
    assert up.action == "reject" and up.rule == "reducing" and "operator" in up.reason
    opening = engine.check_order(buy(1.0), FLAT, MARKET, now_ms=T0)
    assert opening.action == "reject"
    flip = engine.check_order(sell(15.0), LONG, MARKET, now_ms=T0)  # reversal: only the close
    assert flip.action == "shrink" and flip.qty == 10.0 and flip.rule == "reducing"


def test_a_decisions_second_order_is_checked_after_the_first() -> None:
    # A reversal from 10 short to 30 long is two orders: buy 10 (close), buy 30 (open). The
    # open is checked against the flat position the close leaves (PortfolioView.after), as
    # the backtest checks it; against the short it would pass max_position (net +20 = 2000).
    short = PortfolioView(10_000.0, {BTC: -10.0, "ETH/USDT": 5.0})
    after = short.after(BTC, 10.0)
    assert after.positions == {BTC: 0.0, "ETH/USDT": 5.0} and after.equity == 10_000.0
    assert short.position(BTC) == -10.0  # the view before is left as it was
    assert FLAT.after(BTC, -2.5).positions == {BTC: -2.5}
    capped = RiskEngine(RiskSpec(order=OrderRisk(max_position=0.25)))
    assert capped.check_order(buy(30.0), short, MARKET, now_ms=T0).action == "approve"
    open_leg = capped.check_order(buy(30.0), after, MARKET, now_ms=T0)
    assert open_leg.action == "shrink" and open_leg.qty == pytest.approx(25.0)
    reducing = RiskEngine()
    reducing.reduce("operator", now_ms=T0)
    assert reducing.check_order(buy(10.0), short, MARKET, now_ms=T0).action == "approve"
    refused = reducing.check_order(buy(30.0), after, MARKET, now_ms=T0)
    assert refused.action == "reject" and refused.rule == "reducing"


def test_halted_blocks_everything_until_resume() -> None:
    engine = RiskEngine()
    engine.halt("maintenance", now_ms=T0)
    assert engine.state is HALTED and engine.reason == "manual: maintenance"
    for order in (sell(1.0), buy(1.0), sell(10.0)):
        d = engine.check_order(order, LONG, MARKET, now_ms=T0)
        assert d.action == "reject" and d.rule == "halted" and not d.approved
    engine.reduce("partial", now_ms=T0)  # an operator may step down to reducing
    assert engine.check_order(sell(1.0), LONG, MARKET, now_ms=T0).approved
    events = engine.resume("done", now_ms=T0)
    assert engine.state is ACTIVE and events[-1][2]["reason"] == "resumed: done"
    assert engine.check_order(buy(1.0), LONG, MARKET, now_ms=T0).approved


# -- portfolio breakers -----------------------------------------------------------------------

equity_paths = st.lists(st.floats(100.0, 1e5), min_size=1, max_size=50)


@FAST
@given(path=equity_paths, limit=st.floats(0.02, 0.6))
def test_drawdown_halts_exactly_when_peak_to_current_exceeds_the_limit(
    path: list[float], limit: float
) -> None:
    engine = RiskEngine(RiskSpec(portfolio=PortfolioRisk(drawdown=DrawdownBreaker(limit=limit))))
    peak = -math.inf
    breached = False
    for i, equity in enumerate(path):
        peak = max(peak, equity)
        breached = breached or equity < (1 - limit) * peak
        events = engine.on_bar(PortfolioView(equity), MARKET, now_ms=T0 + i * 3_600_000)
        assert_json(events)
        assert engine.state is (HALTED if breached else ACTIVE)
    if breached:
        assert engine.reason.startswith("drawdown")
        assert not engine.check_order(sell(1.0), LONG, MARKET, now_ms=T0).approved


def test_drawdown_as_reduce_and_resume_rebaselines_the_peak() -> None:
    engine = RiskEngine(
        RiskSpec(portfolio=PortfolioRisk(drawdown=DrawdownBreaker(limit=0.1, action="reduce")))
    )
    engine.on_bar(PortfolioView(1000.0), MARKET, now_ms=T0)
    events = engine.on_bar(PortfolioView(850.0), MARKET, now_ms=T0 + 1)
    assert kinds(events) == ["risk_breach", "risk_state"]
    breach = events[0][2]
    assert breach["rule"] == "drawdown" and breach["value"] == pytest.approx(0.15)
    assert breach["limit"] == 0.1 and breach["state"] == "REDUCING"
    assert engine.on_bar(PortfolioView(860.0), MARKET, now_ms=T0 + 2) == []  # no repeat
    assert engine.state is REDUCING
    engine.resume("loss accepted", now_ms=T0 + 3)
    assert engine.peak_equity == 860.0
    engine.on_bar(PortfolioView(800.0), MARKET, now_ms=T0 + 4)  # 7 % below the new peak
    assert engine.state is ACTIVE


@FAST
@given(
    days=st.lists(st.lists(st.floats(0.9, 1.1), min_size=1, max_size=6), min_size=1, max_size=5),
    limit=st.floats(0.02, 0.2),
)
def test_daily_loss_reduces_until_the_next_utc_day(days: list[list[float]], limit: float) -> None:
    engine = RiskEngine(
        RiskSpec(portfolio=PortfolioRisk(daily_loss=DailyLossBreaker(limit=limit, action="reduce")))
    )
    equity = 1000.0
    for d, moves in enumerate(days):
        start = None
        breached = False
        for h, move in enumerate(moves):
            equity *= move
            start = equity if start is None else start
            breached = breached or equity < (1 - limit) * start
            engine.on_bar(PortfolioView(equity), MARKET, now_ms=T0 + d * DAY_MS + h * 3_600_000)
            assert engine.state is (REDUCING if breached else ACTIVE)


def test_var_breach_reduces_and_lifts_after_its_cooldown_once_clear() -> None:
    cfg = RiskSpec(
        portfolio=PortfolioRisk(
            var=VarBreaker(limit=0.05, window=10, confidence=0.9, cooldown_s=60)
        )
    )
    engine = RiskEngine(cfg)
    equity = [1000.0] * 11 + [900.0]
    for i, e in enumerate(equity):
        engine.on_bar(PortfolioView(e), MARKET, now_ms=T0 + i * 1000)
    assert engine.state is REDUCING and engine.reason.startswith("var")
    t = T0 + len(equity) * 1000
    states = []
    for i in range(15):  # the crash leaves the window after 10 bars; VaR falls back to 0
        engine.on_bar(PortfolioView(900.0), MARKET, now_ms=t + i * 20_000)
        states.append(engine.state)
    # the crash return stays in the window for 9 more bars (the last at +160 s), then the
    # 60 s cool-down runs out at the bar of +220 s
    assert states == [REDUCING] * 11 + [ACTIVE] * 4


# -- market breakers --------------------------------------------------------------------------


def _wild(n: int = 30) -> np.ndarray:
    closes = 100 * np.exp(np.cumsum(np.full(n, 0.0005)))
    closes[-5:] *= np.array([1.05, 0.94, 1.07, 0.93, 1.06])
    return closes


def test_volatility_breaker_blocks_entries_for_its_cooldown() -> None:
    engine = RiskEngine(
        RiskSpec(
            market=MarketRisk(volatility=VolatilityBreaker(limit=1.0, window=24, cooldown_s=600))
        )
    )
    calm = 100 * np.exp(np.cumsum(np.full(40, 0.0005)))
    wild = MarketView(prices={BTC: 100.0}, closes={BTC: _wild()})
    events = engine.on_bar(LONG, wild, now_ms=T0)
    assert engine.state is REDUCING and events[0][2]["symbol"] == BTC
    assert not engine.check_order(buy(1.0), LONG, MARKET, now_ms=T0 + 1).approved
    assert engine.check_order(sell(1.0), LONG, MARKET, now_ms=T0 + 1).approved
    quiet = MarketView(prices={BTC: 100.0}, closes={BTC: calm})
    engine.on_bar(LONG, quiet, now_ms=T0 + 300_000)  # clear, but still cooling down
    assert engine.state is REDUCING
    engine.on_bar(LONG, wild, now_ms=T0 + 700_000)  # tripped again: cool-down restarts
    engine.on_bar(LONG, quiet, now_ms=T0 + 1_000_000)
    assert engine.state is REDUCING
    engine.on_bar(LONG, quiet, now_ms=T0 + 1_400_000)
    assert engine.state is ACTIVE
    assert engine.check_order(buy(1.0), LONG, MARKET, now_ms=T0 + 1_400_001).approved


def test_price_move_breaker_on_ticks_uses_the_last_price() -> None:
    engine = RiskEngine(
        RiskSpec(market=MarketRisk(price_move=PriceMoveBreaker(limit=0.05, window=3, cooldown_s=0)))
    )
    closes = {BTC: [100.0, 100.0, 101.0, 100.5]}
    engine.on_tick(LONG, MarketView(prices={BTC: 104.0}, closes=closes), now_ms=T0)
    assert engine.state is ACTIVE
    engine.on_tick(LONG, MarketView(prices={BTC: 94.0}, closes=closes), now_ms=T0 + 1)
    assert engine.state is REDUCING and engine.reason.startswith("price_move of BTC/USDT")
    engine.on_tick(LONG, MarketView(prices={BTC: 100.0}, closes=closes), now_ms=T0 + 2)
    assert engine.state is ACTIVE


# -- operational ----------------------------------------------------------------------------


def test_operational_checks_halt_while_failing() -> None:
    cfg = RiskSpec(
        ops=OpsRisk(
            max_data_age_s=60,
            max_ws_down_s=30,
            max_errors=2,
            error_window_s=60,
            max_clock_skew_ms=500,
        )
    )
    engine = RiskEngine(cfg)
    now = T0 + 1_000_000
    good = OpsView(last_data_ms=now - 10_000, clock_skew_ms=100)
    assert engine.on_ops(good, now_ms=now) == [] and engine.state is ACTIVE
    bad = [
        ("stale_data", OpsView(last_data_ms=now - 61_000, clock_skew_ms=0)),
        ("ws_down", OpsView(last_data_ms=now, ws_down_since_ms=now - 31_000, clock_skew_ms=0)),
        ("error_rate", OpsView(last_data_ms=now, error_times_ms=(now - 5, now - 4, now - 3), clock_skew_ms=0)),
        ("clock_skew", OpsView(last_data_ms=now, clock_skew_ms=-700)),
    ]  # fmt: skip
    for rule, ops in bad:
        events = engine.on_ops(ops, now_ms=now)
        assert engine.state is HALTED and engine.reason.startswith(rule), rule
        assert events[0][2]["rule"] == rule
        assert not engine.check_order(sell(1.0), LONG, MARKET, now_ms=now).approved
        engine.on_ops(good, now_ms=now)
        assert engine.state is ACTIVE, rule


def test_an_error_rate_halt_names_the_calls_that_failed() -> None:
    """``error_rate 11 > 10`` alone does not say what to fix: the reason (and the breach's)
    names each failed call of the window, how often, and with which errors."""
    engine = RiskEngine(RiskSpec(ops=OpsRisk(max_errors=10, error_window_s=60, action="halt")))
    now = T0 + 1_000_000
    calls = [(now - 90_000, "fetch_ticker", "NetworkError")]  # outside the window: not named
    calls += [(now - 50_000 + i, "create_order", "RequestTimeout") for i in range(7)]
    calls += [(now - 40_000 + i, "fetch_balance", "ExchangeNotAvailable") for i in range(3)]
    calls += [(now - 30_000, "fetch_balance", "NetworkError")]
    events = engine.on_ops(OpsView(last_data_ms=now, failed_calls=calls), now_ms=now)
    assert engine.state is HALTED
    want = (
        "error_rate: 11 (limit 10) — create_order ×7 (RequestTimeout), "
        "fetch_balance ×4 (ExchangeNotAvailable ×3, NetworkError)"
    )
    assert engine.reason == want
    (breach,) = [p for kind, _, p in events if kind == "risk_breach"]
    assert breach["reason"] == want and breach["rule"] == "error_rate"
    # Times alone (a venue that does not say which calls) still count, without names.
    other = RiskEngine(RiskSpec(ops=OpsRisk(max_errors=1, error_window_s=60)))
    other.on_ops(OpsView(last_data_ms=now, error_times_ms=(now - 2, now - 1)), now_ms=now)
    assert other.reason == "error_rate: 2 (limit 1)"


# -- pre-trade checks -------------------------------------------------------------------------


def test_exposure_limits_shrink_an_order_to_fit() -> None:
    two = PortfolioView(10_000.0, {BTC: 10.0, "ETH/USDT": -100.0})  # 1000 long, 1000 short
    cases = [
        (OrderRisk(max_position=0.5), 40.0, "max_position"),  # up to 5000 of BTC
        (OrderRisk(max_notional=2500.0), 25.0, "max_notional"),
        (OrderRisk(max_gross_exposure=4000.0), 20.0, "gross_exposure"),  # 1000 + 3000
        (OrderRisk(max_net_exposure=1500.0), 15.0, "net_exposure"),  # -1000 + 2500
        (OrderRisk(max_leverage=0.5), 30.0, "leverage"),  # 1000 + 4000 = 0.5 × equity
    ]
    for order, expected, rule in cases:
        d = RiskEngine(RiskSpec(order=order)).check_order(buy(100.0), two, MARKET, now_ms=T0)
        assert d.action == "shrink" and d.rule == rule, rule
        assert d.qty == pytest.approx(expected, rel=1e-12), rule
        assert d.limit is not None and d.value is not None
        assert d.events[-1][2]["approved_qty"] == pytest.approx(d.qty)
    # reductions are never limited
    for order, _, rule in cases:
        d = RiskEngine(RiskSpec(order=order)).check_order(sell(5.0), two, MARKET, now_ms=T0)
        assert d.action == "approve", rule


def test_precision_and_min_notional() -> None:
    cfg = RiskSpec(order=OrderRisk(precision=True, min_notional=50.0))
    market = MarketView(prices={BTC: 100.0}, lot={BTC: 0.01}, tick={BTC: 0.5}, min_notional={})
    engine = RiskEngine(cfg)
    d = engine.check_order(buy(1.2345), FLAT, market, now_ms=T0)
    assert d.action == "shrink" and d.qty == pytest.approx(1.23) and d.rule == "qty_precision"
    small = engine.check_order(buy(0.4), FLAT, market, now_ms=T0)
    assert small.action == "reject" and small.rule == "min_notional" and small.value == 40.0
    assert engine.check_order(sell(0.4), LONG, market, now_ms=T0).approved  # reduction
    off_tick = engine.check_order(
        buy(1.0, price=100.2, order_type="limit"), FLAT, market, now_ms=T0
    )
    assert off_tick.action == "reject" and off_tick.rule == "price_precision"
    venue_min = MarketView(prices={BTC: 100.0}, min_notional={BTC: 200.0})
    assert RiskEngine(cfg).check_order(buy(1.5), FLAT, venue_min, now_ms=T0).rule == "min_notional"


@FAST
@given(move=st.floats(-0.3, 0.3), band=st.floats(0.01, 0.2))
def test_price_band_rejects_limit_prices_far_from_the_last_trade(move: float, band: float) -> None:
    engine = RiskEngine(RiskSpec(order=OrderRisk(price_band=band)))
    price = 100.0 * (1 + move)
    d = engine.check_order(buy(1.0, price=price, order_type="limit"), FLAT, MARKET, now_ms=T0)
    inside = abs(price / 100.0 - 1) <= band
    assert d.approved == inside
    if not inside:
        assert d.rule == "price_band" and d.limit == band


def test_price_band_without_a_last_price_rejects() -> None:
    engine = RiskEngine(RiskSpec(order=OrderRisk(price_band=0.05)))
    order = ProposedOrder("XRP/USDT", "buy", 1.0, price=1.0, order_type="limit")
    assert engine.check_order(order, FLAT, MARKET, now_ms=T0).rule == "price_band"


@FAST
@given(
    gaps=st.lists(st.integers(0, 3_000), min_size=1, max_size=60),
    limit=st.integers(1, 5),
    sides=st.lists(st.booleans(), min_size=60, max_size=60),
)
def test_order_rate_never_lets_more_than_n_through_in_any_window(
    gaps: list[int], limit: int, sides: list[bool]
) -> None:
    engine = RiskEngine(RiskSpec(order=OrderRisk(max_orders=limit, order_window_s=5)))
    times = T0 + np.cumsum(gaps)
    passed: list[int] = []
    for t, is_buy in zip(times, sides, strict=False):
        order = buy(1.0) if is_buy else sell(1.0)  # reductions count too
        d = engine.check_order(order, LONG, MARKET, now_ms=int(t))
        recent = sum(1 for p in passed if t - 5000 < p <= t)
        assert d.approved == (recent < limit)
        if d.approved:
            passed.append(int(t))
        else:
            assert d.rule == "order_rate" and d.value == limit + 1
    for end in passed:
        assert sum(1 for p in passed if end - 5000 < p <= end) <= limit


def test_orders_without_a_price_or_with_a_bad_quantity_are_rejected() -> None:
    engine = RiskEngine(RiskSpec(order=OrderRisk(max_position=0.5)))
    d = engine.check_order(ProposedOrder("XRP/USDT", "buy", 1.0), FLAT, MARKET, now_ms=T0)
    assert d.rule == "no_price"
    assert engine.check_order(buy(math.nan), FLAT, MARKET, now_ms=T0).rule == "invalid_order"
    assert engine.check_order(buy(-1.0), FLAT, MARKET, now_ms=T0).rule == "invalid_order"
    # another position without a price makes the exposure unknowable: fail closed
    eng = RiskEngine(RiskSpec(order=OrderRisk(max_leverage=2.0)))
    blind = PortfolioView(10_000.0, {"XRP/USDT": 5.0})
    assert not eng.check_order(buy(1.0), blind, MARKET, now_ms=T0).approved


def test_a_non_finite_equity_halts() -> None:
    engine = RiskEngine()
    events = engine.on_bar(PortfolioView(math.nan), MARKET, now_ms=T0)
    assert engine.state is HALTED and "portfolio" in engine.reason
    assert "risk_error" in kinds(events)
    assert_json(events)


# -- fail closed ----------------------------------------------------------------------------

ALL_ON = RiskSpec(
    order=OrderRisk(
        precision=True,
        min_notional=1.0,
        max_notional=1e9,
        max_position=100.0,
        max_gross_exposure=1e9,
        max_net_exposure=1e9,
        max_leverage=100.0,
        max_orders=1000,
        price_band=0.5,
    ),
    portfolio=PortfolioRisk(
        drawdown=DrawdownBreaker(limit=0.5),
        daily_loss=DailyLossBreaker(limit=0.5),
        var=VarBreaker(limit=0.5, window=2),
    ),
    market=MarketRisk(
        volatility=VolatilityBreaker(limit=100.0, window=2),
        price_move=PriceMoveBreaker(limit=0.9, window=1),
    ),
    ops=OpsRisk(max_data_age_s=1e6, max_ws_down_s=1e6, max_errors=100, max_clock_skew_ms=1e6),
)
GRID = MarketView(
    prices={BTC: 100.0}, closes={BTC: [99.0, 100.0, 101.0]}, lot={BTC: 0.001}, tick={BTC: 0.01}
)


def _order(engine: RiskEngine) -> None:
    engine.check_order(buy(1.0, price=100.0, order_type="limit"), LONG, GRID, now_ms=T0)


def _bar(engine: RiskEngine) -> None:
    for i in range(3):
        engine.on_bar(LONG, GRID, now_ms=T0 + i)


def _ops(engine: RiskEngine) -> None:
    engine.on_ops(OpsView(last_data_ms=T0, clock_skew_ms=0), now_ms=T0)


CHECKS: dict[str, Callable[[RiskEngine], None]] = {
    "check_price_band": _order,
    "check_price_precision": _order,
    "check_order_rate": _order,
    "check_max_notional": _order,
    "check_max_position": _order,
    "check_gross_exposure": _order,
    "check_net_exposure": _order,
    "check_leverage": _order,
    "check_qty_precision": _order,
    "check_min_notional": _order,
    "check_drawdown": _bar,
    "check_daily_loss": _bar,
    "check_var_window": _bar,
    "check_volatility": _bar,
    "check_price_move": _bar,
    "check_stale_data": _ops,
    "check_ws_down": _ops,
    "check_error_rate": _ops,
    "check_clock_skew": _ops,
}


def test_every_check_is_exercised_by_its_driver() -> None:
    called: set[str] = set()
    engine = RiskEngine(ALL_ON)
    originals = {name: getattr(checks, name) for name in CHECKS}
    mp = pytest.MonkeyPatch()
    for name, fn in originals.items():
        mp.setattr(checks, name, lambda *a, _n=name, _f=fn: (called.add(_n), _f(*a))[1])
    try:
        for drive in (_order, _bar, _ops):
            drive(engine)
    finally:
        mp.undo()
    assert engine.state is ACTIVE  # all on, nothing breached
    assert called == set(CHECKS)


@pytest.mark.parametrize("name", list(CHECKS))
def test_an_exception_in_any_check_halts_until_resume(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = RiskEngine(ALL_ON)

    def boom(*args: Any) -> Any:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(checks, name, boom)
    CHECKS[name](engine)
    rule = name.removeprefix("check_").removesuffix("_window")  # check_var_window: "var"
    assert engine.state is HALTED
    assert rule in engine.reason and "RuntimeError: injected fault" in engine.reason
    monkeypatch.undo()  # even with the check healthy again, nothing passes until resume
    for order in (buy(1.0), sell(1.0), sell(10.0)):
        d = engine.check_order(order, LONG, GRID, now_ms=T0 + 10)
        assert d.action == "reject" and d.rule == "halted"
    _bar(engine)
    _ops(engine)
    assert engine.state is HALTED
    engine.resume("fixed", now_ms=T0 + 20)
    assert engine.check_order(buy(1.0), LONG, GRID, now_ms=T0 + 21).approved


def test_a_failing_check_rejects_the_order_it_was_checking(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = RiskEngine(RiskSpec(order=OrderRisk(max_position=0.5)))
    monkeypatch.setattr(checks, "check_max_position", lambda *a: 1 / 0)
    d = engine.check_order(buy(1.0), FLAT, MARKET, now_ms=T0)
    assert d.action == "reject" and d.rule == "max_position" and d.state is HALTED
    assert kinds(d.events) == ["risk_error", "risk_state", "risk_decision"]
    assert "ZeroDivisionError" in d.events[0][2]["error"]
    assert_json(d.events)


def test_a_check_returning_garbage_halts(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = RiskEngine(RiskSpec(portfolio=PortfolioRisk(drawdown=DrawdownBreaker(limit=0.1))))
    monkeypatch.setattr(checks, "check_drawdown", lambda *a: True)
    engine.on_bar(FLAT, MARKET, now_ms=T0)
    assert engine.state is HALTED and "not a Verdict" in engine.reason


# -- persistence and configuration ----------------------------------------------------------


def test_snapshot_round_trip() -> None:
    engine = RiskEngine(
        RiskSpec(
            portfolio=PortfolioRisk(drawdown=DrawdownBreaker(limit=0.1), var=VarBreaker(limit=0.5)),
            order=OrderRisk(max_orders=2),
        )
    )
    engine.on_bar(PortfolioView(1000.0), MARKET, now_ms=T0)
    engine.on_bar(PortfolioView(800.0), MARKET, now_ms=T0 + 1)
    engine.check_order(sell(1.0), LONG, MARKET, now_ms=T0 + 2)
    snap = json.loads(json.dumps(engine.snapshot()))
    other = RiskEngine(engine.config)
    other.restore(snap)
    assert (other.state, other.reason, other.holds) == (engine.state, engine.reason, engine.holds)
    assert other.snapshot() == snap


def test_live_risk_config_from_hydra() -> None:
    """The deprecated flat view still reads a composed config, and says it is deprecated."""
    with pytest.warns(RiskConfigDeprecationWarning, match="live_risk_config is deprecated"):
        none = live_risk_config(compose_config(["risk=none"]))
    with pytest.warns(RiskConfigDeprecationWarning, match="LiveRiskConfig is deprecated"):
        assert none.enabled == [] and none == LiveRiskConfig()
    conservative = compose_config(["risk=conservative"])
    with pytest.warns(RiskConfigDeprecationWarning):
        cfg = live_risk_config(conservative)
    assert cfg.max_drawdown == 0.2 and cfg.daily_loss_action == "reduce"
    assert {"max_drawdown", "max_position", "price_band", "max_data_age_s"} <= set(cfg.enabled)
    # The whole spec enters the id: a backtest evaluates the drawdown limit too (docs/risk.md).
    changed = compose_config(["risk=conservative", "risk.portfolio.drawdown.limit=0.1"])
    assert config_id(changed) != config_id(conservative)
    flatten = compose_config(["risk=conservative", "risk.portfolio.drawdown.flatten_at=0.1"])
    assert config_id(flatten) != config_id(conservative)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("risk.live.max_drawdown=1.5", "risk.live.max_drawdown"),
        ("risk.live.var_confidence=1.0", "risk.live.var_confidence"),
        ("risk.live.drawdown_action=panic", "risk.live.drawdown_action"),
        ("risk.live.max_position=-1", "risk.live.max_position"),
        ("risk.live.var_window=1", "risk.live.var_window"),
        ("risk.live.max_orders=0", "risk.live.max_orders"),
    ],
)
def test_invalid_live_risk_values_name_the_key(override: str, key: str) -> None:
    """The deprecated ``risk.live`` block: a bad value is still refused by its old name."""
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        live_risk_config(compose_config([override]))


def test_the_notional_per_day_is_counted_refused_rolled_and_carried_across_a_restart() -> None:
    # 250 quote of additions per UTC day at 100: 1 unit, 1 unit, then the half unit left
    # (shrunk), then nothing — the same rule and numbers as the backtest kernel's
    # (test_backtest_risk); a sale that reduces passes and counts nothing; a new day starts
    # from 0; a snapshot and a log rebuilt from its decisions both carry the day's spend.
    spec = RiskSpec(order=OrderRisk(max_notional_per_day=250.0))
    engine = RiskEngine(spec)
    pos = 0.0
    got = []
    for i in range(4):
        d = engine.check_order(buy(1.0), PortfolioView(10_000.0, {BTC: pos}), MARKET,
                               now_ms=T0 + i)  # fmt: skip
        pos += d.qty
        got.append((d.action, d.qty, d.rule, d.value, d.limit))
        assert_json(d.events)
    assert got == [
        ("approve", 1.0, None, None, None),
        ("approve", 1.0, None, None, None),
        ("shrink", pytest.approx(0.5), "max_notional_per_day", pytest.approx(300.0), 250.0),
        ("reject", 0.0, "max_notional_per_day", pytest.approx(350.0), 250.0),
    ]
    assert engine.notional_today(T0 + 10) == pytest.approx(250.0)
    payloads: list[dict[str, Any]] = []
    reduce = engine.check_order(sell(1.0), PortfolioView(10_000.0, {BTC: pos}), MARKET,
                                now_ms=T0 + 5)  # fmt: skip
    assert reduce.action == "approve" and engine.notional_today(T0 + 6) == pytest.approx(250.0)
    assert reduce.events[-1][2]["notional_added"] == 0.0
    snap = json.loads(json.dumps(engine.snapshot()))
    other = RiskEngine(spec)
    other.restore(snap)
    assert other.check_order(buy(1.0), FLAT, MARKET, now_ms=T0 + 7).rule == "max_notional_per_day"
    # a snapshot from before the rule existed restores with nothing counted
    old = {k: v for k, v in snap.items() if not k.startswith("notional")}
    fresh = RiskEngine(spec)
    fresh.restore(old)
    assert fresh.notional_today(T0 + 7) == 0.0
    # rebuilt from the recorded decisions (a log without snapshots: the Solana sniper)
    logged = RiskEngine(spec)
    first = RiskEngine(spec)
    for i in range(3):
        d = first.check_order(buy(1.0), FLAT, MARKET, now_ms=T0 + i)
        for kind, _, p in d.events:
            if kind == "risk_decision":
                payloads.append(p)
                logged.refold(p)
    assert [p["notional_added"] for p in payloads] == pytest.approx([100.0, 100.0, 50.0])
    assert logged.notional_today(T0 + 9) == pytest.approx(250.0)
    assert logged.check_order(buy(1.0), FLAT, MARKET, now_ms=T0 + 9).action == "reject"
    # the next UTC day starts again
    d = engine.check_order(buy(2.0), FLAT, MARKET, now_ms=T0 + DAY_MS)
    assert (d.action, d.qty) == ("approve", 2.0)
    assert engine.notional_today(T0 + DAY_MS) == pytest.approx(200.0)
