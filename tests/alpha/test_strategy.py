"""The sentiment + flow reference strategy: conformance, a backtest that trades, and parity of
``grekko backtest`` with ``grekko-live replay`` (the runner computes the alpha features on its
rolling window from the store, the backtest over the whole history: same orders)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from grekko_research.config import compose_config
from grekko_research.data.files import import_file
from grekko_research.data.store import ParquetStore
from grekko_research.errors import ConfigError, DataNotFoundError
from grekko_research.runs import load_run_bars, run_backtest
from grekko_research.strategy import check_strategy, get_strategy, register_strategy
from grekko_research.strategy.registry import _LOCAL
from strategies.sentiment_flow import SentimentFlow
from tests.alpha.synthetic import seed_alpha_store

WINDOW = ["data.start=2021-01-04", "data.end=2021-01-25"]


@pytest.fixture(scope="module", autouse=True)
def registered() -> Iterator[None]:
    """In-process registration (the entry point needs a reinstall of the checkout)."""
    before = _LOCAL.get("sentiment_flow")
    register_strategy(SentimentFlow)
    yield
    if before is None:
        _LOCAL.pop("sentiment_flow", None)


@pytest.fixture(scope="module")
def alpha_root(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("alpha-store")
    for name in (
        "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz",
        "ohlcv/binance-spot_BTC-USDT_4h__octobot.csv.gz",
    ):
        import_file(shared_data / name, store=ParquetStore(root))
    seed_alpha_store(root)
    return root


def cfg(root: Path, *more: str) -> object:
    return compose_config(
        ["strategy=sentiment_flow", "data=btc_1h", f"data.store={root}", *WINDOW, *more]
    )


def test_conforms(alpha_root: Path) -> None:
    strategy = get_strategy("sentiment_flow")
    samples = [
        load_run_bars(cfg(alpha_root), strategy),
        load_run_bars(
            compose_config(
                [
                    "strategy=sentiment_flow",
                    "data=btc_1h",
                    "data.timeframe=4h",
                    f"data.store={alpha_root}",
                    "data.end=2021-03-01",
                ]
            ),
            strategy,
        ),
    ]
    assert samples[0].extras["alpha.mentions"].sum() > 1000  # the features were loaded
    report = check_strategy(strategy, samples, cuts=6, seed=1)
    assert report.ok, str(report)


def test_needs_its_features(alpha_root: Path, shared_data: Path, tmp_path: Path) -> None:
    strategy = SentimentFlow()
    bars = load_run_bars(cfg(alpha_root), strategy)
    plain = dataclasses.replace(bars, extras={})
    with pytest.raises(ConfigError, match=r"needs the alpha features \['alpha.sentiment'"):
        strategy.signals(plain, strategy.params({}))
    bare = tmp_path / "bare"
    import_file(
        shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz", store=ParquetStore(bare)
    )
    with pytest.raises(DataNotFoundError, match="sentiment/BTC"):
        load_run_bars(
            compose_config(["strategy=sentiment_flow", "data=btc_1h", f"data.store={bare}"]),
            strategy,
        )


def test_backtest_and_live_replay_place_the_same_orders(alpha_root: Path, tmp_path: Path) -> None:
    from live.app import plan_run, run_plan
    from live.events import EventStore
    from tests.peers.replay_fills import backtest_fills, live_fills

    config = cfg(
        alpha_root,
        "engine.taker_fee=0.001",
        "engine.slippage=bps",
        "engine.slippage_value=5",
        f"live.state_dir={tmp_path}",
    )
    store = ParquetStore(alpha_root)
    backtest = run_backtest(config, store=store)  # type: ignore[arg-type]
    expected = backtest_fills(backtest)
    assert len(expected) >= 4, "the case must trade to prove anything"
    plan = plan_run(config, replay=True)  # type: ignore[arg-type]
    assert plan.spec.extras is not None  # the runner's window gets the alpha features
    summary = run_plan(plan, store=store)
    assert summary.halted is None
    assert summary.bars == backtest.bars.n_bars
    with EventStore.open(plan.events) as log:
        log.verify().raise_if_broken()
        events = list(log.read())
    assert live_fills(events) == expected
    # the decisions really read the alternative data: without the flows it trades otherwise
    entries = backtest.result.n_trades
    assert entries >= 2 and np.isfinite(backtest.result.final_equity)
