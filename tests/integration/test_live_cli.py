"""grekko-live from the command line: replay and paper runs end to end, status / orders /
positions read the log, verify catches tampering, live trading is refused without its guards."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from live.cli import app

RANGE = ["data.start=2021-01-04", "data.end=2021-01-20"]


def live(args: list[str], store: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env={"GREKKO_DATA_DIR": str(store)})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def replayed(research_store: Path, tmp_path: Path) -> Path:
    code, out, err = live(
        ["replay", "--strategy", "sma_cross", "--params", "fast=5", "--params", "slow=20",
         "--state-dir", str(tmp_path), *RANGE],
        research_store,
    )  # fmt: skip
    assert code == 0, err
    path = Path(out.strip().splitlines()[-1])
    assert path.exists() and path.name == "events.db"
    return path


def test_replay_then_status_orders_positions_agree(replayed: Path, research_store: Path) -> None:
    code, out, _ = live(["status", "--events", str(replayed), "--json"], research_store)
    assert code == 0
    status = json.loads(out)
    assert status["strategy"] == "sma_cross" and status["params"] == {"fast": 5, "slow": 20}
    assert status["bars"] == 16 * 24 and status["decisions"] == status["bars"]
    assert status["orders"] > 4 and status["open_orders"] == 0 and status["halted"] is None
    assert status["last_reconcile"]["ok"] is True
    assert float(status["last_reconcile"]["balances"]["USDT"]) > 0  # the venue's, recorded

    code, out, _ = live(["orders", "--events", str(replayed), "--json"], research_store)
    orders = json.loads(out)
    assert len(orders) == status["orders"]
    assert {o["state"] for o in orders} == {"FILLED"}
    net = sum(float(o["filled"]) * (1 if o["side"] == "buy" else -1) for o in orders)

    code, out, _ = live(["positions", "--events", str(replayed), "--json"], research_store)
    pos = json.loads(out)
    assert float(pos["positions"]["BTC/USDT"]) == pytest.approx(net, abs=1e-12)
    assert pos["equity"] == status["equity"]
    assert float(pos["fees"]["USDT"]) > 0


def test_verify_finds_a_tampered_fill(replayed: Path, research_store: Path) -> None:
    code, out, _ = live(["verify", "--events", str(replayed)], research_store)
    assert code == 0 and "ok=True" in out
    with sqlite3.connect(replayed) as db:
        db.execute("DROP TRIGGER events_no_update")  # what someone editing the file would do
        (seq, payload), = db.execute(
            "SELECT seq, payload FROM events WHERE kind = 'order_fill' ORDER BY seq LIMIT 1"
        )  # fmt: skip
        db.execute(
            "UPDATE events SET payload = ? WHERE seq = ?",
            (payload.replace('"price":"', '"price":"1'), seq),
        )
    code, out, _ = live(["verify", "--events", str(replayed)], research_store)
    assert code == 4
    assert f"first_bad_seq={seq}" in out.replace("\n", "")


def test_replay_a_portfolio(research_store: Path, tmp_path: Path) -> None:
    """``--portfolio`` runs several strategies in one process; ``positions`` reports each."""
    code, out, err = live(
        ["replay", "--portfolio", "trend_and_reversion", "--state-dir", str(tmp_path), *RANGE],
        research_store,
    )
    assert code == 0, err
    events = out.strip().splitlines()[-1]
    code, out, _ = live(["positions", "--events", events, "--json"], research_store)
    pos = json.loads(out)
    assert set(pos["strategies"]) == {"sma_cross", "bollinger_breakout", "rsi_mean_reversion"}
    assert pos["strategies"]["sma_cross"]["weight"] == 2.0
    assert all(s["equity"] > 0 for s in pos["strategies"].values())
    code, out, _ = live(["status", "--events", events, "--json"], research_store)
    status = json.loads(out)
    assert status["strategy"] == "portfolio:trend_and_reversion" and status["orders"] > 0
    code, out, _ = live(["positions", "--events", events], research_store)
    assert code == 0 and "strategies" in out and "ACTIVE" in out  # the per-strategy table


def test_run_on_the_paper_venue(research_store: Path, tmp_path: Path) -> None:
    code, out, err = live(
        ["run", "--venue", "paper", "--strategy", "rsi_mean_reversion", "--state-dir",
         str(tmp_path), "data.start=2021-01-01", "data.end=2021-02-01"],
        research_store,
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = live(
        ["status", "--events", out.strip().splitlines()[-1], "--json"], research_store
    )
    status = json.loads(out)
    assert status["venue"] == "paper" and status["mode"] == "paper" and status["orders"] > 0


def test_live_mode_needs_limits_and_confirmation(research_store: Path, tmp_path: Path) -> None:
    base = ["run", "--venue", "binance", "--mode", "live", "--state-dir", str(tmp_path)]
    result = CliRunner().invoke(app, base, env={"GREKKO_DATA_DIR": str(research_store)})
    assert "needs at least one risk limit" in str(result.exception)
    result = CliRunner().invoke(app, [*base, "risk=conservative"])
    assert "--confirm-live binance" in str(result.exception)
    result = CliRunner().invoke(app, [*base, "--confirm-live", "coinbase", "risk=conservative"])
    assert "does not name the venue" in str(result.exception)
    result = CliRunner().invoke(app, ["run", "--venue", "paper", "--mode", "live"])
    assert "needs a real venue" in str(result.exception)


def test_a_position_the_venue_does_not_confirm_halts_until_resumed(
    research_store: Path, tmp_path: Path
) -> None:
    args = ["--venue", "paper", "--strategy", "sma_cross", "--state-dir", str(tmp_path)]
    args += ["live.run_id=held"]  # one run, whatever bars it is given
    code, out, err = live(["run", *args, *RANGE], research_store)
    assert code == 0, err
    events = out.strip().splitlines()[-1]
    code, out, _ = live(["reconcile", *args, *RANGE], research_store)
    assert code == 0 and "books agree" in out
    # Someone trades on the account behind the runner's back.
    paper = Path(events).parent / "paper.json"
    account = json.loads(paper.read_text())
    held = account["positions"]["BTC/USDT"]
    account["positions"]["BTC/USDT"] = "0.5"
    paper.write_text(json.dumps(account))
    code, out, _ = live(["reconcile", *args, *RANGE], research_store)
    assert code == 3 and "HALTED" in out and "BTC/USDT: venue 0.5" in out.replace("\n", "")
    code, out, _ = live(["status", "--events", events, "--json"], research_store)
    halted = json.loads(out)
    assert halted["halted"].startswith("positions differ")
    # Halted across restarts: a new run trades nothing until the halt is lifted.
    code, out, _ = live(
        ["run", *args, "data.start=2021-02-01", "data.end=2021-02-10"], research_store
    )
    code, out, _ = live(["status", "--events", events, "--json"], research_store)
    after = json.loads(out)
    assert after["halted"] is not None
    assert after["bars"] > halted["bars"] and after["orders"] == halted["orders"]
    account["positions"]["BTC/USDT"] = held
    paper.write_text(json.dumps(account))
    code, out, _ = live(["resume", "--events", events, "--reason", "fixed by hand"], research_store)
    assert code == 0 and "resumed" in out
    code, out, _ = live(["status", "--events", events, "--json"], research_store)
    assert json.loads(out)["halted"] is None
    code, out, _ = live(["reconcile", *args, *RANGE], research_store)
    assert code == 0 and "books agree" in out
