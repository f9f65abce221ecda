"""Drift attribution on hand-made fills: each difference between a backtest and a live run lands
in its own term, the others stay 0, and the terms sum to the gap."""

from __future__ import annotations

import math

import pytest

from grekko_research.errors import ConfigError
from live.drift import (
    TERMS,
    BacktestFill,
    DriftReport,
    LiveFill,
    LiveOrder,
    Prices,
    Refusal,
    attribute,
    drift_alerts,
)

H = 3_600_000
SYM = "BTC/USDT"
RATE = 0.001
OPENS = {k * H: 100.0 + k for k in range(10)}  # bar k opens at 100 + k
BARS = Prices(H, 0, 9 * H, {SYM: OPENS}, {SYM: 109.5})


def bt_fill(side: str, decided: int, qty: float = 1.0, price: float | None = None) -> BacktestFill:
    ts = (decided + 1) * H
    p = OPENS[ts] if price is None else price
    return BacktestFill(SYM, side, qty, p, RATE * qty * p, decided * H, ts, OPENS[ts])


def live(side: str, decided: int, qty: float = 1.0, *fills: tuple[int, float, float],
         state: str = "FILLED", modelled: bool = True) -> LiveOrder:  # fmt: skip
    """fills: (ts, qty, price); default: all of ``qty`` at the next open, the engine's fee."""
    if not fills and state == "FILLED":
        fills = (((decided + 1) * H, qty, OPENS[(decided + 1) * H]),)
    return LiveOrder(
        f"{side}{decided}", SYM, side, qty, decided * H, state,
        tuple(LiveFill(ts, q, p, RATE * q * p) for ts, q, p in fills), modelled=modelled,
    )  # fmt: skip


BACKTEST = [bt_fill("buy", 1), bt_fill("sell", 5)]  # 1 BTC from 102 to 106


def check(report: DriftReport, **expected: float) -> None:
    """Every term as expected (others 0) and the terms summing to the gap."""
    for term in TERMS:
        assert report.terms[term] == pytest.approx(expected.get(term, 0.0), abs=1e-9), term
    assert math.fsum(report.terms.values()) == pytest.approx(report.gap, abs=1e-9)
    assert report.gap == pytest.approx(report.live_pnl - report.backtest_pnl, abs=0)


ROUND_TRIP = (106 - 102) - RATE * (102 + 106)  # the backtest's P&L


def test_the_same_run_has_no_drift() -> None:
    r = attribute(BACKTEST, [live("buy", 1), live("sell", 5)], BARS, BARS)
    check(r)
    assert r.backtest_pnl == pytest.approx(ROUND_TRIP) and r.gap == 0
    assert [row["cause"] for row in r.orders] == ["both", "both"]


def test_a_worse_fill_price_is_slippage() -> None:
    buy = live("buy", 1, 1.0, (2 * H, 1.0, 102.5))
    r = attribute(BACKTEST, [buy, live("sell", 5)], BARS, BARS)
    # The venue's fee is the engine's rate on the price paid: the rate on the extra 0.5 is
    # the slippage's cost too, and no fee term.
    check(r, slippage=-0.5 * (1 + RATE))
    assert r.orders[0]["terms"]["slippage"] == pytest.approx(-0.5 * (1 + RATE))
    assert r.orders[1]["total"] == pytest.approx(0)


def test_a_fill_a_bar_late_is_timing() -> None:
    buy = live("buy", 1, 1.0, (3 * H + 40, 1.0, OPENS[3 * H]))  # filled in bar 3, at its open
    check(attribute(BACKTEST, [buy, live("sell", 5)], BARS, BARS), timing=-1.0 - RATE * 1.0)
    # (the fee on the later, higher price is the timing's too: the model's fee there)


def test_a_partial_fill_is_partial_and_its_exit_follows() -> None:
    buy = live("buy", 1, 1.0, (2 * H, 0.4, 102.0), state="EXPIRED")
    sell = live("sell", 5, 0.4)  # what was held
    r = attribute(BACKTEST, [buy, sell], BARS, BARS)
    check(r, partial=-0.6 * ROUND_TRIP)
    assert r.orders[0]["cause"] == "partly filled"


def test_an_order_not_filled_at_all_is_a_missed_fill() -> None:
    buy = live("buy", 1, 1.0, state="CANCELLED")
    r = attribute(BACKTEST, [buy], BARS, BARS)
    check(r, partial=-ROUND_TRIP)  # the backtest's exit closes nothing the live run held
    assert [row["cause"] for row in r.orders] == [
        "not filled (cancelled)", "backtest only (an exit: nothing held live)",
    ]  # fmt: skip


