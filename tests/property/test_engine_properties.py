"""Accounting identities and causality of the engine on random markets, signals and settings."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
from grekko_research.engine import layout as L
from grekko_research.engine._records import record_table
from grekko_research.risk import RiskLimits

HOUR = 3_600_000


def random_bars(rng: np.random.Generator, n: int, k: int, gaps: bool) -> Bars:
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, k)), axis=0))
    open_ = np.vstack([close[:1], close[:-1]]) * np.exp(rng.normal(0, 0.005, (n, k)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, (n, k))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, (n, k))))
    filled = np.zeros((n, k), dtype=bool)
    if gaps:
        filled = rng.random((n, k)) < 0.05
        for arr in (open_, high, low, close):
            arr[filled] = np.nan
    return Bars(
        index=1_700_000_000_000 - 1_700_000_000_000 % HOUR + HOUR * np.arange(n),
        symbols=tuple(f"A{j}/USDT" for j in range(k)),
        timeframe="1h",
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=rng.uniform(10, 1000, (n, k)),
        filled=filled,
    )


@st.composite
def scenarios(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(5, 120))
    k = draw(st.integers(1, 3))
    bars = random_bars(rng, n, k, draw(st.booleans()))
    form = draw(st.sampled_from(["signals", "target", "orders"]))
    allow_short = draw(st.booleans())
    if form == "signals":
        p = draw(st.floats(0.05, 0.4))
        signal = Signals(
            rng.random((n, k)) < p,
            rng.random((n, k)) < p,
            (rng.random((n, k)) < p) if allow_short else None,
            (rng.random((n, k)) < p) if allow_short else None,
        )
    elif form == "target":
        target = rng.uniform(-0.6 if allow_short else 0.0, 0.6, (n, k))
        target[rng.random((n, k)) < 0.5] = np.nan
        signal = TargetPositions(target)
    else:
        kinds = rng.choice(
            np.array([None, "market", "limit", "stop", "stop_limit", "cancel"], dtype=object),
            (n, k),
        )
        sizes = rng.uniform(-3, 3, (n, k))
        ref = np.nan_to_num(bars.close, nan=100.0)
        signal = Orders(
            kinds,
            sizes,
            ref * rng.uniform(0.95, 1.05, (n, k)),
            ref * rng.uniform(0.95, 1.05, (n, k)),
        )
    stops = Stops(
        stop_loss=draw(st.sampled_from([None, 0.02, 0.05])),
        take_profit=draw(st.sampled_from([None, 0.03, 0.1])),
        trailing=draw(st.sampled_from([None, 0.04])),
        both_touch=draw(st.sampled_from(["pessimistic", "optimistic"])),
    )
    config = EngineConfig(
        execution=draw(st.sampled_from(["next_open", "close"])),
        fees=Fees(
            taker=draw(st.sampled_from([0.0, 0.001])),
            maker=0.0005,
            fixed=draw(st.sampled_from([0.0, 0.1])),
        ),
        slippage=Slippage(
            *draw(st.sampled_from([("none", 0.0), ("bps", 5.0), ("range", 0.1), ("volume", 0.5)]))
        ),
        sizing=draw(st.sampled_from([Sizing("all"), Sizing("percent", 0.3), Sizing("units", 2.0)])),
        stops=stops,
        market=MarketRules(
            lot_size=draw(st.sampled_from([0.0, 0.01])),
            min_notional=draw(st.sampled_from([0.0, 5.0])),
        ),
        risk=draw(
            st.sampled_from(
                [
                    RiskLimits(),
                    RiskLimits(max_position=0.5, max_gross=1.0),
                    RiskLimits(max_drawdown=0.1, daily_loss=0.05),
                ]
            )
        ),
        allow_short=allow_short,
        leverage=draw(st.sampled_from([1.0, 2.0])),
        order_valid_bars=draw(st.sampled_from([0, 3])),
    )
    return bars, signal, config


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_accounting_identities(scenario) -> None:
    bars, signal, config = scenario
    res = backtest(bars, signal, config)
    last = np.where(bars.filled, np.nan, bars.close)
    # the value of a held position uses the last traded close
    for j in range(bars.n_assets):
        col = last[:, j]
        idx = np.where(np.isnan(col), 0, np.arange(len(col)))
        np.maximum.accumulate(idx, out=idx)
        last[:, j] = col[idx]
    value = np.nansum(res.positions * np.nan_to_num(last), axis=1)
    np.testing.assert_allclose(res.cash + value, res.equity, rtol=1e-9, atol=1e-6)
    o = res.order_records
    filled = o[o[:, L.O_STATUS] == L.STATUS_FILLED]
    assert (filled[:, L.O_FEE] >= 0).all()
    assert (filled[:, L.O_SIZE] > 0).all()
    b = filled[:, L.O_BAR].astype(int)
    a = filled[:, L.O_ASSET].astype(int)
    price = filled[:, L.O_PRICE]
    assert not bars.filled[b, a].any(), "a fill on a bar without a market"
    tol = 1e-9 * price
    assert (price >= bars.low[b, a] - tol).all() and (price <= bars.high[b, a] + tol).all()
    if not config.allow_short:
        assert (res.positions >= -1e-9).all()
    t = res.trade_records
    if len(t):
        assert (t[:, L.T_FEES] >= 0).all()
        closed = t[t[:, L.T_IS_OPEN] == 0]
        assert (closed[:, L.T_EXIT_BAR] >= closed[:, L.T_ENTRY_BAR]).all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.floats(0.2, 0.9))
def test_the_past_does_not_depend_on_the_future(scenario, share) -> None:
    """Simulating only the first bars gives the same equity and fills up to there."""
    bars, signal, config = scenario
    cut = max(2, int(bars.n_bars * share))
    full = backtest(bars, signal, config)

    def head(x):
        if x is None:
            return None
        return x[:cut]

    if isinstance(signal, Signals):
        part_signal = Signals(
            *(
                head(getattr(signal, f))
                for f in ("entries", "exits", "short_entries", "short_exits")
            )
        )
    elif isinstance(signal, TargetPositions):
        part_signal = TargetPositions(head(signal.target), signal.kind)
    else:
        part_signal = Orders(
            head(signal.kind), head(signal.size), head(signal.price), head(signal.stop)
        )
    part = backtest(bars[:cut], part_signal, config)
    np.testing.assert_allclose(part.equity, full.equity[:cut], rtol=1e-12, atol=1e-9)
    before = full.order_records[full.order_records[:, L.O_BAR] < cut]
    np.testing.assert_allclose(part.order_records, before, rtol=1e-12, atol=1e-9)


@st.composite
def simple_scenarios(draw):
    """Scenarios inside the lean kernel's scope (long only, no slippage, rules or limits)."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(5, 150))
    k = draw(st.integers(1, 3))
    bars = random_bars(rng, n, k, gaps=False)
    p = draw(st.floats(0.02, 0.4))
    signal = Signals(rng.random((n, k)) < p, rng.random((n, k)) < p)
    sizing = draw(
        st.sampled_from(
            [
                Sizing("all"),
                Sizing("units", 3.0),
                Sizing("notional", 2_500.0),
                Sizing("percent", 0.4),
                Sizing("cash_percent", 0.5),
            ]
        )
    )
    stops = Stops(
        stop_loss=draw(st.sampled_from([None, 0.01, 0.03])),
        stop_loss_kind=draw(st.sampled_from(["pct", "abs"])),
        take_profit=draw(st.sampled_from([None, 0.02, 0.05])),
        both_touch=draw(st.sampled_from(["pessimistic", "optimistic"])),
        on_entry_bar=draw(st.booleans()),
        skip_signals_on_exit_bar=draw(st.booleans()),
    )
    config = EngineConfig(
        execution=draw(st.sampled_from(["next_open", "close"])),
        fees=Fees(
            taker=draw(st.sampled_from([0.0, 0.001, 0.004])),
            fixed=draw(st.sampled_from([0.0, 0.5])),
        ),
        sizing=sizing,
        stops=stops,
    )
    return bars, signal, config


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(simple_scenarios())
def test_lean_kernel_equals_general_kernel(scenario) -> None:
    bars, signal, config = scenario
    lean = backtest(bars, signal, config)  # "auto" picks the lean kernel for these scenarios
    assert lean.kernel == "lean", lean.kernel_reason
    # The lean run first makes the records only; the series come from a replay.
    assert lean._complete is not None
    first_trades = record_table(lean._trade_records)  # the kernel's structured records
    first_final, first_count = lean.final_equity, lean.n_trades
    assert lean._complete is not None  # neither of those needed the replay
    general = backtest(bars, signal, config, kernel="general")
    assert general.kernel == "general"
    np.testing.assert_allclose(lean.equity, general.equity, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(lean.order_records, general.order_records, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(
        lean.trade_records, general.trade_records, rtol=1e-12, atol=1e-9, equal_nan=True
    )
    assert first_final == lean.equity[-1] and first_count == lean.n_trades
    assert np.isnan(first_trades[:, [L.T_MAE, L.T_MFE]]).all()
    keep = [c for c in range(first_trades.shape[1]) if c not in (L.T_MAE, L.T_MFE)]
    np.testing.assert_array_equal(first_trades[:, keep], lean.trade_records[:, keep])


@st.composite
def cash_account_scenarios(draw):
    """Unlevered long-only runs with costs up to the documented bounds (docs/engine.md)."""
    from grekko_research.engine.config import MAX_FEE_RATE, MAX_SLIPPAGE

    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(5, 80))
    k = draw(st.integers(1, 3))
    bars = random_bars(rng, n, k, draw(st.booleans()))
    # Sometimes a crash to a hundredth: positions become worth less than a fixed fee.
    if draw(st.booleans()):
        scale = np.ones((n, 1))
        scale[int(rng.integers(1, n)) :] = 0.01
        bars = Bars(
            index=bars.index,
            symbols=bars.symbols,
            timeframe=bars.timeframe,
            open=bars.open * scale,
            high=bars.high * scale,
            low=bars.low * scale,
            close=bars.close * scale,
            volume=bars.volume,
            filled=bars.filled,
        )
    form = draw(st.sampled_from(["signals", "target", "orders"]))
    if form == "signals":
        p = draw(st.floats(0.05, 0.5))
        signal = Signals(rng.random((n, k)) < p, rng.random((n, k)) < p)
    elif form == "target":
        target = rng.uniform(0.0, 1.0, (n, k))
        target[rng.random((n, k)) < 0.4] = np.nan
        signal = TargetPositions(target)
    else:
        kinds = rng.choice(
            np.array([None, "market", "limit", "stop", "stop_limit"], dtype=object), (n, k)
        )
        ref = np.nan_to_num(bars.close, nan=100.0)
        sizes = rng.uniform(-50, 50, (n, k))  # up to 5 times the cash
        signal = Orders(
            kinds, sizes, ref * rng.uniform(0.9, 1.1, (n, k)), ref * rng.uniform(0.9, 1.1, (n, k))
        )
    init_cash = 1_000.0
    slip_kind = draw(st.sampled_from(["none", "bps", "range", "volume"]))
    slip_max = MAX_SLIPPAGE[slip_kind] if slip_kind != "none" else 0.0
    config = EngineConfig(
        init_cash=init_cash,
        execution=draw(st.sampled_from(["next_open", "close"])),
        fees=Fees(
            taker=draw(st.floats(0.0, MAX_FEE_RATE)),
            maker=draw(st.floats(0.0, MAX_FEE_RATE)),
            fixed=draw(st.sampled_from([0.0, 1.0, 50.0, 0.9 * init_cash])),
        ),
        slippage=Slippage(slip_kind, draw(st.floats(0.0, slip_max))),
        sizing=draw(
            st.sampled_from(
                [
                    Sizing("all"),
                    Sizing("percent", 0.5),
                    Sizing("units", 100.0),
                    Sizing("notional", 5_000.0),
                    Sizing("cash_percent", 1.0),
                ]
            )
        ),
        stops=Stops(stop_loss=draw(st.sampled_from([None, 0.05])), trailing=None),
        market=MarketRules(lot_size=draw(st.sampled_from([0.0, 0.01]))),
        leverage=draw(st.sampled_from([1.0, 0.5])),
    )
    return bars, signal, config


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cash_account_scenarios())
def test_an_unlevered_cash_account_never_goes_below_zero(scenario) -> None:
    """An order the cash cannot pay, fees and slippage included, is shrunk or refused."""
    bars, signal, config = scenario
    res = backtest(bars, signal, config)
    tol = 1e-9 * config.init_cash
    assert res.cash.min() >= -tol, f"cash {res.cash.min()}"
    assert res.equity.min() >= -tol, f"equity {res.equity.min()}"
