"""Configuration bounds refused at the edge, and a cash account that never goes below zero."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from numba import njit

from grekko_research.config.schema import EngineSection
from grekko_research.engine import (
    EngineConfig,
    Fees,
    Orders,
    Signals,
    Sizing,
    Slippage,
    TargetPositions,
    backtest,
)
from grekko_research.engine.config import BOUNDS, MAX_FEE_RATE, MAX_LEVERAGE
from grekko_research.errors import ConfigError
from tests.unit.engine.test_semantics import make_bars

# (what is built, the key its error must name); every one is refused.
REFUSED = [
    (lambda: Fees(taker=1.5), "Fees.taker"),
    (lambda: Fees(taker=MAX_FEE_RATE * 1.01), "Fees.taker"),
    (lambda: Fees(taker=-0.001), "Fees.taker"),
    (lambda: Fees(taker=float("nan")), "Fees.taker"),
    (lambda: Fees(taker=float("inf")), "Fees.taker"),
    (lambda: Fees(maker=1.5), "Fees.maker"),
    (lambda: Fees(maker=-0.01), "Fees.maker"),
    (lambda: Fees(fixed=-1.0), "Fees.fixed"),
    (lambda: Fees(fixed=float("inf")), "Fees.fixed"),
    (lambda: EngineConfig(init_cash=100.0, fees=Fees(fixed=100.0)), "Fees.fixed"),
    (lambda: Slippage("bps", 5_000.0), "Slippage.value"),
    (lambda: Slippage("bps", -1.0), "Slippage.value"),
    (lambda: Slippage("range", 2.0), "Slippage.value"),
    (lambda: Slippage("volume", 50.0), "Slippage.value"),
    (lambda: Slippage("bps", float("nan")), "Slippage.value"),
    (lambda: EngineConfig(leverage=0.0), "EngineConfig.leverage"),
    (lambda: EngineConfig(leverage=-1.0), "EngineConfig.leverage"),
    (lambda: EngineConfig(leverage=MAX_LEVERAGE + 1), "EngineConfig.leverage"),
    (lambda: EngineConfig(leverage=float("nan")), "EngineConfig.leverage"),
    (lambda: EngineConfig(init_cash=0.0), "EngineConfig.init_cash"),
    (lambda: EngineConfig(init_cash=-5.0), "EngineConfig.init_cash"),
    (lambda: EngineConfig(init_cash=1e20), "EngineConfig.init_cash"),
    (lambda: EngineConfig(sizing=Sizing("percent", 5.0)), "Sizing.value"),
    (lambda: EngineConfig(leverage=2.0, sizing=Sizing("percent", 2.5)), "Sizing.value"),
    (lambda: Sizing("cash_percent", 1.5), "Sizing.value"),
    (lambda: Sizing("units", 0.0), "Sizing.value"),
    (lambda: Sizing("notional", -100.0), "Sizing.value"),
    (lambda: Sizing("vol_target", 100.0), "Sizing.value"),
    (lambda: Sizing("kelly", 2.0), "Sizing.value"),
    (lambda: Sizing("kelly", 0.5, kelly_warmup=2.0), "Sizing.kelly_warmup"),
    (lambda: EngineConfig(sizing=Sizing("kelly", 0.5, kelly_cap=2.0)), "Sizing.kelly_cap"),
]
ACCEPTED = [
    lambda: Fees(taker=MAX_FEE_RATE, maker=MAX_FEE_RATE),
    lambda: EngineConfig(leverage=MAX_LEVERAGE, sizing=Sizing("percent", MAX_LEVERAGE)),
    lambda: EngineConfig(leverage=3.0, sizing=Sizing("percent", 3.0)),
    lambda: Slippage("bps", 1_000.0),
    lambda: Slippage("range", 1.0),
    lambda: EngineConfig(init_cash=100.0, fees=Fees(fixed=99.0)),
    lambda: Sizing("cash_percent", 1.0),
]


def test_config_bounds_refuse_every_bad_case_naming_the_key(capsys) -> None:
    refused = 0
    for build, key in REFUSED:
        with pytest.raises(ConfigError) as info:
            build()
        message = str(info.value)
        assert key in message, message
        assert "np.float64" not in message
        refused += 1
    for build in ACCEPTED:
        build()
    with capsys.disabled():
        print(
            f"\nconfig cases tried {len(REFUSED) + len(ACCEPTED)}: {refused} bad ones refused, "
            f"{len(ACCEPTED)} good ones accepted"
        )
    assert refused == len(REFUSED) >= 30
    assert set(BOUNDS) >= {key for _, key in REFUSED}  # every bound is documented


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("taker_fee", 1.5),
        ("maker_fee", -0.01),
        ("fixed_fee", 1e9),
        ("slippage_value", 5_000.0),
        ("leverage", 1_000.0),
        ("sizing_value", 5.0),
        ("init_cash", -1.0),
    ],
)
def test_engine_section_names_the_config_key(key: str, value: float) -> None:
    changes = {key: value}
    if key == "slippage_value":
        changes["slippage"] = "bps"
    if key == "sizing_value":
        changes["sizing"] = "percent"
    with pytest.raises(ConfigError, match=rf"^engine\.{key} "):
        replace(EngineSection(), **changes)


def test_a_150_percent_fee_override_is_refused_when_composed() -> None:
    from grekko_research.config.compose import compose_config

    with pytest.raises(ConfigError, match=r"engine\.taker_fee must be in \[0, 0\.1\], got 1\.5"):
        compose_config(["engine.taker_fee=1.5"])


RISE = [(100, 101, 99, 100), (100, 121, 99, 120), (120, 121, 119, 120), (120, 121, 119, 120)]


def test_a_maker_fee_above_the_taker_fee_cannot_overdraw_cash() -> None:
    """A limit buy of all the buying power pays the maker fee it is charged, not the taker's."""
    bars = make_bars(RISE)
    n = len(RISE)
    kinds = np.array([["limit"]] + [[None]] * (n - 1), dtype=object)
    size = np.full((n, 1), 50.0)  # five times what the cash buys: shrunk to the buying power
    price = np.full((n, 1), 99.5)  # reached inside bar 1, below its open: a maker fill
    config = EngineConfig(init_cash=1_000.0, fees=Fees(taker=0.0, maker=0.1))
    res = backtest(bars, Orders(kinds, size, price), config)
    filled = res.orders[res.orders["status"] == "filled"]
    assert len(filled) == 1
    assert res.cash.min() >= -1e-9
    # all the cash, the maker fee included: 1000 / (99.5 × 1.1) units
    assert filled["price"].iloc[0] == 99.5
    assert filled["size"].iloc[0] == pytest.approx(1_000.0 / (99.5 * 1.1))
    assert res.cash.min() == pytest.approx(0.0, abs=1e-9)


