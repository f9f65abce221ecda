"""The engine's AMM fill model (FILL_AMM): fills checked against the exact quote of the same pool.

``engine._fills.amm_fill_price_nb`` quotes on the float path inside the kernels; every check
here recomputes the fill with :meth:`PoolState.quote` (Python integers, the contract's math)
for the same state and size.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from grekko_research.data.bars import Bars
from grekko_research.dex._nb import REL_ERROR
from grekko_research.dex.events import PoolEvent
from grekko_research.dex.fill import AmmFillRule, amm_fill
from grekko_research.dex.pool import PoolState
from grekko_research.dex.series import PoolSeries, pool_rows, poolstate_bars, replayed_bars
from grekko_research.dex.v3.tick_math import tick_at_sqrt_ratio
from grekko_research.engine import EngineConfig, Signals, backtest
from grekko_research.engine._fills import amm_fill_price_nb
from grekko_research.engine.config import Fees, Sizing
from grekko_research.errors import ConfigError

D0, D1 = 6, 18  # token0 = USDC, token1 = WETH: the asset is WETH priced in USDC
REL = 1e-9  # float path vs exact integers where the integer rounding is negligible


def _eth_price(sqrt_x96: int) -> float:
    return 1.0 / ((sqrt_x96 / 2**96) ** 2 * 10.0 ** (D0 - D1))


def _tolerance(state: PoolState, amount: int, zero_for_one: bool) -> float:
    """The float path's documented bound (``dex._nb.REL_ERROR``): float rounding plus the
    exact path's own integer rounding, one unit per swap step and side."""
    q = state.quote(amount, zero_for_one)
    words = abs(q.result.tick - state.tick) // (256 * state.tick_spacing)
    steps = words + len(q.result.crossed) + 2
    return REL_ERROR + 2 * steps * (1 / amount + 1 / q.amount_out)


def _exact(
    state: PoolState, size: float, price: float, gas: float = 0.0
) -> tuple[float, float, float]:
    """(price, signed quantity, relative tolerance) of the same order through ``state.quote``."""
    if size > 0:  # USDC in
        amount = int(size * price * 10**D0)
        q = state.quote(amount, True)
        qty = q.amount_out / 10**D1
        return (amount / 10**D0 + gas) / qty, qty, _tolerance(state, amount, True)
    amount = int(-size * 10**D1)
    q = state.quote(amount, False)
    return ((q.amount_out / 10**D0 - gas) / (amount / 10**D1), -amount / 10**D1,
            _tolerance(state, amount, False))  # fmt: skip


def _flat_pool(sqrt_x96: int, liquidity: int) -> PoolState:
    """A pool-state file's pool: a price and its in-range liquidity, no tick map."""
    return PoolState.for_fee(
        500, sqrt_price_x96=sqrt_x96, tick=tick_at_sqrt_ratio(sqrt_x96), liquidity=liquidity
    )


def _series(rows: np.ndarray, rule: AmmFillRule | None = None) -> PoolSeries:
    return PoolSeries(rows, False, D0, D1, rule or AmmFillRule(max_price_impact=0.9))


SQRT_1600 = int(math.sqrt(1 / 1600 * 10 ** (D1 - D0)) * 2**96)  # ETH at about 1,600 USDC


@pytest.mark.parametrize("size", [0.01, 1.0, 50.0, 400.0, -0.01, -1.0, -50.0, -400.0])
def test_a_fill_on_a_pool_state_row_is_the_exact_quote(size: float) -> None:
    state = _flat_pool(SQRT_1600, 4 * 10**17)  # the Polygon pool's liquidity, summer 2022
    series = _series(pool_rows([float(state.liquidity)], 0.0005, 0.0))
    price = _eth_price(SQRT_1600)
    fill, qty = amm_fill_price_nb(series.fill_state(), series.rows[0], size, price)
    want_price, want_qty, tol = _exact(state, size, price)
    assert fill == pytest.approx(want_price, rel=tol)
    assert qty == pytest.approx(want_qty, rel=tol)
    # impact and the LP fee make every fill worse than the pool's price, more so when larger
    assert (fill - price) * size > 0
    if abs(size) >= 50:
        assert abs(fill / price - 1) > 0.0005 + 0.0005 * abs(size) / 400


@pytest.fixture(scope="module")
def real_state(events_005: list[PoolEvent]) -> PoolState:
    return PoolState.from_events(events_005[:3000], 500)


