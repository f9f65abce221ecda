"""The pure risk checks: each blocks what it must and lets through what it must."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grekko_research.risk import checks as C

FAST = settings(max_examples=60, deadline=None)
prices = st.floats(1e-3, 1e5)
equities = st.floats(10.0, 1e7)
fractions = st.floats(0.01, 3.0)
signed_qty = st.floats(-1e3, 1e3).filter(lambda x: abs(x) > 1e-6)
positions = st.floats(-1e3, 1e3)


# -- precision and notional ---------------------------------------------------------------


@FAST
@given(k=st.integers(1, 10**6), lot=st.sampled_from([1e-8, 1e-5, 0.001, 0.01, 0.1, 1.0, 5.0]))
def test_quantity_on_the_lot_grid_passes_and_off_it_is_rounded_down(k: int, lot: float) -> None:
    on = C.check_qty_precision(k * lot, lot)
    assert on.ok and on.rule == "qty_precision" and on.limit == lot
    off = C.check_qty_precision((k + 0.5) * lot, lot)
    assert not off.ok
    assert off.allowed <= (k + 0.5) * lot
    assert off.allowed == pytest.approx(k * lot, rel=1e-9)
    neg = C.check_qty_precision(-(k + 0.5) * lot, lot)
    assert neg.allowed == pytest.approx(-k * lot, rel=1e-9)


@FAST
@given(k=st.integers(1, 10**7), tick=st.sampled_from([0.01, 0.1, 0.5, 1.0, 1e-4]))
def test_price_on_the_tick_grid(k: int, tick: float) -> None:
    assert C.check_price_precision(k * tick, tick).ok
    assert not C.check_price_precision((k + 0.3) * tick, tick).ok


@FAST
@given(qty=signed_qty, price=prices, limit=st.floats(1.0, 1e5))
def test_notional_bounds(qty: float, price: float, limit: float) -> None:
    notional = abs(qty) * price
    lo = C.check_min_notional(qty, price, limit)
    assert lo.ok == (notional >= limit) and lo.value == notional
    hi = C.check_max_notional(qty, price, limit)
    assert hi.ok == (notional <= limit)
    if not hi.ok:
        assert abs(hi.allowed) * price <= limit * (1 + 1e-12)
        assert math.copysign(1, hi.allowed) == math.copysign(1, qty)


# -- exposure -----------------------------------------------------------------------------


def _adds(position: float, qty: float) -> bool:
    new = position + qty
    return not (position * new >= 0 and abs(new) <= abs(position))


@FAST
@given(pos=positions, qty=signed_qty, price=prices, equity=equities, limit=fractions)
def test_max_position_caps_what_an_order_adds(
    pos: float, qty: float, price: float, equity: float, limit: float
) -> None:
    v = C.check_max_position(pos, qty, price, equity, limit)
    assert v.ok == (abs(pos + qty) * price <= limit * equity)
    assert v.value == pytest.approx(abs(pos + qty) * price / equity)
    if v.ok:
        assert v.allowed == qty
        return
    after = pos + v.allowed
    if _adds(pos, v.allowed) and abs(after) > abs(pos):
        assert abs(after) * price <= limit * equity * (1 + 1e-9)
    # never a sale forced by the cap, never beyond the order
    assert abs(v.allowed) <= abs(qty) * (1 + 1e-12) and v.allowed * qty >= 0


@FAST
@given(
    other=st.floats(0, 1e6),
    pos=positions,
    qty=signed_qty,
    price=prices,
    limit=st.floats(1.0, 1e6),
)
def test_gross_exposure(other: float, pos: float, qty: float, price: float, limit: float) -> None:
    v = C.check_gross_exposure(other, pos, qty, price, limit)
    gross = other + abs(pos + qty) * price
    assert v.ok == (gross <= limit) and v.value == gross
    if not v.ok and abs(pos + v.allowed) > abs(pos):
        assert other + abs(pos + v.allowed) * price <= limit * (1 + 1e-9)


@FAST
@given(
    other=st.floats(-1e6, 1e6),
    pos=positions,
    qty=signed_qty,
    price=prices,
    limit=st.floats(1.0, 1e6),
)
def test_net_exposure_blocks_growth_but_lets_hedges_through(
    other: float, pos: float, qty: float, price: float, limit: float
) -> None:
    v = C.check_net_exposure(other, pos, qty, price, limit)
    before = abs(other + pos * price)
    after = abs(other + (pos + qty) * price)
    assert v.ok == (after <= limit or after <= before)
    if not v.ok and not _adds(pos, qty):
        assert v.allowed == qty  # a reduction is never cut, even when it unwinds a hedge
    elif not v.ok and _adds(pos, v.allowed):  # what still adds exposure fits
        capped = abs(other + (pos + v.allowed) * price)
        assert capped <= max(limit, before) * (1 + 1e-9) + 1e-6


@FAST
@given(other=st.floats(0, 1e6), pos=positions, qty=signed_qty, price=prices, equity=equities)
def test_leverage(other: float, pos: float, qty: float, price: float, equity: float) -> None:
    v = C.check_leverage(other, pos, qty, price, equity, 2.0)
    gross = other + abs(pos + qty) * price
    assert v.ok == (gross <= 2.0 * equity)
    assert v.value == pytest.approx(gross / equity)
    if not v.ok and abs(pos + v.allowed) > abs(pos):
        assert other + abs(pos + v.allowed) * price <= 2.0 * equity * (1 + 1e-9)


def test_exposure_checks_fail_on_non_positive_equity() -> None:
    assert not C.check_max_position(0, 1, 100, 0.0, 0.5).ok
    assert C.check_max_position(0, 1, 100, 0.0, 0.5).allowed == 0
    assert not C.check_leverage(0, 0, 1, 100, -5.0, 1.0).ok


# -- order rate and price band ------------------------------------------------------------


@FAST
@given(
    gaps=st.lists(st.integers(0, 4_000), min_size=1, max_size=80),
    limit=st.integers(1, 6),
    window_s=st.sampled_from([1, 5, 10]),
)
def test_order_rate_never_lets_more_than_n_through_in_any_window(
    gaps: list[int], limit: int, window_s: int
) -> None:
    times = np.cumsum(gaps)
    approved: list[int] = []
    for t in times:
        v = C.check_order_rate(approved, int(t), window_s, limit)
        in_window = sum(1 for a in approved if t - window_s * 1000 < a <= t)
        assert v.value == in_window + 1 and v.limit == limit
        assert v.ok == (in_window < limit)  # and it lets through whatever fits
        if v.ok:
            approved.append(int(t))
    for end in approved:
        assert sum(1 for a in approved if end - window_s * 1000 < a <= end) <= limit


@FAST
@given(ref=prices, move=st.floats(-0.5, 0.5), band=st.floats(0.001, 0.3))
def test_price_band(ref: float, move: float, band: float) -> None:
    price = ref * (1 + move)
    v = C.check_price_band(price, ref, band)
    assert v.ok == (abs(price / ref - 1) <= band)


@pytest.mark.parametrize("ref", [0.0, -1.0, math.nan])
def test_price_band_without_a_reference_fails(ref: float) -> None:
    assert not C.check_price_band(100.0, ref, 0.1).ok


# -- portfolio ----------------------------------------------------------------------------

equity_paths = st.lists(st.floats(1.0, 1e6), min_size=1, max_size=60)


@FAST
@given(path=equity_paths, limit=st.floats(0.01, 0.9))
def test_drawdown_breaches_exactly_when_peak_to_current_exceeds_the_limit(
    path: list[float], limit: float
) -> None:
    peak = -math.inf
    for e in path:
        peak = max(peak, e)
        v = C.check_drawdown(e, peak, limit)
        assert v.ok == (e >= (1 - limit) * peak)
        assert v.value == pytest.approx(1 - e / peak)


def test_daily_loss() -> None:
    assert C.check_daily_loss(95.0, 100.0, 0.05).ok
    v = C.check_daily_loss(94.9, 100.0, 0.05)
    assert not v.ok and v.value == pytest.approx(0.051) and v.limit == 0.05


def _var_by_hand(equity: np.ndarray, window: int, confidence: float) -> float:
    r = np.sort(equity[-window:] / equity[-window - 1 : -1] - 1)
    k = max(1, math.ceil(Fraction(window) * (1 - Fraction(str(confidence)))))
    return float(-r[k - 1])


@FAST
@given(
    returns=st.lists(st.floats(-0.2, 0.2), min_size=30, max_size=120),
    window=st.integers(10, 29),
    confidence=st.sampled_from([0.9, 0.95, 0.975, 0.99]),
)
def test_historical_var_is_the_empirical_quantile(
    returns: list[float], window: int, confidence: float
) -> None:
    equity = 1000 * np.cumprod(1 + np.asarray(returns))
    var = _var_by_hand(equity, window, confidence)
    v = C.check_var(equity, window, confidence, 0.05)
    assert v.value == var
    assert v.ok == (var <= 0.05)


def test_var_passes_until_the_window_is_full_and_fails_on_bad_equity() -> None:
    assert C.check_var([100.0, 50.0], 5, 0.99, 0.01).ok
    assert math.isnan(C.check_var([100.0, 50.0], 5, 0.99, 0.01).value)
    assert not C.check_var([100, 100, 100, math.nan, 100, 100], 5, 0.99, 0.01).ok
    crash = [100.0] * 20 + [60.0]
    v = C.check_var(crash, 20, 0.95, 0.1)
    assert not v.ok and v.value == pytest.approx(0.4)


@FAST
@given(
    logret=st.lists(st.floats(-0.1, 0.1), min_size=25, max_size=60),
    window=st.integers(2, 24),
)
def test_realised_volatility_matches_numpy(logret: list[float], window: int) -> None:
    closes = 100 * np.exp(np.cumsum([0.0, *logret]))
    expected = np.std(np.diff(np.log(closes))[-window:], ddof=1) * math.sqrt(8760)
    v = C.check_volatility(closes, window, 8760, 0.8)
    assert v.value == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert v.ok == (v.value <= 0.8)


def test_volatility_breaker_trips_on_a_turbulent_window() -> None:
    calm = 100 * np.exp(np.cumsum(np.full(30, 0.0005)))
    wild = calm.copy()
    wild[-5:] *= np.array([1.05, 0.94, 1.07, 0.93, 1.06])
    assert C.check_volatility(calm, 24, 8760, 1.0).ok
    assert not C.check_volatility(wild, 24, 8760, 1.0).ok
    assert C.check_volatility(calm[:10], 24, 8760, 1.0).ok  # too little data yet


@FAST
@given(
    closes=st.lists(st.floats(1.0, 1e4), min_size=2, max_size=40),
    window=st.integers(1, 12),
    limit=st.floats(0.01, 0.5),
)
def test_price_move(closes: list[float], window: int, limit: float) -> None:
    v = C.check_price_move(closes, window, limit)
    if len(closes) <= window:
        assert v.ok and math.isnan(v.value)
        return
    move = abs(closes[-1] / closes[-1 - window] - 1)
    assert v.value == move and v.ok == (move <= limit)


# -- operational --------------------------------------------------------------------------


def test_stale_data() -> None:
    assert C.check_stale_data(100_000, 40_000, 60).ok
    v = C.check_stale_data(100_000, 39_000, 60)
    assert not v.ok and v.value == 61.0 and v.limit == 60
    assert not C.check_stale_data(100_000, None, 60).ok  # no data at all


def test_ws_down() -> None:
    assert C.check_ws_down(100_000, None, 30).ok
    assert C.check_ws_down(100_000, 70_000, 30).ok
    v = C.check_ws_down(100_000, 69_000, 30)
    assert not v.ok and v.value == 31.0


@FAST
@given(times=st.lists(st.integers(0, 600_000), max_size=40), limit=st.integers(0, 8))
def test_error_rate(times: list[int], limit: int) -> None:
    now = 600_000
    v = C.check_error_rate(times, now, 300, limit)
    count = sum(1 for t in times if now - 300_000 < t <= now)
    assert v.value == count and v.ok == (count <= limit)


def test_clock_skew() -> None:
    assert C.check_clock_skew(-900, 1000).ok
    v = C.check_clock_skew(-1500, 1000)
    assert not v.ok and v.value == 1500
    assert not C.check_clock_skew(None, 1000).ok  # unknown skew fails


@pytest.mark.parametrize(
    "verdict",
    [
        lambda: C.check_drawdown(math.nan, 100, 0.1),
        lambda: C.check_daily_loss(math.nan, 100, 0.1),
        lambda: C.check_max_position(0, 1, math.nan, 100, 0.5),
        lambda: C.check_max_position(0, 1, 10, math.nan, 0.5),
        lambda: C.check_leverage(math.nan, 0, 1, 10, 100, 1),
        lambda: C.check_gross_exposure(math.nan, 0, 1, 10, 100),
        lambda: C.check_min_notional(1, math.nan, 10),
        lambda: C.check_max_notional(1, math.nan, 10),
        lambda: C.check_price_move([math.nan, 100.0], 1, 0.1),
        lambda: C.check_volatility([100.0, math.nan, 100.0], 2, 8760, 1.0),
    ],
)
def test_nan_inputs_fail_closed(verdict) -> None:
    assert not verdict().ok
