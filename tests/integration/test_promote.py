"""``grekko promote``: refuses an overfit sweep on noise, registers a real edge, reproduces it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from grekko_research.cli import app
from grekko_research.data.files import import_file
from grekko_research.data.store import ParquetStore
from tests.integration.test_live_binance_sim import sim  # noqa: F401  (a fixture)

ROOT = Path(__file__).resolve().parents[2]
N = 6000
START = 1_609_459_200_000  # 2021-01-01


def _write(folder: Path, symbol: str, close: np.ndarray, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.001, len(close))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.001, len(close))))
    path = folder / f"binance-spot_{symbol}-USDT_1h__synthetic.csv"
    pd.DataFrame(
        {"timestamp": START + 3_600_000 * np.arange(len(close)), "open": open_, "high": high,
         "low": low, "close": close, "volume": rng.lognormal(3, 1, len(close))}
    ).to_csv(path, index=False)  # fmt: skip
    return path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with NOISE/USDT (a random walk: nothing to find) and WAVE/USDT (a drifting cycle)."""
    root = tmp_path_factory.mktemp("synthetic")
    rng = np.random.default_rng(1)
    t = np.arange(N)
    noise = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, N)))
    wave = 100 * np.exp(
        0.0003 * t + 0.03 * np.sin(2 * np.pi * t / 150) + np.cumsum(rng.normal(0, 0.004, N))
    )
    store = ParquetStore(root / "store")
    for symbol, close, seed in (("NOISE", noise, 2), ("WAVE", wave, 3)):
        import_file(_write(root, symbol, close, seed), store=store)
    return root


