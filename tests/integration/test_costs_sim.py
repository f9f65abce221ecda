"""Calibrated costs close the loop: a run against the Binance simulator pays a known slippage,
``calibrate`` fits it from the run's event log, and a backtest with the fitted model lands
closer to the run's fills and P&L than the default bar model (docs/execution.md)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from grekko_research.costs import fit_cost_models
from grekko_research.data.bars import Bars
from grekko_research.engine import EngineConfig, MarketRules, Signals, Sizing, backtest
from grekko_research.strategy import get_strategy
from grekko_research.tracking._costs import load_cost_models, log_cost_models
from live.events import EventStore
from live.quality import calibration_rows, quality_table
from tests.integration.test_quality_sim import sim_run

SLIP_BPS = 12  # what the simulator's taker fills pay through the market price
BARS = 48
NOTIONAL = 20_000.0  # each entry's size in USDT (a calibrated model needs a size)

pytestmark = pytest.mark.timeout(180)  # a cold numba cache compiles the general kernel first


def _config() -> EngineConfig:
    return EngineConfig(
        init_cash=1_000_000.0,
        sizing=Sizing("notional", NOTIONAL),
        market=MarketRules(lot_size=0.00001, tick_size=0.01),
    )


@pytest.fixture(scope="module")
def frame(shared_data: Path) -> pd.DataFrame:
    return pd.read_csv(shared_data / "ohlcv/binance-spot_BTC-USDT_1h__nfi.csv.gz").head(BARS)


@pytest.fixture(scope="module")
def slipped_run(frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """sma_cross 2/5 over 48 hourly bars against the simulator, every taker fill 12 bps
    through the market."""
    folder = tmp_path_factory.mktemp("costs") / "run"
    folder.mkdir()

    faults: list[tuple[str, dict[str, Any]]] = [("slippage", {"times": None, "bps": SLIP_BPS})]
    return sim_run(frame, folder / "events.db", "costs", _config(), faults)


def _pnl(sides: np.ndarray, qty: np.ndarray, price: np.ndarray, fee: np.ndarray,
         last: float) -> float:  # fmt: skip
    """P&L of fills marked at ``last``: cash flows, fees, the position left at that price."""
    sign = np.where(sides > 0, 1.0, -1.0)
    return float(-(sign * qty * price).sum() - fee.sum() + (sign * qty).sum() * last)


def test_a_calibrated_backtest_lands_closer_to_the_run(
    slipped_run: Path, frame: pd.DataFrame, tmp_path: Path
) -> None:
    with EventStore.open(slipped_run) as log:
        events = list(log.read())
    rows = calibration_rows(events)
    market = rows[rows.order_type == "market"]
    assert len(market) >= 4 and market.share.gt(0).all() and market.sigma_bps.gt(0).all()
    (model,) = fit_cost_models(rows, source="fills")
    print("\nfitted:", model)
    assert (model.venue, model.symbol) == ("binance", "BTC/USDT")
    # A fixed 12 bps: the intercept carries it (the tick rounds each fill by < 0.004 bps).
    assert model.slippage_bps(1e-4, 50.0) == pytest.approx(SLIP_BPS, abs=0.01)
    assert model.fill_a == np.inf  # no limit orders in this run: the bar model's rule

    # Versioned in MLflow and read back by name, as a config pointing at it does.
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    run_id = log_cost_models([model], name="sim-btc", rows=rows, uri=uri)
    (loaded,), found = load_cost_models("sim-btc", by="name", symbols=["BTC/USDT"], uri=uri)
    assert found == run_id and loaded == model

    live = quality_table(events)
    live = live[live.filled_qty > 0]
    bars = Bars.from_frame(frame, "BTC/USDT", "1h")
    strategy = get_strategy("sma_cross")
    signals = strategy.signals(bars, strategy.params({"fast": 2, "slow": 5}))
    assert isinstance(signals, Signals)
    default = backtest(bars, signals, _config())
    calibrated = backtest(bars, signals, dataclasses.replace(_config(), costs=(loaded,)))
    assert calibrated.kernel == "general"
    last = float(frame.close.iloc[-1])
    pnl_live = _pnl(np.where(live.side == "buy", 1, -1), live.filled_qty.to_numpy(),
                    live.fill_price.to_numpy(), live.fee_quote.to_numpy(), last)  # fmt: skip
    gaps = {}
    for label, result in (("default", default), ("calibrated", calibrated)):
        o = result.orders
        o = o[o.status == "filled"]
        side, size, price, fee = (o[c].to_numpy(float) for c in ("side", "size", "price", "fee"))
        n = min(len(o), len(live))
        assert n >= 4 and np.array_equal(side[:n] > 0, (live.side == "buy").to_numpy()[:n])
        price_gap = np.abs(price[:n] - live.fill_price.to_numpy()[:n])
        pnl = _pnl(side[:n], size[:n], price[:n], fee[:n], last)
        gaps[label] = (float(price_gap.mean()), abs(pnl - pnl_live), pnl)
    print(f"live P&L {pnl_live:.2f}; (mean |fill − live fill|, |P&L − live P&L|, P&L): {gaps}")
    assert gaps["calibrated"][0] < 0.1 * gaps["default"][0]
    assert gaps["calibrated"][1] < 0.1 * gaps["default"][1]


def test_the_calibrate_command_fits_and_logs(slipped_run: Path, tmp_path: Path) -> None:
    from live.cli import app

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    csv = tmp_path / "rows.csv"
    result = CliRunner().invoke(app, ["calibrate", str(slipped_run), "--name", "cli-btc",
                                      "--tracking-uri", uri, "--csv", str(csv), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout[result.stdout.index("{") :])
    (m,) = doc["models"]
    assert m["symbol"] == "BTC/USDT" and m["a"] == pytest.approx(SLIP_BPS, abs=0.01)
    (model,), run_id = load_cost_models(doc["run_id"], uri=uri)
    assert run_id == doc["run_id"] and model.a == pytest.approx(m["a"])
    assert len(pd.read_csv(csv)) >= 4
    # A log with no fills to fit: a clear refusal naming the log, nothing logged.
    empty = tmp_path / "empty.db"
    EventStore.open(empty).close()
    bad = CliRunner().invoke(app, ["calibrate", str(empty), "--no-log"])
    assert bad.exit_code != 0 and "cannot fit" in bad.output
