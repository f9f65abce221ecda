"""The pure risk evaluation: order decisions (each refusal and reduction), the breakers and
the hold state machine, driven with bar times as a backtest would, and the numba build."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grekko_research.risk import evaluate as E
from grekko_research.risk.breakers import market_limits, portfolio_limits
from grekko_research.risk.spec import (
    DailyLossBreaker,
    DrawdownBreaker,
    MarketRisk,
    OrderRisk,
    PortfolioRisk,
    PriceMoveBreaker,
    RiskSpec,
    VarBreaker,
    VolatilityBreaker,
)
from grekko_research.risk.state import (
    ACTIVE,
    DAY_MS,
    FOREVER,
    HALTED,
    REDUCING,
    TradingState,
    hold_lifts_nb,
    mark_nb,
    merge_hold_nb,
)
from grekko_research.risk.var import VarWindow

T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY_MS  # a UTC midnight
NONE = np.zeros(0)


def state(
    code: int = ACTIVE,
    position: float = 0.0,
    equity: float = 10_000.0,
    other_gross: float = 0.0,
    other_net: float = 0.0,
    times: np.ndarray = NONE,
    notional_today: float = 0.0,
) -> E.OrderState:
    return E.OrderState(code, position, equity, other_gross, other_net, times, notional_today)


def order(
    qty: float,
    side: float = 1.0,
    *,
    price: float = math.nan,
    last: float = 100.0,
    limit: bool = False,
    lot: float = 0.0,
    tick: float = 0.0,
    venue_min: float = 0.0,
    protective: bool = False,
) -> E.OrderView:
    return E.OrderView(qty, side, price, last, limit, lot, tick, venue_min, float(T0), protective)


def decide(spec: RiskSpec, st_: E.OrderState, od: E.OrderView) -> tuple[str, float, str]:
    v = E.decide_order(spec, st_, od)
    return E.ACTION_NAMES[v.action], v.qty, E.ORDER_RULES[v.rule]


OFF = RiskSpec()


# -- refusals ------------------------------------------------------------------------------


def test_without_limits_every_valid_order_passes_whole() -> None:
    assert decide(OFF, state(), order(3.0)) == ("approve", 3.0, "")
    assert decide(OFF, state(), order(3.0, -1.0)) == ("approve", -3.0, "")


def test_halted_refuses_everything_even_a_reduction() -> None:
    assert decide(OFF, state(HALTED, position=5.0), order(1.0, -1.0))[0::2] == ("reject", "halted")


@pytest.mark.parametrize("code", [ACTIVE, REDUCING, HALTED])
def test_a_protective_reduction_passes_every_state_and_the_order_rate(code: int) -> None:
    # The engine's drawdown flatten (or a kill switch's) after a breaker halted trading: the
    # risk system's own exit must go through, or the account keeps the exposure (the 20 %
    # halt used to refuse the 25 % flatten). The order rate is full: it still passes.
    spec = RiskSpec(order=OrderRisk(max_orders=1, order_window_s=60, max_position=0.1))
    full = np.array([T0 - 1_000.0])
    long, short = state(code, 5.0, times=full), state(code, -5.0, times=full)
    for st_, side in ((long, -1.0), (short, 1.0)):
        assert decide(spec, st_, order(5.0, side, protective=True)) == ("approve", side * 5.0, "")
        assert decide(spec, st_, order(2.0, side, protective=True)) == ("approve", side * 2.0, "")
        for nb_st in (st_, st_._replace(order_times_ms=NONE)):
            v = E.decide_order_nb(spec.order_limits(), nb_st, order(5.0, side, protective=True))
            assert (int(v.action), float(v.qty)) == (E.APPROVE, side * 5.0)
    # The strategy's own exit gets no such pass: HALTED refuses it, the full rate too.
    want = "halted" if code == HALTED else "order_rate"
    assert decide(spec, long, order(5.0, -1.0))[0::2] == ("reject", want)


def test_a_protective_order_that_adds_or_reverses_gets_no_pass() -> None:
    held = state(HALTED, position=5.0)
    assert decide(OFF, held, order(8.0, -1.0, protective=True))[0::2] == ("reject", "halted")
    assert decide(OFF, held, order(1.0, 1.0, protective=True))[0::2] == ("reject", "halted")
    assert decide(OFF, state(HALTED), order(1.0, -1.0, protective=True))[0::2] == (
        "reject",
        "halted",
    )  # flat: nothing to reduce
    nan_pos = state(HALTED, position=math.nan)  # fails closed
    assert decide(OFF, nan_pos, order(1.0, -1.0, protective=True))[0::2] == ("reject", "halted")
    reducing = state(REDUCING, position=5.0)  # a reversal is cut to its closing part, as ever
    assert decide(OFF, reducing, order(8.0, -1.0, protective=True)) == ("shrink", -5.0, "reducing")
    assert decide(OFF, held, order(math.nan, -1.0, protective=True))[0::2] == ("reject", "halted")


@pytest.mark.parametrize("qty", [0.0, -1.0, math.nan, math.inf])
def test_a_quantity_that_is_not_positive_is_refused(qty: float) -> None:
    assert decide(OFF, state(), order(qty))[0::2] == ("reject", "invalid_order")


def test_reducing_refuses_additions_and_cuts_a_reversal_to_its_closing_part() -> None:
    long = state(REDUCING, position=5.0)
    assert decide(OFF, long, order(1.0))[0::2] == ("reject", "reducing")
    assert decide(OFF, long, order(2.0, -1.0)) == ("approve", -2.0, "")
    assert decide(OFF, long, order(8.0, -1.0)) == ("shrink", -5.0, "reducing")
    assert decide(OFF, state(REDUCING), order(1.0))[0::2] == ("reject", "reducing")


def test_price_band_and_tick_refuse_limit_orders_only() -> None:
    spec = RiskSpec(order=OrderRisk(price_band=0.05, precision=True))
    assert decide(spec, state(), order(1.0, price=106.0, limit=True))[0::2] == (
        "reject",
        "price_band",
    )
    assert decide(spec, state(), order(1.0, price=106.0))[0] == "approve"  # market order
    v = E.decide_order(spec, state(), order(1.0, price=100.005, limit=True, tick=0.01))
    assert (E.ORDER_RULES[v.rule], v.value, v.limit) == ("price_precision", 100.005, 0.01)
    no_last = order(1.0, price=100.0, last=math.nan, limit=True)
    assert decide(spec, state(), no_last)[0::2] == ("reject", "price_band")  # fails closed


def test_order_rate_counts_the_window_only() -> None:
    spec = RiskSpec(order=OrderRisk(max_orders=2, order_window_s=60))
    two = np.array([T0 - 30_000.0, T0 - 10_000.0])
    v = E.decide_order(spec, state(times=two), order(1.0))
    assert (E.ORDER_RULES[v.rule], v.value, v.limit) == ("order_rate", 3.0, 2.0)
    old = np.array([T0 - 60_000.0, T0 - 10_000.0])  # one left the window (now − 60 s excluded)
    assert decide(spec, state(times=old), order(1.0))[0] == "approve"


def test_no_price_refuses_an_addition_but_not_a_reduction() -> None:
    spec = RiskSpec(order=OrderRisk(max_position=0.5))
    assert decide(spec, state(), order(1.0, last=math.nan))[0::2] == ("reject", "no_price")
    assert decide(spec, state(position=5.0), order(1.0, -1.0, last=math.nan))[0] == "approve"


def test_min_notional_takes_the_larger_of_ours_and_the_venues() -> None:
    spec = RiskSpec(order=OrderRisk(min_notional=50.0))
    assert decide(spec, state(), order(0.4))[0::2] == ("reject", "min_notional")  # 40 < 50
    assert decide(spec, state(), order(0.6))[0] == "approve"
    assert decide(spec, state(), order(0.6, venue_min=100.0))[0::2] == ("reject", "min_notional")
    assert decide(spec, state(position=1.0), order(0.4, -1.0))[0] == "approve"  # reducing


# -- reductions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "st_", "qty", "rule"),
    [
        (RiskSpec(order=OrderRisk(max_notional=2500.0)), state(), 25.0, "max_notional"),
        (RiskSpec(order=OrderRisk(max_position=0.5)), state(position=10.0), 40.0, "max_position"),
        (RiskSpec(order=OrderRisk(max_gross_exposure=4000.0)), state(other_gross=1000.0, other_net=-1000.0), 30.0, "gross_exposure"),
        (RiskSpec(order=OrderRisk(max_net_exposure=1500.0)), state(other_gross=1000.0, other_net=-1000.0), 25.0, "net_exposure"),
        (RiskSpec(order=OrderRisk(max_leverage=0.5)), state(other_gross=1000.0), 40.0, "leverage"),
    ],
)  # fmt: skip
def test_each_cap_shrinks_an_addition_to_fit(
    spec: RiskSpec, st_: E.OrderState, qty: float, rule: str
) -> None:
    assert decide(spec, st_, order(100.0)) == ("shrink", qty, rule)
    assert decide(spec, st_, order(qty * 0.5))[0] == "approve"


def test_a_cap_never_forces_a_sale_and_a_full_position_gets_nothing() -> None:
    spec = RiskSpec(order=OrderRisk(max_position=0.5))
    assert decide(spec, state(position=60.0), order(1.0))[0::2] == ("reject", "max_position")


def test_lot_precision_rounds_down_and_can_leave_nothing() -> None:
    spec = RiskSpec(order=OrderRisk(precision=True))
    assert decide(spec, state(), order(1.2345, lot=0.01)) == ("shrink", 1.23, "qty_precision")
    assert decide(spec, state(), order(0.004, lot=0.01))[0::2] == ("reject", "qty_precision")


def test_caps_compose_in_order_the_last_one_that_shrank_names_the_verdict() -> None:
    spec = RiskSpec(order=OrderRisk(max_notional=5000.0, max_position=0.3, precision=True))
    assert decide(spec, state(), order(100.0, lot=0.7)) == (
        "shrink",
        pytest.approx(29.4),
        "qty_precision",
    )
    assert decide(spec, state(), order(100.0)) == ("shrink", pytest.approx(30.0), "max_position")


def test_notional_per_day_shrinks_to_what_is_left_then_refuses() -> None:
    spec = RiskSpec(order=OrderRisk(max_notional_per_day=1_000.0))
    assert decide(spec, state(notional_today=0.0), order(3.0)) == ("approve", 3.0, "")
    # 700 spent: 300 left of the day's 1 000 buys 3 units at 100, not 5
    act, qty, rule = decide(spec, state(notional_today=700.0), order(5.0))
    assert (act, rule) == ("shrink", "max_notional_per_day") and qty == pytest.approx(3.0)
    v = E.decide_order(spec, state(notional_today=700.0), order(5.0))
    assert (v.value, v.limit) == (pytest.approx(1_200.0), 1_000.0)  # spent + this order
    assert decide(spec, state(notional_today=1_000.0), order(1.0)) == (
        "reject", 0.0, "max_notional_per_day",
    )  # fmt: skip
    # a reduction is never refused by the budget; a short adds exposure and counts
    assert decide(spec, state(position=5.0, notional_today=1e9), order(5.0, -1.0)) == (
        "approve", -5.0, "",
    )  # fmt: skip
    assert decide(spec, state(notional_today=1e9), order(1.0, -1.0))[2] == "max_notional_per_day"
    # an unknown spend fails closed
    assert decide(spec, state(notional_today=math.nan), order(1.0))[0::2] == (
        "reject", "max_notional_per_day",
    )  # fmt: skip
    for st_, od in ((state(notional_today=700.0), order(5.0)),
                    (state(notional_today=1e9), order(1.0)),
                    (state(notional_today=math.nan), order(1.0))):  # fmt: skip
        nb = E.decide_order_nb(spec.order_limits(), st_, od)
        py = E.decide_order(spec, st_, od)
        assert (int(nb.action), int(nb.rule), float(nb.qty)) == (py.action, py.rule, py.qty)


def test_the_days_notional_rolls_at_utc_midnight_and_counts_additions_only() -> None:
    day, spent = E.roll_day_notional_nb(-1, 0.0, float(T0 + 5))
    assert (day, spent) == (T0 // DAY_MS, 0.0)
    assert E.roll_day_notional_nb(day, 400.0, float(T0 + DAY_MS - 1)) == (day, 400.0)
    assert E.roll_day_notional_nb(day, 400.0, float(T0 + DAY_MS)) == (day + 1, 0.0)
    assert E.added_notional_nb(0.0, 2.0, 50.0, 99.0) == 100.0  # the order's price
    assert E.added_notional_nb(0.0, -2.0, math.nan, 99.0) == 198.0  # no price: the last
    assert E.added_notional_nb(5.0, -2.0, 50.0, 99.0) == 0.0  # reduces: not counted
    assert E.added_notional_nb(1.0, -3.0, 50.0, 99.0) == 150.0  # a reversal counts whole
    assert E.added_notional_nb(0.0, 0.0, 50.0, 99.0) == 0.0  # refused


def test_a_failing_guard_propagates_so_the_caller_can_fail_closed() -> None:
    def guard(rule: str, fn: object, *args: object) -> object:
        raise RuntimeError(rule)

    spec = RiskSpec(order=OrderRisk(max_position=0.5))
    with pytest.raises(RuntimeError, match="max_position"):
        E.decide_order(spec, state(), order(1.0), guard=guard)


# -- the numba build is the same decision ----------------------------------------------------

_sizes = st.floats(0.001, 200.0)
_limits = st.one_of(st.none(), st.floats(0.05, 5.0))


@settings(max_examples=200, deadline=None)
@given(
    qty=_sizes,
    side=st.sampled_from([1.0, -1.0]),
    position=st.floats(-50.0, 50.0),
    trading=st.sampled_from([ACTIVE, REDUCING, HALTED]),
    max_position=_limits,
    max_leverage=_limits,
    notional=st.one_of(st.none(), st.floats(100.0, 10_000.0)),
    lot=st.sampled_from([0.0, 0.01, 0.3]),
    limit=st.booleans(),
    price=st.floats(90.0, 110.0),
    recent=st.integers(0, 4),
    max_orders=st.sampled_from([None, 2, 3]),
    protective=st.booleans(),
)
def test_the_numba_build_decides_exactly_as_the_python_one(
    *,
    qty: float,
    side: float,
    position: float,
    trading: int,
    max_position: float | None,
    max_leverage: float | None,
    notional: float | None,
    lot: float,
    limit: bool,
    price: float,
    recent: int,
    max_orders: int | None,
    protective: bool,
) -> None:
    spec = RiskSpec(
        order=OrderRisk(
            precision=True,
            min_notional=20.0,
            max_notional=notional,
            max_position=max_position,
            max_leverage=max_leverage,
            max_net_exposure=3000.0,
            price_band=0.05,
            max_orders=max_orders,
        )
    )
    times = T0 - 1000.0 * np.arange(1, recent + 1)  # orders 1, 2 … s ago: all in the window
    st_ = state(trading, position, 10_000.0, 500.0, -200.0, times)
    price = round(price, 2)  # on the tick grid half the time (below), so later checks run
    tick = 0.01 if limit and qty > 1.0 else 0.0
    od = order(qty, side, price=price, limit=limit, lot=lot, tick=tick, protective=protective)
    py = E.decide_order(spec, st_, od)
    nb = E.decide_order_nb(spec.order_limits(), st_, od)
    assert (py.action, py.rule) == (int(nb.action), int(nb.rule))
    assert py.qty == pytest.approx(float(nb.qty), rel=1e-12, abs=1e-12)


# -- breakers and holds, driven by bar times ---------------------------------------------------


def test_hold_transitions() -> None:
    assert merge_hold_nb(REDUCING, 100, HALTED, 50) == (HALTED, 100)  # severity up, never shorter
    assert merge_hold_nb(HALTED, 100, REDUCING, 200) == (HALTED, 200)
    assert merge_hold_nb(REDUCING, FOREVER, REDUCING, 200) == (REDUCING, FOREVER)
    assert merge_hold_nb(REDUCING, 100, REDUCING, FOREVER) == (REDUCING, FOREVER)
    assert not hold_lifts_nb(FOREVER, False, True, 10**15)  # only resume
    assert not hold_lifts_nb(100, False, True, 99)
    assert hold_lifts_nb(100, False, False, 100)  # a timed hold lifts at its time
    assert not hold_lifts_nb(100, True, False, 200)  # a level hold needs to be seen clear
    assert hold_lifts_nb(100, True, True, 200)
    assert TradingState.of(HALTED) is TradingState.HALTED and TradingState.REDUCING.code == REDUCING


def test_mark_tracks_the_peak_and_the_days_first_equity() -> None:
    peak, day, start = mark_nb(math.nan, -1, math.nan, 100.0, T0 + 5)
    assert (peak, day, start) == (100.0, T0 // DAY_MS, 100.0)
    peak, day, start = mark_nb(peak, day, start, 120.0, T0 + 10)
    assert (peak, start) == (120.0, 100.0)
    peak, day, start = mark_nb(peak, day, start, 90.0, T0 + DAY_MS)
    assert (peak, day, start) == (120.0, T0 // DAY_MS + 1, 90.0)


@pytest.mark.parametrize(
    ("kind", "cooldown", "until", "level"),
    [
        (E.BREAKER_DRAWDOWN, math.nan, FOREVER, False),
        (E.BREAKER_DRAWDOWN, 60.0, T0 + 60_000, True),
        (E.BREAKER_DAILY_LOSS, math.nan, T0 + DAY_MS, False),
        (E.BREAKER_VAR, math.nan, FOREVER, True),
        (E.BREAKER_VAR, 1.5, T0 + 1500, True),
        (E.BREAKER_MARKET, 3600.0, T0 + 3_600_000, True),
        (E.BREAKER_OPS, math.nan, T0, True),
    ],
)
def test_how_each_breach_lifts(kind: int, cooldown: float, until: int, level: bool) -> None:
    assert E.breach_hold_nb(kind, cooldown, T0) == (until, level)


def test_portfolio_breakers_return_their_holds() -> None:
    spec = RiskSpec(
        portfolio=PortfolioRisk(
            drawdown=DrawdownBreaker(limit=0.1, action="halt"),
            daily_loss=DailyLossBreaker(limit=0.05, action="reduce"),
            var=VarBreaker(limit=0.01, window=2, action="reduce", cooldown_s=None),
        )
    )
    equities = np.array([100.0, 95.0, 85.0])
    found, seen = E.evaluate_portfolio(spec, 85.0, 100.0, 100.0, equities, T0)
    got = {b.key: (b.state, b.until_ms, b.level) for b in found}
    assert got == {
        "drawdown": (HALTED, FOREVER, False),
        "daily_loss": (REDUCING, T0 + DAY_MS, False),
        "var": (REDUCING, FOREVER, True),
    }
    assert seen == {"var": False}
    found, seen = E.evaluate_portfolio(spec, 99.0, 100.0, 100.0, None, T0)  # a tick: no VaR
    assert found == [] and seen == {}


def test_market_breakers_have_their_own_action_and_cooldown() -> None:
    spec = RiskSpec(
        market=MarketRisk(
            volatility=VolatilityBreaker(limit=0.1, window=3, action="halt", cooldown_s=10.0),
            price_move=PriceMoveBreaker(limit=0.05, window=2, cooldown_s=20.0),
        )
    )
    closes = np.array([100.0, 110.0, 95.0, 120.0])
    found, seen = E.evaluate_market(spec, "BTC", closes, 8760.0, T0)
    assert seen == {"volatility:BTC": False, "price_move:BTC": False}
    got = {b.key: (b.state, b.until_ms, b.symbol) for b in found}
    assert got == {
        "volatility:BTC": (HALTED, T0 + 10_000, "BTC"),
        "price_move:BTC": (REDUCING, T0 + 20_000, "BTC"),
    }
    found, _ = E.evaluate_market(spec, "BTC", closes, 8760.0, T0, bar=False)
    assert [b.key for b in found] == ["price_move:BTC"]  # volatility waits for the bar


def test_a_backtest_can_drive_the_drawdown_cooldown_with_bar_times() -> None:
    """The whole machine over hourly bars, holds in plain variables as a kernel keeps them."""
    spec = RiskSpec(portfolio=PortfolioRisk(drawdown=DrawdownBreaker(limit=0.1, cooldown_s=7200)))
    hour = 3_600_000
    equity = [100.0, 95.0, 89.0, 88.0, 95.0, 96.0, 97.0]
    peak, day, start = math.nan, -1, math.nan
    held, until, level = ACTIVE, 0, False
    states = []
    for i, e in enumerate(equity):
        now = T0 + i * hour
        peak, day, start = mark_nb(peak, day, start, e, now)
        found, seen = E.evaluate_portfolio(spec, e, peak, start, None, now)
        for b in found:
            if held == ACTIVE:
                held, until, level = b.state, b.until_ms, b.level
            else:
                held, until = merge_hold_nb(held, until, b.state, b.until_ms)
        if held != ACTIVE and hold_lifts_nb(until, level, seen.get("drawdown", False), now):
            held = ACTIVE
        states.append(held)
    # breached at bar 2 (11 % down), extended at bar 3, clear from bar 4 but held until
    # bar 3 + 2 h = bar 5
    assert states == [ACTIVE, ACTIVE, HALTED, HALTED, HALTED, ACTIVE, ACTIVE]


def test_operational_checks_hold_at_the_ops_action_while_failing() -> None:
    from grekko_research.risk.spec import OpsRisk

    spec = RiskSpec(ops=OpsRisk(max_data_age_s=60.0, max_clock_skew_ms=100.0, action="reduce"))
    found, seen = E.evaluate_ops(spec, T0, T0 - 120_000, None, [], 50.0)
    assert [(b.key, b.state, b.until_ms, b.level) for b in found] == [
        ("stale_data", REDUCING, T0, True)
    ]
    assert seen == {"stale_data": False, "clock_skew": True}


@settings(max_examples=80, deadline=None)
@given(
    equities=st.lists(st.floats(50.0, 150.0), min_size=1, max_size=8),
    closes=st.lists(st.floats(50.0, 150.0), min_size=1, max_size=8),
    cooldown=st.one_of(st.none(), st.floats(0.0, 100.0)),
    at_bar=st.booleans(),
    halt=st.booleans(),
)
def test_the_numba_breakers_find_what_the_python_ones_find(
    *, equities: list[float], closes: list[float], cooldown: float | None, at_bar: bool, halt: bool
) -> None:
    action = "halt" if halt else "reduce"
    spec = RiskSpec(
        portfolio=PortfolioRisk(
            drawdown=DrawdownBreaker(limit=0.1, action=action, cooldown_s=cooldown),
            daily_loss=DailyLossBreaker(limit=0.05, action=action),
            var=VarBreaker(limit=0.05, window=3, action=action, cooldown_s=cooldown),
        ),
        market=MarketRisk(
            volatility=VolatilityBreaker(limit=2.0, window=3, action=action),
            price_move=PriceMoveBreaker(limit=0.1, window=2, cooldown_s=cooldown or 0.0),
        ),
    )
    eq = np.array(equities)
    cl = np.array(closes)
    peak, start = float(eq.max()), float(eq[0])
    now = T0 + 12_345
    found, seen = E.evaluate_portfolio(spec, eq[-1], peak, start, eq if at_bar else None, now)
    window = VarWindow(3, eq).state  # the rolling window a kernel keeps
    hits = E.evaluate_portfolio_nb(portfolio_limits(spec), eq[-1], peak, start, window, at_bar, now)
    market, m_seen = E.evaluate_market(spec, "X", cl, 8760.0, now, bar=at_bar)
    m_hits = E.evaluate_market_nb(market_limits(spec), cl, 8760.0, at_bar, now)
    expected = [
        (key, int(h.state), int(h.until_ms), bool(h.level))
        for key, h in zip(
            ["drawdown", "daily_loss", "var", "volatility:X", "price_move:X"],
            [*hits, *m_hits],
            strict=True,
        )
        if h.evaluated and not h.ok
    ]
    assert [(b.key, b.state, b.until_ms, b.level) for b in [*found, *market]] == expected
    nb_seen = {
        key: bool(h.ok)
        for key, h in zip(
            ["drawdown", "daily_loss", "var", "volatility:X", "price_move:X"],
            [*hits, *m_hits],
            strict=True,
        )
        if h.evaluated and h.level
    }
    assert {**seen, **m_seen} == nb_seen
