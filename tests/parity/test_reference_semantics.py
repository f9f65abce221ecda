"""Grekko's target semantics (plain loop) equal vectorbt and backtrader on real data.

The loop in ``reference_loop.py`` is the stand-in for the Grekko engine: swap
``simulate`` for the engine and these tests become the engine's parity tests.
Every equality is exact on the trade count and the fill bars, and 1e-9 relative
on final equity, prices and sizes. See ``SEMANTICS.md`` for why each reference
is configured the way it is.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.parity.conftest import BTC_2H, SINGLE
from tests.parity.reference_loop import crossover_signals, simulate
from tests.parity.references import RefResult, bt_sma_cross, vbt_from_signals

REL = 1e-9
INIT = 10_000.0
UNITS = 0.05  # fixed size for backtrader parity (at most ~6k USD of BTC: never short of cash)
SL, TP = 0.03, 0.06


def _pair_signals(
    pair: dict[str, np.ndarray], fast: int, slow: int
) -> tuple[np.ndarray, np.ndarray]:
    sig = [crossover_signals(pair["close"][:, j], fast, slow) for j in range(2)]
    return np.column_stack([s[0] for s in sig]), np.column_stack([s[1] for s in sig])


def assert_same(ours: RefResult, ref: RefResult, *, min_trades: int = 50) -> None:
    """Exact trade count and fill bars; 1e-9 relative equity, prices and sizes."""
    assert ours.n_trades == ref.n_trades
    assert ours.n_closed == ref.n_closed
    assert ours.n_trades >= min_trades  # the case really trades
    assert ours.final_equity == pytest.approx(ref.final_equity, rel=REL)
    a, b = ours.trades, ref.trades
    for col in ("col", "entry_idx", "exit_idx", "direction", "status"):
        assert a[col].tolist() == b[col].tolist(), col
    for col in ("entry_price", "exit_price", "size", "fees"):
        np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), rtol=REL, atol=0)
    np.testing.assert_allclose(
        a["pnl"].to_numpy(float), b["pnl"].to_numpy(float), rtol=REL, atol=REL * INIT
    )


def _ohlc(d: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    return d["open"], d["high"], d["low"], d["close"]


# --------------------------------------------------------------------------- vectorbt
@pytest.mark.parametrize("execution", ["next_open", "close"])
@pytest.mark.parametrize("name", list(SINGLE))
def test_a_long_only_all_in_vs_vectorbt(single, name, execution) -> None:
    d = single[name]
    ours = simulate(*_ohlc(d), d["up"], d["down"], execution=execution, init_cash=INIT)
    assert_same(
        ours, vbt_from_signals(*_ohlc(d), d["up"], d["down"], execution=execution, init_cash=INIT)
    )


@pytest.mark.parametrize("size", ["all", UNITS])
@pytest.mark.parametrize("execution", ["next_open", "close"])
@pytest.mark.parametrize("name", list(SINGLE))
def test_b_long_short_reversal_vs_vectorbt(single, name, execution, size) -> None:
    d = single[name]
    kw = dict(short_entries=d["down"], short_exits=d["none"], execution=execution, size=size)
    ours = simulate(*_ohlc(d), d["up"], d["none"], init_cash=INIT, **kw)
    assert_same(ours, vbt_from_signals(*_ohlc(d), d["up"], d["none"], init_cash=INIT, **kw))


@pytest.mark.parametrize("execution", ["next_open", "close"])
@pytest.mark.parametrize("name", list(SINGLE))
def test_c_stop_loss_take_profit_vs_vectorbt(single, name, execution) -> None:
    d = single[name]
    kw = dict(execution=execution, sl=SL, tp=TP, init_cash=INIT)
    ours = simulate(*_ohlc(d), d["up"], d["down"], **kw)
    assert_same(ours, vbt_from_signals(*_ohlc(d), d["up"], d["down"], **kw))
    closed = ours.trades[ours.trades["status"] == "closed"]
    signal_exit = d["down"][
        np.maximum(closed["exit_idx"].to_numpy() - (execution == "next_open"), 0)
    ]
    assert (~signal_exit).sum() > 100  # most exits are stop exits
    if execution == "next_open":
        # stops are live in the entry bar: some trades are stopped out in the bar they opened
        assert (closed["entry_idx"] == closed["exit_idx"]).sum() > 0


@pytest.mark.parametrize("name", list(SINGLE))
def test_c_stop_from_next_bar_is_a_different_semantics(single, name) -> None:
    """vectorbt's usual recipe (shift signals, price=open) checks stops one bar later."""
    d = single[name]
    ours = simulate(*_ohlc(d), d["up"], d["down"], sl=SL, tp=TP, init_cash=INIT)
    shifted = vbt_from_signals(
        *_ohlc(d), d["up"], d["down"], sl=SL, tp=TP, init_cash=INIT, execution="next_open_shifted"
    )
    assert ours.final_equity != pytest.approx(shifted.final_equity, rel=1e-3)
    # ... while without stops both recipes are the same thing
    plain = vbt_from_signals(
        *_ohlc(d), d["up"], d["down"], init_cash=INIT, execution="next_open_shifted"
    )
    assert_same(simulate(*_ohlc(d), d["up"], d["down"], init_cash=INIT), plain)


