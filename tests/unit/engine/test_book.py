"""EngineBook: the engine's account stepped bar by bar reproduces ``backtest`` exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import (
    EngineConfig,
    Fees,
    MarketRules,
    Signals,
    Sizing,
    Slippage,
    TargetPositions,
    backtest,
)
from grekko_research.engine.book import EngineBook, check_live_config, decision_row
from grekko_research.errors import ConfigError
from grekko_research.risk import RiskLimits
from tests.peers.frames import real_bars


def _step(bars: Bars, decisions, config: EngineConfig, *, skip_fill_at: int = -1, funding=None):
    """Drive an EngineBook like a live run: decide at a close, fill at the next open; a venue
    settles ``funding`` (rates per bar) on the position carried into each open."""
    book = EngineBook(config, bars.symbols, int(bars.index[0]))
    fills = []
    for t in range(bars.n_bars):
        book.start_bar(int(bars.index[t]))
        for j in range(bars.n_assets):
            if funding is not None and funding[t, j] and book.position(j):
                book.fund(j, -book.position(j) * bars.open[t, j] * funding[t, j])
        if t > 0:
            row = decision_row(bars[t - 1 : t], decisions(t - 1))
            planned = book.plan(
                row, bars.open[t], high=bars.high[t], low=bars.low[t], volume=bars.volume[t]
            )
            for po in planned:
                if po.status == "filled" and t != skip_fill_at:
                    book.fill(po.asset, po.size, po.price, kind=po.kind)
                    fills.append((t, po.asset, po.size, po.price))
        book.close_bar(bars.high[t], bars.low[t], bars.close[t], bars.filled[t])
    return book, fills


def _engine_fills(result) -> list[tuple[int, int, float, float]]:
    o = result.order_records
    from grekko_research.engine.layout import ORDER_FIELDS

    f = {name: i for i, name in enumerate(ORDER_FIELDS)}
    rows = o[o[:, f["status"]] == 0]
    return [
        (
            int(r[f["bar"]]),
            int(r[f["asset"]]),
            float(r[f["side"]] * r[f["size"]]),
            float(r[f["price"]]),
        )
        for r in rows
    ]


CONFIGS = {
    "all-in": EngineConfig(),
    "percent, bps, lot, min notional": EngineConfig(
        fees=Fees(taker=0.001, fixed=0.5),
        slippage=Slippage(kind="bps", value=5),
        sizing=Sizing(kind="percent", value=0.5),
        market=MarketRules(lot_size=0.0001, min_notional=10),
    ),
    "range slippage, risk limits": EngineConfig(
        fees=Fees(taker=0.001),
        slippage=Slippage(kind="range", value=0.1),
        risk=RiskLimits(max_drawdown=0.05, daily_loss=0.01, max_orders_per_day=3),
    ),
    "shorts and leverage": EngineConfig(
        allow_short=True, leverage=2.0, sizing=Sizing(kind="percent", value=1.5)
    ),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_stepped_book_reproduces_backtest_signals(shared_data: Path, name: str) -> None:
    bars = real_bars(shared_data, ["BTC-USDT"], 1500)
    rng = np.random.default_rng(7)
    entries = rng.random((bars.n_bars, 1)) < 0.05
    exits = rng.random((bars.n_bars, 1)) < 0.05
    short = rng.random((bars.n_bars, 1)) < 0.03 if CONFIGS[name].allow_short else None
    signals = Signals(entries, exits, short, None)
    result = backtest(bars, signals, CONFIGS[name])

    def decisions(r: int) -> Signals:
        return Signals(
            entries[r : r + 1], exits[r : r + 1], None if short is None else short[r : r + 1]
        )

    book, fills = _step(bars, decisions, CONFIGS[name])
    expected = _engine_fills(result)
    assert len(expected) >= 10
    assert fills == expected
    assert book.equity == result.final_equity


def test_stepped_book_reproduces_backtest_targets(shared_data: Path) -> None:
    bars = real_bars(shared_data, ["BTC-USDT", "ETH-USDT"], 800)
    rng = np.random.default_rng(3)
    target = np.where(
        rng.random((bars.n_bars, 2)) < 0.1, rng.uniform(0, 0.5, (bars.n_bars, 2)), np.nan
    )
    config = EngineConfig(fees=Fees(taker=0.00075), market=MarketRules(lot_size=0.001))
    result = backtest(bars, TargetPositions(target, kind="percent"), config)
    book, fills = _step(bars, lambda r: TargetPositions(target[r : r + 1], kind="percent"), config)
    assert len(fills) > 50
    assert fills == _engine_fills(result)
    assert book.equity == result.final_equity


def test_stepped_book_books_funding_as_the_backtest(shared_data: Path) -> None:
    """Settlements booked with ``fund`` (cash, the open trade's funding) give the backtest's
    equity and trades, shorts receiving a positive rate."""
    bars = real_bars(shared_data, ["BTC-USDT"], 600)
    rng = np.random.default_rng(5)
    entries, exits, short = (rng.random((bars.n_bars, 1)) < p for p in (0.05, 0.05, 0.03))
    rates = np.where(
        rng.random((bars.n_bars, 1)) < 0.125, rng.normal(1e-4, 3e-4, (bars.n_bars, 1)), 0.0
    )
    config = EngineConfig(allow_short=True, fees=Fees(taker=0.0005))
    result = backtest(bars, Signals(entries, exits, short, None), config, funding=rates)
    decisions = lambda r: Signals(entries[r : r + 1], exits[r : r + 1], short[r : r + 1])  # noqa: E731
    book, fills = _step(bars, decisions, config, funding=rates)
    assert len(result.funding_records) > 20
    assert fills == _engine_fills(result)
    assert book.equity == result.final_equity
    unfunded, _ = _step(bars, decisions, config)
    assert abs(unfunded.equity - result.final_equity) > 1e-3


def test_a_missed_fill_breaks_equality(shared_data: Path) -> None:
    """The comparison is sharp: one fill left unbooked changes what follows."""
    bars = real_bars(shared_data, ["BTC-USDT"], 600)
    rng = np.random.default_rng(7)
    entries = rng.random((bars.n_bars, 1)) < 0.05
    exits = rng.random((bars.n_bars, 1)) < 0.05
    result = backtest(bars, Signals(entries, exits), EngineConfig())
    first_bar = _engine_fills(result)[0][0]
    _, fills = _step(
        bars,
        lambda r: Signals(entries[r : r + 1], exits[r : r + 1]),
        EngineConfig(),
        skip_fill_at=first_bar,
    )
    assert fills != _engine_fills(result)


def test_snapshot_round_trip(shared_data: Path) -> None:
    bars = real_bars(shared_data, ["BTC-USDT"], 300)
    entries = np.zeros((bars.n_bars, 1), bool)
    entries[10] = True
    book, _ = _step(bars, lambda r: Signals(entries[r : r + 1], None), EngineConfig())
    other = EngineBook(EngineConfig(), bars.symbols, int(bars.index[0]))
    import json

    other.restore(json.loads(json.dumps(book.snapshot())))
    assert other.equity == book.equity and other.position(0) == book.position(0) != 0
    assert np.array_equal(other.open_trades(), book.open_trades(), equal_nan=True)
    with pytest.raises(ConfigError, match="state shapes"):
        EngineBook(EngineConfig(), ("A/B", "C/D"), 0).restore(book.snapshot())


@pytest.mark.parametrize(
    ("config", "match"),
    [
        (EngineConfig(execution="close"), "next_open"),
    ],
)
def test_configs_live_cannot_reproduce_are_refused(config: EngineConfig, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        check_live_config(config)


def test_target_row_plans_the_way_to_a_target_within_buying_power() -> None:
    """A units target is planned with the engine's own rules: the difference to the position,
    on the lot, shrunk to what the cash pays for with fees and slippage."""
    from grekko_research.engine.book import target_row

    config = EngineConfig(init_cash=1_000.0, fees=Fees(taker=0.001),
                          slippage=Slippage(kind="bps", value=10))  # fmt: skip
    book = EngineBook(config, ("BTC/USDT", "ETH/USDT"), 0, lot=np.array([0.001, 0.01]))
    (btc,) = book.plan(target_row(np.array([0.005, np.nan])), np.array([100.0, 50.0]))
    assert (btc.symbol, btc.size, btc.status) == ("BTC/USDT", 0.005, "filled")
    book.fill(0, btc.size, btc.price)
    assert book.plan(target_row(np.array([0.005, np.nan])), np.array([100.0, 50.0])) == []
    (back,) = book.plan(target_row(np.array([0.002, np.nan])), np.array([100.0, 50.0]))
    assert back.size == pytest.approx(-0.003)
    # More than the account can pay: the buy is cut to the cash, fees and slippage included.
    (big,) = book.plan(target_row(np.array([np.nan, 100.0])), np.array([100.0, 50.0]))
    assert big.status == "filled" and 0 < big.size < 20.0
    assert big.size * big.price * 1.001 <= book.cash + 1e-9
    with pytest.raises(ConfigError, match="target kind"):
        target_row(np.zeros(2), kind="shares")
