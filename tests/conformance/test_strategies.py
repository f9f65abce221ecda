"""The conformance suite on every registered strategy, and on fixtures that break the contract."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from grekko_research.config import compose_config
from grekko_research.data.bars import Bars
from grekko_research.data.store import ParquetStore
from grekko_research.engine import Signals
from grekko_research.indicators import sma
from grekko_research.runs import load_run_bars
from grekko_research.strategy import (
    ConformanceError,
    Strategy,
    available_strategies,
    check_strategy,
    get_strategy,
    param,
)
from grekko_research.strategy.crossings import crossed_above, crossed_below

SPOT = ("data=btc_1h", "data=btc_1d", "data.timeframe=4h")


def samples(strategy: Strategy, root: Path) -> list[Bars]:
    """Real bars for a strategy: every shipped spot timeframe, or perpetuals when it needs them."""
    if "funding_rate" in strategy.requires:
        choices: tuple[str, ...] = ("data=btc_perp_1h", "data=btc_perp_1h data.symbol=ETH/USDT")
    elif strategy.min_assets > 1:
        choices = ("data=perps_1h",)
    else:
        choices = SPOT
    if any(name.startswith("alpha.") for name in strategy.requires):
        from tests.alpha.synthetic import seed_alpha_store

        # no real alternative data is shared: seeded rows over the spot samples' span
        seed_alpha_store(root, start="2017-08-01", end="2025-09-01")
    out = []
    for choice in choices:
        cfg = compose_config([f"strategy={strategy.name}", *choice.split()])
        out.append(load_run_bars(cfg, strategy, ParquetStore(root)))
    return out


def test_every_reference_strategy_is_registered() -> None:
    assert {
        "sma_cross",
        "rsi_mean_reversion",
        "bollinger_breakout",
        "donchian_trend",
        "xs_momentum",
        "funding_carry",
    } <= set(available_strategies())


@pytest.mark.parametrize("name", available_strategies())
def test_registered_strategy_conforms(name: str, research_store: Path) -> None:
    strategy = get_strategy(name)
    report = check_strategy(strategy, samples(strategy, research_store), cuts=6, seed=1)
    assert report.ok, str(report)
    names = {c.name.split("[")[0] for c in report.checks}
    assert {"search_space", "params_roundtrip", "deterministic", "no_mutation", "causal",
            "warmup", "runs"} <= names  # fmt: skip


# -- fixtures that break the contract ------------------------------------------------------


@dataclass(frozen=True)
class WindowParams:
    window: int = param(20, low=2, high=200)


class _Base(Strategy):
    Params = WindowParams

    def warmup(self, params: WindowParams) -> int:
        return params.window

    def _ma(self, close: np.ndarray, window: int) -> Signals:
        line = sma(close, window)
        return Signals(crossed_above(close, line), crossed_below(close, line))


class Lookahead(_Base):
    name = "broken_lookahead"

    def signals(self, bars: Bars, params: WindowParams) -> Signals:
        future = np.roll(bars.close, -1, axis=0)  # tomorrow's close, known today
        future[-1] = bars.close[-1]
        return self._ma(future, params.window)


class Mutates(_Base):
    name = "broken_mutation"

    def signals(self, bars: Bars, params: WindowParams) -> Signals:
        close = bars.close
        close.setflags(write=True)  # sneaks past the read-only flag of a view
        close[:, 0] = np.maximum.accumulate(close[:, 0])
        return self._ma(close, params.window)


class WritesReadOnly(_Base):
    name = "broken_write"

    def signals(self, bars: Bars, params: WindowParams) -> Signals:
        bars.close[0, 0] = 0.0
        return self._ma(bars.close, params.window)


class ShortWarmup(_Base):
    name = "broken_warmup"

    def warmup(self, params: WindowParams) -> int:
        return 3  # but SMA(window) needs `window` bars

    def signals(self, bars: Bars, params: WindowParams) -> Signals:
        return self._ma(bars.close, params.window)


class Honest(_Base):
    name = "honest"

    def signals(self, bars: Bars, params: WindowParams) -> Signals:
        return self._ma(bars.close, params.window)


@dataclass
class MutableParams:
    window: int = param(20, low=2, high=200)


class BadSpace(Honest):
    name = "broken_space"
    Params = MutableParams  # type: ignore[assignment]


@pytest.fixture(scope="module")
def btc(research_store: Path) -> list[Bars]:
    return samples(get_strategy("sma_cross"), research_store)[:2]


@pytest.mark.parametrize(
    ("strategy", "check", "words"),
    [
        (Lookahead(), "causal", "looks ahead"),
        (Mutates(), "no_mutation", "modified its input bars: close"),
        (WritesReadOnly(), "no_mutation", "tried to write into its input bars"),
        (ShortWarmup(), "warmup", "although warmup() says 3 bars suffice"),
        (BadSpace(), "search_space", "must be a frozen dataclass"),
    ],
)
def test_broken_fixture_is_caught(strategy: Strategy, check: str, words: str, btc) -> None:
    report = check_strategy(strategy, btc, cuts=6)
    failed = {c.name: c.message for c in report.failures}
    assert check in failed, str(report)
    assert words in failed[check]
    with pytest.raises(ConformanceError, match=check):
        report.raise_for_failures()


def test_honest_fixture_passes(btc) -> None:
    report = check_strategy(Honest(), btc)
    assert report.ok, str(report)
    report.raise_for_failures()