@pytest.mark.parametrize("execution", ["next_open", "close"])
@pytest.mark.parametrize(
    ("size_type", "size"), [("value", INIT / 2), ("percent", 0.5), ("amount", "all")]
)
def test_d_shared_cash_equal_notional_vs_vectorbt(pair, size_type, size, execution) -> None:
    up, down = _pair_signals(pair, 10, 30)
    kw = dict(
        size=size, size_type=size_type, execution=execution, init_cash=INIT, cash_sharing=True
    )
    ours = simulate(*_ohlc(pair), up, down, order="auto", **kw)
    assert_same(
        ours, vbt_from_signals(*_ohlc(pair), up, down, call_seq="auto", **kw), min_trades=100
    )


@pytest.mark.parametrize(
    ("size_type", "size"), [("value", 6_000.0), ("percent", 0.5), ("amount", "all")]
)
def test_d_shared_cash_call_order(pair, size_type, size) -> None:
    """SMA(3,10) has bars where one asset exits while the other enters: order matters."""
    up, down = _pair_signals(pair, 3, 10)
    kw = dict(size=size, size_type=size_type, init_cash=INIT, cash_sharing=True)
    auto = simulate(*_ohlc(pair), up, down, order="auto", **kw)
    column = simulate(*_ohlc(pair), up, down, order="column", **kw)
    assert_same(
        auto, vbt_from_signals(*_ohlc(pair), up, down, call_seq="auto", **kw), min_trades=300
    )
    assert_same(
        column, vbt_from_signals(*_ohlc(pair), up, down, call_seq="default", **kw), min_trades=300
    )
    assert auto.final_equity != pytest.approx(column.final_equity, rel=1e-6)


def test_d_separate_cash_vs_vectorbt(pair) -> None:
    up, down = _pair_signals(pair, 10, 30)
    ours = simulate(*_ohlc(pair), up, down, init_cash=INIT)
    assert_same(ours, vbt_from_signals(*_ohlc(pair), up, down, init_cash=INIT), min_trades=100)


# --------------------------------------------------------------------------- backtrader
@pytest.mark.parametrize("long_short", [False, True])
@pytest.mark.parametrize("name", list(SINGLE))
def test_ab_fixed_units_vs_backtrader(single, name, long_short) -> None:
    d = single[name]
    fast, slow = SINGLE[name]
    ref = bt_sma_cross(
        *_ohlc(d),
        d["volume"],
        fast,
        slow,
        fee=0.001,
        init_cash=INIT,
        size_units=UNITS,
        long_short=long_short,
    )
    assert ref.extra["rejected"] == []
    if long_short:
        ours = simulate(
            *_ohlc(d),
            d["up"],
            d["none"],
            short_entries=d["down"],
            short_exits=d["none"],
            size=UNITS,
            init_cash=INIT,
        )
    else:
        ours = simulate(*_ohlc(d), d["up"], d["down"], size=UNITS, init_cash=INIT)
    assert_same(ours, ref)
    # backtrader's own closed-trade count (notify_trade) is the same number
    assert len(ref.extra["closed_trades"]) == ours.n_closed


