"""``grekko-live`` trading a promoted learning strategy (``ml_lgbm``, ``ml_online``) with the
registry's window models: no fit in the live process, the replay's fills equal the backtest
with the same registry models (the windows after the promoted data hold the last model), one
swapped registry model changes what live trades, and a model that cannot be loaded refuses the
start, naming the model, version and run.

The promotion is what ``grekko promote`` records (tests/ml/test_ml_sweep.py runs the command on
a sweep): the strategy's fitted window models logged into a run, their index in the spec, every
gate tagged passed — built here directly on 18 days of BTC/USDT 1h, without the sweep."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from grekko_research.config import compose_config
from grekko_research.data.store import ParquetStore
from grekko_research.errors import ConfigError
from grekko_research.strategy import params_to_mapping, register_strategy
from strategies.ml_online import MlOnline
from tests.peers.tiny_models import MlLgbmTiny

PROMOTED = ("2021-01-01", "2021-01-16")  # the data the promoted models were fitted on
REPLAY = ("2021-01-01", "2021-01-20")  # live: the promoted span, then 4 days after it
PARAMS: dict[str, dict[str, Any]] = {
    "ml_lgbm_tiny": {},  # refitted every 48 bars
    "ml_online": {"feature_set": "price", "window": 8, "lags": 3, "use_analysis": False,
                  "use_extras": False, "train": 200, "cadence": 72, "threshold": 0.5,
                  "drift_warn": 100.0, "drift_halt": 500.0},
}  # fmt: skip


@dataclass(frozen=True)
class Promoted:
    name: str  # the strategy
    out: Path  # experiment.output_dir: its MLflow store
    store: Path
    run_id: str  # where the window models are logged
    index: list[dict[str, Any]]
    spec: dict[str, Any]
    fits: int  # the fits the promotion took (the live run must take none)

    def register(self, model: str, **spec: Any) -> str:
        """Register the promoted spec (with ``spec`` changes) as ``model`` at alias live."""
        from grekko_research.promote import evaluate_gates, gate_tag
        from grekko_research.tracking import register_strategy_model, tracking_uri

        gates = evaluate_gates({}, compose_config([]).promote)
        tags = {gate_tag(g.name): "pass" for g in gates}
        register_strategy_model(self.run_id, model, {**self.spec, **spec}, alias="live",
                                uri=tracking_uri(self.out), tags=tags)  # fmt: skip
        return f"models:/{model}@live"

    def cfg(self, model: str, state: Path, *more: str) -> Any:
        return compose_config([f"live.model={model}", f"data.start={REPLAY[0]}",
                               f"data.end={REPLAY[1]}", "engine.taker_fee=0.001",
                               f"experiment.output_dir={self.out}", f"live.state_dir={state}",
                               *more])  # fmt: skip


@pytest.fixture(scope="module")
def env(research_store: Path) -> Iterator[Path]:
    register_strategy(MlLgbmTiny)
    register_strategy(MlOnline)  # installed metadata may predate its entry point
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GREKKO_DATA_DIR", str(research_store))
        for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "GREKKO_ML_MODEL_DIR"):
            mp.delenv(key, raising=False)
        yield research_store


@pytest.fixture(scope="module", params=sorted(PARAMS))
def promoted(
    request: pytest.FixtureRequest, env: Path, tmp_path_factory: pytest.TempPathFactory
) -> Promoted:
    """The strategy's window models fitted on :data:`PROMOTED` and registered as grekko
    promote does, as ``models:/<strategy>_m@live``."""
    from grekko_research.ml.models import cache_stats, clear_cache
    from grekko_research.runs import load_run_bars
    from grekko_research.strategy import get_strategy
    from grekko_research.tracking import git_commit, log_fitted_models, tracking_uri
    from grekko_research.tracking._client import client

    name = request.param
    out = tmp_path_factory.mktemp(f"promoted-{name}")
    strategy = get_strategy(name)
    params = strategy.params(PARAMS[name])
    cfg = compose_config([f"strategy={name}", f"data.start={PROMOTED[0]}",
                          f"data.end={PROMOTED[1]}"])  # fmt: skip
    bars = load_run_bars(cfg, strategy, ParquetStore(env))
    clear_cache()
    fitted = strategy.fitted_models(bars, params)
    fits = cache_stats()["fits"]
    uri = tracking_uri(out)
    mlc, _ = client(uri)
    run_id = mlc.create_run(mlc.create_experiment("sweeps")).info.run_id
    index = log_fitted_models(run_id, fitted, config_id="cfg", uri=uri)
    assert len(index) >= 2 and all("model_uri" in e for e in index)
    spec = {"strategy": name, "params": params_to_mapping(params), "code_version": git_commit()
            or "", "source_run": run_id, "window_models": index}  # fmt: skip
    p = Promoted(name, out, env, run_id, index, spec, fits)
    p.register(f"{name}_m")
    return p


def _replay(p: Promoted, model: str, state: Path) -> Any:
    from live.parity import check_parity

    return check_parity(p.cfg(model, state), store=ParquetStore(p.store))


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    """Where the replay's log goes: in memory when the machine has /dev/shm (each bar's
    durable append is an fsync, most of a replay's time on a busy disk; not what is tested)."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(prefix="grekko-promoted-", dir=shm) as folder:
        yield Path(folder)