def test_a_refused_order_is_refused() -> None:
    r = attribute(BACKTEST, [live("buy", 1, state="REJECTED")], BARS, BARS)
    check(r, refused=-ROUND_TRIP)
    assert r.orders[0]["cause"] == "refused by the venue"
    by_risk = attribute(BACKTEST, [], BARS, BARS, refusals=[Refusal(SYM, 1 * H, 1.0, "max")])
    check(by_risk, refused=-ROUND_TRIP)
    assert by_risk.orders[0]["cause"] == "refused by the risk engine"


def test_a_missed_bar_or_other_data_is_the_signal() -> None:
    # The run never saw bar 1: it did not decide the entry there (nor the exit, holding nothing).
    seen = Prices(H, 0, 9 * H, {SYM: {t: o for t, o in OPENS.items() if t != H}}, {SYM: 109.5})
    check(attribute(BACKTEST, [], BARS, seen), signal=-ROUND_TRIP)
    # A live-only entry (its data said so) held to the end: marked at the live close.
    extra = live("buy", 6, 0.5)
    r = attribute(BACKTEST, [live("buy", 1), live("sell", 5), extra], BARS, BARS, fee_rate=RATE)
    check(r, signal=0.5 * (109.5 - 107) - RATE * 0.5 * 107)
    assert r.orders[-1]["cause"] == "live only"
    # Different bars: the same fills, a different last close.
    moved = Prices(H, 0, 9 * H, {SYM: OPENS}, {SYM: 111.0})
    r = attribute([*BACKTEST, bt_fill("buy", 7)], [live("buy", 1), live("sell", 5),
                  live("buy", 7)], BARS, moved)  # fmt: skip
    check(r, signal=1.5)


def test_fees_and_funding() -> None:
    sell = live("sell", 5)
    dear = LiveOrder(sell.client_id, SYM, "sell", 1.0, 5 * H, "FILLED",
                     (LiveFill(6 * H, 1.0, 106.0, 0.5),))  # fmt: skip
    r = attribute(BACKTEST, [live("buy", 1), dear], BARS, BARS, live_funding=-2.0)
    check(r, fees=-(0.5 - RATE * 106), funding=-2.0)


def test_orders_outside_the_model_and_the_runs_own_figures_are_the_residual() -> None:
    manual = live("buy", 7, 0.2, (8 * H + 5, 0.2, 108.0), modelled=False)
    r = attribute(BACKTEST, [live("buy", 1), live("sell", 5), manual], BARS, BARS)
    check(r, residual=0.2 * (109.5 - 108) - RATE * 0.2 * 108)
    r = attribute(BACKTEST, [live("buy", 1), live("sell", 5)], BARS, BARS, backtest_pnl=3.0)
    check(r, residual=ROUND_TRIP - 3.0)


def test_orders_decided_on_the_last_bar_are_outside_the_window() -> None:
    late = [bt_fill("buy", 9 - 1), BacktestFill(SYM, "buy", 1.0, 1.0, 0.0, 9 * H, 10 * H, 1.0)]
    r = attribute(BACKTEST + late, [live("buy", 1), live("sell", 5), live("buy", 8)], BARS, BARS)
    check(r)
    assert len(r.orders) == 3


def test_bad_input_is_refused_with_what_and_where() -> None:
    other = Prices(H, H, 9 * H, {SYM: OPENS}, {SYM: 109.5})
    with pytest.raises(ConfigError, match="window"):
        attribute(BACKTEST, [], BARS, other)
    with pytest.raises(ConfigError, match="side"):
        attribute([bt_fill("buy", 1)], [live("hold", 1)], BARS, BARS)
    with pytest.raises(ConfigError, match="mark"):
        Prices(H, 0, H, {}, {SYM: math.nan})


def test_alerts_fire_for_terms_over_their_threshold() -> None:
    buy = live("buy", 1, 1.0, (2 * H, 1.0, 103.0))
    r = attribute(BACKTEST, [buy, live("sell", 5)], BARS, BARS)
    alerts = drift_alerts(r, {"slippage": 0.5, "*": 100.0})
    assert [a.key for a in alerts] == ["drift:slippage"] and "-1.00" in alerts[0].title
    assert drift_alerts(r, {"slippage": 2.0}) == []
    with pytest.raises(ConfigError, match="colour"):
        drift_alerts(r, {"colour": 1.0})