def test_a_all_in_vs_backtrader_cheat_on_open(single) -> None:
    d = single[BTC_2H]
    ref = bt_sma_cross(
        *_ohlc(d), d["volume"], *SINGLE[BTC_2H], init_cash=INIT, sizing="all_in_open"
    )
    assert ref.extra["rejected"] == []
    assert_same(simulate(*_ohlc(d), d["up"], d["down"], init_cash=INIT), ref)


def test_a_all_in_sized_on_close_cannot_match_backtrader(single) -> None:
    """Sized on close[t], filled at open[t+1]: rejected (Margin) whenever the open is higher."""
    d = single[BTC_2H]
    ref = bt_sma_cross(
        *_ohlc(d), d["volume"], *SINGLE[BTC_2H], init_cash=INIT, sizing="all_in_close"
    )
    assert len(ref.extra["rejected"]) > 0
    assert all(status == "Margin" for _, status in ref.extra["rejected"])
    ours = simulate(*_ohlc(d), d["up"], d["down"], init_cash=INIT)
    assert ours.n_trades != ref.n_trades


# --------------------------------------------------------------------------- hand-made bars
def test_hand_made_all_in_next_open() -> None:
    """10 bars: enter on bar 1's close -> open[2], exit on bar 5's close -> open[6]."""
    o = np.array([100, 101, 103, 102, 105, 107, 106, 104, 108, 110.0])
    c = np.array([101, 102, 102, 104, 106, 106, 105, 107, 109, 111.0])
    ent = np.zeros(10, dtype=bool)
    ex = np.zeros(10, dtype=bool)
    ent[1], ex[5] = True, True
    size = 10_000.0 / (1 + 0.001) / 103.0  # vectorbt's all-in: cash / (1 + fee) / price
    expected = size * 106.0 * (1 - 0.001)
    for res in (
        simulate(o, o + 2, o - 2, c, ent, ex, fee=0.001, init_cash=10_000.0),
        vbt_from_signals(o, o + 2, o - 2, c, ent, ex, fee=0.001, init_cash=10_000.0),
    ):
        assert res.final_equity == pytest.approx(expected, rel=1e-12)
        assert res.trades[["entry_idx", "exit_idx"]].to_numpy().tolist() == [[2, 6]]


def test_hand_made_stop_in_entry_bar_gap_and_priority() -> None:
    """Entry fills at open[2] = 100 with SL 5 % (95) and TP 10 % (110)."""
    n = 6
    o = np.full(n, 100.0)
    ent = np.zeros(n, dtype=bool)
    ent[1] = True
    ex = np.zeros(n, dtype=bool)
    cases = {  # name: (bar, open, high, low, expected exit bar, expected exit price)
        "sl in the entry bar": (2, 100.0, 101.0, 94.0, 2, 95.0),
        "gap below sl": (4, 90.0, 91.0, 89.0, 4, 90.0),
        "sl and tp in one bar: sl wins": (3, 100.0, 111.0, 94.0, 3, 95.0),
        "gap above tp": (4, 115.0, 116.0, 114.0, 4, 115.0),
    }
    for name, (bar, bo, bh, bl, xbar, xpx) in cases.items():
        op, hi, lo = o.copy(), o + 1, o - 1
        op[bar], hi[bar], lo[bar] = bo, bh, bl
        for res in (
            simulate(op, hi, lo, op, ent, ex, fee=0.0, sl=0.05, tp=0.10),
            vbt_from_signals(op, hi, lo, op, ent, ex, fee=0.0, sl=0.05, tp=0.10),
        ):
            assert res.trades[["entry_idx", "exit_idx"]].to_numpy().tolist() == [[2, xbar]], name
            assert res.trades["exit_price"].tolist() == [xpx], name
