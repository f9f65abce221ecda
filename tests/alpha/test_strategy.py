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
    entries = backtest.result.n_trades
    assert entries >= 2 and np.isfinite(backtest.result.final_equity)


def test_the_decisions_read_the_flows(alpha_root: Path, shared_data: Path, tmp_path: Path) -> None:
    """Same prices and crowd mood, other exchange flows: other orders."""
    import pandas as pd

    from grekko_research.alpha.store import AltKey, AltStore
    from tests.alpha.synthetic import flow_rows, sentiment_rows
    from tests.peers.replay_fills import backtest_fills

    other = tmp_path / "other-flows"
    import_file(
        shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz", store=ParquetStore(other)
    )
    lo, hi = (
        int(pd.Timestamp(x, tz="UTC").value // 1_000_000) for x in ("2020-12-01", "2021-03-01")
    )
    alt = AltStore(other)
    alt.write(AltKey("sentiment", "BTC"), sentiment_rows(lo, hi, seed=7))
    alt.write(AltKey("onchain", "BTC"), flow_rows(lo, hi, seed=99))
    base = backtest_fills(run_backtest(cfg(alpha_root), store=ParquetStore(alpha_root)))  # type: ignore[arg-type]
    moved = backtest_fills(run_backtest(cfg(other), store=ParquetStore(other)))  # type: ignore[arg-type]
    assert base and base != moved


def test_grekko_backtest_and_grekko_live_replay_agree(alpha_root: Path, tmp_path: Path) -> None:
    """The two commands a user runs, on the same store and overrides: same fills, same equity."""
    import json

    import pandas as pd
    from typer.testing import CliRunner

    from grekko_research.cli import app as grekko
    from live.cli import app as grekko_live

    env = {"GREKKO_DATA_DIR": str(alpha_root), "MLFLOW_TRACKING_URI": ""}
    overrides = ["data=btc_1h", *WINDOW, "engine.taker_fee=0.001", "engine.slippage=bps",
                 "engine.slippage_value=5"]  # fmt: skip
    runs = tmp_path / "runs"
    got = CliRunner().invoke(
        grekko,
        ["backtest", "--output-dir", str(runs), "experiment.track=false",
         "strategy=sentiment_flow", *overrides],
        env=env,
    )  # fmt: skip
    assert got.exit_code == 0, got.output
    run_dir = Path(got.stdout.strip().splitlines()[-1])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    trades = pd.read_parquet(run_dir / "trades.parquet")
    expected: list[tuple[str, float, float]] = []
    for t in trades.sort_values("entry_time").itertuples():
        expected.append(("buy", float(t.size), float(t.entry_price)))
        if not t.is_open:
            expected.append(("sell", float(t.size), float(t.exit_price)))
    assert len(expected) >= 4

    state = tmp_path / "state"
    got = CliRunner().invoke(
        grekko_live,
        ["replay", "--strategy", "sentiment_flow", "--state-dir", str(state), *overrides],
        env=env,
    )
    assert got.exit_code == 0, got.output
    events = got.stdout.strip().splitlines()[-1]
    orders = json.loads(
        CliRunner().invoke(grekko_live, ["orders", "--events", events, "--json"], env=env).stdout
    )
    fills = [(o["side"], float(o["filled"]), float(o["avg_price"])) for o in orders]
    assert [f[0] for f in fills] == [e[0] for e in expected]
    assert np.allclose([f[1:] for f in fills], [e[1:] for e in expected], rtol=1e-12)
    status = json.loads(
        CliRunner().invoke(grekko_live, ["status", "--events", events, "--json"], env=env).stdout
    )
    assert float(status["equity"]) == pytest.approx(metrics["final_equity"], rel=1e-12)
