"""``grekko-live`` and a promoted model's parity tag: refused without it, runs with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from grekko_research.config import compose_config
from grekko_research.promote import evaluate_gates, gate_tag


def test_a_model_without_a_passed_parity_tag_is_refused_and_runs_with_it(
    research_store: Path, tmp_path: Path
) -> None:
    from grekko_research.tracking import git_commit, register_strategy_model, tracking_uri
    from grekko_research.tracking._client import client
    from live.cli import app as live_app

    uri = tracking_uri(tmp_path)
    mlc, _ = client(uri)
    run_id = mlc.create_run(mlc.create_experiment("sweeps")).info.run_id
    spec = {"strategy": "sma_cross", "params": {"fast": 5, "slow": 20},
            "code_version": git_commit() or "", "source_run": run_id}  # fmt: skip
    gates = [g.name for g in evaluate_gates({}, compose_config([]).promote)]
    assert "live parity check" in gates  # on by default
    statistical = {gate_tag(n): "pass" for n in gates if n != "live parity check"}
    register_strategy_model(run_id, "cross", spec, alias="staging", uri=uri, tags=statistical)
    register_strategy_model(run_id, "cross", spec, alias="live", uri=uri,
                            tags={**statistical, gate_tag("live parity check"): "pass"})  # fmt: skip

    def replay(model: str):
        return CliRunner().invoke(
            live_app,
            ["replay", "--strategy", model, "--show", "none", "data.start=2021-01-04",
             "data.end=2021-01-12", f"experiment.output_dir={tmp_path}",
             f"live.state_dir={tmp_path / 'live'}"],
            env={"GREKKO_DATA_DIR": str(research_store)},
        )  # fmt: skip

    refused = replay("models:/cross@staging")
    assert refused.exit_code != 0
    message = str(refused.exception)
    assert "has not passed the promotion gate(s) 'live parity check':" in message
    assert "grekko promote" in message
    ran = replay("models:/cross@live")
    assert ran.exit_code == 0, f"{ran.stdout}{ran.stderr}{ran.exception!r}"
    from live.events import EventStore

    with EventStore.open(ran.stdout.strip().splitlines()[-1]) as log:
        started = next(iter(log.read(kinds=["run_started"]))).payload
    assert started["model"] == "models:/cross@live" and started["model_version"] == "2"
    assert started["params"] == {"fast": 5, "slow": 20}


@pytest.mark.parametrize("require", [True, False])
def test_the_parity_requirement_follows_the_promote_group(require: bool) -> None:
    cfg = compose_config([f"promote.require_parity={str(require).lower()}"])
    names = [g.name for g in evaluate_gates({}, cfg.promote)]
    assert ("live parity check" in names) is require
