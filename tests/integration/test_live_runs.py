"""Runs are found, never invented: ``status|orders|positions|reconcile|verify|kill|resume``
read a run that exists (by ``--events``, ``--run`` or the only one of its venue), never create
an empty log, and ``reconcile`` reaches the venue where the run reached it (the simulator),
never an exchange's own host unless asked; ``grekko-live runs`` lists the runs."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grekko_research.config import compose_config
from grekko_research.config.compose import to_container
from grekko_research.data.store import ParquetStore
from grekko_research.errors import ConfigError, GrekkoError
from grekko_research.risk.spec import RiskConfigDeprecationWarning
from live.app import LivePlan, plan_run, run_plan
from live.cli import app
from live.events import EventStore
from live.runs import RunInfo, read_run, recorded_overrides, recorded_risk
from tests.peers.sim_cli import sim_process

RANGE = ["data.start=2021-01-04", "data.end=2021-01-08"]
KEY, SECRET = "runs-key-0123456789", "runs-secret-abcdefghij"
ENV = {"GREKKO_BINANCE_API_KEY": KEY, "GREKKO_BINANCE_API_SECRET": SECRET}


def live(args: list[str], store: Path | None = None) -> tuple[int, str, str]:
    env = {**ENV, "COLUMNS": "80"}
    if store is not None:
        env["GREKKO_DATA_DIR"] = str(store)
    result = CliRunner().invoke(app, args, env=env)
    if isinstance(result.exception, GrekkoError):  # what main() prints, exit status 1
        return 1, result.stdout, f"error: {result.exception}"
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_reading_commands_never_create_a_run(research_store: Path, tmp_path: Path) -> None:
    """Every command that reads a run refuses one that does not exist, naming it, and leaves
    no file behind (today ``reconcile`` created and started a phantom run, ``verify`` an empty
    log)."""
    empty = tmp_path / "runs"
    empty.mkdir()
    where = ["--state-dir", str(empty)]
    missing = str(empty / "nope" / "events.db")
    for command in ("verify", "status", "orders", "positions", "reconcile"):
        code, out, err = live([command, "--events", missing], research_store)
        assert code != 0 and f"no event log at {missing}" in err.replace("\n", ""), (command, err)
        assert _files(tmp_path) == [], command
    for command in (["reconcile"], ["status"], ["orders"], ["positions"], ["verify"],
                    ["kill", "--reason", "x"], ["resume", "--reason", "x"],
                    ["reconcile", "--venue", "binance"], ["status", "--venue", "binance"]):  # fmt: skip
        code, out, err = live([*command, *where, *RANGE], research_store)
        assert code != 0 and "no run" in err, (command, out, err)
        assert _files(tmp_path) == [], command
    code, out, err = live(["status", "--run", "nope", *where], research_store)
    assert code != 0 and "no run 'nope'" in err and _files(tmp_path) == []


def test_runs_are_listed_and_found_by_id_or_as_the_only_one(
    research_store: Path, tmp_path: Path
) -> None:
    base = ["replay", "--strategy", "sma_cross", "--state-dir", str(tmp_path)]
    logs = []
    for fast in (5, 6):
        code, out, err = live([*base, "--params", f"fast={fast}", "--params", "slow=20", *RANGE],
                              research_store)  # fmt: skip
        assert code == 0, err
        logs.append(Path(out.strip().splitlines()[-1]))
    ids = [log.parent.name for log in logs]

    code, out, _ = live(["runs", "--state-dir", str(tmp_path), "--json"])
    listed = json.loads(out)
    assert sorted(r["run_id"] for r in listed) == sorted(ids)
    for r in listed:
        assert r["venue"] == "paper" and r["mode"] == "paper" and r["strategy"] == "sma_cross"
        assert r["state"] == "ACTIVE" and r["started"] == 1_609_718_400_000
        assert r["last_event"] >= r["started"]
    code, out, _ = live(["runs", "--state-dir", str(tmp_path)])
    assert code == 0 and all(i in out for i in ids) and "2021-01-04" in out
    assert all(len(line) <= 80 for line in out.splitlines()), out

    # Two runs: which one is meant must be said, and the error says how.
    code, out, err = live(["status", "--state-dir", str(tmp_path)])
    assert code != 0 and "2 runs" in err and "--run" in err and all(i in err for i in ids)
    code, out, _ = live(["status", "--state-dir", str(tmp_path), "--run", ids[1], "--json"])
    assert code == 0 and json.loads(out)["params"]["fast"] == 6
    # One run of a venue is found without naming it.
    code, out, _ = live(["runs", "--state-dir", str(tmp_path), "--venue", "binance"])
    assert code == 0 and "no runs" in out
    (tmp_path / ids[0] / "events.db").unlink()
    code, out, _ = live(["positions", "--state-dir", str(tmp_path), "--json"])
    assert code == 0 and "BTC/USDT" in json.loads(out)["positions"]


@pytest.fixture
def sim(shared_data: Path) -> Iterator[str]:
    """``grekko-live sim`` in its own process, replaying BTC/USDT from 2021-01-10."""
    with sim_process(shared_data, ENV) as url:
        yield url


def test_reconcile_reaches_the_venue_where_the_run_did(sim: str, tmp_path: Path) -> None:
    """A live run against the simulator records its URL: reconcile goes back there without
    being told (today it went to Binance's own host); a run that recorded no URL is refused
    unless --allow-real-venue, and nothing is appended to its log."""
    run = ["--venue", "binance", "--strategy", "sma_cross", "--params", "fast=2", "--params",
           "slow=5", "--state-dir", str(tmp_path), "--mode", "live"]  # fmt: skip
    code, out, err = live(
        ["run", *run, "--venue-url", sim, "--confirm-live", "binance", "--max-bars", "3",
         "risk=conservative", "risk.ops.max_clock_skew_ms=null"]
    )  # fmt: skip
    assert code == 0, err
    events = out.strip().splitlines()[-1]
    run_id = Path(events).parent.name

    # The same options as the run, without --venue-url: the recorded URL is used.
    code, out, err = live(["reconcile", *run, "risk=conservative"])
    assert code == 0 and "books agree" in out, (out, err)
    with EventStore.open(events) as log:
        (started,) = [e.payload for e in log.read(kinds=["run_started"])]
    assert started["venue_url"] == sim
    # Or the run's id alone: strategy, parameters, venue and URL are the run's.
    code, out, err = live(["reconcile", "--run", run_id, "--state-dir", str(tmp_path)])
    assert code == 0 and f"{run_id}: reconciled in" in out and "books agree" in out, err

    # A run that reached the exchange's own host (no URL recorded) is not reconciled by
    # accident: refused before anything is opened.
    old = tmp_path / "old-binance"
    old.mkdir()
    with EventStore.open(old / "events.db") as log:
        payload = {k: v for k, v in started.items() if k != "venue_url"} | {"run_id": old.name}
        log.append("run_started", "runner", payload, ts_ms=1)
        head = log.head()
    code, out, err = live(["reconcile", "--run", old.name, "--state-dir", str(tmp_path)])
    assert code != 0 and "--allow-real-venue" in err and "binance's own host" in err, err
    with EventStore.open(old / "events.db") as log:
        assert log.head() == head


# A run configured in the deprecated risk shape: top-level engine keys, a risk.live block, and
# a key of the spec beside them.
OLD_SHAPE = ["risk.max_drawdown=0.3", "risk.live.max_orders=40",
             "risk.live.breaker_cooldown_s=120", "risk.order.price_band=0.05"]  # fmt: skip
SPEC_PARTS = {"order", "portfolio", "market", "ops", "dex"}


def _replanned(info: RunInfo) -> LivePlan:
    """The run configured again from its record alone, as reconcile does; a deprecation
    warning is an error (the operator wrote no deprecated key)."""
    args = recorded_overrides(info, [])
    risk_keys = [a.split("=", 1)[0] for a in args if a.startswith("risk")]
    assert risk_keys and all(k.split(".")[1] in SPEC_PARTS for k in risk_keys), risk_keys
    with warnings.catch_warnings():
        warnings.simplefilter("error", RiskConfigDeprecationWarning)
        return plan_run(compose_config(args), replay=True)


def test_a_run_records_its_risk_spec_and_is_configured_again_by_it(
    research_store: Path, tmp_path: Path
) -> None:
    """A run configured with the deprecated risk keys records the validated spec (it recorded
    the section as written, so reconciling or re-planning it warned again and kept the old
    shape alive); a log an older version wrote in the old shape is still understood, converted
    once, without a warning."""
    base = ["strategy=sma_cross", "strategy.params.fast=5", "strategy.params.slow=20",
            f"live.state_dir={tmp_path}", *RANGE]  # fmt: skip
    with pytest.warns(RiskConfigDeprecationWarning):
        cfg = compose_config([*base, *OLD_SHAPE])
    spec = cfg.risk.spec
    assert spec.portfolio.drawdown.flatten_at == 0.3 and spec.order.max_orders == 40
    plan = plan_run(cfg, replay=True)
    run_plan(plan, store=ParquetStore(research_store))

    info = read_run(plan.events)
    recorded = info.started_payload["risk"]
    assert set(recorded) == SPEC_PARTS and recorded == json.loads(json.dumps(asdict(spec)))
    again = _replanned(info)
    assert again.spec.risk == plan.spec.risk == spec
    assert again.events == plan.events and again.spec.run_id == plan.spec.run_id

    # The log of an older version: the section as configured, old keys and all.
    old = tmp_path / "old-run"
    old.mkdir()
    with EventStore.open(old / "events.db") as log:
        payload = info.started_payload | {"run_id": old.name, "risk": to_container(cfg)["risk"]}
        assert {"max_drawdown", "live"} <= set(payload["risk"])
        log.append("run_started", "runner", payload, ts_ms=1)
    old_info = read_run(str(old / "events.db"))
    assert recorded_risk(old_info.started_payload["risk"]) == recorded
    assert _replanned(old_info).spec.risk == spec
    with pytest.raises(ConfigError, match=r"run old-run recorded .*risk\.live\.max_orders"):
        recorded_risk({"live": {"max_orders": 0}}, "old-run")
