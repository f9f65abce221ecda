"""``grekko-live sniper run --api-port 0 --alerts``: the CEX runner's status API, metrics and
alerts during a sniper run, against the local peer, in a real process.

One run: three launches whose analyses meet RPC errors (rejected, the repeated-failure alert),
a clean launch (bought, held), a kill with flatten through ``POST /kill`` (sold, the kill
alert), a launch after it (refused); the API answers throughout and ``/metrics`` shows the
sniper's families.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from live.events import EventStore
from live.sim.solana.peer import PeerThread

TREE = Path(__file__).resolve().parents[2]
READ, CONTROL = "read-token-for-tests-0123", "control-token-for-tests-4567"


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local HTTP endpoint collecting the JSON bodies apprise's ``json://`` posts."""
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            got.append(json.loads(body or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"json://127.0.0.1:{server.server_address[1]}/", got
    finally:
        server.shutdown()
        server.server_close()


def _until(what: str, check: Callable[[], Any], proc: subprocess.Popen[str], s: float = 120) -> Any:
    deadline = time.monotonic() + s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the run ended before {what}: {out}\n{err}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _metric(text: str, name: str, *labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include every one of ``labels``."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + ("{" if labels else " ")) and all(x in line for x in labels))  # fmt: skip


def test_api_metrics_and_alerts_during_a_run(
    solana_peer: PeerThread, tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    alert_url, alerts = receiver
    env = {**os.environ, "PYTHONPATH": str(TREE), "GREKKO_API_READ_TOKEN": READ,
           "GREKKO_API_CONTROL_TOKEN": CONTROL, "GREKKO_ALERT_URLS": alert_url,
           "GREKKO_EVENTS_KEY_FILE": str(tmp_path / "events.key")}  # fmt: skip
    env.pop("GREKKO_SOLANA_KEY", None)
    cmd = [sys.executable, "-c", "from live.cli import main; main()", "sniper", "run",
           "--rpc-url", solana_peer.url, "--state-dir", str(tmp_path), "--run-id", "obs",
           "--max-launches", "5", "--duration", "300", "--exit-interval", "0.2",
           "--set", "safety.timeout_s=30", "--set", "buyer.max_hold_s=3600",
           "--api-port", "0", "--alerts", "--json"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        api = tmp_path / "obs" / "api.json"
        url = _until("the API", lambda: api.exists() and json.loads(api.read_text())["url"], proc)
        read = {"Authorization": f"Bearer {READ}"}
        with httpx.Client(base_url=url, timeout=30) as http:
            assert http.get("/health").status_code in (200, 503)  # answers (no bars: may degrade)
            assert http.get("/risk").status_code == 401  # the runner's auth, unchanged
            _until(
                "the subscription",
                lambda: solana_peer.call(lambda: len(solana_peer.peer._subs)),
                proc,
            )

            # 1. RPC errors during three analyses: rejected, the repeated-failure alert
            solana_peer.call(solana_peer.peer.set_fault, "getMultipleAccounts", "error")
            for _ in range(3):
                solana_peer.call(solana_peer.peer.launch, "clean")

            def metrics() -> str:
                try:
                    return http.get("/metrics", headers=read).text
                except httpx.TransportError:
                    if proc.poll() is None:
                        raise
                    out, err = proc.communicate()
                    raise AssertionError(f"the run ended early: {out}\n{err}") from None

            rejected = 'verdict="REJECT"'
            _until("the rejections",
                   lambda: _metric(metrics(), "grekko_sniper_verdicts_total", rejected) == 3, proc)  # fmt: skip
            solana_peer.call(solana_peer.peer.clear_faults)

            # 2. a clean launch: bought and held
            token = solana_peer.call(solana_peer.peer.launch, "clean")

            def bought() -> str:
                text = metrics()
                return text if _metric(text, "grekko_sniper_buys_total") else ""

            text = _until("the buy", bought, proc)
            assert _metric(text, "grekko_sniper_launches_total") == 4
            assert _metric(text, "grekko_sniper_open_positions") == 1
            assert _metric(text, "grekko_sniper_sol_spent_total") > 0
            assert (
                _metric(text, "grekko_sniper_rpc_errors_total", 'where="analysis:rpc_error"') == 3
            )
            assert (
                _metric(text, "grekko_sniper_verdicts_total", rejected, 'reason="rpc_error"') == 3
            )
            assert _metric(text, "grekko_sniper_frame_to_verdict_seconds_count") == 4
            assert 'grekko_sniper_verdicts_total{reason="none",verdict="PASS"} 1.0' in text
            assert _metric(text, "grekko_kill_switch_engaged") == 0
            run = http.get("/strategies", headers=read).json()[0]
            assert run["venue"] == "solana" and run["mode"] == "dry-run"

            # 3. the kill switch through the API: flatten, the run ends (max launches, flat)
            assert http.post("/kill", headers=read, json={"reason": "t"}).status_code == 403
            resp = http.post("/kill", headers={"Authorization": f"Bearer {CONTROL}"},
                             json={"reason": "test kill", "flatten": True})  # fmt: skip
            assert resp.status_code in (200, 202), resp.text
            _until(
                "the exit",
                lambda: _metric(metrics(), "grekko_sniper_exits_total", 'rule="kill"'),
                proc,
            )
            assert _metric(metrics(), "grekko_kill_switch_engaged") == 1
            # 4. a launch after the kill: analysed, refused; the run ends (5 launches, flat)
            late = solana_peer.call(solana_peer.peer.launch, "clean")
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["buys"] == 1 and summary["exits"] == 1 and summary["open_positions"] == []
    _after_the_run(tmp_path / "obs", alerts, str(token.mint), str(late.mint))
    assert not (tmp_path / "obs" / "api.json").exists()  # gone with the server


def _after_the_run(folder: Path, alerts: list[dict[str, Any]], bought: str, late: str) -> None:
    """The alerts sent, the sells and refusals the run logged."""
    titles = [a.get("title", "") for a in alerts]
    assert any("Repeated RPC failures" in t for t in titles), titles
    assert any("Kill switch engaged" in t or "Trading halted" in t for t in titles), titles
    with EventStore.open(folder / "events.db") as store:
        events = list(store.read())
    sells = [e.payload for e in events if e.kind == "sniper_fill" and e.payload["side"] == "sell"]
    assert [(s["mint"], s["rule"]) for s in sells] == [(bought, "kill")]
    refused = [e.payload for e in events
               if e.kind == "sniper_decision" and e.payload["mint"] == late]  # fmt: skip
    assert [d["rule"] for d in refused] == ["kill_switch"]


def test_observability_without_tokens_or_urls_is_refused_before_anything_is_written(
    solana_peer: PeerThread, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from live.cli import app

    for name in ("GREKKO_API_READ_TOKEN", "GREKKO_API_CONTROL_TOKEN", "GREKKO_ALERT_URLS"):
        monkeypatch.delenv(name, raising=False)
    base = [
        "sniper",
        "run",
        "--rpc-url",
        solana_peer.url,
        "--state-dir",
        str(tmp_path),
        "--duration",
        "1",
    ]
    api = CliRunner().invoke(app, [*base, "--api-port", "0"])
    assert api.exit_code != 0 and "GREKKO_API_READ_TOKEN" in str(api.exception or api.output)
    alerts = CliRunner().invoke(app, [*base, "--alerts"])
    assert alerts.exit_code != 0 and "GREKKO_ALERT_URLS" in str(alerts.exception or alerts.output)
    assert not any(tmp_path.iterdir())  # no run folder, no log