CRASH = [(100, 101, 99, 100), (100, 101, 99, 100), (1, 1, 1, 1), (1, 1, 1, 1), (1, 1, 1, 1)]


@pytest.mark.parametrize("lean", [True, False])
def test_a_sale_whose_fixed_fee_exceeds_cash_and_proceeds_is_refused(lean: bool) -> None:
    """Bought with all the cash, the position later is worth less than the fee to sell it."""
    bars = make_bars(CRASH)
    n = len(CRASH)
    signal = Signals(np.eye(n, dtype=bool)[0][:, None], np.eye(n, dtype=bool)[2][:, None])
    config = EngineConfig(init_cash=1_000.0, fees=Fees(taker=0.001, fixed=50.0))
    res = backtest(bars, signal, config, kernel="lean" if lean else "general")
    # The lean kernel does not refuse sales: it hands the run to the general one, and says so.
    assert res.kernel == "general"
    assert "cannot pay" in res.kernel_reason if lean else "requested" in res.kernel_reason
    status = list(res.orders["status"])
    assert status == ["filled", "rejected_funds"]
    assert res.cash.min() >= -1e-9
    assert res.equity.min() >= 0.0
    assert res.positions[-1, 0] > 0  # the position is kept


def test_target_sales_that_cannot_pay_their_fee_are_refused() -> None:
    bars = make_bars(CRASH)
    target = np.array([[1.0], [np.nan], [0.0], [np.nan], [np.nan]])
    config = EngineConfig(init_cash=1_000.0, fees=Fees(taker=0.1, fixed=20.0))
    res = backtest(bars, TargetPositions(target), config)
    assert res.cash.min() >= -1e-9
    assert "rejected_funds" in set(res.orders["status"])


def test_stepped_book_refuses_the_same_sale() -> None:
    """The live book plans with the kernel's rules: the unpayable sale is not planned."""
    from tests.unit.engine.test_book import _engine_fills, _step

    bars = make_bars(CRASH)
    n = len(CRASH)
    entries = np.eye(n, dtype=bool)[0][:, None]
    exits = np.eye(n, dtype=bool)[2][:, None]
    config = EngineConfig(init_cash=1_000.0, fees=Fees(taker=0.001, fixed=50.0))
    expected = backtest(bars, Signals(entries, exits), config)
    book, fills = _step(bars, lambda r: Signals(entries[r : r + 1], exits[r : r + 1]), config)
    assert fills == _engine_fills(expected)
    assert len(fills) == 1  # the entry; the sale is refused in both
    assert book.cash >= 0.0
    assert book.equity == pytest.approx(expected.final_equity)


@njit(cache=True, nogil=True)
def _enter_first_exit_third(open_, high, low, close, volume, params, entries, exits, se, sx):
    entries[0, :] = True
    exits[2, :] = True


@pytest.mark.parametrize("metrics", ["all", "trades"])
def test_a_grid_row_with_a_refused_sale_equals_its_backtest(metrics: str) -> None:
    """The grid's lean rows hand a refused sale to the general kernel, as backtest does."""
    from grekko_research.engine.grid import run_grid

    bars = make_bars(CRASH)
    n = len(CRASH)
    config = EngineConfig(init_cash=1_000.0, fees=Fees(taker=0.001, fixed=50.0))
    grid = run_grid(bars, _enter_first_exit_third, np.zeros((1, 1)), config, metrics=metrics)
    entries = np.eye(n, dtype=bool)[0][:, None]
    exits = np.eye(n, dtype=bool)[2][:, None]
    res = backtest(bars, Signals(entries, exits), config)
    assert grid["final_equity"].iloc[0] == pytest.approx(res.final_equity)
    assert grid["final_equity"].iloc[0] > 0