def _sweep(root: Path, symbol: str, out: Path) -> dict:
    result = CliRunner().invoke(
        app,
        ["sweep", "--json", f"data.symbol={symbol}/USDT", "optimize=quick", "optimize.n_trials=40",
         f"experiment.output_dir={out}"],
        # PYTHONPATH: the sweep's parity check runs grekko-live from this checkout
        env={"GREKKO_DATA_DIR": str(root / "store"), "PYTHONPATH": str(ROOT)},
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def _promote(out: Path, run_id: str, name: str, *extra: str):
    return CliRunner().invoke(
        app,
        ["promote", run_id, "--name", name, "--alias", "staging", "--runs-dir", str(out), *extra],
    )


def test_overfit_sweep_on_noise_is_refused(synthetic: Path, tmp_path: Path) -> None:
    summary = _sweep(synthetic, "NOISE", tmp_path)
    over = summary["overfitting"]
    assert over["n_eff"] < over["n_trials"] and over["deflated_sharpe_eff"] < 0.95
    result = _promote(tmp_path, summary["mlflow_run_id"], "noise_cross")
    assert result.exit_code == 1
    assert "refused" in result.stderr
    assert "FAIL" in result.stdout
    failed = {g["gate"] for g in summary["gates"] if not g["ok"]}
    assert "deflated Sharpe (effective trials)" in failed


def test_real_edge_is_registered_and_reproduces_its_signals(
    synthetic: Path,
    tmp_path: Path,
    sim: str,  # noqa: F811  (the simulator fixture)
) -> None:
    from grekko_research.config import compose_config
    from grekko_research.engine.api import _kernel_inputs
    from grekko_research.runs import load_run_bars
    from grekko_research.strategy import get_strategy
    from grekko_research.tracking import load_strategy, tracking_uri

    summary = _sweep(synthetic, "WAVE", tmp_path)
    assert summary["out_of_sample"]["sharpe_ratio"] > 2 and summary["overfitting"]["pbo"] < 0.2
    assert summary["overfitting"]["deflated_sharpe"] > 0.95
    # issue 29: effective trials, robustness and parity, all in the summary and the gate table
    over, robust = summary["overfitting"], summary["robustness"]
    assert 1 <= over["n_eff"] < over["n_trials"] and over["deflated_sharpe_eff"] > 0.95
    assert robust["pvalue_random_entries"] <= 0.05 and robust["draws"] == 1000
    assert robust["bootstrap.final_equity.p5"] < robust["bootstrap.final_equity.p95"]
    assert summary["parity"]["passed"] is True and summary["parity"]["first_difference"] is None
    assert summary["parity"]["window"]["start"] == summary["last_oos"]["start"]
    assert all(g["ok"] and g["why"] for g in summary["gates"]) and len(summary["gates"]) == 8
    result = _promote(tmp_path, summary["mlflow_run_id"], "wave_cross")  # the default gates
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "registered wave_cross version 1" in result.stdout
    uri = tracking_uri(tmp_path)
    strategy, params, spec = load_strategy("models:/wave_cross@staging", uri=uri)
    assert strategy.name == "sma_cross" and spec["params"] == summary["best_params"]
    assert vars(params) == summary["best_params"]
    cfg = compose_config(["data.symbol=WAVE/USDT"])
    bars = load_run_bars(cfg, get_strategy("sma_cross"), ParquetStore(synthetic / "store"))
    import mlflow.pyfunc

    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model("models:/wave_cross@staging")
    predicted = model.predict(bars)
    direct = _kernel_inputs(bars, strategy.signals(bars, params))
    np.testing.assert_array_equal(predicted["entries"].to_numpy(), direct["entries"][:, 0])
    np.testing.assert_array_equal(predicted["exits"].to_numpy(), direct["exits"][:, 0])
    assert predicted["entries"].sum() > 20
    # the sweep's MLflow run holds the trial table, the summary and the best parameters' backtest
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    parent = summary["mlflow_run_id"]
    names = {a.path for a in client.list_artifacts(parent)}
    assert {"trials.parquet", "summary.json", "config.yaml"} <= names
    children = client.search_runs(
        [client.get_run(parent).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent}' and tags.role = 'best_params'",
    )
    assert len(children) == 1
    files = {a.path for a in client.list_artifacts(children[0].info.run_id)}
    assert "tearsheet.html" in files and children[0].data.tags["config_id"]
    # the gate table and the robustness distributions on the sweep's run and its tearsheet
    assert "gates.json" in names
    run = client.get_run(parent)
    assert run.data.tags["gate.live_parity_check"] == "pass"
    assert run.data.metrics["robustness.bootstrap.max_drawdown.p5"] < 0
    assert run.data.metrics["gate.random_entry_p_value"] <= 0.05
    sweep_files = {a.path for a in client.list_artifacts(parent, "sweep")}
    assert {"sweep/robustness.json", "sweep/gates.json"} <= sweep_files
    page = next(Path(summary["folder"]).glob("sma_cross/*/tearsheet.html")).read_text()
    assert "Promotion gates: every gate passes" in page and "Live-replay parity" in page
    assert "random entries, same exposure" in page
    # The promoted model trades under grekko-live, paper mode, on the simulator's feed: exactly
    # its strategy and parameters, recorded with the model version in the run's log.
    _deploy_promoted_and_refuse_unpromoted(tmp_path, spec, summary, sim)


def _deploy_promoted_and_refuse_unpromoted(
    out: Path, spec: dict, summary: dict, sim_url: str
) -> None:
    from grekko_research.tracking import register_strategy_model, tracking_uri
    from live.cli import app as live_app

    def live(*args: str):
        return CliRunner().invoke(
            live_app,
            [*args, f"experiment.output_dir={out}", f"live.state_dir={out / 'live'}"],
            env={"GREKKO_BINANCE_API_KEY": "k" * 20, "GREKKO_BINANCE_API_SECRET": "s" * 20},
        )

    result = live("run", "--venue", "binance", "--venue-url", sim_url, "--strategy",
                  "models:/wave_cross@staging", "--max-bars", "3")  # fmt: skip
    assert result.exit_code == 0, f"{result.stdout}{result.stderr}{result.exception!r}"
    events = result.stdout.strip().splitlines()[-1]
    status = json.loads(live("status", "--events", events, "--json").stdout)
    assert status["mode"] == "paper" and status["bars"] == 3
    assert status["strategy"] == "sma_cross" and status["params"] == summary["best_params"]
    from live.events import EventStore

    with EventStore.open(events) as log:
        started = next(iter(log.read(kinds=["run_started"]))).payload
    assert started["model"] == "models:/wave_cross@staging" and started["model_version"] == "1"

    # A promoted model as one strategy of a portfolio: its parameters and version recorded.
    pair = ("portfolio.strategies=[{name:'models:/wave_cross@staging',id:wave},"
            "{name:sma_cross,id:base,params:{fast:2,slow:5}}]")  # fmt: skip
    result = live("run", "--venue", "binance", "--venue-url", sim_url, "--max-bars", "3",
                  "portfolio.name=promoted", pair)  # fmt: skip
    assert result.exit_code == 0, f"{result.stdout}{result.stderr}{result.exception!r}"
    with EventStore.open(result.stdout.strip().splitlines()[-1]) as log:
        started = next(iter(log.read(kinds=["run_started"]))).payload
    wave = next(s for s in started["strategies"] if s["id"] == "wave")
    assert wave["strategy"] == "sma_cross" and wave["params"] == summary["best_params"]
    assert wave["model"] == "models:/wave_cross@staging" and wave["model_version"] == "1"

    # The same strategy registered without going through the gates is refused, by name, alone
    # and as a portfolio's strategy.
    register_strategy_model(
        summary["mlflow_run_id"], "wave_unchecked", spec, alias="live", uri=tracking_uri(out)
    )
    for args in (
        ["--strategy", "models:/wave_unchecked@live"],
        ["portfolio.strategies=[{name:'models:/wave_unchecked@live'},{name:sma_cross}]"],
    ):
        result = live("run", "--venue", "paper", *args)
        assert result.exit_code != 0
        message = str(result.exception)
        assert "has not passed the promotion gate(s)" in message
        assert "'deflated Sharpe (effective trials)'" in message
        assert "'probability of backtest" in message and "'live parity check'" in message

    # Every statistical gate passed but no parity check recorded: refused, naming only parity.
    from grekko_research.config import compose_config
    from grekko_research.promote import evaluate_gates, gate_tag

    tags = {gate_tag(g.name): "pass" for g in evaluate_gates({}, compose_config([]).promote)
            if g.name != "live parity check"}  # fmt: skip
    register_strategy_model(summary["mlflow_run_id"], "wave_noparity", spec, alias="live",
                            uri=tracking_uri(out), tags=tags)  # fmt: skip
    result = live("run", "--venue", "paper", "--strategy", "models:/wave_noparity@live")
    assert result.exit_code != 0
    message = str(result.exception)
    assert "has not passed the promotion gate(s) 'live parity check':" in message
