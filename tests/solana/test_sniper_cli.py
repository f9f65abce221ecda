"""End to end through ``grekko-live sniper`` against the local peer: launches appear, are
analysed, pass or fail; a dry-run buy and its exit are recorded; analyze and replay."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from live.cli import app
from live.events import EventStore
from live.sim.solana.peer import PeerThread


@pytest.fixture(autouse=True)
def _log_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREKKO_EVENTS_KEY_FILE", str(tmp_path / "events.key"))
    monkeypatch.delenv("GREKKO_SOLANA_KEY", raising=False)


def _launch_when_subscribed(peer: PeerThread, cases: list[str], out: list[Any]) -> threading.Thread:
    def go() -> None:
        deadline = time.monotonic() + 60
        while not peer.call(lambda: len(peer.peer._subs)) and time.monotonic() < deadline:
            time.sleep(0.05)
        for case in cases:
            out.append(peer.call(peer.peer.launch, case))

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def test_run_end_to_end_dry_run(solana_peer: PeerThread, tmp_path: Path) -> None:
    tokens: list[Any] = []
    thread = _launch_when_subscribed(solana_peer, ["clean", "freeze_authority"], tokens)
    result = CliRunner().invoke(app, [
        "sniper", "run", "--rpc-url", solana_peer.url, "--state-dir", str(tmp_path), "--run-id", "e2e",
        "--max-launches", "2", "--duration", "120", "--exit-interval", "0.2",
        "--set", "buyer.max_hold_s=0.5", "--set", "safety.timeout_s=30", "--json",
    ])  # fmt: skip
    thread.join(30)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["launches"] == 2 and summary["passed"] == 1 and summary["rejected"] == 1
    assert summary["buys"] == 1 and summary["exits"] == 1 and summary["open_positions"] == []
    log = tmp_path / "e2e" / "events.db"
    with EventStore.open(log) as store:
        events = list(store.read())
        assert store.verify().ok
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and events[0].payload["mode"] == "dry-run"
    verdicts = {e.payload["mint"]: e.payload for e in events if e.kind == "sniper_verdict"}
    clean, frozen = str(tokens[0].mint), str(tokens[1].mint)
    assert verdicts[clean]["verdict"] == "PASS"
    assert verdicts[frozen]["verdict"] == "REJECT"
    assert [r["code"] for r in verdicts[frozen]["reasons"]] == ["freeze_authority"]
    order = next(e.payload for e in events if e.kind == "sniper_order")
    assert (
        order["dry_run"] and order["side"] == "buy" and order["bound"] >= order["lamports"] * 0.99
    )
    fills = [e.payload for e in events if e.kind == "sniper_fill"]
    assert [(f["side"], f["mint"]) for f in fills] == [("buy", clean), ("sell", clean)]
    assert fills[1]["rule"] == "time"
    assert "risk_decision" in kinds
    # the CEX tools read the same log
    status = CliRunner().invoke(app, ["status", "--events", str(log)])
    assert status.exit_code == 0, status.output


def test_live_needs_explicit_confirmation(solana_peer: PeerThread, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sniper", "run", "--rpc-url", solana_peer.url,
                                      "--state-dir", str(tmp_path), "--live", "--duration", "1"])  # fmt: skip
    assert result.exit_code != 0 and "--confirm-live" in str(result.exception or result.output)
    sneaky = CliRunner().invoke(app, ["sniper", "run", "--rpc-url", solana_peer.url, "--state-dir",
                                      str(tmp_path), "--set", "buyer.mode=live", "--duration", "1"])  # fmt: skip
    assert sneaky.exit_code != 0 and "--live --confirm-live" in str(
        sneaky.exception or sneaky.output
    )
    confirmed = CliRunner().invoke(app, ["sniper", "run", "--rpc-url", solana_peer.url, "--state-dir",
                                         str(tmp_path), "--live", "--confirm-live", "--duration", "1"])  # fmt: skip
    assert confirmed.exit_code != 0 and "GREKKO_SOLANA_KEY" in str(
        confirmed.exception or confirmed.output
    )


def test_analyze_and_replay(solana_peer: PeerThread, tmp_path: Path, shared_data: Path) -> None:
    token = solana_peer.call(solana_peer.peer.launch, "transfer_fee")
    runner = CliRunner()
    bare = runner.invoke(
        app,
        [
            "sniper",
            "analyze",
            str(token.mint),
            "--rpc-url",
            solana_peer.url,
            "--set",
            "safety.timeout_s=30",
            "--json",
        ],
    )
    assert bare.exit_code == 2
    assert [r["code"] for r in json.loads(bare.output)["reasons"]] == ["fact_missing"]
    # replay: the recorded launch frame (its mint is not on the peer: REJECT, fact missing),
    # then the peer's own launch, recorded as a logs notification
    entry = token.block.entries[0]
    from live.solana.parse import b58encode  # noqa: F401  (the signature is in the frame)

    frames = tmp_path / "frames.jsonl"
    real = json.loads(
        (shared_data / "solana" / "raw_create_tx_from_getTransaction.json").read_text()
    )
    sig = real["result"]["transaction"]["signatures"][0]
    lines = [
        {"kind": "logs", "slot": real["result"]["slot"],
         "value": {"signature": sig, "err": None, "logs": real["result"]["meta"]["logMessages"]}},
        {"kind": "logs", "slot": token.block.slot,
         "value": {"signature": token.signature, "err": None, "logs": entry["meta"]["logMessages"]}},
    ]  # fmt: skip
    frames.write_text("\n".join(json.dumps(x) for x in lines))
    result = runner.invoke(app, ["sniper", "replay", str(frames), "--rpc-url", solana_peer.url, "--set", "safety.timeout_s=30",
                                 "--state-dir", str(tmp_path), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["launches"] == 2 and summary["rejected"] == 2 and summary["buys"] == 0
    with EventStore.open(tmp_path / "sniper-replay" / "events.db") as store:
        verdicts = [e.payload for e in store.read(kinds=["sniper_verdict"])]
    assert verdicts[0]["mint"] == "ER2N5eaDoC68kNhj7LyaScimzq7deaqxiw88rewvxaKp"
    assert [r["code"] for r in verdicts[0]["reasons"]] == ["fact_missing"]
    assert [r["code"] for r in verdicts[1]["reasons"]] == ["transfer_fee"]
    with_log = runner.invoke(app, ["sniper", "analyze", str(token.mint), "--rpc-url", solana_peer.url, "--set", "safety.timeout_s=30",
                                   "--events", str(tmp_path / "sniper-replay" / "events.db")])  # fmt: skip
    assert with_log.exit_code == 2 and "transfer_fee" in with_log.output


def test_bad_key_writes_no_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREKKO_SOLANA_KEY", "not-a-key-0OIl")
    result = CliRunner().invoke(app, ["sniper", "run", "--rpc-url", "http://127.0.0.1:9",
                                      "--state-dir", str(tmp_path), "--live", "--confirm-live"])  # fmt: skip
    assert result.exit_code != 0 and "malformed" in str(result.exception)
    assert "not-a-key-0OIl" not in str(result.exception) + result.output
    assert not (tmp_path / "sniper").exists()


def test_grekko_live_kill_stops_a_sniper_run(solana_peer: PeerThread, tmp_path: Path) -> None:
    """The CEX runner's kill switch command works on a sniper run's log: the next run of the
    same id refuses every buy (the risk engine halted), until `grekko-live resume`."""
    runner = CliRunner()
    args = ["sniper", "run", "--rpc-url", solana_peer.url, "--state-dir", str(tmp_path),
            "--run-id", "k", "--set", "safety.timeout_s=30", "--json"]  # fmt: skip
    first = runner.invoke(app, [*args, "--duration", "0.5"])
    assert first.exit_code == 0, first.output
    log = tmp_path / "k" / "events.db"
    killed = runner.invoke(app, ["kill", "--events", str(log), "--reason", "operator test"])
    assert killed.exit_code == 0, killed.output
    assert (tmp_path / "k" / "KILL").exists()
    tokens: list[Any] = []
    thread = _launch_when_subscribed(solana_peer, ["clean"], tokens)
    second = runner.invoke(app, [*args, "--max-launches", "1", "--duration", "120"])
    thread.join(30)
    assert second.exit_code == 0, second.output
    summary = json.loads(second.output.strip().splitlines()[-1])
    assert summary["passed"] == 1 and summary["buys"] == 0
    with EventStore.open(log) as store:
        decisions = [e.payload for e in store.read(kinds=["sniper_decision"])]
        kinds = [e.kind for e in store.read()]
    assert decisions[-1]["rule"] == "kill_switch" and "operator test" in decisions[-1]["reason"]
    assert "kill_switch" in kinds


def test_a_restart_mid_position_reconciles_and_exits_it(
    solana_peer: PeerThread, tmp_path: Path
) -> None:
    """End to end through the CLI: a run buys a clean launch (dry-run) and ends with the
    position open; the next run of the same id folds the log back (the position, the risk
    engine's day spend), reconciles the position with the chain (the curve still trades) and
    exits it by its time rule."""
    runner = CliRunner()
    args = ["sniper", "run", "--rpc-url", solana_peer.url, "--state-dir", str(tmp_path),
            "--run-id", "r", "--set", "safety.timeout_s=30", "--json"]  # fmt: skip
    tokens: list[Any] = []
    thread = _launch_when_subscribed(solana_peer, ["clean"], tokens)
    # max_hold_s 900 (the default): the position outlives the run, which ends at its duration
    first = runner.invoke(app, [*args, "--max-launches", "1", "--duration", "15"])
    thread.join(30)
    assert first.exit_code == 0, first.output
    mint = str(tokens[0].mint)
    assert json.loads(first.output.strip().splitlines()[-1])["open_positions"] == [mint]
    second = runner.invoke(app, [*args, "--max-launches", "0", "--duration", "120",
                                 "--exit-interval", "0.2", "--set", "buyer.max_hold_s=0.1"])  # fmt: skip
    assert second.exit_code == 0, second.output
    summary = json.loads(second.output.strip().splitlines()[-1])
    assert summary["open_positions"] == [] and summary["exits"] == 1
    log = tmp_path / "r" / "events.db"
    with EventStore.open(log) as store:
        assert store.verify().ok
        events = list(store.read())
    starts = [i for i, e in enumerate(events) if e.kind == "sniper_reconciled"]
    (at,) = starts
    reconciled = events[at].payload
    assert reconciled["mint"] == mint and reconciled["curve"]["complete"] is False
    assert reconciled["recorded_tokens"] > 0
    fills = [e.payload for e in events if e.kind == "sniper_fill"]
    assert [(f["side"], f["mint"]) for f in fills] == [("buy", mint), ("sell", mint)]
    assert fills[1]["rule"] == "time" and fills[1]["tokens"] == reconciled["recorded_tokens"]
    assert events.index(next(e for e in events if e.kind == "sniper_exit")) > at
