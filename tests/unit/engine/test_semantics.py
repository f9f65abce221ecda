"""Every fill rule of docs/engine.md on hand-made bars whose answer is worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import (
    EngineConfig,
    Fees,
    MarketRules,
    Orders,
    Signals,
    Sizing,
    Slippage,
    Stops,
    TargetPositions,
    backtest,
)
from grekko_research.errors import ConfigError, DataError
from grekko_research.risk import RiskLimits

HOUR = 3_600_000
NOFEE = Fees(taker=0.0, maker=0.0)


def make_bars(
    rows: list[tuple[float, float, float, float]], *, symbols: int = 1, filled=None
) -> Bars:
    """Bars from (open, high, low, close) rows, the same path for each symbol."""
    arr = np.asarray(rows, dtype=float)
    n = len(arr)
    rep = lambda col: np.repeat(arr[:, col][:, None], symbols, axis=1)  # noqa: E731
    return Bars(
        index=1_700_000_000_000 - 1_700_000_000_000 % HOUR + HOUR * np.arange(n),
        symbols=tuple(f"S{i}/USDT" for i in range(symbols)),
        timeframe="1h",
        open=rep(0),
        high=rep(1),
        low=rep(2),
        close=rep(3),
        volume=np.full((n, symbols), 1_000.0),
        filled=filled,
    )


FLAT = [(100, 101, 99, 100)] * 3


def flags(n: int, *rows: int) -> np.ndarray:
    out = np.zeros(n, dtype=bool)
    out[list(rows)] = True
    return out


def fills(result) -> list[tuple[int, int, float, float]]:
    """(bar, side, size, price) of every fill."""
    o = result.orders
    o = o[o["status"] == "filled"]
    return [
        (int(b), int(s), float(z), float(p))
        for b, s, z, p in zip(o.bar, o.side, o["size"], o.price, strict=True)
    ]


def test_next_open_and_close_timing() -> None:
    bars = make_bars([(100, 101, 99, 100), (110, 112, 108, 111), (120, 121, 119, 120)])
    sig = Signals(flags(3, 0), flags(3, 1))
    nxt = backtest(bars, sig, EngineConfig(fees=NOFEE))
    assert fills(nxt) == [(1, 1, 10_000 / 110, 110.0), (2, -1, 10_000 / 110, 120.0)]
    assert nxt.final_equity == pytest.approx(10_000 * 120 / 110)
    close = backtest(bars, sig, EngineConfig(fees=NOFEE, execution="close"))
    assert fills(close) == [(0, 1, 100.0, 100.0), (1, -1, 100.0, 111.0)]


def test_all_in_with_fees_and_trade_record() -> None:
    bars = make_bars([(100, 101, 99, 100), (100, 101, 99, 100), (110, 111, 109, 110)])
    res = backtest(bars, Signals(flags(3, 0), flags(3, 1)), EngineConfig(fees=Fees(taker=0.001)))
    size = 10_000 / (100 * 1.001)
    assert fills(res)[0][2] == pytest.approx(size, rel=1e-15)
    cash = size * 110 * (1 - 0.001)
    assert res.final_equity == pytest.approx(cash, rel=1e-14)
    trade = res.trades.iloc[0]
    assert trade["pnl"] == pytest.approx(cash - 10_000, rel=1e-12)
    assert trade["fees"] == pytest.approx(size * 100 * 0.001 + size * 110 * 0.001, rel=1e-12)
    assert (trade["entry_bar"], trade["exit_bar"], trade["exit_kind"]) == (1, 2, "market")
    assert trade["mae"] == pytest.approx(99 / 100 - 1) and trade["mfe"] == pytest.approx(
        101 / 100 - 1
    )


def orders_one(n: int, bar: int, kind: str, size: float, price=np.nan, stop=np.nan) -> Orders:
    k = np.array([None] * n, dtype=object)
    s = np.full(n, np.nan)
    p = np.full(n, np.nan)
    st = np.full(n, np.nan)
    k[bar], s[bar], p[bar], st[bar] = kind, size, price, stop
    return Orders(k, s, p, st)


@pytest.mark.parametrize(
    ("rows", "limit", "expected"),
    [
        ([(100, 101, 99, 100), (95, 96, 94, 95)], 97.0, (1, 95.0, "taker")),  # gaps through: open
        ([(100, 101, 99, 100), (100, 101, 96, 98)], 97.0, (1, 97.0, "maker")),  # traded through
        ([(100, 101, 99, 100), (100, 101, 97.5, 98)], 97.0, None),  # never reached
    ],
)
def test_buy_limit(rows, limit, expected) -> None:
    bars = make_bars(rows)
    cfg = EngineConfig(fees=Fees(taker=0.002, maker=0.001))
    res = backtest(bars, orders_one(len(rows), 0, "limit", 2.0, price=limit), cfg)
    got = fills(res)
    if expected is None:
        assert got == []
        return
    bar, price, fee_kind = expected
    assert got == [(bar, 1, 2.0, price)]
    rate = 0.002 if fee_kind == "taker" else 0.001
    assert float(res.orders["fee"].iloc[0]) == pytest.approx(2.0 * price * rate)


def test_sell_stop_and_limit_validity() -> None:
    rows = [(100, 101, 99, 100), (100, 101, 99, 100), (100, 100.5, 94, 95), (90, 91, 89, 90)]
    bars = make_bars(rows)
    buy = orders_one(4, 0, "market", 1.0)
    res = backtest(bars, buy, EngineConfig(fees=NOFEE))
    assert fills(res) == [(1, 1, 1.0, 100.0)]
    both = Orders(
        np.array(["market", "stop", None, None], dtype=object),
        np.array([1.0, -1.0, np.nan, np.nan]),
        None,
        np.array([np.nan, 95.5, np.nan, np.nan]),
    )
    res = backtest(bars, both, EngineConfig(fees=NOFEE))
    assert fills(res) == [(1, 1, 1.0, 100.0), (2, -1, 1.0, 95.5)]  # stop hit inside bar 2
    # A limit valid for 1 bar expires before the price comes back.
    late = Orders(
        np.array(["limit", None, None, None], dtype=object),
        np.array([1.0, np.nan, np.nan, np.nan]),
        np.array([91.0, np.nan, np.nan, np.nan]),
    )
    expired = backtest(bars, late, EngineConfig(fees=NOFEE, order_valid_bars=1))
    assert fills(expired) == []
    assert list(expired.orders["status"]) == ["expired"]
    gtc = backtest(bars, late, EngineConfig(fees=NOFEE))
    assert fills(gtc) == [(3, 1, 1.0, 90.0)]  # the open of bar 3 gaps below 91


def test_stop_limit_rests_when_limit_below_stop() -> None:
    rows = [(100, 101, 99, 100), (100, 106, 99, 105), (105, 105.5, 101.5, 102), (102, 103, 99, 100)]
    bars = make_bars(rows)
    order = orders_one(4, 0, "stop_limit", 1.0, price=102.0, stop=104.0)
    res = backtest(bars, order, EngineConfig(fees=NOFEE))
    # Triggered in bar 1 (high 106 ≥ 104) but the limit 102 < stop: it rests; bar 2 trades 101.5.
    assert fills(res) == [(2, 1, 1.0, 102.0)]
    marketable = orders_one(4, 0, "stop_limit", 1.0, price=104.5, stop=104.0)
    assert fills(backtest(bars, marketable, EngineConfig(fees=NOFEE))) == [(1, 1, 1.0, 104.0)]


def test_stop_loss_take_profit_and_both_touch() -> None:
    entry = [(100, 100, 100, 100), (100, 100.5, 99.5, 100)]
    sig = Signals(flags(4, 0), None)
    cfg = EngineConfig(
        fees=NOFEE, sizing=Sizing("units", 1.0), stops=Stops(stop_loss=0.02, take_profit=0.04)
    )
    sl = backtest(make_bars([*entry, (99, 99.5, 97, 98), (98, 98, 98, 98)]), sig, cfg)
    assert fills(sl)[-1] == (2, -1, 1.0, 98.0) and sl.trades.iloc[0]["exit_kind"] == "stop_loss"
    gap = backtest(make_bars([*entry, (96, 97, 95, 96), (96, 96, 96, 96)]), sig, cfg)
    assert fills(gap)[-1] == (2, -1, 1.0, 96.0)  # the open is already below the stop
    tp = backtest(make_bars([*entry, (101, 104.5, 100.5, 104), (104, 104, 104, 104)]), sig, cfg)
    assert fills(tp)[-1] == (2, -1, 1.0, 104.0) and tp.trades.iloc[0]["exit_kind"] == "take_profit"
    wide = make_bars([*entry, (100, 105, 97, 100), (100, 100, 100, 100)])
    assert fills(backtest(wide, sig, cfg))[-1][3] == 98.0  # pessimistic: the stop
    optimistic = EngineConfig(
        fees=NOFEE,
        sizing=Sizing("units", 1.0),
        stops=Stops(stop_loss=0.02, take_profit=0.04, both_touch="optimistic"),
    )
    assert fills(backtest(wide, sig, optimistic))[-1][3] == 104.0
    # The entry bar itself is checked when the position opened at its open.
    same_bar = make_bars([(100, 100, 100, 100), (100, 100.5, 97, 99), (99, 99, 99, 99)])
    assert fills(backtest(same_bar, Signals(flags(3, 0)), cfg))[-1] == (1, -1, 1.0, 98.0)
    off = EngineConfig(
        fees=NOFEE, sizing=Sizing("units", 1.0), stops=Stops(stop_loss=0.02, on_entry_bar=False)
    )
    assert len(fills(backtest(same_bar, Signals(flags(3, 0)), off))) == 1


def test_trailing_stop_uses_peak_before_the_bar() -> None:
    rows = [(100, 100, 100, 100), (100, 110, 100, 109), (109, 112, 104, 105), (105, 106, 103, 104)]
    cfg = EngineConfig(fees=NOFEE, sizing=Sizing("units", 1.0), stops=Stops(trailing=0.05))
    res = backtest(make_bars(rows), Signals(flags(4, 0)), cfg)
    # Peak after bar 1 is 110 → stop 104.5; bar 2's low 104 hits it (its own high 112 is not used).
    assert fills(res)[-1] == (2, -1, 1.0, 104.5)
    assert res.trades.iloc[0]["exit_kind"] == "trailing_stop"


def test_atr_stop_distance() -> None:
    rows = [(100, 102, 98, 100)] * 5 + [(100, 100, 100, 100), (99, 99, 93, 95), (95, 95, 95, 95)]
    cfg = EngineConfig(
        fees=NOFEE,
        sizing=Sizing("units", 1.0),
        stops=Stops(stop_loss=1.5, stop_loss_kind="atr", atr_window=3),
    )
    res = backtest(make_bars(rows), Signals(flags(8, 5)), cfg)
    # ATR at the decision bar 5: true ranges 4,4,4 → seed 4, then (4*2+4)/3=4, then bar 5 TR 2 → 10/3
    atr = (4 * 2 + 2) / 3
    assert fills(res)[-1][3] == pytest.approx(100 - 1.5 * atr)


def test_slippage_tick_and_range_clip() -> None:
    bars = make_bars([(100, 101, 99, 100), (100, 100.04, 99, 100), (100, 101, 99, 100)])
    cfg = EngineConfig(
        fees=NOFEE,
        sizing=Sizing("units", 1.0),
        slippage=Slippage("bps", 10),
        market=MarketRules(tick_size=0.05),
    )
    res = backtest(bars, Signals(flags(3, 0), flags(3, 1)), cfg)
    buy, sell = fills(res)
    assert buy[3] == 100.04  # 100.10 wanted, clipped to the bar's high
    assert sell[3] == 99.9  # 100 × (1 − 10 bps), on the tick grid
    assert res.orders["slippage"].tolist() == pytest.approx([0.04, -0.1])


def test_lot_size_and_min_notional() -> None:
    bars = make_bars(FLAT)
    cfg = EngineConfig(fees=NOFEE, market=MarketRules(lot_size=0.3))
    res = backtest(bars, Signals(flags(3, 0)), cfg)
    assert fills(res)[0][2] == pytest.approx(99.9)  # 100 units rounded down to the 0.3 grid
    tiny = EngineConfig(
        fees=NOFEE, sizing=Sizing("notional", 50.0), market=MarketRules(min_notional=100)
    )
    rejected = backtest(bars, Signals(flags(3, 0)), tiny)
    assert fills(rejected) == []
    assert rejected.orders["status"].tolist() == ["rejected_min_notional"]


def test_short_reversal_and_no_short() -> None:
    bars = make_bars([(100, 101, 99, 100), (100, 101, 99, 100), (90, 91, 89, 90), (80, 81, 79, 80)])
    sig = Signals(flags(4, 0), None, flags(4, 1), None)
    cfg = EngineConfig(fees=NOFEE, allow_short=True)
    res = backtest(bars, sig, cfg)
    assert [f[:2] for f in fills(res)] == [(1, 1), (2, -1), (2, -1)]  # close long, open short
    assert res.trades["direction"].tolist() == [1, -1]
    with pytest.raises(ConfigError, match="allow_short"):
        backtest(bars, sig, EngineConfig())


def test_liquidation_with_leverage() -> None:
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 70, 75), (75, 75, 75, 75)]
    cfg = EngineConfig(
        fees=NOFEE, leverage=3.0, sizing=Sizing("percent", 3.0), maintenance_margin=0.05
    )
    res = backtest(make_bars(rows), Signals(flags(4, 0)), cfg)
    # 300 units at 100; at the low 70 equity = 10 000 − 9 000 = 1 000 ≤ 5 % × 21 000.
    assert res.events["rule"].tolist() == ["liquidation"]
    assert fills(res)[-1] == (2, -1, 300.0, 70.0)
    assert res.final_equity == pytest.approx(1_000.0)


def test_funding_payments() -> None:
    bars = make_bars([(100, 101, 99, 100)] * 4)
    funding = np.zeros((4, 1))
    funding[2, 0] = 0.001
    funding[3, 0] = -0.002
    cfg = EngineConfig(fees=NOFEE, sizing=Sizing("units", 2.0))
    res = backtest(bars, Signals(flags(4, 0)), cfg, funding=funding)
    assert res.funding_records[:, 3].tolist() == pytest.approx([-0.2, 0.4])
    assert res.final_equity == pytest.approx(10_000 + 0.2)
    assert res.trades.iloc[0]["funding"] == pytest.approx(-0.2)


def test_risk_limits() -> None:
    bars = make_bars([(100, 101, 99, 100), (100, 101, 99, 100), (100, 101, 99, 100)])
    capped = backtest(
        bars, Signals(flags(3, 0)), EngineConfig(fees=NOFEE, risk=RiskLimits(max_position=0.25))
    )
    assert fills(capped)[0][2] == pytest.approx(25.0)
    assert capped.orders["rule"].tolist() == ["max_position"]
    crash = make_bars(
        [
            (100, 100, 100, 100),
            (100, 100, 100, 100),
            (100, 100, 70, 75),
            (75, 80, 74, 78),
            (78, 79, 77, 78),
        ]
    )
    sig = Signals(flags(5, 0, 3), flags(5, 2))
    res = backtest(crash, sig, EngineConfig(fees=NOFEE, risk=RiskLimits(max_drawdown=0.2)))
    assert res.events["rule"].tolist() == ["max_drawdown"]
    # Flattened at bar 3's open, then halted: the entry decided at bar 3 is rejected.
    assert fills(res) == [(1, 1, 100.0, 100.0), (3, -1, 100.0, 75.0)]
    assert "rejected_risk" in res.orders["status"].tolist()


def test_target_positions_rebalance() -> None:
    bars = make_bars(
        [(100, 101, 99, 100), (100, 101, 99, 100), (200, 201, 199, 200), (200, 201, 199, 200)]
    )
    target = np.array([0.5, np.nan, 0.5, np.nan])
    res = backtest(bars, TargetPositions(target), EngineConfig(fees=NOFEE))
    assert fills(res) == [(1, 1, 50.0, 100.0), (3, -1, 12.5, 200.0)]
    units = backtest(
        bars,
        TargetPositions(np.array([3.0, 1.0, np.nan, np.nan]), kind="units"),
        EngineConfig(fees=NOFEE),
    )
    assert fills(units) == [(1, 1, 3.0, 100.0), (2, -1, 2.0, 200.0)]


def test_shared_cash_sells_before_buys() -> None:
    bars = make_bars([(100, 101, 99, 100)] * 4, symbols=2)
    entries = np.array([[True, False], [False, True], [False, False], [False, False]])
    exits = np.array([[False, False], [True, False], [False, False], [False, False]])
    res = backtest(bars, Signals(entries, exits), EngineConfig(fees=NOFEE))
    # Bar 2: symbol 0 is sold first, then symbol 1 is bought with all the cash.
    assert fills(res) == [(1, 1, 100.0, 100.0), (2, -1, 100.0, 100.0), (2, 1, 100.0, 100.0)]


def test_filled_bars_never_fill() -> None:
    filled = np.array([[False], [True], [False], [False]])
    rows = [
        (100, 101, 99, 100),
        (np.nan, np.nan, np.nan, np.nan),
        (105, 106, 104, 105),
        (105, 106, 104, 105),
    ]
    bars = make_bars(rows, filled=filled)
    res = backtest(bars, Signals(flags(4, 0)), EngineConfig(fees=NOFEE))
    assert fills(res)[0][:2] == (2, 1)  # waited for the next bar with a market
    with pytest.raises(DataError, match="not flagged filled"):
        make_bars(rows)


def test_bad_inputs_are_named() -> None:
    bars = make_bars(FLAT)
    with pytest.raises(ConfigError, match=r"Signals.entries has shape \(2, 1\)"):
        backtest(bars, Signals(np.zeros(2, bool)))
    with pytest.raises(ConfigError, match=r"Orders\.price is missing"):
        backtest(
            bars,
            Orders(np.array(["limit", None, None], dtype=object), np.array([1.0, np.nan, np.nan])),
        )
    with pytest.raises(ConfigError, match="unknown order kinds"):
        backtest(bars, Orders(np.array(["iceberg", None, None], dtype=object), np.ones(3)))
    with pytest.raises(ConfigError, match=r"Stops\.stop_loss"):
        Stops(stop_loss=-1)


def test_real_funding_lands_on_the_bar_containing_its_time(shared_data) -> None:
    import pandas as pd

    candles = pd.read_csv(shared_data / "ohlcv/binance-usdm_BTC-USDT-PERP_1h__alpergulsen.csv.gz")
    funding = pd.read_csv(
        shared_data / "funding/binance-usdm_BTC-USDT-PERP_funding__alpergulsen.csv"
    )
    bars = Bars.from_frame(candles, "BTC/USDT", "1h", market="usdm")
    cfg = EngineConfig(fees=NOFEE, sizing=Sizing("units", 0.2))  # 0.2 BTC fits the 10k cash
    entries = flags(bars.n_bars, 0)
    res = backtest(bars, Signals(entries), cfg, funding={"BTC/USDT": funding})
    # Independently: each funding time falls in the hour bar that opened at its floor.
    rows = np.searchsorted(bars.index, funding["timestamp"].to_numpy(), side="right") - 1
    held = rows >= 2  # the long is entered at bar 1's open; funding is charged on bars after it
    expected = -(0.2 * funding["funding_rate"].to_numpy()[held] * bars.open[rows[held], 0]).sum()
    assert len(res.funding_records) == int(held.sum()) > 100
    assert res.funding_records[:, 3].sum() == pytest.approx(expected, rel=1e-12)
    assert res.trades.iloc[0]["funding"] == pytest.approx(-expected, rel=1e-12)
    # Funding timestamps carry millisecond jitter (e.g. 00:00:00.001): still the 00:00 bar.
    assert (bars.index[rows] == funding["timestamp"].to_numpy() // 3_600_000 * 3_600_000).all()