def test_live_trades_the_registry_models_with_parity_and_no_fit(
    promoted: Promoted, state: Path
) -> None:
    from grekko_research.ml.models import cache_stats, clear_cache
    from grekko_research.runs import load_run_bars
    from live.app import plan_run
    from live.cli import app as live_app
    from live.events import EventStore
    from live.parity import live_fills

    p = promoted
    assert p.fits >= len(p.index)  # the promotion fitted them
    model = f"models:/{p.name}_m@live"
    clear_cache()  # no fit hidden in the memory cache either
    report = _replay(p, model, state)
    # the backtest with the same registry models and the replay: the same fills, trades, equity
    assert report.passed, report.first_difference
    assert report.fills >= 4 and report.trades >= 2
    assert cache_stats() == {"fits": 0, "memory_hits": 0, "disk_hits": 0}
    # the replay went on past the promoted data: the last window's model, held
    with EventStore.open(report.events) as log:
        events = list(log.read())
    step = PARAMS[p.name].get("cadence", 48) * 3_600_000
    held_from = max(e["fit_ms"] for e in p.index) + step  # the first window not promoted
    assert any(f[0] > held_from for f in live_fills(events)), "the held model made no fill"
    # the log's start names the models it trades: URIs, the run they were logged in
    started = next(e.payload for e in events if e.kind == "run_started")
    assert started["model"] == model and started["model_source_run"] == p.run_id
    assert [w["model_uri"] for w in started["window_models"]] == [e["model_uri"] for e in p.index]
    shown = CliRunner().invoke(live_app, ["status", "--events", report.events, "--json"])
    assert shown.exit_code == 0, shown.stdout
    status = json.loads(shown.stdout)["model"]
    assert status["uri"] == model and status["source_run"] == p.run_id
    assert status["window_models"] == len(p.index)
    text = CliRunner().invoke(live_app, ["status", "--events", report.events])
    assert f"{len(p.index)} window models" in " ".join(text.stdout.split())

    # one registry model swapped (the last window's, which live holds): the live strategy's
    # signals change (the replay above shows the runner trades what they say)
    index = [dict(e) for e in p.index]
    index[-1]["model_uri"] = index[0]["model_uri"]
    swapped = p.register(f"{p.name}_swapped", window_models=index)
    good, other = (plan_run(p.cfg(m, state / "plans"), replay=True) for m in (model, swapped))
    bars = load_run_bars(good.cfg, good.strategy, ParquetStore(p.store))
    want, got = (x.strategy.signals(bars, x.params) for x in (good, other))
    assert cache_stats()["fits"] == 0
    changed = [not np.array_equal(a, b, equal_nan=True)
               for a, b in zip(_arrays(want), _arrays(got), strict=True)]  # fmt: skip
    assert any(changed)
    # ... only from the swapped window on: before it, the same models decided
    first = int(np.searchsorted(bars.index, index[-1]["fit_ms"]))
    for a, b in zip(_arrays(want), _arrays(got), strict=True):
        np.testing.assert_array_equal(a[:first], b[:first])


def _arrays(signals: Any) -> list[np.ndarray]:
    return [signals.target] if hasattr(signals, "target") else [signals.entries, signals.exits]


