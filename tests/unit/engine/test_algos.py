"""Execution-algorithm schedules (grekko_research.engine.algos): exact child sizes, request
parsing with named errors, the VWAP profile, and the limit-fill rule the schedule expansion
uses held to the kernel's own fills."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, Orders, backtest
from grekko_research.engine.algos import (
    AlgoSpec,
    Parent,
    child_sizes,
    limit_fill_bar,
    parse_algo,
    passive_price,
    schedule_orders,
    volume_profile,
)
from grekko_research.errors import ConfigError

H = 3_600_000


def _bars(n: int, seed: int) -> Bars:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[100.0, close[:-1]]
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    c = lambda a: a.reshape(-1, 1)  # noqa: E731
    return Bars(index=np.arange(n, dtype=np.int64) * H, symbols=("X",), timeframe="1h",
                open=c(open_), high=c(high), low=c(low), close=c(close),
                volume=c(rng.uniform(1, 2, n)))  # fmt: skip


def test_child_sizes_floor_to_the_lot_and_sum_exactly() -> None:
    lot = Decimal("0.001")
    sizes = child_sizes(Decimal("1.000"), (1.0,) * 3, lot)
    assert sizes == [Decimal("0.333"), Decimal("0.333"), Decimal("0.334")]
    vw = child_sizes(Decimal("0.1"), (1.0, 3.0), Decimal("0.00001"))
    assert vw == [Decimal("0.025"), Decimal("0.075")] and sum(vw) == Decimal("0.1")
    assert all(s % lot == 0 for s in sizes)


def test_parse_algo_names_what_is_wrong() -> None:
    spec = parse_algo({"kind": "twap", "slices": 6, "over": "6h"}, H)
    assert (spec.slices, spec.every) == (6, 1)
    assert parse_algo({"kind": "twap", "slices": 3, "over": "6h"}, H).every == 2
    assert parse_algo({"kind": "chase", "passive": "2h"}, H).passive_bars == 2
    with pytest.raises(ConfigError, match="bogus"):
        parse_algo({"kind": "twap", "bogus": 1}, H)
    with pytest.raises(ConfigError, match="does not split into 4"):
        parse_algo({"kind": "twap", "slices": 4, "over": "6h"}, H)
    with pytest.raises(ConfigError, match="clip"):
        parse_algo({"kind": "iceberg"}, H)
    with pytest.raises(ConfigError, match="algo kind"):
        parse_algo({"kind": "sniper"}, H)
    assert parse_algo({"kind": "vwap", "slices": 2}, H).weights is None  # profiled at start
    with pytest.raises(ConfigError, match="needs its weights"):
        schedule_orders(5, 1, [Parent(0, "buy", Decimal(1), 0, AlgoSpec("vwap", 2))], _bars(5, 1))
    with pytest.raises(ConfigError, match="whole number"):
        parse_algo({"kind": "twap", "every": "30m"}, H)


def test_passive_price_rounds_away_from_the_market() -> None:
    assert passive_price("buy", 100.0, 10, Decimal("0.01")) == Decimal("99.9")
    assert passive_price("buy", 100.005, 0, Decimal("0.01")) == Decimal("100")
    assert passive_price("sell", 100.001, 0, Decimal("0.01")) == Decimal("100.01")


def test_volume_profile_weighs_by_time_of_day() -> None:
    index = np.arange(48, dtype=np.int64) * H  # two days of hourly bars from midnight
    volume = np.where((index // H) % 24 == 10, 5.0, 1.0)  # 10:00 trades five times more
    # Start deciding at 08:00 on day 3: children trade at 09:00, 10:00, 11:00.
    w = volume_profile(index, volume, H, 48 * H + 8 * H, 3, 1)
    assert w == (1.0, 5.0, 1.0)
    assert volume_profile(index[:0], volume[:0], H, 0, 2, 1) == (1.0, 1.0)


def test_two_children_on_one_bar_are_refused() -> None:
    bars = _bars(10, 1)
    twap = AlgoSpec("twap", slices=2)
    parents = [Parent(0, "buy", Decimal(2), 3, twap), Parent(0, "buy", Decimal(2), 4, twap)]
    with pytest.raises(ConfigError, match="two orders on bar 4"):
        schedule_orders(10, 1, parents, bars)


def test_a_cancelled_parent_drops_its_later_children_and_its_resting_limit() -> None:
    """A TWAP cancelled at bar 6 keeps the children decided before it; a chaser cancelled
    while its limit rests has it cancelled by the engine on bar 5 (off the book before bar 6
    trades): the fill it would have had on a later bar never happens, no market remainder."""
    bars = _bars(40, 1)
    twap = Parent(0, "buy", Decimal(6), 3, AlgoSpec("twap", slices=6), cancel=6)
    arrays = schedule_orders(40, 1, [twap], bars)
    assert [c.bar for c in twap.children] == [3, 4, 5]
    assert list(np.nonzero(arrays["kind"][:, 0])[0]) == [3, 4, 5]
    cols = bars.open[:, 0], bars.high[:, 0], bars.low[:, 0]
    # a buy limit placed on bar 3 that the bars first touch after the cancel
    price = next(Decimal(repr(round(float(bars.low[t, 0]) + 0.001, 3))) for t in range(6, 40)
                 if limit_fill_bar("buy", float(bars.low[t, 0]) + 0.001, 3, *cols) >= 6)  # fmt: skip
    chase = Parent(0, "buy", Decimal(1), 3, AlgoSpec("chase", passive_bars=36), limit=price,
                   cancel=6)  # fmt: skip
    arrays = schedule_orders(40, 1, [chase], bars)
    assert [(c.bar, c.kind) for c in chase.children] == [(3, "limit")]
    assert list(arrays["kind"][:, 0][[3, 5]]) == ["limit", "cancel"]
    assert np.count_nonzero(arrays["kind"][:, 0]) == 2
    config = EngineConfig(init_cash=1e6)
    assert (backtest(bars, Orders(**arrays), config).orders.status == "filled").sum() == 0
    arrays["kind"][5, 0] = ""  # uncancelled, the limit fills after bar 5
    assert (backtest(bars, Orders(**arrays), config).orders.status == "filled").sum() == 1


@pytest.mark.parametrize("seed", [3, 4])
def test_limit_fill_bar_is_the_kernels_fill(seed: int) -> None:
    """Each limit the expansion predicts fills (or not) on exactly the bar the kernel fills it:
    a buy and a sell limit placed on many bars, at prices around the next open."""
    bars = _bars(300, seed)
    rng = np.random.default_rng(seed)
    for side in ("buy", "sell"):
        kind = np.full((300, 1), "", dtype=object)
        size = np.zeros((300, 1))
        price = np.full((300, 1), np.nan)
        predicted = []
        t = 0
        while t < 290:
            p = float(bars.open[t + 1, 0] * (1 + rng.normal(0, 0.01)))
            fill = limit_fill_bar(side, p, t, bars.open[:, 0], bars.high[:, 0], bars.low[:, 0])
            kind[t, 0], size[t, 0], price[t, 0] = "limit", 1.0 if side == "buy" else -1.0, p
            if fill < 0:
                break
            predicted.append(fill)
            t = fill  # the next one decided on the bar it filled (as an iceberg does)
        result = backtest(bars, Orders(kind=kind, size=size, price=price),
                          EngineConfig(init_cash=1e6, allow_short=True))  # fmt: skip
        o = result.orders
        assert list(o[o.status == "filled"].bar) == predicted, side
        assert len(predicted) > 10