@pytest.mark.parametrize("size", [1.0, 300.0, 3000.0, -1.0, -300.0, -3000.0])
def test_a_fill_crossing_initialised_ticks_is_the_exact_quote(
    real_state: PoolState, size: float
) -> None:
    """The real 0.05 % pool at mid-day with its tick map in the row's window."""
    ticks = sorted(real_state.ticks.initialized())
    nets = [float(real_state.ticks.net[t]) for t in ticks]
    rows = pool_rows([float(real_state.liquidity)], 0.0005, 0.0, [(ticks, nets)])
    series = _series(rows)
    price = _eth_price(real_state.sqrt_price_x96)
    fill, qty = amm_fill_price_nb(series.fill_state(), series.rows[0], size, price)
    want_price, want_qty, tol = _exact(real_state, size, price)
    assert fill == pytest.approx(want_price, rel=tol)
    assert qty == pytest.approx(want_qty, rel=tol)
    if abs(size) == 3000.0:  # the largest cross initialised ticks
        amount = int(size * price * 10**D0) if size > 0 else int(-size * 10**D1)
        assert real_state.quote(amount, size > 0).result.crossed


def test_gas_haircut_shrink_and_refuse_follow_the_one_rule(real_state: PoolState) -> None:
    ticks = sorted(real_state.ticks.initialized())
    nets = [float(real_state.ticks.net[t]) for t in ticks]
    price = _eth_price(real_state.sqrt_price_x96)
    gas = 3.5
    rows = pool_rows([float(real_state.liquidity)], 0.0005, gas, [(ticks, nets)])
    # gas is paid in the price: a sale of 2 WETH gets the quote's USDC less the gas
    fill, qty = amm_fill_price_nb(_series(rows).fill_state(), rows[0], -2.0, price)
    want_price, _, _ = _exact(real_state, -2.0, price, gas)
    assert (fill, qty) == (pytest.approx(want_price, rel=REL), pytest.approx(-2.0, rel=1e-12))
    # the MEV haircut comes off the output
    cut = _series(rows, AmmFillRule(max_price_impact=0.9, mev_haircut_bps=30.0))
    fill_cut, _ = amm_fill_price_nb(cut.fill_state(), rows[0], -2.0, price)
    assert fill_cut * 2 + gas == pytest.approx((fill * 2 + gas) * (1 - 0.003), rel=REL)
    # over the price-impact limit: shrunk to the exact rule's size (dex.fill.amm_fill)
    rule = AmmFillRule(max_price_impact=0.002)
    shrink = _series(rows, rule)
    fill_s, qty_s = amm_fill_price_nb(shrink.fill_state(), rows[0], -5000.0, price)
    exact = amm_fill(real_state, 5000 * 10**D1, False, rule)
    assert exact.shrunk
    assert -qty_s == pytest.approx(exact.amount_in / 10**D1, rel=1e-6)
    assert fill_s * -qty_s + gas == pytest.approx(exact.amount_out / 10**D0, rel=1e-6)
    # ... or refused: nothing fills
    refuse = _series(rows, AmmFillRule(max_price_impact=0.002, refuse=True))
    fill_r, qty_r = amm_fill_price_nb(refuse.fill_state(), rows[0], -5000.0, price)
    assert math.isnan(fill_r) and qty_r == 0.0
    # a size left to the fill (sizing 'all') cannot be quoted
    assert math.isnan(amm_fill_price_nb(shrink.fill_state(), rows[0], np.inf, price)[0])


def _synthetic(n: int = 120) -> tuple[Bars, PoolSeries, np.ndarray]:
    rng = np.random.default_rng(7)
    close = 1600 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = np.r_[1600.0, close[:-1]]
    liq = rng.uniform(1e17, 6e17, n)
    bars = Bars(
        index=np.arange(n, dtype=np.int64) * 3_600_000, symbols=("WETH/USDC",), timeframe="1h",
        open=open_[:, None], high=np.maximum(open_, close)[:, None] * 1.002,
        low=np.minimum(open_, close)[:, None] * 0.998, close=close[:, None],
        volume=np.ones((n, 1)),
    )  # fmt: skip
    return bars, _series(pool_rows(liq, 0.0005, 0.0)), liq


def test_backtest_fills_of_a_dex_asset_are_exact_quotes_at_the_bar_open() -> None:
    bars, series, liq = _synthetic()
    n = bars.n_bars
    entries = np.zeros(n, bool)
    exits = np.zeros(n, bool)
    entries[5::20] = True
    exits[15::20] = True
    config = EngineConfig(
        init_cash=500_000.0, fees=Fees(taker=0.0, maker=0.0), sizing=Sizing("percent", 1.0)
    )
    res = backtest(bars, Signals(entries, exits), config, pools={"WETH/USDC": series})
    assert res.kernel == "general"
    assert "DEX asset" in res.kernel_reason
    orders = res.orders
    assert len(orders) == 12
    for _, o in orders.iterrows():
        t = int(o["bar"])
        ref = float(bars.open[t, 0])  # next_open: the decision fills at the next bar's open
        sqrt_x96 = int(math.sqrt(10 ** (D1 - D0) / ref) * 2**96)
        state = _flat_pool(sqrt_x96, int(liq[t]))
        size = float(o["size"]) * (1 if o["side"] > 0 else -1)
        if size > 0:  # what was paid for what was received
            q = state.quote(round(size * float(o["price"]) * 10**D0), True)
            assert q.amount_out / 10**D1 == pytest.approx(size, rel=REL)
        else:
            q = state.quote(round(-size * 10**D1), False)
            assert q.amount_out / 10**D0 == pytest.approx(-size * float(o["price"]), rel=REL)
    naive = backtest(bars, Signals(entries, exits), config)
    assert naive.n_trades == res.n_trades
    assert res.final_equity < naive.final_equity  # impact and LP fees cost money