def test_a_model_that_cannot_be_loaded_refuses_to_start(env: Path, tmp_path: Path) -> None:
    """Fail closed: checked before any venue or log is opened (ml_lgbm's promotion only)."""
    from grekko_research.tracking import TrackingError
    from live.app import plan_run
    from live.cli import app as live_app

    p = _lgbm(env, tmp_path)
    index = [dict(e) for e in p.index]
    gone = "models:/m-00000000000000000000000000000000"
    index[1]["model_uri"] = gone
    missing = p.register("lgbm_missing", window_models=index)
    with pytest.raises(TrackingError) as err:
        plan_run(p.cfg(missing, tmp_path / "live"), replay=True)
    message = str(err.value)
    assert f"{missing} (version 1, run {p.run_id})" in message and "refusing to start" in message
    assert f"BTC/USDT window {index[1]['window_end']}: {gone}" in message
    # what the operator sees from grekko-live replay: the same, no log written
    ran = CliRunner().invoke(live_app, ["replay", "--strategy", missing, "--show", "none",
                                        f"data.start={REPLAY[0]}", f"data.end={REPLAY[1]}",
                                        f"experiment.output_dir={p.out}",
                                        f"live.state_dir={tmp_path / 'cli'}"])  # fmt: skip
    assert ran.exit_code != 0 and isinstance(ran.exception, TrackingError)
    assert gone in str(ran.exception) and not (tmp_path / "cli").exists()

    bare = p.register("lgbm_bare", window_models=[])  # promoted before window models existed
    with pytest.raises(ConfigError, match=r"lgbm_bare@live \(version 1, run .*\): ml_lgbm_tiny "
                       r"trades fitted models, but none were promoted with it"):  # fmt: skip
        plan_run(p.cfg(bare, tmp_path / "live"), replay=True)
    with pytest.raises(ConfigError, match=r"window models for \['BTC/USDT'\], none for \['ETH"):
        plan_run(p.cfg(missing, tmp_path / "live", "live.symbols=[ETH/USDT]",
                       "data.symbols=[ETH/USDT]"), replay=True)  # fmt: skip


def _lgbm(env: Path, tmp_path: Path) -> Promoted:
    """ml_lgbm's promotion with three windows only (cheap: the refusals need no trading)."""
    from grekko_research.runs import load_run_bars
    from grekko_research.tracking import git_commit, log_fitted_models, tracking_uri
    from grekko_research.tracking._client import client

    s = MlLgbmTiny()
    params = s.Params()
    cfg = compose_config(["strategy=ml_lgbm_tiny", f"data.start={PROMOTED[0]}",
                          "data.end=2021-01-14"])  # fmt: skip
    fitted = s.fitted_models(load_run_bars(cfg, s, ParquetStore(env)), params)
    uri = tracking_uri(tmp_path)
    mlc, _ = client(uri)
    run_id = mlc.create_run(mlc.create_experiment("sweeps")).info.run_id
    index = log_fitted_models(run_id, fitted, config_id="cfg", uri=uri)
    spec = {"strategy": s.name, "params": params_to_mapping(params), "source_run": run_id,
            "code_version": git_commit() or "", "window_models": index}  # fmt: skip
    return Promoted(s.name, tmp_path, env, run_id, index, spec, 0)


def test_held_models_give_the_last_after_their_span_and_nothing_inside_it() -> None:
    from grekko_research.ml.walkforward import HeldModels, given_model

    held = HeldModels({100: "a", 200: "b", 300: "c"})
    assert [given_model(held, t) for t in (100, 200, 300, 400, 10_000)] == list("abccc")
    assert given_model(held, 250) is None and given_model(held, 50) is None  # inside / before
    assert given_model({100: "a", 300: "c"}, 400) is None  # a plain mapping: exact windows only
    with pytest.raises(ConfigError, match="no window models"):
        HeldModels({})


def test_binding_needs_a_strategy_that_fits_models() -> None:
    from grekko_research.ml.promoted import bind_window_models
    from grekko_research.strategy import get_strategy

    with pytest.raises(ConfigError, match="'sma_cross' fits no models"):
        bind_window_models(get_strategy("sma_cross"), {"BTC/USDT": {1: object()}})
    bound = bind_window_models(MlLgbmTiny(), {"BTC/USDT": {1: object()}})
    assert bound.name == "ml_lgbm_tiny" and not bound.fits_models
    assert isinstance(bound, MlLgbmTiny) and np.isfinite(bound.warmup(bound.Params()))
