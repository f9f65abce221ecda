"""The one core (issue 15): kernel choice by argument, named state, typed records, one fee and
one fill-model dispatch for every driver."""

from __future__ import annotations

import numpy as np
import pytest

from grekko_research.engine import EngineConfig, Fees, Signals, Slippage, backtest
from grekko_research.engine import layout as L
from grekko_research.engine._records import record_table
from grekko_research.engine._state import Decisions, Market, make_rules
from grekko_research.engine.book import EngineBook, decision_row, fill_fee, fill_price
from grekko_research.engine.nb import simulate_nb
from grekko_research.errors import ConfigError
from tests.unit.engine.test_semantics import make_bars

PATH = [(100, 101, 99, 100), (100, 106, 99, 105), (105, 111, 104, 110), (110, 111, 95, 96)]
FEES = Fees(taker=0.002, maker=0.001, fixed=0.5)


def _signal(n: int) -> Signals:
    entries = np.zeros((n, 1), dtype=bool)
    exits = np.zeros((n, 1), dtype=bool)
    entries[0] = True
    exits[2] = True
    return Signals(entries, exits)


def test_the_kernel_is_chosen_by_argument_and_reported() -> None:
    bars = make_bars(PATH)
    config = EngineConfig(fees=FEES)
    auto = backtest(bars, _signal(len(PATH)), config)
    general = backtest(bars, _signal(len(PATH)), config, kernel="general")
    lean = backtest(bars, _signal(len(PATH)), config, kernel="lean")
    assert (auto.kernel, general.kernel, lean.kernel) == ("lean", "general", "lean")
    assert auto.kernel_reason.startswith("auto: in the lean kernel's scope")
    assert general.kernel_reason == "requested (kernel='general')"
    assert lean.kernel_reason == "requested (kernel='lean')"
    np.testing.assert_array_equal(lean.order_records, general.order_records)
    np.testing.assert_array_equal(lean.equity, general.equity)


def test_auto_says_what_keeps_a_run_out_of_the_lean_kernel() -> None:
    bars = make_bars(PATH)
    config = EngineConfig(fees=FEES, slippage=Slippage("bps", 5.0))
    res = backtest(bars, _signal(len(PATH)), config)
    assert res.kernel == "general"
    assert res.kernel_reason == "auto: outside the lean kernel's scope (slippage)"


def test_the_lean_kernel_refuses_a_run_out_of_its_scope_by_name() -> None:
    bars = make_bars(PATH)
    config = EngineConfig(fees=FEES, allow_short=True)
    with pytest.raises(ConfigError, match=r"kernel='lean' cannot run this backtest: shorting"):
        backtest(bars, _signal(len(PATH)), config, kernel="lean")
    with pytest.raises(ConfigError, match="kernel must be 'auto', 'general' or 'lean'"):
        backtest(bars, _signal(len(PATH)), config, kernel="fast")  # type: ignore[arg-type]


def _kernel_inputs(bars, config: EngineConfig):
    sig = _signal(bars.n_bars)
    empty_f = np.zeros((0, 0))
    market = Market(bars.index, bars.open, bars.high, bars.low, bars.close, bars.volume,
                    bars.filled, empty_f)  # fmt: skip
    dec = Decisions(np.asarray(sig.entries), np.asarray(sig.exits),
                    np.zeros_like(sig.entries), np.zeros_like(sig.exits), empty_f,
                    np.zeros((0, 0), np.int8), empty_f, empty_f, empty_f, empty_f,
                    empty_f)  # fmt: skip
    k = bars.n_assets
    rules = make_rules(config.to_array(L.MODE_SIGNALS), config.risk.to_array(), np.zeros(k),
                       np.zeros(k), np.zeros(k))  # fmt: skip
    return market, dec, rules


def test_kernel_records_are_typed_and_the_user_tables_are_unchanged() -> None:
    bars = make_bars(PATH)
    config = EngineConfig(fees=FEES)
    market, dec, rules = _kernel_inputs(bars, config)
    orders, trades, _, _ = simulate_nb(market, dec, rules, np.empty(bars.n_bars))
    assert orders.dtype == L.ORDER_DTYPE and trades.dtype == L.TRADE_DTYPE
    for name in ("bar", "asset", "side", "kind", "status", "rule"):
        assert orders.dtype[name] == np.int64
    assert trades.dtype["is_open"] == np.bool_
    assert orders["bar"].tolist() == [1, 3]
    assert orders["side"].tolist() == [1, -1]
    table = record_table(orders)
    assert table.shape == (2, len(L.ORDER_FIELDS))
    res = backtest(bars, _signal(len(PATH)), config, kernel="general")
    np.testing.assert_array_equal(table, res.order_records)
    np.testing.assert_array_equal(record_table(trades), res.trade_records)
    assert list(res.orders.columns[1:11]) == list(L.ORDER_FIELDS)


def test_an_asset_with_an_unknown_fill_model_fills_nothing() -> None:
    """The fill model is chosen per asset in one place; an id no model owns never fills."""
    bars = make_bars(PATH)
    market, dec, rules = _kernel_inputs(bars, EngineConfig(fees=FEES))
    rules.fill_model[:] = 99
    orders, trades, _, _ = simulate_nb(market, dec, rules, np.empty(bars.n_bars))
    assert len(orders) == 0 and len(trades) == 0


def test_the_fee_every_driver_charges_is_the_kernels() -> None:
    """The paper venue and the live book price fees with the kernels' function."""
    bars = make_bars(PATH)
    config = EngineConfig(fees=FEES)
    res = backtest(bars, _signal(len(PATH)), config, kernel="general")
    for _, row in res.orders.iterrows():
        size = row["side"] * row["size"]
        assert fill_fee(config, size, row["price"]) == row["fee"]
    assert fill_fee(config, 2.0, 50.0, maker=True) == 2.0 * 50.0 * 0.001 + 0.5
    book = EngineBook(config, ["S0/USDT"], int(bars.index[0]))
    fill = book.fill(0, 3.0, 101.0)
    assert fill["order"]["fee"] == fill_fee(config, 3.0, 101.0)


def test_the_book_and_the_paper_price_fills_with_the_kernels_fill_model() -> None:
    config = EngineConfig(fees=FEES, slippage=Slippage("bps", 10.0))
    # 10 bps against a buyer, kept inside the bar's range
    assert fill_price(config, 100.0, 1.0) == pytest.approx(100.1, rel=1e-15)
    assert fill_price(config, 100.0, -1.0) == pytest.approx(99.9, rel=1e-15)
    assert fill_price(config, 100.0, 1.0, high=100.05) == 100.05
    bars = make_bars(PATH)
    book = EngineBook(config, ["S0/USDT"], int(bars.index[0]))
    entries = np.zeros((len(PATH), 1), dtype=bool)
    entries[-1] = True  # the last bar decides an entry: the book plans it now
    (planned,) = book.plan(decision_row(bars, Signals(entries)), np.array([100.0]))
    assert planned.status == "filled" and planned.size > 0
    assert planned.price == fill_price(config, 100.0, planned.size)
    assert planned.fee == fill_fee(config, planned.size, planned.price)