def test_a_dex_asset_is_out_of_the_lean_kernel_and_needs_a_size() -> None:
    bars, series, _ = _synthetic()
    e = np.zeros(bars.n_bars, bool)
    e[3] = True
    x = np.zeros(bars.n_bars, bool)
    cfg = EngineConfig(fees=Fees(taker=0.0), sizing=Sizing("percent", 0.5))
    with pytest.raises(ConfigError, match="DEX asset"):
        backtest(bars, Signals(e, x), cfg, pools={"WETH/USDC": series}, kernel="lean")
    with pytest.raises(ConfigError, match="sizing 'all'"):
        backtest(bars, Signals(e, x), EngineConfig(), pools={"WETH/USDC": series})
    with pytest.raises(ConfigError, match="not among the bars' symbols"):
        backtest(bars, Signals(e, x), cfg, pools={"BTC/USDC": series})


def test_poolstate_bars_from_minutes() -> None:
    """Ticks to prices (WETH = token1: the highest tick is the lowest price), a bar without a
    minute flagged, the pool row's liquidity from the minute before the bar."""
    frame = pd.DataFrame({
        "timestamp": [0, 60_000, 240_000],  # minutes 0, 1, 4 of 2-minute bars: bar 1 is empty
        "openTick": [200000, 200010, 200030], "closeTick": [200010, 200020, 200040],
        "lowestTick": [199990, 200005, 200025], "highestTick": [200015, 200025, 200045],
        "inAmount0": [10**9, 0, 0], "inAmount1": [0, 10**18, 0],
        "currentLiquidity": [10**17, 2 * 10**17, 3 * 10**17],
    })  # fmt: skip
    bars, series = poolstate_bars(frame, "WETH/USDC", decimals0=D0, decimals1=D1,
                                  fee_pips=500, timeframe="2m")  # fmt: skip

    def px(tick: int) -> float:
        return 1.0 / (1.0001**tick * 10.0 ** (D0 - D1))

    assert bars.n_bars == 3
    assert bars.open[0, 0] == pytest.approx(px(200000))
    assert bars.close[0, 0] == pytest.approx(px(200020))
    assert bars.high[0, 0] == pytest.approx(px(199990))
    assert bars.low[0, 0] == pytest.approx(px(200025))
    assert bars.volume[0, 0] == pytest.approx(1.0 + 1000 / px(200010))
    assert bars.filled[:, 0].tolist() == [False, True, False]
    assert series.rows[:, 0].tolist() == [1e17, 1e17, 2e17]
    with pytest.raises(ConfigError, match="whole number of minutes"):
        poolstate_bars(frame, "WETH/USDC", decimals0=D0, decimals1=D1, fee_pips=500,
                       timeframe="30s")  # fmt: skip


def test_replayed_bars_carry_the_tick_window(events_030: list[PoolEvent]) -> None:
    bars, series = replayed_bars(events_030, "WETH/USDC", fee_pips=3000, decimals0=D0,
                                 decimals1=D1, timeframe="1h", window=8)  # fmt: skip
    assert bars.n_bars == 24
    last = [e for e in events_030 if type(e).__name__ == "V3Swap"][-1]
    assert bars.close[-1, 0] == pytest.approx(_eth_price(last.sqrt_price_x96), rel=1e-12)
    assert (series.rows[1:, 3] > 0).all()  # initialised ticks around the price
    assert series.rows.shape[1] == 4 + 3 * 16


def test_gas_from_a_base_fee_series_lands_in_each_bar_row() -> None:
    from grekko_research.dex.series import gas_quote_series

    gas = gas_quote_series([30.0, 60.0], 150_000, [2000.0, 2000.0])  # gwei, gas, USDC per ETH
    assert gas.tolist() == pytest.approx([9.0, 18.0])
    rows = pool_rows([1e17, 1e17], 0.0005, gas)
    assert rows[:, 2].tolist() == pytest.approx([9.0, 18.0])
    series = _series(rows)
    price = 1600.0
    fills = [amm_fill_price_nb(series.fill_state(), rows[t], -1.0, price)[0] for t in (0, 1)]
    assert fills[0] - fills[1] == pytest.approx(9.0, rel=1e-9)  # a WETH sold pays 9 USDC more
    with pytest.raises(ConfigError, match="must be >= 0"):
        gas_quote_series([-1.0], 150_000, [2000.0])
